"""Every key of the shop's policy files changes behaviour: change the key, see the code obey it.

The stores run on the real Redis server of the test run; the follow-up jobs render with Rasa's own
templated NLG on the real domain.yml and record what they send (the network edge).
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from redis.asyncio import Redis

from bot.followup.jobs import FollowUp
from bot.policy import labels as labels_module
from bot.policy import schema
from bot.policy import sla as sla_module
from bot.policy.catalogue import Case, load_catalogue
from bot.policy.labels import load_labels
from bot.policy.sla import load_sla
from bot.store.handoff import HandoffCase, HandoffQueue
from bot.store.tickets import TicketStore, describe
from tests.support.followup import Outbox, render
from tools.devstack import RedisSettings

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policy"
T0 = 1_795_000_000.0  # 2026-11-18 (a fixed moment; the clock of these tests)
HOUR = 3600.0
DAY = 24 * HOUR


def _shipped(name: str) -> dict[str, Any]:
    return yaml.safe_load((POLICY / name).read_text(encoding="utf-8"))


class Policy:
    """A copy of the shipped policy folder in a temporary directory, changed by the test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.raw = {name: _shipped(name) for name in ("sla.yml", "labels.yml", "options.yml")}

    def path(self, name: str) -> Path:
        """Writes the file as it is now to a new folder (the loaders cache per path)."""
        path = self.folder / uuid.uuid4().hex[:8] / name
        path.parent.mkdir()
        path.write_text(yaml.safe_dump(self.raw[name], allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path

    def sla(self) -> sla_module.SlaConfig:
        return load_sla(self.path("sla.yml"), labels=self.path("labels.yml"))


@pytest.fixture()
def policy(tmp_path: Path) -> Policy:
    return Policy(tmp_path)


@pytest_asyncio.fixture(loop_scope="function")
async def client(redis_server: RedisSettings) -> AsyncIterator[Redis]:
    redis = Redis(host=redis_server.host, port=redis_server.port, db=redis_server.db, decode_responses=True)
    yield redis
    await redis.close()


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _case(sender: str, queue: str, *, priority: str = "P4", deadline: float = T0 + 60, **extra: Any) -> HandoffCase:
    return HandoffCase(
        sender_id=sender,
        channel="rest",
        customer_id=f"rest:{sender}",
        reason="asked",
        queue=queue,
        priority=priority,
        deadline=deadline,
        **extra,
    )


def _queue(client: Redis, config: sla_module.SlaConfig, clock: Clock) -> HandoffQueue:
    return HandoffQueue(client, prefix=f"k{uuid.uuid4().hex[:10]}", clock=clock, sla=config)


# sla.yml: escalation -----------------------------------------------------------------------------
@pytest.mark.parametrize(("queue", "minutes"), [("supervisor", 30), ("senior", 10)])
async def test_escalation_queue_and_window_come_from_sla_yml(
    client: Redis, policy: Policy, queue: str, minutes: float
) -> None:
    policy.raw["sla.yml"]["escalation"] = {"queue": queue, "window_minutes": minutes}
    handoffs = _queue(client, policy.sla(), Clock(T0 + 61))
    await handoffs.enqueue(_case("late", "general"), "late:1")

    [escalated] = await handoffs.escalate_overdue()

    assert (escalated.queue, escalated.escalated, escalated.deadline) == (queue, True, T0 + 61 + minutes * 60)
    assert await client.xlen(handoffs.stream_key(queue)) == 1
    claimed = await handoffs.claim("boss", queues=[queue])
    assert claimed is not None and claimed.sender_id == "late"


async def test_a_case_already_in_the_escalation_queue_is_not_escalated(client: Redis, policy: Policy) -> None:
    policy.raw["sla.yml"]["escalation"]["queue"] = "senior"
    handoffs = _queue(client, policy.sla(), Clock(T0 + 61))
    await handoffs.enqueue(_case("in-senior", "senior"), "s:1")
    await handoffs.enqueue(_case("in-supervisor", "supervisor"), "s:2")  # an ordinary queue now
    assert [c.sender_id for c in await handoffs.escalate_overdue()] == ["in-supervisor"]


# sla.yml: queues -----------------------------------------------------------------------------------
async def test_a_queue_renamed_in_sla_yml_works_at_the_first_handoff(client: Redis, policy: Policy) -> None:
    sla_raw, labels_raw = policy.raw["sla.yml"], policy.raw["labels.yml"]
    sla_raw["queues"] = [("frontline" if q == "general" else q) for q in sla_raw["queues"]]
    sla_raw["tiers"]["normal"]["queue"] = "frontline"
    labels_raw["queues"]["frontline"] = labels_raw["queues"].pop("general")
    config = policy.sla()
    assert config.priority_for(None).queue == "frontline"
    handoffs = _queue(client, config, Clock())

    case, created = await handoffs.enqueue(_case("c1", config.priority_for(None).queue), "c1:1")

    assert created and case.queue == "frontline"
    assert handoffs.stream_key("frontline") in handoffs.all_streams()
    assert handoffs.stream_key("general") not in handoffs.all_streams()
    claimed = await handoffs.claim("agent-1")
    assert claimed is not None and claimed.sender_id == "c1"
    with pytest.raises(ValueError, match="unknown queue 'general'"):
        await handoffs.enqueue(_case("c2", "general"), "c2:1")


def test_the_queue_order_is_the_tie_break_order(policy: Policy) -> None:
    policy.raw["sla.yml"]["queues"] = ["general", "emergency", "senior", "priority", "supervisor"]
    assert policy.sla().queue_names[0] == "general"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw["tiers"]["safety"].update(queue="vip"), r"tiers\.safety\.queue: names unknown queue 'vip'"),
        (lambda raw: raw["escalation"].update(queue="boss"), r"escalation\.queue: names unknown queue 'boss'"),
        (lambda raw: raw.update(approval_queue="finance"), r"approval_queue: names unknown queue 'finance'"),
        (lambda raw: raw["low_satisfaction"].update(queue="qa"), r"low_satisfaction\.queue: names unknown queue 'qa'"),
        (
            lambda raw: raw["escalation"].update(window_minutes=0),
            r"escalation\.window_minutes: ensure this value is greater than 0",
        ),
        (lambda raw: raw.update(repeat_window_days=-1), r"repeat_window_days: ensure this value is greater than 0"),
        (
            lambda raw: raw["low_satisfaction"].update(max_score=5),
            r"low_satisfaction\.max_score: expected a whole score from 1 to 4",
        ),
        (lambda raw: raw.update(queues=["general", "general"]), r"queues: queue\(s\) named twice: general"),
        (lambda raw: raw.pop("escalation"), r"escalation: field required"),
        (lambda raw: raw.update(escalation_queue="supervisor"), r"escalation_queue: extra fields not permitted"),
    ],
)
def test_sla_yml_refuses_what_the_code_could_not_obey(
    policy: Policy, change: Callable[[dict[str, Any]], Any], message: str
) -> None:
    change(policy.raw["sla.yml"])
    with pytest.raises(ValueError, match=r"sla\.yml: " + message):
        policy.sla()


def test_every_queue_needs_a_label_and_every_label_a_queue(policy: Policy) -> None:
    del policy.raw["labels.yml"]["queues"]["priority"]
    policy.raw["labels.yml"]["queues"]["vip"] = "贵宾专员"
    with pytest.raises(ValueError) as info:
        policy.sla()
    assert "labels.yml: queues.priority: no label for this queue of sla.yml" in str(info.value)
    assert "labels.yml: queues.vip: not a queue of sla.yml" in str(info.value)


# sla.yml: approval_queue ---------------------------------------------------------------------------
@pytest.mark.parametrize("queue", ["senior", "supervisor"])
def test_approval_goes_to_the_approval_queue_of_sla_yml(policy: Policy, queue: str) -> None:
    from actions.handoff import queue_for

    policy.raw["sla.yml"]["approval_queue"] = queue
    config = policy.sla()
    tier = config.priority_for(None)
    assert queue_for("approval", tier, config) == queue
    assert queue_for("asked", tier, config) == tier.queue == "general"


# sla.yml: repeat_window_days -----------------------------------------------------------------------
@pytest.mark.parametrize(("days", "repeat"), [(30, True), (10, False)])
async def test_the_repeat_window_comes_from_sla_yml(client: Redis, policy: Policy, days: int, repeat: bool) -> None:
    policy.raw["sla.yml"]["repeat_window_days"] = days
    clock = Clock()
    store = TicketStore(client, prefix=f"k{uuid.uuid4().hex[:10]}", clock=clock, sla=policy.sla())
    old, _ = await store.create("a", channel="rest", sender_id="s1", customer_id="rest:c1", type="product")
    await store.update(old.id, actor="agent", note="解决", status="resolved")
    clock.now = T0 + 20 * DAY
    assert bool(await store.open_or_recent("rest:c1")) is repeat


# sla.yml: low_satisfaction -------------------------------------------------------------------------
def test_the_low_satisfaction_threshold_comes_from_sla_yml(policy: Policy) -> None:
    assert [s for s in range(1, 6) if policy.sla().is_low_satisfaction(s)] == [1, 2]
    policy.raw["sla.yml"]["low_satisfaction"]["max_score"] = 3
    assert [s for s in range(1, 6) if policy.sla().is_low_satisfaction(s)] == [1, 2, 3]


# sla.yml: progress follows the ticket's own tier ---------------------------------------------------


async def test_progress_messages_follow_the_tickets_own_tier(client: Redis, policy: Policy) -> None:
    policy.raw["sla.yml"]["tiers"]["safety"]["progress_every_hours"] = 1  # normal keeps 24 (defaults)
    config = policy.sla()
    clock = Clock()
    prefix = uuid.uuid4().hex[:10]
    store = TicketStore(client, prefix=f"t{prefix}", clock=clock, sla=config)
    outbox = Outbox()
    jobs = FollowUp(store, HandoffQueue(client, prefix=f"h{prefix}", clock=clock, sla=config), client, render, outbox)
    urgent, _ = await store.create("u", channel="rest", sender_id="urgent", type="product", urgency="safety")
    calm, _ = await store.create("c", channel="rest", sender_id="calm", type="product")
    assert (urgent.tier, calm.tier) == ("safety", "normal")

    sent = []
    for hours in (1, 2, 3, 24):  # the timer's rounds, on the test's clock
        counts = await jobs.once(T0 + hours * HOUR + 1)
        sent.append(sorted(s for s, _ in outbox.sent))
        outbox.sent.clear()
        assert counts["escalated"] == 0

    assert sent == [["urgent"], ["urgent"], ["urgent"], ["calm", "urgent"]]
    # the 24-hour round sends one report for the missed hours and schedules the next hour to come
    assert (await store.get(urgent.id)).next_progress_due == T0 + 25 * HOUR  # type: ignore[union-attr]
    assert (await store.get(calm.id)).next_progress_due == T0 + 48 * HOUR  # type: ignore[union-attr]
    assert await jobs.once(T0 + 24 * HOUR + 60) == {"escalated": 0, "progress": 0}  # nothing before it is due


async def test_a_ticket_stored_before_tickets_kept_their_tier_reads_as_normal(client: Redis, policy: Policy) -> None:
    policy.raw["sla.yml"]["tiers"]["normal"]["progress_every_hours"] = 5
    store = TicketStore(client, prefix=f"k{uuid.uuid4().hex[:10]}", clock=Clock(), sla=policy.sla())
    ticket, _ = await store.create("a", channel="rest", sender_id="s", type="product", urgency="safety")
    raw = (await client.get(store.ticket_key(ticket.id))).replace('"tier":"safety",', "")  # type: ignore[union-attr]
    await client.set(store.ticket_key(ticket.id), raw)
    old = await store.get(ticket.id)
    assert old is not None and old.tier is None
    assert store.tier_of(old).name == "normal" and store.tier_of(old).progress_seconds == 5 * HOUR
    with pytest.raises(ValueError, match="invalid tier"):
        await store.update(ticket.id, actor="x", note="y", tier="gold")


async def test_the_escalation_message_names_the_queue_label(client: Redis, policy: Policy) -> None:
    policy.raw["labels.yml"]["queues"]["supervisor"] = "值班经理"
    config = policy.sla()
    clock = Clock()
    prefix = uuid.uuid4().hex[:10]
    store = TicketStore(client, prefix=f"t{prefix}", clock=clock, sla=config)
    handoffs = HandoffQueue(client, prefix=f"h{prefix}", clock=clock, sla=config)
    outbox = Outbox()
    jobs = FollowUp(store, handoffs, client, render, outbox)
    ticket, _ = await store.create("a", channel="rest", sender_id="late", type="product")
    await handoffs.enqueue(_case("late", "general", ticket_id=ticket.id), "late:1")

    assert await jobs.once(T0 + 61) == {"escalated": 1, "progress": 0}

    [(sender, text)] = outbox.sent
    assert sender == "late" and "值班经理" in text
    assert (await store.get(ticket.id)).queue == "supervisor"  # type: ignore[union-attr]


# labels.yml ----------------------------------------------------------------------------------------
def test_the_approver_has_one_name_from_labels_yml(policy: Policy) -> None:
    assert load_labels().approvers["manager"] == load_catalogue().approvers["manager"] == "店铺经理"
    policy.raw["labels.yml"]["approvers"]["manager"] = "值班店长"
    catalogue = load_catalogue(policy.path("options.yml"), labels=policy.path("labels.yml"))
    [option] = [
        o for o in catalogue.options_for(Case("product", problem="坏了", order_amount=5000)) if o.id == "partial_refund"
    ]
    assert option.approval is None  # 300 (the cap) is within the bot's authority ...
    demanded = catalogue.options_for(Case("product", problem="坏了", order_amount=5000, demanded_amount=1000))[0]
    assert demanded.approval == "manager" and "值班店长审批" in demanded.description  # ... 1000 is not
    assert catalogue.approvers["manager"] == "值班店长"


def test_ticket_statuses_read_as_labels_yml_says(policy: Policy) -> None:
    from bot.store.tickets import Ticket

    policy.raw["labels.yml"]["ticket_statuses"]["with_agent"] = "专人跟进中"
    labels = labels_module.load_labels(policy.path("labels.yml"))
    ticket = Ticket(id="T1", channel="rest", sender_id="s", status="with_agent", created_at=0.0, updated_at=0.0)
    assert describe(ticket)["status"] == "人工客服处理中"
    assert describe(ticket, labels)["status"] == "专人跟进中"


def test_complaint_type_labels_come_from_labels_yml(policy: Policy, monkeypatch: pytest.MonkeyPatch) -> None:
    policy.raw["labels.yml"]["complaint_types"]["logistics"] = "快递问题"
    monkeypatch.setenv(labels_module.ENV_VAR, str(policy.path("labels.yml")))
    assert load_labels().complaint_types["logistics"] == "快递问题"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw["complaint_types"].pop("service"), r"complaint_types: missing label\(s\) for service"),
        (lambda raw: raw["ticket_statuses"].update(lost="丢了"), r"ticket_statuses: unknown id\(s\) lost"),
        (lambda raw: raw["approvers"].pop("headquarters"), r"approvers: missing label\(s\) for headquarters"),
        (lambda raw: raw["approvers"].update(manager=""), r"approvers\.manager: expected a non-empty string"),
        (lambda raw: raw.update(colours={}), r"colours: extra fields not permitted"),
    ],
)
def test_labels_yml_needs_every_label(policy: Policy, change: Callable[[dict[str, Any]], Any], message: str) -> None:
    change(policy.raw["labels.yml"])
    with pytest.raises(ValueError, match=r"labels\.yml: " + message):
        load_labels(policy.path("labels.yml"))


# every key is read ---------------------------------------------------------------------------------
def _models(model: type[Any], seen: set[type[Any]]) -> None:
    if model in seen:
        return
    seen.add(model)
    for field in model.__fields__.values():
        for candidate in (field.outer_type_, field.type_):
            if isinstance(candidate, type) and issubclass(candidate, schema.BaseModel):
                _models(candidate, seen)


def test_every_key_of_the_policy_files_is_read_by_the_code() -> None:
    """A key the models accept but no code reads would be configuration that does nothing."""
    seen: set[type[Any]] = set()
    for top in (schema.SlaFile, schema.OptionsFile, schema.LabelsFile):
        _models(top, seen)
    code = "\n".join(
        p.read_text(encoding="utf-8")
        for folder in ("bot", "actions")
        for p in (ROOT / folder).rglob("*.py")
        if p.name != "schema.py"
    )
    schema_methods = re.sub(
        r"^\s+\w+: .*$", "", (ROOT / "bot/policy/schema.py").read_text(encoding="utf-8"), flags=re.M
    )
    unread = sorted(
        f"{model.__name__}.{name}"
        for model in seen
        for name in model.__fields__
        if not re.search(rf"\.{name}\b|\"{name}\"", code + schema_methods)
    )
    assert unread == []


def test_the_shipped_sla_keys() -> None:
    config = load_sla()
    assert (config.escalation_queue, config.escalation_window_minutes) == ("supervisor", 30)
    assert (config.approval_queue, config.repeat_window_days) == ("senior", 30)
    assert (config.low_satisfaction_max_score, config.low_satisfaction_queue) == (2, "supervisor")
    assert config.queue_names == ("emergency", "senior", "priority", "supervisor", "general")
    raw = copy.deepcopy(_shipped("sla.yml"))
    assert "display" not in str(raw["queues"])  # the display names are labels (labels.yml)
