"""REST channel with payload validation (SPEC.md section 9).

Same URL and reply format as Rasa's ``rest`` channel (``POST /webhooks/rest/webhook`` with
``{"sender": ..., "message": ...}``), but a malformed payload gets a 400 with a JSON error
instead of a 500, and no message is dropped silently:

* body not JSON, or JSON that is not an object -> 400
* ``sender`` missing, empty, not a string/number, or longer than 128 characters -> 400
* ``message`` missing or not a string -> 400; longer than 20,000 characters -> 413
* empty or whitespace-only ``message`` -> 200, handled as the ``/empty_message`` intent
* a message starting with "/" is escaped so customers cannot trigger intents directly
* while a human has the conversation the customer hears that the message was passed on
* if a custom action failed, the customer gets an error reply and the case goes to a human
* ``GET /webhooks/rest/outbox?sender=<id>`` returns messages sent outside a request (agents,
  follow-ups), see ``bot/store/outbox.py``
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text, Tuple

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.store import client as stores
from bot.rasa_ext import guard
from bot.services import delivery
from bot.store import outbox
from bot.store.outbox import OutboxOutput
from bot.privacy import install_log_masking, mask_pii

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 20_000
MAX_SENDER_CHARS = 128
EMPTY_MESSAGE_INTENT = "/empty_message"


class PayloadError(ValueError):
    """A request body that cannot be turned into a user message."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def parse_payload(body: bytes) -> Tuple[str, str, Optional[Dict[str, Any]]]:
    """Validates a REST payload.

    Args:
        body: the raw request body.

    Returns:
        ``(sender_id, text, metadata)``; ``text`` is already escaped for Rasa.

    Raises:
        PayloadError: with the HTTP status to answer.
    """
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("body must be a JSON object")
    if not isinstance(data, dict):
        raise PayloadError("body must be a JSON object")
    sender = data.get("sender")
    if isinstance(sender, bool) or not isinstance(sender, (str, int)):
        raise PayloadError("'sender' is required (string)")
    sender = str(sender).strip()
    if not sender or len(sender) > MAX_SENDER_CHARS:
        raise PayloadError(f"'sender' must be 1-{MAX_SENDER_CHARS} characters")
    message = data.get("message")
    if not isinstance(message, str):
        raise PayloadError("'message' is required (string)")
    if len(message) > MAX_MESSAGE_CHARS:
        raise PayloadError(f"'message' is longer than {MAX_MESSAGE_CHARS} characters", status=413)
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise PayloadError("'metadata' must be an object")
    return sender, escape_user_text(message), metadata


def escape_user_text(message: str) -> str:
    """Maps empty input to the empty-message intent and neutralises a leading "/".

    Rasa treats text starting with "/" as a direct intent trigger; customers must not be able
    to do that. The full-width slash is turned back into "/" by the NLU normaliser.
    """
    stripped = message.strip()
    if not stripped:
        return EMPTY_MESSAGE_INTENT
    if stripped.startswith("/"):
        return "／" + stripped[1:]
    return message


class ValidatingRestInput(RestInput):
    """Rasa's REST channel with strict payload validation."""

    @classmethod
    def name(cls) -> Text:
        """Mounted at ``/webhooks/rest``."""
        return "rest"

    def get_output_channel(self) -> Optional[OutputChannel]:
        """Messages outside a request (agents, timers) go to the conversation's outbox."""
        return OutboxOutput(self._outbox_client())

    def _outbox_client(self) -> Any:
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
            collector = CollectingOutputChannel()
            try:
                with guard.watch_turn() as problems:
                    await on_new_message(
                        UserMessage(text, collector, sender_id, input_channel=self.name(), metadata=metadata)
                    )
            except Exception:
                logger.exception("Failed to handle a REST message from %s: %s", mask_pii(sender_id), mask_pii(text[:200]))
                return response.json(
                    {"error": "the message could not be processed, please retry"}, status=503
                )
            replies = await delivery.complete_turn(
                request.app.ctx.agent, sender_id, self.name(), problems, collector.messages
            )
            return response.json(replies)

        return webhook
