"""Mounts the agents' API on the Rasa server as an input channel, and starts the follow-up timer.

Registered in ``credentials.yml`` as ``bot.agent_api.channel.AgentApi``. Rasa mounts a channel's
blueprint on its own port; this adapter gives it the ``/api`` prefix, builds the routes with
:func:`bot.agent_api.routes.create_blueprint`, and from the blueprint's ``after_server_start``
listener starts :func:`bot.followup.jobs.run_forever` every ``followup_interval`` seconds
(``credentials.yml``, else ``FOLLOWUP_INTERVAL_SECONDS``, else 60). It also loads and validates
the policy files there, so a broken file stops the server at start with the same message
``make check-policy`` prints. Each worker also follows the model trainers activate
(:func:`bot.agent_api.live_model.follow`) and sweeps the customers' inboxes for turns whose
process died (:func:`bot.services.turns.sweep_forever`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from redis.asyncio import Redis
from sanic import Blueprint, Sanic

from bot.agent_api import live_model
from bot.agent_api.routes import create_blueprint
from bot.followup.conversations import Conversations
from bot.followup.jobs import PROGRESS_LEAD_SECONDS, FollowUp, run_forever
from bot.policy.check import load_policy
from bot.privacy import mask_pii
from bot.quality.house_rules import exempt_texts_from_domain
from bot.rasa_ext import data_validation, guard
from bot.services import delivery, ratelimit, turns
from bot.store import client as stores
from bot.store.handoff import HandoffQueue
from bot.store.promises import PromiseLedger
from bot.store.quality import QualityStore
from bot.store.tickets import TicketStore
from bot.trainer.workspace import Workspace

logger = logging.getLogger(__name__)

WARM_DAYS = 61
"""Days of ticket projections read at start (the dashboard's default range and its look-back)."""

DEFAULT_FOLLOWUP_INTERVAL = 60.0
"""Seconds between follow-up rounds unless configured."""


class AgentApi(InputChannel):
    """``/api``: the agents' routes on the Rasa port, and the follow-up timer (never a customer channel)."""

    @classmethod
    def name(cls) -> Text:
        """Channel name."""
        return "agent_api"

    def url_prefix(self) -> Text:
        """Mounted at ``/api`` rather than under ``/webhooks``."""
        return "/api"

    def __init__(self, followup_interval: Optional[float] = None) -> None:
        self.followup_interval = float(
            followup_interval or os.environ.get("FOLLOWUP_INTERVAL_SECONDS") or DEFAULT_FOLLOWUP_INTERVAL
        )
        self._client: Optional[Redis] = None
        self._exempt_texts: Optional[frozenset[str]] = None

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "AgentApi":
        """Optional ``followup_interval`` (seconds) from credentials.yml."""
        return cls((credentials or {}).get("followup_interval"))

    # stores (one Redis client per server, created on first use) -------------------------------
    def client(self) -> Redis:
        """The Redis client of this server."""
        if self._client is None:
            self._client = stores.redis_from_env()
        return self._client

    def tickets(self) -> TicketStore:
        """The ticket store."""
        return stores.ticket_store(self.client())

    def handoffs(self) -> HandoffQueue:
        """The agents' queue."""
        return stores.handoff_queue(self.client())

    # the blueprint -----------------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The routes of :func:`create_blueprint`, with the follow-up timer's listeners."""
        load_policy()  # a broken policy file fails here, when Rasa builds its channels
        turns.burst_settings()  # so does a BURST_* variable that is not a number in range
        api = create_blueprint(self)
        guard.install()

        @api.listener("before_server_start")
        async def limit_rates(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
            ratelimit.install(app)  # every route of the server, not only /api (bot/services/ratelimit.py)

        @api.listener("after_server_start")
        async def start_timers(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
            guard.unwrap_tracker_store(app.ctx.agent)
            app.ctx.followup_task = asyncio.ensure_future(self._followup_loop(app))
            app.ctx.model_task = asyncio.ensure_future(live_model.follow(app, Workspace.from_env()))
            app.ctx.warm_task = asyncio.ensure_future(self._warm_projections())
            app.ctx.inbox_task = asyncio.ensure_future(turns.sweep_forever(app))

        @api.listener("before_server_stop")
        async def stop_timers(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
            for name in ("followup_task", "model_task", "inbox_task"):
                task = getattr(app.ctx, name, None)
                if task is not None:
                    task.cancel()
            data_validation.shutdown()

        return api

    async def _warm_projections(self) -> None:
        """Reads the tickets' projections the dashboard needs (the default 30 days and the 31 before)
        once at start, so the shop owner's first dashboard does not wait for it (a few seconds with
        100,000 tickets, ``make bench-console``)."""
        try:
            await self.tickets().all_facts(time.time() - WARM_DAYS * 86400, None)
        except Exception as error:  # noqa: BLE001 - only a warm-up; the dashboard reads what it needs
            logger.warning("ticket projections not read at start: %s", error)

    def exempt_texts(self) -> frozenset[str]:
        """The domain's safety notes the house rules do not judge, read from domain.yml once per server."""
        if self._exempt_texts is None:
            self._exempt_texts = exempt_texts_from_domain()
        return self._exempt_texts

    # the follow-up timer -----------------------------------------------------------------------
    def followup(self, app: Sanic) -> FollowUp:
        """The follow-up jobs, rendering with the server's agent and sending on its channels."""

        async def render(response: str, sender_id: str, channel: Optional[str] = None, **values: Any) -> Dict[str, Any]:
            return await delivery.render(app.ctx.agent, response, sender_id, channel, **values)

        async def send(sender_id: str, message: Dict[str, Any], author: str) -> None:
            try:
                await delivery.send(app, sender_id, message, author=author)
            except Exception as error:  # noqa: BLE001 - logged; the ticket history keeps the rest
                logger.error("follow-up message to %s not delivered: %s", mask_pii(sender_id), error)

        async def ask_satisfaction(sender_id: str) -> bool:
            return await ask_satisfaction_now(app, sender_id)

        client = self.client()
        prefix = getattr(app.ctx.agent.tracker_store, "prefix", None) or "tracker"
        return FollowUp(
            self.tickets(),
            self.handoffs(),
            client,
            render,
            send,
            ask_satisfaction,
            progress_lead=PROGRESS_LEAD_SECONDS,
            conversations=Conversations(client, prefix),
            quality=QualityStore(client),
            promises=PromiseLedger(client),
            exempt_texts=self.exempt_texts(),
        )

    async def _followup_loop(self, app: Sanic) -> None:
        async def job() -> FollowUp:
            return self.followup(app)

        await run_forever(job, self.followup_interval)

    async def followup_once(self, app: Sanic, now: Optional[float] = None) -> Dict[str, int]:
        """One round: escalate unclaimed overdue cases, send due progress messages (see :class:`FollowUp`)."""
        return await self.followup(app).once(now)


async def ask_satisfaction_now(app: Sanic, sender_id: str) -> bool:
    """Asks the 1-5 question in a conversation that is free (not paused, no form running), on its
    channel, by the intent ``EXTERNAL_resolved``; False when busy or when sending fails (logged)."""
    agent = app.ctx.agent
    try:
        async with agent.lock_store.lock(sender_id):
            tracker = await agent.tracker_store.retrieve(sender_id)
            if tracker is None or tracker.is_paused() or tracker.active_loop_name:
                return False
            output = delivery.output_channel_for(app, tracker.get_latest_input_channel())
            if output is None:
                return False
            await agent.trigger_intent("EXTERNAL_resolved", {}, output, tracker)
            return True
    except Exception as error:  # noqa: BLE001 - the timer tries again next round
        logger.error("satisfaction question to %s not sent: %s", mask_pii(sender_id), error)
        return False
