"""CSV for Excel (bot/analytics/export.py): UTF-8 with a byte-order mark, every report's tables."""

from __future__ import annotations

import csv
import io

from bot.analytics.export import BOM, to_csv
from bot.analytics.reports import heatmap, sla_breaches, trend
from tests.support.analytics import HOUR, NOW, fact, shanghai


def read(text: str) -> list[list[str]]:
    assert text.startswith(BOM) and not text.startswith(BOM * 2)
    return list(csv.reader(io.StringIO(text[1:])))


def test_rows_with_chinese_times_booleans_and_lists() -> None:
    rows = [
        {"key": "wechat:a", "label": "客户甲", "count": 3, "tickets": ["TS1", "TS2"], "last_at": shanghai(24, 9, 5)},
        {"key": "taobao:b", "label": "客户,乙", "open": True, "share": 0.25, "mean": None},
    ]
    text = to_csv(rows)
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")  # what Excel looks for
    assert "\r\n" in text  # Excel's line ends
    assert read(text) == [
        ["key", "label", "count", "tickets", "last_at", "open", "share", "mean"],
        ["wechat:a", "客户甲", "3", "TS1、TS2", "2026-11-24 09:05:00", "", "", ""],
        ["taobao:b", "客户,乙", "", "", "", "是", "0.25", ""],
    ]


def test_chosen_columns_and_headings() -> None:
    text = to_csv(
        [{"key": "general", "label": "客服专员", "breached": 2}],
        columns=["label", "breached"],
        headers={"label": "队列", "breached": "超时"},
    )
    assert read(text) == [["队列", "超时"], ["客服专员", "2"]]


def test_text_excel_would_run_as_a_formula_is_quoted() -> None:
    rows = [{"key": '=HYPERLINK("http://x")'}, {"key": "+86 138"}, {"key": "-1"}, {"key": "@SUM(A1)"}, {"key": -1}]
    assert [r[0] for r in read(to_csv(rows))[1:]] == ['\'=HYPERLINK("http://x")', "'+86 138", "'-1", "'@SUM(A1)", "-1"]


def test_a_heat_map_is_a_grid_with_totals() -> None:
    facts = [fact("a", shanghai(20), type="product"), fact("b", shanghai(21), type="product"), fact("c", shanghai(21))]
    grid = heatmap(facts, ("type", "day"), since=shanghai(20, 0), until=shanghai(22, 0))
    assert read(to_csv(grid)) == [
        ["type\\day", "2026-11-20", "2026-11-21", "合计"],
        ["商品问题", "1", "1", "2"],
        ["物流问题", "0", "0", "0"],
        ["服务问题", "0", "0", "0"],
        ["恶意诉求", "0", "0", "0"],
        ["未分类", "0", "1", "1"],
        ["合计", "1", "2", "3"],
    ]


def test_a_trend_is_one_row_per_day() -> None:
    daily = trend([fact("a", shanghai(20), handoff_reason="asked")], NOW, since=shanghai(20, 0), until=shanghai(22, 0))
    rows = read(to_csv(daily))
    assert rows[0] == ["day", "complaints", "handed_over_share", "breach_rate", "low_satisfaction_share"]
    assert rows[1:] == [["2026-11-20", "1", "1.0", "", ""], ["2026-11-21", "0", "", "", ""]]


def test_the_sla_tables_and_a_summary_row() -> None:
    at = NOW - 5 * HOUR
    report = sla_breaches([fact("a", at, handoff_reason="asked", respond_by=at + HOUR, queue="general")], NOW)
    queues = read(to_csv(report["queues"] + [report["total"]]))
    assert queues[0][:3] == ["key", "label", "handed_over"] and [r[1] for r in queues[1:]] == ["客服专员", "合计"]
    breached = read(to_csv(report["breached"]))
    assert breached[1][breached[0].index("respond_by")] == "2026-11-24 08:00:00"
    assert breached[1][breached[0].index("late_seconds")] == "14400.0"
    summary = read(to_csv({"count": 2, "by_type": [{"key": "product", "count": 2}]}))
    assert summary == [["count", "by_type"], ["2", '[{"count": 2, "key": "product"}]']]


def test_an_empty_table_is_a_lone_mark() -> None:
    assert to_csv([]) == BOM + "\r\n"
