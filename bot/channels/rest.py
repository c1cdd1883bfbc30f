"""REST channel with payload validation (SPEC.md section 9).

Same URL and reply format as Rasa's ``rest`` channel (``POST /webhooks/rest/webhook`` with
``{"sender": ..., "message": ...}``), but a malformed payload gets a 400 with a JSON error
instead of a 500, and no message is dropped silently:

* body not JSON, or JSON that is not an object -> 400
* ``sender`` missing, empty, not a string/number, or longer than 128 characters -> 400
* ``sender`` naming another channel's conversation (``webchat:``, ``wechat:``, ``taobao:`` ...) -> 400:
  those ids belong to customers of the widget and the platforms, and a REST caller who wrote under
  one would read that customer's replies and write into their case
* ``message`` missing or not a string -> 400; longer than 20,000 characters -> 413
* empty or whitespace-only ``message`` -> 200, handled as the ``/empty_message`` intent
* a message starting with "/" is escaped so customers cannot trigger intents directly
* lines sent in quick succession are read as one turn (``bot/services/turns.py``): the request
  of the burst's last line gets the answer, the others ``[]``; one customer's messages run one at a time
  in arrival order on any worker or replica
* a message that is queued but whose turn cannot run now (Redis failed while it waited) -> 200
  ``[]``: a retry would queue it twice; the inbox sweep answers it into the outbox
* while a human has the conversation the customer hears that the message was passed on
* if a custom action failed, the customer gets an error reply and the case goes to a human
* ``GET /webhooks/rest/outbox?sender=<id>`` returns messages sent outside a request (agents,
  follow-ups), see ``bot/store/outbox.py``
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Optional, Text, Tuple, Union

from pydantic import BaseModel, StrictInt, StrictStr, ValidationError, constr, validator
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.common import EMPTY_MESSAGE_INTENT, MAX_MESSAGE_CHARS, MAX_SENDER_CHARS, escape_user_text
from bot.privacy import install_log_masking, mask_pii
from bot.rasa_ext import guard
from bot.services import turns
from bot.store import client as stores
from bot.store import outbox
from bot.store.outbox import OutboxOutput

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

__all__ = [
    "EMPTY_MESSAGE_INTENT",
    "MAX_MESSAGE_CHARS",
    "PayloadError",
    "RestPayload",
    "ValidatingRestInput",
    "parse_payload",
]


class PayloadError(ValueError):
    """A request body that cannot be turned into a user message."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


OTHER_CHANNELS = frozenset({"webchat", "wechat", "taobao", "socketio"})
"""Channels whose conversation ids a REST sender may not take (``<channel>:<id>``)."""


class RestPayload(BaseModel):
    """The JSON body of ``POST /webhooks/rest/webhook`` (Rasa's REST format; other keys are ignored).

    Attributes:
        sender: the conversation id, 1-128 characters after trimming (a number is accepted).
        message: what the customer typed, at most 20,000 characters ("" allowed).
        metadata: optional object handed to Rasa as the message metadata.
    """

    sender: Union[StrictStr, StrictInt]
    message: constr(strict=True, max_length=MAX_MESSAGE_CHARS)  # type: ignore[valid-type]
    metadata: Optional[Dict[str, Any]] = None

    @validator("sender")
    def _sender_length(cls, value: Union[str, int]) -> str:
        text = str(value).strip()
        if not text or len(text) > MAX_SENDER_CHARS:
            raise ValueError(f"must be 1-{MAX_SENDER_CHARS} characters")
        if text.split(":", 1)[0].lower() in OTHER_CHANNELS and ":" in text:
            raise ValueError("must not name another channel's conversation")
        return text

    @validator("metadata", pre=True)
    def _metadata_object(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise ValueError("must be an object")
        return value


def parse_payload(body: bytes) -> Tuple[str, str, Optional[Dict[str, Any]]]:
    """Validates a REST payload.

    Args:
        body: the raw request body.

    Returns:
        ``(sender_id, text, metadata)``; ``text`` is already escaped for Rasa.

    Raises:
        PayloadError: 400 for a body that is not a JSON object or a field that is missing or
            of the wrong type, 413 for a ``message`` over 20,000 characters.
    """
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("body must be a JSON object")
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    try:
        payload = RestPayload.parse_obj(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0])
        status = 413 if first["type"] == "value_error.any_str.max_length" else 400
        raise PayloadError(f"'{field}': {first['msg']}", status=status)
    return str(payload.sender), escape_user_text(payload.message), payload.metadata


class ValidatingRestInput(RestInput):
    """Rasa's REST channel with strict payload validation."""

    @classmethod
    def name(cls) -> Text:
        """Mounted at ``/webhooks/rest``."""
        return "rest"

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Messages outside a request (agents, timers) go to the conversation's outbox."""
        return OutboxOutput(self._outbox_client())

    def _outbox_client(self) -> Redis:
        client = getattr(self, "_client", None)
        if client is None:
            client = self._client = stores.redis_from_env()
        return client

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Health route, validating webhook route and the outbox."""
        install_log_masking()
        guard.install()
        webhook = Blueprint("validating_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/outbox", methods=["GET"])
        async def take_outbox(request: Request) -> HTTPResponse:
            sender_id = (request.args.get("sender") or "").strip()
            if not sender_id or len(sender_id) > MAX_SENDER_CHARS:
                return response.json({"error": "'sender' query parameter is required"}, status=400)
            try:
                messages = await outbox.take(self._outbox_client(), sender_id)
            except Exception:
                logger.exception("outbox of %s could not be read", mask_pii(sender_id))
                return response.json({"error": "temporarily unavailable, please retry"}, status=503)
            return response.json(messages)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                sender_id, text, metadata = parse_payload(request.body)
            except PayloadError as error:
                return response.json({"error": str(error)}, status=error.status)
            message = UserMessage(text, None, sender_id, input_channel=self.name(), metadata=metadata)
            try:
                queued = await turns.enqueue(message)
            except Exception:
                logger.exception(
                    "REST message from %s could not be queued: %s", mask_pii(sender_id), mask_pii(text[:200])
                )
                return response.json({"error": "the message could not be processed, please retry"}, status=503)
            try:
                outcome = await turns.run_queued(request.app.ctx.agent, on_new_message, queued)
            except Exception:
                # queued: a retry would send it twice; the inbox sweep answers it into the outbox
                logger.exception("REST message from %s queued but not run now; the sweep will", mask_pii(sender_id))
                return response.json([])
            if outcome.crashed:
                return response.json({"error": "the message could not be processed, please retry"}, status=503)
            # merged: the message was read with the customer's next line(s), whose request answers
            replies = outcome.replies
            return response.json(replies)

        return webhook
