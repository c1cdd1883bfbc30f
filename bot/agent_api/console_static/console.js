/* The agents' console (issue 12): the queue with SLA countdowns, live updates, the case screen.
 *
 * Served at /console/ by bot/agent_api/console_ui.py; every call goes to /api/console/... as the
 * logged-in person (common.js). Live updates come as server-sent events from
 * /api/console/events (events "queue" and "conversation"); when the stream fails the page polls
 * every POLL_MS and says so ("轮询") until the stream is back.
 *
 * Keyboard: j/k move through the queue, Enter opens, c claims, r goes to the reply box,
 * Enter in the reply box sends (Shift+Enter: a new line), Esc leaves it.
 */
(function () {
  "use strict";
  var C = window.Console, $ = C.$, el = C.el, label = C.label;
  var POLL_MS = 5000;

  var state = { me: null, cases: [], skew: 0, selected: null, view: null, source: null, polling: null, cursor: 0 };

  function message(text, kind) {
    var box = $("case-message");
    box.className = "message" + (kind ? " " + kind : "");
    box.textContent = text || "";
  }

  function now() { return Date.now() / 1000 + state.skew; }

  // ---------------------------------------------------------------------------------------------
  // the queue
  // ---------------------------------------------------------------------------------------------
  function loadQueue() {
    return C.api("GET", "/api/console/queue").then(function (data) {
      state.skew = data.now - Date.now() / 1000;
      state.cases = data.cases;
      $("queue-counts").textContent = "等待 " + data.waiting + " · 我的 " + data.mine;
      renderQueue();
    }).catch(function (error) { message(error.message, "error"); });
  }

  function left(c) { return c.deadline - now(); }

  function level(c) {
    if (c.status !== "waiting") return "";
    var secs = left(c);
    if (secs <= 0) return "red";
    // the same rule as the server's countdown (bot/policy/sla.py): a quarter of the window or 5 minutes
    var span = c.window_started ? c.deadline - c.window_started : 0;
    return secs <= Math.max(0.25 * span, 300) ? "amber" : "";
  }

  function renderQueue() {
    var list = C.clear($("queue-list"));
    if (!state.cases.length) {
      list.appendChild(el("li", { class: "empty" }, "队列是空的。新个案会自动出现。"));
      return;
    }
    state.cases.forEach(function (c, i) {
      var lvl = level(c);
      var mine = c.claimed_by === state.me.name;
      var item = el("button", {
        type: "button", class: "case-item" + (lvl ? " level-" + lvl : ""), "data-sender": c.sender_id,
        "aria-current": c.sender_id === state.selected ? "true" : null,
        onclick: function () { state.cursor = i; openCase(c.sender_id); }
      },
        el("span", { class: "row" },
          el("span", { class: "badge " + c.priority.toLowerCase() }, c.priority),
          el("strong", {}, label("reason", c.reason)),
          c.status === "waiting"
            ? el("span", { class: "countdown " + lvl, "data-deadline": c.deadline }, C.duration(left(c)))
            : el("span", { class: "badge mine" }, mine ? "我在处理" : "处理人：" + c.claimed_by)),
        el("span", { class: "row" },
          el("span", {}, label("channel", c.channel)), el("span", {}, "· " + C.customer(c.customer)),
          el("span", {}, "· " + label("type", c.type)), c.urgency ? el("span", {}, "· " + label("urgency", c.urgency)) : null,
          el("span", { class: "hint" }, "· " + c.queue_label)),
        c.preview ? el("span", { class: "preview" }, c.preview) : null);
      list.appendChild(el("li", {}, item));
    });
  }

  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll(".countdown[data-deadline]"), function (node) {
      var c = { deadline: parseFloat(node.getAttribute("data-deadline")), status: "waiting" };
      var item = node.closest(".case-item");
      var data = state.cases.filter(function (x) { return x.sender_id === item.getAttribute("data-sender"); })[0];
      var lvl = level(data || c);
      node.textContent = C.duration(c.deadline - now());
      node.className = "countdown " + lvl;
      item.className = "case-item" + (lvl ? " level-" + lvl : "");
    });
  }

  // ---------------------------------------------------------------------------------------------
  // live updates: server-sent events, polling while they fail
  // ---------------------------------------------------------------------------------------------
  function connect() {
    if (state.source) state.source.close();
    var s = C.session();
    var url = "/api/console/events?token=" + encodeURIComponent(s.token) + "&agent=" + encodeURIComponent(s.name) +
      (state.selected ? "&sender_id=" + encodeURIComponent(state.selected) : "");
    if (!window.EventSource) { startPolling(); return; }
    var source = new EventSource(url);
    state.source = source;
    source.addEventListener("open", stopPolling);
    // the queue changed: the open case may be the one that changed (claimed by someone else, resolved)
    source.addEventListener("queue", function () { loadQueue(); if (state.selected) refreshCase(); });
    source.addEventListener("conversation", function () { if (state.selected) refreshCase(); });
    source.addEventListener("error", startPolling);
  }

  function startPolling() {
    $("live").textContent = "轮询";
    $("live").className = "live polling";
    if (state.polling) return;
    state.polling = setInterval(function () { loadQueue(); if (state.selected) refreshCase(); }, POLL_MS);
  }

  function stopPolling() {
    $("live").textContent = "实时";
    $("live").className = "live";
    if (state.polling) { clearInterval(state.polling); state.polling = null; }
  }

  // ---------------------------------------------------------------------------------------------
  // the case
  // ---------------------------------------------------------------------------------------------
  function openCase(senderId) {
    state.selected = senderId;
    message("");
    renderQueue();
    connect();  // the stream now also watches this conversation
    return refreshCase();
  }

  function refreshCase() {
    var sender = state.selected;
    var draft = $("reply-text") ? $("reply-text").value : "";
    var focused = document.activeElement && document.activeElement.id === "reply-text";
    return C.api("GET", "/api/console/cases/" + encodeURIComponent(sender)).then(function (view) {
      if (sender !== state.selected) return;
      state.view = view;
      renderCase(view);
      if ($("reply-text")) { $("reply-text").value = draft; if (focused) $("reply-text").focus(); }
    }).catch(function (error) { message(error.message, "error"); });
  }

  function facts(pairs) {
    return el("dl", { class: "facts" }, pairs.filter(function (p) { return p[1] !== null && p[1] !== undefined && p[1] !== ""; })
      .map(function (p) { return [el("dt", {}, p[0]), el("dd", {}, String(p[1]))]; }));
  }

  function factValue(key, value) {
    if (key === "product_category") return label("category", value);
    if (value === true) return "是";
    if (value === false) return "否";
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  function optionText(o) {
    if (!o) return "—";
    if (typeof o === "string") return o;
    return (o.label || o.id || "") + (o.description ? "：" + o.description : "");
  }

  function renderCase(view) {
    $("case-empty").hidden = true;
    var body = C.clear($("case-body"));
    body.hidden = false;
    var c = view.case, rights = view.rights, summary = view.summary || {};
    var ticket = view.tickets.length ? view.tickets[0] : null;  // newest first
    var offered = (ticket && ticket.options_offered && ticket.options_offered.length ? ticket.options_offered : summary.options_offered) || [];

    var bar = el("div", { class: "case-bar" },
      el("h2", {}, (c ? label("reason", c.reason) : "工单") + " · " + label("channel", c ? c.channel : ticket.channel)),
      c ? el("span", { class: "badge " + c.priority.toLowerCase() }, c.priority) : null,
      c ? el("span", { class: "badge" }, label("status", c.status) + (c.claimed_by ? "（" + c.claimed_by + "）" : "")) : null,
      c && c.status === "waiting" ? el("span", { class: "hint" }, "须在" + c.deadline_text + "接手") : null,
      rights.claim ? el("button", { type: "button", class: "primary", id: "claim", onclick: claim, title: "快捷键 c" }, "接手") : null,
      rights.resolve ? el("button", { type: "button", id: "resolve", onclick: resolve }, "解决并交还机器人") : null);
    body.appendChild(bar);

    var card = el("section", { class: "card", "aria-label": "个案摘要" },
      el("h2", {}, "个案摘要"),
      facts([
        ["投诉类型", label("type", summary.type || (ticket && ticket.type))],
        ["原因", label("cause", summary.cause || (ticket && ticket.cause))],
        ["紧急程度", label("urgency", summary.urgency || (ticket && ticket.urgency))],
        ["阶段", summary.phase ? label("phase", summary.phase) : null],
        ["订单号", (summary.facts && summary.facts.order_id) || (ticket && ticket.order_id)],
        ["顾客", C.customer(c ? c.customer : ticket && ticket.customer_id)],
        ["顾客原话", ticket && ticket.customer_words]
      ]),
      summary.facts ? el("h3", {}, "已收集的信息") : null,
      summary.facts ? facts(Object.keys(summary.facts).map(function (k) { return [label("fact", k), factValue(k, summary.facts[k])]; })) : null,
      el("h3", {}, "提供过的方案"),
      offered.length ? el("ol", {}, offered.map(function (o) { return el("li", {}, optionText(o)); }))
        : el("p", { class: "hint" }, "还没有给顾客提供方案。"),
      ticket && ticket.chosen_option ? facts([["顾客选择", optionText(ticket.chosen_option)]]) : null);

    var tickets = el("section", { class: "card", "aria-label": "工单" }, el("h2", {}, "工单"),
      view.tickets.map(function (t) { return ticketBlock(t, rights); }),
      view.linked.length ? el("h3", {}, "同一订单的其他工单") : null,
      view.linked.length ? el("ul", {}, view.linked.map(function (t) {
        return el("li", {}, t.id + " · " + label("channel", t.channel) + " · " + label("status", t.status) + (t.owner ? " · " + t.owner : ""));
      })) : null);

    var promises = el("section", { class: "card", "aria-label": "承诺" }, el("h2", {}, "对顾客的承诺"),
      view.promises.length ? el("ul", {}, view.promises.map(promiseLine)) : el("p", { class: "hint" }, "这段对话里还没有带时间的承诺。"));

    var quality = qualityBlock(view);

    var left = el("div", {}, card, tickets, promises, quality);
    var right = el("section", { class: "card", "aria-label": "对话记录" }, el("h2", {}, "对话记录"),
      el("div", { class: "transcript", id: "transcript" }, view.messages.map(messageLine)),
      replyBox(rights));
    body.appendChild(el("div", { class: "case-grid" }, left, right));
    var box = $("transcript");
    box.scrollTop = box.scrollHeight;
  }

  function messageLine(m) {
    var who = m.from === "customer" ? "顾客" : m.from === "bot" ? "机器人" : m.from === "system" ? "系统" :
      m.from === "timer" ? "定时提醒" :
      m.from.indexOf("agent:") === 0 ? "客服 " + m.from.slice(6) : m.from;
    var kind = m.from.indexOf("agent:") === 0 ? "agent" : m.from === "customer" ? "customer" : m.from === "system" ? "system" : "bot";
    return el("div", { class: "msg " + kind }, el("span", { class: "from" }, who + " · " + C.clock(m.at)), m.text || "");
  }

  function ticketBlock(t, rights) {
    var comp = t.compensation;
    var pending = comp && comp.status === "pending_approval";
    var overLimit = pending && comp.amount > rights.approval_limit;
    return el("div", { class: "ticket" },
      facts([["工单号", t.id], ["状态", label("status", t.status)], ["负责人", t.owner],
        ["补偿", comp ? "¥" + comp.amount + "（" + label("status", comp.status) + (comp.approved_by ? "，" + comp.approved_by : "") + "）" : null],
        ["满意度", t.satisfaction]]),
      pending ? el("div", { class: "reply actions" },
        el("button", { type: "button", class: "primary", onclick: function () { decide(t.id, true); } }, "批准 ¥" + comp.amount),
        el("button", { type: "button", class: "danger", onclick: function () { decide(t.id, false); } }, "不批准"),
        overLimit ? el("span", { class: "hint" }, "超出你的审批额度 ¥" + rights.approval_limit) : null) : null,
      t.status !== "resolved" && t.status !== "closed" && !(state.view.case && state.view.case.status !== "resolved")
        ? el("button", { type: "button", onclick: function () { resolveTicket(t.id); } }, "标记已办结（将发送满意度调查）") : null,
      el("details", {}, el("summary", {}, "工单历史（" + t.history.length + "）"),
        el("ol", { class: "history" }, t.history.map(function (h) {
          return el("li", {}, C.clock(h.at) + " " + C.author(h.actor) + "：" + C.note(h.note) + (h.status ? "（" + label("status", h.status) + "）" : ""));
        }))));
  }

  function promiseLine(p) {
    // the timer's rule (bot/followup/jobs.py about_to_break): a quarter of the promised time, at most 2 h, at least 5 min
    var soon = p.status === "pending" && p.due - now() <= Math.max(Math.min(7200, 0.25 * (p.due - p.made_at)), 300);
    return el("li", { class: "promise " + (soon ? "soon" : p.status) },
      label("promise", p.status) + " · " + C.clock(p.due) + "前 · " + C.author(p.made_by) + "：“" + p.text + "”",
      p.status === "pending" ? el("button", { type: "button", class: "quiet", onclick: function () { keepPromise(p.id); } }, "标记已兑现") : null);
  }

  function qualityBlock(view) {
    var q = view.quality;
    var section = el("section", { class: "card", "aria-label": "质检" }, el("h2", {}, "质检（店规检查）"));
    if (!q) {
      section.appendChild(el("p", { class: "hint" }, "对话安静 30 分钟后自动检查，顾客再说话会重新检查。"));
      return section;
    }
    section.appendChild(el("ul", {}, q.results.map(function (r) {
      var cls = r.passed === false ? "fail" : r.passed === true ? "pass" : "na";
      var mark = r.passed === false ? "违反 · " : r.passed === true ? "通过 · " : "不适用 · ";
      var turn = r.passed === false && r.turn !== null && r.turn !== undefined && q.turns[r.turn]
        ? "（第 " + (r.turn + 1) + " 轮：“" + (q.turns[r.turn].texts || []).join(" ").slice(0, 60) + "”）" : "";
      return el("li", { class: "rule " + cls }, mark + r.title + (r.passed === false ? "：" + (r.detail || "") + turn : ""));
    })));
    if (q.failed && q.failed.length) {
      section.appendChild(el("a", { href: view.trainer_link, target: "_blank", rel: "noopener" }, "在训练工作台打开这段对话"));
    }
    return section;
  }

  function replyBox(rights) {
    if (!rights.reply) {
      return el("p", { class: "hint" }, rights.claim ? "接手后可以回复顾客。" : "这个个案不由你处理，只能查看。");
    }
    var text = el("textarea", { id: "reply-text", "aria-label": "回复顾客", placeholder: "回复顾客（Enter 发送，Shift+Enter 换行）", maxlength: "2000" });
    text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); send(); }
      if (event.key === "Escape") text.blur();
    });
    return el("div", { class: "reply" }, text,
      el("div", { class: "actions" }, el("button", { type: "button", class: "primary", id: "send", onclick: send }, "发送"),
        el("span", { class: "hint" }, "消息会发到顾客所在的渠道。")));
  }

  // ---------------------------------------------------------------------------------------------
  // actions
  // ---------------------------------------------------------------------------------------------
  function path(suffix) { return "/api/console/cases/" + encodeURIComponent(state.selected) + suffix; }

  function after(promise, okText) {
    return promise.then(function () { if (okText) message(okText, "ok"); loadQueue(); return refreshCase(); })
      .catch(function (error) {
        var text = error.message + (error.body && error.body.holder ? "（处理人：" + error.body.holder + "）" : "");
        if (error.status === 403 && error.body && error.body.approver_label) {
          text = "超出你的审批额度（¥" + error.body.limit + "）：请" +
            (error.body.who && error.body.who.length ? error.body.who.join("、") : error.body.approver_label) + "审批";
        }
        message(text, "error");
        loadQueue();
      });
  }

  function claim() { return after(C.api("POST", path("/claim"), {}), "已接手，顾客的消息会出现在右边。"); }

  function send() {
    var box = $("reply-text");
    var text = box.value.trim();
    if (!text) return;
    $("send").disabled = true;
    C.api("POST", path("/reply"), { text: text }).then(function () {
      box.value = "";
      message("已发送给顾客。", "ok");
      return refreshCase();
    }).catch(function (error) {
      message(error.status === 502 ? "消息已记入对话，但平台没有接收：请换其他方式联系顾客。" : error.message, "error");
      refreshCase();
    }).then(function () { if ($("send")) $("send").disabled = false; });
  }

  function resolve() {
    var note = window.prompt("处理结果（记入工单）", "已解决");
    if (note === null) return;
    after(C.api("POST", path("/resolve"), { note: note || "已解决" }), "已解决，对话已交还机器人。");
  }

  function decide(ticketId, approved) {
    after(C.api("POST", "/api/console/tickets/" + encodeURIComponent(ticketId) + "/compensation", { approved: approved }),
      approved ? "已批准，请告诉顾客。" : "已驳回，请告诉顾客原因。");
  }

  function resolveTicket(ticketId) {
    after(C.api("POST", "/api/console/tickets/" + encodeURIComponent(ticketId) + "/resolve", {}), "工单已办结，满意度调查会在 24 小时内发出。");
  }

  function keepPromise(id) {
    after(C.api("POST", "/api/console/promises/" + encodeURIComponent(id) + "/keep", {}), "已标记兑现。");
  }

  // ---------------------------------------------------------------------------------------------
  // keyboard
  // ---------------------------------------------------------------------------------------------
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "textarea" || tag === "input" || event.ctrlKey || event.metaKey || event.altKey || !state.me) return;
    var items = document.querySelectorAll(".case-item");
    if ((event.key === "j" || event.key === "k") && items.length) {
      state.cursor = Math.max(0, Math.min(items.length - 1, state.cursor + (event.key === "j" ? 1 : -1)));
      items[state.cursor].focus();
      event.preventDefault();
    } else if (event.key === "c" && $("claim")) {
      claim();
      event.preventDefault();
    } else if (event.key === "r" && $("reply-text")) {
      $("reply-text").focus();
      event.preventDefault();
    }
  });

  // 按工单号打开: a ticket the bot settled has no case in the queue; the agent opens it by its number
  $("find-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var id = $("find-ticket").value.trim();
    if (!id) return;
    C.api("GET", "/api/console/tickets/" + encodeURIComponent(id)).then(function (found) {
      $("find-ticket").value = "";
      openCase(found.sender_id);
    }).catch(function (error) { message(error.message, "error"); });
  });

  C.login(function (me) {
    state.me = me;
    loadQueue();
    connect();
    setInterval(tick, 1000);
  });
})();
