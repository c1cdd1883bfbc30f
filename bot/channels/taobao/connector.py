"""The Taobao / Tmall connector: ``TaobaoInput`` (mounted at ``/webhooks/taobao``).

``GET /webhooks/taobao/`` is the health route, ``POST /webhooks/taobao/webhook`` receives one
buyer message per request (checked by :mod:`.inbound`). Then:

* Redis unreachable (deduplication impossible) -> 503, so the platform retries;
* a ``message_id`` seen in the last 48 hours -> 200 ``{"success": true, "duplicate": true}``,
  not processed again (atomic ``SET NX EX``);
* otherwise -> 200 ``{"success": true, "message_id": ..., "duplicate": false}`` at once; the
  message runs in a background task of its own; the buyer's inbox (:mod:`bot.services.turns`)
  keeps their lines in arrival order and reads a quick burst as one turn, and the answers are
  posted by :mod:`.replies`. (Unlike WeChat, the message enters the inbox in that task, right
  after the acknowledgement, since an earlier image-only message is attached to it there: a
  process killed in between loses it.)

Processing: text (empty -> ``/empty_message``, a leading "/" neutralised) goes to the bot as
``taobao:<nick>`` with metadata ``customer_id``, ``channel``, ``message_id``, ``order_id``,
``sent_at`` (plus ``image``/``images``). An image without text is not guessed at by NLU: its URL
is kept as evidence (Redis, 30 days) and attached to the buyer's next text message, and the
buyer is asked to describe it (``utter_describe_image`` from ``domain.yml``). A failed action or
turn gets the error reply and a human (``delivery``); a turn that failed completely, or was
still running when the server stopped and the 10 s drain was over, is kept in the Redis list
``taobao:failed`` for replay and its id released.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.common import OrderedTasks, escape_user_text
from bot.channels.taobao.config import CHANNEL, TaobaoConfig
from bot.channels.taobao.inbound import (
    TaobaoMessage,
    TaobaoRequestError,
    check_request,
    message_metadata,
    nick_of,
    parse_message,
    sender_id_for,
)
from bot.channels.taobao.replies import ReplySender, TaobaoOutput
from bot.privacy import install_log_masking, mask_pii
from bot.rasa_ext import guard
from bot.services import delivery, turns
from bot.store import client as stores

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

DEDUP_PREFIX = "taobao:msg"
DEDUP_TTL = 2 * 86400
IMAGES_PREFIX = "taobao:images"
IMAGES_TTL = 30 * 86400
MAX_PENDING_IMAGES = 20
FAILED_KEY = "taobao:failed"
FAILED_TTL = 7 * 86400
DRAIN_SECONDS = 10.0
IMAGE_ONLY_RESPONSE = "utter_describe_image"
RESPONSES = (IMAGE_ONLY_RESPONSE,)
"""The domain responses this channel sends by itself (a test checks ``domain.yml`` has them)."""

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class TaobaoInput(InputChannel):
    """Buyer messages forwarded by the shop's Taobao/Tmall integration (see the module docstring)."""

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
            reply_url,
            app_key,
            app_secret,
            sign_method=reply_sign_method,
            attempts=reply_attempts,
            timeout=reply_timeout,
            backoff=reply_backoff,
        )
        self._client: Optional[Redis] = None
        self.tasks = OrderedTasks(CHANNEL)

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TaobaoInput":
        """Settings from credentials.yml or ``TAOBAO_*`` variables (:class:`~.config.TaobaoConfig`).

        Raises:
            RasaException: the app key, the app secret or the reply URL is missing or invalid.
        """
        config = TaobaoConfig.load(credentials)
        return cls(
            config.app_key,
            config.app_secret,
            config.reply_url,
            reply_sign_method=config.reply_sign_method,
            reply_attempts=config.reply_attempts,
            reply_timeout=config.reply_timeout,
        )

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Agents' messages and follow-ups go out through the signed reply endpoint."""
        return TaobaoOutput(self.sender)

    def redis(self) -> Redis:
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
            return await self._receive(request, on_new_message)

        @webhook.listener("before_server_stop")
        async def stop(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
            await self.drain()
            await self.sender.close()

        return webhook

    async def _receive(self, request: Request, on_new_message: OnNewMessage) -> HTTPResponse:
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
        unavailable = response.json({"success": False, "error": "temporarily unavailable, please retry"}, status=503)
        try:
            first = await self.claim(message.message_id)
        except Exception as error:  # noqa: BLE001 - no ack: the platform will retry
            logger.error("taobao: cannot deduplicate message %s (%s), answering 503", message.message_id, error)
            return unavailable
        if first:
            try:
                self.spawn(request.app, on_new_message, message)
            except Exception:  # noqa: BLE001 - not acknowledged, so the platform retries
                logger.exception("taobao: message %s could not be scheduled", message.message_id)
                await self._release(message.message_id)
                return unavailable
        else:
            logger.info("taobao: duplicate delivery of message %s dropped", message.message_id)
        return response.json({"success": True, "message_id": message.message_id, "duplicate": not first})

    # ---- background processing ------------------------------------------------------------

    async def claim(self, message_id: str) -> bool:
        """Atomically marks a message id as seen; False when it was seen before."""
        return bool(await self.redis().set(f"{DEDUP_PREFIX}:{message_id}", str(time.time()), nx=True, ex=DEDUP_TTL))

    def spawn(self, app: Sanic, on_new_message: OnNewMessage, message: TaobaoMessage) -> "asyncio.Task[None]":
        """Processes ``message`` in a tracked task.

        Each message has a task of its own: the buyer's lines are put in order, and a quick burst
        read as one turn, by the inbox (:mod:`bot.services.turns`), which needs them to wait for
        the quiet window together rather than one after the other.
        """
        return self.tasks.spawn(
            message.message_id,
            lambda: self._process(app, on_new_message, message),
            name=message.message_id,
        )

    async def drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Waits for messages in progress (at shutdown); cancels what is left after ``timeout``."""
        await self.tasks.drain(timeout)

    async def _process(self, app: Sanic, on_new_message: OnNewMessage, message: TaobaoMessage) -> None:
        try:
            await self.handle(app, on_new_message, message)
        except asyncio.CancelledError:
            await self._keep_failed(message)  # acknowledged but not answered: keep it for replay
            raise
        except Exception:  # noqa: BLE001 - one bad message must not stop the worker
            logger.exception(
                "taobao: message %s from %s could not be handled", message.message_id, mask_pii(message.buyer_nick)
            )

    async def handle(self, app: Sanic, on_new_message: OnNewMessage, message: TaobaoMessage) -> None:
        """Runs one buyer message through the bot and posts the answers."""
        sender_id = sender_id_for(message.buyer_nick)
        agent = getattr(app.ctx, "agent", None)
        if message.image_only:
            await self._keep_image(sender_id, message)
            reply = await delivery.fixed_reply(agent, IMAGE_ONLY_RESPONSE, sender_id, CHANNEL)
            await self.deliver(sender_id, [reply], message.message_id)
            return

        metadata = message_metadata(message)
        earlier = await self._take_images(sender_id)
        if earlier:
            metadata["images"] = earlier + metadata.get("images", [])
            metadata.setdefault("image", earlier[-1])
        turn = UserMessage(
            escape_user_text(message.text or ""),
            None,
            sender_id,
            input_channel=CHANNEL,
            message_id=message.message_id,
            metadata=metadata,
        )

        async def deliver(replies: List[Dict[str, Any]], channel: str) -> None:
            try:
                await self.deliver(sender_id, replies, message.message_id)
            except Exception:  # noqa: BLE001 - the transcript keeps the replies
                logger.exception("taobao: answers to %s not posted", message.message_id)

        outcome = await turns.answer(agent, on_new_message, turn, deliver)
        if outcome is not None and outcome.crashed:  # the buyer was told, the case queued; kept for replay
            await self._keep_failed(message)

    async def deliver(self, sender_id: str, replies: List[Dict[str, Any]], in_reply_to: str) -> None:
        """Posts the answers to one buyer message, in order; reply ids ``<message_id>:<n>``."""
        nick = nick_of(sender_id)
        for index, reply in enumerate(replies):
            await self.sender.send(nick, dict(reply), reply_id=f"{in_reply_to}:{index}", in_reply_to=in_reply_to)

    # ---- Redis side stores: image evidence, failed messages --------------------------------

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
        logger.info(
            "taobao: image-only message %s from %s kept as evidence", message.message_id, mask_pii(message.buyer_nick)
        )

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
        record = json.dumps({"message": message.dict(), "failed_at": time.time()}, ensure_ascii=False)
        try:
            pipe = self.redis().pipeline(transaction=True)
            pipe.rpush(FAILED_KEY, record)
            pipe.expire(FAILED_KEY, FAILED_TTL)
            pipe.delete(f"{DEDUP_PREFIX}:{message.message_id}")
            await pipe.execute()
        except Exception as error:  # noqa: BLE001
            logger.error("taobao: failed message %s not kept: %s", message.message_id, error)
