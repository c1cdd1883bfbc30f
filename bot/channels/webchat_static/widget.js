/*
 * 售后客服 web chat widget (plain JS, no build step).
 *
 * Embed with one tag:
 *   <script src="https://shop.example/webhooks/webchat/widget.js" data-server="https://shop.example"></script>
 * data-server defaults to the origin the script was loaded from. Optional: data-title.
 *
 * Talks Rasa's socket.io protocol (session_request/session_confirm, user_uttered/bot_uttered);
 * the session id and the conversation are kept in localStorage, so a reload keeps the chat.
 */
(function () {
  "use strict";
  if (window.__tsWebChat) return;
  window.__tsWebChat = true;

  var script = document.currentScript || (function () {
    var all = document.getElementsByTagName("script");
    for (var i = all.length - 1; i >= 0; i--) if (/widget\.js(\?|$)/.test(all[i].src)) return all[i];
    return null;
  })();
  var server = ((script && script.getAttribute("data-server")) || (script ? new URL(script.src, location.href).origin : location.origin)).replace(/\/+$/, "");
  var title = (script && script.getAttribute("data-title")) || "售后客服";
  var KEY_SESSION = "tsWebChat.session";
  var KEY_HISTORY = "tsWebChat.history";
  var KEY_OPEN = "tsWebChat.open";
  var KEY_SEEN = "tsWebChat.seen";  // server time of the latest message received (for the replay)
  var MAX_HISTORY = 300;
  var MAX_UPLOAD = 5 * 1024 * 1024;
  var GREETING = "您好，我是售后客服小助手。请告诉我您遇到的问题，例如：收到的商品有质量问题、物流太慢、想退换货。";

  function load(key, fallback) {
    try { var v = localStorage.getItem(key); return v === null ? fallback : JSON.parse(v); } catch (e) { return fallback; }
  }
  function save(key, value) {
    try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode: no persistence */ }
  }

  var sessionId = load(KEY_SESSION, null);
  var history = load(KEY_HISTORY, []);
  if (!Array.isArray(history)) history = [];
  var socket = null;
  var confirmed = false;
  var queue = [];
  var pending = 0;
  var typingTimer = null;

  // ---------------------------------------------------------------- styles and DOM
  var css = [
    ".tsw-btn{position:fixed;right:24px;bottom:24px;z-index:2147483000;border:0;border-radius:28px;padding:14px 20px;",
    "background:#ff5000;color:#fff;font:600 15px/1 'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif;box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer}",
    ".tsw-panel{position:fixed;right:24px;bottom:84px;z-index:2147483000;width:360px;max-width:calc(100vw - 32px);height:540px;max-height:calc(100vh - 110px);",
    "display:none;flex-direction:column;background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);overflow:hidden;",
    "font:14px/1.5 'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif;color:#222}",
    ".tsw-panel.tsw-open{display:flex}",
    ".tsw-head{background:#ff5000;color:#fff;padding:12px 14px;display:flex;align-items:center;justify-content:space-between;font-weight:600}",
    ".tsw-status{font-weight:400;font-size:12px;opacity:.9;margin-left:8px}",
    ".tsw-close{background:none;border:0;color:#fff;font-size:20px;cursor:pointer;line-height:1}",
    ".tsw-log{flex:1;overflow-y:auto;padding:12px;background:#f5f5f5}",
    ".tsw-msg{width:fit-content;max-width:82%;margin:6px 0;padding:8px 11px;border-radius:10px;white-space:pre-wrap;word-break:break-word}",
    ".tsw-user{margin-left:auto;background:#ff5000;color:#fff;border-bottom-right-radius:2px}",
    ".tsw-bot{margin-right:auto;background:#fff;border:1px solid #e5e5e5;border-bottom-left-radius:2px}",
    ".tsw-agent{border-color:#ffb38a;background:#fff7f2}",
    ".tsw-who{font-size:12px;color:#ff5000;margin-bottom:2px}",
    ".tsw-note{margin:6px auto;text-align:center;color:#888;font-size:12px}",
    ".tsw-msg img{display:block;max-width:100%;max-height:180px;border-radius:6px;margin-top:4px}",
    ".tsw-replies{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 8px}",
    ".tsw-reply{border:1px solid #ff5000;background:#fff;color:#ff5000;border-radius:14px;padding:4px 12px;cursor:pointer;font:inherit}",
    ".tsw-reply:disabled{border-color:#ccc;color:#aaa;cursor:default}",
    ".tsw-typing{display:none;margin:6px 0;padding:8px 11px;background:#fff;border:1px solid #e5e5e5;border-radius:10px;width:max-content;color:#888}",
    ".tsw-typing.tsw-on{display:block}",
    ".tsw-foot{display:flex;gap:6px;padding:8px;border-top:1px solid #eee;background:#fff}",
    ".tsw-input{flex:1;border:1px solid #ddd;border-radius:8px;padding:8px;font:inherit;resize:none;height:38px}",
    ".tsw-send,.tsw-pic{border:0;border-radius:8px;padding:0 12px;background:#ff5000;color:#fff;font:inherit;cursor:pointer}",
    ".tsw-pic{background:#fff;color:#ff5000;border:1px solid #ff5000}",
    "@media (max-width:480px){.tsw-panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100%;max-height:100%;border-radius:0}",
    ".tsw-btn.tsw-hidden{display:none}}"
  ].join("");

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  var style = el("style");
  style.textContent = css;
  var button = el("button", "tsw-btn", "在线客服");
  button.type = "button";
  button.setAttribute("aria-label", "打开在线客服");
  var panel = el("div", "tsw-panel");
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", title);
  var head = el("div", "tsw-head");
  var headTitle = el("span", null, title);
  var status = el("span", "tsw-status", "连接中…");
  headTitle.appendChild(status);
  var close = el("button", "tsw-close", "×");
  close.type = "button";
  close.setAttribute("aria-label", "关闭");
  head.appendChild(headTitle);
  head.appendChild(close);
  var log = el("div", "tsw-log");
  log.setAttribute("aria-live", "polite");
  var typing = el("div", "tsw-typing", "客服正在输入…");
  var foot = el("div", "tsw-foot");
  var input = el("textarea", "tsw-input");
  input.placeholder = "请描述您遇到的问题…";
  input.setAttribute("aria-label", "输入消息");
  var pic = el("button", "tsw-pic", "图片");
  pic.type = "button";
  pic.title = "上传图片凭证（JPG/PNG/WebP，不超过5MB）";
  var file = el("input");
  file.type = "file";
  file.accept = "image/jpeg,image/png,image/webp";
  file.style.display = "none";
  var send = el("button", "tsw-send", "发送");
  send.type = "button";
  foot.appendChild(input);
  foot.appendChild(pic);
  foot.appendChild(send);
  foot.appendChild(file);
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(foot);

  // ---------------------------------------------------------------- rendering
  var IMAGE = /^\[图片\]\s*(https?:\/\/\S+)/;

  function scroll() { log.scrollTop = log.scrollHeight; }

  function showTyping(on) {
    clearTimeout(typingTimer);
    typing.classList.toggle("tsw-on", !!on);
    if (on) typingTimer = setTimeout(function () { showTyping(false); pending = 0; }, 30000);
    log.appendChild(typing);
    scroll();
  }

  function renderEntry(entry, live) {
    if (entry.from === "note") {
      log.insertBefore(el("div", "tsw-note", entry.text), typing);
      return;
    }
    var bubble = el("div", "tsw-msg " + (entry.from === "user" ? "tsw-user" : "tsw-bot"));
    if (entry.agent) {
      bubble.classList.add("tsw-agent");
      bubble.appendChild(el("div", "tsw-who", "人工客服 " + entry.agent));
    }
    var text = entry.text || "";
    var m = IMAGE.exec(text);
    if (m) {
      bubble.appendChild(document.createTextNode("[图片]"));
      var img = el("img");
      img.src = m[1];
      img.alt = "图片凭证";
      bubble.appendChild(img);
    } else {
      bubble.appendChild(document.createTextNode(text));  // white-space:pre-wrap keeps the line breaks
    }
    if (entry.image) {
      var bi = el("img");
      bi.src = entry.image;
      bi.alt = "图片";
      bubble.appendChild(bi);
    }
    log.insertBefore(bubble, typing);
    if (entry.buttons && entry.buttons.length) {
      var row = el("div", "tsw-replies");
      entry.buttons.forEach(function (b) {
        var rb = el("button", "tsw-reply", b.title);
        rb.type = "button";
        rb.setAttribute("data-payload", b.payload);
        rb.disabled = !live;
        rb.addEventListener("click", function () {
          Array.prototype.forEach.call(row.querySelectorAll("button"), function (x) { x.disabled = true; });
          sendText(b.payload, b.title);
        });
        row.appendChild(rb);
      });
      log.insertBefore(row, typing);
    }
  }

  function disableOldReplies() {
    Array.prototype.forEach.call(log.querySelectorAll(".tsw-reply"), function (x) { x.disabled = true; });
  }

  function add(entry) {
    disableOldReplies();
    history.push(entry);
    if (history.length > MAX_HISTORY) history = history.slice(-MAX_HISTORY);
    save(KEY_HISTORY, history);
    renderEntry(entry, true);
    scroll();
  }

  function renderHistory() {
    while (log.firstChild) log.removeChild(log.firstChild);
    log.appendChild(typing);
    renderEntry({ from: "bot", text: GREETING }, false);  // always on top, not part of the stored history
    history.forEach(function (entry, i) { renderEntry(entry, i === history.length - 1); });
    scroll();
  }

  // ---------------------------------------------------------------- messaging
  function emitMessage(text) {
    socket.emit("user_uttered", { message: text, session_id: sessionId });
  }

  function sendText(payload, shown) {
    payload = String(payload || "").trim();
    if (!payload) return;
    add({ from: "user", text: shown || payload });
    pending += 1;
    showTyping(true);
    if (socket && confirmed && sessionId) emitMessage(payload);
    else queue.push(payload);
  }

  function onBotMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    if (typeof msg.at === "number" && msg.at > (load(KEY_SEEN, 0) || 0)) save(KEY_SEEN, msg.at);
    pending = 0;
    showTyping(false);
    var buttons = msg.quick_replies || msg.buttons || [];
    var entry = { from: "bot", text: msg.text || "" };
    if (typeof msg.author === "string" && msg.author.indexOf("agent:") === 0) entry.agent = msg.author.slice(6).slice(0, 32);
    if (buttons.length) entry.buttons = buttons.map(function (b) { return { title: String(b.title || b.payload || ""), payload: String(b.payload || b.title || "") }; });
    if (msg.attachment && msg.attachment.payload && msg.attachment.payload.src) entry.image = msg.attachment.payload.src;
    else if (msg.image) entry.image = msg.image;
    if (!entry.text && !entry.image && !entry.buttons) return;
    add(entry);
  }

  function upload(f) {
    if (!f) return;
    if (f.size > MAX_UPLOAD) { add({ from: "note", text: "图片不能超过5MB，请压缩后再发。" }); return; }
    if (!sessionId) { add({ from: "note", text: "还没连上客服，请稍后再试。" }); return; }
    var form = new FormData();
    form.append("file", f);
    form.append("session_id", sessionId);
    add({ from: "note", text: "图片上传中…" });
    fetch(server + "/webhooks/webchat/upload", { method: "POST", body: form })
      .then(function (r) { return r.json().then(function (body) { return { status: r.status, body: body }; }); })
      .then(function (res) {
        if (res.status === 200 && res.body.url) return sendText("[图片] " + res.body.url);
        var why = res.status === 413 ? "图片不能超过5MB。" : res.status === 415 ? "只支持 JPG、PNG、WebP 格式的图片。"
          : res.status === 429 ? "今天发的图片已经很多了，请用文字描述，或等客服联系您。" : res.status === 403 ? "连接已过期，请刷新页面后重试。" : "图片上传失败，请重试。";
        add({ from: "note", text: why });
      })
      .catch(function () { add({ from: "note", text: "图片上传失败，请检查网络后重试。" }); });
  }

  function connect() {
    // HTTP long-polling only: the websocket upgrade fails between python-engineio 4.15 and Sanic 21.12 ("Invalid frame header").
    socket = window.io(server, { path: "/socket.io", transports: ["polling"], upgrade: false });
    socket.on("connect", function () {
      confirmed = false;
      status.textContent = "连接中…";
      socket.emit("session_request", { session_id: sessionId, since: sessionId ? load(KEY_SEEN, null) : null });
    });
    socket.on("session_confirm", function (id) {
      var sid = typeof id === "string" ? id : (id && id.session_id);
      if (!sid) return;
      if (sessionId && sid !== sessionId) { history = []; save(KEY_HISTORY, history); save(KEY_SEEN, null); renderHistory(); }
      sessionId = sid;
      save(KEY_SESSION, sessionId);
      confirmed = true;
      status.textContent = "在线";
      while (queue.length) emitMessage(queue.shift());
    });
    socket.on("bot_uttered", onBotMessage);
    socket.on("disconnect", function () { confirmed = false; status.textContent = "重新连接中…"; });
    socket.on("connect_error", function () { status.textContent = "连接失败，重试中…"; });
  }

  function setOpen(open) {
    panel.classList.toggle("tsw-open", open);
    button.textContent = open ? "× 收起" : "在线客服";
    button.classList.toggle("tsw-hidden", open);  // on a phone the open panel fills the screen
    save(KEY_OPEN, open);
    if (open) { scroll(); input.focus(); }
  }

  button.addEventListener("click", function () { setOpen(!panel.classList.contains("tsw-open")); });
  close.addEventListener("click", function () { setOpen(false); });
  send.addEventListener("click", function () { var t = input.value; input.value = ""; sendText(t); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); var t = input.value; input.value = ""; sendText(t); }
  });
  pic.addEventListener("click", function () { file.click(); });
  file.addEventListener("change", function () { upload(file.files && file.files[0]); file.value = ""; });

  function start() {
    document.head.appendChild(style);
    document.body.appendChild(button);
    document.body.appendChild(panel);
    renderHistory();
    if (load(KEY_OPEN, false)) setOpen(true);
    if (window.io) return connect();
    var s = document.createElement("script");
    s.src = server + "/webhooks/webchat/socket.io.min.js";
    s.onload = connect;
    s.onerror = function () { status.textContent = "无法连接客服"; };
    document.head.appendChild(s);
  }

  window.TsWebChat = { open: function () { setOpen(true); }, close: function () { setOpen(false); }, send: sendText };
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
