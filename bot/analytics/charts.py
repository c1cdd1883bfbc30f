"""Server-side SVG charts of the dashboard (SPEC.md section 7): heat map, bars, lines.

Drawn with matplotlib's object-oriented API (a :class:`~matplotlib.figure.Figure` per chart,
saved through the SVG backend; no pyplot, no global figure state), so charts can be drawn from
several threads at once.

Chinese text. The SVG carries its words as real ``<text>`` (``svg.fonttype = none``), with the
font list :data:`FONT_FAMILY`, which starts with ``Noto Sans CJK SC``: Chromium draws them with
that font where it is installed (Debian's ``fonts-noto-cjk``) and with the system's Chinese font
elsewhere (PingFang on macOS, Microsoft YaHei on Windows). Text, rather than glyph outlines,
because matplotlib 3.7 reads only the first face of the ``NotoSansCJK`` collection, which is
the Japanese one: drawn as paths, characters such as 直 or 骨 would take Japanese shapes. The
layout is measured with that same collection (same advance widths in every regional face), found
through ``matplotlib.font_manager`` (:func:`cjk_font_file`). Without any CJK font the charts are
still drawn (with a warning logged); only the spacing of Chinese labels may be off.

The one global setting needed, ``svg.fonttype``, is set only while a chart is being saved, under
a lock (:data:`_SAVE_LOCK`), and restored afterwards. Output is deterministic (no date, fixed
id salt), so an unchanged chart is an unchanged string (cacheable, ETag-able).
"""

from __future__ import annotations

import functools
import io
import logging
import math
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib import font_manager
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import FuncFormatter

logger = logging.getLogger(__name__)

FONT_FAMILY = ["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "sans-serif"]
"""The font list written into the SVG, first choice first."""

ANNOTATE_MAX_CELLS = 600
"""A heat map with more cells than this is drawn without the number in each cell (unreadable)."""

_SAVE_LOCK = threading.Lock()
_SVG_SETTINGS = {"svg.fonttype": "none", "svg.hashsalt": "complaint-dashboard"}
_CJK_NAMES = ("Noto Sans CJK", "Source Han Sans", "WenQuanYi", "Droid Sans Fallback")
_GENERIC_TAIL = re.compile("(" + re.escape(repr(FONT_FAMILY[-2])) + r"), [^;\"]*?sans-serif(?=[;\"])")
_COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


@functools.cache
def cjk_font_file(bold: bool = False) -> str | None:
    """The file of an installed CJK sans-serif font that matplotlib knows (``NotoSansCJK-Regular.ttc``
    with ``fonts-noto-cjk``), preferring Noto Sans CJK; the bold weight when ``bold``; None if none."""
    want = 700 if bold else 400
    candidates = [
        entry
        for entry in font_manager.fontManager.ttflist
        if entry.name.startswith(_CJK_NAMES) and entry.style == "normal"
    ]
    if not candidates:
        logger.warning("no CJK font found by matplotlib: Chinese chart labels will be measured with a fallback font")
        return None

    def rank(entry: Any) -> tuple[int, int, str]:
        weight = entry.weight if isinstance(entry.weight, int) else 400
        family = next(i for i, name in enumerate(_CJK_NAMES) if entry.name.startswith(name))
        return (family, abs(weight - want), entry.fname)

    return str(min(candidates, key=rank).fname)


def _font(size: float, bold: bool = False) -> FontProperties:
    """Text properties: measured with the CJK file, written into the SVG as :data:`FONT_FAMILY`."""
    return FontProperties(family=FONT_FAMILY, size=size, weight="bold" if bold else "normal", fname=cjk_font_file(bold))


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasSVG(figure)
    return figure, figure.add_subplot()


def _style(axes: Any, title: str, size: float = 9) -> None:
    axes.set_title(title, fontproperties=_font(12, bold=True), loc="left")
    for label in (*axes.get_xticklabels(), *axes.get_yticklabels()):
        label.set_fontproperties(_font(size))
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def _empty(axes: Any, title: str) -> None:
    axes.set_axis_off()
    axes.text(0.5, 0.5, "暂无数据", ha="center", va="center", transform=axes.transAxes, fontproperties=_font(11))
    axes.set_title(title, fontproperties=_font(12, bold=True), loc="left")


def _svg(figure: Figure) -> str:
    """The figure as SVG text; ``svg.fonttype`` is set only for this save, under the lock."""
    buffer = io.StringIO()
    with _SAVE_LOCK:
        saved = {key: matplotlib.rcParams[key] for key in _SVG_SETTINGS}
        try:
            matplotlib.rcParams.update(_SVG_SETTINGS)
            figure.savefig(buffer, format="svg", metadata={"Date": None})
        finally:
            matplotlib.rcParams.update(saved)
    # matplotlib spells out its whole sans-serif list after ours in every <text>; CSS's generic
    # sans-serif is all a browser needs there
    return _GENERIC_TAIL.sub(r"\1, sans-serif", buffer.getvalue())


def _thin(labels: Sequence[str], most: int) -> tuple[list[int], list[str]]:
    """Positions and labels of every n-th label, so that at most ``most`` are shown (a tick
    costs matplotlib milliseconds: 180 day ticks took half a second)."""
    step = max(1, math.ceil(len(labels) / max(1, most)))
    positions = list(range(0, len(labels), step))
    return positions, [labels[i] for i in positions]


def _short_day(label: str) -> str:
    """``2026-11-24`` -> ``11-24`` (other labels unchanged)."""
    return label[5:] if len(label) == 10 and label[4] == "-" and label[7] == "-" else label


def heatmap_svg(heatmap: Mapping[str, Any], title: str) -> str:
    """A heat map (:func:`bot.analytics.reports.heatmap`) as SVG: rows down, columns across, darker
    is more complaints, the count in every cell (up to :data:`ANNOTATE_MAX_CELLS` cells), and a
    colour bar. Day columns read ``MM-DD``; long axes show every n-th label.

    Args:
        heatmap: The dict :func:`bot.analytics.reports.heatmap` returns (``row_labels``,
            ``column_labels``, ``cells`` are used).
        title: The chart's title.

    Returns:
        SVG text (``<svg ...>`` with the labels as ``<text>``); a "暂无数据" chart when empty.
    """
    rows = [str(r) for r in heatmap.get("row_labels", [])]
    columns = [_short_day(str(c)) for c in heatmap.get("column_labels", [])]
    cells = heatmap.get("cells") or []
    width = min(22.0, max(6.0, 2.0 + 0.42 * len(columns)))
    height = min(16.0, max(3.0, 1.6 + 0.34 * len(rows)))
    figure, axes = _figure(width, height)
    if not rows or not columns:
        _empty(axes, title)
        return _svg(figure)
    peak = max((max(row) for row in cells if row), default=0)
    image = axes.imshow(cells, cmap="YlOrRd", aspect="auto", vmin=0, vmax=max(peak, 1), interpolation="nearest")
    axes.set_xticks(*_thin(columns, int(width * 2)), rotation=90 if len(columns) > 12 else 0)
    axes.set_yticks(*_thin(rows, int(height * 5)))
    axes.tick_params(length=0)
    if len(rows) * len(columns) <= ANNOTATE_MAX_CELLS:
        size = 8 if len(columns) <= 24 else 6.5
        for i, row in enumerate(cells):
            for j, count in enumerate(row):
                colour = "white" if count > peak * 0.6 else "#333333"
                cell = axes.text(j, i, str(count), ha="center", va="center", color=colour, fontproperties=_font(size))
                cell.set_in_layout(False)  # inside the axes: measuring them for the layout only costs time
    bar = figure.colorbar(image, ax=axes, fraction=0.03, pad=0.01)
    for label in bar.ax.get_yticklabels():
        label.set_fontproperties(_font(8))
    _style(axes, title)
    for side in ("left", "bottom"):
        axes.spines[side].set_visible(False)
    return _svg(figure)


def bars_svg(
    items: Sequence[tuple[str, float | None]] | Mapping[str, float | None],
    title: str,
    *,
    horizontal: bool = True,
    percent: bool = False,
    colour: str = "#1f77b4",
) -> str:
    """A bar chart as SVG, each bar labelled with its value.

    Args:
        items: ``(label, value)`` pairs (or a mapping), drawn in this order (top to bottom when
            ``horizontal``); a None value draws no bar.
        title: The chart's title.
        horizontal: Bars across (long Chinese labels stay readable) or upright.
        percent: Values are shares 0-1, written as percentages.
        colour: Bar colour.

    Returns:
        SVG text; a "暂无数据" chart when there are no items.
    """
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    labels = [str(label) for label, _ in pairs]
    values = [0.0 if value is None else float(value) for _, value in pairs]
    text = [("" if v is None else f"{v:.1%}" if percent else f"{v:g}") for _, v in pairs]
    if horizontal:
        figure, axes = _figure(7.0, min(14.0, max(2.4, 1.2 + 0.38 * len(pairs))))
    else:
        figure, axes = _figure(min(16.0, max(5.0, 1.5 + 0.6 * len(pairs))), 4.0)
    if not pairs:
        _empty(axes, title)
        return _svg(figure)
    positions = range(len(pairs))
    if horizontal:
        bars = axes.barh(positions, values, color=colour)
        axes.set_yticks(positions, labels)
        axes.invert_yaxis()
        axis = axes.xaxis
    else:
        bars = axes.bar(positions, values, color=colour)
        axes.set_xticks(
            positions, labels, rotation=45 if len(pairs) > 8 else 0, ha="right" if len(pairs) > 8 else "center"
        )
        axis = axes.yaxis
    if percent:
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
    axes.bar_label(bars, labels=text, padding=3, fontproperties=_font(8))
    axes.margins(x=0.12) if horizontal else axes.margins(y=0.12)
    _style(axes, title)
    return _svg(figure)


def lines_svg(
    series_by_name: Mapping[str, Sequence[tuple[str, float | None]]],
    title: str,
    *,
    percent: bool = True,
) -> str:
    """Rates over time as SVG lines, one per series, with a legend.

    Args:
        series_by_name: Series name (the legend's words) -> ``(x, value)`` points; x are labels
            such as days ``YYYY-MM-DD`` (shown ``MM-DD``), put in sorted order across all series;
            a None value leaves a gap.
        title: The chart's title.
        percent: Values are shares 0-1, the axis reads in percent.

    Returns:
        SVG text; a "暂无数据" chart when no series has a point.
    """
    xs = sorted({str(x) for points in series_by_name.values() for x, _ in points})
    width = min(16.0, max(6.0, 3.0 + 0.22 * len(xs)))
    figure, axes = _figure(width, 3.8)
    if not xs:
        _empty(axes, title)
        return _svg(figure)
    index = {x: i for i, x in enumerate(xs)}
    for n, (name, points) in enumerate(series_by_name.items()):
        ys = [math.nan] * len(xs)
        for x, value in points:
            ys[index[str(x)]] = math.nan if value is None else float(value)
        axes.plot(
            range(len(xs)),
            ys,
            label=str(name),
            color=_COLOURS[n % len(_COLOURS)],
            linewidth=1.6,
            marker="." if len(xs) <= 60 else None,
        )
    axes.set_xticks(*_thin([_short_day(x) for x in xs], int(width * 1.2)), rotation=0)
    if percent:
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
        axes.set_ylim(bottom=0)
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.legend(prop=_font(9), frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _style(axes, title)
    return _svg(figure)
