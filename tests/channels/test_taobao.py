"""Taobao channel (bot/channels/taobao/) and TOP request signing (bot/channels/taobao/sign.py).

The webhook is tested on a real Sanic server on a free port, with the real Redis of the test
run (``redis_server``) and a fake Taobao reply endpoint (aiohttp, free port) that checks the
signature of every reply it receives. ``on_new_message`` is a recording coroutine standing in
for the Rasa agent; it answers through the message's output channel like the agent would.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator, Callable, Dict, List, Optional

import aiohttp
import pytest
from aiohttp import web
from rasa.core.channels.channel import UserMessage
from rasa.shared.exceptions import RasaException
from sanic import Sanic

from bot.channels.taobao import TaobaoInput, TaobaoOutput
from bot.channels.taobao import sign as taobao_sign
from bot.channels.taobao.connector import IMAGE_ONLY_RESPONSE
from bot.channels.taobao.inbound import TaobaoRequestError, nick_of, parse_message, sender_id_for
from bot.channels.taobao.replies import ReplySender
from bot.services import delivery
from tools.devstack import free_port

APP_KEY = "12345678"
SECRET = "test-secret-请勿外传"
GMT8 = timezone(timedelta(hours=8))
SYSTEM_ERROR_FALLBACK = "系统出了点问题"


# ---- an independent implementation of the TOP algorithm, written from the TOP docs ----------


def top_sign(params: Dict[str, str], body: bytes, secret: str, method: str) -> str:
    """Sorted name+value pairs (no ``sign``, no empty values), then the body; upper-case hex."""
    text = "".join(k + v for k, v in sorted(params.items()) if k != "sign" and k and v).encode() + body
    key = secret.encode()
    if method == "md5":
        return hashlib.md5(key + text + key).hexdigest().upper()
    if method == "hmac":
        return hmac.new(key, text, hashlib.md5).hexdigest().upper()
    if method == "hmac-sha256":
        return hmac.new(key, text, hashlib.sha256).hexdigest().upper()
    raise ValueError(method)


def gmt8(moment: float) -> str:
    return datetime.fromtimestamp(moment, GMT8).strftime("%Y-%m-%d %H:%M:%S")


def signed_query(
    body: bytes,
    *,
    method: str = "hmac-sha256",
    secret: str = SECRET,
    app_key: str = APP_KEY,
    at: Optional[float] = None,
    **extra: str,
) -> Dict[str, str]:
    params = {"app_key": app_key, "timestamp": gmt8(time.time() if at is None else at), "sign_method": method, **extra}
    params["sign"] = top_sign(params, body, secret, method)
    return params


def encode(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def new_message(**fields: Any) -> Dict[str, Any]:
    data: Dict[str, Any] = {
        "buyer_nick": "小明爱购物",
        "message_id": f"m-{uuid.uuid4().hex[:12]}",
        "timestamp": gmt8(time.time()),
        "text": "收到的电饭煲煮饭夹生",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


# ---- known-answer vectors ------------------------------------------------------------------

# Worked example 1, from the TOP documentation's own example: parameters foo=1, bar=2, foo_bar=3,
# foobar=4, no body, secret "helloworld", sign_method md5 (sign_method is left out of the map, as
# in the documentation). Sorted by name: bar, foo, foo_bar, foobar -> "bar2foo1foo_bar3foobar4".
# md5 wraps it in the secret: "helloworldbar2foo1foo_bar3foobar4helloworld";
#   printf '%s' 'helloworldbar2foo1foo_bar3foobar4helloworld' | md5sum
#   -> 5aaf1c690262a24768f5478b084c2c8a, upper-cased.
DOC_VECTOR = (
    {"foo": "1", "bar": "2", "foo_bar": "3", "foobar": "4"},
    b"",
    "helloworld",
    "md5",
    "5AAF1C690262A24768F5478B084C2C8A",
)

# Worked example 2, a forwarded message: app_key=12345678, timestamp=2016-01-01 12:00:00, secret
# "helloworld", body {"buyer_nick":"小明","message_id":"1001"} (UTF-8, 43 bytes). Sorted names:
# app_key, sign_method, timestamp, so the string is
#   app_key12345678 sign_method<method> timestamp2016-01-01 12:00:00 {"buyer_nick":"小明","message_id":"1001"}
# (written here with spaces between the pairs for reading; there are none). Digests computed with
# coreutils/openssl, not Python:
#   md5:         printf '%s' 'helloworld<string>helloworld' | md5sum
#   hmac:        printf '%s' '<string>' | openssl dgst -md5 -hmac helloworld
#   hmac-sha256: printf '%s' '<string>' | openssl dgst -sha256 -hmac helloworld
VECTOR_BODY = '{"buyer_nick":"小明","message_id":"1001"}'.encode()
MESSAGE_VECTORS = [
    ("md5", "0D87076376BBC65A45C972EFEA312447"),
    ("hmac", "1925885274AE159B4C9F9D901DA498EB"),
    ("hmac-sha256", "FC5369322F774B37F001686A8CCEB4133A63C5EBA5D93AFC638119EB05AECB12"),
]


def test_documentation_vector() -> None:
    params, body, secret, method, expected = DOC_VECTOR
    assert taobao_sign.string_to_sign(params, body) == b"bar2foo1foo_bar3foobar4"
    assert taobao_sign.sign(params, body, secret, method) == expected


@pytest.mark.parametrize("method,expected", MESSAGE_VECTORS)
def test_message_vectors(method: str, expected: str) -> None:
    params = {"app_key": "12345678", "timestamp": "2016-01-01 12:00:00", "sign_method": method}
    assert taobao_sign.sign(params, VECTOR_BODY, "helloworld", method) == expected
    assert top_sign(params, VECTOR_BODY, "helloworld", method) == expected
    now = taobao_sign.parse_timestamp("2016-01-01 12:00:00")
    assert taobao_sign.verify(
        {**params, "sign": expected}, VECTOR_BODY, app_key="12345678", secret="helloworld", now=now
    )


@pytest.mark.parametrize("method", taobao_sign.SIGN_METHODS)
@pytest.mark.parametrize("body", [b"", encode(new_message(text="快递三天没动 13812345678")), "纯文本 body".encode()])
def test_sign_matches_independent_computation(method: str, body: bytes) -> None:
    params = {
        "app_key": APP_KEY,
        "timestamp": "2026-11-23 10:00:00",
        "sign_method": method,
        "v": "2.0",
        "empty": "",
        "sign": "IGNORED",
        "中文参数": "值",
    }
    assert taobao_sign.sign(params, body, SECRET, method) == top_sign(params, body, SECRET, method)
    assert len(taobao_sign.sign(params, body, SECRET, method)) == (64 if method == "hmac-sha256" else 32)


def test_unknown_method_cannot_sign() -> None:
    with pytest.raises(ValueError):
        taobao_sign.sign({}, b"", SECRET, "sha1")


def test_timestamps_are_gmt8() -> None:
    assert taobao_sign.format_timestamp(0) == "1970-01-01 08:00:00"
    assert taobao_sign.parse_timestamp("1970-01-01 08:00:00") == 0
    for bad in ("1970-01-01T08:00:00", "1970-01-01 08:00", "", None, 0, "1970-13-01 08:00:00"):
        assert not taobao_sign.timestamp_fresh(bad, now=0)


# ---- verify(): the signature matrix as a pure function -------------------------------------

NOW = taobao_sign.parse_timestamp("2026-11-23 10:00:00")
BODY = encode(new_message(message_id="fixed-1"))


def request(
    method: str = "hmac-sha256", *, at: float = NOW, secret: str = SECRET, app_key: str = APP_KEY, body: bytes = BODY
) -> Dict[str, str]:
    params = {"app_key": app_key, "timestamp": gmt8(at), "sign_method": method}
    params["sign"] = top_sign(params, body, secret, method)
    return params


def ok(params: Any, body: bytes = BODY, **kwargs: Any) -> bool:
    return taobao_sign.verify(params, body, app_key=APP_KEY, secret=SECRET, now=NOW, **kwargs)


@pytest.mark.parametrize("method", taobao_sign.SIGN_METHODS)
def test_verify_accepts_right_signatures(method: str) -> None:
    assert ok(request(method))
    assert ok({**request(method), "sign": request(method)["sign"].lower()})  # hex is case-insensitive
    assert ok(request(method, at=NOW - 590)) and ok(request(method, at=NOW + 590))  # within 10 minutes


@pytest.mark.parametrize(
    "params,body",
    [
        (request(secret="wrong"), BODY),
        (request(app_key="87654321"), BODY),
        ({**request(), "app_key": "87654321"}, BODY),
        (request(), BODY + b" "),  # body changed after signing
        (request(at=NOW - 601), BODY),  # stale
        (request(at=NOW + 601), BODY),  # from the future
        ({k: v for k, v in request().items() if k != "sign"}, BODY),
        ({k: v for k, v in request().items() if k != "timestamp"}, BODY),
        ({**request(), "sign_method": "md5"}, BODY),  # signed as hmac-sha256, claims md5
        ({**request(), "sign_method": "sha1"}, BODY),
        ({**request(), "sign": ""}, BODY),
        ({**request(), "sign": "é" * 64}, BODY),
        ({**request(), "timestamp": None}, BODY),
        ({**request(), "extra": "added after signing"}, BODY),
        (None, BODY),
        (request(), None),
        ("not a mapping", BODY),
    ],
)
def test_verify_refuses(params: Any, body: Any) -> None:
    assert ok(params, body) is False


def test_verify_without_credentials_refuses() -> None:
    assert taobao_sign.verify(request(secret=""), BODY, app_key=APP_KEY, secret="", now=NOW) is False
    assert taobao_sign.verify(request(app_key=""), BODY, app_key="", secret=SECRET, now=NOW) is False


def test_signed_params_round_trip() -> None:
    params = taobao_sign.signed_params(
        BODY, app_key=APP_KEY, secret=SECRET, sign_method="md5", extra={"shop": "1"}, now=NOW
    )
    assert params["timestamp"] == "2026-11-23 10:00:00" and params["shop"] == "1"
    assert params["sign"] == top_sign(params, BODY, SECRET, "md5")
    assert ok(params)


# ---- payload parsing and identities (pure) -------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'"text"',
        b"null",
        b"\xff\xfe",
        encode(new_message(buyer_nick=None)),
        encode(new_message(buyer_nick="")),
        encode(new_message(buyer_nick="  ")),
        encode(new_message(buyer_nick=5)),
        encode(new_message(buyer_nick="a" * 65)),
        encode(new_message(buyer_nick="a\nb")),
        encode(new_message(message_id=None)),
        encode(new_message(message_id="")),
        encode(new_message(message_id=True)),
        encode(new_message(message_id="has space")),
        encode(new_message(message_id="x" * 129)),
        encode(new_message(timestamp=None)),
        encode(new_message(timestamp="2026-11-23T10:00:00")),
        encode(new_message(timestamp=1763863200)),
        encode(new_message(text=None)),
        encode(new_message(text=["hi"])),
        encode(new_message(image_url="ftp://x/a.jpg")),
        encode(new_message(image_url="javascript:alert(1)")),
        encode(new_message(image_url="https://img.example.com/a b.jpg")),
        encode(new_message(image_url=3)),
        encode(new_message(order_id="12;34")),
        encode(new_message(order_id=False)),
        encode(new_message(order_id={})),
        b'{"buyer_nick": "\\ud800", "message_id": "1", "timestamp": "2026-11-23 10:00:00", "text": "x"}',
        b'{"buyer_nick": "a", "message_id": "1", "timestamp": "2026-11-23 10:00:00", "text": "\\udfff"}',
    ],
)
def test_bad_payloads_are_400(raw: bytes) -> None:
    with pytest.raises(TaobaoRequestError) as error:
        parse_message(raw)
    assert error.value.status == 400


def test_too_long_text_is_413() -> None:
    with pytest.raises(TaobaoRequestError) as error:
        parse_message(encode(new_message(text="坏" * 20_001)))
    assert error.value.status == 413


def test_valid_payloads() -> None:
    message = parse_message(encode(new_message(message_id=1001, order_id=3920184756210384, text="没收到货")))
    assert (message.message_id, message.order_id, message.text, message.image_only) == (
        "1001",
        "3920184756210384",
        "没收到货",
        False,
    )
    image = parse_message(encode(new_message(text=None, image_url="https://img.alicdn.com/a.jpg", extra="ignored")))
    assert image.image_only and image.text == ""
    assert parse_message(encode(new_message(text=" ", image_url="https://img.alicdn.com/a.jpg"))).image_only


@pytest.mark.parametrize("nick", ["小明爱购物", "tb_8812-x", "a b", "a/b?c#d%e\\f", "é:ü", "🐱猫", "a\u200bb", "%41"])
def test_sender_ids_are_readable_url_safe_and_reversible(nick: str) -> None:
    sender_id = sender_id_for(nick)
    assert sender_id.startswith("taobao:")
    assert not any(c in sender_id[7:] for c in "/?# \\")
    assert nick_of(sender_id) == nick
    assert sender_id_for("小明") == "taobao:小明" and sender_id_for("a b") == "taobao:a%20b"


def test_nick_of_other_channels_fails() -> None:
    for sender_id in ("rest-user", "taobao:", "wechat:abc"):
        with pytest.raises(ValueError):
            nick_of(sender_id)


# ---- configuration -------------------------------------------------------------------------


def test_from_credentials_needs_key_secret_and_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TAOBAO_APP_KEY", "TAOBAO_APP_SECRET", "TAOBAO_REPLY_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RasaException, match="TAOBAO_APP_KEY, TAOBAO_APP_SECRET, TAOBAO_REPLY_URL"):
        TaobaoInput.from_credentials(None)
    monkeypatch.setenv("TAOBAO_APP_KEY", APP_KEY)
    with pytest.raises(RasaException, match="TAOBAO_APP_SECRET"):
        TaobaoInput.from_credentials({})
    monkeypatch.setenv("TAOBAO_APP_SECRET", SECRET)
    monkeypatch.setenv("TAOBAO_REPLY_URL", "http://127.0.0.1:9/reply")
    channel = TaobaoInput.from_credentials({})
    assert (channel.name(), channel.app_key, channel.sender.sign_method) == ("taobao", APP_KEY, "hmac-sha256")
    assert isinstance(channel.get_output_channel(), TaobaoOutput)
    from_file = TaobaoInput.from_credentials(
        {
            "app_key": "k2",
            "app_secret": "s2",
            "reply_url": "https://x.example/r",
            "reply_sign_method": "md5",
            "reply_attempts": 2,
        }
    )
    assert (from_file.app_key, from_file.sender.sign_method, from_file.sender.attempts) == ("k2", "md5", 2)
    with pytest.raises(RasaException, match="http"):
        TaobaoInput.from_credentials({"reply_url": "ftp://x/r"})
    with pytest.raises(RasaException, match="reply_sign_method"):
        TaobaoInput.from_credentials({"reply_sign_method": "sha1"})


# ---- the running webhook -------------------------------------------------------------------


class FakeTaobao:
    """The shop integration's reply endpoint: records replies and checks their signatures."""

    def __init__(self) -> None:
        self.attempts: List[Dict[str, Any]] = []
        self.received: List[Dict[str, Any]] = []
        self.plan: List[int] = []  # statuses to answer before answering 200
        self.url = ""

    async def handler(self, request: web.Request) -> web.Response:
        raw = await request.read()
        params = dict(urllib.parse.parse_qsl(request.query_string, keep_blank_values=True))
        method = params.get("sign_method", "")
        signed = (
            method in taobao_sign.SIGN_METHODS
            and params.get("app_key") == APP_KEY
            and abs(
                time.time()
                - datetime.strptime(params["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8).timestamp()
            )
            < 600
            and hmac.compare_digest(params.get("sign", ""), top_sign(params, raw, SECRET, method))
        )
        record = {
            "params": params,
            "body": json.loads(raw),
            "signed": signed,
            "content_type": request.headers.get("Content-Type"),
        }
        self.attempts.append(record)
        status = self.plan.pop(0) if self.plan else 200
        if status != 200:
            return web.json_response({"success": False}, status=status)
        self.received.append(record)
        return web.json_response({"success": True})

    def texts(self) -> List[str]:
        return [r["body"].get("text", "") for r in self.received]

    async def wait_for(self, count: int, timeout: float = 10.0) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} replies, got {self.received}")
            await asyncio.sleep(0.02)
        return self.received


@asynccontextmanager
async def fake_taobao() -> AsyncIterator[FakeTaobao]:
    fake = FakeTaobao()
    app = web.Application()
    app.router.add_post("/reply", fake.handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.url = f"http://127.0.0.1:{port}/reply"
    try:
        yield fake
    finally:
        await runner.cleanup()


class Recorder:
    """Stands in for the agent: records each message, answers "已收到：<text>" through its channel."""

    def __init__(
        self,
        delay: Callable[[UserMessage], float] = lambda m: 0.0,
        *,
        fail: bool = False,
        action_failure: bool = False,
        answer: bool = True,
    ) -> None:
        self.delay, self.fail, self.action_failure, self.answer = delay, fail, action_failure, answer
        self.started: List[UserMessage] = []
        self.finished: List[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.started.append(message)
        await asyncio.sleep(self.delay(message))
        if self.fail:
            raise RuntimeError("tracker store unavailable")
        if self.action_failure:
            logging.getLogger("rasa.core.processor").error(
                "Encountered an exception while running action 'action_create_ticket'. Bot will continue, "
                "but the actions events are lost. Please check the logs of your action server."
            )
        if self.answer:
            await message.output_channel.send_response(message.sender_id, {"text": f"已收到：{message.text}"})
        self.finished.append(message)


class Webhook:
    """The channel on a running Sanic server."""

    def __init__(self, base: str, channel: TaobaoInput, app: Sanic) -> None:
        self.base, self.channel, self.app = base, channel, app
        self.url = f"{base}/webhooks/taobao/webhook"

    async def post(
        self, body: bytes | Dict[str, Any], *, query: Optional[Dict[str, str]] = None, **sign: Any
    ) -> tuple[int, Any, str, float]:
        raw = body if isinstance(body, bytes) else encode(body)
        params = signed_query(raw, **sign) if query is None else query
        url = f"{self.url}?{urllib.parse.urlencode(params, quote_via=urllib.parse.quote)}"
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=raw, headers={"Content-Type": "application/json"}) as reply:
                text = await reply.text()
                elapsed = time.monotonic() - started
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = None
                return reply.status, parsed, text, elapsed

    async def idle(self, timeout: float = 10.0) -> None:
        """Waits until every background task of the channel is done."""
        deadline = time.monotonic() + timeout
        while self.channel.tasks.pending:
            assert time.monotonic() < deadline, "background tasks still running"
            await asyncio.sleep(0.02)


@asynccontextmanager
async def running(
    recorder: Recorder, reply_url: str, *, agent: Any = None, attempts: int = 3
) -> AsyncIterator[Webhook]:
    channel = TaobaoInput(APP_KEY, SECRET, reply_url, reply_attempts=attempts, reply_timeout=2.0, reply_backoff=0.01)
    app = Sanic(f"taobao_test_{uuid.uuid4().hex[:10]}")
    if agent is not None:
        app.ctx.agent = agent
    app.ctx.input_channels = [channel]
    app.blueprint(channel.blueprint(recorder), url_prefix=f"/webhooks/{channel.url_prefix()}")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    assert server.server is not None  # create_server() already listens
    await server.after_start()
    hook = Webhook(f"http://127.0.0.1:{port}", channel, app)
    try:
        yield hook
    finally:
        await server.before_stop()  # drains the channel's background tasks
        server.server.close()
        await server.server.wait_closed()
        await server.after_stop()
        if channel._client is not None:
            await channel._client.close()
        await channel.sender.close()


@pytest.fixture(autouse=True)
def redis_env(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The channel (and delivery.system_error) use the test Redis; Sanic may start many apps."""
    for name, value in redis_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(Sanic, "test_mode", True)  # else the 2nd app's start-up "touch-up" breaks Sanic 21.12
    return redis_server


async def test_routes_and_health() -> None:
    async with fake_taobao() as fake, running(Recorder(), fake.url) as hook:
        routes = {(route.path.strip("/"), method) for route in hook.app.router.routes for method in route.methods}
        assert ("webhooks/taobao/webhook", "POST") in routes and ("webhooks/taobao", "GET") in routes
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{hook.base}/webhooks/taobao/") as reply:
                assert reply.status == 200 and await reply.json() == {"status": "ok"}


@pytest.mark.parametrize("method", taobao_sign.SIGN_METHODS)
async def test_ack_comes_first_then_a_signed_reply(method: str) -> None:
    recorder = Recorder(delay=lambda m: 1.5)
    async with fake_taobao() as fake, running(recorder, fake.url) as hook:
        message = new_message(buyer_nick="小明/01 %", order_id="3920184756210384")
        status, body, _, elapsed = await hook.post(message, method=method)
        assert status == 200 and body == {"success": True, "message_id": message["message_id"], "duplicate": False}
        assert elapsed < 1.0, f"ack took {elapsed:.2f} s"
        assert recorder.finished == [] and fake.received == []  # still working when the ack arrived
        [reply] = await fake.wait_for(1)
    assert reply["signed"] and reply["params"]["sign_method"] == "hmac-sha256"
    assert set(reply["params"]) == {"app_key", "timestamp", "sign_method", "sign"}
    assert reply["content_type"].startswith("application/json")
    assert reply["body"] == {
        "buyer_nick": "小明/01 %",
        "reply_id": f"{message['message_id']}:0",
        "in_reply_to": message["message_id"],
        "text": "已收到：收到的电饭煲煮饭夹生",
    }
    [user] = recorder.finished
    assert user.sender_id == "taobao:小明%2F01%20%25"
    assert (user.input_channel, user.message_id, user.text) == ("taobao", message["message_id"], message["text"])
    assert {k: v for k, v in user.metadata.items() if k != "turn_id"} == {  # turn_id: bot/services/turns.py
        "customer_id": "小明/01 %",
        "channel": "taobao",
        "message_id": message["message_id"],
        "order_id": "3920184756210384",
        "sent_at": message["timestamp"],
    }


@pytest.mark.parametrize(
    "make_query,status",
    [
        (lambda raw: signed_query(raw, secret="wrong-secret"), 401),
        (lambda raw: signed_query(raw, app_key="87654321"), 401),
        (lambda raw: signed_query(b'{"other": "body"}'), 401),
        (lambda raw: {k: v for k, v in signed_query(raw).items() if k != "sign"}, 401),
        (lambda raw: {k: v for k, v in signed_query(raw).items() if k != "app_key"}, 401),
        (lambda raw: signed_query(raw, at=time.time() - 700), 403),
        (lambda raw: signed_query(raw, at=time.time() + 700), 403),
        (lambda raw: {**signed_query(raw), "timestamp": "yesterday"}, 403),
        (lambda raw: {k: v for k, v in signed_query(raw).items() if k != "timestamp"}, 403),
        (lambda raw: {**signed_query(raw), "sign_method": "sha1"}, 400),
        (lambda raw: {k: v for k, v in signed_query(raw).items() if k != "sign_method"}, 400),
        (lambda raw: {}, 400),
    ],
)
async def test_signature_matrix(make_query: Callable[[bytes], Dict[str, str]], status: int) -> None:
    recorder = Recorder()
    async with fake_taobao() as fake, running(recorder, fake.url) as hook:
        raw = encode(new_message())
        got, body, text, _ = await hook.post(raw, query=make_query(raw))
        await hook.idle()
    assert got == status, text
    assert body["success"] is False and body["error"] and "Traceback" not in text
    assert recorder.started == [] and fake.attempts == []


async def test_repeated_query_parameter_is_400() -> None:
    async with fake_taobao() as fake, running(Recorder(), fake.url) as hook:
        raw = encode(new_message())
        query = urllib.parse.urlencode(signed_query(raw)) + "&sign=AAAA"
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{hook.url}?{query}", data=raw) as reply:
                assert reply.status == 400


@pytest.mark.parametrize(
    "raw,status",
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b"", 400),
        (encode(new_message(buyer_nick=None)), 400),
        (encode(new_message(message_id=None)), 400),
        (encode(new_message(timestamp=None)), 400),
        (encode(new_message(text=None)), 400),
        (encode(new_message(text=12)), 400),
        (encode(new_message(image_url="not a url")), 400),
        (encode(new_message(text="好" * 20_001)), 413),
        (encode(new_message(text="好" * 30_000)), 413),  # over 64 KB
    ],
)
async def test_bad_bodies(raw: bytes, status: int) -> None:
    recorder = Recorder()
    async with fake_taobao() as fake, running(recorder, fake.url) as hook:
        got, body, text, _ = await hook.post(raw)
        await hook.idle()
    assert got == status, text
    assert body["success"] is False and "Traceback" not in text
    assert recorder.started == [] and fake.attempts == []


async def test_body_over_64_kb_is_413_before_the_signature() -> None:
    async with fake_taobao() as fake, running(Recorder(), fake.url) as hook:
        got, _, _, _ = await hook.post(b"x" * (64 * 1024 + 1), query={"sign_method": "md5"})
        assert got == 413
        got, _, _, _ = await hook.post(b"x" * (64 * 1024 + 1), query={})
        assert got == 413


async def test_duplicates_are_acknowledged_but_processed_once(redis_client: Any) -> None:
    recorder = Recorder(delay=lambda m: 0.2)
    async with fake_taobao() as fake, running(recorder, fake.url) as hook:
        message = new_message()
        results = await asyncio.gather(*(hook.post(message) for _ in range(5)))  # a retry storm, concurrently
        assert [r[0] for r in results] == [200] * 5
        assert sorted(r[1]["duplicate"] for r in results) == [False, True, True, True, True]
        await hook.idle()
        status, body, _, _ = await hook.post(message, method="md5")  # a later redelivery, signed differently
        assert status == 200 and body["duplicate"] is True
        await hook.idle()
        await fake.wait_for(1)
    assert len(recorder.started) == 1 and len(fake.received) == 1
    assert 0 < redis_client.ttl(f"taobao:msg:{message['message_id']}") <= 2 * 86400


async def test_empty_text_goes_to_the_empty_message_intent_and_slash_is_escaped() -> None:
    recorder = Recorder()
    async with fake_taobao() as fake, running(recorder, fake.url) as hook:
        for number, text in enumerate(("", "  \n　", "/complaint_malicious")):
            assert (await hook.post(new_message(buyer_nick=f"空白测试{number}", text=text)))[0] == 200
        await fake.wait_for(3)
    assert sorted(m.text for m in recorder.finished) == ["/empty_message", "/empty_message", "／complaint_malicious"]


async def test_image_only_gets_a_defined_reply_and_the_image_is_kept_as_evidence() -> None:
    recorder = Recorder()
    nick = f"图片买家{uuid.uuid4().hex[:6]}"
    async with fake_taobao() as fake, running(recorder, fake.url) as hook:
        first = new_message(buyer_nick=nick, text=None, image_url="https://img.alicdn.com/imgextra/broken-1.jpg")
        assert (await hook.post(first))[0] == 200
        [reply] = await fake.wait_for(1)
        assert reply["signed"] and reply["body"]["text"] == delivery.domain_response(IMAGE_ONLY_RESPONSE)["text"]
        assert reply["body"]["in_reply_to"] == first["message_id"]
        assert recorder.started == []  # not guessed at by NLU
        second = new_message(buyer_nick=nick, text="", image_url="https://img.alicdn.com/imgextra/broken-2.jpg")
        assert (await hook.post(second))[0] == 200
        await fake.wait_for(2)
        third = new_message(buyer_nick=nick, text="锅底有裂缝", image_url="https://img.alicdn.com/imgextra/crack.jpg")
        assert (await hook.post(third))[0] == 200
        await fake.wait_for(3)
        fourth = new_message(buyer_nick=nick, text="什么时候能处理")
        assert (await hook.post(fourth))[0] == 200
        await fake.wait_for(4)
    with_images, later = recorder.finished
    assert with_images.text == "锅底有裂缝"
    assert with_images.metadata["images"] == [
        "https://img.alicdn.com/imgextra/broken-1.jpg",
        "https://img.alicdn.com/imgextra/broken-2.jpg",
        "https://img.alicdn.com/imgextra/crack.jpg",
    ]
    assert with_images.metadata["image"] == "https://img.alicdn.com/imgextra/crack.jpg"
    assert "image" not in later.metadata  # attached once


async def test_replies_to_one_buyer_keep_the_order_of_the_messages() -> None:
    recorder = Recorder(delay=lambda m: 0.8 if m.text == "第一条" else 0.0)
    async with fake_taobao() as fake, running(recorder, fake.url) as hook:
        for text in ("第一条", "第二条", "第三条"):
            assert (await hook.post(new_message(buyer_nick="顺序买家", text=text)))[0] == 200
        await hook.idle()
    # Lines that arrive while the buyer's turn runs are read together as the next turn
    # (bot/services/turns.py): every line once, in order, each turn answered after the one before.
    turns = [m.text for m in recorder.finished]
    assert "，".join(turns) == "第一条，第二条，第三条"
    assert fake.texts() == [f"已收到：{text}" for text in turns]


async def test_outbound_5xx_is_retried_with_the_same_reply_id() -> None:
    async with fake_taobao() as fake, running(Recorder(), fake.url, attempts=3) as hook:
        fake.plan = [503, 500]
        message = new_message()
        assert (await hook.post(message))[0] == 200
        [reply] = await fake.wait_for(1)
    assert len(fake.attempts) == 3 and all(a["signed"] for a in fake.attempts)
    assert {a["body"]["reply_id"] for a in fake.attempts} == {f"{message['message_id']}:0"}
    assert reply["body"]["text"] == f"已收到：{message['text']}"


async def test_outbound_failures_are_bounded_logged_masked_and_the_worker_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.channels.taobao")
    recorder = Recorder()
    async with fake_taobao() as fake, running(recorder, fake.url, attempts=3) as hook:
        fake.plan = [500] * 3 + [400]
        assert (await hook.post(new_message(buyer_nick="tb13812345678")))[0] == 200
        await hook.idle()
        assert len(fake.attempts) == 3 and fake.received == []
        assert (await hook.post(new_message(buyer_nick="tb13812345678", text="再试")))[0] == 200
        await hook.idle()
        assert len(fake.attempts) == 4 and fake.received == []  # a 4xx is not retried
        assert (await hook.post(new_message(buyer_nick="tb13812345678", text="第三次")))[0] == 200
        await fake.wait_for(1)
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("bot.channels.taobao")]
    assert any("not delivered after 3 attempt(s): HTTP 500" in e for e in errors), errors
    assert any("not delivered after 1 attempt(s): HTTP 400" in e for e in errors), errors
    assert all("13812345678" not in e for e in errors) and any("tb138****5678" in e for e in errors)
    assert len(recorder.finished) == 3


async def test_unreachable_reply_endpoint_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="bot.channels.taobao")
    recorder = Recorder()
    dead = f"http://127.0.0.1:{free_port()}/reply"
    async with running(recorder, dead, attempts=2) as hook:
        assert (await hook.post(new_message()))[0] == 200
        await hook.idle()
        assert (await hook.post(new_message(text="还在吗")))[0] == 200
        await hook.idle()
    assert len(recorder.finished) == 2
    assert sum("not delivered after 2 attempt(s)" in r.getMessage() for r in caplog.records) == 2


async def test_a_failed_turn_tells_the_buyer_and_keeps_the_message(redis_client: Any) -> None:
    recorder = Recorder(fail=True)
    async with fake_taobao() as fake, running(recorder, fake.url) as hook:
        message = new_message(buyer_nick=f"失败买家{uuid.uuid4().hex[:6]}")
        assert (await hook.post(message))[0] == 200
        [reply] = await fake.wait_for(1)
        assert SYSTEM_ERROR_FALLBACK in reply["body"]["text"] and reply["signed"]
        recorder.fail = False  # the platform may redeliver: the id was released
        status, body, _, _ = await hook.post(message)
        assert status == 200 and body["duplicate"] is False
        await fake.wait_for(2)
    kept = [json.loads(r)["message"] for r in redis_client.lrange("taobao:failed", 0, -1)]
    assert any(k["message_id"] == message["message_id"] and k["text"] == message["text"] for k in kept)


async def test_a_failed_action_adds_the_error_reply() -> None:
    recorder = Recorder(action_failure=True)
    async with fake_taobao() as fake, running(recorder, fake.url) as hook:
        assert (await hook.post(new_message(buyer_nick=f"动作失败{uuid.uuid4().hex[:6]}")))[0] == 200
        await fake.wait_for(2)
    assert fake.texts()[0].startswith("已收到") and SYSTEM_ERROR_FALLBACK in fake.texts()[1]
    assert [r["body"]["reply_id"].rsplit(":", 1)[1] for r in fake.received] == ["0", "1"]


async def test_redis_down_means_no_ack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_PORT", str(free_port()))
    recorder = Recorder()
    async with fake_taobao() as fake, running(recorder, fake.url) as hook:
        status, body, text, _ = await hook.post(new_message())
    assert status == 503 and body["success"] is False and "Traceback" not in text
    assert recorder.started == []


# ---- messages outside a request (agents, follow-ups) and the paused notice -----------------


class FakeNlg:
    RESPONSES = {
        "utter_paused_notice": "您的消息已转给人工客服，请稍候。",
        "utter_describe_image": "图片收到，请描述一下问题。",
    }

    async def generate(self, response: str, tracker: Any, channel: str, **kwargs: Any) -> Optional[Dict[str, Any]]:
        text = self.RESPONSES.get(response)
        return {"text": text} if text else None


class FakeAgent:
    """The parts of a Rasa agent that delivery.py uses, with Rasa's in-memory stores."""

    def __init__(self) -> None:
        from rasa.core.lock_store import InMemoryLockStore
        from rasa.core.tracker_store import InMemoryTrackerStore
        from rasa.shared.core.domain import Domain

        self.tracker_store = InMemoryTrackerStore(Domain.empty())
        self.lock_store = InMemoryLockStore()
        self.nlg = FakeNlg()

    async def taobao_conversation(self, nick: str, paused: bool = False) -> str:
        from rasa.shared.core.events import ConversationPaused, UserUttered

        sender_id = sender_id_for(nick)
        tracker = self.tracker_store.init_tracker(sender_id)
        tracker.update(UserUttered("我要找人工", input_channel="taobao"))
        if paused:
            tracker.update(ConversationPaused())
        await self.tracker_store.save(tracker)
        return sender_id


async def test_agent_messages_go_out_through_the_signed_endpoint() -> None:
    agent = FakeAgent()
    nick = "买家 小明/01"
    sender_id = await agent.taobao_conversation(nick)
    async with fake_taobao() as fake, running(Recorder(), fake.url, agent=agent) as hook:
        assert isinstance(hook.channel.get_output_channel(), TaobaoOutput)
        channel = await delivery.send(
            hook.app, sender_id, {"text": "您好，我是客服小王，已为您安排补发。"}, author="agent:wang"
        )
        [reply] = await fake.wait_for(1)
    assert channel == "taobao"
    assert reply["signed"] and reply["body"]["buyer_nick"] == nick and reply["body"]["in_reply_to"] is None
    assert reply["body"]["text"] == "您好，我是客服小王，已为您安排补发。" and len(reply["body"]["reply_id"]) == 32
    tracker = await agent.tracker_store.retrieve(sender_id)
    assert tracker.events[-1].text == "您好，我是客服小王，已为您安排补发。"


async def test_an_agent_message_the_shop_refuses_is_reported_not_delivered() -> None:
    agent = FakeAgent()
    sender_id = await agent.taobao_conversation("买家小红")
    async with fake_taobao() as fake, running(Recorder(), fake.url, agent=agent) as hook:
        fake.plan = [500] * 10
        with pytest.raises(delivery.NotDelivered) as error:
            await delivery.send(hook.app, sender_id, {"text": "您好，补发已安排。"}, author="agent:wang")
    assert error.value.channel == "taobao" and len(fake.attempts) > 1  # retried, then given up
    tracker = await agent.tracker_store.retrieve(sender_id)
    assert tracker.events[-1].text == "您好，补发已安排。", "kept in the conversation for the agent"


async def test_output_channel_sends_images_and_buttons_and_never_raises() -> None:
    async with fake_taobao() as fake:
        sender = ReplySender(fake.url, APP_KEY, SECRET, sign_method="md5", backoff=0.01)
        output = TaobaoOutput(sender)
        await output.send_response(
            "taobao:小明",
            {
                "text": "请选一个：\n1. 换货\n2. 退款",
                "buttons": [{"title": "换货", "payload": "1"}, {"title": "退款", "payload": "2"}],
            },
        )
        await output.send_image_url("taobao:小明", "https://img.example.com/guide.png")
        await output.send_response("taobao:小明", {"custom": {"x": 1}})  # nothing Taobao can show: skipped
        await output.send_text_message("rest-user", "不是淘宝会话")  # logged, not raised
        received = await fake.wait_for(2)
        await sender.close()
    assert output.delivered == [True, True, True, False]
    assert received[0]["body"]["buttons"] == [{"title": "换货", "payload": "1"}, {"title": "退款", "payload": "2"}]
    assert received[1]["body"]["image_url"] == "https://img.example.com/guide.png" and "text" not in received[1]["body"]
    assert all(r["signed"] and r["params"]["sign_method"] == "md5" for r in received)


async def test_paused_conversation_gets_the_passed_on_notice() -> None:
    agent = FakeAgent()
    nick = f"人工中{uuid.uuid4().hex[:6]}"
    await agent.taobao_conversation(nick, paused=True)
    recorder = Recorder(answer=False)  # a paused bot says nothing
    async with fake_taobao() as fake, running(recorder, fake.url, agent=agent) as hook:
        assert (await hook.post(new_message(buyer_nick=nick, text="还要等多久")))[0] == 200
        [reply] = await fake.wait_for(1)
    assert reply["body"]["text"] == FakeNlg.RESPONSES["utter_paused_notice"]


async def test_image_only_reply_comes_from_the_domain_when_it_has_one() -> None:
    agent = FakeAgent()
    async with fake_taobao() as fake, running(Recorder(), fake.url, agent=agent) as hook:
        message = new_message(
            buyer_nick=f"图{uuid.uuid4().hex[:6]}", text=None, image_url="https://img.example.com/1.jpg"
        )
        assert (await hook.post(message))[0] == 200
        [reply] = await fake.wait_for(1)
    assert reply["body"]["text"] == FakeNlg.RESPONSES["utter_describe_image"]


async def test_shutdown_waits_for_messages_in_progress() -> None:
    recorder = Recorder(delay=lambda m: 0.5)
    async with fake_taobao() as fake:
        async with running(recorder, fake.url) as hook:
            assert (await hook.post(new_message()))[0] == 200
        # the server stopped only after the message was answered
        assert len(recorder.finished) == 1 and len(fake.received) == 1


async def test_shutdown_keeps_a_message_it_had_to_cancel(redis_client: Any) -> None:
    recorder = Recorder(delay=lambda m: 30.0)
    async with fake_taobao() as fake:
        async with running(recorder, fake.url) as hook:
            message = new_message(buyer_nick=f"慢{uuid.uuid4().hex[:6]}")
            assert (await hook.post(message))[0] == 200
            await asyncio.sleep(0.1)
            await hook.channel.drain(timeout=0.2)
    assert recorder.finished == [] and fake.received == []
    kept = [json.loads(r)["message"] for r in redis_client.lrange("taobao:failed", 0, -1)]
    assert any(k["message_id"] == message["message_id"] for k in kept)
    assert not redis_client.exists(f"taobao:msg:{message['message_id']}")  # a redelivery would be processed
