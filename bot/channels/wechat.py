"""WeChat Official Account channel (公众号), built on ``wechatpy`` (SPEC.md section 9).

Mounted at ``/webhooks/wechat`` (``GET /webhooks/wechat/webhook`` for WeChat's URL check,
``POST`` for messages, ``GET /webhooks/wechat/`` for health). What happens to a delivery:

1. **Signature first.** ``signature = sha1(sorted([token, timestamp, nonce]))`` is compared in
   constant time and ``timestamp`` must be within ``timestamp_window`` seconds (default 300) of
   our clock: wrong or stale -> 403, parameters missing -> 400.
2. **Size.** A body over 64 KB -> 413; the body is streamed and never buffered beyond that.
3. **XML safety.** The XML is parsed by ``defusedxml`` first; a DTD or an entity declaration
   -> 400 without expanding anything, malformed XML -> 400. Only then does ``wechatpy`` parse it.
4. **Safe mode (安全模式).** With ``WECHAT_ENCODING_AES_KEY`` set, every message must be
   encrypted: ``msg_signature = sha1(sorted([token, timestamp, nonce, Encrypt]))`` is checked in
   constant time (403), then ``wechatpy`` decrypts and checks the AppID (wrong AppID -> 403).
5. **Duplicates.** WeChat waits 5 s and retries three times. A delivery is claimed with an
   atomic ``SET NX EX`` on ``MsgId`` (events: ``FromUserName`` + ``CreateTime`` + ``Event``);
   a repeated delivery is answered ``success`` and dropped silently.
6. **Acknowledge fast.** The answer is ``success`` at once; the message is processed in a
   tracked background task and the bot's replies go out through the customer-service message
   API (客服消息 ``POST {base}/cgi-bin/message/custom/send``).

Message types: text goes to the bot (a leading "/" is neutralised like on the REST channel);
an image goes to the bot as ``[图片]`` with ``metadata["image"]`` (``media_id``, ``pic_url``);
voice goes to the bot as WeChat's own transcript (``Recognition``) when there is one, otherwise
the customer is asked to type; video, short video, location, link and any other message type
get a fixed "please describe it in words" reply; ``subscribe`` gets the welcome message;
other events are acknowledged and ignored.

Every conversation is ``sender_id = "wechat:<openid>"`` with metadata
``{"customer_id": openid, "channel": "wechat", "message_id": MsgId}``.

Access tokens (``GET {base}/cgi-bin/token``) are cached in Redis until shortly before they
expire, so every Sanic worker shares one; a refresh is done by a single caller (an asyncio lock
per worker plus a Redis lock across workers). A send refused with 40001/40014/42001 drops that
token (only if it is still the cached one), fetches a new one and retries once. A send refused
with 45015 (the customer has not written for 48 hours) stops further sends to that customer
until they write again and marks their open tickets for another contact route.

Configuration (``credentials.yml`` keys, else environment variables): ``token``
(``WECHAT_TOKEN``), ``app_id`` (``WECHAT_APP_ID``), ``app_secret`` (``WECHAT_APP_SECRET``),
``encoding_aes_key`` (``WECHAT_ENCODING_AES_KEY``, safe mode when set), ``api_base``
(``WECHAT_API_BASE``, default ``https://api.weixin.qq.com``), ``timestamp_window``
(``WECHAT_TIMESTAMP_WINDOW``, seconds, default 300). A missing token, AppID or AppSecret, or a
malformed AES key, refuses to start.

Redis keys (prefix ``wechat``): ``seen:*`` (deliveries, 1 hour), ``token:{appid}`` (the access
token), ``token-lock:{appid}``, ``closed:{openid}`` (48-hour window closed, 7 days or until the
customer writes).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Set, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.store import client as stores
from bot.rasa_ext import guard
from bot.services import delivery
from bot.channels.common import OrderedTasks, escape_user_text, read_body
from bot.privacy import install_log_masking, mask_pii

logger = logging.getLogger(__name__)

CHANNEL = "wechat"
SENDER_PREFIX = "wechat:"
DEFAULT_API_BASE = "https://api.weixin.qq.com"
DEFAULT_TIMESTAMP_WINDOW = 300
MAX_BODY_BYTES = 64 * 1024
MAX_ECHOSTR_CHARS = 256
KEY_PREFIX = "wechat"
DEDUP_TTL = 3600
"""Seconds a delivery id is remembered; WeChat's retries end after about 15 seconds."""
TOKEN_REFRESH_MARGIN = 300
"""A cached access token is dropped this many seconds before WeChat says it expires."""
TOKEN_LOCK_TTL = 15
WINDOW_CLOSED_TTL = 7 * 24 * 3600
HTTP_TIMEOUT = 10.0

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
"""Access token invalid (40001, 40014) or expired (42001): refresh and retry once."""
WINDOW_CLOSED = 45015
"""The customer has not written within 48 hours: customer-service messages are refused."""
WINDOW_CLOSED_NOTE = "48小时窗口已关闭，需要其他联系方式"

IMAGE_TEXT = "[图片]"
WELCOME_RESPONSE = "utter_greet"
# Domain responses used when the owner defines them; the fallback text is used otherwise.
VOICE_NOT_RECOGNISED = ("utter_wechat_voice_not_recognised", "这条语音没能识别出来，请用文字描述一下您遇到的问题。")
UNSUPPORTED_MESSAGE = (
    "utter_wechat_unsupported_message",
    "这类消息（视频、位置、链接等）我暂时看不了。请用文字描述一下您遇到的问题，需要照片的话可以直接发图片。",
)
FALLBACK_WELCOME = "您好，我是店铺的售后助手。遇到什么问题了？直接说就行，我来帮您处理。"

_RELEASE_LOCK_LUA = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
_DROP_TOKEN_LUA = _RELEASE_LOCK_LUA  # delete the cached token only if it is still the bad one


# ---- configuration --------------------------------------------------------------------------


class WeChatConfigError(RasaException, ValueError):
    """The channel's configuration is missing or malformed; the server does not start."""


@dataclass(frozen=True)
class WeChatConfig:
    """The channel's settings.

    Attributes:
        token: The token set in the WeChat admin console (服务器配置 → 令牌).
        app_id: The account's AppID.
        app_secret: The account's AppSecret (for access tokens).
        encoding_aes_key: The 43-character EncodingAESKey; set means safe mode (安全模式).
        api_base: Base URL of the WeChat API.
        timestamp_window: Accepted clock difference of a delivery, in seconds.
    """

    token: str
    app_id: str
    app_secret: str = field(repr=False)
    encoding_aes_key: Optional[str] = field(default=None, repr=False)
    api_base: str = DEFAULT_API_BASE
    timestamp_window: int = DEFAULT_TIMESTAMP_WINDOW

    @property
    def safe_mode(self) -> bool:
        """Messages are encrypted."""
        return bool(self.encoding_aes_key)

    @classmethod
    def load(cls, credentials: Optional[Dict[Text, Any]] = None, environ: Optional[Dict[str, str]] = None) -> "WeChatConfig":
        """Reads the settings from ``credentials`` (credentials.yml), else from the environment.

        Raises:
            WeChatConfigError: token, AppID or AppSecret missing; AES key or window malformed.
        """
        credentials = credentials or {}
        environ = dict(os.environ if environ is None else environ)

        def value(key: str, env: str) -> str:
            raw = credentials.get(key)
            if raw in (None, ""):
                raw = environ.get(env, "")
            return str(raw).strip()

        token, app_id, app_secret = value("token", "WECHAT_TOKEN"), value("app_id", "WECHAT_APP_ID"), value(
            "app_secret", "WECHAT_APP_SECRET"
        )
        missing = [name for name, v in (("WECHAT_TOKEN", token), ("WECHAT_APP_ID", app_id),
                                        ("WECHAT_APP_SECRET", app_secret)) if not v]
        if missing:
            raise WeChatConfigError(
                f"WeChat channel: {', '.join(missing)} not set (credentials.yml keys token/app_id/app_secret "
                "or the environment); the channel refuses to start without them"
            )
        aes_key = value("encoding_aes_key", "WECHAT_ENCODING_AES_KEY") or None
        if aes_key is not None:
            try:
                ok = len(aes_key) == 43 and len(base64.b64decode(aes_key + "=", validate=True)) == 32
            except (binascii.Error, ValueError):
                ok = False
            if not ok:
                raise WeChatConfigError("WeChat channel: WECHAT_ENCODING_AES_KEY must be the 43-character EncodingAESKey")
        try:
            window = int(value("timestamp_window", "WECHAT_TIMESTAMP_WINDOW") or DEFAULT_TIMESTAMP_WINDOW)
        except ValueError:
            raise WeChatConfigError("WeChat channel: WECHAT_TIMESTAMP_WINDOW must be a number of seconds")
        if window <= 0:
            raise WeChatConfigError("WeChat channel: WECHAT_TIMESTAMP_WINDOW must be positive")
        api_base = (value("api_base", "WECHAT_API_BASE") or DEFAULT_API_BASE).rstrip("/")
        return cls(token=token, app_id=app_id, app_secret=app_secret, encoding_aes_key=aes_key,
                   api_base=api_base, timestamp_window=window)


# ---- pure parts: signatures, XML, messages -------------------------------------------------


def wechat_signature(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted parts, concatenated (as ``wechatpy.utils.WeChatSigner``)."""
    return hashlib.sha1(b"".join(sorted(p.encode("utf-8") for p in parts))).hexdigest()


def is_fresh(timestamp: Any, *, now: Optional[float] = None, window: int = DEFAULT_TIMESTAMP_WINDOW) -> bool:
    """``timestamp`` (epoch seconds, as sent) is within ``window`` seconds of ``now``; never raises."""
    try:
        sent = int(str(timestamp))
        current = time.time() if now is None else now
        return abs(current - sent) <= window
    except (TypeError, ValueError, OverflowError):
        return False


def signature_matches(token: str, signature: Any, *parts: Any) -> bool:
    """Constant-time check of ``signature`` against ``sha1(sorted([token, *parts]))``; never raises."""
    try:
        if not token or not isinstance(signature, str) or not all(isinstance(p, str) for p in parts):
            return False
        expected = wechat_signature(token, *parts)
        return hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("utf-8"))
    except Exception:  # noqa: BLE001 - any oddity is a wrong signature
        return False


def verify_request(token: str, signature: Any, timestamp: Any, nonce: Any, *extra: Any,
                   now: Optional[float] = None, window: int = DEFAULT_TIMESTAMP_WINDOW) -> bool:
    """A delivery is genuine and fresh: the signature matches and the timestamp is in the window.

    Args:
        token: Our WeChat token.
        signature: ``signature`` (or ``msg_signature``) as sent.
        timestamp: ``timestamp`` as sent.
        nonce: ``nonce`` as sent.
        *extra: Further signed parts (the ``Encrypt`` element for ``msg_signature``).
        now: The current time (tests); the clock by default.
        window: Accepted clock difference in seconds.

    Returns:
        True only if both hold; every malformed input gives False.
    """
    fresh = is_fresh(timestamp, now=now, window=window)
    matches = signature_matches(token, signature, timestamp, nonce, *extra)
    return fresh and matches


class XmlRejected(ValueError):
    """A body that is not acceptable XML (malformed, DTD, entities, wrong shape)."""


def safe_xml_fields(body: bytes | str) -> Dict[str, str]:
    """Parses a WeChat XML document with defusedxml and returns its top-level fields.

    DTDs, entity declarations and external references are refused before anything is
    expanded; the caller may hand the same document to ``wechatpy`` afterwards.

    Raises:
        XmlRejected: malformed XML, a DTD or entity, or a root other than ``<xml>``.
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    raw = body.encode("utf-8") if isinstance(body, str) else body
    if not raw or not raw.strip():
        raise XmlRejected("empty body")
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise XmlRejected("XML with a DTD or entities is not accepted")
    except (ParseError, ValueError, TypeError) as error:
        raise XmlRejected(f"malformed XML: {str(error)[:80]}")
    if root.tag != "xml":
        raise XmlRejected("root element must be <xml>")
    return {child.tag: (child.text or "") for child in root}


@dataclass
class Inbound:
    """What a WeChat delivery means for the bot.

    Attributes:
        kind: ``bot`` (a user message for Rasa), ``voice_not_recognised``, ``unsupported``,
            ``welcome`` or ``ignore``.
        openid: The customer (``FromUserName``).
        msg_type: WeChat's ``MsgType`` (``event`` for events).
        dedup_key: The delivery's identity (``msg:<MsgId>`` or ``event:<openid>:<time>:<event>``).
        text: The text for Rasa (``bot`` only).
        message_id: WeChat's ``MsgId`` (None for events).
        metadata: The message metadata for Rasa.
        event: The event name, lower case (events only).
    """

    kind: str
    openid: str
    msg_type: str
    dedup_key: str
    text: str = ""
    message_id: Optional[str] = None
    metadata: Dict[str, Any] = field(default_factory=dict)
    event: Optional[str] = None

    @property
    def sender_id(self) -> str:
        """The Rasa conversation id."""
        return sender_id_for(self.openid)


def sender_id_for(openid: str) -> str:
    """``wechat:<openid>``."""
    return SENDER_PREFIX + openid


def openid_of(recipient_id: str) -> str:
    """The openid of a Rasa conversation id (``wechat:<openid>`` or a bare openid)."""
    return recipient_id[len(SENDER_PREFIX):] if recipient_id.startswith(SENDER_PREFIX) else recipient_id


def parse_inbound(xml: bytes | str) -> Inbound:
    """Turns a (decrypted) WeChat message into an :class:`Inbound`.

    The XML is checked with :func:`safe_xml_fields` before ``wechatpy.parser.parse_message``
    sees it.

    Raises:
        XmlRejected: unsafe or malformed XML, or a message without sender, type or id.
    """
    from wechatpy.parser import parse_message

    fields = safe_xml_fields(xml)
    if not fields.get("MsgType", "").strip():
        raise XmlRejected("MsgType missing")
    try:
        message = parse_message(xml.decode("utf-8") if isinstance(xml, bytes) else xml)
        openid = (message.source or "").strip()
        msg_type = str(fields["MsgType"]).strip().lower()
        create_time = str(fields.get("CreateTime") or "").strip()
        int(create_time)
    except Exception as error:  # noqa: BLE001 - anything wechatpy cannot read is a bad request
        raise XmlRejected(f"not a WeChat message: {type(error).__name__}")
    if not openid or len(openid) > 128:
        raise XmlRejected("FromUserName missing")
    base = {"customer_id": openid, "channel": CHANNEL, "msg_type": msg_type}

    if msg_type == "event":
        event = str(fields.get("Event") or "").strip().lower()
        key = f"event:{openid}:{create_time}:{event}"
        kind = "welcome" if event in ("subscribe", "subscribe_scan") else "ignore"
        return Inbound(kind=kind, openid=openid, msg_type=msg_type, dedup_key=key, event=event,
                       metadata=dict(base, event=event, message_id=None))

    message_id = str(fields.get("MsgId") or "").strip()
    if not message_id.isdigit():
        raise XmlRejected("MsgId missing")
    metadata = dict(base, message_id=message_id)
    inbound = Inbound(kind="bot", openid=openid, msg_type=msg_type, dedup_key=f"msg:{message_id}",
                      message_id=message_id, metadata=metadata)
    if msg_type == "text":
        inbound.text = escape_user_text(fields.get("Content") or "")
    elif msg_type == "image":
        inbound.text = IMAGE_TEXT
        metadata["image"] = {"media_id": fields.get("MediaId") or "", "pic_url": fields.get("PicUrl") or ""}
    elif msg_type == "voice":
        recognition = (fields.get("Recognition") or "").strip()
        metadata["voice"] = {"media_id": fields.get("MediaId") or "", "format": fields.get("Format") or ""}
        if recognition:
            inbound.text = escape_user_text(recognition)
            metadata["voice"]["recognition"] = True
        else:
            inbound.kind = "voice_not_recognised"
    else:  # video, shortvideo, location, link, miniprogrampage, anything new
        inbound.kind = "unsupported"
    return inbound


def dedup_key(app_id: str, inbound: Inbound) -> str:
    """The Redis key that claims a delivery."""
    return f"{KEY_PREFIX}:seen:{app_id}:{inbound.dedup_key}"


def text_with_buttons(text: str, buttons: Iterable[Dict[str, Any]]) -> str:
    """WeChat text messages have no buttons: the choices are written out.

    A button whose title is already in the text (the options list) is not repeated; a button
    whose payload differs from its title reads "payload. title", since payloads are read like
    typed replies.
    """
    lines = []
    for button in buttons:
        title = str(button.get("title") or "").strip()
        payload = str(button.get("payload") or "").strip()
        if not title or title in text:
            continue
        if payload and payload != title and not payload.startswith("/"):
            lines.append(f"{payload}. {title}")
        else:
            lines.append(title)
    if not lines:
        return text
    if all(len(line) <= 8 for line in lines):  # short choices fit on one line
        return f"{text}\n回复：{' / '.join(lines)}"
    return text + "\n" + "\n".join(lines)


# ---- the WeChat API --------------------------------------------------------------------------


class WeChatApiError(RuntimeError):
    """A WeChat API call failed (network, HTTP status or a non-zero ``errcode``)."""

    def __init__(self, message: str, errcode: Optional[int] = None) -> None:
        super().__init__(message)
        self.errcode = errcode


class WeChatApi:
    """Access tokens and customer-service messages, shared across workers through Redis.

    Args:
        config: The channel's settings.
        redis: A ``redis.asyncio`` client (``decode_responses=True``); created from the
            ``REDIS_*`` environment on first use when not given.
    """

    def __init__(self, config: WeChatConfig, redis: Any = None) -> None:
        self.config = config
        self._redis = redis
        self._session: Any = None
        self._local_lock: Optional[asyncio.Lock] = None

    # resources --------------------------------------------------------------------------
    @property
    def redis(self) -> Any:
        """The Redis client (created lazily)."""
        if self._redis is None:
            self._redis = stores.redis_from_env()
        return self._redis

    def _http(self) -> Any:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
        return self._session

    def _lock(self) -> asyncio.Lock:
        if self._local_lock is None:
            self._local_lock = asyncio.Lock()
        return self._local_lock

    async def close(self) -> None:
        """Closes the HTTP session."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    # keys -------------------------------------------------------------------------------
    @property
    def token_key(self) -> str:
        """Where the access token is cached."""
        return f"{KEY_PREFIX}:token:{self.config.app_id}"

    @property
    def token_lock_key(self) -> str:
        """The cross-worker refresh lock."""
        return f"{KEY_PREFIX}:token-lock:{self.config.app_id}"

    @staticmethod
    def closed_key(openid: str) -> str:
        """Set while the customer's 48-hour window is closed."""
        return f"{KEY_PREFIX}:closed:{openid}"

    # access token ----------------------------------------------------------------------
    async def access_token(self) -> str:
        """The cached access token, fetched by one caller across all workers when missing.

        Raises:
            WeChatApiError: the token could not be fetched.
        """
        token = await self.redis.get(self.token_key)
        if token:
            return str(token)
        async with self._lock():  # one caller per worker ...
            token = await self.redis.get(self.token_key)
            if token:
                return str(token)
            deadline = time.monotonic() + TOKEN_LOCK_TTL + 5
            while True:
                owner = secrets.token_hex(8)
                if await self.redis.set(self.token_lock_key, owner, nx=True, ex=TOKEN_LOCK_TTL):  # ... and one overall
                    try:
                        token = await self.redis.get(self.token_key)
                        if token:
                            return str(token)
                        token, expires_in = await self._fetch_token()
                        ttl = max(60, expires_in - TOKEN_REFRESH_MARGIN)
                        await self.redis.set(self.token_key, token, ex=ttl)
                        return token
                    finally:
                        await self.redis.eval(_RELEASE_LOCK_LUA, 1, self.token_lock_key, owner)
                await asyncio.sleep(0.1)
                token = await self.redis.get(self.token_key)
                if token:
                    return str(token)
                if time.monotonic() > deadline:
                    raise WeChatApiError("timed out waiting for another worker to fetch the access token")

    async def drop_token(self, bad_token: str) -> None:
        """Forgets ``bad_token`` if it is still the cached one (a newer token is kept)."""
        await self.redis.eval(_DROP_TOKEN_LUA, 1, self.token_key, bad_token)

    async def _fetch_token(self) -> tuple[str, int]:
        url = f"{self.config.api_base}/cgi-bin/token"
        params = {"grant_type": "client_credential", "appid": self.config.app_id, "secret": self.config.app_secret}
        data = await self._call("GET", url, params=params)
        token = data.get("access_token")
        if not token or not isinstance(token, str):
            errcode = _errcode(data)
            raise WeChatApiError(f"access token refused: errcode {errcode} {str(data.get('errmsg') or '')[:100]}", errcode)
        try:
            expires_in = int(data.get("expires_in") or 7200)
        except (TypeError, ValueError):
            expires_in = 7200
        logger.info("WeChat access token fetched for %s (expires in %s s)", self.config.app_id, expires_in)
        return token, expires_in

    async def _call(self, method: str, url: str, *, params: Dict[str, str], body: Optional[bytes] = None) -> Dict[str, Any]:
        """One API call; the URL (with secrets) is never logged."""
        import aiohttp

        headers = {"Content-Type": "application/json; charset=utf-8"} if body is not None else None
        for attempt in (1, 2):
            try:
                async with self._http().request(method, url, params=params, data=body, headers=headers) as reply:
                    text = await reply.text()
                    if reply.status != 200:
                        raise WeChatApiError(f"WeChat API answered HTTP {reply.status}")
                    data = json.loads(text)
                    if not isinstance(data, dict):
                        raise WeChatApiError("WeChat API answered something that is not a JSON object")
                    return data
            except aiohttp.ClientConnectorError as error:
                # nothing reached WeChat: safe to try once more
                if attempt == 2:
                    raise WeChatApiError(f"WeChat API unreachable: {type(error).__name__}")
                await asyncio.sleep(0.2)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
                raise WeChatApiError(f"WeChat API call failed: {type(error).__name__}")
        raise WeChatApiError("unreachable")  # pragma: no cover

    # sending ----------------------------------------------------------------------------
    async def window_closed(self, openid: str) -> bool:
        """The customer's 48-hour window is known to be closed."""
        return bool(await self.redis.exists(self.closed_key(openid)))

    async def reopen_window(self, openid: str) -> None:
        """The customer wrote: customer-service messages may go out again."""
        await self.redis.delete(self.closed_key(openid))

    async def send(self, openid: str, payload: Dict[str, Any]) -> bool:
        """Sends one customer-service message (客服消息).

        Args:
            openid: The customer.
            payload: The message without ``touser`` (``{"msgtype": "text", "text": {...}}``).

        Returns:
            True when WeChat accepted it; False when the customer's 48-hour window is closed
            (nothing is sent; their open tickets were marked for another contact route).

        Raises:
            WeChatApiError: WeChat refused the message or could not be reached.
        """
        if await self.window_closed(openid):
            logger.warning("WeChat message to %s not sent: 48-hour window closed", mask_pii(openid))
            return False
        body = json.dumps(dict(payload, touser=openid), ensure_ascii=False).encode("utf-8")
        url = f"{self.config.api_base}/cgi-bin/message/custom/send"
        for attempt in (1, 2):
            token = await self.access_token()
            data = await self._call("POST", url, params={"access_token": token}, body=body)
            errcode = _errcode(data)
            if errcode == 0:
                return True
            if errcode in TOKEN_ERRORS and attempt == 1:
                logger.info("WeChat access token rejected (errcode %s); refreshing once", errcode)
                await self.drop_token(token)
                continue
            if errcode == WINDOW_CLOSED:
                await self._close_window(openid)
                return False
            raise WeChatApiError(f"WeChat refused the message: errcode {errcode} {str(data.get('errmsg') or '')[:100]}", errcode)
        raise WeChatApiError("unreachable")  # pragma: no cover

    async def send_text(self, openid: str, text: str) -> bool:
        """Sends a text message (see :meth:`send`)."""
        return await self.send(openid, {"msgtype": "text", "text": {"content": text}})

    async def _close_window(self, openid: str) -> None:
        """Stops sending to the customer and marks their open tickets, once per closure."""
        first = await self.redis.set(self.closed_key(openid), str(int(time.time())), nx=True, ex=WINDOW_CLOSED_TTL)
        logger.warning("WeChat 48-hour window of %s is closed; messages stop until they write again", mask_pii(openid))
        if first:
            await mark_tickets_for_other_contact(self.redis, openid)


async def mark_tickets_for_other_contact(redis: Any, openid: str, *, now: Optional[float] = None) -> List[str]:
    """Notes on every open ticket of the customer that WeChat can no longer reach them.

    Adds a history entry (``48小时窗口已关闭，需要其他联系方式``) and sets
    ``facts["contact_route_needed"] = True`` and ``facts["wechat_window_closed_at"]``.

    Returns:
        The ids of the tickets marked (errors are logged, not raised).
    """
    sender_id = sender_id_for(openid)
    marked: List[str] = []
    try:
        store = stores.ticket_store(redis)
        tickets = await store.open_or_recent(customer_id=sender_id, sender_id=sender_id)
        for ticket in tickets:
            if not ticket.is_open:
                continue
            facts = dict(ticket.facts or {}, contact_route_needed=True,
                         wechat_window_closed_at=time.time() if now is None else now)
            await store.update(ticket.id, actor="wechat", note=WINDOW_CLOSED_NOTE, facts=facts)
            marked.append(ticket.id)
    except Exception:  # noqa: BLE001 - the send path must not fail on this
        logger.exception("could not mark the tickets of %s after the 48-hour window closed", mask_pii(openid))
    if marked:
        logger.warning("tickets %s of %s need another contact route", ", ".join(marked), mask_pii(openid))
    return marked


def _errcode(data: Dict[str, Any]) -> int:
    try:
        return int(data.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1


# ---- output channel -------------------------------------------------------------------------


class WeChatOutput(OutputChannel):
    """Sends the bot's and the agents' messages through the customer-service API.

    Buttons are written out as text, images as their URL, and a ``custom`` payload that is a
    WeChat message (it has ``msgtype``) is sent as it is. A message to a customer whose 48-hour
    window is closed is not sent (logged; their tickets carry a note); other failures raise
    :class:`WeChatApiError`.
    """

    @classmethod
    def name(cls) -> Text:
        """Channel name."""
        return CHANNEL

    def __init__(self, api: WeChatApi) -> None:
        self.api = api
        self.delivered: List[bool] = []  # one entry per message sent: False when the window was closed

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """Sends a text."""
        if text and text.strip():
            self.delivered.append(await self.api.send_text(openid_of(recipient_id), text))

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]],
                                     **kwargs: Any) -> None:
        """Sends the text with the choices written out."""
        await self.send_text_message(recipient_id, text_with_buttons(text or "", buttons))

    async def send_quick_replies(self, recipient_id: Text, text: Text, quick_replies: List[Dict[Text, Any]],
                                 **kwargs: Any) -> None:
        """Quick replies are written out like buttons."""
        await self.send_text_with_buttons(recipient_id, text, quick_replies)

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        """WeChat needs an uploaded media id for images: the link is sent instead."""
        await self.send_text_message(recipient_id, str(image))

    async def send_attachment(self, recipient_id: Text, attachment: Any, **kwargs: Any) -> None:
        """Sends the attachment's link as text."""
        await self.send_text_message(recipient_id, str(attachment))

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        """A native WeChat message (with ``msgtype``) is sent as it is; anything else is skipped."""
        if isinstance(json_message, dict) and json_message.get("msgtype"):
            self.delivered.append(
                await self.api.send(openid_of(recipient_id), {k: v for k, v in json_message.items() if k != "touser"}))
        else:
            logger.info("custom payload for %s skipped on WeChat", mask_pii(recipient_id))

    async def send_elements(self, recipient_id: Text, elements: Iterable[Any], **kwargs: Any) -> None:
        """Elements (carousels) have no WeChat form: their titles are sent as text."""
        titles = [str(e.get("title")) for e in elements if isinstance(e, dict) and e.get("title")]
        if titles:
            await self.send_text_message(recipient_id, "\n".join(titles))


# ---- input channel --------------------------------------------------------------------------


class WeChatInput(InputChannel):
    """The WeChat Official Account webhook (see the module docstring).

    Args:
        config: The channel's settings.
        redis: A ``redis.asyncio`` client; from the ``REDIS_*`` environment when not given.
    """

    @classmethod
    def name(cls) -> Text:
        """Mounted at ``/webhooks/wechat``."""
        return CHANNEL

    def __init__(self, config: WeChatConfig, redis: Any = None) -> None:
        self.config = config
        self.api = WeChatApi(config, redis)
        self.tasks = OrderedTasks(CHANNEL)
        self._crypto: Any = None
        if config.safe_mode:
            from wechatpy.crypto import WeChatCrypto

            self._crypto = WeChatCrypto(config.token, config.encoding_aes_key, config.app_id)

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeChatInput":
        """Settings from credentials.yml, else ``WECHAT_*`` variables.

        Raises:
            WeChatConfigError: token, AppID or AppSecret missing, or a malformed AES key.
        """
        return cls(WeChatConfig.load(credentials))

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Agents' messages and follow-ups go out through the customer-service API."""
        return WeChatOutput(self.api)

    @property
    def pending(self) -> int:
        """Messages still being processed in the background."""
        return self.tasks.pending

    async def drain(self, timeout: float = 10.0) -> None:
        """Waits for the background work (at shutdown, and in tests); cancels it after ``timeout``."""
        await self.tasks.drain(timeout)

    # routes -----------------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Health route, URL verification (GET) and the message webhook (POST)."""
        install_log_masking()
        guard.install()
        webhook = Blueprint("wechat_webhook", __name__)

        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok", "safe_mode": self.config.safe_mode})

        async def verify(request: Request) -> HTTPResponse:
            args = request.args
            signature, timestamp, nonce = args.get("signature"), args.get("timestamp"), args.get("nonce")
            echostr = args.get("echostr")
            if not (signature and timestamp and nonce and echostr):
                return response.text("missing signature, timestamp, nonce or echostr", status=400)
            if not verify_request(self.config.token, signature, timestamp, nonce, window=self.config.timestamp_window):
                return response.text("forbidden", status=403)
            if len(echostr) > MAX_ECHOSTR_CHARS:
                return response.text("echostr too long", status=400)
            return response.text(echostr)

        async def receive(request: Request) -> HTTPResponse:
            try:
                return await self._receive(request, on_new_message)
            except Exception:  # noqa: BLE001 - never a stack trace to the client
                logger.exception("WeChat delivery could not be handled")
                return response.text("error", status=500)

        async def stop(app: Any, loop: Any) -> None:
            await self.drain()
            await self.api.close()

        webhook.add_route(health, "/", methods=["GET"])
        webhook.add_route(verify, "/webhook", methods=["GET"])
        webhook.add_route(receive, "/webhook", methods=["POST"], stream=True)
        webhook.listener("before_server_stop")(stop)
        return webhook

    async def _receive(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        args = request.args
        signature, timestamp, nonce = args.get("signature"), args.get("timestamp"), args.get("nonce")
        if not (signature and timestamp and nonce):
            return response.text("missing signature, timestamp or nonce", status=400)
        if not verify_request(self.config.token, signature, timestamp, nonce, window=self.config.timestamp_window):
            return response.text("forbidden", status=403)
        body = await read_body(request, MAX_BODY_BYTES)
        if body is None:
            return response.text("request body too large", status=413)

        encrypted = (args.get("encrypt_type") or "").lower() == "aes"
        try:
            if self.config.safe_mode:
                if not encrypted:
                    return response.text("encrypted messages expected (safe mode)", status=400)
                msg_signature = args.get("msg_signature")
                if not msg_signature:
                    return response.text("missing msg_signature", status=400)
                envelope = safe_xml_fields(body)
                encrypt = envelope.get("Encrypt") or ""
                if not encrypt:
                    return response.text("missing Encrypt", status=400)
                if not verify_request(self.config.token, msg_signature, timestamp, nonce, encrypt,
                                      window=self.config.timestamp_window):
                    return response.text("forbidden", status=403)
                plain = self._decrypt(encrypt, msg_signature, timestamp, nonce)
            elif encrypted:
                return response.text("encrypted message but no WECHAT_ENCODING_AES_KEY configured", status=400)
            else:
                plain = body
            inbound = parse_inbound(plain)
        except _Forbidden:
            return response.text("forbidden", status=403)
        except XmlRejected as error:
            logger.info("WeChat delivery refused: %s", error)
            return response.text(f"bad request: {error}", status=400)

        query_openid = args.get("openid")
        if query_openid and query_openid != inbound.openid:
            return response.text("bad request: openid does not match FromUserName", status=400)

        try:
            first = await self.api.redis.set(dedup_key(self.config.app_id, inbound), "1", nx=True, ex=DEDUP_TTL)
        except Exception as error:  # noqa: BLE001 - WeChat retries; nothing is lost
            logger.error("WeChat delivery not accepted, Redis unavailable: %s", type(error).__name__)
            return response.text("temporarily unavailable", status=503)
        if not first:
            logger.info("duplicate WeChat delivery %s dropped", inbound.dedup_key)
            return response.text("success")
        self.tasks.spawn(inbound.openid, lambda: self._process(request.app, inbound, on_new_message),
                         name=inbound.dedup_key)
        return response.text("success")

    def _decrypt(self, encrypt: str, msg_signature: str, timestamp: str, nonce: str) -> bytes:
        from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

        try:
            plain = self._crypto.decrypt_message({"Encrypt": encrypt}, msg_signature, timestamp, nonce)
        except (InvalidAppIdException, InvalidSignatureException):
            raise _Forbidden()
        except Exception as error:  # noqa: BLE001 - bad base64, padding, encoding
            raise XmlRejected(f"cannot decrypt: {type(error).__name__}")
        return plain.encode("utf-8") if isinstance(plain, str) else plain

    # background work --------------------------------------------------------------------
    async def _process(self, app: Any, inbound: Inbound, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Handles one accepted delivery; every failure is logged, none escapes."""
        try:
            if inbound.event != "unsubscribe":
                await self.api.reopen_window(inbound.openid)
            if inbound.kind == "bot":
                await self._run_turn(app, inbound, on_new_message)
            elif inbound.kind == "welcome":
                await self._reply(app, inbound.sender_id, (WELCOME_RESPONSE, FALLBACK_WELCOME))
            elif inbound.kind == "voice_not_recognised":
                await self._reply(app, inbound.sender_id, VOICE_NOT_RECOGNISED)
            elif inbound.kind == "unsupported":
                logger.info("unsupported WeChat message type %s from %s", inbound.msg_type, mask_pii(inbound.openid))
                await self._reply(app, inbound.sender_id, UNSUPPORTED_MESSAGE)
        except Exception:  # noqa: BLE001 - a background task must not die silently
            logger.exception("WeChat delivery %s from %s failed", inbound.dedup_key, mask_pii(inbound.openid))

    async def _run_turn(self, app: Any, inbound: Inbound, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        message = UserMessage(inbound.text, None, inbound.sender_id, input_channel=self.name(),
                              metadata=inbound.metadata, message_id=inbound.message_id)
        replies, _ = await delivery.run_turn(app.ctx.agent, on_new_message, message)
        await self._send_all(inbound.sender_id, replies)

    async def _send_all(self, sender_id: str, messages: List[Dict[str, Any]]) -> None:
        output = WeChatOutput(self.api)
        for message in messages:
            try:
                await output.send_response(sender_id, {k: v for k, v in message.items() if k != "recipient_id"})
            except Exception as error:  # noqa: BLE001 - logged; the transcript keeps the reply
                logger.error("reply to %s not delivered on WeChat: %s", mask_pii(sender_id), error)

    async def _reply(self, app: Any, sender_id: str, response_and_fallback: tuple[str, str]) -> None:
        """A fixed reply: the domain response if defined, else the fallback text.

        Recorded in the conversation when there is one (``delivery.send``), sent directly otherwise.
        """
        response_name, fallback = response_and_fallback
        agent = app.ctx.agent
        message: Dict[str, Any] = {}
        try:
            if response_name in (agent.domain.responses if agent.domain else {}):
                message = await delivery.render(agent, response_name, sender_id, self.name())
        except Exception:  # noqa: BLE001 - the fallback text still goes out
            logger.exception("could not render %s for %s", response_name, mask_pii(sender_id))
        if not (message.get("text") or "").strip():
            message = {"text": fallback}
        try:
            await delivery.send(app, sender_id, message, author="bot")
        except LookupError:  # no conversation yet (a new follower)
            await WeChatOutput(self.api).send_response(sender_id, dict(message))
        except delivery.NotDelivered as error:
            logger.warning("reply to %s not delivered on WeChat: %s", mask_pii(sender_id), error)


class _Forbidden(Exception):
    """A signed part does not verify (answered 403)."""
