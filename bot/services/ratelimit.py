"""Rate limits on the public routes: per sender and per address, counted in Redis, answered 429.

Built on the :pypi:`limits` library (moving-window strategy, its async Redis storage on redis-py's
``redis.asyncio``), so every Sanic worker and every replica that shares ``REDIS_*`` shares the
counts. :func:`install` registers one request and one response middleware on the Rasa server's
Sanic app (from the agents' API channel, ``bot/agent_api/channel.py``); the only other hook is
:func:`refuse_webchat_message`, called at the top of the widget's ``user_uttered`` handler.

What is limited (each ``RATE_LIMIT_*`` variable takes the :mod:`limits` notation, several limits
separated by ``;``, e.g. ``"20/10 seconds;60/minute"``; defaults in :data:`DEFAULTS`):

* ``POST /webhooks/rest/webhook``: per ``sender`` of the JSON body (``RATE_LIMIT_SENDER``) and per
  address (``RATE_LIMIT_ADDRESS_MESSAGES``); ``GET /webhooks/rest/outbox`` per ``sender`` query
  parameter and per address too.
* widget messages (socket.io ``user_uttered``): per browser session (``RATE_LIMIT_SENDER``) and per
  address (``RATE_LIMIT_ADDRESS_MESSAGES``), refused with a reply in the chat rather than an HTTP
  status; the widget's HTTP traffic (socket.io long-polling, its files, uploads, which also keep
  their daily quota) per address (``RATE_LIMIT_ADDRESS``).
* WeChat and Taobao webhooks: the callers are the platforms' servers, a few addresses carrying every
  customer of the shop, so the per-address limit there is the high ``RATE_LIMIT_PLATFORM``; WeChat
  messages are also limited per ``openid`` (the query parameter WeChat adds to every push,
  ``RATE_LIMIT_SENDER``). A forged ``openid`` only spends that id's allowance, and the request
  still fails the signature check.
* ``GET /api/health``: per address (``RATE_LIMIT_HEALTH``).
* failed logins: every 401 answer (agents' API, console, workbench, Rasa's token routes) counts
  against the address (``RATE_LIMIT_LOGIN_FAILURES``); over it, every route that needs a token
  answers 429 to that address until the window moves on. Customers' routes are not blocked by it.
* anything else (console and workbench pages, Rasa's routes) per address (``RATE_LIMIT_ADDRESS``).

A refused request gets ``429`` with ``Retry-After`` (whole seconds) and
``{"error": ..., "zh": ..., "retry_after": seconds}``. ``RATE_LIMITS=off`` turns every limit off
(load tests; the soak sends 500 conversations from 127.0.0.1).

The address is ``request.remote_addr`` (Sanic's proxy settings ``SANIC_PROXIES_COUNT``,
``SANIC_REAL_IP_HEADER``, ``SANIC_FORWARDED_SECRET``, read from the environment by Sanic itself),
else ``request.ip``. Behind nginx without them every customer has nginx's address.

Redis down: the limits fail open (the request is served), logged once per outage, and Redis is
not asked again for :data:`RETRY_AFTER_FAILURE` seconds, so an outage adds no latency; the routes
themselves answer the outage as the README says (503 for a message that cannot be recorded).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import BaseHTTPResponse, HTTPResponse

from bot.privacy import mask_pii

logger = logging.getLogger(__name__)

ENABLED_VAR = "RATE_LIMITS"
"""``off`` (or ``0``/``false``/``no``) turns every limit off."""

DEFAULTS: Dict[str, str] = {
    # a customer types about one message every 2 s; a burst of three lines is normal
    "RATE_LIMIT_SENDER": "20/10 seconds;60/minute",
    # 500 customers behind one company NAT, each a few messages a minute
    "RATE_LIMIT_ADDRESS_MESSAGES": "3000/minute",
    # HTTP requests of one address (widget polling ~3 a message plus one per 25 s idle, pages, files)
    "RATE_LIMIT_ADDRESS": "6000/minute",
    # WeChat's and Taobao's servers push every customer's messages from a few addresses
    "RATE_LIMIT_PLATFORM": "20000/minute",
    "RATE_LIMIT_HEALTH": "120/minute",
    "RATE_LIMIT_LOGIN_FAILURES": "20/minute;100/hour",
}
"""Default limits by environment variable (the :mod:`limits` string notation)."""

RETRY_AFTER_FAILURE = 5.0
"""Seconds the limits stay open after Redis failed, before Redis is asked again."""

KEY_PREFIX = "ratelimit"
"""Prefix of the limits' Redis keys."""

REST_WEBHOOK = "/webhooks/rest/webhook"
REST_OUTBOX = "/webhooks/rest/outbox"
PLATFORM_PREFIXES = ("/webhooks/wechat/", "/webhooks/taobao/")
CUSTOMER_PREFIXES = ("/webhooks/", "/socket.io")
"""Paths customers (or the platforms for them) call: never blocked by the failed-login limit."""
HEALTH = "/api/health"
PUBLIC_PAGES = ("/", "/version")


@dataclass(frozen=True)
class Refusal:
    """A request over a limit: which limit (its env variable) and how long until it may retry."""

    limit: str
    retry_after: int
    """Whole seconds, at least 1."""

    def response(self) -> HTTPResponse:
        """``429`` with ``Retry-After`` and the JSON error body of the other routes."""
        return response.json(
            {
                "error": f"too many requests, retry after {self.retry_after} s",
                "zh": f"请求太频繁，请 {self.retry_after} 秒后再试",
                "retry_after": self.retry_after,
            },
            status=429,
            headers={"Retry-After": str(self.retry_after)},
        )


def enabled() -> bool:
    """False when ``RATE_LIMITS`` is ``off``/``0``/``false``/``no``."""
    return (os.environ.get(ENABLED_VAR) or "on").strip().lower() not in ("off", "0", "false", "no")


def configured(name: str) -> str:
    """The limit string of ``name`` (its environment variable, else :data:`DEFAULTS`)."""
    return (os.environ.get(name) or "").strip() or DEFAULTS[name]


def address_of(request: Request) -> str:
    """The client's address: ``remote_addr`` (proxy settings applied), else the socket's peer."""
    try:
        return request.remote_addr or request.ip or "unknown"
    except Exception:  # noqa: BLE001 - a malformed Forwarded header must not break the request
        return request.ip or "unknown"


def storage_uri() -> Tuple[str, Dict[str, Any]]:
    """The :mod:`limits` storage URI and options from the ``REDIS_*`` variables of ``endpoints.yml``."""
    host = os.environ.get("REDIS_HOST", "127.0.0.1")
    port = int(os.environ.get("REDIS_PORT", "6379"))
    db = int(os.environ.get("REDIS_DB", "0") or 0)
    options: Dict[str, Any] = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}
    password = os.environ.get("REDIS_PASSWORD")
    if password:
        options["password"] = password
    return f"async+redis://{host}:{port}/{db}", options


class RateLimiter:
    """The limits of one server process, on a shared Redis (see the module docstring).

    Built lazily in the server's event loop by :func:`limiter`; ``hit`` never raises for a Redis
    failure (it lets the request through).
    """

    def __init__(self, uri: Optional[str] = None, **options: Any) -> None:
        import redis.asyncio  # noqa: F401 - limits reaches redis.asyncio through the redis module
        from limits import parse_many
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter
        from packaging.version import Version

        class Storage(RedisStorage):
            # limits declares redis-py 5.2 for its redis-py bridge; Rasa 3.6 pins redis-py < 5.
            # The bridge's calls (EVALSHA scripts, GET/TTL) are the same in 4.6, which the tests
            # (tests/security/test_ratelimit.py) run on a real Redis.
            DEPENDENCIES = {**RedisStorage.DEPENDENCIES, "redis": Version("4.5.4")}

        if uri is None:
            uri, defaults = storage_uri()
            options = {**defaults, **options}
        self.storage = Storage(uri, implementation="redispy", key_prefix=KEY_PREFIX, **options)
        self.strategy = MovingWindowRateLimiter(self.storage)
        self.items = {name: parse_many(configured(name)) for name in DEFAULTS}
        self._open_until = 0.0
        self._outage_logged = False

    async def hit(self, limit: str, *key: str) -> Optional[Refusal]:
        """Counts one request of ``key`` against the limits of ``limit``; a :class:`Refusal` when over one.

        Every window of the limit is counted (``20/10 seconds;60/minute``); when one is full the
        request is refused and retries after the soonest time that window frees a place.
        """
        return await self._ask(limit, key, count=True)

    async def test(self, limit: str, *key: str) -> Optional[Refusal]:
        """Like :meth:`hit` without counting (is ``key`` already over ``limit``?)."""
        return await self._ask(limit, key, count=False)

    async def _ask(self, limit: str, key: Sequence[str], count: bool) -> Optional[Refusal]:
        if time.monotonic() < self._open_until:
            return None
        try:
            for item in self.items[limit]:
                allowed = await (
                    self.strategy.hit(item, limit, *key) if count else self.strategy.test(item, limit, *key)
                )
                if not allowed:
                    stats = await self.strategy.get_window_stats(item, limit, *key)
                    return Refusal(limit, max(1, math.ceil(stats.reset_time - time.time())))
        except Exception as error:  # noqa: BLE001 - fail open: a Redis outage must not refuse customers
            self._open_until = time.monotonic() + RETRY_AFTER_FAILURE
            if not self._outage_logged:
                logger.warning("rate limits unavailable (Redis: %s): serving without limits until it is back", error)
                self._outage_logged = True
            return None
        if self._outage_logged:
            logger.info("rate limits back: Redis answers again")
            self._outage_logged = False
        return None


_LIMITER: Optional[RateLimiter] = None


def limiter() -> Optional[RateLimiter]:
    """This process's limiter (created on first use), or None when ``RATE_LIMITS=off``."""
    global _LIMITER
    if not enabled():
        return None
    if _LIMITER is None:
        _LIMITER = RateLimiter()
    return _LIMITER


def reset() -> None:
    """Forgets the limiter (the settings are read again on next use; for tests)."""
    global _LIMITER
    _LIMITER = None


def rest_sender(body: Optional[bytes]) -> Optional[str]:
    """The ``sender`` of a REST webhook body as the channel reads it, or None (the route answers 400)."""
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    sender = data.get("sender") if isinstance(data, dict) else None
    if isinstance(sender, bool) or not isinstance(sender, (str, int)):
        return None
    text = str(sender).strip()
    return text[:128] or None


Check = Tuple[str, Tuple[str, ...]]
"""A limit's variable name and the key counted against it."""


def checks_for(request: Request) -> List[Check]:
    """The ``(limit, key)`` pairs a request counts against (see the module docstring)."""
    path = request.path
    address = address_of(request)
    checks: List[Check]
    if path == REST_WEBHOOK and request.method == "POST":
        sender = rest_sender(request.body)
        checks = [("RATE_LIMIT_ADDRESS_MESSAGES", ("rest", address))]
        return checks + ([("RATE_LIMIT_SENDER", ("rest", sender))] if sender else [])
    if path == REST_OUTBOX:
        sender = (request.args.get("sender") or "").strip()[:128]
        checks = [("RATE_LIMIT_ADDRESS", ("outbox", address))]
        return checks + ([("RATE_LIMIT_SENDER", ("outbox", sender))] if sender else [])
    if path.startswith(PLATFORM_PREFIXES):
        channel = path.split("/")[2]
        checks = [("RATE_LIMIT_PLATFORM", (channel, address))]
        openid = (request.args.get("openid") or "").strip()[:128]
        if channel == "wechat" and openid and request.method == "POST":
            checks.append(("RATE_LIMIT_SENDER", ("wechat", openid)))
        return checks
    if path == HEALTH:
        return [("RATE_LIMIT_HEALTH", (address,))]
    return [("RATE_LIMIT_ADDRESS", ("http", address))]


def needs_token(path: str) -> bool:
    """Routes behind a token (agents' API, console, workbench, Rasa's HTTP API): the failed-login limit applies."""
    return not path.startswith(CUSTOMER_PREFIXES) and path != HEALTH and path not in PUBLIC_PAGES


async def on_request(request: Request) -> Optional[HTTPResponse]:
    """Request middleware: 429 when the request is over one of its limits (see :func:`checks_for`)."""
    limits = limiter()
    if limits is None:
        return None
    if needs_token(request.path):
        refused = await limits.test("RATE_LIMIT_LOGIN_FAILURES", address_of(request))
        if refused is not None:
            logger.warning(
                "429 %s %s: too many failed logins from %s", request.method, request.path, address_of(request)
            )
            return refused.response()
    for limit, key in checks_for(request):
        refused = await limits.hit(limit, *key)
        if refused is not None:
            logger.info("429 %s %s (%s, key %s)", request.method, request.path, limit, mask_pii("/".join(key)))
            return refused.response()
    return None


async def on_response(request: Request, reply: BaseHTTPResponse) -> None:
    """Response middleware: a 401 counts as a failed login of the address."""
    if reply is None or reply.status != 401:
        return
    limits = limiter()
    if limits is not None:
        await limits.hit("RATE_LIMIT_LOGIN_FAILURES", address_of(request))


def install(app: Sanic) -> None:
    """Registers the middlewares on ``app`` once (call before the server serves: a
    ``before_server_start`` listener); logs how addresses are read."""
    if getattr(app.ctx, "rate_limits_installed", False):
        return
    app.ctx.rate_limits_installed = True
    app.register_middleware(on_request, attach_to="request")
    app.register_middleware(on_response, attach_to="response")
    proxied = any(app.config.get(name) for name in ("PROXIES_COUNT", "REAL_IP_HEADER", "FORWARDED_SECRET"))
    logger.info(
        "rate limits %s; client address from %s",
        "on" if enabled() else "off (RATE_LIMITS=off)",
        "proxy headers (SANIC_PROXIES_COUNT / SANIC_REAL_IP_HEADER / SANIC_FORWARDED_SECRET)"
        if proxied
        else "the socket peer (set SANIC_PROXIES_COUNT behind a proxy)",
    )


TOO_FAST_TEXT = "您发得太快了，请稍等 {} 秒再发。"
"""The widget's reply to a message over the limit (the message is not processed)."""


async def refuse_webchat_message(channel: Any, sid: str) -> bool:
    """``channel``: the widget's ``WebChatInput`` (its ``sio``, ``namespace``, ``bot_message_evt``).

    True when this widget message is over its session's or its address's limit; the browser is
    told in the chat (``bot_uttered``) to wait. Never raises (a failure lets the message through)."""
    limits = limiter()
    if limits is None:
        return False
    try:
        sio = channel.sio
        session = await sio.get_session(sid, namespace=channel.namespace)
        environ = sio.get_environ(sid, namespace=channel.namespace) or {}
        request = environ.get("sanic.request")
        address = address_of(request) if request is not None else str(environ.get("REMOTE_ADDR") or "unknown")
        session_key = str(session.get("session_id") or sid)
        refused = await limits.hit("RATE_LIMIT_ADDRESS_MESSAGES", "webchat", address) or await limits.hit(
            "RATE_LIMIT_SENDER", "webchat", session_key
        )
        if refused is None:
            return False
        logger.info("widget message refused (%s) for session %s", refused.limit, session_key)
        await sio.emit(
            channel.bot_message_evt,
            {"text": TOO_FAST_TEXT.format(refused.retry_after)},
            room=sid,
            namespace=channel.namespace,
        )
        return True
    except Exception:  # noqa: BLE001 - the limit must never lose a customer's message by itself
        logger.exception("widget rate limit check failed; message let through")
        return False
