"""The trainers' read routes on the agents' API (issue 11, first part): which conversations to
review, and one conversation's turns with the NLU's reading.

``GET /api/trainer/conversations`` — query ``filter=low_confidence|fallback|handoff``, ``type``,
``channel``, ``since``/``until`` (epoch seconds), ``order=newest|least_confident``, ``limit``
(1-200, default 50). ``GET /api/trainer/conversations/{sender_id}`` — the turns. Same token as
the agents' API; a bad query is 400 with the reason. The logic is :mod:`bot.trainer.review`;
these routes only read the tracker store and shape JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.trainer.review import Conversation, Turn, read_conversation, select

MAX_SCANNED = 1000
"""Conversations read per listing (the tracker store has no index by time yet)."""

Route = Callable[..., Callable[[Callable[..., Awaitable[HTTPResponse]]], Any]]


class BadQuery(ValueError):
    """A query parameter the routes cannot use (answered 400)."""


def _number(request: Request, name: str) -> float | None:
    value = request.args.get(name)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError:
        raise BadQuery(f"{name} must be epoch seconds, got {value!r}") from None


def turn_view(turn: Turn) -> dict[str, Any]:
    """A turn as JSON (masked text, reading, runner-up, margin, uncertainty, entities, actions, replies)."""
    return {
        "index": turn.index,
        "text": turn.text,
        "intent": turn.intent,
        "confidence": turn.confidence,
        "runner_up": turn.runner_up,
        "runner_up_confidence": turn.runner_up_confidence,
        "margin": round(turn.margin, 4),
        "uncertainty": turn.uncertainty,
        "fallback": turn.fallback,
        "corrected_next": turn.corrected_next,
        "entities": [dict(e) for e in turn.entities],
        "urgency": list(turn.urgency),
        "timestamp": turn.timestamp,
        "actions": list(turn.actions),
        "replies": list(turn.replies),
    }


def conversation_view(conversation: Conversation, *, turns: bool) -> dict[str, Any]:
    """A conversation as JSON; ``turns=False`` gives the list row only."""
    view: dict[str, Any] = {
        "sender_id": conversation.sender_id,
        "channel": conversation.channel,
        "started": conversation.started,
        "turn_count": len(conversation.turns),
        "least_confidence": conversation.least_confidence,
        "handoff_reason": conversation.handoff_reason,
        "complaint_type": conversation.complaint_type,
        "cause": conversation.cause,
    }
    if turns:
        view["turns"] = [turn_view(t) for t in conversation.turns]
    return view


async def _read(request: Request, sender_id: str) -> Conversation | None:
    tracker = await request.app.ctx.agent.tracker_store.retrieve_full_tracker(sender_id)
    if tracker is None:
        return None
    return read_conversation(sender_id, [event.as_dict() for event in tracker.events])


def register(route: Route) -> None:
    """Adds the trainer routes through the agents' API ``route`` decorator (token, errors)."""

    @route("/trainer/conversations")
    async def trainer_conversations(request: Request) -> HTTPResponse:
        try:
            limit = int(request.args.get("limit") or 50)
            if not 1 <= limit <= 200:
                raise BadQuery("limit must be 1-200")
            since, until = _number(request, "since"), _number(request, "until")
            store = request.app.ctx.agent.tracker_store
            keys = list(await store.keys())[:MAX_SCANNED]
            conversations = [c for c in [await _read(request, k) for k in keys] if c is not None and c.turns]
            chosen = select(
                conversations,
                filter=request.args.get("filter") or None,
                complaint_type=request.args.get("type") or None,
                channel=request.args.get("channel") or None,
                since=since,
                until=until,
                order=request.args.get("order") or "newest",
            )
        except (BadQuery, ValueError) as error:
            return response.json({"error": str(error)}, status=400)
        return response.json(
            {"conversations": [conversation_view(c, turns=False) for c in chosen[:limit]], "total": len(chosen)}
        )

    @route("/trainer/conversations/<sender_id>")
    async def trainer_conversation(request: Request, sender_id: str) -> HTTPResponse:
        conversation = await _read(request, sender_id)
        if conversation is None or not conversation.turns:
            return response.json({"error": f"no conversation {sender_id}"}, status=404)
        return response.json(conversation_view(conversation, turns=True))
