"""SLA tiers, deadlines and customer-facing times (bot/policy/sla.py, policy/sla.yml)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.policy import sla
from bot.policy.sla import (
    deadlines,
    format_deadline,
    load_sla,
    next_progress_due,
    priority_for,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = 3600.0


def at(year: int, month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    """Epoch seconds of a wall-clock time in Asia/Shanghai."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI).timestamp()


def test_the_shipped_config_has_every_tier_with_its_queue_and_targets() -> None:
    config = load_sla()
    expected = {
        "safety": ("P1", "emergency", "安全应急专员", 15),
        "media_legal": ("P2", "senior", "高级客服主管", 30),
        "vulnerable": ("P3", "priority", "绿色通道专员", 60),
        "repeat": ("P3", "senior", "高级客服主管", 120),
        "normal": ("P4", "general", "客服专员", 120),
    }
    for name, (priority, queue, display, minutes) in expected.items():
        tier = config.tier(name)
        assert (
            tier.priority,
            tier.queue,
            tier.queue_display,
            tier.first_response_minutes,
        ) == (
            priority,
            queue,
            display,
            minutes,
        )
        assert tier.resolution_hours == 24
        assert tier.progress_every_hours == 24
    assert config.escalation_queue == "supervisor"
    assert config.escalation.display == "客服主管"
    assert config.queue_display("general") == "客服专员"
    assert config.timezone == "Asia/Shanghai"
    with pytest.raises(KeyError):
        config.tier("nope")


@pytest.mark.parametrize(
    ("urgency", "repeat", "tier"),
    [
        (None, False, "normal"),
        ("", False, "normal"),
        ("safety", False, "safety"),
        ("media_legal", False, "media_legal"),
        ("vulnerable", False, "vulnerable"),
        (None, True, "repeat"),
        ("safety", True, "safety"),
        ("media_legal", True, "media_legal"),
        # Same priority (P3): the faster first response (green channel, 60 min) wins.
        ("vulnerable", True, "vulnerable"),
        (["vulnerable", "safety"], False, "safety"),
        (["vulnerable", "media_legal"], True, "media_legal"),
        ([], True, "repeat"),
    ],
)
def test_the_highest_applicable_tier_wins(urgency, repeat: bool, tier: str) -> None:  # type: ignore[no-untyped-def]
    assert priority_for(urgency, repeat=repeat).name == tier
    assert load_sla().priority_for(urgency, repeat=repeat).name == tier


def test_an_unknown_urgency_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown urgency"):
        priority_for("angry")


def test_deadlines_from_the_creation_time() -> None:
    created = at(2026, 11, 23, 14, 0)
    safety = deadlines(priority_for("safety"), created)
    assert safety.first_response_due == created + 15 * 60
    assert safety.resolution_due == created + 24 * HOUR
    assert safety.next_progress_due == created + 24 * HOUR
    normal = deadlines(priority_for(None), created)
    assert normal.first_response_due == created + 2 * HOUR
    assert deadlines(priority_for("media_legal"), created).first_response_due == created + 30 * 60
    assert deadlines(priority_for("vulnerable"), created).first_response_due == created + HOUR
    assert deadlines(priority_for(None, repeat=True), created).first_response_due == created + 2 * HOUR
    assert normal.as_dict() == {
        "first_response_due": created + 2 * HOUR,
        "resolution_due": created + 24 * HOUR,
        "next_progress_due": created + 24 * HOUR,
    }


@pytest.mark.parametrize(
    ("elapsed_hours", "due_hours"),
    [(0, 24), (1, 24), (23.99, 24), (24, 24), (24.01, 48), (50, 72), (72, 72)],
)
def test_progress_reports_are_due_every_24_hours(elapsed_hours: float, due_hours: float) -> None:
    tier = priority_for(None)
    created = at(2026, 11, 23, 9, 0)
    assert next_progress_due(tier, created, created + elapsed_hours * HOUR) == pytest.approx(created + due_hours * HOUR)
    assert deadlines(tier, created, now=created + elapsed_hours * HOUR).next_progress_due == pytest.approx(
        created + due_hours * HOUR
    )


@pytest.mark.parametrize(
    ("now", "due", "text"),
    [
        (at(2026, 11, 23, 14, 0), at(2026, 11, 23, 14, 30), "今天14:30前"),
        (at(2026, 11, 23, 8, 0), at(2026, 11, 23, 9, 5), "今天09:05前"),
        # across midnight: 15 minutes after 23:50 is tomorrow
        (at(2026, 11, 23, 23, 50), at(2026, 11, 23, 23, 50) + 15 * 60, "明天00:05前"),
        (at(2026, 11, 23, 23, 30), at(2026, 11, 23, 23, 30) + 2 * HOUR, "明天01:30前"),
        (at(2026, 11, 23, 0, 10), at(2026, 11, 23, 0, 10) + 15 * 60, "今天00:25前"),
        (at(2026, 11, 23, 14, 0), at(2026, 11, 24, 9, 0), "明天09:00前"),
        (at(2026, 11, 23, 14, 0), at(2026, 11, 25, 9, 0), "后天09:00前"),
        (at(2026, 11, 23, 14, 0), at(2026, 11, 28, 9, 0), "11月28日09:00前"),
        (at(2026, 12, 31, 20, 0), at(2027, 1, 3, 20, 0), "2027年1月3日20:00前"),
        (at(2026, 12, 31, 23, 0), at(2027, 1, 1, 1, 0), "明天01:00前"),
        # rounded up to the minute: the promise is never earlier than the deadline
        (at(2026, 11, 23, 14, 0), at(2026, 11, 23, 14, 30, 20), "今天14:31前"),
        (at(2026, 11, 23, 23, 0), at(2026, 11, 23, 23, 59, 30), "明天00:00前"),
    ],
)
def test_deadlines_read_as_chinese_local_time(now: float, due: float, text: str) -> None:
    assert format_deadline(due, now=now) == text


def test_the_day_is_counted_in_shanghai_not_in_utc() -> None:
    # 2026-11-23 20:00 UTC is already 04:00 on the 24th in Shanghai: +4 h is "today", not "tomorrow".
    now = datetime(2026, 11, 23, 20, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    assert format_deadline(now + 4 * HOUR, now=now) == "今天08:00前"
    assert format_deadline(now + 4 * HOUR, now=now, tz="UTC") == "明天00:00前"


def _config(tmp_path: Path, **tier_changes: dict) -> Path:  # type: ignore[type-arg]
    raw = yaml.safe_load(sla.DEFAULT_PATH.read_text(encoding="utf-8"))
    for name, change in tier_changes.items():
        raw["tiers"][name].update(change)
    path = tmp_path / "sla.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_the_limits_are_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config(tmp_path, vulnerable={"first_response_minutes": 45, "resolution_hours": 12})
    config = load_sla(path)
    assert config.tier("vulnerable").first_response_minutes == 45
    assert config.tier("vulnerable").resolution_hours == 12
    assert config.tier("normal").resolution_hours == 24  # the default still applies elsewhere
    monkeypatch.setenv(sla.ENV_VAR, str(path))
    assert load_sla().tier("vulnerable").first_response_minutes == 45
    assert priority_for("vulnerable").first_response_minutes == 45


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"safety": {"queue": "nowhere"}}, r"sla\.yml: tiers\.safety\.queue: names unknown queue 'nowhere'"),
        ({"safety": {"priority": "high"}}, r"tiers\.safety\.priority: needs a priority like P1"),
        (
            {"normal": {"first_response_minutes": 0}},
            r"sla\.yml: tiers\.normal\.first_response_minutes: ensure this value is greater than 0",
        ),
        ({"normal": {"first_response_minutes": "soon"}}, r"tiers\.normal\.first_response_minutes: expected a number"),
        ({"normal": {"escalate": True}}, r"tiers\.normal\.escalate: extra fields not permitted"),
    ],
)
def test_a_broken_config_is_rejected(tmp_path: Path, change: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=message):
        load_sla(_config(tmp_path, **change))


def test_a_config_without_a_required_tier_is_rejected(tmp_path: Path) -> None:
    raw = yaml.safe_load(sla.DEFAULT_PATH.read_text(encoding="utf-8"))
    del raw["tiers"]["repeat"]
    path = tmp_path / "sla.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match=r"sla\.yml: tiers: missing tier\(s\) repeat"):
        load_sla(path)


def test_a_tier_time_must_be_given_somewhere(tmp_path: Path) -> None:
    raw = yaml.safe_load(sla.DEFAULT_PATH.read_text(encoding="utf-8"))
    del raw["defaults"]["resolution_hours"]
    raw["tiers"]["normal"]["resolution_hours"] = 12
    path = tmp_path / "sla.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_sla(path)
    assert "tiers.safety.resolution_hours: field required (here or in defaults)" in str(info.value)
    assert "tiers.normal.resolution_hours" not in str(info.value)
