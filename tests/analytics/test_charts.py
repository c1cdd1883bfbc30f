"""Server-side SVG charts (bot/analytics/charts.py): valid SVG whose Chinese words are real text
that Chromium draws with a CJK font; drawn safely from several threads."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import matplotlib

from bot.analytics import charts
from bot.analytics.reports import heatmap
from tests.support.analytics import fact, shanghai

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def sample_heatmap() -> dict[str, Any]:
    facts = [
        fact("a", shanghai(20, 9), type="product"),
        fact("b", shanghai(20, 10), type="product"),
        fact("c", shanghai(21, 9), type="logistics"),
        fact("d", shanghai(22, 9)),
    ]
    return heatmap(facts, ("type", "day"), since=shanghai(20, 0), until=shanghai(23, 0))


def test_a_heat_map_carries_its_words_and_counts_as_text() -> None:
    svg = charts.heatmap_svg(sample_heatmap(), "投诉热力图（类型 × 日期）")
    words = texts(svg)
    assert "投诉热力图（类型 × 日期）" in words
    for label in ("商品问题", "物流问题", "服务问题", "恶意诉求", "未分类", "11-20", "11-21", "11-22"):
        assert label in words
    assert words.count("2") >= 1 and words.count("0") >= 10  # every cell annotated
    assert "'Noto Sans CJK SC'" in svg and "sans-serif" in svg
    assert "DejaVu" not in svg  # matplotlib's own sans-serif list is cut down to the generic name
    assert "<dc:date>" not in svg  # no date: the same chart is the same string


def test_charts_are_deterministic() -> None:
    assert charts.heatmap_svg(sample_heatmap(), "热力图") == charts.heatmap_svg(sample_heatmap(), "热力图")


def test_a_big_heat_map_has_no_numbers_in_its_cells() -> None:
    facts = [fact(f"t{d}", shanghai(d % 28 + 1, d % 24), type="product") for d in range(200)]
    grid = heatmap(facts, ("hour", "day"), since=shanghai(1, 0), until=shanghai(29, 0))
    assert len(grid["rows"]) * len(grid["columns"]) > charts.ANNOTATE_MAX_CELLS
    words = texts(charts.heatmap_svg(grid, "按小时"))
    assert "按小时" in words and "11-01" in words
    assert len(words) < 100  # axis labels and the colour bar, no number per cell (672 cells)


def test_empty_charts_say_so() -> None:
    assert "暂无数据" in texts(charts.heatmap_svg(heatmap([], ("type", "day")), "热力图"))
    assert "暂无数据" in texts(charts.bars_svg([], "满意度"))
    assert "暂无数据" in texts(charts.lines_svg({"转人工比例": []}, "趋势"))


def test_bars_with_percentages() -> None:
    svg = charts.bars_svg([("质量问题", 0.31), ("发错货", 0.125), ("直送骨折", None)], "按原因", percent=True)
    words = texts(svg)
    assert {"按原因", "质量问题", "发错货", "直送骨折", "31.0%", "12.5%"} <= set(words)
    upright = texts(charts.bars_svg({"1分": 3, "5分": 10}, "满意度分布", horizontal=False))
    assert {"1分", "5分", "3", "10"} <= set(upright)


def test_lines_with_a_legend_and_gaps() -> None:
    series = {
        "转人工比例": [("2026-11-20", 0.2), ("2026-11-21", None), ("2026-11-22", 0.3)],
        "超时率": [("2026-11-20", 0.05), ("2026-11-22", 0.1)],
    }
    words = texts(charts.lines_svg(series, "每日比例"))
    assert {"每日比例", "转人工比例", "超时率", "11-20", "11-22"} <= set(words)
    assert any(w.endswith("%") for w in words)


def test_charts_drawn_from_many_threads_are_the_same_as_one_by_one() -> None:
    grid = sample_heatmap()
    jobs = [
        lambda: charts.heatmap_svg(grid, "热力图"),
        lambda: charts.bars_svg([("质量问题", 3), ("发错货", 1)], "按原因"),
        lambda: charts.lines_svg({"超时率": [("2026-11-20", 0.1), ("2026-11-21", 0.2)]}, "趋势"),
    ] * 2
    alone = [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=6) as pool:
        together = list(pool.map(lambda job: job(), jobs))
    assert together == alone
    assert matplotlib.rcParams["svg.fonttype"] == "path"  # the save-time setting is put back


def test_the_cjk_font_is_found_through_matplotlib() -> None:
    path = charts.cjk_font_file()
    assert path is not None and re.search(r"NotoSansCJK-Regular\.tt[cf]$", path)
    bold = charts.cjk_font_file(bold=True)
    assert bold is not None and "Bold" in bold


def test_chromium_draws_the_chinese_words_with_a_cjk_font(browser: Any) -> None:
    """A CJK glyph is as wide as the font size; a missing one (a box from a Latin font) is about
    half as wide. So every Chinese label, drawn by Chromium, is as wide as its characters."""
    svg = charts.heatmap_svg(sample_heatmap(), "投诉热力图")
    page = browser.new_page()
    try:
        page.set_content(f"<html><body>{svg}</body></html>")
        widths = page.evaluate(
            """() => [...document.querySelectorAll('svg text')]
                .filter(t => /[\\u4e00-\\u9fff]/.test(t.textContent))
                .map(t => [t.textContent, t.getComputedTextLength(),
                           parseFloat(getComputedStyle(t).fontSize)])"""
        )
    finally:
        page.close()
    assert {w[0] for w in widths} >= {"投诉热力图", "商品问题", "未分类"}
    for text, width, size in widths:
        assert width >= 0.95 * len(text) * size, (text, width, size)
