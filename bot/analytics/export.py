"""CSV downloads of the dashboard's tables (SPEC.md section 7), for Excel.

Excel opens a CSV as UTF-8 only when it starts with a byte-order mark; without one it reads
Chinese as the system's ANSI code page (GBK on a Chinese Windows) and shows mojibake. So
:func:`to_csv` returns text that starts with ``\\ufeff``; encode it with ``utf-8`` (not
``utf-8-sig``, which would add a second mark) and serve it as ``text/csv; charset=utf-8``.

What each report's tables are:

========================  ===============================================================
``heatmap``               the whole dict (rows x columns, with totals)
``trend``                 the whole dict (one row per day)
``sla_breaches``          ``r["queues"] + [r["total"]]`` and ``r["breached"]``
``repeat_complainants``   the list
``satisfaction``          ``r["by_type"]``, ``r["by_handling"]``; ``r`` itself is one summary row
``settlement``            ``r["by_reason"]``; ``r`` itself is one summary row
``early_warnings``        the list
========================  ===============================================================
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.analytics.facts import TIMEZONE

BOM = "\ufeff"
"""The byte-order mark that makes Excel read the file as UTF-8."""

TIME_COLUMNS = frozenset({"now", "since", "until", "respond_by", "first_response_due"})
"""Columns of epoch seconds written as local time; so is every column whose name ends in ``_at``."""

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _is_time(column: str) -> bool:
    return column in TIME_COLUMNS or column.endswith("_at")


def _cell(column: str, value: Any) -> str:
    """One value as text: times as ``YYYY-MM-DD HH:MM:SS`` (Asia/Shanghai), booleans as 是/否,
    lists joined with ``、`` (JSON when they hold mappings), mappings as JSON, None empty; text that Excel would run as a formula
    (``=``, ``+``, ``-``, ``@`` first) gets a leading ``'`` (CSV injection)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float)):
        if _is_time(column):
            return datetime.fromtimestamp(value, TIMEZONE).strftime("%Y-%m-%d %H:%M:%S")
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, Mapping) or (isinstance(value, (list, tuple)) and any(isinstance(v, Mapping) for v in value)):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    elif isinstance(value, (list, tuple)):
        text = "、".join("" if v is None else str(v) for v in value)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _is_heatmap(table: Mapping[str, Any]) -> bool:
    return all(k in table for k in ("rows", "columns", "cells", "row_labels", "column_labels"))


def _is_trend(table: Mapping[str, Any]) -> bool:
    return "days" in table and isinstance(table.get("series"), Mapping)


def _write(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # excel dialect: commas, quotes when needed, CRLF line ends
    writer.writerows(rows)
    return BOM + buffer.getvalue()


def to_csv(
    table: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    columns: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """A table as CSV text for Excel: UTF-8 with a byte-order mark, comma separated, CRLF lines.

    Args:
        table: A list of rows (dicts), a heat map (:func:`bot.analytics.reports.heatmap`), a
            trend (:func:`bot.analytics.reports.trend`), or one dict (written as one row).
        columns: For rows: which keys, in this order (default: every key, in first-seen order).
        headers: For rows: heading per key (default: the key).

    Returns:
        The CSV text, starting with ``\\ufeff``. A heat map gives its row labels down the first
        column, its column labels across, and a ``合计`` column and row; a trend a ``day`` column
        and one per series. Values: see :func:`_cell`.
    """
    if isinstance(table, Mapping) and _is_heatmap(table):
        corner = "\\".join(str(d) for d in table.get("by", ()))
        lines = [[corner, *map(str, table["column_labels"]), "合计"]]
        for label, cells, total in zip(table["row_labels"], table["cells"], table["row_totals"]):
            lines.append([_cell("", label), *map(str, cells), str(total)])
        lines.append(["合计", *map(str, table["column_totals"]), str(table["total"])])
        return _write(lines)
    if isinstance(table, Mapping) and _is_trend(table):
        names = list(table["series"])
        lines = [["day", *names]]
        for i, day in enumerate(table["days"]):
            lines.append([str(day), *(_cell(name, table["series"][name][i]) for name in names)])
        return _write(lines)
    rows: Sequence[Mapping[str, Any]] = [table] if isinstance(table, Mapping) else table
    keys = list(columns) if columns is not None else list(dict.fromkeys(k for row in rows for k in row))
    headings = headers or {}
    lines = [[headings.get(k, k) for k in keys]]
    lines += [[_cell(k, row.get(k)) for k in keys] for row in rows]
    return _write(lines)
