"""The agents' HTTP API, on the Rasa server's port, and the follow-up timer (SPEC.md 5-7).

Registered like a channel (``credentials.yml``), mounted at ``/api``; every route but
``/api/health`` needs ``BOT_API_TOKEN`` (``?token=`` or ``Authorization: Bearer``).
Documented in ``docs/openapi.yaml``.

The follow-up timer runs in every Sanic worker; each step claims its work atomically in
Redis (escalation scripts, a ``SET NX`` per progress message), so a message goes out once
however many workers run, and, since all state is in Redis, the timers survive a restart.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
import urllib.parse
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, ConversationResumed
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.followup.jobs import FollowUp, run_forever
from bot.policy import sla as sla_module
from bot.store import client as stores
from bot.rasa_ext import guard
from bot.services import delivery
from bot.store.handoff import CaseNotClaimed, CaseNotFound, HandoffQueue, HandoffQueueUnavailable
from bot.privacy import mask_pii
from bot.store.tickets import TicketNotFound, TicketStore, TicketStoreUnavailable, describe

logger = logging.getLogger(__name__)

MAX_TEXT = 2000


class ApiError(Exception):
    """An error answered with a JSON body and a 4xx/5xx status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_token(request: Request) -> bool:
    """Constant-time comparison with ``BOT_API_TOKEN``; no token configured refuses everything."""
    expected = os.environ.get("BOT_API_TOKEN") or ""
    header = request.headers.get("authorization") or ""
    given = request.args.get("token") or (header[7:] if header.lower().startswith("bearer ") else "")
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def body_of(request: Request) -> Dict[str, Any]:
    """The JSON object of a request (400 otherwise)."""
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "body must be a JSON object")
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    return data


def text_field(data: Dict[str, Any], name: str, *, required: bool = True, limit: int = MAX_TEXT) -> Optional[str]:
    """A non-empty string field of at most ``limit`` characters."""
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"'{name}' is required (non-empty string)")
    if len(value) > limit:
        raise ApiError(413, f"'{name}' is longer than {limit} characters")
    return value.strip()


def case_view(case: Any) -> Dict[str, Any]:
    """A queue entry as the API returns it."""
    data = case.to_dict()
    data["deadline_text"] = sla_module.format_deadline(case.deadline)
    return data


def linked_view(ticket: Any) -> Dict[str, Any]:
    """Another customer's ticket on the same order: where to find that conversation."""
    return {k: getattr(ticket, k) for k in ("id", "channel", "customer_id", "sender_id", "status", "type", "created_at")}


class AgentApi(InputChannel):
    """``/api``: tickets, the handoff queue, transcripts, agent messages, approvals, resolve."""

    @classmethod
    def name(cls) -> Text:
        """Channel name (never a customer channel)."""
        return "agent_api"

    def url_prefix(self) -> Text:
        """Mounted at ``/api`` rather than under ``/webhooks``."""
        return "/api"

    def __init__(self, followup_interval: Optional[float] = None) -> None:
        self.followup_interval = float(followup_interval or os.environ.get("FOLLOWUP_INTERVAL_SECONDS") or 60)
        self._client: Any = None

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "AgentApi":
        """Optional ``followup_interval`` (seconds) from credentials.yml."""
        return cls((credentials or {}).get("followup_interval"))

    # stores -----------------------------------------------------------------------------
    def client(self) -> Any:
        if self._client is None:
            self._client = stores.redis_from_env()
        return self._client

    def tickets(self) -> TicketStore:
        return stores.ticket_store(self.client())

    def handoffs(self) -> HandoffQueue:
        return stores.handoff_queue(self.client())

    # routes -----------------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The API routes, the health check and the follow-up timer."""
        api = Blueprint("agent_api", __name__)
        guard.install()

        def route(path: str, methods: tuple[str, ...] = ("GET",), public: bool = False):  # type: ignore[no-untyped-def]
            def wrap(handler):  # type: ignore[no-untyped-def]
                async def guarded(request: Request, **kwargs: Any) -> HTTPResponse:
                    if not public and not check_token(request):
                        return response.json({"error": "missing or wrong token"}, status=401)
                    # Sanic 21.12 hands path parameters over still percent-encoded ("taobao:%E5%B0%8F")
                    kwargs = {k: urllib.parse.unquote(v) if isinstance(v, str) else v for k, v in kwargs.items()}
                    try:
                        return await handler(request, **kwargs)
                    except ApiError as error:
                        return response.json({"error": str(error)}, status=error.status)
                    except (TicketStoreUnavailable, HandoffQueueUnavailable) as error:
                        logger.error("agent API: store unavailable: %s", error)
                        return response.json({"error": "store unavailable, retry later"}, status=503)

                guarded.__name__ = handler.__name__
                api.add_route(guarded, path, methods=list(methods))
                return handler

            return wrap

        @route("/health", public=True)
        async def health(request: Request) -> HTTPResponse:
            return await self._health(request)

        @route("/tickets")
        async def list_tickets(request: Request) -> HTTPResponse:
            sender_id = request.args.get("sender_id")
            if not sender_id:
                raise ApiError(400, "'sender_id' query parameter is required")
            return response.json([t.to_dict() for t in await self.tickets().for_sender(sender_id)])

        @route("/tickets/<ticket_id>")
        async def get_ticket(request: Request, ticket_id: str) -> HTTPResponse:
            ticket = await self.tickets().get(ticket_id)
            if ticket is None:
                raise ApiError(404, "no such ticket")
            return response.json({**ticket.to_dict(), "linked": [linked_view(t) for t in await self.tickets().linked(ticket)]})

        @route("/tickets/<ticket_id>/compensation", methods=("POST",))
        async def decide_compensation(request: Request, ticket_id: str) -> HTTPResponse:
            return await self._decide_compensation(request, ticket_id)

        @route("/handoffs")
        async def list_handoffs(request: Request) -> HTTPResponse:
            status = request.args.get("status")
            if status not in (None, "waiting", "claimed"):
                raise ApiError(400, "'status' must be waiting or claimed")
            return response.json([case_view(c) for c in await self.handoffs().list_cases(status)])

        @route("/handoffs/claim", methods=("POST",))
        async def claim(request: Request) -> HTTPResponse:
            data = body_of(request)
            agent = text_field(data, "agent", limit=64)
            sender_id = text_field(data, "sender_id", required=False, limit=128)
            queue = self.handoffs()
            if sender_id:
                current = await queue.get(sender_id)
                if current is None or current.status == "resolved":
                    raise ApiError(404, "no open case for this conversation")
            case = await queue.claim(agent, sender_id)
            if case is None:
                raise ApiError(409 if sender_id else 404, "case taken by another agent" if sender_id else "queue empty")
            linked: List[Dict[str, Any]] = []
            if case.ticket_id:
                ticket = await self.tickets().update(case.ticket_id, actor=agent, note="客服接手", status="with_agent", owner=agent)
                linked = [linked_view(t) for t in await self.tickets().linked(ticket)]
            return response.json({**case_view(case), "linked": linked})

        @route("/conversations/<sender_id>/transcript")
        async def transcript(request: Request, sender_id: str) -> HTTPResponse:
            agent = request.app.ctx.agent
            tracker = await agent.tracker_store.retrieve_full_tracker(sender_id)
            if tracker is None:
                raise ApiError(404, "no such conversation")
            case = await self.handoffs().get(sender_id)
            tickets = await self.tickets().for_sender(sender_id)
            linked: Dict[str, Dict[str, Any]] = {}
            for ticket in tickets:
                for other in await self.tickets().linked(ticket):
                    if other.sender_id != sender_id:
                        linked.setdefault(other.id, linked_view(other))
            return response.json({
                "sender_id": sender_id,
                "channel": tracker.get_latest_input_channel(),
                "paused": tracker.is_paused(),
                "case": case_view(case) if case else None,
                "summary": case.summary if case else None,
                "tickets": [t.to_dict() for t in tickets],
                "linked": list(linked.values()),
                "messages": delivery.transcript(tracker),
            })

        @route("/conversations/<sender_id>/messages", methods=("POST",))
        async def agent_message(request: Request, sender_id: str) -> HTTPResponse:
            data = body_of(request)
            agent_name = text_field(data, "agent", limit=64)
            text = text_field(data, "text")
            try:
                channel = await delivery.send(request.app, sender_id, {"text": text}, author=f"agent:{agent_name}")
            except LookupError:
                raise ApiError(404, "no such conversation")
            except delivery.NotDelivered as error:
                logger.error("agent message to %s not delivered on %s: %s", mask_pii(sender_id), error.channel, error)
                return response.json({"delivered": False, "channel": error.channel,
                                      "error": "saved in the conversation, but the platform did not accept it: "
                                               "contact the customer another way"}, status=502)
            except RuntimeError as error:
                raise ApiError(409, str(error))
            return response.json({"delivered": True, "channel": channel})

        @route("/handoffs/<sender_id>/resolve", methods=("POST",))
        async def resolve(request: Request, sender_id: str) -> HTTPResponse:
            return await self._resolve(request, sender_id)

        @api.listener("after_server_start")
        async def start_timers(app: Any, loop: Any) -> None:
            guard.unwrap_tracker_store(app.ctx.agent)
            app.ctx.followup_task = asyncio.ensure_future(self._followup_loop(app))

        @api.listener("before_server_stop")
        async def stop_timers(app: Any, loop: Any) -> None:
            task = getattr(app.ctx, "followup_task", None)
            if task is not None:
                task.cancel()

        return api

    # handlers ---------------------------------------------------------------------------
    async def _health(self, request: Request) -> HTTPResponse:
        """200 when Redis, the tracker store and the action server are fine, else 503."""
        from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore

        agent = request.app.ctx.agent
        store = getattr(agent, "tracker_store", None)
        checks: Dict[str, Any] = {
            "redis": await self.tickets().ping(),
            "tracker_store": type(store).__name__,
            "tracker_store_durable": not isinstance(store, (FailSafeTrackerStore, InMemoryTrackerStore)),
            "action_server": await _action_server_ok(agent),
            "action_failures": guard.FAILURES["count"],
            "last_action_failure": guard.FAILURES["last"],
        }
        recent_failure = guard.FAILURES["last_at"] and time.time() - guard.FAILURES["last_at"] < 300
        ok = checks["redis"] and checks["tracker_store_durable"] and checks["action_server"] and not recent_failure
        return response.json({"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503)

    async def _decide_compensation(self, request: Request, ticket_id: str) -> HTTPResponse:
        data = body_of(request)
        agent = text_field(data, "agent", limit=64)
        approved = data.get("approved")
        if not isinstance(approved, bool):
            raise ApiError(400, "'approved' must be true or false")
        note = text_field(data, "note", required=False) or ("补偿已批准" if approved else "补偿未批准")
        store = self.tickets()
        ticket = await store.get(ticket_id)
        if ticket is None:
            raise ApiError(404, "no such ticket")
        if not ticket.compensation or ticket.compensation.get("status") != "pending_approval":
            raise ApiError(409, "this ticket has no compensation waiting for approval")
        compensation = dict(ticket.compensation, status="approved" if approved else "rejected", approved_by=agent)
        ticket = await store.update(ticket_id, actor=agent, note=note, status="with_agent", compensation=compensation)
        return response.json(ticket.to_dict())

    async def _resolve(self, request: Request, sender_id: str) -> HTTPResponse:
        """Acknowledges the case, resolves its ticket, resumes the bot, asks for satisfaction."""
        data = body_of(request)
        agent_name = text_field(data, "agent", limit=64)
        note = text_field(data, "note", required=False) or "已解决"
        try:
            case = await self.handoffs().resolve(sender_id, agent_name)
        except CaseNotFound:
            raise ApiError(404, "no open case for this conversation")
        except CaseNotClaimed:
            raise ApiError(409, "claim the case before resolving it")
        if case.ticket_id:
            try:
                await self.tickets().update(case.ticket_id, actor=agent_name, note=note, status="resolved")
            except TicketNotFound:
                logger.warning("case of %s points to a missing ticket", mask_pii(sender_id))
        app = request.app
        agent = app.ctx.agent
        async with agent.lock_store.lock(sender_id):
            tracker = await agent.tracker_store.retrieve(sender_id)
            if tracker is not None:
                tracker.update(ConversationResumed())
                # the paused bot never went back to listening; rules expect a listen before an intent
                tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
                output = delivery.output_channel_for(app, tracker.get_latest_input_channel())
                asked = False
                if output is not None:  # the bot asks for the 1-5 score on the customer's channel
                    try:
                        await agent.trigger_intent("EXTERNAL_resolved", {}, output, tracker)
                        asked = True
                    except Exception as error:  # noqa: BLE001 - the case is resolved; the bot must resume anyway
                        logger.error("satisfaction question to %s not sent: %s", mask_pii(sender_id), error)
                if not asked:
                    await agent.tracker_store.save(tracker)
        return response.json({"resolved": True, "ticket_id": case.ticket_id, "bot_resumed": True})

    # follow-up timer --------------------------------------------------------------------
    def followup(self, app: Any) -> FollowUp:
        """The follow-up jobs, rendering with the server's agent and sending on its channels."""

        async def render(response: str, sender_id: str, channel: Optional[str] = None, **values: Any) -> Dict[str, Any]:
            return await delivery.render(app.ctx.agent, response, sender_id, channel, **values)

        async def send(sender_id: str, message: Dict[str, Any]) -> None:
            await self._send_quietly(app, sender_id, message)

        return FollowUp(self.tickets(), self.handoffs(), self.client(), render, send)

    async def _followup_loop(self, app: Any) -> None:
        async def job() -> FollowUp:
            return self.followup(app)

        await run_forever(job, self.followup_interval)

    async def followup_once(self, app: Any, now: Optional[float] = None) -> Dict[str, int]:
        """One round: escalate unclaimed overdue cases, send due progress messages."""
        return await self.followup(app).once(now)

    @staticmethod
    async def _send_quietly(app: Any, sender_id: str, message: Dict[str, Any]) -> None:
        try:
            await delivery.send(app, sender_id, message, author="bot")
        except Exception as error:  # noqa: BLE001 - logged; the ticket history keeps the rest
            logger.error("follow-up message to %s not delivered: %s", mask_pii(sender_id), error)


async def _action_server_ok(agent: Any) -> bool:
    """The action server answers its health route."""
    import aiohttp

    endpoint = getattr(agent, "action_endpoint", None)
    url = getattr(endpoint, "url", None)
    if not url:
        return False
    health = url.rsplit("/", 1)[0] + "/health"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            async with session.get(health) as reply:
                return reply.status == 200
    except Exception:  # noqa: BLE001
        return False
