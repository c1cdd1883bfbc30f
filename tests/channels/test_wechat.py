"""The WeChat channel (bot/channels/wechat/) against the real SDK, a real Redis and a fake WeChat API.

Requests are signed with ``wechatpy``'s own signer and encrypted with ``wechatpy``'s
``WeChatCrypto``; the webhook runs in a real Sanic server on a free port, with
``on_new_message`` a recording coroutine and a real (in-memory) Rasa agent on the real
``domain.yml`` for the replies the channel renders itself. The WeChat API is a small aiohttp
server (:class:`FakeWeChatApi`) that records token fetches and customer-service messages.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Dict, List, Optional

import aiohttp
import pytest
import xmltodict
from aiohttp import web
from rasa.core.channels.channel import UserMessage
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import WeChatSigner, check_signature

from bot.channels.wechat import WeChatConfig, WeChatConfigError, WeChatInput, security
from bot.channels.wechat import api as wechat_api
from bot.channels.wechat import inbound as wechat_inbound
from bot.channels.wechat.api import WeChatApi, WeChatApiError
from bot.channels.wechat.connector import UNSUPPORTED_MESSAGE, VOICE_NOT_RECOGNISED, text_with_buttons
from bot.channels.wechat.inbound import IMAGE_TEXT, Inbound, dedup_key, parse_inbound
from bot.channels.wechat.security import XmlRejected, is_fresh, safe_xml_fields, signature_matches, verify_request
from bot.services.contact import WINDOW_CLOSED_NOTE
from bot.store import client as stores
from tools.devstack import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "wechatTestToken2026"
SECRET = "test-app-secret"
AES_KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode().rstrip("=")
PAGE = "/webhooks/wechat/webhook"


# ---- signing and message building, with the SDK ----------------------------------------------


def sign(*parts: str) -> str:
    """wechatpy's signer: sha1 of the sorted parts."""
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def signed_query(
    token: str = TOKEN, *, timestamp: Optional[int] = None, nonce: Optional[str] = None, **extra: str
) -> Dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or uuid.uuid4().hex[:10]
    return {"signature": sign(token, ts, nonce), "timestamp": ts, "nonce": nonce, **extra}


def new_openid() -> str:
    return "o" + uuid.uuid4().hex[:27]


def new_msg_id() -> str:
    return str(uuid.uuid4().int % 10**19)


def message_xml(
    openid: str, msg_type: str, msg_id: Optional[str] = None, create_time: Optional[int] = None, **fields: str
) -> str:
    """A WeChat push message as the platform sends it."""
    parts = [
        "<xml>",
        "<ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>",
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>",
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
    ]
    parts += [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()]
    if msg_type != "event":
        parts.append(f"<MsgId>{msg_id or new_msg_id()}</MsgId>")
    parts.append("</xml>")
    return "".join(parts)


def text_xml(openid: str, content: str, msg_id: Optional[str] = None) -> str:
    return message_xml(openid, "text", msg_id, Content=content)


def encrypted_delivery(
    xml: str, *, app_id: str, token: str = TOKEN, key: str = AES_KEY, timestamp: Optional[int] = None
) -> tuple[Dict[str, str], bytes]:
    """(query, body) of a safe-mode delivery, encrypted by wechatpy."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = uuid.uuid4().hex[:10]
    sealed = xmltodict.parse(WeChatCrypto(token, key, app_id).encrypt_message(xml, nonce, ts))["xml"]
    body = f"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><Encrypt><![CDATA[{sealed['Encrypt']}]]></Encrypt></xml>"
    query = signed_query(
        token, timestamp=int(ts), nonce=nonce, encrypt_type="aes", msg_signature=sealed["MsgSignature"]
    )
    return query, body.encode()


# ---- the fake WeChat API ---------------------------------------------------------------------


class FakeWeChatApi:
    """``/cgi-bin/token`` and ``/cgi-bin/message/custom/send`` on a free port, recording every call.

    Attributes:
        token_fetches: The (appid, secret) of every token request.
        sends: Every accepted customer-service message (the JSON body plus ``_token``).
        attempts: Every send request, accepted or not.
        rejected_tokens: Tokens answered with errcode 40001.
        closed: Openids answered with errcode 45015.
        token_delay: Seconds the token route takes (to make callers overlap).
    """

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.token_fetches: List[Dict[str, str]] = []
        self.sends: List[Dict[str, Any]] = []
        self.attempts: List[Dict[str, Any]] = []
        self.issued: List[str] = []
        self.rejected_tokens: set[str] = set()
        self.closed: set[str] = set()
        self.token_delay = 0.0
        self._runner: Optional[web.AppRunner] = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.token_fetches.append(query)
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if (
            query.get("grant_type") != "client_credential"
            or query.get("appid") != self.app_id
            or query.get("secret") != SECRET
        ):
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        token = f"ACCESS_TOKEN_{len(self.issued) + 1}"
        self.issued.append(token)
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def _send(self, request: web.Request) -> web.Response:
        token = request.query.get("access_token", "")
        body = await request.json()
        self.attempts.append(dict(body, _token=token))
        if token not in self.issued or token in self.rejected_tokens:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
        if body.get("touser") in self.closed:
            return web.json_response({"errcode": 45015, "errmsg": "response out of time limit"})
        self.sends.append(dict(body, _token=token))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def texts_to(self, openid: str) -> List[str]:
        return [s["text"]["content"] for s in self.sends if s.get("touser") == openid and s.get("msgtype") == "text"]

    async def wait_for(self, openid: str, count: int = 1, timeout: float = 10.0) -> List[str]:
        deadline = time.monotonic() + timeout
        while len(self.texts_to(openid)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} message(s) to {openid} not sent; sent: {self.sends}")
            await asyncio.sleep(0.05)
        return self.texts_to(openid)


# ---- the harness: Sanic + channel + fake API + Redis -----------------------------------------


class Recorder:
    """``on_new_message``: records each message, optionally waits, answers with fixed texts."""

    def __init__(self) -> None:
        self.messages: List[UserMessage] = []
        self.delay = 0.0
        self.replies: List[str] = ["收到，我来帮您处理。"]
        self.fail = False
        self.finished = 0
        self.echo = False  # answer "回复：<text>" instead of ``replies``
        self.delay_for: Optional[Any] = None  # text -> seconds, instead of ``delay``

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        delay = self.delay_for(message.text) if self.delay_for else self.delay
        if delay:
            await asyncio.sleep(delay)
        if self.fail:
            raise RuntimeError("boom")
        for reply in [f"回复：{message.text}"] if self.echo else self.replies:
            await message.output_channel.send_text_message(message.sender_id, reply)
        self.finished += 1


class Harness:
    def __init__(
        self,
        *,
        channel: WeChatInput,
        fake: FakeWeChatApi,
        recorder: Recorder,
        redis: Any,
        agent: Any,
        app: Any,
        base: str,
        app_id: str,
    ) -> None:
        self.channel, self.fake, self.recorder, self.redis = channel, fake, recorder, redis
        self.agent, self.app, self.base, self.app_id = agent, app, base, app_id
        self.http = aiohttp.ClientSession()

    async def post(self, body: bytes | str, query: Optional[Dict[str, str]] = None, **kwargs: Any) -> tuple[int, str]:
        data = body.encode() if isinstance(body, str) else body
        async with self.http.post(
            self.base + PAGE, params=signed_query() if query is None else query, data=data, **kwargs
        ) as reply:
            return reply.status, await reply.text()

    async def get(self, query: Dict[str, str], path: str = PAGE) -> tuple[int, str]:
        async with self.http.get(self.base + path, params=query) as reply:
            return reply.status, await reply.text()

    async def deliver(self, xml: str) -> tuple[int, str]:
        status, text = await self.post(xml)
        return status, text


_DOMAIN: Any = None


def domain() -> Any:
    global _DOMAIN
    if _DOMAIN is None:
        from rasa.shared.core.domain import Domain

        _DOMAIN = Domain.load(str(ROOT / "domain.yml"))
    return _DOMAIN


def response_texts(name: str) -> List[str]:
    return [r.get("text") for r in domain().responses.get(name, [])]


@asynccontextmanager
async def harness(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch, *, safe_mode: bool = False, redis: Any = None
) -> AsyncIterator[Harness]:
    """A running webhook; everything is stopped on exit."""
    import redis.asyncio as aioredis
    from rasa.core.agent import Agent
    from rasa.core.tracker_store import InMemoryTrackerStore
    from sanic import Sanic

    monkeypatch.setattr(Sanic, "test_mode", True)  # sanic 21.12 rewrites methods once per process otherwise
    for key, value in redis_server.env().items():  # delivery.system_error queues through stores.redis_from_env
        monkeypatch.setenv(key, value)
    app_id = "wx" + uuid.uuid4().hex[:16]
    fake = FakeWeChatApi(app_id)
    await fake.start()
    client = redis or aioredis.Redis(
        host=redis_server.host, port=redis_server.port, db=redis_server.db, decode_responses=True
    )
    config = WeChatConfig(
        token=TOKEN,
        app_id=app_id,
        app_secret=SECRET,
        api_base=fake.base,
        encoding_aes_key=AES_KEY if safe_mode else None,
    )
    channel = WeChatInput(config, redis=client)
    recorder = Recorder()
    app = Sanic("wechat_test_" + uuid.uuid4().hex[:12])
    agent = Agent(domain=domain(), tracker_store=InMemoryTrackerStore(domain()))
    app.ctx.agent = agent
    app.blueprint(channel.blueprint(recorder), url_prefix="/webhooks/wechat")  # as rasa.core.channels.register
    app.ctx.input_channels = [channel]
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()  # create_server already listens (sanic 21.12)
    h = Harness(
        channel=channel,
        fake=fake,
        recorder=recorder,
        redis=client,
        agent=agent,
        app=app,
        base=f"http://127.0.0.1:{port}",
        app_id=app_id,
    )
    try:
        yield h
    finally:
        await h.http.close()
        await server.before_stop()
        await server.close()
        await server.after_stop()
        await fake.stop()
        await channel.api.close()
        await client.close()


# ---- pure parts ------------------------------------------------------------------------------


def test_signature_is_wechatpys() -> None:
    ts, nonce = "1700000000", "abc"
    ours = security.wechat_signature(TOKEN, ts, nonce)
    assert ours == sign(TOKEN, ts, nonce)
    check_signature(TOKEN, ours, ts, nonce)  # the SDK accepts it
    with pytest.raises(InvalidSignatureException):
        check_signature(TOKEN, security.wechat_signature("other", ts, nonce), ts, nonce)


@pytest.mark.parametrize(
    "signature, timestamp, nonce, ok",
    [
        ("right", "now", "n1", True),
        ("wrong", "now", "n1", False),
        ("right", "stale", "n1", False),
        ("right", "future", "n1", False),
        ("right", "abc", "n1", False),
        ("", "now", "n1", False),
        (None, "now", "n1", False),
        ("签名", "now", "n1", False),
        ("right", "now", None, False),
    ],
)
def test_verify_request_matrix(signature: Any, timestamp: str, nonce: Any, ok: bool) -> None:
    now = 1_800_000_000
    ts = {"now": str(now - 10), "stale": str(now - 301), "future": str(now + 301)}.get(timestamp, timestamp)
    if signature == "right":
        signature = sign(TOKEN, ts, nonce or "")
    elif signature == "wrong":
        signature = sign("not-the-token", ts, nonce)
    assert verify_request(TOKEN, signature, ts, nonce, now=now) is ok


def test_window_is_configurable_and_signature_uppercase_ok() -> None:
    now = 1_800_000_000
    ts = str(now - 100)
    assert is_fresh(ts, now=now, window=300)
    assert not is_fresh(ts, now=now, window=60)
    assert not is_fresh(None, now=now)
    assert verify_request(TOKEN, sign(TOKEN, ts, "n").upper(), ts, "n", now=now)
    assert not verify_request("", sign("", ts, "n"), ts, "n", now=now)  # no token configured: nothing passes


def test_msg_signature_covers_encrypt() -> None:
    ts, nonce, encrypt = "1800000000", "n", "ENCRYPTED=="
    good = sign(TOKEN, ts, nonce, encrypt)
    assert signature_matches(TOKEN, good, ts, nonce, encrypt)
    assert not signature_matches(TOKEN, good, ts, nonce, encrypt + "x")
    assert not signature_matches(TOKEN, sign(TOKEN, ts, nonce), ts, nonce, encrypt)


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><xml><Content>&lol3;</Content></xml>'
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>'
)
DTD_ONLY = '<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://example.com/x.dtd"><xml><MsgType>text</MsgType></xml>'


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL_ENTITY, DTD_ONLY])
def test_dtd_and_entities_refused(xml: str) -> None:
    with pytest.raises(XmlRejected, match="DTD or entities"):
        safe_xml_fields(xml)


@pytest.mark.parametrize(
    "xml", ["", "   ", "not xml", "<xml><MsgType>text</xml>", "<other><a>1</a></other>", b"\xff\xfe<xml/>"]
)
def test_malformed_xml_refused(xml: Any) -> None:
    with pytest.raises(XmlRejected):
        safe_xml_fields(xml)


def test_cdata_text_that_looks_like_markup_is_fine() -> None:
    fields = safe_xml_fields(text_xml("o1", "<!DOCTYPE html> 我贴了一段网页"))
    assert fields["Content"] == "<!DOCTYPE html> 我贴了一段网页"


def test_text_message_mapping() -> None:
    inbound = parse_inbound(text_xml("oABC", "快递三天没到", msg_id="1234567890123456"))
    assert (inbound.kind, inbound.text, inbound.sender_id, inbound.message_id) == (
        "bot",
        "快递三天没到",
        "wechat:oABC",
        "1234567890123456",
    )
    assert inbound.metadata == {
        "customer_id": "oABC",
        "channel": "wechat",
        "msg_type": "text",
        "message_id": "1234567890123456",
    }
    assert inbound.dedup_key == "msg:oABC:1234567890123456"  # two customers can share a MsgId


def test_text_cannot_trigger_intents_and_blank_is_the_empty_intent() -> None:
    assert not parse_inbound(text_xml("o1", "/complaint_malicious")).text.startswith("/")
    assert parse_inbound(text_xml("o1", "  ")).text == "/empty_message"


def test_image_voice_and_other_types() -> None:
    image = parse_inbound(message_xml("o1", "image", PicUrl="http://mmbiz.qpic.cn/x", MediaId="m1"))
    assert (image.kind, image.text) == ("bot", IMAGE_TEXT)
    assert image.metadata["image"] == {"media_id": "m1", "pic_url": "http://mmbiz.qpic.cn/x"}
    voice = parse_inbound(message_xml("o1", "voice", MediaId="v1", Format="amr", Recognition="东西坏了"))
    assert (voice.kind, voice.text, voice.metadata["voice"]["media_id"]) == ("bot", "东西坏了", "v1")
    assert parse_inbound(message_xml("o1", "voice", MediaId="v1", Format="amr")).kind == "voice_not_recognised"
    assert (
        parse_inbound(message_xml("o1", "voice", MediaId="v1", Format="amr", Recognition="")).kind
        == "voice_not_recognised"
    )
    for msg_type, fields in [
        ("video", {"MediaId": "x", "ThumbMediaId": "y"}),
        ("shortvideo", {"MediaId": "x"}),
        ("location", {"Location_X": "23.1", "Location_Y": "113.3", "Scale": "20", "Label": "广州"}),
        ("link", {"Title": "t", "Description": "d", "Url": "http://x"}),
        ("file", {}),
    ]:
        assert parse_inbound(message_xml("o1", msg_type, **fields)).kind == "unsupported", msg_type


def test_events_and_their_dedup_keys() -> None:
    sub = parse_inbound(message_xml("o1", "event", create_time=1800000000, Event="subscribe"))
    assert (sub.kind, sub.event, sub.dedup_key, sub.message_id) == (
        "welcome",
        "subscribe",
        "event:o1:1800000000:subscribe",
        None,
    )
    scan = parse_inbound(message_xml("o1", "event", Event="subscribe", EventKey="qrscene_123"))
    assert scan.kind == "welcome"
    assert parse_inbound(message_xml("o1", "event", Event="unsubscribe")).kind == "ignore"
    assert parse_inbound(message_xml("o1", "event", Event="CLICK", EventKey="MENU")).kind == "ignore"
    assert dedup_key("wxAPP", sub) == "wechat:seen:wxAPP:event:o1:1800000000:subscribe"
    assert (
        dedup_key("wxAPP", Inbound(kind="bot", openid="o1", msg_type="text", dedup_key="msg:42"))
        == "wechat:seen:wxAPP:msg:42"
    )


@pytest.mark.parametrize(
    "xml",
    [
        "<xml><FromUserName>o1</FromUserName><CreateTime>1</CreateTime></xml>",  # no MsgType
        "<xml><MsgType>text</MsgType><CreateTime>1</CreateTime><MsgId>1</MsgId></xml>",  # no sender
        "<xml><FromUserName>o1</FromUserName><MsgType>text</MsgType><CreateTime>x</CreateTime><MsgId>1</MsgId></xml>",
        "<xml><FromUserName>o1</FromUserName><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>",  # no MsgId
        "<xml><FromUserName>o1</FromUserName><MsgType>text</MsgType><CreateTime>1</CreateTime><MsgId>abc</MsgId></xml>",
    ],
)
def test_incomplete_messages_refused(xml: str) -> None:
    with pytest.raises(XmlRejected):
        parse_inbound(xml)


def test_buttons_are_written_out() -> None:
    options = [{"title": "换货", "payload": "1"}, {"title": "退款", "payload": "2"}]
    assert text_with_buttons("可以这样处理：\n1. 换货\n2. 退款", options) == "可以这样处理：\n1. 换货\n2. 退款"
    assert text_with_buttons("没听清，请选一个", options) == "没听清，请选一个\n回复：1. 换货 / 2. 退款"
    agreement = [{"title": "确认", "payload": "确认"}, {"title": "换个方案", "payload": "换个方案"}]
    assert (
        text_with_buttons("确认一下：换货，48小时内寄出。", agreement)
        == "确认一下：换货，48小时内寄出。\n回复：换个方案"
    )
    assert text_with_buttons("好的", [{"title": "x", "payload": "/restart"}]) == "好的\n回复：x"


def test_config_refuses_to_start_without_credentials() -> None:
    full = {"WECHAT_TOKEN": "t", "WECHAT_APP_ID": "wx1", "WECHAT_APP_SECRET": "SECRET-XYZ"}
    for missing in full:
        env = {k: v for k, v in full.items() if k != missing}
        with pytest.raises(WeChatConfigError, match=missing):
            WeChatConfig.load({}, env)
    config = WeChatConfig.load({}, full)
    assert (config.token, config.app_id, config.safe_mode, config.api_base, config.timestamp_window) == (
        "t",
        "wx1",
        False,
        "https://api.weixin.qq.com",
        300,
    )
    assert config.app_secret == "SECRET-XYZ" and "SECRET-XYZ" not in repr(config)  # the secret stays out of logs
    with pytest.raises(WeChatConfigError, match="EncodingAESKey"):
        WeChatConfig.load({}, dict(full, WECHAT_ENCODING_AES_KEY="too-short"))
    with pytest.raises(WeChatConfigError, match="WINDOW"):
        WeChatConfig.load({}, dict(full, WECHAT_TIMESTAMP_WINDOW="soon"))
    safe = WeChatConfig.load(
        {"token": "t2", "api_base": "http://127.0.0.1:1/", "timestamp_window": 60},
        dict(full, WECHAT_ENCODING_AES_KEY=AES_KEY),
    )
    assert (safe.token, safe.safe_mode, safe.api_base, safe.timestamp_window) == ("t2", True, "http://127.0.0.1:1", 60)


def test_from_credentials_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_ENCODING_AES_KEY", "WECHAT_API_BASE"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(WeChatConfigError):
        WeChatInput.from_credentials(None)
    monkeypatch.setenv("WECHAT_TOKEN", "t")
    monkeypatch.setenv("WECHAT_APP_ID", "wx1")
    monkeypatch.setenv("WECHAT_APP_SECRET", "SECRET-XYZ")
    channel = WeChatInput.from_credentials({})
    assert channel.name() == "wechat" and channel.url_prefix() == "wechat"
    assert channel.get_output_channel().name() == "wechat"


# ---- the webhook -----------------------------------------------------------------------------


async def test_url_verification(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with harness(redis_server, monkeypatch) as h:
        assert await h.get(signed_query(echostr="5923876113")) == (200, "5923876113")
        assert (await h.get(dict(signed_query(echostr="1"), signature=sign("bad", "1", "2"))))[0] == 403
        assert (await h.get(signed_query(echostr="1", timestamp=int(time.time()) - 400)))[0] == 403
        query = signed_query(echostr="1")
        for missing in ("signature", "timestamp", "nonce", "echostr"):
            assert (await h.get({k: v for k, v in query.items() if k != missing}))[0] == 400
        assert await h.get({}, path="/webhooks/wechat/") == (200, '{"status":"ok","safe_mode":false}')


async def test_text_is_acknowledged_at_once_and_answered_through_the_api(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness(redis_server, monkeypatch) as h:
        h.recorder.delay = 2.0
        openid, msg_id = new_openid(), new_msg_id()
        started = time.monotonic()
        status, text = await h.deliver(text_xml(openid, "收到的电饭煲煮饭夹生", msg_id))
        took = time.monotonic() - started
        assert (status, text) == (200, "success")
        assert took < 1.0, took
        assert h.recorder.finished == 0 and h.channel.pending == 1  # still working after the answer
        assert await h.fake.wait_for(openid) == ["收到，我来帮您处理。"]
        message = h.recorder.messages[0]
        assert (message.sender_id, message.text, message.input_channel, message.message_id) == (
            f"wechat:{openid}",
            "收到的电饭煲煮饭夹生",
            "wechat",
            msg_id,
        )
        assert {k: v for k, v in message.metadata.items() if k != "turn_id"} == {  # turn_id: bot/services/turns.py
            "customer_id": openid,
            "channel": "wechat",
            "message_id": msg_id,
            "msg_type": "text",
        }
        sent = h.fake.sends[0]
        assert sent == {
            "touser": openid,
            "msgtype": "text",
            "text": {"content": "收到，我来帮您处理。"},
            "_token": "ACCESS_TOKEN_1",
        }


async def test_one_customers_messages_are_answered_in_order(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow first message is answered before the next ones (the inbox and the turn lock, bot/services/turns.py)."""
    async with harness(redis_server, monkeypatch) as h:
        openid, other = new_openid(), new_openid()
        h.recorder.echo = True
        h.recorder.delay_for = lambda text: 0.8 if text.startswith("第一条") else 0.0
        for text in ("第一条", "第二条", "第三条"):
            assert await h.deliver(text_xml(openid, text)) == (200, "success")
        assert await h.deliver(text_xml(other, "别人的")) == (200, "success")
        assert await h.fake.wait_for(other) == ["回复：别人的"]  # another customer does not wait
        assert h.fake.texts_to(openid) == []
        await h.channel.drain()
        # Lines that arrive while the customer's turn runs are read together as the next turn
        # (bot/services/turns.py): every line once, in order, each turn answered after the one before.
        turns = [m.text for m in h.recorder.messages if m.sender_id == f"wechat:{openid}"]
        assert "，".join(turns) == "第一条，第二条，第三条"
        assert h.fake.texts_to(openid) == [f"回复：{text}" for text in turns]


async def test_duplicates_are_dropped_silently(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with harness(redis_server, monkeypatch) as h:
        h.recorder.delay = 0.3
        openid, msg_id = new_openid(), new_msg_id()
        xml = text_xml(openid, "我要投诉", msg_id)
        results = await asyncio.gather(*(h.deliver(xml) for _ in range(4)))  # WeChat's retries, overlapping
        assert results == [(200, "success")] * 4
        await h.channel.drain()
        assert await h.deliver(xml) == (200, "success")
        await h.channel.drain()
        assert len(h.recorder.messages) == 1
        assert h.fake.texts_to(openid) == ["收到，我来帮您处理。"]
        ttl = await h.redis.ttl(f"wechat:seen:{h.app_id}:msg:{openid}:{msg_id}")
        assert 60 < ttl <= wechat_inbound.DEDUP_TTL  # outlives WeChat's retries
        # events: FromUserName + CreateTime + Event
        event = message_xml(openid, "event", create_time=1800000000, Event="subscribe")
        assert await h.deliver(event) == (200, "success")
        assert await h.deliver(event) == (200, "success")
        await h.channel.drain()
        assert len(h.fake.texts_to(openid)) == 2  # one reply, one welcome


async def test_two_customers_with_the_same_msgid_are_both_answered(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simultaneous voice messages of two customers can carry the same MsgId: neither is a duplicate."""
    async with harness(redis_server, monkeypatch) as h:
        first, second, msg_id = new_openid(), new_openid(), new_msg_id()
        results = await asyncio.gather(
            h.deliver(text_xml(first, "快递三天没到", msg_id)), h.deliver(text_xml(second, "收到的杯子是碎的", msg_id))
        )
        assert results == [(200, "success")] * 2
        await h.channel.drain()
        assert sorted(m.text for m in h.recorder.messages) == sorted(["快递三天没到", "收到的杯子是碎的"])
        assert h.fake.texts_to(first) == ["收到，我来帮您处理。"]
        assert h.fake.texts_to(second) == ["收到，我来帮您处理。"]
        # and a retry of either is still dropped
        assert await h.deliver(text_xml(first, "快递三天没到", msg_id)) == (200, "success")
        await h.channel.drain()
        assert len(h.recorder.messages) == 2


async def test_subscribe_gets_the_welcome(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with harness(redis_server, monkeypatch) as h:
        openid = new_openid()
        assert await h.deliver(message_xml(openid, "event", Event="subscribe")) == (200, "success")
        welcome = await h.fake.wait_for(openid)
        assert welcome[0] in response_texts("utter_greet")
        assert h.recorder.messages == []
        other = new_openid()
        for event in ("unsubscribe", "CLICK", "VIEW", "TEMPLATESENDJOBFINISH"):
            assert await h.deliver(message_xml(other, "event", Event=event, EventKey="k")) == (200, "success")
        await h.channel.drain()
        assert h.fake.texts_to(other) == [] and h.recorder.messages == []


async def test_image_and_voice(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with harness(redis_server, monkeypatch) as h:
        openid = new_openid()
        await h.deliver(message_xml(openid, "image", PicUrl="http://mmbiz.qpic.cn/abc", MediaId="media-1"))
        await h.deliver(message_xml(openid, "voice", MediaId="media-2", Format="amr", Recognition="快递员态度很差"))
        await h.channel.drain()
        # a photo and the words about it, sent together, may be read as one turn: both are kept
        lines = [line for m in h.recorder.messages for line in m.text.split("，")]
        assert lines == [IMAGE_TEXT, "快递员态度很差"]
        image = next(m for m in h.recorder.messages if IMAGE_TEXT in m.text)
        assert image.metadata["image"] == {"media_id": "media-1", "pic_url": "http://mmbiz.qpic.cn/abc"}

        silent = new_openid()
        assert await h.deliver(message_xml(silent, "voice", MediaId="media-3", Format="amr")) == (200, "success")
        sent = await h.fake.wait_for(silent)
        assert sent == response_texts(VOICE_NOT_RECOGNISED)[:1]
        # every reply after the first does without an apology (the first one was the bot's)
        assert not any("抱歉" in t or "对不起" in t for t in sent), sent
        assert all(m.sender_id != f"wechat:{silent}" for m in h.recorder.messages)


@pytest.mark.parametrize(
    "msg_type, fields",
    [
        ("video", {"MediaId": "x", "ThumbMediaId": "y"}),
        ("shortvideo", {"MediaId": "x", "ThumbMediaId": "y"}),
        ("location", {"Location_X": "23.13", "Location_Y": "113.26", "Scale": "20", "Label": "广州市天河区"}),
        ("link", {"Title": "商品页", "Description": "d", "Url": "http://example.com/item"}),
    ],
)
async def test_unsupported_types_get_a_defined_reply(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch, msg_type: str, fields: Dict[str, str]
) -> None:
    async with harness(redis_server, monkeypatch) as h:
        openid = new_openid()
        assert await h.deliver(message_xml(openid, msg_type, **fields)) == (200, "success")
        sent = await h.fake.wait_for(openid)
        assert sent == response_texts(UNSUPPORTED_MESSAGE)[:1]
        assert not any("抱歉" in t for t in sent), sent
        assert h.recorder.messages == []


async def test_bad_requests(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with harness(redis_server, monkeypatch) as h:
        good = text_xml(new_openid(), "你好")
        cases = [
            ("wrong signature", good, dict(signed_query(), signature=sign("wrong", "1", "2")), 403),
            ("stale timestamp", good, signed_query(timestamp=int(time.time()) - 301), 403),
            ("future timestamp", good, signed_query(timestamp=int(time.time()) + 3600), 403),
            ("signed with another token", good, signed_query("another-token"), 403),
            ("no signature", good, {k: v for k, v in signed_query().items() if k != "signature"}, 400),
            ("no timestamp", good, {k: v for k, v in signed_query().items() if k != "timestamp"}, 400),
            ("no nonce", good, {k: v for k, v in signed_query().items() if k != "nonce"}, 400),
            ("no query at all", good, {}, 400),
            ("body over 64 KB", "<xml><Content>" + "坏" * 22000 + "</Content></xml>", signed_query(), 413),
            ("billion laughs", BILLION_LAUGHS, signed_query(), 400),
            ("external entity", EXTERNAL_ENTITY, signed_query(), 400),
            ("DTD", DTD_ONLY, signed_query(), 400),
            ("malformed", "<xml><MsgType>text</MsgType>", signed_query(), 400),
            ("not XML", '{"message": "hi"}', signed_query(), 400),
            ("empty", "", signed_query(), 400),
            ("no MsgType", "<xml><FromUserName>o1</FromUserName></xml>", signed_query(), 400),
            ("openid mismatch", good, signed_query(openid="someone-else"), 400),
            ("encrypted without a key", good, signed_query(encrypt_type="aes", msg_signature="x"), 400),
        ]
        for name, body, query, expected in cases:
            status, text = await h.post(body, query)
            assert status == expected, (name, status, text)
            assert "Traceback" not in text and 'File "' not in text, name
        await h.channel.drain()
        assert h.recorder.messages == [] and h.fake.attempts == []


async def test_oversized_chunked_body_is_refused(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"<xml><Content>"
        for _ in range(20):
            yield b"x" * 8192
        yield b"</Content></xml>"

    async with harness(redis_server, monkeypatch) as h:
        status, _ = await h.post(chunks())
        assert status == 413
        assert h.recorder.messages == []
        assert await h.deliver(text_xml(new_openid(), "之后的消息照常处理")) == (200, "success")


async def test_redis_down_is_503_so_wechat_retries(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import redis.asyncio as aioredis

    dead = aioredis.Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, decode_responses=True)
    async with harness(redis_server, monkeypatch, redis=dead) as h:
        status, text = await h.deliver(text_xml(new_openid(), "你好"))
        assert status == 503 and "Traceback" not in text
        assert h.recorder.messages == []


# ---- safe mode -------------------------------------------------------------------------------


async def test_safe_mode_messages(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with harness(redis_server, monkeypatch, safe_mode=True) as h:
        openid, msg_id = new_openid(), new_msg_id()
        query, body = encrypted_delivery(text_xml(openid, "安全模式下的投诉", msg_id), app_id=h.app_id)
        assert await h.post(body, query) == (200, "success")
        assert await h.fake.wait_for(openid) == ["收到，我来帮您处理。"]
        message = h.recorder.messages[0]
        assert (message.text, message.sender_id, message.message_id) == ("安全模式下的投诉", f"wechat:{openid}", msg_id)
        # URL verification is unchanged in safe mode (official accounts send a plain echostr)
        assert await h.get(signed_query(echostr="42")) == (200, "42")

        bad: List[tuple[str, Dict[str, str], bytes, int]] = []
        q, b = encrypted_delivery(text_xml(openid, "x"), app_id=h.app_id)
        bad.append(("wrong msg_signature", dict(q, msg_signature=sign("wrong", "1")), b, 403))
        bad.append(("no msg_signature", {k: v for k, v in q.items() if k != "msg_signature"}, b, 400))
        q, b = encrypted_delivery(text_xml(openid, "x"), app_id="wxSomeoneElse")
        bad.append(("another AppID", q, b, 403))
        q, b = encrypted_delivery(text_xml(openid, "x"), app_id=h.app_id, timestamp=int(time.time()) - 1000)
        bad.append(("stale", q, b, 403))
        plain = text_xml(openid, "明文")
        bad.append(("plain text in safe mode", signed_query(), plain.encode(), 400))
        garbage = "bm90IGVuY3J5cHRlZA=="
        ts, nonce = str(int(time.time())), "n1"
        bad.append(
            (
                "garbage Encrypt",
                dict(
                    signed_query(timestamp=int(ts), nonce=nonce),
                    encrypt_type="aes",
                    msg_signature=sign(TOKEN, ts, nonce, garbage),
                ),
                f"<xml><Encrypt><![CDATA[{garbage}]]></Encrypt></xml>".encode(),
                400,
            )
        )
        bad.append(
            ("no Encrypt", dict(signed_query(), encrypt_type="aes", msg_signature="x"), b"<xml><A>1</A></xml>", 400)
        )
        bad.append(
            (
                "entity in envelope",
                dict(signed_query(), encrypt_type="aes", msg_signature="x"),
                BILLION_LAUGHS.encode(),
                400,
            )
        )
        for name, query, body, expected in bad:
            status, text = await h.post(body, query)
            assert status == expected, (name, status, text)
            assert "Traceback" not in text, name
        await h.channel.drain()
        assert len(h.recorder.messages) == 1


async def test_entity_inside_an_encrypted_message_is_refused(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness(redis_server, monkeypatch, safe_mode=True) as h:
        query, body = encrypted_delivery(BILLION_LAUGHS, app_id=h.app_id)
        assert (await h.post(body, query))[0] == 400
        assert h.recorder.messages == []


# ---- replies: paused notice, failures ---------------------------------------------------------


async def test_paused_conversation_gets_the_notice(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.shared.core.events import ConversationPaused, UserUttered

    async with harness(redis_server, monkeypatch) as h:
        openid = new_openid()
        tracker = h.agent.tracker_store.init_tracker(f"wechat:{openid}")
        tracker.update(UserUttered("转人工", input_channel="wechat"))
        tracker.update(ConversationPaused())
        await h.agent.tracker_store.save(tracker)
        h.recorder.replies = []  # a paused bot says nothing
        await h.deliver(text_xml(openid, "人呢？"))
        assert await h.fake.wait_for(openid) == response_texts("utter_paused_notice")[:1]


async def test_a_failed_turn_tells_the_customer_and_queues_the_case(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness(redis_server, monkeypatch) as h:
        openid = new_openid()
        h.recorder.fail = True
        assert await h.deliver(text_xml(openid, "我的订单有问题")) == (200, "success")
        texts = await h.fake.wait_for(openid)
        assert texts[0] in response_texts("utter_system_error")
        case = await stores.handoff_queue(h.redis).get(f"wechat:{openid}")
        assert case is not None and case.reason == "failure"


# ---- access tokens ---------------------------------------------------------------------------


async def test_token_is_fetched_once_and_cached_in_redis(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with harness(redis_server, monkeypatch) as h:
        for _ in range(3):
            await h.deliver(text_xml(new_openid(), "你好"))
        await h.channel.drain()
        assert len(h.fake.sends) == 3
        assert len(h.fake.token_fetches) == 1
        assert h.fake.token_fetches[0] == {"grant_type": "client_credential", "appid": h.app_id, "secret": SECRET}
        assert await h.redis.get(f"wechat:token:{h.app_id}") == "ACCESS_TOKEN_1"
        ttl = await h.redis.ttl(f"wechat:token:{h.app_id}")
        assert 7200 - wechat_api.TOKEN_REFRESH_MARGIN - 10 < ttl <= 7200 - wechat_api.TOKEN_REFRESH_MARGIN
        # a second worker (its own channel object, same Redis) uses the cached token
        other = WeChatApi(h.channel.config, h.redis)
        try:
            assert await other.send_text(new_openid(), "来自另一个进程") is True
        finally:
            await other.close()
        assert len(h.fake.token_fetches) == 1


async def test_concurrent_workers_fetch_one_token(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with harness(redis_server, monkeypatch) as h:
        h.fake.token_delay = 0.3
        workers = [WeChatApi(h.channel.config, h.redis) for _ in range(3)]
        try:
            tokens = await asyncio.gather(*(w.access_token() for w in workers for _ in range(3)))
        finally:
            for w in workers:
                await w.close()
        assert set(tokens) == {"ACCESS_TOKEN_1"}
        assert len(h.fake.token_fetches) == 1


async def test_invalid_token_is_refreshed_once_and_the_send_retried(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness(redis_server, monkeypatch) as h:
        output = h.channel.get_output_channel()
        openid = new_openid()
        await output.send_text_message(f"wechat:{openid}", "第一条")
        h.fake.rejected_tokens.add("ACCESS_TOKEN_1")  # WeChat invalidated it (40001)
        await asyncio.gather(*(output.send_text_message(f"wechat:{openid}", f"并发{i}") for i in range(4)))
        assert len(h.fake.token_fetches) == 2  # one refresh for all four senders
        assert await h.redis.get(f"wechat:token:{h.app_id}") == "ACCESS_TOKEN_2"
        assert sorted(h.fake.texts_to(openid)) == sorted(["第一条"] + [f"并发{i}" for i in range(4)])
        assert {s["_token"] for s in h.fake.sends[1:]} == {"ACCESS_TOKEN_2"}

        h.fake.rejected_tokens.update({"ACCESS_TOKEN_2", "ACCESS_TOKEN_3"})  # the new token is bad too
        with pytest.raises(WeChatApiError) as error:
            await output.send_text_message(f"wechat:{openid}", "不会送达")
        assert error.value.errcode == 40001
        assert len(h.fake.token_fetches) == 3  # retried once, not in a loop


async def test_drop_token_keeps_a_newer_token(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with harness(redis_server, monkeypatch) as h:
        api = WeChatApi(h.channel.config, h.redis)
        await h.redis.set(api.token_key, "NEW")
        await api.drop_token("OLD")  # another worker already replaced the bad token
        assert await h.redis.get(api.token_key) == "NEW"
        await api.drop_token("NEW")
        assert await h.redis.get(api.token_key) is None


async def test_token_lock_held_elsewhere_times_out_with_an_error(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness(redis_server, monkeypatch) as h:
        monkeypatch.setattr(wechat_api, "TOKEN_LOCK_TTL", 1)  # blocking_timeout = 6 s
        api = WeChatApi(h.channel.config, h.redis)
        await h.redis.set(api.token_lock_key, "another-worker", ex=30)  # a worker that never finishes
        started = time.monotonic()
        with pytest.raises(WeChatApiError, match="another worker"):
            await api.access_token()
        assert 5 < time.monotonic() - started < 10 and h.fake.token_fetches == []
        await h.redis.delete(api.token_lock_key)


async def test_token_refused_raises_without_leaking_the_secret(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness(redis_server, monkeypatch) as h:
        config = WeChatConfig(token=TOKEN, app_id=h.app_id, app_secret="wrong-secret", api_base=h.fake.base)
        api = WeChatApi(config, h.redis)
        try:
            with pytest.raises(WeChatApiError) as error:
                await api.send_text(new_openid(), "x")
        finally:
            await api.close()
        assert error.value.errcode == 40013 and "wrong-secret" not in str(error.value)


# ---- the 48-hour window ----------------------------------------------------------------------


async def test_closed_window_stops_sending_and_marks_the_tickets(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with harness(redis_server, monkeypatch) as h:
        openid = new_openid()
        sender_id = f"wechat:{openid}"
        store = stores.ticket_store(h.redis)
        ticket, _ = await store.create(
            f"test:{uuid.uuid4().hex}",
            channel="wechat",
            sender_id=sender_id,
            customer_id=sender_id,
            type="product",
            customer_words="电饭煲坏了",
            facts={"order_id": "3920184756210384"},
        )
        output = h.channel.get_output_channel()
        h.fake.closed.add(openid)
        await output.send_text_message(sender_id, "您的工单有进展了")  # 45015: no exception, nothing delivered
        marked = await store.get(ticket.id)
        assert marked.history[-1]["note"] == WINDOW_CLOSED_NOTE
        assert marked.facts["contact_route_needed"] is True and marked.facts["order_id"] == "3920184756210384"
        attempts = len(h.fake.attempts)
        await output.send_text_message(sender_id, "第二条也不发")
        assert len(h.fake.attempts) == attempts  # stopped: WeChat is not asked again
        # an agent's message now is reported as not delivered (the agents' API answers 502)
        from rasa.shared.core.events import UserUttered

        from bot.services import delivery

        tracker = h.agent.tracker_store.init_tracker(sender_id)
        tracker.update(UserUttered("还在吗", input_channel="wechat"))
        await h.agent.tracker_store.save(tracker)
        with pytest.raises(delivery.NotDelivered) as error:
            await delivery.send(h.app, sender_id, {"text": "您好，我是客服小王。"}, author="agent:wang")
        assert error.value.channel == "wechat" and len(h.fake.attempts) == attempts
        assert len((await store.get(ticket.id)).history) == len(marked.history)  # marked once

        # the customer writes again: the window is open and replies flow
        h.fake.closed.discard(openid)
        await h.deliver(text_xml(openid, "我回来了"))
        assert await h.fake.wait_for(openid) == ["收到，我来帮您处理。"]


async def test_agent_messages_go_out_through_get_output_channel(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.services import delivery

    async with harness(redis_server, monkeypatch) as h:
        openid = new_openid()
        await h.deliver(text_xml(openid, "转人工"))
        await h.channel.drain()
        # the recorder does not write a tracker; make the conversation as Rasa would
        from rasa.shared.core.events import UserUttered

        tracker = h.agent.tracker_store.init_tracker(f"wechat:{openid}")
        tracker.update(UserUttered("转人工", input_channel="wechat"))
        await h.agent.tracker_store.save(tracker)
        channel = await delivery.send(h.app, f"wechat:{openid}", {"text": "您好，我是客服小王。"}, author="agent:wang")
        assert channel == "wechat"
        assert (await h.fake.wait_for(openid, 2))[-1] == "您好，我是客服小王。"
        stored = await h.agent.tracker_store.retrieve(f"wechat:{openid}")
        assert stored.events[-1].text == "您好，我是客服小王。"
        # buttons are written out, a native WeChat payload goes as it is
        output = h.channel.get_output_channel()
        await output.send_response(
            f"wechat:{openid}", {"text": "请选一个", "buttons": [{"title": "换货", "payload": "1"}]}
        )
        await output.send_response(f"wechat:{openid}", {"custom": {"msgtype": "image", "image": {"media_id": "M1"}}})
        assert h.fake.texts_to(openid)[-1] == "请选一个\n回复：1. 换货"
        assert h.fake.sends[-1] == {
            "touser": openid,
            "msgtype": "image",
            "image": {"media_id": "M1"},
            "_token": "ACCESS_TOKEN_1",
        }


# ---- end to end: the real bot with the WeChat channel in its credentials ---------------------


def _start_rasa(
    stack: Any, port: int, model: Path, token: str, env: Dict[str, str], credentials: Path, log: Path
) -> Any:
    """``rasa run`` like ``Stack.start_rasa``, with our own credentials file."""
    from tools.devstack import rasa_command

    return stack.start("rasa", rasa_command(model, port, token, credentials), env=env, log=log)


async def test_end_to_end_with_the_real_bot(model_path: Path, redis_server: Any, tmp_path: Path) -> None:
    """Safe-mode deliveries reach the trained bot; replies, the welcome and an agent's message reach WeChat."""
    import secrets
    import urllib.parse

    from tools.devstack import Stack, base_env, http_ok, wait_until

    app_id = "wx" + uuid.uuid4().hex[:16]
    fake = FakeWeChatApi(app_id)
    await fake.start()
    credentials = tmp_path / "credentials.wechat.yml"
    credentials.write_text(
        "bot.channels.rest.ValidatingRestInput: {}\n"
        "bot.agent_api.channel.AgentApi: {}\n"
        "bot.channels.wechat.WeChatInput: {}\n",
        encoding="utf-8",
    )
    stack = Stack()
    api_token = secrets.token_urlsafe(16)
    action_port, rasa_port = free_port(), free_port()
    env = base_env(
        **redis_server.env(),
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        BOT_API_TOKEN=api_token,
        FOLLOWUP_INTERVAL_SECONDS="3600",
    )
    for key in ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_ENCODING_AES_KEY", "WECHAT_API_BASE"):
        env.pop(key, None)
    base = f"http://127.0.0.1:{rasa_port}"
    try:
        # without WECHAT_* the server refuses to start, with a clear message
        refused = _start_rasa(stack, free_port(), model_path, api_token, env, credentials, tmp_path / "refused.log")
        assert await asyncio.to_thread(refused.wait, 180) != 0
        assert "WECHAT_TOKEN" in (tmp_path / "refused.log").read_text(encoding="utf-8", errors="replace")

        env.update(
            WECHAT_TOKEN=TOKEN,
            WECHAT_APP_ID=app_id,
            WECHAT_APP_SECRET=SECRET,
            WECHAT_ENCODING_AES_KEY=AES_KEY,
            WECHAT_API_BASE=fake.base,
        )
        await asyncio.to_thread(stack.start_actions, action_port, env, tmp_path / "actions.log")
        process = _start_rasa(stack, rasa_port, model_path, api_token, env, credentials, tmp_path / "rasa.log")
        await asyncio.to_thread(
            wait_until, lambda: http_ok(f"{base}/status?token={api_token}"), 300, "Rasa server", process
        )

        async with aiohttp.ClientSession() as http:

            async def deliver(xml: str) -> tuple[int, str]:
                query, body = encrypted_delivery(xml, app_id=app_id)
                async with http.post(f"{base}{PAGE}", params=query, data=body) as reply:
                    return reply.status, await reply.text()

            openid = new_openid()
            sender = f"wechat:{openid}"
            assert await deliver(message_xml(openid, "event", Event="subscribe")) == (200, "success")
            assert (await fake.wait_for(openid, 1, timeout=30))[0] in response_texts("utter_greet")

            msg_id = new_msg_id()
            assert await deliver(text_xml(openid, "收到的电饭煲煮饭夹生 才用了两次", msg_id)) == (200, "success")
            replies = await fake.wait_for(openid, 2, timeout=60)
            assert not any("系统出了点问题" in r for r in replies), replies
            async with http.get(
                f"{base}/conversations/{urllib.parse.quote(sender, safe='')}/tracker", params={"token": api_token}
            ) as reply:
                tracker = await reply.json()
            assert tracker["latest_input_channel"] == "wechat"
            assert {
                k: v for k, v in tracker["latest_message"]["metadata"].items() if k != "turn_id"
            } == {  # turn_id: bot/services/turns.py
                "customer_id": openid,
                "channel": "wechat",
                "message_id": msg_id,
                "msg_type": "text",
            }
            assert tracker["latest_message"]["message_id"] == msg_id

            before = len(fake.texts_to(openid))
            async with http.post(
                f"{base}/api/conversations/{urllib.parse.quote(sender, safe='')}/messages",
                params={"token": api_token},
                json={"agent": "wang", "text": "您好，我是客服小王。"},
            ) as reply:
                assert reply.status == 200, await reply.text()
                assert (await reply.json())["channel"] == "wechat"
            assert (await fake.wait_for(openid, before + 1, timeout=30))[-1] == "您好，我是客服小王。"
            assert len(fake.token_fetches) == 1
    finally:
        await asyncio.to_thread(stack.stop)
        await fake.stop()
