"""The web chat widget channel (bot/channels/webchat.py): uploads (Pillow), static files, and a real browser.

The HTTP and browser tests run against the session's bot (credentials.yml always has the web chat
channel). The browser is the Debian chromium at
/usr/bin/chromium driven by Playwright (nothing is downloaded).
"""

from __future__ import annotations

import json
import re
import secrets
import struct
import time
import uuid
import zlib
from pathlib import Path
from typing import Any, Iterator

import pytest

from bot.channels.webchat import (
    MAX_UPLOAD_BYTES,
    MAX_UPLOADS_PER_SESSION,
    UploadError,
    check_upload,
    image_kind,
    message_metadata,
    missed_messages,
    sender_id_for,
)
from tools.devstack import ROOT, http_request

SCREENSHOTS = ROOT / "reports" / "screenshots"  # copied to docs/screenshots/ by hand when the widget changes
TICKET = re.compile(r"TS\d{12}")


def tiny_png() -> bytes:
    """A valid 8x8 orange PNG."""
    raw = b"".join(b"\x00" + b"\xff\x50\x00" * 8 for _ in range(8))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def pillow_image(fmt: str, size: tuple[int, int] = (8, 8)) -> bytes:
    """A valid image written by Pillow (JPEG, WEBP, GIF)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (255, 80, 0)).save(buffer, fmt)
    return buffer.getvalue()


JPEG = pillow_image("JPEG")
WEBP = pillow_image("WEBP")
GIF = pillow_image("GIF")
FAKE_JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100  # the magic bytes and nothing behind them
PNG_THEN_HTML = b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>"


# ---------------------------------------------------------------------------------------------
# Upload validation on its own
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, kind",
    [
        (tiny_png(), "png"),
        (JPEG, "jpg"),
        (WEBP, "webp"),
        (GIF, None),
        (b"%PDF-1.4", None),
        (b"RIFF\x00\x00\x00\x00WAVE", None),
        (b"", None),
        (FAKE_JPEG, None),
        (PNG_THEN_HTML, None),  # magic bytes alone are not an image
        (tiny_png()[:-20], None),
        (JPEG[: len(JPEG) // 2], None),
        (WEBP[:-10], None),  # truncated
    ],
)
def test_image_kind_is_what_pillow_reads_completely(data: bytes, kind: str | None) -> None:
    assert image_kind(data) == kind


def test_too_many_pixels_are_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.channels import webchat

    big = pillow_image("PNG", (300, 200))
    assert image_kind(big) == "png"
    monkeypatch.setattr(webchat, "MAX_IMAGE_PIXELS", 300 * 200 - 1)
    assert image_kind(big) is None


def test_upload_limits() -> None:
    assert check_upload(tiny_png(), "s1") == "png"
    assert check_upload(JPEG + b"\x00" * (MAX_UPLOAD_BYTES - len(JPEG)), "s1") == "jpg"  # exactly 5 MB
    cases = [
        (b"\xff\xd8\xff" + b"\x00" * MAX_UPLOAD_BYTES, "s1", 413),
        (GIF, "s1", 415),
        (FAKE_JPEG, "s1", 415),
        (tiny_png()[:-20], "s1", 415),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "s1", 415),
        (None, "s1", 400),
        (b"", "s1", 400),
        (JPEG, "", 400),
        (JPEG, None, 400),
        (JPEG, "x" * 200, 400),
    ]
    for data, session, status in cases:
        with pytest.raises(UploadError) as error:
            check_upload(data, session)
        assert error.value.status == status, (data[:10] if data else data, session)


def test_missed_messages_are_the_bot_messages_after_the_last_one_seen() -> None:
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

    events = [
        UserUttered("电饭煲坏了", timestamp=100.0),
        BotUttered("请选一个", data={"buttons": [{"title": "换货", "payload": "1"}], "image": None}, timestamp=101.0),
        ActionExecuted("action_listen", timestamp=101.5),
        BotUttered("您好，我是客服小王。", metadata={"author": "agent:王"}, timestamp=200.0),
        BotUttered(None, data={}, timestamp=201.0),  # nothing to show
        BotUttered("进展：已发货", timestamp=300.0),
    ]
    assert missed_messages(events, 101.0) == [
        {"text": "您好，我是客服小王。", "author": "agent:王", "at": 200.0},
        {"text": "进展：已发货", "at": 300.0},
    ]
    assert missed_messages(events, 50) == [
        {"buttons": [{"title": "换货", "payload": "1"}], "text": "请选一个", "at": 101.0},
        {"text": "您好，我是客服小王。", "author": "agent:王", "at": 200.0},
        {"text": "进展：已发货", "at": 300.0},
    ]
    assert missed_messages(events, 50, limit=1) == [{"text": "进展：已发货", "at": 300.0}]
    for since in (None, "100", True, [1]):
        assert missed_messages(events, since) == [], since


def test_web_customers_and_their_photos() -> None:
    assert sender_id_for("ab12") == "webchat:ab12"
    url = "http://shop.cn/webhooks/webchat/uploads/" + "0f" * 16 + ".png"
    assert message_metadata("ab12", f"[图片] {url}") == {"channel": "webchat", "customer_id": "ab12", "image": url}
    # only our own uploads become attachments; a link typed by the customer stays text
    assert "image" not in message_metadata("ab12", "[图片] http://evil.example/a.png")
    assert "image" not in message_metadata("ab12", f"看看这个 [图片] {url}")


# ---------------------------------------------------------------------------------------------
# The session's bot, over HTTP
# ---------------------------------------------------------------------------------------------


class WebStack:
    def __init__(self, base: str, token: str, uploads: Path, logs: Path) -> None:
        self.base, self.token, self.uploads, self.logs = base, token, uploads, logs

    def request(
        self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None, method: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        status, answer_headers, body = http_request(
            method or ("GET" if data is None else "POST"), self.base + path, data, headers=headers
        )
        return status, {k.lower(): v for k, v in answer_headers.items()}, body

    def agent_message(self, session_id: str, text: str) -> tuple[int, Any]:
        status, _, raw = self.request(
            f"/api/conversations/webchat:{session_id}/messages?token={self.token}",
            json.dumps({"agent": "小王", "text": text}).encode(),
            {"Content-Type": "application/json"},
            "POST",
        )
        return status, json.loads(raw)

    def upload(self, content: bytes | None, session_id: str | None, filename: str = "a.png") -> tuple[int, Any]:
        boundary = uuid.uuid4().hex
        parts = []
        if session_id is not None:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="session_id"\r\n\r\n{session_id}\r\n'.encode()
            )
        if content is not None:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                f"Content-Type: image/png\r\n\r\n".encode()
                + content
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        status, _, raw = self.request(
            "/webhooks/webchat/upload", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}, "POST"
        )
        return status, json.loads(raw or b"null")


@pytest.fixture(scope="module")
def web(bot: Any) -> WebStack:
    """The session's bot (credentials.yml always has the web chat channel)."""
    return WebStack(bot.base, bot.token, bot.uploads, bot.logs)


def test_static_files_are_served(web: WebStack) -> None:
    status, headers, page = web.request("/webhooks/webchat/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert re.findall(rb"<script[^>]*widget\.js", page), "the demo page embeds the widget with a script tag"
    status, headers, js = web.request("/webhooks/webchat/widget.js")
    assert status == 200 and "javascript" in headers["content-type"] and b"user_uttered" in js
    status, headers, client = web.request("/webhooks/webchat/socket.io.min.js")
    assert status == 200 and client.startswith(b"/*!\n * Socket.IO v4.") and b"MIT License" in client[:200]
    assert web.request("/webhooks/webchat/credentials.yml")[0] == 404
    assert web.request("/webhooks/webchat/..%2F..%2Fcredentials.yml")[0] == 404
    assert web.request("/webhooks/webchat/health")[0] == 200
    # Engine.IO v4 handshake answered by python-socketio (the protocol socket.io-client 4 speaks)
    status, _, opened = web.request("/socket.io/?EIO=4&transport=polling")
    assert status == 200 and opened.startswith(b"0{") and b'"sid"' in opened, opened[:200]


def stored_uploads(web: WebStack) -> set[Path]:
    return set(web.uploads.iterdir()) if web.uploads.exists() else set()


def issued_session(web: WebStack) -> str:
    """A session id the service issued (over socket.io, like the widget gets one)."""
    client = SocketCustomer(web.base)
    try:
        return client.request_session({})
    finally:
        client.close()


def test_upload_limits_over_http(web: WebStack) -> None:
    session = issued_session(web)
    already = stored_uploads(web)
    status, body = web.upload(tiny_png(), session)
    assert status == 200, body
    url = body["url"]
    assert re.fullmatch(re.escape(web.base) + r"/webhooks/webchat/uploads/[0-9a-f]{32}\.png", url), url
    stored = list(stored_uploads(web) - already)
    assert len(stored) == 1 and stored[0].read_bytes() == tiny_png() and stored[0].name == url.rsplit("/", 1)[1]
    status, headers, served = web.request(url[len(web.base) :])
    assert status == 200 and headers["content-type"] == "image/png" and served == tiny_png()
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"].startswith("private")

    assert web.upload(GIF, session, filename="a.gif")[0] == 415
    assert web.upload(b"<html>not an image</html>", session, filename="a.png")[0] == 415
    assert web.upload(PNG_THEN_HTML, session, filename="a.png")[0] == 415
    assert web.upload(tiny_png()[:-20], session, filename="a.png")[0] == 415
    assert web.upload(b"\xff\xd8\xff" + b"\x00" * MAX_UPLOAD_BYTES, session)[0] == 413
    assert web.upload(tiny_png(), session_id=None)[0] == 400
    assert web.upload(None, session)[0] == 400
    assert web.request("/webhooks/webchat/upload", b"{}", {"Content-Type": "application/json"}, "POST")[0] == 400
    # only sessions this service issued may store files
    assert web.upload(tiny_png(), "f" * 32)[0] == 403
    assert web.upload(tiny_png(), "webchat:" + session)[0] == 403
    assert len(stored_uploads(web) - already) == 1, "refused uploads are not stored"
    assert web.request("/webhooks/webchat/uploads/../../credentials.yml")[0] == 404
    assert web.request("/webhooks/webchat/uploads/" + "0" * 32 + ".png")[0] == 404


def test_uploads_per_chat_are_limited(web: WebStack) -> None:
    session = issued_session(web)
    statuses = [web.upload(tiny_png(), session)[0] for _ in range(MAX_UPLOADS_PER_SESSION + 1)]
    assert statuses == [200] * MAX_UPLOADS_PER_SESSION + [429]
    assert web.upload(tiny_png(), issued_session(web))[0] == 200, "another chat has its own allowance"


# ---------------------------------------------------------------------------------------------
# A real browser
# ---------------------------------------------------------------------------------------------


def wait_js(page: Any, expression: str, timeout: float = 15) -> None:
    """Until ``expression`` is true in the page (a Python loop: wait_for_function recursed here)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout}s: {expression}"
        time.sleep(0.1)


def wait_online(page: Any, timeout: float = 20) -> None:
    """Until the widget shows it is connected (a Python loop: wait_for_function recursed here)."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = page.evaluate(
            "document.querySelector('.tsw-status') && document.querySelector('.tsw-status').textContent"
        )
        if status == "在线":
            return
        time.sleep(0.2)
    raise AssertionError(f"widget not connected: {status!r}")


class Chat:
    """The widget in a page, driven like a customer."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def bot_texts(self) -> list[str]:
        return self.page.locator(".tsw-bot").all_inner_texts()

    def log_text(self) -> str:
        return self.page.locator(".tsw-log").inner_text()

    def wait_settled(self, before: int, timeout: float = 60) -> list[str]:
        """Waits for new bot bubbles and until no more arrive for a moment; returns the new ones."""
        deadline = time.monotonic() + timeout
        while len(self.bot_texts()) <= before:
            assert time.monotonic() < deadline, f"no reply from the bot\n{self.log_text()}"
            time.sleep(0.1)
        count, stable_since = len(self.bot_texts()), time.monotonic()
        while time.monotonic() - stable_since < 1.0:
            time.sleep(0.1)
            if len(self.bot_texts()) != count:
                count, stable_since = len(self.bot_texts()), time.monotonic()
        return self.bot_texts()[before:]

    def upload(self, path: Path) -> list[str]:
        before = len(self.bot_texts())
        self.page.set_input_files(".tsw-foot input[type=file]", str(path))
        return self.wait_settled(before)

    def say(self, text: str) -> list[str]:
        before = len(self.bot_texts())
        self.page.fill(".tsw-input", text)
        self.page.press(".tsw-input", "Enter")
        return self.wait_settled(before)


def test_complaint_in_a_real_browser(web: WebStack, browser: Any, tmp_path: Path) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1100, "height": 760}, locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(web.base + "/webhooks/webchat/")
    page.click(".tsw-btn")
    page.wait_for_selector(".tsw-panel.tsw-open")
    wait_online(page)
    session_id = page.evaluate("JSON.parse(localStorage.getItem('tsWebChat.session'))")
    assert re.fullmatch(r"[0-9a-f]{32}", session_id), session_id
    page.screenshot(path=str(SCREENSHOTS / "widget-open.png"))

    chat = Chat(page)
    before = len(chat.bot_texts())
    # the typing indicator shows from the send until the reply arrives
    assert page.evaluate(
        "TsWebChat.send('收到的电饭煲煮饭夹生 才用了两次'); "
        "document.querySelector('.tsw-typing').classList.contains('tsw-on')"
    )
    replies = chat.wait_settled(before)
    assert not page.locator(".tsw-typing.tsw-on").count(), "typing indicator still shown after the reply"
    transcript = [("收到的电饭煲煮饭夹生 才用了两次", replies)]
    for answer in ("对", "3920184756210384"):
        transcript.append((answer, chat.say(answer)))
    log = "\n".join(f"> {q}\n" + "\n".join(f"  {r}" for r in rs) for q, rs in transcript)
    assert re.search("照片|图片|拍", transcript[-1][1][-1]), f"the bot did not ask for a photo\n{log}"
    # the evidence photo, through the widget's picture button
    photo = tmp_path / "evidence.png"
    photo.write_bytes(tiny_png())
    transcript.append(("[photo]", chat.upload(photo)))
    sent = page.locator(".tsw-user img").last
    photo_url = sent.get_attribute("src")
    assert photo_url.startswith(web.base + "/webhooks/webchat/uploads/"), photo_url
    wait_js(page, "document.querySelector('.tsw-user img').naturalWidth === 8")
    transcript.append(("换货", chat.say("换货")))
    log = "\n".join(f"> {q}\n" + "\n".join(f"  {r}" for r in rs) for q, rs in transcript)

    buttons = page.locator(".tsw-reply:not([disabled])")
    assert buttons.count() >= 2, f"no quick-reply buttons for the options\n{log}"
    first_title = buttons.first.inner_text()
    options_text = transcript[-1][1]
    assert any("\n" in r for r in options_text), f"the option lines are not shown on separate lines\n{log}"
    page.screenshot(path=str(SCREENSHOTS / "options.png"))

    before = len(chat.bot_texts())
    buttons.first.click()
    picked = chat.wait_settled(before)
    user_texts = page.locator(".tsw-user").all_inner_texts()
    assert user_texts[-1] == first_title, user_texts
    assert page.locator(".tsw-reply:not([disabled])").filter(has_text=first_title).count() == 0
    log += f"\n> [button] {first_title}\n" + "\n".join(f"  {r}" for r in picked)
    done = chat.say("确认")
    log += "\n> 确认\n" + "\n".join(f"  {r}" for r in done)
    ticket = TICKET.search("\n".join(done))
    assert ticket, f"no ticket number after 确认\n{log}"
    page.screenshot(path=str(SCREENSHOTS / "ticket.png"))

    # the conversation reached Rasa through the socket.io channel under the widget's session id
    status, _, raw = web.request(f"/conversations/webchat:{session_id}/tracker?token={web.token}")
    tracker = json.loads(raw)
    assert status == 200 and tracker["latest_input_channel"] == "webchat"
    assert ticket.group(0) in json.dumps(tracker, ensure_ascii=False)
    # the ticket names the web customer and references the uploaded photo
    status, _, raw = web.request(f"/api/tickets/{ticket.group(0)}?token={web.token}")
    assert status == 200, raw
    stored = json.loads(raw)
    stored = stored.get("ticket", stored)
    assert stored["channel"] == "webchat" and stored["customer_id"] == f"webchat:{session_id}", stored
    assert f"photo:{photo_url}" in stored["evidence"], stored["evidence"]

    # a reload keeps the conversation (and the open panel)
    shown = chat.log_text()
    page.reload()
    page.wait_for_selector(".tsw-panel.tsw-open")
    wait_online(page)
    after = chat.log_text()
    assert ticket.group(0) in after and "收到的电饭煲煮饭夹生 才用了两次" in after
    assert after.strip() == shown.strip()
    assert page.evaluate("JSON.parse(localStorage.getItem('tsWebChat.session'))") == session_id

    # an agent's message arrives live in the reloaded page (it re-joined its session's room)
    before = len(chat.bot_texts())
    status, raw = web.agent_message(session_id, "您好，我是客服小王，换货已为您加急。")
    assert status == 200, raw
    assert raw["channel"] == "webchat"
    assert "客服小王" in chat.wait_settled(before, timeout=15)[-1]
    assert page.locator(".tsw-agent .tsw-who").last.inner_text() == "人工客服 小王", "agents' messages are labelled"
    page.set_viewport_size({"width": 390, "height": 780})
    page.screenshot(path=str(SCREENSHOTS / "phone-agent-message.png"))

    # a message sent while the customer's page is closed is replayed when it opens again
    page.close()
    status, raw = web.agent_message(session_id, "您好，新的电饭煲今天已经发出，请留意物流。")
    assert status == 200, raw
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(web.base + "/webhooks/webchat/")
    wait_online(page)
    chat = Chat(page)
    wait_js(page, "[...document.querySelectorAll('.tsw-bot')].some(b => b.textContent.includes('今天已经发出'))")
    texts = chat.bot_texts()
    assert sum("今天已经发出" in t for t in texts) == 1 and sum("客服小王" in t for t in texts) == 1, texts
    assert page.locator(".tsw-agent").count() == 2, "the replayed agent message is labelled too"
    assert not errors, errors
    context.close()


def test_refused_image_in_a_real_browser(web: WebStack, browser: Any, tmp_path: Path) -> None:
    """A GIF is refused by the server (415) and the customer is told which formats work."""
    gif = tmp_path / "evidence.gif"
    gif.write_bytes(GIF)
    context = browser.new_context(viewport={"width": 1100, "height": 760}, locale="zh-CN")
    page = context.new_page()
    page.goto(web.base + "/webhooks/webchat/")
    page.click(".tsw-btn")
    wait_online(page)
    page.set_input_files(".tsw-foot input[type=file]", str(gif))
    wait_js(page, "[...document.querySelectorAll('.tsw-note')].some(n => n.textContent.includes('只支持'))")
    assert page.locator(".tsw-user").count() == 0, "a refused image is not sent as a message"
    context.close()


# ---------------------------------------------------------------------------------------------
# The socket.io protocol with python-socketio's own client: bad input (SPEC.md section 9)
# ---------------------------------------------------------------------------------------------


class SocketCustomer:
    """A socket.io client speaking the widget's protocol (long-polling, like the widget)."""

    def __init__(self, base: str) -> None:
        import socketio

        self.received: list[dict[str, Any]] = []
        self.confirmed: list[str] = []
        self.client = socketio.Client(reconnection=False)
        self.client.on("bot_uttered", lambda data: self.received.append(data))
        self.client.on("session_confirm", lambda sid: self.confirmed.append(sid))
        self.client.connect(base, socketio_path="/socket.io", transports=["polling"], wait_timeout=10)

    def request_session(self, data: Any) -> str:
        count = len(self.confirmed)
        self.client.emit("session_request", data)
        self.wait(lambda: len(self.confirmed) > count, "session_confirm")
        return self.confirmed[-1]

    def wait(self, condition: Any, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"no {what}; received {self.received}"
            time.sleep(0.05)

    def say(self, data: Any) -> list[dict[str, Any]]:
        count = len(self.received)
        self.client.emit("user_uttered", data)
        self.wait(lambda: len(self.received) > count, "reply")
        time.sleep(0.5)
        return self.received[count:]

    def close(self) -> None:
        # abort: do not wait up to 25 s for the pending long-poll to return (the server closes it)
        self.client.eio.disconnect(abort=True)


@pytest.fixture()
def customer(web: WebStack) -> Iterator[SocketCustomer]:
    client = SocketCustomer(web.base)
    yield client
    client.close()


def test_message_before_a_session_is_answered_not_lost(customer: SocketCustomer) -> None:
    replies = customer.say({"message": "东西坏了", "session_id": "a" * 32})
    assert "刷新" in replies[0]["text"], replies


@pytest.mark.parametrize("requested", [None, "not valid!", "wechat:o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "x" * 65, 42, ["a"]])
def test_foreign_or_malformed_session_ids_get_a_new_session(customer: SocketCustomer, requested: Any) -> None:
    confirmed = customer.request_session({"session_id": requested} if requested != ["a"] else requested)
    assert re.fullmatch(r"[0-9a-f]{32}", confirmed) and confirmed != requested


def test_a_message_cannot_write_into_another_conversation(web: WebStack, customer: SocketCustomer, bot: Any) -> None:
    victim = f"victim-{uuid.uuid4().hex[:8]}"  # a REST customer's conversation (REST may not take "taobao:...")
    assert bot.say(victim, "你好")
    before = bot.get(f"/conversations/{victim}/tracker")[1]["events"]
    own = customer.request_session({"session_id": None})
    customer.say({"message": "你好", "session_id": victim})
    after = bot.get(f"/conversations/{victim}/tracker")[1]["events"]
    assert len(after) == len(before), "the message went into the named conversation"
    status, tracker = bot.get(f"/conversations/webchat:{own}/tracker")
    assert any(e["event"] == "user" and e["text"] == "你好" for e in tracker["events"])


def test_bad_payloads_get_a_defined_answer(customer: SocketCustomer, bot: Any) -> None:
    own = customer.request_session({})
    assert customer.say({"message": "好" * 20_001})[0]["text"] == "消息太长了，请分几条发送。"  # utter_message_too_long
    empty = customer.say({"message": "   "})
    assert empty and empty[0].get("text"), empty
    for payload in ("只是一个字符串", 42, None, {"message": 7}, {"text": "没有message字段"}):
        assert customer.say(payload)[0]["text"] == empty[0]["text"], payload
    # a leading "/" is text, not an intent injection
    replies = customer.say({"message": "/restart"})
    assert replies and replies[0].get("text"), replies
    status, tracker = bot.get(f"/conversations/webchat:{own}/tracker")
    user = [e for e in tracker["events"] if e["event"] == "user"]
    assert user[-1]["text"] == "／restart" and user[-1]["parse_data"]["intent"]["name"] != "restart", user[-1]
    assert not any(e["event"] == "restart" for e in tracker["events"])


def test_the_same_order_on_two_channels_is_linked_for_the_agent(customer: SocketCustomer, bot: Any) -> None:
    """Two customers (web widget, REST) naming one order: each case shows the other to the agent."""
    order = "39" + "".join(secrets.choice("0123456789") for _ in range(14))
    complaint = f"电饭煲漏电，我手被电了一下，太危险了！订单号{order}"
    own = customer.request_session({})
    web_replies = " ".join(m.get("text", "") for m in customer.say({"message": complaint}))
    rest_sender = f"rest-link-{uuid.uuid4().hex[:8]}"
    rest_replies = " ".join(bot.say(rest_sender, complaint))
    web_ticket, rest_ticket = TICKET.search(web_replies), TICKET.search(rest_replies)
    assert web_ticket and rest_ticket, (web_replies, rest_replies)

    status, ticket = bot.get(f"/api/tickets/{rest_ticket.group(0)}")
    assert status == 200 and ticket["order_id"] == order
    assert [(t["id"], t["channel"], t["sender_id"]) for t in ticket["linked"]] == [
        (web_ticket.group(0), "webchat", f"webchat:{own}")
    ]
    status, transcript = bot.get(f"/api/conversations/webchat:{own}/transcript")
    assert status == 200 and [t["id"] for t in transcript["linked"]] == [rest_ticket.group(0)]
    assert transcript["channel"] == "webchat" and transcript["tickets"][0]["customer_id"] == f"webchat:{own}"


@pytest.mark.parametrize(
    "text",
    [
        "😡😡😡",
        "https://item.taobao.com/item.htm?id=6123456789",
        "my order 还没到, where is it?",
        "收到的電飯煲壞了，內膽掉漆",
        "订单号３９２０１８４７５６２１０３８４ 一直没发货",
        "快递太慢了" + "，真的太慢了" * 420,  # over 2,000 characters
        "asdkjh qwe zzz",
    ],
    ids=["emoji", "link", "mixed-english", "traditional", "full-width-digits", "very-long", "gibberish"],
)
def test_awkward_messages_get_a_reply_over_socketio(customer: SocketCustomer, text: str) -> None:
    """SPEC.md section 9 through the widget's protocol: a clear reply, never the error reply."""
    customer.request_session({})
    replies = customer.say({"message": text})
    texts = [m.get("text") or "" for m in replies]
    assert texts and all(texts), replies
    assert not any("系统出了点问题" in t or "Traceback" in t for t in texts), texts
