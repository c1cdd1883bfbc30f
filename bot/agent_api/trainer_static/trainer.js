/* The trainers' workbench (issue 11): plain JavaScript, no framework, nothing downloaded.
 *
 * Served at /trainer/ by bot/agent_api/trainer_ui.py. Every call goes to /api/trainer/... with
 * the agents' API token (Authorization: Bearer); the token and the trainer's name live in
 * sessionStorage only. Every save sends the name as "trainer". The API's errors are shown as
 * Chinese sentences; the raw answer only inside a small "详情" disclosure.
 *
 * Offsets: the API's start/end are Python string indexes (code points); the page works on
 * Array.from(text) (code points too), never on UTF-16 indexes.
 */
(function () {
  "use strict";

  var TOKEN_KEY = "trainer.token";
  var NAME_KEY = "trainer.name";
  var POLL_MS = 1000;

  var INTENT_LABELS = {
    greet: "打招呼", goodbye: "告别", affirm: "肯定", deny: "否定", thanks: "感谢", praise: "表扬",
    inform: "提供信息", request_human: "要求转人工", ask_progress: "询问进度", consult: "咨询",
    out_of_scope: "无关话题", bot_challenge: "问是不是机器人", cancel: "取消",
    complaint_product: "商品投诉", complaint_logistics: "物流投诉", complaint_service: "服务投诉",
    complaint_malicious: "恶意投诉", empty_message: "空消息", nlu_fallback: "没听懂（兜底）",
    EXTERNAL_resolved: "外部：已解决"
  };
  var ENTITY_LABELS = {
    order_id: "订单号", tracking_number: "运单号", phone: "电话", amount: "金额", time: "时间",
    courier: "快递公司", product_category: "商品类别", urgency: "紧急", complaint_cause: "投诉原因",
    complaint_type2: "第二投诉类型", desired_outcome: "诉求"
  };
  var URGENCY_LABELS = { safety: "人身安全", media_legal: "媒体/法律", vulnerable: "弱势顾客" };
  var TYPE_LABELS = { product: "商品", logistics: "物流", service: "服务", malicious: "恶意" };
  // The causes' labels of bot/language/resources/causes.yml (a test keeps them in step).
  var CAUSE_LABELS = {
    defect: "质量问题", wrong_item: "发错货", missing_parts: "少发漏发", not_as_described: "与描述不符",
    fake: "假冒伪劣", spoiled: "变质或异物", expired: "临期过期", taste_portion: "口味或分量",
    price: "价格或收费", not_shipped: "迟迟未发货", late: "配送慢或停滞", lost: "丢件或未收到",
    damaged_in_transit: "运输破损", wrong_courier: "快递公司不对", not_to_door: "未送货上门", rude: "态度差",
    unresponsive: "不回复或回复慢", promise_broken: "承诺未兑现", after_sales_delay: "退款或售后拖延",
    shirking: "推诿", courier_conduct: "快递员或骑手态度", extortion: "索要超额赔偿",
    off_platform: "要求站外私下交易", fake_claim: "虚假索赔"
  };
  var CHANNEL_LABELS = { rest: "接口", webchat: "网页聊天", wechat: "微信", taobao: "淘宝", import: "导入" };
  var HANDOFF_LABELS = {
    urgency: "紧急情况", asked: "顾客要求", misunderstood: "多次没听懂", repeat: "重复投诉",
    approval: "需要审批", failure: "系统故障", low_satisfaction: "满意度低"
  };
  var JOB_STATUS = {
    queued: "排队中", training: "训练中", evaluating: "评估中", ready: "已完成，待上线",
    failed: "失败", activated: "已上线", discarded: "已丢弃"
  };
  var SET_LABELS = { test: "测试集", holdout: "留出集", trainer: "训练员样例", stories: "故事", validation: "验证集" };

  // ------------------------------------------------------------------------------------------
  // small helpers
  // ------------------------------------------------------------------------------------------
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
      else if (key in node && key !== "list" && key !== "form") node[key] = value;
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

  function chars(text) { return Array.from(text || ""); }

  function slice(text, start, end) { return chars(text).slice(start, end).join(""); }

  function intentLabel(name) {
    if (!name) return "（无）";
    return INTENT_LABELS[name] ? INTENT_LABELS[name] + "（" + name + "）" : name;
  }

  function entityLabel(name) { return ENTITY_LABELS[name] ? ENTITY_LABELS[name] + "（" + name + "）" : name; }

  function percent(value) {
    if (value === null || value === undefined || isNaN(value)) return "-";
    return Math.round(Number(value) * 100) + "%";
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function formatTime(seconds) {
    if (seconds === null || seconds === undefined || seconds === "") return "-";
    var d = new Date(Number(seconds) * 1000);
    if (isNaN(d.getTime())) return String(seconds);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  /** A local date (yyyy-mm-dd) as epoch seconds: its midnight, or the next midnight for "until". */
  function dateToEpoch(value, endOfDay) {
    if (!value) return null;
    var parts = value.split("-").map(Number);
    var d = new Date(parts[0], parts[1] - 1, parts[2] + (endOfDay ? 1 : 0), 0, 0, 0);
    return Math.floor(d.getTime() / 1000);
  }

  /** A model as the API names it: a name, a path, or an entry {model, activated_by, ...}. */
  function modelName(value) {
    if (!value) return "";
    return typeof value === "string" ? value : String(value.model || "");
  }

  function hasChinese(text) { return /[\u4e00-\u9fff]/.test(String(text || "")); }

  function confidence(value) {
    var low = Number(value) < 0.6;
    return el("span", { class: "conf" + (low ? " low" : ""), title: "置信度" },
      el("span", { class: "meter" }, el("span", { style: "width:" + Math.round(Number(value || 0) * 100) + "%" })),
      percent(value));
  }

  // ------------------------------------------------------------------------------------------
  // the API and its errors in Chinese
  // ------------------------------------------------------------------------------------------
  function ApiError(status, data, message) {
    this.status = status;
    this.data = data;
    this.message = message;
  }

  var TRANSLATIONS = [
    [/missing or wrong token/i, "令牌不正确"],
    [/body must be a JSON object/i, "请求格式不对"],
    [/must not start or end with spaces/i, "句子开头或结尾不能有空格"],
    [/another trainer's save/i, "另一位训练员正在保存，请过一分钟再试"],
    [/no model loaded/i, "机器人的模型还没加载好，请稍后再试"],
    [/next_action' must be an action/i, "请选择正确的下一步动作"],
    [/'upto' must be/i, "请从会话里的一句顾客的话保存故事"],
    [/correction of turn (\d+)/i, function (m) { return "第 " + (Number(m[1]) + 1) + " 句的纠正不完整：请选择意图，实体名要用列表里的"; }],
    [/no import/i, "找不到这次导入"],
    [/'([a-z_]+)' is required/i, function (m) { return "缺少必填项：" + fieldName(m[1]); }],
    [/is longer than (\d+) characters/i, function (m) { return "内容太长（最多 " + m[1] + " 个字）"; }],
    [/no conversation/i, "找不到这个会话（可能已被清理）"],
    [/unknown intent/i, "不认识的意图名"],
    [/unknown entity/i, "不认识的实体名"],
    [/already running|in progress/i, "已经有一个训练在进行中，请等它结束"],
    [/nothing to roll back|no previous/i, "没有可以回滚的上一个模型"],
    [/not ready|unless status ready|only a ready model/i, "只有训练完成、还没上线或丢弃的新模型才能上线"],
    [/model file of job .* is gone/i, "这个新模型的文件不见了，请重新训练"],
    [/no training job/i, "找不到这个训练"],
    [/is no longer on disk/i, "上一个模型的文件已经不在了，不能回滚"],
    [/validat/i, "保存后的数据没有通过 rasa data validate，已撤回"],
    [/the file is \d+ MB; at most (\d+) MB/i, function (m) { return "文件太大（最多 " + m[1] + " MB）"; }],
    [/larger than|too large|too big/i, "文件太大"],
    [/neither UTF-8 nor GBK/i, "文件既不是 UTF-8 也不是 GBK 编码的文本"],
    [/missing column\(s\): ([^;]+)/i, function (m) { return "缺少列：" + m[1].split(",").map(function (c) { return columnName(c.trim()); }).join("、"); }],
    [/more than \d+ rows/i, "行数太多，请把导出文件拆成几个再导入"],
    [/not CSV or JSON Lines/i, "文件不是 CSV 或 JSON Lines 格式"],
    [/no buyer message/i, "文件里没有买家说的话"],
    [/limit must be/i, "数量超出范围"],
    [/must be epoch seconds/i, "日期格式不对"],
    [/unknown filter/i, "不认识的筛选条件"],
    [/store unavailable/i, "数据存储暂时不可用，请稍后再试"]
  ];

  function fieldName(name) {
    return { trainer: "训练员名字", text: "句子", intent: "意图", conversation: "会话", mode: "训练方式", next_action: "正确的下一步" }[name] || name;
  }

  function columnName(name) {
    return { conversation_id: "会话编号", time: "时间", role: "角色", text: "内容" }[name] || name;
  }

  function translate(english) {
    var text = String(english || "");
    for (var i = 0; i < TRANSLATIONS.length; i++) {
      var m = text.match(TRANSLATIONS[i][0]);
      if (m) return typeof TRANSLATIONS[i][1] === "function" ? TRANSLATIONS[i][1](m) : TRANSLATIONS[i][1];
    }
    return null;
  }

  /** A readable Chinese sentence for a failed call. */
  function explain(status, data) {
    var said = data && hasChinese(data.error) ? data.error : translate(data && data.error);
    if (status === 0) return "连不上服务器，请检查网络或服务是否在运行，然后重试。";
    if (status === 401) return "令牌不正确，请重新登录。";
    if (status === 404) return said || "服务器上没有这个功能或这条记录（可能还没上线）。";
    if (status === 409) return said || "和已有的数据冲突。";
    if (status === 413) return said || "内容或文件太大。";
    if (status === 400 || status === 422) return "请求有问题：" + (said || "服务器没有接受这次提交，请看详情。");
    if (status >= 500) return "服务器出错了（" + status + "），请稍后再试；如果一直这样，请联系技术同事。";
    return said || "操作没有成功（" + status + "）。";
  }

  function api(method, path, body, options) {
    options = options || {};
    var headers = { Authorization: "Bearer " + (options.token || sessionStorage.getItem(TOKEN_KEY) || "") };
    var payload;
    if (options.raw) {
      payload = body;
      headers["Content-Type"] = "application/octet-stream";
    } else if (body !== undefined) {
      payload = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    return fetch(path, { method: method, headers: headers, body: payload, cache: "no-store" }).then(
      function (reply) {
        return reply.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text.slice(0, 500) }; }
          if (reply.ok) return { status: reply.status, data: data };
          if (reply.status === 401 && !options.token) onUnauthorised();
          throw new ApiError(reply.status, data, explain(reply.status, data));
        });
      },
      function () { throw new ApiError(0, null, explain(0, null)); }
    );
  }

  function details(data) {
    if (data === null || data === undefined) return null;
    return el("details", {}, el("summary", { text: "详情" }), el("pre", { text: JSON.stringify(data, null, 2) }));
  }

  /** Shows a message in ``box``; kind ok|error|info|warn; ``extra`` nodes after the sentence. */
  function show(box, kind, text, extra) {
    clear(box);
    box.classList.remove("ok", "error", "info", "warn");
    box.classList.add("message");
    if (!text) return;
    box.classList.add(kind);
    append(box, el("div", { class: "message-text", text: text }));
    append(box, extra || null);
  }

  function showError(box, error) {
    if (error instanceof ApiError) show(box, "error", error.message, details(error.data));
    else { show(box, "error", "页面出错了：" + (error && error.message ? error.message : String(error))); console.error(error); }
  }

  function onUnauthorised() {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin("令牌不正确或已失效，请重新登录。");
  }

  function confirmDialog(text) {
    var dialog = $("confirm");
    $("confirm-text").textContent = text;
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function onClose() {
        dialog.removeEventListener("close", onClose);
        resolve(dialog.returnValue === "ok");
      });
      dialog.returnValue = "";
      dialog.showModal();
      $("confirm-ok").focus();
    });
  }

  // ------------------------------------------------------------------------------------------
  // login
  // ------------------------------------------------------------------------------------------
  var state = { domain: null, view: "conversations", conversation: null, polls: {} };

  function trainer() { return sessionStorage.getItem(NAME_KEY) || ""; }

  function showLogin(message) {
    $("app").hidden = true;
    $("who").hidden = true;
    $("login").hidden = false;
    $("login-name").value = trainer();
    show($("login-message"), "error", message || "");
    $("login-token").focus();
  }

  function loggedIn() {
    $("login").hidden = true;
    $("app").hidden = false;
    $("who").hidden = false;
    $("who-name").textContent = trainer();
    loadDomain();
    var hash = location.hash.replace(/^#/, "");
    switchView(["conversations", "queue", "imports", "training"].indexOf(hash) >= 0 ? hash : "conversations");
    // the agents' console and the dashboard link a failed house-rule check here: #conversation=<id>
    if (hash.indexOf("conversation=") === 0) openConversation(decodeURIComponent(hash.slice(13)), null, "conversations");
  }

  $("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var token = $("login-token").value.trim();
    var name = $("login-name").value.trim();
    var box = $("login-message");
    if (!token || !name) { show(box, "error", "请填写令牌和你的名字。"); return; }
    show(box, "info", "正在登录……");
    api("GET", "/api/trainer/conversations?limit=1", undefined, { token: token }).then(function () {
      sessionStorage.setItem(TOKEN_KEY, token);
      sessionStorage.setItem(NAME_KEY, name);
      $("login-token").value = "";
      show(box, "", "");
      loggedIn();
    }, function (error) {
      if (error.status === 401) show(box, "error", "令牌不正确");
      else showError(box, error);
      $("login-token").select();
    });
  });

  $("logout").addEventListener("click", function () {
    sessionStorage.removeItem(TOKEN_KEY);
    Object.keys(state.polls).forEach(stopPoll);
    showLogin("");
  });

  function loadDomain() {
    if (state.domain) return Promise.resolve(state.domain);
    return api("GET", "/api/trainer/domain").then(function (reply) {
      state.domain = reply.data || {};
      return state.domain;
    }, function (error) {
      show($("global-message"), "warn", "读不到意图和实体列表，纠正面板暂时只能用已知的名字。" + error.message, details(error.data));
      return {
        intents: Object.keys(INTENT_LABELS).filter(function (n) { return n !== "nlu_fallback"; }),
        entities: Object.keys(ENTITY_LABELS),
        urgency: Object.keys(URGENCY_LABELS),
        actions: []
      };
    });
  }

  // ------------------------------------------------------------------------------------------
  // views
  // ------------------------------------------------------------------------------------------
  var VIEWS = ["conversations", "queue", "conversation", "imports", "training"];

  function switchView(name) {
    state.view = name;
    VIEWS.forEach(function (v) { $("view-" + v).hidden = v !== name; });
    Array.prototype.forEach.call(document.querySelectorAll(".tabs button"), function (tab) {
      var active = tab.dataset.view === name || (name === "conversation" && tab.dataset.view === state.from);
      tab.setAttribute("aria-selected", active ? "true" : "false");
      tab.tabIndex = 0;
    });
    if (name !== "conversation") history.replaceState(null, "", "#" + name);
    if (name === "conversations") loadConversations();
    if (name === "queue") loadQueue();
    if (name === "imports") loadImports();
    if (name === "training") loadTraining();
  }

  Array.prototype.forEach.call(document.querySelectorAll(".tabs button"), function (tab) {
    tab.addEventListener("click", function () { show($("global-message"), "", ""); switchView(tab.dataset.view); });
    tab.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      var tabs = Array.prototype.slice.call(document.querySelectorAll(".tabs button"));
      var next = tabs[(tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      next.focus();
      next.click();
    });
  });

  function clickableRow(cells, open, label, sender) {
    var row = el("tr", { class: "clickable", tabIndex: 0, title: label || "打开", "data-sender": sender, onclick: open,
      onkeydown: function (event) { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(); } } });
    cells.forEach(function (cell) { append(row, cell); });
    return row;
  }

  // 会话 ---------------------------------------------------------------------------------------
  function loadConversations() {
    var form = $("filters");
    var query = ["limit=200"];
    ["filter", "type", "channel", "order"].forEach(function (name) {
      var value = form.elements[name].value;
      if (value) query.push(name + "=" + encodeURIComponent(value));
    });
    var since = dateToEpoch(form.elements.since.value, false);
    var until = dateToEpoch(form.elements.until.value, true);
    if (since !== null) query.push("since=" + since);
    if (until !== null) query.push("until=" + until);
    var box = $("conversations-message");
    var body = $("conversations-table").tBodies[0];
    var asked = (state.listing = (state.listing || 0) + 1);  // only the latest query's answer is shown
    show(box, "info", "正在读取……");
    return api("GET", "/api/trainer/conversations?" + query.join("&")).then(function (reply) {
      if (asked !== state.listing) return;
      show(box, "", "");
      var rows = (reply.data && reply.data.conversations) || [];
      $("conversations-count").textContent = "共 " + (reply.data.total || 0) + " 个会话" + (reply.data.total > rows.length ? "，显示前 " + rows.length + " 个" : "");
      clear(body);
      if (!rows.length) body.appendChild(el("tr", {}, el("td", { colSpan: 6, class: "empty", text: "没有符合条件的会话" })));
      rows.forEach(function (c) {
        var kind = [c.complaint_type ? (TYPE_LABELS[c.complaint_type] || c.complaint_type) : "", c.cause ? CAUSE_LABELS[c.cause] || c.cause : ""].filter(Boolean).join(" / ");
        body.appendChild(clickableRow([
          el("td", {}, formatTime(c.started)),
          el("td", {}, CHANNEL_LABELS[c.channel] || c.channel || "-"),
          el("td", { class: "num" }, String(c.turn_count)),
          el("td", {}, confidence(c.least_confidence)),
          el("td", {}, c.handoff_reason ? el("span", { class: "chip warn" }, HANDOFF_LABELS[c.handoff_reason] || c.handoff_reason) : "-"),
          el("td", {}, kind || "-")
        ], function () { openConversation(c.sender_id, null, "conversations"); }, "打开这个会话", c.sender_id));
      });
    }, function (error) { if (asked === state.listing) showError(box, error); });
  }

  $("filters").addEventListener("submit", function (event) { event.preventDefault(); loadConversations(); });

  // 最不确定 -----------------------------------------------------------------------------------
  function loadQueue() {
    var box = $("queue-message");
    var body = $("queue-table").tBodies[0];
    show(box, "info", "正在读取……");
    return api("GET", "/api/trainer/queue?limit=50").then(function (reply) {
      show(box, "", "");
      clear(body);
      var turns = (reply.data && reply.data.turns) || [];
      if (!turns.length) body.appendChild(el("tr", {}, el("td", { colSpan: 5, class: "empty", text: "现在没有需要看的句子" })));
      turns.forEach(function (t) {
        body.appendChild(clickableRow([
          el("td", { class: "said-cell" }, t.text),
          el("td", {}, intentLabel(t.intent), " ", confidence(t.confidence)),
          el("td", {}, t.runner_up ? [intentLabel(t.runner_up), " ", percent(t.runner_up_confidence)] : "-"),
          el("td", {}, CHANNEL_LABELS[t.channel] || t.channel || "-"),
          el("td", {}, formatTime(t.timestamp))
        ], function () { openConversation(t.sender_id, t.index, "queue"); }, "在会话里打开这句", t.sender_id));
      });
    }, function (error) { showError(box, error); });
  }

  $("queue-refresh").addEventListener("click", loadQueue);

  // one conversation ------------------------------------------------------------------------
  function openConversation(senderId, turnIndex, from) {
    state.from = from || state.view;
    switchView("conversation");
    var box = $("conversation-message");
    var turnsBox = clear($("turns"));
    $("conversation-title").textContent = "会话 " + senderId;
    $("conversation-meta").textContent = "";
    show(box, "info", "正在读取……");
    return Promise.all([api("GET", "/api/trainer/conversations/" + encodeURIComponent(senderId)), loadDomain()]).then(function (results) {
      show(box, "", "");
      var conversation = results[0].data;
      state.conversation = conversation;
      var meta = [CHANNEL_LABELS[conversation.channel] || conversation.channel, "开始于 " + formatTime(conversation.started), conversation.turn_count + " 轮"];
      if (conversation.handoff_reason) meta.push("转人工：" + (HANDOFF_LABELS[conversation.handoff_reason] || conversation.handoff_reason));
      if (conversation.complaint_type) meta.push("类型：" + (TYPE_LABELS[conversation.complaint_type] || conversation.complaint_type));
      if (conversation.cause) meta.push("原因：" + (CAUSE_LABELS[conversation.cause] || conversation.cause));
      $("conversation-meta").textContent = meta.join(" · ");
      var panels = [];
      conversation.turns.forEach(function (turn) {
        var card = turnCard(turn, { conversation: conversation.sender_id, open: turnIndex === turn.index, panels: panels,
          stories: conversation.channel !== "import" });  // an import has no tracker to make a story of
        turnsBox.appendChild(card);
      });
      var target = turnIndex !== null && turnIndex !== undefined ? turnsBox.querySelector('[data-turn="' + turnIndex + '"]') : null;
      if (target) {
        target.classList.add("target");
        target.scrollIntoView({ block: "start" });
        var first = target.querySelector(".fix select");
        if (first) first.focus();
      } else {
        $("conversation-back").focus();
      }
    }, function (error) { showError(box, error); });
  }

  $("conversation-back").addEventListener("click", function () { switchView(state.from || "conversations"); });

  /** A turn: what the customer said, how the NLU read it, what the bot did; a correction panel. */
  function turnCard(turn, options) {
    var card = el("article", { class: "turn", "data-turn": turn.index, "data-uncertainty": turn.uncertainty, "data-intent": turn.intent });
    var head = el("div", { class: "turn-head" },
      el("span", {}, (options.channel ? (CHANNEL_LABELS[options.channel] || options.channel) + " " + (turn.sender_id || "") + " · " : "") + "第 " + (turn.index + 1) + " 句"),
      el("span", {}, turn.timestamp ? formatTime(turn.timestamp) : ""));
    var said = el("div", { class: "said" });
    renderChars(said, turn.text, { entities: turn.entities || [] });
    var reading = el("div", { class: "reading" },
      el("span", {}, el("span", { class: "label" }, "识别为 "), el("span", { class: "intent" }, intentLabel(turn.intent)), " ", confidence(turn.confidence)),
      turn.runner_up ? el("span", {}, el("span", { class: "label" }, "第二可能 "), intentLabel(turn.runner_up), " ", percent(turn.runner_up_confidence)) : null,
      turn.fallback ? el("span", { class: "chip bad" }, "兜底：没听懂") : null,
      turn.corrected_next ? el("span", { class: "chip warn" }, "顾客随后纠正了机器人") : null,
      (turn.urgency || []).length ? el("span", {}, el("span", { class: "label" }, "紧急 "), turn.urgency.map(function (u) {
        return el("span", { class: "chip bad" }, URGENCY_LABELS[u] || u);
      })) : el("span", { class: "label" }, "紧急：无"));
    var entities = (turn.entities || []).filter(function (e) { return e.entity !== "urgency"; });
    var entityLine = entities.length ? el("div", { class: "reading" }, el("span", { class: "label" }, "实体 "),
      entities.map(function (e) {
        var value = e.entity === "complaint_cause" && CAUSE_LABELS[e.value] ? CAUSE_LABELS[e.value] + "（" + e.value + "）" : e.value;
        return el("span", { class: "chip" }, (ENTITY_LABELS[e.entity] || e.entity) + "：" + value);
      })) : null;
    var bot = (turn.actions || []).length || (turn.replies || []).length ? el("div", { class: "bot" },
      (turn.replies || []).map(function (r) { return el("div", { class: "reply" }, "机器人：" + r); }),
      (turn.actions || []).length ? el("div", { class: "actions" }, "动作：" + turn.actions.join(" → ")) : null) : null;
    var toggle = el("button", { type: "button", class: "fix-toggle", "aria-expanded": "false" }, "纠正这一句");
    var whole = options.openable ? el("button", { type: "button", class: "quiet open-whole",
      onclick: function () { openConversation(turn.sender_id, turn.index, state.view); } }, "看整段对话") : null;
    append(card, [head, said, reading, entityLine, bot, el("div", { class: "row" }, toggle, whole)]);
    var panel = null;
    function open() {
      if (!panel) {
        panel = correctionPanel(turn, options);
        card.appendChild(panel.node);
        if (options.panels) options.panels.push(panel);
      }
      panel.node.hidden = !panel.node.hidden;
      toggle.setAttribute("aria-expanded", panel.node.hidden ? "false" : "true");
      toggle.textContent = panel.node.hidden ? "纠正这一句" : "收起纠正";
    }
    toggle.addEventListener("click", open);
    if (options.open) open();
    return card;
  }

  /** Renders ``text`` one character per span (data-i = code point index) with marks. */
  function renderChars(node, text, marks) {
    clear(node);
    var list = chars(text);
    var starts = {};
    (marks.tokens || []).forEach(function (t) { if (t.start > 0) starts[t.start] = true; });
    var entityAt = {};
    (marks.entities || []).forEach(function (e) {
      if (typeof e.start !== "number" || typeof e.end !== "number") return;
      for (var i = e.start; i < e.end; i++) entityAt[i] = e;
    });
    list.forEach(function (ch, i) {
      var cls = "c";
      if (starts[i]) cls += " tb";
      if (entityAt[i]) cls += entityAt[i].entity === "urgency" ? " ent urg" : " ent";
      if (marks.selection && i >= marks.selection.start && i < marks.selection.end) cls += " sel";
      var span = el("span", { class: cls, "data-i": i, text: ch });
      if (entityAt[i]) span.title = (ENTITY_LABELS[entityAt[i].entity] || entityAt[i].entity) + "：" + entityAt[i].value;
      node.appendChild(span);
    });
    if (!list.length) node.appendChild(el("span", { class: "hint", text: "（空）" }));
  }

  /** The character offsets the mouse selection covers inside ``node`` (or null). */
  function selectionIn(node) {
    var selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
    var range = selection.getRangeAt(0);
    if (!node.contains(range.startContainer) || !node.contains(range.endContainer)) return null;
    function position(container, offset, isEnd) {
      var span = container.nodeType === 3 ? container.parentNode : container;
      if (span === node) {
        var child = node.childNodes[Math.min(offset, node.childNodes.length - 1)];
        if (!child || !child.dataset) return null;
        var index = Number(child.dataset.i);
        return offset >= node.childNodes.length ? index + 1 : index;
      }
      while (span && span.parentNode !== node) span = span.parentNode;
      if (!span || !span.dataset || span.dataset.i === undefined) return null;
      var i = Number(span.dataset.i);
      if (container.nodeType === 3) return offset >= container.length ? i + 1 : i;
      return isEnd && offset > 0 ? i + 1 : i;
    }
    var start = position(range.startContainer, range.startOffset, false);
    var end = position(range.endContainer, range.endOffset, true);
    if (start === null || end === null || end <= start) return null;
    return { start: start, end: end };
  }

  /** Chinese reason for a misaligned span, from the tokens the page knows. */
  function spanReason(problem, text, tokens) {
    var list = chars(text);
    if (!(problem.start >= 0 && problem.end <= list.length && problem.start < problem.end)) return "范围不在句子里面（可能句子改过了）。";
    var cut = (tokens || []).filter(function (t) {
      return (t.start < problem.start && problem.start < t.end) || (t.start < problem.end && problem.end < t.end);
    }).map(function (t) { return "「" + t.text + "」"; });
    if (cut.length) return "范围把词 " + cut.join("、") + " 切开了：模型按词学习实体，范围的开头和结尾必须落在词的边界上。";
    return "范围的开头或结尾没有落在词的边界上：模型按词学习实体。";
  }

  function correctionPanel(turn, options) {
    var original = turn.text || "";
    var model = {
      text: original,
      intent: turn.intent,
      entities: (turn.entities || []).filter(function (e) {
        return typeof e.start === "number" && typeof e.end === "number" && e.end > e.start;
      }).map(function (e) { return { entity: e.entity, value: String(e.value), start: e.start, end: e.end }; }),
      tokens: [],
      selection: null,
      touched: false
    };
    var seen = {};
    model.entities = model.entities.filter(function (e) {
      var key = e.entity + ":" + e.start + ":" + e.end;
      if (seen[key]) return false;
      seen[key] = true;
      return true;
    });
    var id = "fix-" + Math.random().toString(36).slice(2, 8);
    var node = el("div", { class: "fix", hidden: true });
    var textBox = el("div", { class: "fix-text", tabIndex: 0, "aria-label": "句子：用鼠标选中字来标实体" });
    var editor = el("textarea", { class: "fix-edit", rows: 2, "aria-label": "修改句子", value: original });
    var intentSelect = el("select", { class: "fix-intent", id: id + "-intent" });
    var startInput = el("input", { type: "number", min: 0, class: "fix-start", "aria-label": "起点（第几个字，从 0 开始）" });
    var endInput = el("input", { type: "number", min: 0, class: "fix-end", "aria-label": "终点（不含）" });
    var entitySelect = el("select", { class: "fix-entity", "aria-label": "实体名" });
    var valueList = el("datalist", { id: id + "-values" });
    var valueInput = el("input", { type: "text", class: "fix-value", list: id + "-values", placeholder: "值（默认是选中的字）", "aria-label": "实体值" });
    // entities with a fixed set of values (GET /api/trainer/domain "values"): offer them; the server
    // reads the selected words into one of them when no value is given ("电饭煲" → appliances)
    function offerValues() {
      var values = ((state.domain || {}).values || {})[entitySelect.value] || [];
      valueList.innerHTML = "";
      values.forEach(function (v) { valueList.appendChild(el("option", { value: v })); });
    }
    entitySelect.addEventListener("change", offerValues);
    var addButton = el("button", { type: "submit", class: "fix-add" }, "添加实体");
    var urgencySelect = el("select", { class: "fix-urgency", "aria-label": "紧急程度" });
    var list = el("ul", { class: "ents" });
    var saveButton = el("button", { type: "button", class: "primary fix-save" }, "保存为训练样例");
    var result = el("div", { class: "message fix-result", role: "status", "aria-live": "polite" });
    var tokenNote = el("span", { class: "hint token-note" });

    loadDomain().then(function (domain) {
      var intents = (domain.intents || []).slice();
      if (model.intent && intents.indexOf(model.intent) < 0 && model.intent !== "nlu_fallback") intents.unshift(model.intent);
      if (intents.indexOf(model.intent) < 0) intentSelect.appendChild(el("option", { value: "", text: "请选择正确的意图" }));
      intents.forEach(function (name) { intentSelect.appendChild(el("option", { value: name, text: intentLabel(name) })); });
      intentSelect.value = intents.indexOf(model.intent) >= 0 ? model.intent : "";
      (domain.entities || []).filter(function (n) { return n !== "urgency"; }).forEach(function (name) {
        entitySelect.appendChild(el("option", { value: name, text: entityLabel(name) }));
      });
      offerValues();
      urgencySelect.appendChild(el("option", { value: "", text: "无紧急" }));
      (domain.urgency || Object.keys(URGENCY_LABELS)).filter(function (n) { return n && n !== "none"; }).forEach(function (name) {
        urgencySelect.appendChild(el("option", { value: name, text: (URGENCY_LABELS[name] || name) + "（" + name + "）" }));
      });
      var urgent = model.entities.filter(function (e) { return e.entity === "urgency"; })[0];
      urgencySelect.value = urgent ? urgent.value : "";
    });

    function render() {
      renderChars(textBox, model.text, { tokens: model.tokens, entities: model.entities, selection: model.selection });
      clear(list);
      if (!model.entities.length) list.appendChild(el("li", { class: "none", text: "还没有实体。选中句子里的字，选实体名，再点“添加实体”。" }));
      model.entities.forEach(function (e, i) {
        list.appendChild(el("li", { "data-entity": e.entity, "data-start": e.start, "data-end": e.end },
          el("span", { class: "chip" + (e.entity === "urgency" ? " bad" : "") }, e.entity === "urgency" ? "紧急（urgency）" : entityLabel(e.entity)),
          el("span", {}, "「" + slice(model.text, e.start, e.end) + "」"),
          e.value !== slice(model.text, e.start, e.end) ? el("span", {}, "值：" + (e.entity === "urgency" ? (URGENCY_LABELS[e.value] || e.value) : e.value)) : null,
          el("span", { class: "hint" }, "第 " + e.start + "–" + e.end + " 字"),
          el("button", { type: "button", class: "quiet", "aria-label": "删除实体 " + e.entity + " " + slice(model.text, e.start, e.end),
            onclick: function () {
              if (e.entity === "urgency") urgencySelect.value = "";
              model.entities.splice(i, 1);
              model.touched = true;
              render();
            } }, "删除")));
      });
    }

    function loadTokens() {
      var text = model.text;
      if (!text) { model.tokens = []; render(); return; }
      api("POST", "/api/trainer/tokens", { text: text }).then(function (reply) {
        if (model.text !== text) return;
        model.tokens = (reply.data && reply.data.tokens) || [];
        tokenNote.textContent = "虚线是分词的边界：实体的开头和结尾要落在边界上。";
        render();
      }, function () {
        tokenNote.textContent = "分词暂时看不到（不影响保存，保存时会检查范围）。";
      });
    }

    function setSelection(range) {
      model.selection = range;
      startInput.value = range ? range.start : "";
      endInput.value = range ? range.end : "";
      valueInput.placeholder = range ? "值（默认：" + slice(model.text, range.start, range.end) + "）" : "值（默认是选中的字）";
      render();
    }

    textBox.addEventListener("mouseup", function () {
      var range = selectionIn(textBox);
      if (range) setSelection(range);
    });
    function fromInputs() {
      var start = parseInt(startInput.value, 10);
      var end = parseInt(endInput.value, 10);
      var length = chars(model.text).length;
      if (isNaN(start) || isNaN(end) || start < 0 || end > length || end <= start) { model.selection = null; render(); return null; }
      model.selection = { start: start, end: end };
      render();
      return model.selection;
    }
    startInput.addEventListener("input", fromInputs);
    endInput.addEventListener("input", fromInputs);

    var hint = el("div", { class: "message fix-hint", role: "status" });
    var entityForm = el("form", { class: "row" },
      el("label", {}, "起", startInput), el("label", {}, "止", endInput),
      el("label", {}, "实体", entitySelect), el("label", {}, "值", valueInput), valueList, addButton);
    entityForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var range = fromInputs();
      if (!range) { show(hint, "warn", "请先用鼠标在句子里选中字，或填写起点和终点（第几个字，从 0 开始，终点不含）。"); return; }
      var selected = slice(model.text, range.start, range.end);
      model.entities.push({ entity: entitySelect.value, value: valueInput.value.trim() || selected, start: range.start, end: range.end });
      model.touched = true;
      valueInput.value = "";
      show(hint, "", "");
      setSelection(null);
    });

    urgencySelect.addEventListener("change", function () {
      var level = urgencySelect.value;
      model.entities = model.entities.filter(function (e) { return e.entity !== "urgency"; });
      model.touched = true;
      if (!level) { show(hint, "", ""); render(); return; }
      var range = model.selection || fromInputs();
      if (!range) {
        show(hint, "warn", "请先在句子里选中表明紧急的词（例如“漏电”“孩子”“记者”），再选紧急程度。");
        urgencySelect.value = "";
        render();
        return;
      }
      model.entities.push({ entity: "urgency", value: level, start: range.start, end: range.end });
      show(hint, "", "");
      setSelection(null);
    });

    editor.addEventListener("input", function () {
      model.text = editor.value;
      if (model.entities.length) show(hint, "info", "句子改过了，已标的实体都清掉了，请重新标。");
      model.entities = [];
      model.selection = null;
      model.touched = true;
      urgencySelect.value = "";
      model.tokens = [];
      render();
      clearTimeout(model.tokenTimer);
      model.tokenTimer = setTimeout(loadTokens, 300);
    });
    intentSelect.addEventListener("change", function () { model.touched = true; });

    function applySuggestion(problem) {
      var target = model.entities.filter(function (e) { return e.entity === problem.entity && e.start === problem.start && e.end === problem.end; })[0];
      if (!target || !problem.suggested) return;
      var oldText = slice(model.text, target.start, target.end);
      if (target.value === oldText) target.value = slice(model.text, problem.suggested.start, problem.suggested.end);
      target.start = problem.suggested.start;
      target.end = problem.suggested.end;
      render();
    }

    function save() {
      var intent = intentSelect.value;
      if (!intent) { show(result, "warn", "请先选择正确的意图。"); intentSelect.focus(); return; }
      if (!model.text.trim()) { show(result, "warn", "句子是空的。"); editor.focus(); return; }
      // the API counts offsets from the first character and refuses leading/trailing spaces
      var lead = chars(model.text).length - chars(model.text.replace(/^\s+/, "")).length;
      var text = model.text.trim();
      var length = chars(text).length;
      var body = { trainer: trainer(), text: text, intent: intent,
        entities: model.entities.map(function (e) {
          return { start: e.start - lead, end: e.end - lead, entity: e.entity, value: e.value };
        }).filter(function (e) { return e.start >= 0 && e.end <= length; }) };
      if (options.conversation) { body.conversation = options.conversation; body.turn = turn.index; }
      saveButton.disabled = true;
      show(result, "info", "正在保存并校验……");
      api("POST", "/api/trainer/examples", body).then(function (reply) {
        var data = reply.data || {};
        if (data.duplicate) show(result, "ok", "这句话已经是这个意图的样例（" + data.file + "），没有重复保存。");
        else show(result, "ok", "已保存到 " + data.file + (data.validated === false ? "，但 rasa data validate 没有确认通过，请联系技术同事。" : "，已通过 rasa data validate"));
      }, function (error) {
        var data = error.data || {};
        if (error.status === 409) {
          show(result, "error", "没有保存：这句话已经是意图「" + intentLabel(data.existing_intent) + "」的样例（在 " + data.existing_file +
            " 里），你要存的是「" + intentLabel(data.intent || intent) + "」。同一句话不能教给模型两个意图。请改选意图，或请负责人修改那个文件里的样例。",
            details(data));
        } else if (error.status === 422 && data.problems && data.problems.length) {
          var items = el("ul", { class: "problems" });
          data.problems.forEach(function (problem) {
            var suggested = problem.suggested;
            items.appendChild(el("li", { class: "problem" },
              el("strong", {}, (problem.entity === "urgency" ? "紧急" : ENTITY_LABELS[problem.entity] || problem.entity) + "「" + slice(model.text, problem.start, problem.end) + "」"),
              "（第 " + problem.start + "–" + problem.end + " 字）：" + (problem.reason_zh || spanReason(problem, model.text, model.tokens)) + " ",
              suggested ? el("button", { type: "button", class: "suggest", onclick: function () {
                applySuggestion(problem);
                show(result, "info", "已改为建议的范围「" + slice(model.text, suggested.start, suggested.end) + "」，请再点“保存为训练样例”。");
                saveButton.focus();
              } }, "改为建议的范围「" + slice(model.text, suggested.start, suggested.end) + "」") : el("span", { class: "hint" }, "请删掉这个实体重新标。")));
          });
          show(result, "error", "没有保存：有 " + data.problems.length + " 个实体的范围模型学不了。", [items, details(data)]);
        } else if (error.status === 422) {
          show(result, "error", "没有保存：" + (translate(data.error) || "意图或实体名不对，请刷新页面后重新选择。"), details(data));
        } else {
          showError(result, error);
        }
      }).then(function () { saveButton.disabled = false; });
    }
    saveButton.addEventListener("click", save);

    append(node, [
      el("div", { class: "section-title" }, "纠正"),
      el("div", { class: "row" }, el("label", { for: id + "-intent" }, "正确的意图"), intentSelect),
      el("div", {}, el("div", { class: "section-title" }, "句子（可以删掉无关的字；改了句子会清掉已标的实体）"), editor),
      el("div", {}, el("div", { class: "section-title" }, "标实体：在下面的句子里用鼠标选中字 ", tokenNote), textBox),
      entityForm,
      el("div", { class: "row" }, el("label", {}, "紧急程度（先选中表明紧急的词）", urgencySelect)),
      hint,
      el("div", {}, el("div", { class: "section-title" }, "这一句的实体"), list),
      el("div", { class: "row" }, saveButton),
      result
    ]);
    if (options.stories) append(node, nextActionPanel(turn, options, model));
    render();
    loadTokens();
    var panel = { node: node, turn: turn, model: model, intent: function () { return intentSelect.value; } };
    return panel;
  }

  /** 对/错 on the bot's next action, and saving the conversation so far as a story or rule. */
  function nextActionPanel(turn, options, model) {
    var next = (turn.actions || []).filter(function (a) { return a !== "action_listen"; })[0] || (turn.actions || [])[0];
    var name = "next-" + Math.random().toString(36).slice(2, 8);
    var ok = el("input", { type: "radio", name: name, value: "ok", checked: true });
    var wrong = el("input", { type: "radio", name: name, value: "wrong" });
    var actionSelect = el("select", { class: "next-action", disabled: true, "aria-label": "正确的下一步动作" });
    var kind = el("select", { class: "story-kind", "aria-label": "保存为" },
      el("option", { value: "story", text: "故事（story）" }), el("option", { value: "rule", text: "规则（rule）" }));
    var button = el("button", { type: "button", class: "save-story" }, "保存为故事/规则 + 测试故事");
    var result = el("div", { class: "message story-result", role: "status", "aria-live": "polite" });
    loadDomain().then(function (domain) {
      (domain.actions || []).forEach(function (a) { actionSelect.appendChild(el("option", { value: a, text: a })); });
      if (!(domain.actions || []).length) actionSelect.appendChild(el("option", { value: "", text: "（读不到动作列表）" }));
    });
    function toggle() { actionSelect.disabled = !wrong.checked; if (wrong.checked) actionSelect.focus(); }
    ok.addEventListener("change", toggle);
    wrong.addEventListener("change", toggle);
    button.addEventListener("click", function () {
      var corrections = {};
      (options.panels || []).forEach(function (panel) {
        if (panel.turn.index > turn.index || !panel.model.touched) return;
        corrections[String(panel.turn.index)] = {
          intent: panel.intent() || panel.turn.intent,
          entities: panel.model.entities.map(function (e) { return { start: e.start, end: e.end, entity: e.entity, value: e.value }; })
        };
      });
      var body = { trainer: trainer(), conversation: options.conversation, upto: turn.index, corrections: corrections,
        next_action_ok: ok.checked, kind: kind.value };
      if (!ok.checked) {
        if (!actionSelect.value) { show(result, "warn", "请选择正确的下一步动作。"); return; }
        body.next_action = actionSelect.value;
      }
      button.disabled = true;
      show(result, "info", "正在保存……");
      api("POST", "/api/trainer/stories", body).then(function (reply) {
        var d = reply.data || {};
        show(result, "ok", "已保存" + (kind.value === "rule" ? "规则" : "故事") + "「" + d.name + "」到 " + d.story_file + "，测试故事在 " + d.test_file + "。");
      }, function (error) { showError(result, error); }).then(function () { button.disabled = false; });
    });
    return el("div", { class: "next" },
      el("div", { class: "section-title" }, "机器人的下一步"),
      el("div", { class: "row" }, el("span", {}, next ? "机器人接着做了：" + next : "这一句之后机器人没有动作"),
        el("label", {}, ok, " 对"), el("label", {}, wrong, " 错，应该是"), actionSelect),
      el("div", { class: "row" }, el("label", {}, "保存为", kind), button,
        el("span", { class: "hint" }, "会把会话到这一句为止（含上面各句的纠正）存下来，并生成一个测试故事。")),
      result);
  }

  // 导入 ---------------------------------------------------------------------------------------
  function problemText(text) {
    var t = String(text || "");
    var rules = [
      [/unknown role '?([^'(]*)'?/i, function (m) { return "不认识的角色「" + m[1].trim() + "」（应是买家或客服）"; }],
      [/^missing (.+)$/i, function (m) { return "缺少" + m[1].split(",").map(function (c) { return columnName(c.trim()); }).join("、"); }],
      [/empty conversation id|no conversation/i, "没有会话编号"],
      [/longer than (\d+)/i, function (m) { return "内容太长（最多 " + m[1] + " 个字）"; }],
      [/no time/i, "没有时间"],
      [/isoformat|time|date|month|day|hour/i, "时间看不懂（例如 2026-11-20 10:00:00）"],
      [/not a JSON object/i, "不是 JSON 对象"],
      [/not JSON/i, "不是 JSON"]
    ];
    for (var i = 0; i < rules.length; i++) {
      var m = t.match(rules[i][0]);
      if (m) return typeof rules[i][1] === "function" ? rules[i][1](m) : rules[i][1];
    }
    return t;
  }

  $("import-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var file = $("import-file").files[0];
    if (!file) { $("import-file").focus(); }
    var box = $("import-message");
    clear($("import-problems"));
    clear($("import-turns"));
    clear($("import-progress"));
    if (!file) { show(box, "warn", "请先选择一个文件。"); return; }
    show(box, "info", "正在上传 " + file.name + "……");
    file.arrayBuffer().then(function (bytes) {
      var path = "/api/trainer/imports?trainer=" + encodeURIComponent(trainer()) + "&filename=" + encodeURIComponent(file.name);
      return api("POST", path, bytes, { raw: true });
    }).then(function (reply) {
      show(box, "info", "文件已收下：" + (reply.data.conversations || 0) + " 个会话，" + (reply.data.buyer_turns || 0) + " 句顾客的话。正在让机器人逐句识别……");
      followImport(reply.data);
    }, function (error) {
      var data = error.data || {};
      if (data.problems && data.problems.length) {
        show(box, "error", "没有导入：文件里有 " + data.problems.length + " 处问题，整个文件都没有导入。请改好后再上传。", details(data));
        var table = el("table", { class: "grid import-problems" },
          el("thead", {}, el("tr", {}, el("th", { class: "num" }, "行"), el("th", {}, "问题"))),
          el("tbody", {}, data.problems.map(function (p) {
            return el("tr", {}, el("td", { class: "num" }, String(p.row)), el("td", { title: p.problem }, problemText(p.problem)));
          })));
        $("import-problems").appendChild(table);
      } else if (error.status === 400 || error.status === 422) {
        show(box, "error", "没有导入：" + (translate(data.error) || "文件读不懂，请确认是 CSV 或 JSON Lines 格式。"), details(data));
      } else {
        showError(box, error);
      }
    });
  });

  $("import-file").addEventListener("change", function () {
    var file = $("import-file").files[0];
    $("import-file-name").textContent = file ? file.name + "（" + Math.max(1, Math.round(file.size / 1024)) + " KB）" : "未选择文件";
  });

  function progressBar(value, label) {
    var pct = Math.max(0, Math.min(100, Math.round(value)));
    return el("div", {}, el("div", { class: "hint" }, label),
      el("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct },
        el("span", { style: "width:" + pct + "%" })));
  }

  function stopPoll(key) { clearTimeout(state.polls[key]); delete state.polls[key]; }

  function followImport(job) {
    var id = job["import"];
    var box = $("import-message");
    stopPoll("import");
    function tick() {
      api("GET", "/api/trainer/imports/" + encodeURIComponent(id)).then(function (reply) {
        var d = reply.data || {};
        var total = d.buyer_turns || 0;
        clear($("import-progress")).appendChild(progressBar(total ? (100 * (d.read || 0)) / total : 0,
          "已识别 " + (d.read || 0) + " / " + total + " 句"));
        if (d.status === "done") {
          stopPoll("import");
          show(box, "ok", "导入完成：" + (d.filename || "") + " 共 " + total + " 句顾客的话。下面按机器人最没把握的排在前面。");
          showImportTurns(id);
        } else if (d.status === "failed") {
          stopPoll("import");
          show(box, "error", "导入失败：" + (translate(d.error) || "服务器处理这个文件时出错。"), details(d));
        } else {
          state.polls["import"] = setTimeout(tick, POLL_MS);
        }
      }, function (error) { stopPoll("import"); showError(box, error); });
    }
    tick();
  }

  function showImportTurns(id) {
    var box = clear($("import-turns"));
    return Promise.all([api("GET", "/api/trainer/queue?limit=200&import=" + encodeURIComponent(id)), loadDomain()]).then(function (results) {
      var turns = (results[0].data && results[0].data.turns) || [];
      if (!turns.length) { box.appendChild(el("p", { class: "empty" }, "这个导入里没有顾客的话。")); return; }
      box.appendChild(el("h2", {}, "导入的句子（最不确定的在前，共 " + turns.length + " 句）"));
      turns.forEach(function (t) { box.appendChild(turnCard(t, { conversation: t.sender_id, channel: t.channel, openable: true })); });
    }, function (error) { showError($("import-message"), error); });
  }

  function loadImports() {
    var list = clear($("import-list"));
    api("GET", "/api/trainer/imports").then(function (reply) {
      var imports = (reply.data && reply.data.imports) || [];
      if (!imports.length) { list.appendChild(el("p", { class: "empty" }, "还没有导入过。")); return; }
      list.appendChild(el("table", { class: "grid" },
        el("thead", {}, el("tr", {}, ["时间", "文件", "训练员", "状态", "会话", "顾客的话", ""].map(function (h) { return el("th", {}, h); }))),
        el("tbody", {}, imports.map(function (imp) {
          return el("tr", {},
            el("td", {}, formatTime(imp.created)), el("td", {}, imp.filename || "-"), el("td", {}, imp.trainer || "-"),
            el("td", {}, { reading: "读取中", done: "完成", failed: "失败" }[imp.status] || imp.status),
            el("td", { class: "num" }, String(imp.conversations || 0)), el("td", { class: "num" }, String(imp.buyer_turns || 0)),
            el("td", {}, imp.status === "done" ? el("button", { type: "button", onclick: function () {
              show($("import-message"), "info", "导入 " + (imp.filename || imp["import"]) + " 的句子：");
              showImportTurns(imp["import"]);
            } }, "查看句子") : null));
        }))));
    }, function (error) {
      list.appendChild(el("p", { class: "hint" }, "读不到导入记录：" + error.message));
    });
  }

  // 训练 ---------------------------------------------------------------------------------------
  $("train-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var mode = $("train-form").elements.mode.value;
    var box = $("train-message");
    show(box, "info", "正在提交……");
    api("POST", "/api/trainer/train", { trainer: trainer(), mode: mode }).then(function (reply) {
      show(box, "ok", "已开始" + (mode === "full" ? "完整训练" : "微调") + "。训练时可以继续纠正别的句子。");
      followJob(reply.data);
    }, function (error) {
      if (error.status === 409) show(box, "warn", "已经有一个训练在进行中，请等它结束后再开始。", details(error.data));
      else showError(box, error);
    });
  });

  function loadTraining() {
    loadModels();
    api("GET", "/api/trainer/train").then(function (reply) {
      var jobs = (reply.data && reply.data.jobs) || [];
      if (jobs.length && !state.polls.job) followJob(jobs[0]);
    }, function (error) { showError($("train-message"), error); });
  }

  function loadModels() {
    var body = clear($("models-body"));
    api("GET", "/api/trainer/models").then(function (reply) {
      var d = reply.data || {};
      var active = d.active !== undefined ? d.active : d.model ? d : null;  // {active, history} or the pointer itself
      if (active) {
        append(body, el("dl", {},
          el("dt", {}, "训练员上线的模型"), el("dd", { class: "active-model" }, active.model),
          el("dt", {}, "上线人 / 时间"), el("dd", {}, (active.activated_by || "-") + " · " + formatTime(active.activated_at))));
      } else {
        append(body, el("p", {}, "还没有训练员上线过模型（用的是部署时的模型）。"));
      }
      if (d.loaded) append(body, el("p", { class: "hint" }, "本服务正在使用：" + d.loaded));
      var history = d.history || [];
      if (history.length) append(body, el("details", { class: "models-history" }, el("summary", {}, "以前的模型（" + history.length + "）"),
        el("ul", {}, history.map(function (h) {
          return el("li", {}, (h.model || "") + " · " + (h.activated_by || "-") + " · " + formatTime(h.activated_at));
        }))));
    }, function (error) { showError($("models-message"), error); });
  }

  $("rollback").addEventListener("click", function () {
    var box = $("models-message");
    confirmDialog("确定回滚到上一个模型吗？机器人会立刻改用上一个模型回答顾客。").then(function (yes) {
      if (!yes) return;
      api("POST", "/api/trainer/models/rollback", { trainer: trainer() }).then(function (reply) {
        show(box, "ok", "已回滚：现在用的是 " + modelName(reply.data.active) + "（原来是 " + (modelName(reply.data.previous) || "部署时的模型") + "）。");
        loadModels();
      }, function (error) {
        if (error.status === 409) show(box, "warn", error.message, details(error.data));
        else showError(box, error);
      });
    });
  });

  function followJob(job) {
    stopPoll("job");
    renderJob(job);
    if (["queued", "training", "evaluating"].indexOf(job.status) < 0) return;
    function tick() {
      api("GET", "/api/trainer/train/" + encodeURIComponent(job.id)).then(function (reply) {
        job = reply.data;
        renderJob(job);
        if (["queued", "training", "evaluating"].indexOf(job.status) >= 0) state.polls.job = setTimeout(tick, POLL_MS * 2);
        else stopPoll("job");
      }, function (error) {
        stopPoll("job");
        showError($("train-message"), error);
      });
    }
    state.polls.job = setTimeout(tick, POLL_MS);
  }

  function metricCell(live, candidate) {
    var known = typeof live === "number" && typeof candidate === "number";  // no live model: nothing to compare
    var diff = known ? candidate - live : 0;
    var cls = Math.abs(diff) < 0.005 ? "" : diff > 0 ? "better" : "worse";
    var sign = Math.abs(diff) < 0.005 ? "" : (diff > 0 ? " ↑+" : " ↓") + Math.round(diff * 100);
    return [el("td", { class: "num" }, percent(live)), el("td", { class: "num " + cls }, percent(candidate) + sign)];
  }

  function comparisonTable(set) {
    var live = set.live || {};
    var cand = set.candidate || {};
    var classes = Object.keys(Object.assign({}, live.per_class || {}, cand.per_class || {})).sort();
    var rows = classes.map(function (name) {
      var a = (live.per_class || {})[name] || {};
      var b = (cand.per_class || {})[name] || {};
      return el("tr", {}, el("td", {}, intentLabel(name)), el("td", { class: "num" }, String(b.support || a.support || 0)),
        metricCell(a.precision, b.precision), metricCell(a.recall, b.recall), metricCell(a.f1, b.f1));
    });
    var summary = el("tbody", { class: "summary" },
      el("tr", {}, el("th", { colSpan: 6 }, "宏平均 F1（macro-F1）"), metricCell(live.macro_f1, cand.macro_f1)),
      el("tr", {}, el("th", { colSpan: 6 }, "紧急情况召回率"), metricCell(live.urgency_recall, cand.urgency_recall)));
    return el("section", { class: "card comparison", "data-set": set.name },
      el("h3", {}, (SET_LABELS[set.name] || set.name) + "（" + set.name + "，" + (set.size || 0) + " 句）"),
      el("table", { class: "grid" },
        el("thead", {},
          el("tr", {}, el("th", { rowSpan: 2 }, "类别"), el("th", { rowSpan: 2, class: "num" }, "句数"),
            el("th", { colSpan: 2 }, "精确率"), el("th", { colSpan: 2 }, "召回率"), el("th", { colSpan: 2 }, "F1")),
          el("tr", {}, ["现在", "新模型", "现在", "新模型", "现在", "新模型"].map(function (h) { return el("th", { class: "num" }, h); }))),
        el("tbody", {}, rows), summary));
  }

  function renderJob(job) {
    var box = clear($("job"));
    var progress = job.progress || {};
    var card = el("section", { class: "card job", "data-status": job.status },
      el("h2", {}, "训练 " + job.id + "：" + (JOB_STATUS[job.status] || job.status)),
      el("p", { class: "meta" }, (job.mode === "full" ? "完整训练" : "微调") + " · " + (job.trainer || "-") + " · 开始于 " + formatTime(job.created) +
        (job.finished ? " · 结束于 " + formatTime(job.finished) : "")));
    if (["queued", "training", "evaluating"].indexOf(job.status) >= 0) {
      card.appendChild(progressBar(progress.percent || 0, (progress.stage || JOB_STATUS[job.status]) + " " + Math.round(progress.percent || 0) + "%"));
    }
    if (job.status === "failed") {
      var why = hasChinese(job.error) ? job.error : translate(job.error) || "请联系技术同事。";
      card.appendChild(el("div", { class: "message error" }, "训练失败：" + why,
        details(job.error || job.log_tail ? { error: job.error, log_tail: job.log_tail } : null)));
    }
    var comparison = job.comparison;
    if (comparison && ["ready", "activated", "discarded"].indexOf(job.status) >= 0) {
      card.appendChild(el("p", { class: "hint" }, "“现在”是线上模型，“新模型”是这次训练的结果；绿色 ↑ 表示变好，红色 ↓ 表示变差。"));
      (comparison.sets || []).forEach(function (set) { card.appendChild(comparisonTable(set)); });
      var changed = comparison.changed || [];
      card.appendChild(el("section", { class: "card changed" },
        el("h3", {}, "识别结果变了的句子（" + changed.length + "）"),
        changed.length ? el("table", { class: "grid" },
          el("thead", {}, el("tr", {}, ["集合", "句子", "正确答案", "现在", "新模型"].map(function (h) { return el("th", {}, h); }))),
          el("tbody", {}, changed.map(function (c) {
            return el("tr", {}, el("td", {}, SET_LABELS[c.set] || c.set), el("td", {}, c.text), el("td", {}, intentLabel(c.gold)),
              el("td", { class: c.live === c.gold ? "better" : "worse" }, intentLabel(c.live)),
              el("td", { class: c.candidate === c.gold ? "better" : "worse" }, intentLabel(c.candidate)));
          }))) : el("p", { class: "hint" }, "没有句子的识别结果变化。")));
    }
    if (job.status === "ready") {
      var result = el("div", { class: "message", role: "status" });
      var activate = el("button", { type: "button", class: "primary activate" }, "上线");
      var discard = el("button", { type: "button", class: "danger discard" }, "丢弃");
      activate.addEventListener("click", function () {
        confirmDialog("确定让新模型上线吗？机器人会立刻用它回答顾客。需要时可以回滚到上一个模型。").then(function (yes) {
          if (!yes) return;
          api("POST", "/api/trainer/train/" + encodeURIComponent(job.id) + "/activate", { trainer: trainer() }).then(function (reply) {
            show(result, "ok", "已上线：" + modelName(reply.data.active) + "（上一个是 " + (modelName(reply.data.previous) || "部署时的模型") + "）。");
            job.status = "activated";
            activate.disabled = discard.disabled = true;
            loadModels();
          }, function (error) { showError(result, error); });
        });
      });
      discard.addEventListener("click", function () {
        confirmDialog("确定丢弃这个新模型吗？线上模型不变。").then(function (yes) {
          if (!yes) return;
          api("POST", "/api/trainer/train/" + encodeURIComponent(job.id) + "/discard", { trainer: trainer() }).then(function (reply) {
            renderJob(reply.data);
            show($("train-message"), "ok", "已丢弃，线上模型不变。");
          }, function (error) { showError(result, error); });
        });
      });
      card.appendChild(el("div", { class: "job-actions" }, activate, discard));
      card.appendChild(result);
    }
    box.appendChild(card);
  }

  // ------------------------------------------------------------------------------------------
  // start
  // ------------------------------------------------------------------------------------------
  window.addEventListener("unhandledrejection", function (event) {
    showError($("global-message"), event.reason);
  });

  if (sessionStorage.getItem(TOKEN_KEY) && trainer()) loggedIn();
  else showLogin("");

  window.TrainerUi = { openConversation: openConversation, switchView: switchView };
})();
