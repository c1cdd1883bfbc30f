"""Taobao / Tmall channel: messages forwarded by the shop's Taobao integration (SPEC.md section 9).

Mounted at ``/webhooks/taobao`` (channel name ``taobao``): ``GET /webhooks/taobao/`` is the
health route, ``POST /webhooks/taobao/webhook`` receives one buyer message per request.

Inbound request
---------------
Signed like a Taobao Open Platform call (``bot/channels/taobao_sign.py``): query parameters
``app_key``, ``timestamp`` (``yyyy-MM-dd HH:mm:ss``, GMT+8, at most 10 minutes off),
``sign_method`` (``md5`` | ``hmac`` | ``hmac-sha256``) and ``sign``; the signature covers every
query parameter but ``sign`` plus the raw body. The body is one JSON object::

    class TaobaoMessage(TypedDict, total=False):
        buyer_nick: Required[str]         # the buyer's Taobao nick, 1-64 characters, no control characters
        message_id: Required[str | int]   # the platform's message id, unique per shop: 1-128 printable
                                          # ASCII characters without spaces (a number is accepted)
        timestamp: Required[str]          # when the buyer sent it: "yyyy-MM-dd HH:mm:ss", GMT+8
        text: str                         # what the buyer typed ("" allowed); required unless image_url is given
        image_url: str                    # an image the buyer sent: http(s) URL, at most 2,048 characters
        order_id: str | int | None        # the order (tid) the chat is about, when the integration knows it:
                                          # 1-64 characters of [0-9A-Za-z_-]

Other fields are ignored. Answers, in this order (never a stack trace):

* body over 64 KB -> 413
* a query parameter given twice -> 400; ``sign_method`` missing or unknown -> 400
* ``sign`` or ``app_key`` missing -> 401; ``timestamp`` missing, malformed or more than
  10 minutes off -> 403; wrong app key or wrong signature -> 401
* body not JSON, not an object, a field missing or of the wrong type/format -> 400;
  ``text`` longer than 20,000 characters -> 413
* Redis unreachable (deduplication impossible) -> 503, so the platform retries
* a ``message_id`` seen in the last 48 hours -> 200 ``{"success": true, "duplicate": true}``,
  not processed again (atomic ``SET NX EX``)
* otherwise -> 200 ``{"success": true, "message_id": ..., "duplicate": false}`` at once; the
  message is processed in a tracked background task and the bot's answers are posted to
  ``TAOBAO_REPLY_URL``.

Processing
----------
* sender id ``taobao:<nick>``: the nick as written (Chinese nicks stay readable for agents),
  with ``%``, ``/``, ``\\``, ``?``, ``#``, whitespace and other invisible characters
  percent-encoded so the id is safe in URL paths and can be turned back into the nick for
  replies; metadata ``{"customer_id": nick, "channel": "taobao", "message_id", "order_id",
  "sent_at"}`` (plus ``image``/``images`` for pictures), ``UserMessage.message_id`` is the
  platform's message id.
* messages of one buyer are handled one after the other, in arrival order (per worker).
* empty or whitespace-only text -> the ``/empty_message`` intent (same as the REST channel);
  a leading "/" is neutralised so buyers cannot trigger intents.
* image only -> not sent to NLU: the image URL is kept as evidence (Redis, 30 days) and
  attached to the buyer's next text message as ``metadata["image"]``/``metadata["images"]``
  (``validate_evidence`` reads ``image``); the buyer is asked to describe it
  (``utter_describe_image`` when the domain has it, else :data:`IMAGE_ONLY_REPLY`).
* text with an image -> the text goes to the bot with the image in the metadata.
* a failed custom action or a failure of the whole turn -> the buyer gets the error reply and
  the case is queued for a human (``delivery.system_error``); a turn that failed completely
  is also kept in the Redis list ``taobao:failed`` for replay and its id released (so is a
  message still running when the server stops and the drain timeout of 10 s is over).
* while a human has the conversation, the buyer hears that the message was passed on.

Outbound replies
----------------
POST ``TAOBAO_REPLY_URL`` with query parameters ``app_key``, ``timestamp``, ``sign_method``,
``sign`` (same algorithm, over the query parameters and the exact JSON body) and body::

    class TaobaoReply(TypedDict, total=False):
        buyer_nick: Required[str]
        reply_id: Required[str]           # idempotency key: identical on every retry of this reply
        in_reply_to: Optional[str]        # the message_id answered; None for agent and follow-up messages
        text: str
        image_url: str
        buttons: List[Dict[str, str]]     # {"title", "payload"}: quick replies; the payload is what the
                                          # buyer would type, the options are also listed in ``text``

A 2xx answer is success; connection errors, timeouts, 408, 429 and 5xx are retried (4 attempts
by default, backoff 0.5 s, 1 s, 2 s), then logged as errors (masked); other 4xx are logged at
once. A failed delivery never raises. Agents' messages and follow-ups use the same sender
through :meth:`TaobaoInput.get_output_channel`.

Configuration: ``TAOBAO_APP_KEY``, ``TAOBAO_APP_SECRET``, ``TAOBAO_REPLY_URL`` (environment, or
``app_key``/``app_secret``/``reply_url`` in ``credentials.yml``; optional ``reply_sign_method``,
``reply_attempts``, ``reply_timeout``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
import unicodedata
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set, Text, Tuple

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import taobao_sign

from bot.store import client as stores
from bot.rasa_ext import guard
from bot.services import delivery
from bot.channels.common import MAX_MESSAGE_CHARS, OrderedTasks, escape_user_text
from bot.privacy import install_log_masking, mask_pii

logger = logging.getLogger(__name__)

CHANNEL = "taobao"
SENDER_PREFIX = f"{CHANNEL}:"
MAX_BODY_BYTES = 64 * 1024
MAX_NICK_CHARS = 64
MAX_URL_CHARS = 2048
DEDUP_PREFIX = "taobao:msg"
DEDUP_TTL = 2 * 86400
IMAGES_PREFIX = "taobao:images"
IMAGES_TTL = 30 * 86400
MAX_PENDING_IMAGES = 20
FAILED_KEY = "taobao:failed"
FAILED_TTL = 7 * 86400
DRAIN_SECONDS = 10.0

IMAGE_ONLY_RESPONSE = "utter_describe_image"
IMAGE_ONLY_REPLY = "收到您发的图片了，已作为凭证保存。我暂时看不了图片内容，请用文字简单说一下图片里的情况或遇到的问题，我来帮您处理。"

_MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,128}")
_ORDER_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_UNSAFE_IN_ID = set("%/\\?#")


class TaobaoRequestError(ValueError):
    """A request answered with a 4xx and a JSON error (never processed)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class TaobaoMessage:
    """A validated inbound message (see the module docstring for the JSON)."""

    buyer_nick: str
    message_id: str
    sent_at: str
    text: str = ""
    image_url: Optional[str] = None
    order_id: Optional[str] = None

    @property
    def image_only(self) -> bool:
        """An image without any text."""
        return bool(self.image_url) and not self.text.strip()


# ---- identities ---------------------------------------------------------------------------


def sender_id_for(buyer_nick: str) -> str:
    """``taobao:<nick>`` with URL-unsafe and invisible characters percent-encoded (reversible)."""
    out = []
    for char in buyer_nick:
        if char in _UNSAFE_IN_ID or unicodedata.category(char)[0] in "CZ":
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
        else:
            out.append(char)
    return SENDER_PREFIX + "".join(out)


def nick_of(sender_id: str) -> str:
    """The buyer nick of a ``taobao:`` sender id.

    Raises:
        ValueError: not a Taobao sender id.
    """
    if not sender_id.startswith(SENDER_PREFIX) or len(sender_id) == len(SENDER_PREFIX):
        raise ValueError("not a Taobao sender id")
    return urllib.parse.unquote(sender_id[len(SENDER_PREFIX):], errors="strict")


# ---- request checks -----------------------------------------------------------------------


def query_params(query_string: str) -> Dict[str, str]:
    """The query parameters as a dict.

    Raises:
        TaobaoRequestError: a parameter appears twice (400).
    """
    params: Dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(query_string or "", keep_blank_values=True):
        if name in params:
            raise TaobaoRequestError(f"query parameter '{name}' given more than once")
        params[name] = value
    return params


def check_request(
    query_string: str, body: bytes, *, app_key: str, secret: str, now: Optional[float] = None
) -> Optional[Tuple[int, str]]:
    """Size, sign method, timestamp and signature of an inbound request.

    The decision itself is :func:`bot.channels.taobao_sign.verify`; this only picks the status code of a
    refusal (413, 400, 401 or 403).

    Returns:
        None for an acceptable request, else ``(status, reason)``.
    """
    if len(body) > MAX_BODY_BYTES:
        return 413, f"body larger than {MAX_BODY_BYTES} bytes"
    try:
        params = query_params(query_string)
    except TaobaoRequestError as error:
        return error.status, str(error)
    if params.get("sign_method") not in taobao_sign.SIGN_METHODS:
        return 400, f"sign_method must be one of {', '.join(taobao_sign.SIGN_METHODS)}"
    if taobao_sign.verify(params, body, app_key=app_key, secret=secret, now=now):
        return None
    if not params.get("sign") or not params.get("app_key"):
        return 401, "missing signature"
    if not taobao_sign.timestamp_fresh(params.get("timestamp"), now=now):
        return 403, "timestamp missing or outside the 10-minute window"
    return 401, "wrong signature"


def _encodable(value: str) -> bool:
    """False for strings JSON allowed but UTF-8 cannot carry (lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _identifier(data: Dict[str, Any], name: str, pattern: re.Pattern[str], *, required: bool) -> Optional[str]:
    value = data.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TaobaoRequestError(f"'{name}' is required (string)" if required else f"'{name}' must be a string")
    text = str(value)
    if not pattern.fullmatch(text):
        raise TaobaoRequestError(f"'{name}' has an invalid format")
    return text


def parse_message(body: bytes) -> TaobaoMessage:
    """Validates the JSON body of a (verified) request.

    Args:
        body: the raw request body.

    Returns:
        The message.

    Raises:
        TaobaoRequestError: with the HTTP status to answer (400 or 413).
    """
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        raise TaobaoRequestError("body must be a JSON object")
    if not isinstance(data, dict):
        raise TaobaoRequestError("body must be a JSON object")

    nick = data.get("buyer_nick")
    if not isinstance(nick, str) or not nick.strip():
        raise TaobaoRequestError("'buyer_nick' is required (string)")
    if len(nick) > MAX_NICK_CHARS or not _encodable(nick) or any(unicodedata.category(c) == "Cc" for c in nick):
        raise TaobaoRequestError(f"'buyer_nick' must be 1-{MAX_NICK_CHARS} characters without control characters")

    message_id = _identifier(data, "message_id", _MESSAGE_ID, required=True)
    order_id = _identifier(data, "order_id", _ORDER_ID, required=False)

    sent_at = data.get("timestamp")
    try:
        taobao_sign.parse_timestamp(sent_at)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise TaobaoRequestError("'timestamp' is required ('yyyy-MM-dd HH:mm:ss', GMT+8)")

    image_url = data.get("image_url")
    if image_url is not None:
        parsed = urllib.parse.urlsplit(image_url) if isinstance(image_url, str) else None
        if (
            parsed is None
            or parsed.scheme not in ("http", "https")
            or not parsed.netloc
            or len(image_url) > MAX_URL_CHARS
            or any(c.isspace() for c in image_url)
            or not _encodable(image_url)
        ):
            raise TaobaoRequestError("'image_url' must be an http(s) URL")

    text = data.get("text")
    if text is None and image_url is None:
        raise TaobaoRequestError("'text' or 'image_url' is required")
    if text is not None and (not isinstance(text, str) or not _encodable(text)):
        raise TaobaoRequestError("'text' must be a string")
    if text is not None and len(text) > MAX_MESSAGE_CHARS:
        raise TaobaoRequestError(f"'text' is longer than {MAX_MESSAGE_CHARS} characters", status=413)

    return TaobaoMessage(
        buyer_nick=nick,
        message_id=str(message_id),
        sent_at=sent_at,  # type: ignore[arg-type]
        text=text or "",
        image_url=image_url,
        order_id=order_id,
    )


def message_metadata(message: TaobaoMessage) -> Dict[str, Any]:
    """The metadata carried into the tracker (and from there into tickets)."""
    metadata: Dict[str, Any] = {
        "customer_id": message.buyer_nick,
        "channel": CHANNEL,
        "message_id": message.message_id,
        "order_id": message.order_id,
        "sent_at": message.sent_at,
    }
    if message.image_url:
        metadata["image"] = message.image_url
        metadata["images"] = [message.image_url]
    return metadata


# ---- outbound -----------------------------------------------------------------------------


def reply_body(buyer_nick: str, message: Dict[str, Any], *, reply_id: str, in_reply_to: Optional[str]) -> Optional[Dict[str, Any]]:
    """The JSON posted for one bot message (None when it has nothing Taobao can show)."""
    text = message.get("text") or ""
    image = message.get("image") or ""
    if not isinstance(text, str) or not isinstance(image, str):
        return None
    if not text.strip() and not image:
        return None
    body: Dict[str, Any] = {"buyer_nick": buyer_nick, "reply_id": reply_id, "in_reply_to": in_reply_to}
    if text.strip():
        body["text"] = text
    if image:
        body["image_url"] = image
    buttons = message.get("buttons") or message.get("quick_replies") or []
    choices = [
        {"title": str(b.get("title")), "payload": str(b.get("payload", b.get("title")))}
        for b in buttons
        if isinstance(b, dict) and b.get("title")
    ]
    if choices:
        body["buttons"] = choices
    return body


class ReplySender:
    """Posts signed replies to ``TAOBAO_REPLY_URL`` with bounded retries; never raises."""

    def __init__(
        self,
        url: str,
        app_key: str,
        secret: str,
        *,
        sign_method: str = "hmac-sha256",
        attempts: int = 4,
        timeout: float = 5.0,
        backoff: float = 0.5,
    ) -> None:
        if sign_method not in taobao_sign.SIGN_METHODS:
            raise ValueError(f"reply sign_method must be one of {taobao_sign.SIGN_METHODS}")
        parts = urllib.parse.urlsplit(url)
        self.base_url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self.url_params = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        self.app_key = app_key
        self.secret = secret
        self.sign_method = sign_method
        self.attempts = max(1, int(attempts))
        self.timeout = float(timeout)
        self.backoff = float(backoff)

    async def send(self, buyer_nick: str, message: Dict[str, Any], *, reply_id: str, in_reply_to: Optional[str] = None) -> bool:
        """Delivers one bot message.

        Args:
            buyer_nick: the recipient.
            message: a Rasa bot message (``text``, ``image``, ``buttons``, ...).
            reply_id: the idempotency key, sent unchanged on every attempt.
            in_reply_to: the buyer's message id this answers, if any.

        Returns:
            True when delivered (or nothing to deliver), False after giving up (logged).
        """
        body = reply_body(buyer_nick, message, reply_id=reply_id, in_reply_to=in_reply_to)
        if body is None:
            logger.debug("taobao: nothing sendable in a bot message for %s", mask_pii(buyer_nick))
            return True
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return await self.post(raw, what=f"reply {reply_id} to {buyer_nick}")

    async def post(self, raw: bytes, *, what: str) -> bool:
        """POSTs a JSON body, signed afresh for each attempt; retries transient failures."""
        import aiohttp
        from yarl import URL

        detail = "not attempted"
        attempt = 0
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
                for attempt in range(1, self.attempts + 1):
                    params = taobao_sign.signed_params(
                        raw, app_key=self.app_key, secret=self.secret, sign_method=self.sign_method, extra=self.url_params
                    )
                    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
                    retry = True
                    try:
                        async with session.post(
                            URL(f"{self.base_url}?{query}", encoded=True),
                            data=raw,
                            headers={"Content-Type": "application/json; charset=utf-8"},
                        ) as answer:
                            if 200 <= answer.status < 300:
                                return True
                            detail = f"HTTP {answer.status}"
                            retry = answer.status >= 500 or answer.status in (408, 429)
                    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
                        detail = f"{type(error).__name__}: {error}"
                    if not retry or attempt == self.attempts:
                        break
                    await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - a bad URL or a bug must not crash the worker
            detail = f"{type(error).__name__}: {error}"
        logger.error("taobao %s not delivered after %d attempt(s): %s", mask_pii(what), attempt, mask_pii(detail))
        return False


class TaobaoOutput(OutputChannel):
    """Sends bot messages to a buyer through the signed reply endpoint."""

    @classmethod
    def name(cls) -> Text:
        """Messages sent this way belong to the Taobao channel."""
        return CHANNEL

    def __init__(self, sender: ReplySender, in_reply_to: Optional[str] = None) -> None:
        self.sender = sender
        self.in_reply_to = in_reply_to
        self.delivered: List[bool] = []

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """One POST per bot message (text, image and buttons together)."""
        try:
            nick = nick_of(recipient_id)
        except ValueError:
            logger.error("taobao: cannot send to %s, not a Taobao conversation", mask_pii(str(recipient_id)))
            self.delivered.append(False)
            return
        reply_id = uuid.uuid4().hex
        self.delivered.append(await self.sender.send(nick, dict(message), reply_id=reply_id, in_reply_to=self.in_reply_to))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """Text only."""
        await self.send_response(recipient_id, {"text": text})

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        """An image by URL."""
        await self.send_response(recipient_id, {"image": image})


# ---- the channel --------------------------------------------------------------------------


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class TaobaoInput(InputChannel):
    """Buyer messages forwarded by the shop's Taobao/Tmall integration."""

    @classmethod
    def name(cls) -> Text:
        """Mounted at ``/webhooks/taobao``."""
        return CHANNEL

    def __init__(
        self,
        app_key: str,
        app_secret: str,
        reply_url: str,
        *,
        reply_sign_method: str = "hmac-sha256",
        reply_attempts: int = 4,
        reply_timeout: float = 5.0,
        reply_backoff: float = 0.5,
    ) -> None:
        self.app_key = app_key
        self.app_secret = app_secret
        self.sender = ReplySender(
            reply_url, app_key, app_secret, sign_method=reply_sign_method, attempts=reply_attempts,
            timeout=reply_timeout, backoff=reply_backoff,
        )
        self._client: Any = None
        self.tasks = OrderedTasks(CHANNEL)

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TaobaoInput":
        """``app_key``/``app_secret``/``reply_url`` from credentials.yml or ``TAOBAO_*`` variables.

        Raises:
            RasaException: the app key, the app secret or the reply URL is missing or invalid.
        """
        credentials = credentials or {}
        app_key = str(credentials.get("app_key") or os.environ.get("TAOBAO_APP_KEY") or "").strip()
        secret = str(credentials.get("app_secret") or os.environ.get("TAOBAO_APP_SECRET") or "").strip()
        reply_url = str(credentials.get("reply_url") or os.environ.get("TAOBAO_REPLY_URL") or "").strip()
        missing = [name for name, value in (("TAOBAO_APP_KEY", app_key), ("TAOBAO_APP_SECRET", secret),
                                            ("TAOBAO_REPLY_URL", reply_url)) if not value]
        if missing:
            raise RasaException(
                f"The taobao channel needs {', '.join(missing)}: set the environment variable(s) or "
                "app_key/app_secret/reply_url under bot.channels.taobao.TaobaoInput in credentials.yml."
            )
        if urllib.parse.urlsplit(reply_url).scheme not in ("http", "https"):
            raise RasaException("TAOBAO_REPLY_URL must be an http(s) URL")
        sign_method = str(credentials.get("reply_sign_method") or "hmac-sha256")
        if sign_method not in taobao_sign.SIGN_METHODS:
            raise RasaException(f"reply_sign_method must be one of {', '.join(taobao_sign.SIGN_METHODS)}")
        return cls(
            app_key, secret, reply_url, reply_sign_method=sign_method,
            reply_attempts=int(credentials.get("reply_attempts") or 4),
            reply_timeout=float(credentials.get("reply_timeout") or 5.0),
        )

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Agents' messages and follow-ups go out through the signed reply endpoint."""
        return TaobaoOutput(self.sender)

    def redis(self) -> Any:
        """The Redis client (created lazily, in the worker's event loop)."""
        if self._client is None:
            self._client = stores.redis_from_env()
        return self._client

    # ---- routes ---------------------------------------------------------------------------

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """Health route and the signed webhook; processing is done in background tasks."""
        install_log_masking()
        guard.install()
        webhook = Blueprint("taobao_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = request.body or b""
            refusal = check_request(request.query_string, body, app_key=self.app_key, secret=self.app_secret)
            if refusal is not None:
                status, reason = refusal
                logger.warning("taobao webhook refused (%d): %s", status, reason)
                return response.json({"success": False, "error": reason}, status=status)
            try:
                message = parse_message(body)
            except TaobaoRequestError as error:
                return response.json({"success": False, "error": str(error)}, status=error.status)
            try:
                first = await self.claim(message.message_id)
            except Exception as error:  # noqa: BLE001 - no ack: the platform will retry
                logger.error("taobao: cannot deduplicate message %s (%s), answering 503", message.message_id, error)
                return response.json({"success": False, "error": "temporarily unavailable, please retry"}, status=503)
            if first:
                try:
                    self.spawn(request.app, on_new_message, message)
                except Exception:  # noqa: BLE001 - not acknowledged, so the platform retries
                    logger.exception("taobao: message %s could not be scheduled", message.message_id)
                    await self._release(message.message_id)
                    return response.json({"success": False, "error": "temporarily unavailable, please retry"},
                                         status=503)
            else:
                logger.info("taobao: duplicate delivery of message %s dropped", message.message_id)
            return response.json({"success": True, "message_id": message.message_id, "duplicate": not first})

        @webhook.listener("before_server_stop")
        async def drain(app: Any, loop: Any) -> None:
            await self.drain()

        return webhook

    # ---- background processing ------------------------------------------------------------

    async def claim(self, message_id: str) -> bool:
        """Atomically marks a message id as seen; False when it was seen before."""
        return bool(await self.redis().set(f"{DEDUP_PREFIX}:{message_id}", str(time.time()), nx=True, ex=DEDUP_TTL))

    def spawn(self, app: Any, on_new_message: OnNewMessage, message: TaobaoMessage) -> "asyncio.Task[None]":
        """Processes ``message`` in a tracked task, after the buyer's previous message."""
        return self.tasks.spawn(sender_id_for(message.buyer_nick),
                                lambda: self._process(app, on_new_message, message), name=message.message_id)

    async def drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Waits for messages in progress (at shutdown); cancels what is left after ``timeout``."""
        await self.tasks.drain(timeout)

    async def _process(self, app: Any, on_new_message: OnNewMessage, message: TaobaoMessage) -> None:
        try:
            await self.handle(app, on_new_message, message)
        except asyncio.CancelledError:
            await self._keep_failed(message)  # acknowledged but not answered: keep it for replay
            raise
        except Exception:  # noqa: BLE001 - one bad message must not stop the worker
            logger.exception("taobao: message %s from %s could not be handled", message.message_id,
                             mask_pii(message.buyer_nick))

    async def handle(self, app: Any, on_new_message: OnNewMessage, message: TaobaoMessage) -> None:
        """Runs one buyer message through the bot and posts the answers."""
        sender_id = sender_id_for(message.buyer_nick)
        agent = getattr(app.ctx, "agent", None)
        if message.image_only:
            await self._keep_image(sender_id, message)
            reply = await self._render(agent, IMAGE_ONLY_RESPONSE, sender_id, IMAGE_ONLY_REPLY)
            await self.deliver(sender_id, [reply], message.message_id)
            return

        metadata = message_metadata(message)
        earlier = await self._take_images(sender_id)
        if earlier:
            metadata["images"] = earlier + metadata.get("images", [])
            metadata.setdefault("image", earlier[-1])
        turn = UserMessage(escape_user_text(message.text), None, sender_id, input_channel=CHANNEL,
                           message_id=message.message_id, metadata=metadata)
        replies, crashed = await delivery.run_turn(agent, on_new_message, turn)
        if crashed:  # the buyer is told and the case queued; the message is kept for replay
            await self._keep_failed(message)
        await self.deliver(sender_id, replies, message.message_id)

    async def deliver(self, sender_id: str, replies: List[Dict[str, Any]], in_reply_to: str) -> None:
        """Posts the answers to one buyer message, in order; reply ids ``<message_id>:<n>``."""
        nick = nick_of(sender_id)
        for index, reply in enumerate(replies):
            await self.sender.send(nick, dict(reply), reply_id=f"{in_reply_to}:{index}", in_reply_to=in_reply_to)

    # ---- helpers --------------------------------------------------------------------------

    async def _render(self, agent: Any, response_name: str, sender_id: str, fallback: str) -> Dict[str, Any]:
        if agent is not None:
            try:
                message = await delivery.render(agent, response_name, sender_id, CHANNEL)
                if message.get("text"):
                    return message
            except Exception:  # noqa: BLE001 - the fixed text will do
                logger.warning("taobao: could not render %s, using the built-in text", response_name)
        return {"text": fallback}

    async def _keep_image(self, sender_id: str, message: TaobaoMessage) -> None:
        key = f"{IMAGES_PREFIX}:{sender_id}"
        try:
            pipe = self.redis().pipeline(transaction=True)
            pipe.rpush(key, str(message.image_url))
            pipe.ltrim(key, -MAX_PENDING_IMAGES, -1)
            pipe.expire(key, IMAGES_TTL)
            await pipe.execute()
        except Exception as error:  # noqa: BLE001 - the URL is at least in the log
            logger.error("taobao: image %s of message %s not kept: %s", message.image_url, message.message_id, error)
        logger.info("taobao: image-only message %s from %s kept as evidence", message.message_id,
                    mask_pii(message.buyer_nick))

    async def _take_images(self, sender_id: str) -> List[str]:
        key = f"{IMAGES_PREFIX}:{sender_id}"
        try:
            pipe = self.redis().pipeline(transaction=True)
            pipe.lrange(key, 0, -1)
            pipe.delete(key)
            images, _ = await pipe.execute()
            return [str(i) for i in images]
        except Exception as error:  # noqa: BLE001 - they stay in Redis for the next message
            logger.error("taobao: earlier images of %s not read: %s", mask_pii(sender_id), error)
            return []

    async def _release(self, message_id: str) -> None:
        try:
            await self.redis().delete(f"{DEDUP_PREFIX}:{message_id}")
        except Exception as error:  # noqa: BLE001
            logger.error("taobao: could not release message id %s: %s", message_id, error)

    async def _keep_failed(self, message: TaobaoMessage) -> None:
        """Keeps a message whose turn failed for replay and lets a redelivery through."""
        record = json.dumps({"message": message.__dict__, "failed_at": time.time()}, ensure_ascii=False)
        try:
            pipe = self.redis().pipeline(transaction=True)
            pipe.rpush(FAILED_KEY, record)
            pipe.expire(FAILED_KEY, FAILED_TTL)
            pipe.delete(f"{DEDUP_PREFIX}:{message.message_id}")
            await pipe.execute()
        except Exception as error:  # noqa: BLE001
            logger.error("taobao: failed message %s not kept: %s", message.message_id, error)
