"""action_record_satisfaction on trackers built by hand, with the stores on the test Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.followup import ActionRecordSatisfaction
from bot.policy.sla import load_sla
from tools.devstack import RedisSettings

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture()
def stores_on_test_redis(redis_server: RedisSettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in redis_server.env().items():
        monkeypatch.setenv(name, value)
    services._clients.clear()
    yield
    services._clients.clear()


def tracker(sender: str, score: int, ticket_id: str | None) -> Tracker:
    latest = {
        "text": str(score),
        "intent": {"name": "inform", "confidence": 0.9},
        "entities": [],
        "message_id": f"m-{score}",
    }
    events = [
        {"event": "user", "text": "收到的杯子是碎的", "parse_data": {"intent": {"name": "complaint_product"}}},
        {"event": "user", "text": str(score), "parse_data": latest},
    ]
    slots = {"satisfaction": float(score), "ticket_id": ticket_id, "complaint_type": "product", "phase": "done"}
    return Tracker(sender, slots, latest, events, False, None, {"name": "satisfaction_form"}, "action_listen")


async def record(t: Tracker) -> list[str]:
    dispatcher = CollectingDispatcher()
    await ActionRecordSatisfaction().run(dispatcher, t, DOMAIN)
    return [m["response"] for m in dispatcher.messages]


async def _ticket(sender: str) -> str:
    ticket, _ = await services.tickets().create(
        f"{sender}:t", channel="rest", sender_id=sender, customer_id=f"rest:{sender}", type="product"
    )
    return ticket.id


@pytest.mark.usefixtures("stores_on_test_redis")
async def test_a_low_score_reaches_the_supervisor_queue_with_the_conversation() -> None:
    sender = f"low-{uuid.uuid4().hex[:8]}"
    ticket_id = await _ticket(sender)

    assert await record(tracker(sender, 1, ticket_id)) == ["utter_sorry_for_rating"]

    case = await services.handoffs().get(sender)
    assert case is not None
    assert (case.reason, case.queue, case.status, case.ticket_id) == (
        "low_satisfaction",
        "supervisor",
        "waiting",
        ticket_id,
    )
    assert case.priority == load_sla().tier("normal").priority
    assert case.summary["satisfaction"] == 1 and "收到的杯子是碎的" in case.summary["last_messages"]
    assert sender in [
        c.sender_id for c in await services.handoffs().list_cases("waiting")
    ]  # what GET /api/handoffs lists
    assert (await services.tickets().get(ticket_id)).satisfaction == 1  # type: ignore[union-attr]
    claimed = await services.handoffs().claim("sup-1", sender)
    assert claimed is not None and claimed.reason == "low_satisfaction"


@pytest.mark.usefixtures("stores_on_test_redis")
async def test_a_retried_call_queues_the_low_score_once() -> None:
    sender = f"again-{uuid.uuid4().hex[:8]}"
    ticket_id = await _ticket(sender)
    await record(tracker(sender, 2, ticket_id))
    await record(tracker(sender, 2, ticket_id))
    assert [c.sender_id for c in await services.handoffs().list_cases()].count(sender) == 1


@pytest.mark.usefixtures("stores_on_test_redis")
async def test_a_good_score_reaches_nobody() -> None:
    sender = f"good-{uuid.uuid4().hex[:8]}"
    assert await record(tracker(sender, 4, await _ticket(sender))) == ["utter_thanks_for_rating"]
    assert await services.handoffs().get(sender) is None


@pytest.mark.usefixtures("stores_on_test_redis")
@pytest.mark.parametrize(("max_score", "handed_over"), [(2, False), (3, True)])
async def test_the_threshold_and_queue_are_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_score: int, handed_over: bool
) -> None:
    raw: dict[str, Any] = yaml.safe_load((ROOT / "policy/sla.yml").read_text(encoding="utf-8"))
    raw["low_satisfaction"] = {"max_score": max_score, "queue": "senior"}
    path = tmp_path / "sla.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(services, "sla", lambda: load_sla(path))
    sender = f"three-{uuid.uuid4().hex[:8]}"

    responses = await record(tracker(sender, 3, await _ticket(sender)))

    case = await services.handoffs().get(sender)
    assert (case is not None) is handed_over
    assert responses == ["utter_sorry_for_rating" if handed_over else "utter_thanks_for_rating"]
    if case is not None:
        assert case.queue == "senior"
