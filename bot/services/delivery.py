"""Messages to a customer outside the normal request/reply turn, on the channel they came from.

Used by the agents' API (an agent's reply), the follow-up timer (progress, escalation) and the
channels themselves (the paused notice, the error reply). Every message is rendered from a
``domain.yml`` response (or is an agent's own text), recorded in the conversation as a bot
message (so transcripts are complete) and sent through the output channel of the channel the
customer last wrote on (``InputChannel.get_output_channel()``: the REST outbox, WeChat's
customer-service API, ...).
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Text

from rasa.shared.core.events import BotUttered

from bot.privacy import mask_pii
from bot.vocabulary import customer_identity

if TYPE_CHECKING:
    from rasa.core.agent import Agent
    from rasa.core.channels.channel import OutputChannel
    from sanic import Sanic

logger = logging.getLogger(__name__)

DOMAIN_FILE = Path(__file__).resolve().parents[2] / "domain.yml"


async def render(
    agent: Agent, response: Text, sender_id: Text, channel: Optional[Text] = None, **values: Any
) -> Dict[Text, Any]:
    """A domain response filled with the conversation's slots and ``values``."""
    tracker = await agent.tracker_store.retrieve(sender_id) or agent.tracker_store.init_tracker(sender_id)
    message = await agent.nlg.generate(
        response, tracker, channel or tracker.get_latest_input_channel() or "rest", **values
    )
    return dict(message or {"text": ""})


@functools.lru_cache(maxsize=None)
def _domain_responses(path: Path) -> Dict[Text, List[Dict[Text, Any]]]:
    from rasa.shared.utils.io import read_yaml_file

    domain = read_yaml_file(str(path)) or {}
    assert isinstance(domain, dict), f"{path} is not a mapping"
    return dict(domain.get("responses") or {})


def domain_response(name: Text, path: Path = DOMAIN_FILE) -> Dict[Text, Any]:
    """The first variation of the response ``name`` in ``domain.yml`` (read once per process).

    The fallback of :func:`fixed_reply` when the conversation cannot be read, so the Chinese
    text exists once, in the domain, and nowhere in Python.

    Raises:
        LookupError: the domain has no response ``name`` (or it has no text).
    """
    variations = _domain_responses(path).get(name) or []
    for variation in variations:
        if isinstance(variation, dict) and (variation.get("text") or "").strip():
            return {k: v for k, v in variation.items() if k not in ("condition", "channel")}
    raise LookupError(f"domain.yml has no response {name!r} with a text")


async def fixed_reply(agent: Optional[Agent], response: Text, sender_id: Text, channel: Text) -> Dict[Text, Any]:
    """A reply the channel sends itself (welcome, "please describe the photo", ...).

    Rendered by the agent's NLG with the conversation's slots when it can be; otherwise (no
    agent yet, the tracker store unreachable, an empty rendering) the first variation in
    ``domain.yml``.

    Raises:
        LookupError: the domain has no response ``response``.
    """
    if agent is not None:
        try:
            message = await render(agent, response, sender_id, channel)
            if (message.get("text") or "").strip():
                return message
        except Exception:  # noqa: BLE001 - the domain's text will do
            logger.warning(
                "could not render %s for %s, using the domain's first variation", response, mask_pii(sender_id)
            )
    return domain_response(response)


def output_channel_for(app: Sanic, channel_name: Optional[Text]) -> Optional[OutputChannel]:
    """The output channel of the input channel called ``channel_name`` (None if it has none)."""
    for input_channel in getattr(app.ctx, "input_channels", None) or []:
        if input_channel.name() == channel_name:
            return input_channel.get_output_channel()
    return None


class NotDelivered(Exception):
    """A message recorded in the conversation that the customer's platform did not accept."""

    def __init__(self, channel: Text, reason: Text) -> None:
        super().__init__(reason)
        self.channel = channel


async def send(app: Sanic, sender_id: Text, message: Dict[Text, Any], *, author: Text = "bot") -> Text:
    """Records ``message`` in the conversation and sends it; returns the channel used.

    Raises:
        LookupError: the conversation does not exist.
        RuntimeError: its channel cannot send outside a request.
        NotDelivered: recorded in the conversation, but the platform did not take it (an
            output channel that keeps a ``delivered`` list of booleans reports refusals there).
    """
    agent = app.ctx.agent
    async with agent.lock_store.lock(sender_id):
        tracker = await agent.tracker_store.retrieve(sender_id)
        if tracker is None:
            raise LookupError(sender_id)
        channel = tracker.get_latest_input_channel() or "rest"
        data = {k: v for k, v in message.items() if k not in ("text", "recipient_id")}
        tracker.update(BotUttered(message.get("text"), data=data, metadata={"author": author}, timestamp=time.time()))
        await agent.tracker_store.save(tracker)
    output = output_channel_for(app, channel)
    if output is None:
        raise RuntimeError(f"channel {channel!r} cannot send messages outside a request")
    try:
        # ``author`` rides along to the output channel (the web widget labels agents' messages);
        # channels that do not use it ignore it.
        await output.send_response(sender_id, {**message, "author": author})
    except Exception as error:  # noqa: BLE001 - reported to the caller as not delivered
        raise NotDelivered(channel, f"{type(error).__name__}: {error}") from error
    if False in (getattr(output, "delivered", None) or []):
        raise NotDelivered(channel, "the platform did not accept the message (see the log)")
    logger.info("message from %s delivered to %s on %s", author, mask_pii(sender_id), channel)
    return channel


async def paused_notice(agent: Agent, sender_id: Text, channel: Text) -> Optional[Dict[Text, Any]]:
    """While a human has the conversation: "your message was passed on" (else None)."""
    tracker = await agent.tracker_store.retrieve(sender_id)
    if tracker is None or not tracker.is_paused():
        return None
    return await render(agent, "utter_paused_notice", sender_id, channel)


async def system_error(agent: Optional[Agent], sender_id: Text, channel: Text) -> Dict[Text, Any]:
    """The reply when an action failed; the conversation is queued for a human (best effort)."""
    from bot.policy.sla import load_sla
    from bot.store import client as stores
    from bot.store.handoff import HandoffCase

    try:
        tier = load_sla().priority_for(None)
        case = HandoffCase(
            sender_id=sender_id,
            channel=channel,
            # platform channels already put their name in the sender id ("wechat:<openid>")
            customer_id=customer_identity(channel, sender_id),
            reason="failure",
            queue=tier.queue,
            priority=tier.priority,
            deadline=time.time() + tier.first_response_seconds,
            summary={"phase": "error", "facts": {}, "note": "a custom action failed; see the transcript"},
        )
        client = stores.redis_from_env()
        try:
            await stores.handoff_queue(client).enqueue(case, f"{sender_id}:failure:{int(time.time() // 60)}")
        finally:
            await client.close()
    except Exception:  # noqa: BLE001 - the customer still gets the error reply
        logger.exception("could not queue %s for a human after an action failure", mask_pii(sender_id))
    return await fixed_reply(agent, "utter_system_error", sender_id, channel)


async def complete_turn(
    agent: Optional[Agent], sender_id: Text, channel: Text, problems: List[str], replies: List[Dict[Text, Any]]
) -> List[Dict[Text, Any]]:
    """The replies of a turn as the customer should get them, for every channel.

    A failed custom action (``problems`` from ``guard.watch_turn``) adds the error reply and
    queues the case; a turn the paused bot did not answer gets the "passed on" notice.
    """
    replies = list(replies)
    if problems:
        logger.error("action failed for %s, customer told and case queued: %s", mask_pii(sender_id), problems[0])
        replies.append(await system_error(agent, sender_id, channel))
    elif not replies and agent is not None:
        try:
            notice = await paused_notice(agent, sender_id, channel)
        except Exception:  # noqa: BLE001 - the turn itself went through
            logger.exception("could not check whether %s is paused", mask_pii(sender_id))
            notice = None
        if notice:
            replies.append(notice)
    return replies


def transcript(tracker: Any) -> List[Dict[Text, Any]]:
    """The conversation as the agent reads it: who said what, when."""
    lines: List[Dict[Text, Any]] = []
    for event in tracker.events:
        if event.type_name == "user":
            text = event.text or ""
            intent = (event.intent or {}).get("name") or ""
            if intent.startswith("EXTERNAL_"):  # an agent or timer event, not the customer
                lines.append({"from": "system", "text": intent, "at": event.timestamp})
                continue
            if text.startswith("/"):
                continue
            lines.append(
                {"from": "customer", "text": text, "at": event.timestamp, "intent": (event.intent or {}).get("name")}
            )
        elif event.type_name == "bot":
            author = (event.metadata or {}).get("author") or "bot"
            lines.append({"from": author, "text": event.text, "at": event.timestamp})
    return lines
