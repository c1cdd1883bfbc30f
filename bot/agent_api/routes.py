"""The agents' routes: tickets, the handoff queue, transcripts, agent messages, approvals, resolve.

:func:`create_blueprint` builds the Sanic blueprint (the way ``rasa_sdk.endpoint.create_app``
builds the action server) from a :class:`Stores` provider; ``bot/agent_api/channel.py`` mounts
it on the Rasa server at ``/api``. Every route but ``/api/health`` needs the token
(:mod:`bot.agent_api.auth`). Documented in ``docs/openapi.yaml``.

Errors are JSON: ``{"error": "..."}`` with 400/401/404/409/413, and 503 when Redis is down.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any, Awaitable, Callable, Dict, List, Protocol

from redis import exceptions as redis_errors
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.agent_api import analytics_routes, console_routes, trainer_routes, training_routes
from bot.agent_api.auth import check_token
from bot.agent_api.health import health
from bot.agent_api.http import ApiError, body_of, required_text, text_field
from bot.analytics.facts import CLAIM_NOTE
from bot.policy import sla as sla_module
from bot.services import delivery
from bot.store.handoff import CaseNotClaimed, CaseNotFound, HandoffCase, HandoffQueue, HandoffQueueUnavailable
from bot.store.tickets import Ticket, TicketStore, TicketStoreUnavailable

logger = logging.getLogger(__name__)

REDIS_DOWN = (redis_errors.ConnectionError, redis_errors.TimeoutError)
"""Redis failures of the stores without an "unavailable" error of their own (the console's
markers, the promise ledger, the house-rule checks): answered 503 too."""

Handler = Callable[..., Awaitable[HTTPResponse]]


class Stores(Protocol):
    """Where the routes find the stores (built lazily, one Redis client per server)."""

    def tickets(self) -> TicketStore:
        """The ticket store."""

    def handoffs(self) -> HandoffQueue:
        """The agents' queue."""

    def client(self) -> Any:
        """The ``redis.asyncio`` client of the server."""


def case_view(case: HandoffCase) -> Dict[str, Any]:
    """A queue entry as the API returns it (with ``deadline_text``, the customer's reading)."""
    data = case.to_dict()
    data["deadline_text"] = sla_module.format_deadline(case.deadline)
    return data


def linked_view(ticket: Ticket) -> Dict[str, Any]:
    """Another customer's ticket on the same order: where to find that conversation."""
    return {
        k: getattr(ticket, k) for k in ("id", "channel", "customer_id", "sender_id", "status", "type", "created_at")
    }


def create_blueprint(stores: Stores, name: str = "agent_api") -> Blueprint:
    """The agents' API routes (mount with ``url_prefix="/api"``).

    Args:
        stores: Gives the ticket store and the handoff queue.
        name: Blueprint name (unique per Sanic app).

    Returns:
        The blueprint; it has no listeners (the channel adapter adds the follow-up timer).
    """
    api = Blueprint(name, __name__)

    def route(path: str, methods: tuple[str, ...] = ("GET",), public: bool = False) -> Callable[[Handler], Handler]:
        def wrap(handler: Handler) -> Handler:
            async def guarded(request: Request, **kwargs: Any) -> HTTPResponse:
                if not public and not check_token(request):
                    return response.json({"error": "missing or wrong token"}, status=401)
                # Sanic 21.12 hands path parameters over still percent-encoded ("taobao:%E5%B0%8F")
                kwargs = {k: urllib.parse.unquote(v) if isinstance(v, str) else v for k, v in kwargs.items()}
                try:
                    return await handler(request, **kwargs)
                except ApiError as error:
                    return response.json({"error": str(error), **error.extra}, status=error.status)
                except (TicketStoreUnavailable, HandoffQueueUnavailable, *REDIS_DOWN) as error:
                    logger.error("agent API: store unavailable: %s", error)
                    return response.json({"error": "store unavailable, retry later"}, status=503)

            guarded.__name__ = handler.__name__
            api.add_route(guarded, path, methods=list(methods))
            return handler

        return wrap

    trainer_routes.register(route)
    training_routes.register(route)
    console_routes.register(route, stores)
    analytics_routes.register(route, stores)

    @route("/health", public=True)
    async def health_check(request: Request) -> HTTPResponse:
        return await health(request, stores.tickets())

    @route("/tickets")
    async def list_tickets(request: Request) -> HTTPResponse:
        sender_id = request.args.get("sender_id")
        if not sender_id:
            raise ApiError(400, "'sender_id' query parameter is required")
        return response.json([t.to_dict() for t in await stores.tickets().for_sender(sender_id)])

    @route("/tickets/<ticket_id>")
    async def get_ticket(request: Request, ticket_id: str) -> HTTPResponse:
        ticket = await stores.tickets().get(ticket_id)
        if ticket is None:
            raise ApiError(404, "no such ticket")
        return response.json(
            {**ticket.to_dict(), "linked": [linked_view(t) for t in await stores.tickets().linked(ticket)]}
        )

    @route("/tickets/<ticket_id>/compensation", methods=("POST",))
    async def decide_compensation(request: Request, ticket_id: str) -> HTTPResponse:
        return await _decide_compensation(stores, request, ticket_id)

    @route("/handoffs")
    async def list_handoffs(request: Request) -> HTTPResponse:
        status = request.args.get("status")
        if status not in (None, "waiting", "claimed"):
            raise ApiError(400, "'status' must be waiting or claimed")
        return response.json([case_view(c) for c in await stores.handoffs().list_cases(status)])

    @route("/handoffs/claim", methods=("POST",))
    async def claim(request: Request) -> HTTPResponse:
        data = body_of(request)
        agent = required_text(data, "agent", limit=64)
        sender_id = text_field(data, "sender_id", required=False, limit=128)
        queue = stores.handoffs()
        if sender_id:
            current = await queue.get(sender_id)
            if current is None or current.status == "resolved":
                raise ApiError(404, "no open case for this conversation")

        case = await queue.claim(agent, sender_id)
        if case is None:
            raise ApiError(409 if sender_id else 404, "case taken by another agent" if sender_id else "queue empty")
        linked: List[Dict[str, Any]] = []
        if case.ticket_id:
            ticket = await stores.tickets().update(
                case.ticket_id, actor=agent, note=CLAIM_NOTE, status="with_agent", owner=agent
            )
            linked = [linked_view(t) for t in await stores.tickets().linked(ticket)]
        return response.json({**case_view(case), "linked": linked})

    @route("/conversations/<sender_id>/transcript")
    async def transcript(request: Request, sender_id: str) -> HTTPResponse:
        agent = request.app.ctx.agent
        tracker = await agent.tracker_store.retrieve_full_tracker(sender_id)
        if tracker is None:
            raise ApiError(404, "no such conversation")
        case = await stores.handoffs().get(sender_id)
        tickets = await stores.tickets().for_sender(sender_id)
        linked: Dict[str, Dict[str, Any]] = {}
        for ticket in tickets:
            for other in await stores.tickets().linked(ticket):
                if other.sender_id != sender_id:
                    linked.setdefault(other.id, linked_view(other))
        return response.json(
            {
                "sender_id": sender_id,
                "channel": tracker.get_latest_input_channel(),
                "paused": tracker.is_paused(),
                "case": case_view(case) if case else None,
                "summary": case.summary if case else None,
                "tickets": [t.to_dict() for t in tickets],
                "linked": list(linked.values()),
                "messages": delivery.transcript(tracker),
            }
        )

    @route("/conversations/<sender_id>/messages", methods=("POST",))
    async def agent_message(request: Request, sender_id: str) -> HTTPResponse:
        data = body_of(request)
        agent_name = text_field(data, "agent", limit=64)
        text = text_field(data, "text")
        return await console_routes.send_agent_message(request, sender_id, text or "", f"agent:{agent_name}")

    @route("/handoffs/<sender_id>/resolve", methods=("POST",))
    async def resolve(request: Request, sender_id: str) -> HTTPResponse:
        return await _resolve(stores, request, sender_id)

    return api


async def _decide_compensation(stores: Stores, request: Request, ticket_id: str) -> HTTPResponse:
    """Approves or rejects a compensation waiting for approval, by the ``agent`` the body names."""
    data = body_of(request)
    agent = required_text(data, "agent", limit=64)
    return await console_routes.decide_compensation(stores, data, ticket_id, agent)


async def _resolve(stores: Stores, request: Request, sender_id: str) -> HTTPResponse:
    """Acknowledges the case, resolves its ticket, resumes the bot, asks for satisfaction.

    Resolving again a case the same agent resolved answers 409 (a resolved case cannot be
    resolved twice, issue 12).
    """
    data = body_of(request)
    agent_name = required_text(data, "agent", limit=64)
    note = text_field(data, "note", required=False) or "已解决"
    current = await stores.handoffs().get(sender_id)
    if current is not None and current.status == "resolved":
        raise ApiError(409, "this case is already resolved")
    try:
        case = await stores.handoffs().resolve(sender_id, agent_name)
    except CaseNotFound:
        raise ApiError(404, "no open case for this conversation")
    except CaseNotClaimed:
        raise ApiError(409, "claim the case before resolving it")
    resumed, asked = await console_routes.resume_bot(request, stores, case, agent_name, note)
    return response.json(
        {"resolved": True, "ticket_id": case.ticket_id, "bot_resumed": resumed, "satisfaction_asked": asked}
    )
