"""The shop's dashboard as one JSON document: key figures, early warnings, tables, chart names.

:func:`build` turns the reports of :mod:`bot.analytics.reports` (over the tickets' projections)
and the figures of the house-rule checks and the promise ledger into what
``/console/dashboard`` shows, every table in one shape the page and the CSV export both read::

    {"name": "sla", "title": "SLA 超时（按队列）", "note": str | None, "chart": "sla" | None,
     "columns": [{"key": "label", "label": "队列", "format": None | "count" | "percent" | "time"}],
     "rows": [{"label": "客服专员", "handed_over": 12, ...}]}

:func:`chart_svg` draws a table's chart (server-side SVG, :mod:`bot.analytics.charts`) and
:func:`table_csv` writes a table for Excel (:mod:`bot.analytics.export`). Pure functions: the
route reads the stores and passes their figures in (SPEC.md section 7; issue 12).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.analytics import charts, export, reports

TABLES = (
    "type_day",
    "cause_category",
    "trend",
    "sla",
    "settlement",
    "satisfaction",
    "repeat",
    "quality",
    "promises",
)
"""Every table of the dashboard, in page order (also the names of the CSV exports)."""

CHARTS = ("type_day", "cause_category", "trend", "sla", "settlement", "quality", "promises")
"""The tables that have a chart."""


def _col(key: str, label: str, fmt: str | None = None) -> dict[str, Any]:
    return {"key": key, "label": label, "format": fmt}


def _heatmap_table(name: str, title: str, heatmap: Mapping[str, Any], corner: str) -> dict[str, Any]:
    columns = [_col("label", corner)]
    columns += [_col(f"c{i}", str(label), "count") for i, label in enumerate(heatmap["column_labels"])]
    columns.append(_col("total", "合计", "count"))
    rows = []
    for label, cells, total in zip(heatmap["row_labels"], heatmap["cells"], heatmap["row_totals"]):
        rows.append({"label": label, **{f"c{i}": n for i, n in enumerate(cells)}, "total": total})
    return {"name": name, "title": title, "note": None, "chart": name, "columns": columns, "rows": rows}


def _quality_table(quality: Mapping[str, Any] | None, titles: Mapping[str, str]) -> dict[str, Any]:
    overall = (quality or {}).get("overall") or {}
    rows = [
        {
            "key": rule,
            "label": titles.get(rule, rule),
            "checked": figures.get("checked", 0),
            "failed": figures.get("failed", 0),
            "rate": figures.get("rate"),
        }
        for rule, figures in (overall.get("rules") or {}).items()
    ]
    return {
        "name": "quality",
        "title": "质检（店规检查）失败率",
        "note": f"检查了 {overall.get('conversations', 0)} 段结束的对话；失败率 = 违反的对话 / 适用的对话。",
        "chart": "quality",
        "columns": [
            _col("label", "店规"),
            _col("checked", "适用", "count"),
            _col("failed", "违反", "count"),
            _col("rate", "失败率", "percent"),
        ],
        "rows": rows,
    }


def _promise_table(promises: Mapping[str, Any] | None) -> dict[str, Any]:
    figures = promises or {}
    by_kind = figures.get("by_kind") or {}
    rows = []
    for kind, label in (("contact", "联系/答复"), ("action", "办理")):
        counts = by_kind.get(kind) or {}
        rows.append({"label": label, **{k: counts.get(k, 0) for k in ("kept", "kept_late", "broken", "pending")}})
    rows.append({"label": "合计", **{k: figures.get(k, 0) for k in ("kept", "kept_late", "broken", "pending")}})
    return {
        "name": "promises",
        "title": "对顾客的承诺：兑现与失信",
        "note": "按承诺的到期日统计；机器人、客服和定时提醒说出的每个带时间的承诺都记在台账上。",
        "chart": "promises",
        "columns": [
            _col("label", "类别"),
            _col("kept", "按时兑现", "count"),
            _col("kept_late", "迟兑现", "count"),
            _col("broken", "失信", "count"),
            _col("pending", "待兑现", "count"),
        ],
        "rows": rows,
    }


def _warning_text(warning: Mapping[str, Any]) -> str:
    """The warning as the owner reads it: the report's own sentence, and which tickets."""
    tickets = "、".join(warning.get("tickets", [])[:5])
    return f"{warning['label']}（工单 {tickets}）" if tickets else str(warning["label"])


def build(
    facts: Sequence[dict[str, Any]],
    *,
    now: float,
    since: float,
    until: float,
    quality: Mapping[str, Any] | None = None,
    promises: Mapping[str, Any] | None = None,
    rule_titles: Mapping[str, str] | None = None,
    satisfaction_missed: int = 0,
) -> dict[str, Any]:
    """The dashboard for tickets created in ``[since, until)``.

    Args:
        facts: Ticket projections covering at least ``since - 8 days`` to ``until`` (the early
            warnings compare the last 24 hours with the 7 days before; repeat complainants look
            30 days back).
        now: The current time (epoch seconds).
        since, until: The range shown (epoch seconds, ``until`` exclusive).
        quality: :meth:`bot.store.quality.QualityStore.rates` of the range, or None.
        rule_titles: The house rules' Chinese titles by id (``bot.quality.house_rules.RULES``).
        promises: :meth:`bot.store.promises.PromiseLedger.stats` of the range, or None.
        satisfaction_missed: Resolutions whose customer was never asked within 24 hours.

    Returns:
        ``{"generated_at", "since", "until", "tickets" (in range), "kpis": [{"key", "label",
        "value" (text)}], "warnings": [{"kind", "key", "text", ...}], "tables": [table]}``.

    Raises:
        ValueError: The range is longer than :data:`bot.analytics.reports.MAX_DAY_COLUMNS` days.
    """
    chosen = [f for f in facts if since <= (f.get("created_at") or 0) < until]
    type_day = reports.heatmap(chosen, ("type", "day"), since, until)
    cause_category = reports.heatmap(chosen, ("cause", "category"), since, until)
    trend = reports.trend(chosen, now, since, until)
    sla = reports.sla_breaches(chosen, now)
    settled = reports.settlement(chosen)
    scores = reports.satisfaction(chosen)
    repeat = reports.repeat_complainants(facts, min(now, until))
    warnings = [dict(w, text=_warning_text(w)) for w in reports.early_warnings(facts, min(now, until))]
    quality_table = _quality_table(quality, rule_titles or {})
    worst = max(quality_table["rows"], key=lambda r: r["rate"] or 0.0, default=None)
    checked = ((quality or {}).get("overall") or {}).get("conversations", 0)
    kept = (promises or {}).get("kept", 0) + (promises or {}).get("kept_late", 0)
    decided = kept + (promises or {}).get("broken", 0)

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.1%}"

    kpis = [
        {"key": "tickets", "label": "投诉工单", "value": str(len(chosen))},
        {"key": "bot_settled", "label": "机器人自己解决", "value": pct(settled["bot_settled_share"])},
        {"key": "handed_over", "label": "转人工", "value": pct(settled["handed_over_share"])},
        {
            "key": "csat",
            "label": "平均满意度（1-5）",
            "value": "—" if scores["mean"] is None else f"{scores['mean']:.2f}",
        },
        {"key": "sla", "label": "首次响应超时率", "value": pct(sla["total"]["breach_rate"])},
        {
            "key": "quality",
            "label": (
                f"最常违反的店规：{worst['label']}"
                if worst and worst["rate"]
                else "质检：没有违反店规"
                if checked
                else "质检：还没有检查过的对话"
            ),
            "value": pct(worst["rate"]) if worst and worst["rate"] else "—",
        },
        {"key": "promises", "label": "承诺兑现率", "value": pct(kept / decided if decided else None)},
        {"key": "warnings", "label": "预警", "value": str(len(warnings))},
    ]
    tables = [
        _heatmap_table("type_day", "投诉热力图：类型 × 日期", type_day, "类型"),
        _heatmap_table("cause_category", "投诉热力图：原因 × 商品类别", cause_category, "原因"),
        {
            "name": "trend",
            "title": "每日投诉量与转人工率",
            "note": None,
            "chart": "trend",
            "columns": [
                _col("day", "日期"),
                _col("complaints", "投诉", "count"),
                _col("handed_over_share", "转人工率", "percent"),
                _col("breach_rate", "超时率", "percent"),
                _col("low_satisfaction_share", "低分率", "percent"),
            ],
            "rows": [
                {"day": day, **{name: values[i] for name, values in trend["series"].items()}}
                for i, day in enumerate(trend["days"])
            ],
        },
        {
            "name": "sla",
            "title": "SLA 首次响应超时（按队列）",
            "note": "超时 = 客服接手晚于承诺时间，或至今无人接手且已过时间；仍在时限内的不计入超时率。",
            "chart": "sla",
            "columns": [
                _col("label", "队列"),
                _col("handed_over", "转人工", "count"),
                _col("on_time", "按时", "count"),
                _col("breached", "超时", "count"),
                _col("pending", "时限内待接", "count"),
                _col("escalated", "已升级", "count"),
                _col("breach_rate", "超时率", "percent"),
            ],
            "rows": [*sla["queues"], dict(sla["total"], label="合计")],
        },
        {
            "name": "settlement",
            "title": "机器人解决与转人工（按原因）",
            "note": f"机器人自己解决 {settled['bot_settled']} 张，转人工 {settled['handed_over']} 张。",
            "chart": "settlement",
            "columns": [
                _col("label", "转人工原因"),
                _col("count", "工单", "count"),
                _col("share", "占全部", "percent"),
                _col("share_of_handed_over", "占转人工", "percent"),
            ],
            "rows": settled["by_reason"],
        },
        {
            "name": "satisfaction",
            "title": "满意度",
            "note": (
                f"{scores['count']} 个评分，平均 {scores['mean'] if scores['mean'] is not None else '—'}；"
                f"低分（≤2）{scores['low']} 个，已转客服主管跟进。解决后 24 小时内未能询问的：{satisfaction_missed} 位。"
            ),
            "chart": None,
            "columns": [
                _col("label", "分组"),
                _col("count", "评分数", "count"),
                _col("mean", "平均分", "count"),
                _col("low", "低分", "count"),
                _col("low_share", "低分率", "percent"),
            ],
            "rows": [*scores["by_handling"], *scores["by_type"]],
        },
        {
            "name": "repeat",
            "title": "重复投诉顾客（30 天内 2 次及以上）",
            "note": None,
            "chart": None,
            "columns": [
                _col("label", "顾客"),
                _col("count", "投诉次数", "count"),
                _col("open", "未结", "count"),
                _col("tickets_text", "工单"),
                _col("last_at", "最近一次", "time"),
            ],
            "rows": [dict(r, tickets_text="、".join(r["tickets"])) for r in repeat],
        },
        quality_table,
        _promise_table(promises),
    ]
    return {
        "generated_at": now,
        "since": since,
        "until": until,
        "tickets": len(chosen),
        "kpis": kpis,
        "warnings": warnings,
        "tables": tables,
        "_trend": trend,
        "_heatmaps": {"type_day": type_day, "cause_category": cause_category},
        "_quality": quality or {},
        "_rule_titles": dict(rule_titles or {}),
    }


def table_csv(dashboard: Mapping[str, Any], name: str) -> str:
    """One table of :func:`build` as CSV for Excel (UTF-8 with BOM; headings in Chinese).

    Raises:
        KeyError: No table called ``name``.
    """
    table = next((t for t in dashboard["tables"] if t["name"] == name), None)
    if table is None:
        raise KeyError(name)
    keys = [c["key"] for c in table["columns"]]
    return export.to_csv(table["rows"], columns=keys, headers={c["key"]: c["label"] for c in table["columns"]})


def chart_svg(dashboard: Mapping[str, Any], name: str) -> str:
    """The chart of one table of :func:`build`, as SVG text.

    Raises:
        KeyError: ``name`` is not in :data:`CHARTS`.
    """
    if name not in CHARTS:
        raise KeyError(name)
    if name in ("type_day", "cause_category"):
        title = next(t["title"] for t in dashboard["tables"] if t["name"] == name)
        return charts.heatmap_svg(dashboard["_heatmaps"][name], title)
    table = next(t for t in dashboard["tables"] if t["name"] == name)
    if name == "trend":
        trend = dashboard["_trend"]
        shares = {
            "转人工率": list(zip(trend["days"], trend["series"]["handed_over_share"])),
            "超时率": list(zip(trend["days"], trend["series"]["breach_rate"])),
            "低分率": list(zip(trend["days"], trend["series"]["low_satisfaction_share"])),
        }
        return charts.lines_svg(shares, table["title"])
    if name == "sla":
        return charts.bars_svg([(r["label"], r["breach_rate"]) for r in table["rows"]], table["title"], percent=True)
    if name == "settlement":
        return charts.bars_svg([(r["label"], r["count"]) for r in table["rows"]], table["title"])
    if name == "promises":
        totals = table["rows"][-1]
        return charts.bars_svg(
            [
                ("按时兑现", totals["kept"]),
                ("迟兑现", totals["kept_late"]),
                ("失信", totals["broken"]),
                ("待兑现", totals["pending"]),
            ],
            table["title"],
        )
    days = (dashboard["_quality"] or {}).get("days") or {}
    titles = dashboard["_rule_titles"]
    series: dict[str, list[tuple[str, float | None]]] = {}
    for day, figures in sorted(days.items()):
        for rule, stats in (figures.get("rules") or {}).items():
            if stats.get("checked"):
                series.setdefault(titles.get(rule, rule), []).append((day, stats.get("rate")))
    return charts.lines_svg(series, "质检失败率（按天）")
