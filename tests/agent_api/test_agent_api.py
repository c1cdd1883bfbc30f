"""The agents' HTTP API (/api) and the follow-up timer, against the running bot (SPEC.md 5-7, 9).

The timer's rules (once per due time, escalate once, the ticket's own tier) are tested on an
injected clock in tests/followup/test_jobs.py; here the real timer runs in the server.

Uses the session ``bot`` (Rasa server + action server on the test Redis, follow-up timer every
second). The data the API serves is made by talking to the bot, as a customer would.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any, Callable

import pytest

from bot.agent_api.channel import AgentApi
from bot.policy.sla import format_deadline
from bot.store.handoff import HandoffCase, HandoffQueue
from bot.store.tickets import TicketStore
from tests.support.bot import TICKET_FIELDS
from tools.devstack import http_json

CASE_FIELDS = ("sender_id", "priority", "deadline", "summary")
UNKNOWN_TICKET = "TS190001010000"
DAY = 24 * 3600


def new_sender(tag: str = "api") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}"


def call(
    bot: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str, Any]:
    """One HTTP request; returns (status, raw text, decoded JSON or None). ``token`` goes in ``?token=``."""
    url = bot.base + path
    if token is not None:
        url += ("&" if "?" in url else "?") + "token=" + urllib.parse.quote(token)
    return http_json(method, url, body, headers=headers)


def api(bot: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """An authorised API call: (status, JSON)."""
    status, text, parsed = call(bot, method, path, body, token=bot.token)
    assert "Traceback" not in text, text
    return status, parsed


def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Polls ``check()`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.25)


def redis_run(settings: Any, work: Callable[[Any], Any]) -> Any:
    """Runs ``await work(async_redis_client)`` on the test Redis in a fresh event loop."""
    import redis.asyncio as aioredis

    async def main() -> Any:
        client = aioredis.Redis(host=settings.host, port=settings.port, db=settings.db, decode_responses=True)
        try:
            return await work(client)
        finally:
            await (client.aclose() if hasattr(client, "aclose") else client.close())

    return asyncio.run(main())


class Outbox:
    """Collects what the bot sent a REST customer outside a request (GET takes and removes)."""

    def __init__(self, bot: Any, sender: str) -> None:
        self.bot, self.sender, self.messages = bot, sender, []

    def poll(self) -> list[dict[str, Any]]:
        status, body = self.bot.get(f"/webhooks/rest/outbox?sender={urllib.parse.quote(self.sender)}", token=False)
        assert status == 200, body
        assert isinstance(body, list), body
        self.messages.extend(body)
        return self.messages

    def texts(self) -> list[str]:
        return [m.get("text") or "" for m in self.poll()]


# ---- fixtures: data made by talking to the bot ----

PRODUCT_FLOW = [
    ("收到的电饭煲煮饭夹生 才用了两次", "对吗"),
    ("对", "订单号"),
    ("订单号3920184756210384", "照片"),
    ("没拍照片", "怎么处理"),
    ("想换个新的", "换货"),
    ("1", "确认"),
    ("确认", "工单号"),
]


@pytest.fixture(scope="module")
def settled(bot) -> dict[str, str]:
    """A product complaint taken through the three phases to a ticket."""
    sender = new_sender("settled")
    replies: list[str] = []
    for message, expected in PRODUCT_FLOW:
        replies = bot.say(sender, message)
        assert any(expected in r for r in replies), (message, replies)
    match = re.search(r"TS\d{12}", " ".join(replies))
    assert match, replies
    return {"sender": sender, "ticket_id": match.group(0)}


def hand_off(bot, message: str = "转人工") -> tuple[str, list[str]]:
    sender = new_sender("handoff")
    replies = bot.say(sender, message)
    assert any("已为您转接" in r for r in replies), replies
    return sender, replies


def case_of(bot, sender: str) -> dict[str, Any] | None:
    status, cases = api(bot, "GET", "/api/handoffs")
    assert status == 200 and isinstance(cases, list), cases
    return next((c for c in cases if c["sender_id"] == sender), None)


# ---- authentication ----


def served_routes() -> list[tuple[str, str]]:
    """(method, concrete path) of every route of the agents' API blueprint."""
    blueprint = AgentApi().blueprint(lambda message: None)  # type: ignore[arg-type, return-value]
    values = {
        "ticket_id": UNKNOWN_TICKET,
        "sender_id": "auth-nobody",
        "import_id": "0123456789ab",
        "job_id": "20261130-000000-abcd",
        "file": "type_day.svg",
        "promise_id": "p-nobody",
    }
    routes = []
    for route in blueprint._future_routes:
        path = "/api" + re.sub(r"<(\w+)>", lambda m: values[m.group(1)], route.uri.rstrip("/"))
        routes.extend((method, path) for method in route.methods if method in ("GET", "POST"))
    return sorted(set(routes))


PROTECTED = [r for r in served_routes() if r[1] != "/api/health"]


def test_the_api_has_protected_routes() -> None:
    paths = {path for _, path in PROTECTED}
    assert {"/api/tickets", "/api/handoffs", "/api/handoffs/claim"} <= paths
    assert len(PROTECTED) >= 8, PROTECTED


@pytest.mark.parametrize("method, path", PROTECTED)
@pytest.mark.parametrize("how", ["none", "query", "bearer", "bearer-empty", "basic-right-token"])
def test_every_route_but_health_needs_the_token(bot, method: str, path: str, how: str) -> None:
    body = (
        {"agent": "mallory", "text": "hi", "approved": True, "sender_id": "auth-nobody"} if method == "POST" else None
    )
    token, headers = None, {}
    if how == "query":
        token = "wrong-" + bot.token
    elif how == "bearer":
        headers = {"Authorization": "Bearer wrong-" + bot.token}
    elif how == "bearer-empty":
        headers = {"Authorization": "Bearer "}
    elif how == "basic-right-token":  # the right token, but not as a bearer token
        headers = {"Authorization": "Basic " + bot.token}
    query = "?sender_id=auth-nobody" if path == "/api/tickets" else ""
    status, text, parsed = call(bot, method, path + query, body, token=token, headers=headers)
    assert status == 401, (status, text)
    assert isinstance(parsed, dict) and parsed.get("error"), text


def test_the_right_token_works_as_query_or_bearer(bot) -> None:
    status, _, parsed = call(bot, "GET", "/api/handoffs", token=bot.token)
    assert status == 200 and isinstance(parsed, list)
    status, _, parsed = call(bot, "GET", "/api/handoffs", headers={"Authorization": f"Bearer {bot.token}"})
    assert status == 200 and isinstance(parsed, list)


@pytest.mark.parametrize("headers, token", [({}, None), ({"Authorization": "Bearer nonsense"}, "nonsense")])
def test_health_is_public_and_reports_its_checks(bot, headers: dict[str, str], token: str | None) -> None:
    status, text, health = call(bot, "GET", "/api/health", token=token, headers=headers)
    assert status == 200, text
    assert health["status"] == "ok"
    checks = health["checks"]
    assert checks["redis"] is True
    assert checks["tracker_store"] == "WindowedRedisTrackerStore"
    assert checks["tracker_store_durable"] is True
    assert checks["action_server"] is True


# ---- bad input: 4xx with a JSON error, never a 500 or a traceback ----

BAD_REQUESTS = [
    ("POST", "/api/handoffs/claim", b"not json", 400),
    ("POST", "/api/handoffs/claim", b'{"agent": ', 400),
    ("POST", "/api/handoffs/claim", b"[1, 2]", 400),
    ("POST", "/api/handoffs/claim", b'"agent"', 400),
    ("POST", "/api/handoffs/claim", b"null", 400),
    ("POST", "/api/handoffs/claim", b"\xff\xfe\x00", 400),
    ("POST", "/api/handoffs/claim", b"", 400),
    ("POST", "/api/handoffs/claim", {}, 400),
    ("POST", "/api/handoffs/claim", {"agent": ""}, 400),
    ("POST", "/api/handoffs/claim", {"agent": "   "}, 400),
    ("POST", "/api/handoffs/claim", {"agent": 7}, 400),
    ("POST", "/api/handoffs/claim", {"agent": ["a"]}, 400),
    ("POST", "/api/handoffs/claim", {"agent": "a" * 65}, 413),
    ("POST", "/api/handoffs/claim", {"agent": "a", "sender_id": 5}, 400),
    ("POST", "/api/handoffs/claim", {"agent": "a", "sender_id": "s" * 129}, 413),
    ("POST", "/api/conversations/bad-input/messages", b"{]", 400),
    ("POST", "/api/conversations/bad-input/messages", {"text": "您好"}, 400),
    ("POST", "/api/conversations/bad-input/messages", {"agent": "a"}, 400),
    ("POST", "/api/conversations/bad-input/messages", {"agent": "a", "text": ""}, 400),
    ("POST", "/api/conversations/bad-input/messages", {"agent": "a", "text": 42}, 400),
    ("POST", "/api/conversations/bad-input/messages", {"agent": "a", "text": "好" * 2001}, 413),
    ("POST", "/api/handoffs/bad-input/resolve", b"[]", 400),
    ("POST", "/api/handoffs/bad-input/resolve", {}, 400),
    ("POST", "/api/handoffs/bad-input/resolve", {"agent": "a", "note": "长" * 2001}, 413),
    ("POST", f"/api/tickets/{UNKNOWN_TICKET}/compensation", b"true", 400),
    ("POST", f"/api/tickets/{UNKNOWN_TICKET}/compensation", {"approved": True}, 400),
    ("POST", f"/api/tickets/{UNKNOWN_TICKET}/compensation", {"agent": "a"}, 400),
    ("POST", f"/api/tickets/{UNKNOWN_TICKET}/compensation", {"agent": "a", "approved": "yes"}, 400),
    ("POST", f"/api/tickets/{UNKNOWN_TICKET}/compensation", {"agent": "a", "approved": 1}, 400),
    ("GET", "/api/tickets", None, 400),
    ("GET", "/api/tickets?sender_id=", None, 400),
    ("GET", "/api/handoffs?status=everything", None, 400),
]


@pytest.mark.parametrize("method, path, body, expected", BAD_REQUESTS)
def test_bad_input_gets_a_json_4xx(bot, method: str, path: str, body: Any, expected: int) -> None:
    status, text, parsed = call(bot, method, path, body, token=bot.token)
    assert status == expected, (status, text)
    assert isinstance(parsed, dict) and isinstance(parsed.get("error"), str) and parsed["error"], text
    assert "Traceback" not in text and 'File "' not in text


def test_unknown_ticket_is_404(bot) -> None:
    for method, path, body in [
        ("GET", f"/api/tickets/{UNKNOWN_TICKET}", None),
        ("POST", f"/api/tickets/{UNKNOWN_TICKET}/compensation", {"agent": "a", "approved": True}),
    ]:
        status, parsed = api(bot, method, path, body)
        assert status == 404 and parsed.get("error"), (path, parsed)


def test_unknown_conversation_is_404(bot) -> None:
    nobody = new_sender("nobody")
    status, parsed = api(bot, "POST", f"/api/conversations/{nobody}/messages", {"agent": "a", "text": "您好"})
    assert status == 404 and parsed.get("error"), parsed
    status, parsed = api(bot, "GET", f"/api/conversations/{nobody}/transcript")
    assert status == 404 and parsed.get("error"), parsed
    status, parsed = api(bot, "POST", f"/api/handoffs/{nobody}/resolve", {"agent": "a"})
    assert status == 404 and parsed.get("error"), parsed
    # the message to nobody did not create a conversation on the way
    status, parsed = api(bot, "GET", f"/api/conversations/{nobody}/transcript")
    assert status == 404


def test_tickets_of_an_unknown_conversation_is_an_empty_list(bot) -> None:
    status, parsed = api(bot, "GET", f"/api/tickets?sender_id={new_sender('nobody')}")
    assert status == 200 and parsed == []


def test_resolve_without_claim_is_409(bot) -> None:
    sender, _ = hand_off(bot)
    status, parsed = api(bot, "POST", f"/api/handoffs/{sender}/resolve", {"agent": "alice"})
    assert status == 409 and parsed.get("error"), parsed
    case = case_of(bot, sender)
    assert case is not None and case["status"] == "waiting"  # nothing changed


def test_resolve_by_another_agent_is_409(bot) -> None:
    sender, _ = hand_off(bot)
    status, case = api(bot, "POST", "/api/handoffs/claim", {"agent": "alice", "sender_id": sender})
    assert status == 200 and case["claimed_by"] == "alice", case
    status, parsed = api(bot, "POST", f"/api/handoffs/{sender}/resolve", {"agent": "bob"})
    assert status == 409 and parsed.get("error"), parsed


def test_claim_on_an_empty_queue_is_404(bot) -> None:
    for _ in range(500):  # take whatever earlier tests left waiting
        status, parsed = api(bot, "POST", "/api/handoffs/claim", {"agent": "drainer"})
        if status != 200:
            break
    assert status == 404 and parsed.get("error"), parsed
    status, cases = api(bot, "GET", "/api/handoffs?status=waiting")
    assert status == 200 and cases == []


def test_claim_of_a_conversation_without_a_case_is_404(bot) -> None:
    status, parsed = api(bot, "POST", "/api/handoffs/claim", {"agent": "alice", "sender_id": new_sender("nobody")})
    assert status == 404, parsed


def test_compensation_decision_without_pending_compensation_is_409(bot, settled) -> None:
    sender, _ = hand_off(bot)
    status, tickets = api(bot, "GET", f"/api/tickets?sender_id={sender}")
    assert status == 200 and len(tickets) == 1, tickets
    for ticket_id in (tickets[0]["id"], settled["ticket_id"]):
        before = api(bot, "GET", f"/api/tickets/{ticket_id}")[1]
        assert not before["compensation"] or before["compensation"].get("status") != "pending_approval"
        status, parsed = api(bot, "POST", f"/api/tickets/{ticket_id}/compensation", {"agent": "boss", "approved": True})
        assert status == 409 and parsed.get("error"), parsed
        after = api(bot, "GET", f"/api/tickets/{ticket_id}")[1]
        assert after == before  # nothing recorded


# ---- what the API lists ----


def test_tickets_of_a_conversation(bot, settled) -> None:
    status, tickets = api(bot, "GET", f"/api/tickets?sender_id={settled['sender']}")
    assert status == 200 and isinstance(tickets, list) and len(tickets) == 1, tickets
    ticket = tickets[0]
    for name in TICKET_FIELDS:
        assert name in ticket, name
    assert ticket["id"] == settled["ticket_id"]
    assert ticket["type"] == "product"
    assert ticket["urgency"] is None
    assert ticket["priority"] == "P4"
    assert ticket["status"] == "open"
    assert ticket["sender_id"] == settled["sender"] and ticket["channel"] == "rest"
    assert ticket["order_id"] == "3920184756210384"
    assert len(ticket["options_offered"]) >= 2 and all(o.get("label") for o in ticket["options_offered"])
    assert ticket["chosen_option"]["label"] == "换货"
    assert ticket["chosen_option"]["id"] in {o["id"] for o in ticket["options_offered"]}
    assert ticket["risk_flag"] is False
    assert ticket["history"] and {"at", "status", "actor", "note"} <= set(ticket["history"][0])
    assert ticket["history"][0]["status"] == "open"
    status, single = api(bot, "GET", f"/api/tickets/{ticket['id']}")
    assert status == 200 and single["id"] == ticket["id"] and single["chosen_option"] == ticket["chosen_option"]


def test_handoffs_list_the_asked_for_human(bot) -> None:
    sender, _ = hand_off(bot)
    started = time.time()
    case = case_of(bot, sender)
    assert case is not None
    for name in CASE_FIELDS:
        assert name in case, name
    assert case["reason"] == "asked" and case["status"] == "waiting"
    assert case["priority"] == "P4" and case["queue"] == "general"
    assert started < case["deadline"] <= started + 2 * 3600 + 5
    assert isinstance(case["summary"], dict)
    assert {"type", "urgency", "phase", "facts", "options_offered"} <= set(case["summary"])
    status, tickets = api(bot, "GET", f"/api/tickets?sender_id={sender}")
    assert [t["id"] for t in tickets] == [case["ticket_id"]]
    assert tickets[0]["status"] == "with_agent"


def test_handoffs_list_an_urgent_complaint_first(bot) -> None:
    sender, replies = hand_off(bot, "宝宝用了你们家的奶瓶 嘴巴被划伤流血了")
    started = time.time()
    case = case_of(bot, sender)
    assert case is not None, replies
    assert case["priority"] == "P1" and case["queue"] == "emergency" and case["reason"] == "urgency"
    assert started < case["deadline"] <= started + 15 * 60 + 5
    assert case["summary"]["urgency"] == "safety" and case["summary"]["type"] == "product"
    status, waiting = api(bot, "GET", "/api/handoffs?status=waiting")
    assert status == 200 and waiting[0]["priority"] == "P1"  # most urgent first
    status, tickets = api(bot, "GET", f"/api/tickets?sender_id={sender}")
    assert len(tickets) == 1 and tickets[0]["urgency"] == "safety" and tickets[0]["priority"] == "P1"


# ---- the follow-up timer (the real one, every second) ----


def test_progress_message_when_due(bot, redis_server, settled) -> None:
    sender, ticket_id = settled["sender"], settled["ticket_id"]
    outbox = Outbox(bot, sender)
    outbox.poll()
    outbox.messages.clear()
    past = time.time() - 3600

    async def make_due(client: Any) -> Any:
        store = TicketStore(client, prefix="tk")
        return await store.update(ticket_id, actor="test", note="进展到期", next_progress_due=past)

    redis_run(redis_server, make_due)

    def progress_sent() -> list[str]:
        return [t for t in outbox.texts() if ticket_id in t]

    sent = eventually(progress_sent, 10, "the progress message")
    assert len(sent) == 1, sent
    assert "进展" in sent[0]

    def moved() -> Any:
        ticket = api(bot, "GET", f"/api/tickets/{ticket_id}")[1]
        return ticket if ticket["next_progress_due"] != past else None

    ticket = eventually(moved, 10, "the next progress deadline")
    # The next report not yet due (one interval after creation, the ticket being minutes old), not
    # "overdue time + interval", which would still be past after a long outage and send a burst.
    assert ticket["next_progress_due"] > time.time()
    assert ticket["next_progress_due"] == pytest.approx(ticket["created_at"] + DAY, abs=5)
    assert ticket["status"] == "open"
    assert any(h["actor"] == "timer" for h in ticket["history"])

    # the conversation records what was sent (the agent's transcript is complete)
    status, transcript = api(bot, "GET", f"/api/conversations/{sender}/transcript")
    assert status == 200 and any(
        ticket_id in (m["text"] or "") and "进展" in (m["text"] or "") for m in transcript["messages"]
    )

    # once per due time, even when it comes round again or two workers run: asserted without
    # waiting on the wall clock in tests/followup/test_jobs.py
    async def settle(client: Any) -> Any:
        return await TicketStore(client, prefix="tk").update(
            ticket_id, actor="test", note="复原", next_progress_due=time.time() + DAY
        )

    redis_run(redis_server, settle)


def test_unclaimed_overdue_case_escalates_once(bot, redis_server) -> None:
    sender, replies = hand_off(bot)
    outbox = Outbox(bot, sender)
    assert outbox.poll() == []
    first = case_of(bot, sender)
    assert first is not None and first["queue"] == "general" and not first["escalated"]

    async def overdue(client: Any) -> Any:
        queue = HandoffQueue(client, prefix="handoff")
        case = HandoffCase(
            sender_id=sender,
            channel="rest",
            customer_id=f"rest:{sender}",
            reason="urgency",
            queue="emergency",
            priority="P1",
            deadline=time.time() - 60,
            summary=first["summary"],
            ticket_id=first["ticket_id"],
        )
        return await queue.enqueue(case, f"{sender}:test-overdue")

    stored, added = redis_run(redis_server, overdue)
    assert added is False  # the conversation's open case, now overdue
    started = time.time()

    def escalated() -> Any:
        case = case_of(bot, sender)
        return case if case and case["queue"] == "supervisor" else None

    case = eventually(escalated, 10, "the escalation")
    assert case["escalated"] is True and case["status"] == "waiting"
    assert case["deadline"] > started
    status, supervisor = api(bot, "GET", "/api/handoffs?status=waiting")
    assert sender in [c["sender_id"] for c in supervisor if c["queue"] == "supervisor"]

    messages = eventually(lambda: [t for t in outbox.texts() if "升级" in t], 10, "the escalation message")
    assert len(messages) == 1, messages
    assert format_deadline(case["deadline"]) in messages[0]  # an honest new time
    assert "客服主管" in messages[0]

    # later rounds escalate nothing more: asserted on the test's clock in tests/followup/test_jobs.py
    assert [t for t in outbox.texts() if "升级" in t] == messages
    again = case_of(bot, sender)
    assert again["deadline"] == case["deadline"] and again["queue"] == "supervisor"
    status, tickets = api(bot, "GET", f"/api/tickets?sender_id={sender}")
    notes = [h["note"] for h in tickets[0]["history"]]
    assert sum("升级" in n for n in notes) == 1, notes
