"""The agents' console routes (issue 12): ``/api/console/...``, each acting as one logged-in person.

Every route needs a person: the name (header ``X-Agent-Name``, percent-encoded UTF-8, or query
``agent``) and a token (``Authorization: Bearer`` or query ``token``) that
:meth:`bot.policy.staff.Roster.authenticate` accepts: the shared ``BOT_API_TOKEN``, or the
person's own token when ``policy/staff.yml`` gives them one. Their role (agent, manager,
supervisor) decides what they see and may do:

* the queue (``GET /console/queue``): open cases, most urgent first, each with its SLA countdown
  (:func:`bot.policy.sla.countdown`); agents and managers see waiting cases of every queue but the
  supervisor queue, and the cases they hold; supervisors see everything;
* live updates (``GET /console/events``): server-sent events ``queue`` (the queue changed) and
  ``conversation`` (the open case's conversation has a new message); the page polls when the
  stream fails;
* a case (``GET /console/cases/{sender_id}``): the summary card, tickets with their history, the
  same order's other tickets, the whole transcript, the promises made, the house-rule check;
* claim, reply, resolve (hand back to the bot), approve or reject a compensation, resolve a ticket
  that has no case (the bot settled it and the shop carried it out), mark a promise kept.

Rights and conflicts, as the issue asks: replying to or resolving a case another agent holds is
409 and names the holder; approving above one's authority is 403 and says who can
(``who``: listed names, ``roles``: role labels, ``approver``: ``manager`` or ``headquarters``);
resolving a resolved case is 409. Documented in ``docs/openapi.yaml``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import unicodedata
import urllib.parse
from typing import Any, Awaitable, Callable, Dict, Optional, Protocol

from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, ConversationResumed
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.agent_api import console_views
from bot.agent_api.auth import ENV_VAR as TOKEN_ENV_VAR
from bot.agent_api.auth import given_token
from bot.agent_api.http import ApiError, body_of, required_text, text_field
from bot.analytics.facts import CLAIM_NOTE
from bot.followup import satisfaction
from bot.policy import sla as sla_module
from bot.policy.catalogue import load_catalogue
from bot.policy.labels import load_labels
from bot.policy.staff import MAX_NAME, Staff, load_staff
from bot.privacy import mask_pii
from bot.services import delivery
from bot.store.handoff import CaseNotClaimed, CaseNotFound, HandoffCase, HandoffQueue
from bot.store.promises import PromiseLedger, PromiseNotFound
from bot.store.tickets import Ticket, TicketStore

logger = logging.getLogger(__name__)

EVENTS_SECONDS = 300.0
"""How long one event stream stays open; the browser's EventSource reconnects by itself."""

EVENTS_POLL_SECONDS = 1.0
"""How often an event stream looks for changes (two small Redis reads)."""

EVENTS_PING_SECONDS = 15.0
"""A comment line this often keeps proxies from closing a quiet stream."""


class ConsoleStores(Protocol):
    """What the console routes need (the agents' API channel gives it)."""

    def tickets(self) -> TicketStore:
        """The ticket store."""

    def handoffs(self) -> HandoffQueue:
        """The agents' queue."""

    def client(self) -> Any:
        """The ``redis.asyncio`` client (markers, the conversation index)."""


def staff_of(request: Request) -> Staff:
    """The logged-in person of a request.

    Raises:
        ApiError: 400 when the name is longer than 64 characters, not UTF-8, or has control or
            invisible characters ("王经理\u200b" would pass for 王经理); 401 when the name is missing
            or the token is not theirs.
    """
    header = request.headers.get("x-agent-name")
    try:
        name = (urllib.parse.unquote(header, errors="strict") if header else request.args.get("agent") or "").strip()
    except UnicodeDecodeError:
        raise ApiError(400, "the agent name is not percent-encoded UTF-8", zh="名字的编码不对")
    if len(name) > MAX_NAME or any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs") or c == "\ufffd" for c in name):
        raise ApiError(
            400, "the agent name is too long or has control or invisible characters", zh="名字太长或含有不可见字符"
        )
    person = load_staff().authenticate(name, given_token(request), os.environ.get(TOKEN_ENV_VAR) or "")
    if person is None:
        raise ApiError(401, "missing or wrong token, or no agent name")
    return person


def visible(person: Staff, case: HandoffCase, supervisor_queue: str) -> bool:
    """Whether ``person`` sees ``case`` in their queue (see the module docstring)."""
    if person.sees_all_cases:
        return True
    if case.claimed_by:
        return case.claimed_by == person.name
    return case.queue != supervisor_queue or person.sees_supervisor_queue


def trainer_link(sender_id: str) -> str:
    """Where a trainer opens this conversation in the workbench (``/trainer/#conversation=<id>``)."""
    return f"/trainer/#conversation={urllib.parse.quote(sender_id, safe='')}"


def queue_item(case: HandoffCase, now: float, ticket: Optional[Ticket] = None) -> Dict[str, Any]:
    """One line of the console's queue: the case with its countdown and labels, the customer masked."""
    config = sla_module.load_sla()
    summary = case.summary or {}
    last = [m for m in summary.get("last_messages") or [] if isinstance(m, str)]
    started = case.deadline - config.escalation_window_seconds if case.escalated else case.created_at
    return {
        "sender_id": case.sender_id,
        "case_id": case.case_id,
        "channel": case.channel,
        "customer": mask_pii(case.customer_id or ""),
        "reason": case.reason,
        "queue": case.queue,
        "queue_label": config.queue_display(case.queue),
        "priority": case.priority,
        "status": case.status,
        "claimed_by": case.claimed_by,
        "escalated": case.escalated,
        "created_at": case.created_at,
        "deadline": case.deadline,
        "window_started": started,
        "deadline_text": sla_module.format_deadline(case.deadline, now=now),
        "countdown": sla_module.countdown(case.deadline, started, now) if case.status == "waiting" else None,
        "ticket_id": case.ticket_id,
        "type": summary.get("type") or (ticket.type if ticket else None),
        "cause": summary.get("cause") or (ticket.cause if ticket else None),
        "urgency": summary.get("urgency") or (ticket.urgency if ticket else None),
        "preview": mask_pii(last[-1])[:80] if last else "",
    }


def register(route: Callable[..., Any], stores: ConsoleStores) -> None:
    """Adds the console routes with the agents' API ``route`` decorator (``public=True``: each
    route authenticates the person itself, see :func:`staff_of`)."""

    @route("/console/me", public=True)
    async def me(request: Request) -> HTTPResponse:
        person = staff_of(request)
        authority = load_catalogue().authority
        return response.json(
            {
                "name": person.name,
                "role": person.role,
                "role_label": person.role_label,
                "approval_limit": person.approval_limit(authority.bot_max, authority.manager_max),
                "sees_supervisor_queue": person.sees_supervisor_queue,
                "sees_all_cases": person.sees_all_cases,
            }
        )

    @route("/console/queue", public=True)
    async def queue(request: Request) -> HTTPResponse:
        person = staff_of(request)
        now = time.time()
        handoffs = stores.handoffs()
        version = await handoffs.version()
        supervisor_queue = handoffs.sla.escalation_queue
        cases = [c for c in await handoffs.list_cases() if visible(person, c, supervisor_queue)]
        waiting = sum(1 for c in cases if c.status == "waiting")
        return response.json(
            {
                "now": now,
                "version": version,
                "waiting": waiting,
                "mine": sum(1 for c in cases if c.claimed_by == person.name),
                "cases": [queue_item(c, now) for c in cases],
            }
        )

    @route("/console/events", public=True)
    async def events(request: Request) -> Any:
        person = staff_of(request)
        sender_id = (request.args.get("sender_id") or "").strip()
        return await _event_stream(request, stores, person, sender_id)

    @route("/console/tickets/<ticket_id>", public=True)
    async def find_ticket(request: Request, ticket_id: str) -> HTTPResponse:
        staff_of(request)
        ticket = await stores.tickets().get(ticket_id.strip().upper())
        if ticket is None:
            raise ApiError(404, "no such ticket", zh="没有这个工单号")
        return response.json({"id": ticket.id, "sender_id": ticket.sender_id, "status": ticket.status})

    @route("/console/cases/<sender_id>", public=True)
    async def case_detail(request: Request, sender_id: str) -> HTTPResponse:
        person = staff_of(request)
        return response.json(await _case_view(request, stores, person, sender_id))

    @route("/console/cases/<sender_id>/claim", methods=("POST",), public=True)
    async def claim(request: Request, sender_id: str) -> HTTPResponse:
        person = staff_of(request)
        handoffs = stores.handoffs()
        current = await handoffs.get(sender_id)
        if current is None or current.status == "resolved":
            raise ApiError(404, "no open case for this conversation")
        if current.claimed_by and current.claimed_by != person.name:
            raise ApiError(409, f"case held by {current.claimed_by}", holder=current.claimed_by)
        if current.claimed_by == person.name:  # claimed again (a second click): nothing changes
            return response.json(await _case_view(request, stores, person, sender_id))
        if not visible(person, current, handoffs.sla.escalation_queue):
            raise ApiError(403, "this queue is the supervisors'", queue=current.queue)
        case = await handoffs.claim(person.name, sender_id)
        if case is None:
            latest = await handoffs.get(sender_id)
            raise ApiError(409, "case taken by another agent", holder=latest.claimed_by if latest else None)
        if case.ticket_id:
            await stores.tickets().update(
                case.ticket_id, actor=person.name, note=CLAIM_NOTE, status="with_agent", owner=person.name
            )
        return response.json(await _case_view(request, stores, person, sender_id))

    @route("/console/cases/<sender_id>/reply", methods=("POST",), public=True)
    async def reply(request: Request, sender_id: str) -> HTTPResponse:
        person = staff_of(request)
        text = required_text(body_of(request), "text")
        await _held_by(stores, person, sender_id)
        return await send_agent_message(request, sender_id, text, f"agent:{person.name}")

    @route("/console/cases/<sender_id>/resolve", methods=("POST",), public=True)
    async def resolve(request: Request, sender_id: str) -> HTTPResponse:
        person = staff_of(request)
        note = text_field(body_of(request), "note", required=False) or "已解决"
        case = await _held_by(stores, person, sender_id)
        ticket = await stores.tickets().get(case.ticket_id) if case.ticket_id else None
        if ticket is not None and (ticket.compensation or {}).get("status") == "pending_approval":
            raise ApiError(
                409,
                "the compensation is still waiting for approval: decide it first",
                zh="补偿还在等待审批：请先批准或驳回（超出权限的，等总部决定后再解决）",
            )
        try:
            case = await stores.handoffs().resolve(sender_id, person.name)
        except CaseNotFound:
            raise ApiError(409, "this case is already resolved")
        except CaseNotClaimed:
            raise ApiError(409, "claim the case before resolving it")
        resumed, asked = await resume_bot(request, stores, case, person.name, note)
        return response.json(
            {"resolved": True, "ticket_id": case.ticket_id, "bot_resumed": resumed, "satisfaction_asked": asked}
        )

    @route("/console/tickets/<ticket_id>/compensation", methods=("POST",), public=True)
    async def compensation(request: Request, ticket_id: str) -> HTTPResponse:
        person = staff_of(request)

        async def rights(ticket: Ticket) -> None:
            case = await stores.handoffs().get(ticket.sender_id)
            if case is not None and case.status != "resolved" and case.claimed_by not in (None, person.name):
                raise ApiError(409, f"case held by {case.claimed_by}", holder=case.claimed_by)
            check_authority(person, ticket)

        return await decide_compensation(stores, body_of(request), ticket_id, person.name, rights)

    @route("/console/tickets/<ticket_id>/resolve", methods=("POST",), public=True)
    async def resolve_ticket(request: Request, ticket_id: str) -> HTTPResponse:
        person = staff_of(request)
        note = text_field(body_of(request), "note", required=False) or "已办结"
        store = stores.tickets()
        ticket = await store.get(ticket_id)
        if ticket is None:
            raise ApiError(404, "no such ticket")
        if not ticket.is_open:
            raise ApiError(409, "this ticket is already resolved")
        case = await stores.handoffs().get(ticket.sender_id)
        if case is not None and case.status != "resolved":
            raise ApiError(409, "the conversation has an open case: resolve the case instead")
        ticket = await store.update(ticket_id, actor=person.name, note=note, status="resolved")
        await satisfaction.Survey(stores.client(), store.prefix).resolved(ticket.id, time.time())
        return response.json(ticket.to_dict())

    @route("/console/promises/<promise_id>/keep", methods=("POST",), public=True)
    async def keep_promise(request: Request, promise_id: str) -> HTTPResponse:
        person = staff_of(request)
        note = text_field(body_of(request), "note", required=False) or ""
        try:
            promise = await PromiseLedger(stores.client()).keep(promise_id, by=f"agent:{person.name}", note=note)
        except PromiseNotFound:
            raise ApiError(404, "no such promise")
        return response.json(promise.to_dict())


async def decide_compensation(
    stores: ConsoleStores,
    data: Dict[str, Any],
    ticket_id: str,
    actor: str,
    rights: Optional[Callable[[Ticket], Awaitable[None]]] = None,
) -> HTTPResponse:
    """Approves or rejects the compensation a ticket waits for (``data``: ``approved``, optional ``note``).

    ``rights`` checks who may decide it (the console: the case's holder and the person's authority,
    :func:`check_authority`); the integration API passes none (it records decisions made elsewhere).

    Returns:
        200 with the ticket, now ``with_agent`` and its compensation ``approved``/``rejected`` by ``actor``.

    Raises:
        ApiError: 400 ``approved`` not a boolean; 404 no such ticket; 409 no compensation waits;
            whatever ``rights`` raises.
    """
    approved = data.get("approved")
    if not isinstance(approved, bool):
        raise ApiError(400, "'approved' must be true or false")
    note = text_field(data, "note", required=False) or ("补偿已批准" if approved else "补偿未批准")
    store = stores.tickets()
    ticket = await store.get(ticket_id)
    if ticket is None:
        raise ApiError(404, "no such ticket")
    if not ticket.compensation or ticket.compensation.get("status") != "pending_approval":
        raise ApiError(409, "this ticket has no compensation waiting for approval")
    if rights is not None:
        await rights(ticket)
    decided = dict(ticket.compensation, status="approved" if approved else "rejected", approved_by=actor)
    ticket = await store.update(ticket_id, actor=actor, note=note, status="with_agent", compensation=decided)
    return response.json(ticket.to_dict())


async def send_agent_message(request: Request, sender_id: str, text: str, author: str) -> HTTPResponse:
    """Sends an agent's message on the customer's channel and answers how it went.

    Returns:
        200 ``{"delivered": true, "channel"}``; 502 ``{"delivered": false, "channel", "error"}`` when
        the message is in the conversation but the platform refused it (the agent must reach the
        customer another way).

    Raises:
        ApiError: 404 no such conversation; 409 its channel cannot send outside a turn.
    """
    try:
        channel = await delivery.send(request.app, sender_id, {"text": text}, author=author)
    except LookupError:
        raise ApiError(404, "no such conversation")
    except delivery.NotDelivered as error:
        logger.error("agent message to %s not delivered on %s: %s", mask_pii(sender_id), error.channel, error)
        return response.json(
            {
                "delivered": False,
                "channel": error.channel,
                "error": "saved in the conversation, but the platform did not accept it: "
                "contact the customer another way",
                "zh": "消息已记入对话，但平台没有接收：请换其他方式联系顾客",
            },
            status=502,
        )
    except RuntimeError as error:
        raise ApiError(409, str(error))
    return response.json({"delivered": True, "channel": channel})


async def resume_bot(
    request: Request, stores: ConsoleStores, case: HandoffCase, actor: str, note: str
) -> tuple[bool, bool]:
    """After a case is resolved: resolves its ticket, gives the conversation back to the bot and
    asks the 1-5 satisfaction question (SPEC.md sections 5 and 7).

    Returns:
        ``(resumed, asked)``: whether a conversation was there to resume, and whether the question
        went out now; when it did not (a channel that cannot send outside a turn, a failure), the
        follow-up timer asks within 24 hours (:mod:`bot.followup.satisfaction`).
    """
    survey = satisfaction.Survey(stores.client(), stores.tickets().prefix)
    if case.ticket_id:
        ticket = await stores.tickets().get(case.ticket_id)
        if ticket is not None and ticket.is_open:
            await stores.tickets().update(case.ticket_id, actor=actor, note=note, status="resolved")
        await survey.resolved(case.ticket_id, time.time())
    app = request.app
    agent = app.ctx.agent
    asked = False
    async with agent.lock_store.lock(case.sender_id):
        tracker = await agent.tracker_store.retrieve(case.sender_id)
        if tracker is None:
            return False, False
        tracker.update(ConversationResumed())
        # the paused bot never went back to listening; rules expect a listen before an intent
        tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
        output = delivery.output_channel_for(app, tracker.get_latest_input_channel())
        # one question per ticket, however many paths try (a case without a ticket is asked as is)
        if output is not None and (not case.ticket_id or await survey.claim(case.ticket_id)):
            try:
                await agent.trigger_intent("EXTERNAL_resolved", {}, output, tracker)
                asked = True
                if case.ticket_id:
                    await survey.forget(case.ticket_id)
            except Exception as error:  # noqa: BLE001 - the case is resolved; the bot must resume anyway
                logger.error("satisfaction question to %s not sent: %s", mask_pii(case.sender_id), error)
                if case.ticket_id:
                    await survey.release(case.ticket_id)
        if not asked:
            await agent.tracker_store.save(tracker)
    return True, asked


async def _held_by(stores: ConsoleStores, person: Staff, sender_id: str) -> HandoffCase:
    """The open case ``person`` holds (404 none ever, 409 resolved, waiting or held by another)."""
    case = await stores.handoffs().get(sender_id)
    if case is None:
        raise ApiError(404, "no case for this conversation")
    if case.status == "resolved":
        raise ApiError(409, "this case is already resolved")
    if case.claimed_by is None:
        raise ApiError(409, "claim the case first")
    if case.claimed_by != person.name:
        raise ApiError(409, f"case held by {case.claimed_by}", holder=case.claimed_by)
    return case


def check_authority(person: Staff, ticket: Ticket) -> None:
    """403 when the compensation is above ``person``'s limit, naming who can approve it."""
    authority = load_catalogue().authority
    amount = float((ticket.compensation or {}).get("amount") or 0)
    limit = person.approval_limit(authority.bot_max, authority.manager_max)
    if amount <= limit:
        return
    roster = load_staff()
    approvers = load_labels().approvers
    if amount <= authority.manager_max:
        raise ApiError(
            403,
            f"¥{amount:g} is above your limit of ¥{limit:g}: a manager approves up to ¥{authority.manager_max:g}",
            approver="manager",
            approver_label=approvers["manager"],
            who=roster.who_can_approve("manager"),
            roles=roster.roles_for("manager"),
            limit=limit,
        )
    raise ApiError(
        403,
        f"¥{amount:g} is above ¥{authority.manager_max:g}: headquarters approves it, outside the console",
        approver="headquarters",
        approver_label=approvers["headquarters"],
        who=[],
        roles=[],
        limit=limit,
    )


async def _case_view(request: Request, stores: ConsoleStores, person: Staff, sender_id: str) -> Dict[str, Any]:
    """Everything the case screen shows (see the module docstring)."""
    handoffs = stores.handoffs()
    case = await handoffs.get(sender_id)
    tickets = await stores.tickets().for_sender(sender_id)
    if case is None and not tickets:
        raise ApiError(404, "no case or ticket for this conversation")
    if case is not None and not person.sees_all_cases:
        held_by_other = case.status == "claimed" and case.claimed_by != person.name
        if held_by_other or (case.status == "waiting" and not visible(person, case, handoffs.sla.escalation_queue)):
            raise ApiError(403, "this case is not yours to open", holder=case.claimed_by)
    tracker = await request.app.ctx.agent.tracker_store.retrieve_full_tracker(sender_id)
    linked: Dict[str, Dict[str, Any]] = {}
    for ticket in tickets:
        for other in await stores.tickets().linked(ticket):
            if other.sender_id != sender_id:
                linked.setdefault(other.id, console_views.linked_ticket(other))
    now = time.time()
    authority = load_catalogue().authority
    return {
        "sender_id": sender_id,
        "now": now,
        "case": queue_item(case, now, tickets[0] if tickets else None) if case else None,  # newest first
        "summary": case.summary if case else None,
        "tickets": [t.to_dict() for t in tickets],
        "linked": list(linked.values()),
        "messages": delivery.transcript(tracker) if tracker is not None else [],
        "paused": tracker.is_paused() if tracker is not None else False,
        "promises": await console_views.promises_of(stores.client(), sender_id),
        "quality": await console_views.quality_of(stores.client(), sender_id),
        "rights": {
            "claim": case is not None
            and case.status == "waiting"
            and visible(person, case, handoffs.sla.escalation_queue),
            "reply": case is not None and case.status == "claimed" and case.claimed_by == person.name,
            "resolve": case is not None and case.status == "claimed" and case.claimed_by == person.name,
            "approval_limit": person.approval_limit(authority.bot_max, authority.manager_max),
        },
        "trainer_link": trainer_link(sender_id),
    }


async def _event_stream(request: Request, stores: ConsoleStores, person: Staff, sender_id: str) -> Any:
    """Server-sent events until :data:`EVENTS_SECONDS` pass or the browser goes away."""
    handoffs = stores.handoffs()
    tracker_store = request.app.ctx.agent.tracker_store
    active_key: Optional[str] = getattr(tracker_store, "active_key", None)
    client = stores.client()
    stream = await request.respond(
        content_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    assert stream is not None
    await stream.send("retry: 3000\n\n")
    last_version: Optional[int] = None
    last_activity: Optional[float] = None
    started = last_ping = time.monotonic()
    try:
        while time.monotonic() - started < EVENTS_SECONDS:
            version = await handoffs.version()
            if version != last_version:
                await stream.send(f"event: queue\ndata: {json.dumps({'version': version})}\n\n")
                last_version = version
            if sender_id and active_key:
                score = await client.zscore(active_key, sender_id)
                activity = float(score) if score is not None else None
                if last_activity is not None and activity != last_activity:
                    payload = json.dumps({"sender_id": sender_id, "at": activity}, ensure_ascii=False)
                    await stream.send(f"event: conversation\ndata: {payload}\n\n")
                last_activity = activity
            if time.monotonic() - last_ping > EVENTS_PING_SECONDS:
                await stream.send(": ping\n\n")
                last_ping = time.monotonic()
            await asyncio.sleep(EVENTS_POLL_SECONDS)
    except (ConnectionError, asyncio.CancelledError):  # the browser closed the page
        logger.debug("console event stream of %s closed", person.name)
    except Exception as error:  # noqa: BLE001 - a dropped stream is normal; the page reconnects
        logger.info("console event stream of %s ended: %s", person.name, error)
    try:
        await stream.eof()
    except Exception:  # noqa: BLE001 - already closed
        pass
    return None
