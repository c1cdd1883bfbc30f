"""The dashboard's figures (bot/analytics/reports.py) on hand-built projections: every count below
can be checked by reading the projections it is made of."""

from __future__ import annotations

from typing import Any

import pytest

from bot.analytics import reports
from bot.analytics.reports import (
    early_warnings,
    heatmap,
    poisson_tail,
    repeat_complainants,
    satisfaction,
    settlement,
    sla_breaches,
    trend,
)
from tests.support.analytics import DAY, HOUR, NOW, fact, shanghai

# heat map -----------------------------------------------------------------------------------


def test_type_by_day_counts_each_pair_and_keeps_days_without_complaints() -> None:
    facts = [
        fact("a", shanghai(20, 9), type="product"),
        fact("b", shanghai(20, 23, 59), type="product"),
        fact("c", shanghai(20, 10), type="logistics"),
        fact("d", shanghai(22, 0, 0), type="product"),  # midnight belongs to the 22nd
        fact("e", shanghai(22, 8), type=None),  # no type yet
        fact("f", shanghai(19, 23, 59), type="service"),  # before since
        fact("g", shanghai(23, 0, 0), type="service"),  # at until: excluded
    ]
    result = heatmap(facts, ("type", "day"), since=shanghai(20, 0), until=shanghai(23, 0))
    assert result["by"] == ["type", "day"]
    assert result["columns"] == ["2026-11-20", "2026-11-21", "2026-11-22"]  # the 21st had none
    assert result["rows"] == ["product", "logistics", "service", "malicious", None]
    assert result["row_labels"] == ["商品问题", "物流问题", "服务问题", "恶意诉求", "未分类"]
    assert result["cells"] == [
        [2, 0, 1],
        [1, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 1],
    ]
    assert result["row_totals"] == [3, 1, 0, 0, 1]
    assert result["column_totals"] == [3, 0, 2]
    assert result["total"] == 5


def test_an_empty_range_still_has_its_days_and_every_type() -> None:
    result = heatmap([], ("type", "day"), since=shanghai(1), until=shanghai(4, 0))
    assert result["columns"] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert result["rows"] == ["product", "logistics", "service", "malicious"]
    assert result["cells"] == [[0, 0, 0]] * 4 and result["total"] == 0
    assert result["column_totals"] == [0, 0, 0]
    bare = heatmap([], ("day", "type"))
    assert (bare["rows"], bare["cells"], bare["total"]) == ([], [], 0)


def test_without_a_range_the_days_run_from_the_first_to_the_last_ticket() -> None:
    facts = [fact("a", shanghai(3)), fact("b", shanghai(1))]
    assert heatmap(facts, ("urgency", "day"))["columns"] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert heatmap(facts, ("urgency", "day"), since=shanghai(2, 0))["columns"] == ["2026-11-02", "2026-11-03"]


def test_hour_by_weekday_has_every_hour_and_day_of_the_week() -> None:
    facts = [
        fact("a", shanghai(23, 9, 15)),  # Monday 9h
        fact("b", shanghai(23, 9, 45)),  # Monday 9h
        fact("c", shanghai(29, 21)),  # Sunday 21h
    ]
    result = heatmap(facts, ("weekday", "hour"))
    assert result["rows"] == list(range(7)) and result["columns"] == list(range(24))
    assert result["row_labels"][0] == "周一" and result["row_labels"][6] == "周日"
    assert result["column_labels"][9] == "9时"
    assert result["cells"][0][9] == 2 and result["cells"][6][21] == 1 and result["total"] == 3


def test_categories_and_causes_in_the_order_of_their_files_unknown_then_missing_last() -> None:
    at = shanghai(20)
    facts = [
        fact("a", at, category="toys", cause="late"),
        fact("b", at, category="appliances", cause="defect"),
        fact("c", at, category="electronics", cause="defect"),
        fact("d", at, category=None, cause=None),
        fact("e", at, category="appliances", cause="late"),
    ]
    result = heatmap(facts, ("category", "cause"))
    assert result["rows"] == ["electronics", "appliances", "toys", None]  # options.yml order
    assert result["row_labels"] == ["电子产品", "家电", "toys", "未注明品类"]
    assert result["columns"] == ["defect", "late", None]  # causes.yml order
    assert result["column_labels"] == ["质量问题", "配送慢或停滞", "未注明原因"]
    assert result["cells"] == [[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_channels_busiest_first_and_priorities_all_four() -> None:
    at = shanghai(20)
    facts = [fact("a", at, channel="wechat"), fact("b", at, channel="taobao"), fact("c", at, channel="taobao")]
    result = heatmap(facts, ("channel", "priority"))
    assert result["rows"] == ["taobao", "wechat"] and result["row_labels"] == ["淘宝/天猫", "微信公众号"]
    assert result["columns"] == ["P1", "P2", "P3", "P4", None]
    assert result["column_totals"] == [0, 0, 0, 0, 3]


def test_a_projection_without_stored_time_fields_gets_them_from_created_at() -> None:
    row = fact("a", shanghai(24, 7, 30))
    row.update(day=None, hour=None, weekday=None)
    result = heatmap([row], ("hour", "day"))
    assert result["columns"] == ["2026-11-24"] and result["cells"][7] == [1]


@pytest.mark.parametrize(
    "by",
    [("type", "colour"), ("type",), ("type", "day", "hour"), ("type", "type"), "type", ("Type", "day"), ()],
)
def test_a_bad_dimension_is_a_value_error(by: Any) -> None:
    with pytest.raises(ValueError):
        heatmap([fact("a", NOW)], by)


def test_a_day_axis_of_years_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        heatmap([], ("type", "day"), since=0, until=NOW)


# SLA breaches -------------------------------------------------------------------------------


def handed(id: str, at: float, due_in: float, queue: str = "general", **values: Any) -> dict[str, Any]:
    return fact(id, at, handoff_reason="asked", handoff_at=at, respond_by=at + due_in, handoff_queue=queue, **values)


def test_breaches_by_queue() -> None:
    t = NOW - 10 * HOUR
    facts = [
        handed("A", t, 2 * HOUR, first_claimed_at=t + HOUR),  # on time
        handed("B", t, 2 * HOUR, first_claimed_at=t + 3 * HOUR),  # an hour late
        handed("C", t, 2 * HOUR),  # never claimed, due 8 hours ago
        handed("D", NOW - HOUR, 2 * HOUR),  # unclaimed, still within its time
        handed("G", t, 2 * HOUR, resolved_at=t + HOUR),  # resolved without a claim, in time
        handed("F", t, 900, queue="emergency", priority="P1", first_claimed_at=t + 1200, escalated=True)
        | {"queue": "supervisor"},  # escalated: counted where it was handed
        handed("H", t, 2 * HOUR, queue=None, first_claimed_at=t + HOUR) | {"queue": "general"},  # from the ticket
        fact("E", t, queue="general"),  # the bot settled it: no handoff
    ]
    result = sla_breaches(facts, NOW)
    general, emergency = result["queues"]
    assert general == {
        "key": "general",
        "label": "客服专员",
        "handed_over": 6,
        "answered": 4,
        "on_time": 3,
        "breached": 2,
        "pending": 1,
        "open_overdue": 1,
        "escalated": 0,
        "breach_rate": 0.4,  # 2 of the 5 decided
    }
    assert (emergency["key"], emergency["handed_over"], emergency["breached"]) == ("emergency", 1, 1)
    assert (emergency["breach_rate"], emergency["escalated"]) == (1.0, 1)
    total = result["total"]
    assert (total["key"], total["label"], total["handed_over"], total["breached"]) == ("total", "合计", 7, 3)
    assert total["breach_rate"] == 0.5
    assert [(c["id"], c["late_seconds"], c["open"]) for c in result["breached"]] == [
        ("C", 8 * HOUR, True),
        ("B", HOUR, False),
        ("F", 300, False),
    ]
    assert result["breached"][2]["queue_label"] == "安全应急专员" and result["breached"][2]["escalated"] is True
    assert len(sla_breaches(facts, NOW, limit=1)["breached"]) == 1


def test_no_handoffs_no_rate() -> None:
    result = sla_breaches([fact("a", NOW)], NOW)
    assert result["queues"] == [] and result["breached"] == []
    assert (result["total"]["handed_over"], result["total"]["breach_rate"]) == (0, None)
    only_pending = sla_breaches([handed("D", NOW, HOUR)], NOW)
    assert only_pending["total"]["pending"] == 1 and only_pending["total"]["breach_rate"] is None


# repeat complainants ------------------------------------------------------------------------


def test_repeat_complainants_within_the_window() -> None:
    facts = [
        fact("a1", NOW - 2 * DAY, customer="wechat:a", type="product"),
        fact("a2", NOW - 10 * DAY, customer="wechat:a", type="logistics", status="resolved"),
        fact("a3", NOW - HOUR, customer="wechat:a", type="product"),
        fact("a0", NOW - 40 * DAY, customer="wechat:a"),  # outside 30 days
        fact("b1", NOW - 29 * DAY, customer="rest:13812345678"),
        fact("b2", NOW - 1 * DAY, customer="rest:13812345678", status="closed"),
        fact("c1", NOW - DAY, customer="taobao:c"),  # once only
        fact("c2", NOW - 30 * DAY, customer="taobao:c"),  # exactly 30 days ago: outside
        fact("x1", NOW - DAY, customer=None),
        fact("x2", NOW - DAY, customer=None),
        fact("d1", NOW + HOUR, customer="taobao:d"),  # after now
        fact("d2", NOW - HOUR, customer="taobao:d"),
    ]
    result = repeat_complainants(facts, NOW)
    assert [r["key"] for r in result] == ["wechat:a", "rest:13812345678"]
    first = result[0]
    assert (first["count"], first["tickets"], first["types"]) == (3, ["a2", "a1", "a3"], ["logistics", "product"])
    assert (first["open"], first["first_at"], first["last_at"]) == (2, NOW - 10 * DAY, NOW - HOUR)
    assert result[1]["label"] == "rest:138****5678"  # personal data masked in the words shown
    assert result[1]["open"] == 1
    assert [r["key"] for r in repeat_complainants(facts, NOW, window_days=7)] == ["wechat:a"]
    assert [r["key"] for r in repeat_complainants(facts, NOW, min_tickets=3)] == ["wechat:a"]
    assert repeat_complainants([], NOW) == []


# satisfaction -------------------------------------------------------------------------------


def test_satisfaction_mean_distribution_and_low_share() -> None:
    at = NOW - DAY
    facts = [
        fact("a", at, type="product", satisfaction=5),
        fact("b", at, type="product", satisfaction=4),
        fact("c", at, type="product", satisfaction=1, handoff_reason="asked"),
        fact("d", at, type="logistics", satisfaction=2),
        fact("e", at, type="logistics", satisfaction=3, handoff_reason="urgency"),
        fact("f", at, type="service"),  # not scored
    ]
    result = satisfaction(facts)
    assert (result["count"], result["mean"], result["low"], result["low_share"]) == (5, 3.0, 2, 0.4)
    assert result["distribution"] == {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1}
    assert result["by_type"] == [
        {"key": "product", "label": "商品问题", "count": 3, "mean": 3.33, "low": 1, "low_share": 0.3333},
        {"key": "logistics", "label": "物流问题", "count": 2, "mean": 2.5, "low": 1, "low_share": 0.5},
    ]
    assert result["by_handling"] == [
        {"key": "bot", "label": "机器人处理", "count": 3, "mean": 3.67, "low": 1, "low_share": 0.3333},
        {"key": "human", "label": "人工处理", "count": 2, "mean": 2.0, "low": 1, "low_share": 0.5},
    ]
    assert satisfaction(facts, low_max=1)["low"] == 1


def test_satisfaction_without_scores() -> None:
    result = satisfaction([fact("a", NOW)])
    assert (result["count"], result["mean"], result["low_share"]) == (0, None, None)
    assert result["by_type"] == [] and result["by_handling"][0]["mean"] is None


# settlement ---------------------------------------------------------------------------------


def test_settled_by_the_bot_and_reasons_for_a_human() -> None:
    at = NOW - DAY
    facts = [fact(f"bot{i}", at) for i in range(6)]
    facts[0]["first_claimed_at"] = at + DAY  # a low score a supervisor took up later
    facts += [fact("h1", at, handoff_reason="asked"), fact("h2", at, handoff_reason="asked")]
    facts += [fact("h3", at, handoff_reason="urgency"), fact("h4", at, handoff_reason="approval")]
    result = settlement(facts)
    assert (result["total"], result["bot_settled"], result["bot_settled_share"]) == (10, 6, 0.6)
    assert (result["handed_over"], result["handed_over_share"], result["later_claimed"]) == (4, 0.4, 1)
    assert result["by_reason"] == [
        {"key": "asked", "label": "客户要求转人工", "count": 2, "share": 0.2, "share_of_handed_over": 0.5},
        {"key": "approval", "label": "补偿需审批", "count": 1, "share": 0.1, "share_of_handed_over": 0.25},
        {"key": "urgency", "label": "紧急情况", "count": 1, "share": 0.1, "share_of_handed_over": 0.25},
    ]
    empty = settlement([])
    assert (empty["total"], empty["bot_settled_share"], empty["by_reason"]) == (0, None, [])


# early warnings -----------------------------------------------------------------------------


def spread(prefix: str, per_day: int, days: int, end: float, **values: Any) -> list[dict[str, Any]]:
    """``per_day`` complaints a day on each of the ``days`` days before ``end``."""
    return [
        fact(f"{prefix}{d}-{n}", end - d * DAY - (n + 1) * DAY / (per_day + 1), **values)
        for d in range(days)
        for n in range(per_day)
    ]


def test_a_category_jump_is_flagged() -> None:
    facts = spread("base", 4, 7, NOW - DAY, category="appliances", cause="defect")
    facts += spread("spike", 30, 1, NOW, category="appliances", cause="defect")
    warnings = early_warnings(facts, NOW)
    spikes = {(w["kind"], w["key"]): w for w in warnings}
    category = spikes[("category_spike", "appliances")]
    assert (category["count"], category["baseline"], category["since"]) == (30, 4.0, NOW - DAY)
    assert category["label"] == "家电投诉激增：24小时30件（预期约4.0件，此前日均4.0件）"
    assert category["expected"] == 4.0  # nothing else to scale by
    assert category["p_value"] < 1e-6 and len(category["tickets"]) == 20
    assert spikes[("cause_spike", "defect")]["label"].startswith("质量问题投诉激增")


def test_steady_volume_is_not_flagged() -> None:
    facts = spread("base", 4, 7, NOW - DAY, category="appliances", cause="defect")
    facts += spread("today", 6, 1, NOW, category="appliances", cause="defect")  # 6 against 4 a day: usual
    assert early_warnings(facts, NOW) == []
    steady = spread("s", 20, 8, NOW, category="food", cause="spoiled")
    assert early_warnings(steady, NOW) == []


def test_a_day_when_everything_rises_flags_only_what_rose_more() -> None:
    before = [
        row
        for category in ("appliances", "clothing", "food")
        for row in spread(f"b-{category}", 10, 7, NOW - DAY, category=category)
    ]
    surge = [
        row
        for category in ("appliances", "clothing", "food")
        for row in spread(f"s-{category}", 30, 1, NOW, category=category)
    ]
    assert early_warnings(before + surge, NOW) == []  # 双十一: everything tripled, nothing stands out
    jump = spread("j-appliances", 30, 1, NOW, category="appliances")  # appliances 60, the others 30
    (warning,) = early_warnings(before + surge + jump, NOW)
    assert (warning["key"], warning["count"], warning["baseline"]) == ("appliances", 60, 10.0)
    assert warning["expected"] == 30.0  # 10 a day x (60 other complaints today / 20 a day before)


def test_a_silent_category_is_flagged_from_three_complaints() -> None:
    three = spread("t", 3, 1, NOW, category="pet")
    assert [(w["kind"], w["count"], w["baseline"]) for w in early_warnings(three, NOW)] == [("category_spike", 3, 0.0)]
    assert early_warnings(three[:2], NOW) == []  # two are below min_count
    assert early_warnings(spread("t", 3, 1, NOW, category=None), NOW) == []  # nothing to name


def test_the_baseline_is_the_days_before_the_last_24_hours() -> None:
    old = spread("old", 10, 7, NOW - 9 * DAY, category="baby")  # before the baseline window
    recent = spread("new", 4, 1, NOW, category="baby")
    assert [w["key"] for w in early_warnings(old + recent, NOW)] == ["baby"]
    assert early_warnings(old + recent, NOW, baseline_days=14) == []  # now the old days are the baseline


def test_a_customer_complaining_again_within_seven_days() -> None:
    facts = [
        fact("a1", NOW - 6 * DAY, customer="wechat:a"),
        fact("a2", NOW - HOUR, customer="wechat:a"),
        fact("b1", NOW - 8 * DAY, customer="wechat:b"),
        fact("b2", NOW - HOUR, customer="wechat:b"),
    ]
    (warning,) = early_warnings(facts, NOW)
    assert warning == {
        "kind": "repeat_customer",
        "key": "wechat:a",
        "label": "客户wechat:a7天内投诉2次",
        "count": 2,
        "baseline": None,
        "expected": None,
        "since": NOW - 7 * DAY,
        "p_value": None,
        "tickets": ["a2", "a1"],
    }


def test_spikes_come_before_customers() -> None:
    facts = spread("t", 5, 1, NOW, category="pet", customer="wechat:z")
    assert [w["kind"] for w in early_warnings(facts, NOW)] == ["category_spike", "repeat_customer"]


def test_early_warnings_need_a_baseline() -> None:
    with pytest.raises(ValueError):
        early_warnings([], NOW, baseline_days=0)


@pytest.mark.parametrize(
    ("count", "mean", "expected"),
    [
        (0, 3.0, 1.0),
        (1, 0.0, 0.0),
        (1, 1.0, 0.6321205588),  # 1 - e^-1
        (2, 1.0, 0.2642411177),  # 1 - 2/e
        (3, 1 / 7, 0.0004367074),  # 1 - e^-m (1 + m + m^2/2)
        (10, 10.0, 0.5420702855),
    ],
)
def test_the_poisson_tail(count: int, mean: float, expected: float) -> None:
    assert poisson_tail(count, mean) == pytest.approx(expected, rel=1e-7)


def test_the_poisson_tail_far_out_and_far_in() -> None:
    assert 0 < poisson_tail(60, 2.0) < 1e-40
    assert poisson_tail(900, 1000.0) == pytest.approx(0.9993774022, rel=1e-9)  # scipy.stats.poisson.sf(899, 1000)
    with pytest.raises(ValueError):
        poisson_tail(3, -1.0)


# trend --------------------------------------------------------------------------------------


def test_daily_rates() -> None:
    facts = [
        handed("a", shanghai(20, 9), HOUR, first_claimed_at=shanghai(20, 9, 30)),
        handed("b", shanghai(20, 10), HOUR, first_claimed_at=shanghai(20, 12)),
        fact("c", shanghai(20, 11), satisfaction=1),
        fact("d", shanghai(20, 12), satisfaction=5),
        fact("e", shanghai(22, 12)),
    ]
    result = trend(facts, NOW, since=shanghai(20, 0), until=shanghai(23, 0))
    assert result["days"] == ["2026-11-20", "2026-11-21", "2026-11-22"]
    series = result["series"]
    assert series["complaints"] == [4, 0, 1]
    assert series["handed_over_share"] == [0.5, None, 0.0]
    assert series["breach_rate"] == [0.5, None, None]
    assert series["low_satisfaction_share"] == [0.5, None, None]


def test_dimensions_are_the_documented_ones() -> None:
    assert reports.DIMENSIONS == (
        "type",
        "cause",
        "category",
        "urgency",
        "channel",
        "day",
        "hour",
        "weekday",
        "priority",
    )
