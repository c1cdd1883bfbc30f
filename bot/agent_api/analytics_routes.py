"""The shop's figures over HTTP (issue 12; SPEC.md section 7): ``/api/analytics/...``.

* ``GET /analytics/dashboard?since=&until=``: everything ``/console/dashboard`` shows
  (:func:`bot.analytics.dashboard.build`);
* ``GET /analytics/heatmap?by=type,day&since=&until=``: one complaint heat map
  (:func:`bot.analytics.reports.heatmap`; ``by`` two of type, cause, category, urgency, channel,
  day, hour, weekday, priority);
* ``GET /analytics/quality?since=&until=``: the house-rule checks: rates per rule and day, and
  the latest failed conversations with the trainers' link;
* ``GET /analytics/charts/{name}.svg`` and ``GET /analytics/export/{name}.csv``: a dashboard
  table's chart (SVG drawn on the server) and its CSV (UTF-8 with BOM, for Excel).

``since`` and ``until`` are dates (``YYYY-MM-DD``, the shop's time zone of ``policy/sla.yml``),
both included; the default is the last 30 days. A bad date, ``since`` after ``until``, a range
over :data:`MAX_DAYS` days or an unknown dimension is 400. Reading needs the agents' token
(bearer or ``?token=``) or a console login. One process keeps a computed dashboard for
:data:`CACHE_SECONDS`, so the page's charts and exports reuse the figures it just read.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import date, datetime, timedelta
from typing import Any, Callable, Dict, Tuple

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.agent_api.auth import check_token
from bot.agent_api.console_routes import ConsoleStores, staff_of, trainer_link
from bot.agent_api.http import ApiError
from bot.analytics import dashboard, reports
from bot.followup import satisfaction
from bot.policy import sla as sla_module
from bot.quality.house_rules import RULES
from bot.store.promises import PromiseLedger
from bot.store.quality import QualityStore

MAX_DAYS = 366
"""Longest range, in days."""

FIRST_YEAR, LAST_YEAR = 2000, 2100
"""Dates outside these years are refused (400): nothing was sold before, and far dates overflow
the calendar arithmetic."""

DEFAULT_DAYS = 30
"""The range when none is given: the last 30 days, today included."""

LOOKBACK_DAYS = 31
"""Days of tickets read before ``since``: repeat complainants look 30 days back, the early
warnings 8 days."""

CACHE_SECONDS = 15.0
"""How long one process reuses a computed dashboard for the same range."""

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

_cache: Dict[Tuple[str, float, float], Tuple[float, Dict[str, Any]]] = {}
_lock = asyncio.Lock()


def _authorised(request: Request) -> None:
    if check_token(request):
        return
    staff_of(request)  # raises 401


def _day(value: str, name: str) -> date:
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise ApiError(
            400, f"'{name}' must be a date YYYY-MM-DD, got {value[:40]!r}", zh="日期应写成 年-月-日，例如 2026-11-30"
        )
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ApiError(
            400,
            f"'{name}' must be a date between {FIRST_YEAR} and {LAST_YEAR}",
            zh=f"日期应在 {FIRST_YEAR} 年到 {LAST_YEAR} 年之间",
        )
    return day


def date_range(request: Request, now: float) -> Tuple[float, float]:
    """``since`` and ``until`` of a request as epoch seconds, ``until`` exclusive (the next midnight).

    Raises:
        ApiError: 400 on a bad date, an inverted range, or more than :data:`MAX_DAYS` days.
    """
    tz = sla_module.load_sla().tz
    today = datetime.fromtimestamp(now, tz).date()
    last = _day(request.args.get("until"), "until") if request.args.get("until") else today
    first = (
        _day(request.args.get("since"), "since") if request.args.get("since") else last - timedelta(DEFAULT_DAYS - 1)
    )
    if first > last:
        raise ApiError(400, "'since' is after 'until'", zh="开始日期晚于结束日期")
    if (last - first).days + 1 > MAX_DAYS:
        raise ApiError(400, f"the range is longer than {MAX_DAYS} days", zh=f"时间范围最长 {MAX_DAYS} 天")

    def midnight(day: date) -> float:
        return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()

    return midnight(first), midnight(last + timedelta(days=1))


async def _dashboard(stores: ConsoleStores, since: float, until: float) -> Dict[str, Any]:
    key = (stores.tickets().prefix, since, until)
    async with _lock:
        cached = _cache.get(key)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        now = time.time()
        client = stores.client()
        facts = await stores.tickets().all_facts(since - LOOKBACK_DAYS * reports.DAY, until)
        quality = await QualityStore(client).rates(since, until)
        promises = await PromiseLedger(client).stats(since, until - 1)  # both days included there
        missed = await satisfaction.Survey(client, stores.tickets().prefix).missed()
        loop = asyncio.get_running_loop()
        built = await loop.run_in_executor(
            None,
            lambda: dashboard.build(
                facts,
                now=now,
                since=since,
                until=until,
                quality=quality,
                promises=promises,
                rule_titles=dict(RULES),
                satisfaction_missed=missed,
            ),
        )
        for old in [k for k, (at, _) in _cache.items() if time.monotonic() - at >= CACHE_SECONDS]:
            del _cache[old]
        _cache[key] = (time.monotonic(), built)
        return built


def _public(built: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in built.items() if not k.startswith("_")}


def register(route: Callable[..., Any], stores: ConsoleStores) -> None:
    """Adds the analytics routes with the agents' API ``route`` decorator."""

    @route("/analytics/dashboard", public=True)
    async def dashboard_route(request: Request) -> HTTPResponse:
        _authorised(request)
        since, until = date_range(request, time.time())
        return response.json(_public(await _dashboard(stores, since, until)))

    @route("/analytics/heatmap", public=True)
    async def heatmap_route(request: Request) -> HTTPResponse:
        _authorised(request)
        since, until = date_range(request, time.time())
        by = tuple(part.strip() for part in (request.args.get("by") or "type,day").split(","))
        facts = await stores.tickets().all_facts(since, until)
        try:
            return response.json(reports.heatmap(facts, by, since, until))
        except ValueError as error:
            raise ApiError(400, str(error))

    @route("/analytics/quality", public=True)
    async def quality_route(request: Request) -> HTTPResponse:
        _authorised(request)
        since, until = date_range(request, time.time())
        store = QualityStore(stores.client())
        failures = await store.failures(since, until, limit=50)
        return response.json(
            {
                "since": since,
                "until": until,
                "rates": await store.rates(since, until),
                "failures": [
                    {
                        "sender_id": r.sender_id,
                        "checked_at": r.checked_at,
                        "failed": r.failed,
                        "trainer_link": trainer_link(r.sender_id),
                    }
                    for r in failures
                ],
            }
        )

    @route("/analytics/charts/<file>", public=True)
    async def chart_route(request: Request, file: str) -> HTTPResponse:
        _authorised(request)
        name = file[:-4] if file.endswith(".svg") else ""
        if name not in dashboard.CHARTS:
            raise ApiError(404, f"no chart {file[:40]!r}; charts: {', '.join(dashboard.CHARTS)}")
        since, until = date_range(request, time.time())
        built = await _dashboard(stores, since, until)
        svg = await asyncio.get_running_loop().run_in_executor(None, dashboard.chart_svg, built, name)
        return response.text(svg, content_type="image/svg+xml; charset=utf-8", headers={"Cache-Control": "no-store"})

    @route("/analytics/export/<file>", public=True)
    async def export_route(request: Request, file: str) -> HTTPResponse:
        _authorised(request)
        name = file[:-4] if file.endswith(".csv") else ""
        if name not in dashboard.TABLES:
            raise ApiError(404, f"no table {file[:40]!r}; tables: {', '.join(dashboard.TABLES)}")
        since, until = date_range(request, time.time())
        built = await _dashboard(stores, since, until)
        return response.text(
            dashboard.table_csv(built, name),
            content_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"', "Cache-Control": "no-store"},
        )
