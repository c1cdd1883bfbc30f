/* What the console and the dashboard share: the login kept in sessionStorage, calls to the API
 * with the token and the agent's name, element building, and the Chinese labels.
 * Served by bot/agent_api/console_ui.py; plain JavaScript, nothing downloaded. */
(function () {
  "use strict";

  var TOKEN_KEY = "console.token";
  var NAME_KEY = "console.name";

  var LABELS = {
    type: { product: "商品", logistics: "物流", service: "服务", malicious: "恶意" },
    urgency: { safety: "人身安全", media_legal: "媒体/法律", vulnerable: "弱势顾客" },
    reason: {
      urgency: "紧急情况", asked: "顾客要求转人工", misunderstood: "多次没听懂", repeat: "重复投诉",
      approval: "补偿待审批", failure: "系统故障", low_satisfaction: "满意度低"
    },
    channel: { rest: "接口", webchat: "网页聊天", wechat: "微信", taobao: "淘宝", socketio: "网页聊天" },
    status: {
      waiting: "等待接手", claimed: "处理中", resolved: "已解决", open: "处理中", pending_approval: "等待审批",
      with_agent: "人工处理中", closed: "已关闭", approved: "已批准", rejected: "未批准"
    },
    promise: { pending: "待兑现", kept: "已兑现", broken: "已失信" },
    phase: { understand: "了解问题", explore: "探寻方案", settle: "达成方案", handed_off: "已转人工", done: "已结束", cancelled: "顾客已取消" },
    category: {
      electronics: "电子产品", appliances: "家电", clothing: "服装", cosmetics: "化妆品", food: "食品",
      food_delivery: "外卖", baby: "母婴", furniture: "家具", pet: "宠物"
    },
    fact: {
      order_id: "订单号", problem_detail: "问题描述", problem_summary: "问题概述", product_category: "商品类别",
      desired_outcome: "顾客诉求", tracking_number: "运单号", courier: "快递公司", amount: "金额", phone: "电话",
      evidence: "凭证", since: "开始时间", channel: "渠道", delivered: "已签收", order_amount: "订单金额"
    },
    kind: { contact: "联系/答复", action: "办理" },
    cause: {
      defect: "质量问题", wrong_item: "发错货", missing_parts: "少发漏发", not_as_described: "与描述不符",
      fake: "假冒伪劣", spoiled: "变质或异物", expired: "临期过期", taste_portion: "口味或分量",
      price: "价格或收费", not_shipped: "迟迟未发货", late: "配送慢或停滞", lost: "丢件或未收到",
      damaged_in_transit: "运输破损", wrong_courier: "快递公司不对", not_to_door: "未送货上门", rude: "态度差",
      unresponsive: "不回复或回复慢", promise_broken: "承诺未兑现", after_sales_delay: "退款或售后拖延",
      shirking: "推诿", courier_conduct: "快递员或骑手态度", extortion: "索要超额赔偿",
      off_platform: "要求站外私下交易", fake_claim: "虚假索赔"
    }
  };

  function label(kind, id) {
    if (id === null || id === undefined || id === "") return "—";
    return (LABELS[kind] && LABELS[kind][id]) || String(id);
  }

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    var children = Array.prototype.slice.call(arguments, 2);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    children.forEach(function (child) { append(node, child); });
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function session() {
    return { token: sessionStorage.getItem(TOKEN_KEY) || "", name: sessionStorage.getItem(NAME_KEY) || "" };
  }

  function saveSession(token, name) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(NAME_KEY, name);
  }

  function logout() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(NAME_KEY);
    location.reload();
  }

  // The API's errors as Chinese sentences: the status decides, the server's English stays in "detail".
  var STATUS_TEXT = {
    400: "请求有误", 401: "令牌或名字不对，请重新登录", 403: "超出你的权限", 404: "找不到", 409: "已被他人处理或状态已变",
    413: "内容太长", 502: "平台未接收这条消息", 503: "服务暂时不可用，请稍后再试"
  };

  function ApiError(status, body) {
    this.status = status;
    this.body = body || {};
    // the server's own words are English for integrations; the screen says it in Chinese (zh when
    // the server gave one), the English stays in detail
    this.message = (body && body.zh) || STATUS_TEXT[status] || "出错了";
    this.detail = body && body.error;
  }

  function api(method, path, body) {
    var s = session();
    var headers = { "Authorization": "Bearer " + s.token, "X-Agent-Name": encodeURIComponent(s.name) };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (reply) {
        var type = reply.headers.get("Content-Type") || "";
        var parse = type.indexOf("json") >= 0 ? reply.json() : reply.text();
        return parse.then(function (data) {
          // a non-JSON error page (a proxy, the server's own 405) is not shown to the agent
          if (!reply.ok) throw new ApiError(reply.status, typeof data === "object" ? data : {});
          return data;
        });
      });
  }

  function blobUrl(path) {
    var s = session();
    return fetch(path, { headers: { "Authorization": "Bearer " + s.token, "X-Agent-Name": encodeURIComponent(s.name) } })
      .then(function (reply) {
        if (!reply.ok) throw new ApiError(reply.status, {});
        return reply.blob();
      })
      .then(function (blob) { return URL.createObjectURL(blob); });
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // Times in the shop's time zone (policy/sla.yml), whatever the agent's computer is set to, so the
  // console says the same "12:06" the customer was promised.
  var SHOP_TIME = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false
  });

  function clock(epoch) {
    if (!epoch) return "—";
    var parts = {};
    SHOP_TIME.formatToParts(new Date(epoch * 1000)).forEach(function (p) { parts[p.type] = p.value; });
    return parts.month + "月" + parts.day + "日 " + parts.hour + ":" + parts.minute;
  }

  // A customer as an agent reads them: a web visitor's long session id shortened to its end.
  function customer(id) {
    if (!id) return "匿名";
    var bare = String(id).replace(/^(webchat|rest|wechat|taobao):/, "");
    return bare.length > 14 ? "…" + bare.slice(-6) : bare;
  }

  function duration(seconds) {
    var sign = seconds < 0 ? "超时 " : "剩 ";
    var s = Math.abs(Math.round(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return sign + (h ? h + ":" + pad(m) : m) + ":" + pad(r);
  }

  // Who wrote or did something, as the screen says it: 机器人, 定时提醒, 客服 小张.
  function author(who) {
    if (!who || who === "bot") return "机器人";
    if (who.indexOf("timer") === 0) return "定时提醒";
    if (who === "customer") return "顾客";
    if (who.indexOf("agent:") === 0) return "客服 " + who.slice(6);
    return who;
  }

  // A ticket history note with the handoff reason in Chinese ("转人工：urgency" -> "转人工：紧急情况").
  function note(text) {
    return String(text || "").replace(/转人工：(\w+)/, function (_, reason) { return "转人工：" + label("reason", reason); });
  }

  function percent(x) { return x === null || x === undefined ? "—" : (Math.round(x * 1000) / 10) + "%"; }

  // The login form: the name and token are checked by GET /api/console/me before they are kept.
  function login(onReady) {
    var s = session();
    function ready(me) {
      $("login").hidden = true;
      $("app").hidden = false;
      $("who").hidden = false;
      $("who-name").textContent = me.name;
      $("who-role").textContent = me.role_label;
      onReady(me);
    }
    $("logout").addEventListener("click", logout);
    $("login-form").addEventListener("submit", function (event) {
      event.preventDefault();
      saveSession($("login-token").value.trim(), $("login-name").value.trim());
      api("GET", "/api/console/me").then(ready).catch(function (error) {
        $("login-message").className = "message error";
        $("login-message").textContent = error.message || String(error);
      });
    });
    if (s.token && s.name) {
      api("GET", "/api/console/me").then(ready).catch(function () { $("login").hidden = false; });
    } else {
      $("login").hidden = false;
    }
  }

  window.Console = {
    $: $, el: el, clear: clear, api: api, blobUrl: blobUrl, label: label, LABELS: LABELS, session: session,
    login: login, clock: clock, duration: duration, percent: percent, customer: customer, author: author, note: note
  };
})();
