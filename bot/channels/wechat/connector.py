"""The WeChat Official Account connector (公众号): ``WeChatInput`` / ``WeChatOutput``.

Mounted at ``/webhooks/wechat``: ``GET /webhooks/wechat/`` health, ``GET .../webhook`` WeChat's
URL check (echoes ``echostr`` after the signature check), ``POST .../webhook`` messages. What
happens to a delivery, in this order:

1. signature and freshness (:mod:`.security`): 400 / 403;
2. size: a body over 64 KB -> 413, streamed and never buffered beyond that;
3. safe-mode envelope and XML safety (:mod:`.security`), then parsing (:mod:`.inbound`): 400 / 403;
4. duplicates: WeChat waits 5 s and retries three times; a delivery is claimed with an atomic
   ``SET NX EX`` on its id, a repeat is answered ``success`` and dropped; Redis down -> 503;
5. a message for the bot goes into the customer's inbox (:func:`bot.services.turns.enqueue`;
   Redis down -> 503 and the claim is given back, so WeChat's retry is taken);
6. ``success`` at once; the turn runs in a background task (one customer's lines in arrival
   order and a quick burst read as one turn, by the inbox, on any worker or replica; the
   channel's own replies in arrival order per customer, :class:`bot.channels.common.OrderedTasks`),
   and the replies go out through the customer-service API (:mod:`.api`).

Replies the channel gives itself come from ``domain.yml``: ``utter_greet`` on ``subscribe``,
``utter_wechat_voice_not_recognised`` for voice without a transcript,
``utter_wechat_unsupported_message`` for video, location, links and other types.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Iterable, List, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.common import OrderedTasks, read_body
from bot.channels.wechat.api import WeChatApi
from bot.channels.wechat.config import CHANNEL, WeChatConfig
from bot.channels.wechat.inbound import DEDUP_TTL, Inbound, dedup_key, openid_of, parse_inbound
from bot.channels.wechat.security import Envelope, Refused, XmlRejected, check_signed
from bot.privacy import install_log_masking, mask_pii
from bot.rasa_ext import guard
from bot.services import delivery, turns

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_ECHOSTR_CHARS = 256
DRAIN_SECONDS = 10.0
WELCOME_RESPONSE = "utter_greet"
VOICE_NOT_RECOGNISED = "utter_wechat_voice_not_recognised"
UNSUPPORTED_MESSAGE = "utter_wechat_unsupported_message"
RESPONSES = (WELCOME_RESPONSE, VOICE_NOT_RECOGNISED, UNSUPPORTED_MESSAGE)
"""The domain responses this channel sends by itself (a test checks ``domain.yml`` has them)."""

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


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


class WeChatOutput(OutputChannel):
    """Sends the bot's and the agents' messages through the customer-service API.

    Buttons are written out as text, images as their URL, and a ``custom`` payload that is a
    WeChat message (it has ``msgtype``) is sent as it is. A message to a customer whose 48-hour
    window is closed is not sent (``delivered`` gets False; their tickets carry a note); other
    failures raise :class:`~bot.channels.wechat.api.WeChatApiError`.
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

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        """Sends the text with the choices written out."""
        await self.send_text_message(recipient_id, text_with_buttons(text or "", buttons))

    async def send_quick_replies(
        self, recipient_id: Text, text: Text, quick_replies: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
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
            payload = {k: v for k, v in json_message.items() if k != "touser"}
            self.delivered.append(await self.api.send(openid_of(recipient_id), payload))
        else:
            logger.info("custom payload for %s skipped on WeChat", mask_pii(recipient_id))

    async def send_elements(self, recipient_id: Text, elements: Iterable[Any], **kwargs: Any) -> None:
        """Elements (carousels) have no WeChat form: their titles are sent as text."""
        titles = [str(e.get("title")) for e in elements if isinstance(e, dict) and e.get("title")]
        if titles:
            await self.send_text_message(recipient_id, "\n".join(titles))


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

    def __init__(self, config: WeChatConfig, redis: Optional[Redis] = None) -> None:
        self.config = config
        self.api = WeChatApi(config, redis)
        self.envelope = Envelope(config)
        self.tasks = OrderedTasks(CHANNEL)

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

    async def drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Waits for the background work (at shutdown, and in tests); cancels it after ``timeout``."""
        await self.tasks.drain(timeout)

    # routes -----------------------------------------------------------------------------
    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """Health route, URL verification (GET) and the message webhook (POST)."""
        install_log_masking()
        guard.install()
        webhook = Blueprint("wechat_webhook", __name__)

        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok", "safe_mode": self.config.safe_mode})

        async def verify(request: Request) -> HTTPResponse:
            echostr = request.args.get("echostr")
            if not echostr:
                return response.text("missing signature, timestamp, nonce or echostr", status=400)
            try:
                check_signed(self.config, request.args)
            except Refused as refused:
                return response.text(refused.reason, status=refused.status)
            if len(echostr) > MAX_ECHOSTR_CHARS:
                return response.text("echostr too long", status=400)
            return response.text(echostr)

        async def receive(request: Request) -> HTTPResponse:
            try:
                return await self._receive(request, on_new_message)
            except Exception:  # noqa: BLE001 - never a stack trace to the client
                logger.exception("WeChat delivery could not be handled")
                return response.text("error", status=500)

        async def stop(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
            await self.drain()
            await self.api.close()

        webhook.add_route(health, "/", methods=["GET"])
        webhook.add_route(verify, "/webhook", methods=["GET"])
        webhook.add_route(receive, "/webhook", methods=["POST"], stream=True)
        webhook.listener("before_server_stop")(stop)
        return webhook

    async def _receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
        args = request.args
        try:
            check_signed(self.config, args)
            body = await read_body(request, MAX_BODY_BYTES)
            if body is None:
                return response.text("request body too large", status=413)
            inbound = parse_inbound(self.envelope.open(args, body))
        except Refused as refused:
            return response.text(refused.reason, status=refused.status)
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
        queued: Optional[turns.Queued] = None
        if inbound.kind == "bot":
            # into the customer's inbox before "success": a worker that dies after answering WeChat
            # loses nothing (another server's sweep answers it, bot/services/turns.py)
            try:
                queued = await turns.enqueue(self._user_message(inbound))
            except Exception as error:  # noqa: BLE001 - WeChat retries; the claim is given back
                logger.error("WeChat delivery not queued, Redis unavailable: %s", type(error).__name__)
                await self._release_claim(inbound)
                return response.text("temporarily unavailable", status=503)
        app = request.app
        # Bot turns are ordered by the inbox (across workers and replicas), not by the task queue:
        # each runs in its own task so a burst's lines wait for the window together.
        key = inbound.dedup_key if queued is not None else inbound.openid
        self.tasks.spawn(key, lambda: self._process(app, inbound, on_new_message, queued), name=inbound.dedup_key)
        return response.text("success")

    async def _release_claim(self, inbound: Inbound) -> None:
        try:
            await self.api.redis.delete(dedup_key(self.config.app_id, inbound))
        except Exception:  # noqa: BLE001 - the claim expires; WeChat's retry is then dropped
            logger.warning("claim of WeChat delivery %s not released", inbound.dedup_key)

    def _user_message(self, inbound: Inbound) -> UserMessage:
        return UserMessage(
            inbound.text,
            None,
            inbound.sender_id,
            input_channel=self.name(),
            metadata=inbound.metadata,
            message_id=inbound.message_id,
        )

    # background work --------------------------------------------------------------------
    async def _process(
        self, app: Sanic, inbound: Inbound, on_new_message: OnNewMessage, queued: Optional[turns.Queued] = None
    ) -> None:
        """Handles one accepted delivery; every failure is logged, none escapes."""
        try:
            if inbound.event != "unsubscribe":
                await self.api.reopen_window(inbound.openid)
            if inbound.kind == "bot":
                await self._run_turn(app, inbound, on_new_message, queued)
            elif inbound.kind == "welcome":
                await self._reply(app, inbound.sender_id, WELCOME_RESPONSE)
            elif inbound.kind == "voice_not_recognised":
                await self._reply(app, inbound.sender_id, VOICE_NOT_RECOGNISED)
            elif inbound.kind == "unsupported":
                logger.info("unsupported WeChat message type %s from %s", inbound.msg_type, mask_pii(inbound.openid))
                await self._reply(app, inbound.sender_id, UNSUPPORTED_MESSAGE)
        except Exception:  # noqa: BLE001 - a background task must not die silently
            logger.exception("WeChat delivery %s from %s failed", inbound.dedup_key, mask_pii(inbound.openid))

    async def _run_turn(
        self, app: Sanic, inbound: Inbound, on_new_message: OnNewMessage, queued: Optional[turns.Queued] = None
    ) -> None:
        message = self._user_message(inbound)
        output = WeChatOutput(self.api)

        async def deliver(replies: List[Dict[str, Any]], channel: str) -> None:
            for reply in replies:
                try:
                    await output.send_response(
                        inbound.sender_id, {k: v for k, v in reply.items() if k != "recipient_id"}
                    )
                except Exception as error:  # noqa: BLE001 - logged; the transcript keeps the reply
                    logger.error("reply to %s not delivered on WeChat: %s", mask_pii(inbound.sender_id), error)

        # None: read together with the customer's next line(s), whose turn answers
        await turns.answer(app.ctx.agent, on_new_message, message, deliver, queued=queued)

    async def _reply(self, app: Sanic, sender_id: str, response_name: str) -> None:
        """A reply of the channel's own, from ``domain.yml`` (:func:`bot.services.delivery.fixed_reply`).

        Recorded in the conversation when there is one (``delivery.send``), sent directly otherwise.
        """
        message = await delivery.fixed_reply(app.ctx.agent, response_name, sender_id, self.name())
        try:
            await delivery.send(app, sender_id, message, author="bot")
        except LookupError:  # no conversation yet (a new follower)
            await WeChatOutput(self.api).send_response(sender_id, dict(message))
        except delivery.NotDelivered as error:
            logger.warning("reply to %s not delivered on WeChat: %s", mask_pii(sender_id), error)
