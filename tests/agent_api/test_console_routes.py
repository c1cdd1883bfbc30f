"""The agents' console routes (/api/console/..., issue 12) against the running bot.

Rights and conflicts the issue names: replying to a case another agent holds is 409, approving
above one's authority is 403 and says who can, a resolved case cannot be resolved twice, the
supervisor queue is the supervisors', and every route answers 4xx, never 5xx, to malformed input.
Cases are made by talking to the bot as a customer (REST channel) or, for a compensation waiting
for approval, written through the real ticket store and queue on the test Redis.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest

from bot.store import client as store_client
from bot.store.handoff import HandoffCase
from tools.devstack import http_json

AGENT, OTHER, MANAGER, SUPERVISOR = "小张", "小刘", "王经理", "李主管"
SAFETY = "我家孩子用你们的暖手宝，刚才外壳突然炸开把手烫出水泡了"


def new_sender(tag: str = "con") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}"


def console(bot: Any, method: str, path: str, body: Any = None, *, agent: str = AGENT, token: str | None = None):  # type: ignore[no-untyped-def]
    """One console call as ``agent``: (status, JSON)."""
    headers = {"Authorization": f"Bearer {bot.token if token is None else token}"}
    if agent:
        headers["X-Agent-Name"] = urllib.parse.quote(agent)
    status, text, parsed = http_json(method, bot.base + "/api/console" + path, body, headers=headers)
    assert "Traceback" not in text, text
    assert status < 500 or status == 502, (status, text)
    return status, parsed


def case_path(sender: str, suffix: str = "") -> str:
    return f"/cases/{urllib.parse.quote(sender, safe='')}{suffix}"


def safety_case(bot: Any) -> str:
    sender = new_sender("safety")
    replies = bot.say(sender, SAFETY)
    assert any("转接" in r for r in replies), replies
    return sender


def redis_call(settings: Any, coroutine_factory):  # type: ignore[no-untyped-def]
    """Runs ``coroutine_factory(client)`` on a fresh client of the test Redis."""

    async def run() -> Any:
        import redis.asyncio as aioredis

        client = aioredis.Redis(host=settings.host, port=settings.port, db=settings.db, decode_responses=True)
        try:
            return await coroutine_factory(client)
        finally:
            await client.close()

    return asyncio.run(run())


def pending_compensation(redis_server: Any, amount: float) -> tuple[str, str]:
    """A ticket whose compensation waits for approval, and its case in the approval queue."""
    sender = new_sender("approval")

    async def make(client: Any) -> str:
        tickets, handoffs = store_client.ticket_store(client), store_client.handoff_queue(client)
        ticket, _ = await tickets.create(
            f"test-{sender}",
            channel="rest",
            sender_id=sender,
            customer_id=sender,
            type="product",
            status="pending_approval",
            compensation={"amount": amount, "status": "pending_approval", "approved_by": None},
        )
        case = HandoffCase(
            sender_id=sender,
            channel="rest",
            customer_id=sender,
            reason="approval",
            queue="senior",
            priority="P3",
            deadline=time.time() + 3600,
            ticket_id=ticket.id,
            summary={"type": "product"},
        )
        await handoffs.enqueue(case, f"test-{sender}")
        return ticket.id

    return sender, redis_call(redis_server, make)


# ---------------------------------------------------------------------------------------------


def test_the_console_needs_a_name_and_a_token_and_knows_the_role(bot: Any) -> None:
    assert console(bot, "GET", "/me", agent="")[0] == 401
    assert console(bot, "GET", "/me", token="wrong")[0] == 401
    status, me = console(bot, "GET", "/me")
    assert status == 200 and (me["name"], me["role"], me["approval_limit"]) == (AGENT, "agent", 500)
    status, me = console(bot, "GET", "/me", agent=MANAGER)
    assert (me["role"], me["role_label"], me["approval_limit"]) == ("manager", "店铺经理", 2000)
    status, me = console(bot, "GET", "/me", agent=SUPERVISOR)
    assert me["role"] == "supervisor" and me["sees_supervisor_queue"] and me["sees_all_cases"]


def test_a_safety_case_is_first_in_the_queue_with_its_countdown(bot: Any) -> None:
    sender = safety_case(bot)
    status, queue = console(bot, "GET", "/queue")
    assert status == 200
    mine = [c for c in queue["cases"] if c["sender_id"] == sender]
    assert len(mine) == 1, queue
    item = mine[0]
    assert (item["priority"], item["reason"], item["urgency"], item["status"]) == ("P1", "urgency", "safety", "waiting")
    assert 0 < item["countdown"]["seconds_left"] <= 15 * 60 and item["countdown"]["level"] in ("ok", "amber")
    ranks = [int(c["priority"][1]) for c in queue["cases"] if c["status"] == "waiting"]
    assert ranks == sorted(ranks), "most urgent first"
    assert item["queue_label"] and item["deadline_text"].endswith("前")


def test_replying_to_or_resolving_a_case_another_agent_holds_is_409(bot: Any) -> None:
    sender = safety_case(bot)
    assert console(bot, "POST", case_path(sender, "/reply"), {"text": "您好"})[0] == 409  # nobody holds it yet
    status, view = console(bot, "POST", case_path(sender, "/claim"), {})
    assert status == 200 and view["case"]["claimed_by"] == AGENT and view["rights"]["reply"]
    status, body = console(bot, "POST", case_path(sender, "/reply"), {"text": "我来处理"}, agent=OTHER)
    assert status == 409 and body["holder"] == AGENT
    assert console(bot, "POST", case_path(sender, "/claim"), {}, agent=OTHER)[0] == 409
    assert console(bot, "POST", case_path(sender, "/resolve"), {}, agent=OTHER)[0] == 409
    assert console(bot, "GET", case_path(sender), agent=OTHER)[0] == 403  # another agent's case
    assert console(bot, "GET", case_path(sender), agent=SUPERVISOR)[0] == 200  # supervisors see all
    status, sent = console(bot, "POST", case_path(sender, "/reply"), {"text": "您好，我是客服小张，马上为您处理。"})
    assert status == 200 and sent == {"delivered": True, "channel": "rest"}
    status, view = console(bot, "GET", case_path(sender))
    assert any(m["from"] == f"agent:{AGENT}" and "客服小张" in m["text"] for m in view["messages"])
    status, done = console(bot, "POST", case_path(sender, "/resolve"), {"note": "已安排赔付"})
    assert status == 200 and done["bot_resumed"]
    status, again = console(bot, "POST", case_path(sender, "/resolve"), {})
    assert status == 409 and "already resolved" in again["error"]
    assert console(bot, "POST", case_path(sender, "/reply"), {"text": "还在吗"})[0] == 409


def test_approving_above_ones_authority_is_403_and_says_who_can(bot: Any, redis_server: Any) -> None:
    sender, ticket_id = pending_compensation(redis_server, 1500)
    path = f"/tickets/{ticket_id}/compensation"
    status, body = console(bot, "POST", path, {"approved": True})
    assert status == 403 and body["approver"] == "manager"
    assert MANAGER in body["who"] and "店铺经理" in body["roles"] and body["limit"] == 500
    assert console(bot, "POST", case_path(sender, "/claim"), {}, agent=MANAGER)[0] == 200
    status, body = console(bot, "POST", case_path(sender, "/resolve"), {}, agent=MANAGER)
    assert status == 409 and "审批" in body["zh"]  # not resolved while the customer waits for the decision
    status, ticket = console(bot, "POST", path, {"approved": True, "note": "同意补偿"}, agent=MANAGER)
    assert status == 200 and ticket["compensation"]["status"] == "approved"
    assert ticket["compensation"]["approved_by"] == MANAGER
    assert console(bot, "POST", path, {"approved": True}, agent=MANAGER)[0] == 409  # nothing waits any more
    status, found = console(bot, "GET", f"/tickets/{ticket_id.lower()}")  # 按工单号打开
    assert status == 200 and found["sender_id"] == sender


def test_above_the_managers_limit_only_headquarters_approves(bot: Any, redis_server: Any) -> None:
    _, ticket_id = pending_compensation(redis_server, 3000)
    status, body = console(bot, "POST", f"/tickets/{ticket_id}/compensation", {"approved": True}, agent=MANAGER)
    assert status == 403 and body["approver"] == "headquarters" and body["who"] == []


def test_the_supervisor_queue_is_the_supervisors(bot: Any, redis_server: Any) -> None:
    sender = new_sender("low")

    async def make(client: Any) -> None:
        case = HandoffCase(
            sender_id=sender,
            channel="rest",
            customer_id=sender,
            reason="low_satisfaction",
            queue="supervisor",
            priority="P4",
            deadline=time.time() + 7200,
        )
        await store_client.handoff_queue(client).enqueue(case, f"test-{sender}")

    redis_call(redis_server, make)
    agents_view = console(bot, "GET", "/queue")[1]
    assert sender not in [c["sender_id"] for c in agents_view["cases"]]
    assert console(bot, "POST", case_path(sender, "/claim"), {})[0] == 403
    supervisors_view = console(bot, "GET", "/queue", agent=SUPERVISOR)[1]
    assert sender in [c["sender_id"] for c in supervisors_view["cases"]]
    assert console(bot, "POST", case_path(sender, "/claim"), {}, agent=SUPERVISOR)[0] == 200


@pytest.mark.parametrize(
    "method, path, body, expected",
    [
        ("POST", "/cases/nobody-x/claim", {}, 404),
        ("POST", "/cases/nobody-x/reply", {"text": "hi"}, 404),
        ("POST", "/cases/nobody-x/reply", [], 400),
        ("POST", "/cases/nobody-x/reply", {"text": ""}, 400),
        ("POST", "/cases/nobody-x/reply", {"text": "长" * 2001}, 413),
        ("POST", "/cases/nobody-x/resolve", b"{not json", 400),
        ("GET", "/cases/nobody-x", None, 404),
        ("POST", "/tickets/TS190001010000/compensation", {"approved": "yes"}, 400),
        ("POST", "/tickets/TS190001010000/compensation", {"approved": True}, 404),
        ("POST", "/tickets/TS190001010000/resolve", {}, 404),
        ("POST", "/promises/nope/keep", {}, 404),
        ("POST", "/promises/nope/keep", "text", 400),
        ("GET", "/tickets/TS190001010000", None, 404),
    ],
)
def test_malformed_input_is_4xx(bot: Any, method: str, path: str, body: Any, expected: int) -> None:
    status, answer = console(bot, method, path, body)
    assert status == expected, answer
    assert isinstance(answer, dict) and answer.get("error")


@pytest.mark.parametrize("name", ["长" * 65, "王经理\u200b", "a\u0000b", "%E5%B0"])
def test_names_that_could_pass_for_someone_else_are_400(bot: Any, name: str) -> None:
    headers = {"Authorization": f"Bearer {bot.token}", "X-Agent-Name": urllib.parse.quote(name, safe="%")}
    status, _, answer = http_json("GET", bot.base + "/api/console/me", None, headers=headers)
    assert status == 400 and answer["zh"], answer


@pytest.mark.parametrize(
    "query, zh",
    [
        ("since=0001-01-01&until=0001-01-02", "2000"),
        ("since=9999-12-30&until=9999-12-31", "2100"),
        ("since=2026-11-30&until=2026-11-01", "晚于"),
        ("since=2024-01-01&until=2026-11-01", "366"),
        ("since=20261101", "年-月-日"),
    ],
)
def test_dates_the_dashboard_cannot_show_are_400_in_chinese(bot: Any, query: str, zh: str) -> None:
    for path in ("/api/analytics/dashboard", "/api/analytics/heatmap", "/api/analytics/charts/type_day.svg"):
        status, text, answer = http_json("GET", f"{bot.base}{path}?{query}&token={bot.token}", None)
        assert status == 400 and zh in answer["zh"], (path, status, text[:200])


def test_the_event_stream_announces_the_queue(bot: Any) -> None:
    query = urllib.parse.urlencode({"token": bot.token, "agent": AGENT})
    with urllib.request.urlopen(f"{bot.base}/api/console/events?{query}", timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = [stream.readline().decode("utf-8") for _ in range(4)]
    assert "event: queue\n" in lines, lines
    bad = urllib.parse.urlencode({"token": "wrong", "agent": AGENT})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{bot.base}/api/console/events?{bad}", timeout=10)
    assert refused.value.code == 401
