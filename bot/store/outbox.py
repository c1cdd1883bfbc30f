"""Messages for a REST customer that do not answer one of their requests.

An agent's reply during a handoff, a progress message from the follow-up timer or a
satisfaction question after the agent resolved the case reach a REST client through its
outbox: ``GET /webhooks/rest/outbox?sender=<id>`` returns and removes the waiting messages
(same format as the webhook's reply). The outbox lives in Redis, so it survives a restart
and every Sanic worker sees the same one.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Dict, List, Text

from rasa.core.channels.channel import OutputChannel

if TYPE_CHECKING:
    from redis.asyncio import Redis

OUTBOX_PREFIX = "outbox"
OUTBOX_TTL = 7 * 86400


def outbox_key(sender_id: Text) -> str:
    """Redis list of a conversation's waiting messages."""
    return f"{OUTBOX_PREFIX}:{sender_id}"


async def take(client: Redis, sender_id: Text) -> List[Dict[Text, Any]]:
    """Returns and removes the waiting messages, oldest first (atomically)."""
    pipe = client.pipeline(transaction=True)
    pipe.lrange(outbox_key(sender_id), 0, -1)
    pipe.delete(outbox_key(sender_id))
    stored, _ = await pipe.execute()
    return [json.loads(m) for m in stored]


class OutboxOutput(OutputChannel):
    """Puts messages into the conversation's outbox instead of an HTTP response."""

    @classmethod
    def name(cls) -> Text:
        """Messages sent this way belong to the REST channel."""
        return "rest"

    def __init__(self, client: Redis) -> None:
        self.client = client

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """Stores the whole message (text, buttons, image) like the webhook would return it."""
        body = {k: v for k, v in message.items() if v not in (None, [], {})}
        body["recipient_id"] = recipient_id
        body["sent_at"] = time.time()
        pipe = self.client.pipeline(transaction=True)
        pipe.rpush(outbox_key(recipient_id), json.dumps(body, ensure_ascii=False))
        pipe.expire(outbox_key(recipient_id), OUTBOX_TTL)
        await pipe.execute()

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """Text only."""
        await self.send_response(recipient_id, {"text": text})
