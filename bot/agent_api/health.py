"""``GET /api/health``: Redis, the tracker store, the action server and recent action failures."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.rasa_ext import guard
from bot.store.tickets import TicketStore

if TYPE_CHECKING:
    from rasa.core.agent import Agent

RECENT_FAILURE_SECONDS = 300
"""An action failure this recent makes the service ``degraded``."""


async def health(request: Request, tickets: TicketStore) -> HTTPResponse:
    """200 ``{"status": "ok", "checks": {...}}`` when everything is fine, else 503 ``degraded``.

    Checks: Redis answers, the tracker store is durable (not the in-memory fallback), the action
    server answers its health route, and no custom action failed in the last five minutes.
    """
    from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore

    agent = request.app.ctx.agent
    store = getattr(agent, "tracker_store", None)
    checks: dict[str, Any] = {
        "redis": await tickets.ping(),
        "tracker_store": type(store).__name__,
        "tracker_store_durable": not isinstance(store, (FailSafeTrackerStore, InMemoryTrackerStore)),
        "action_server": await action_server_ok(agent),
        "action_failures": guard.FAILURES["count"],
        "last_action_failure": guard.FAILURES["last"],
    }
    last_at = guard.FAILURES["last_at"]
    recent_failure = bool(last_at) and time.time() - float(last_at) < RECENT_FAILURE_SECONDS
    ok = checks["redis"] and checks["tracker_store_durable"] and checks["action_server"] and not recent_failure
    return response.json({"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503)


async def action_server_ok(agent: Agent) -> bool:
    """The action server answers its ``/health`` route within 2 s."""
    import aiohttp

    endpoint = getattr(agent, "action_endpoint", None)
    url = getattr(endpoint, "url", None)
    if not url:
        return False
    health_url = url.rsplit("/", 1)[0] + "/health"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            async with session.get(health_url) as reply:
                return reply.status == 200
    except Exception:  # noqa: BLE001
        return False
