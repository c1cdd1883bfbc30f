"""Rate limits (bot/services/ratelimit.py) on a real Redis, in a real Sanic server on a free port.

The routes are stand-ins at the real paths (the middleware looks only at paths, bodies and
addresses); the real stack is exercised by tests/security/test_security_stack.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict

import aiohttp
import pytest

from bot.services import ratelimit
from tools.devstack import free_port

SMALL = {
    "RATE_LIMIT_SENDER": "3/minute",
    "RATE_LIMIT_ADDRESS_MESSAGES": "6/minute",
    "RATE_LIMIT_ADDRESS": "8/minute",
    "RATE_LIMIT_PLATFORM": "5/minute",
    "RATE_LIMIT_HEALTH": "4/minute",
    "RATE_LIMIT_LOGIN_FAILURES": "3/minute",
}


@pytest.fixture
def limits_env(redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> Dict[str, str]:
    """Small limits on the test Redis, in a Redis database of their own (flushed), fresh limiter."""
    import redis

    for key, value in {**redis_server.env(), **SMALL, "REDIS_DB": "7", "RATE_LIMITS": "on"}.items():
        monkeypatch.setenv(key, value)
    redis.Redis(host=redis_server.host, port=redis_server.port, db=7).flushdb()
    ratelimit.reset()
    yield SMALL
    ratelimit.reset()


@asynccontextmanager
async def server(monkeypatch: pytest.MonkeyPatch, **config: Any) -> AsyncIterator[str]:
    """A Sanic app with the limits installed and stand-in routes; yields its base URL."""
    from sanic import Sanic, response

    monkeypatch.setattr(Sanic, "test_mode", True)
    app = Sanic("ratelimit_test_" + uuid.uuid4().hex[:12])
    for key, value in config.items():
        app.config[key] = value

    async def ok(request: Any, **_: Any) -> Any:
        return response.json({"ok": True})

    async def login(request: Any) -> Any:
        if request.args.get("token") != "right":
            return response.json({"error": "missing or wrong token"}, status=401)
        return response.json({"name": "小张"})

    app.add_route(ok, "/webhooks/rest/webhook", methods=["POST"])
    app.add_route(ok, "/webhooks/wechat/webhook", methods=["POST"])
    app.add_route(ok, "/api/health", methods=["GET"])
    app.add_route(login, "/api/console/me", methods=["GET"])
    app.add_route(ok, "/console/", methods=["GET"])
    ratelimit.install(app)
    port = free_port()
    srv = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await srv.startup()
    await srv.before_start()
    await srv.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await srv.before_stop()
        await srv.close()
        await srv.after_stop()


async def post_rest(http: aiohttp.ClientSession, base: str, sender: str, **headers: str) -> aiohttp.ClientResponse:
    body = json.dumps({"sender": sender, "message": "你好"}).encode()
    async with http.post(base + "/webhooks/rest/webhook", data=body, headers=headers) as reply:
        await reply.read()
        return reply


async def test_rest_sender_is_limited_with_429_retry_after_and_a_chinese_error(
    limits_env: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with server(monkeypatch) as base, aiohttp.ClientSession() as http:
        statuses = [(await post_rest(http, base, "alice")).status for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        async with http.post(base + "/webhooks/rest/webhook", json={"sender": "alice", "message": "x"}) as reply:
            body = await reply.json()
            assert reply.status == 429
            retry = int(reply.headers["Retry-After"])
            assert 1 <= retry <= 60
            assert body["retry_after"] == retry and "too many requests" in body["error"]
            assert "请求太频繁" in body["zh"]
        # another customer from the same address still gets through (per sender, not per address)
        assert (await post_rest(http, base, "bob")).status == 200


async def test_rest_address_limit_catches_a_sender_rotation(
    limits_env: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with server(monkeypatch) as base, aiohttp.ClientSession() as http:
        statuses = [(await post_rest(http, base, f"rotating-{i}")).status for i in range(8)]
        assert statuses == [200] * 6 + [429, 429]


async def test_addresses_come_from_the_proxy_header_when_sanic_is_told_to_trust_it(
    limits_env: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with server(monkeypatch, REAL_IP_HEADER="x-real-ip") as base, aiohttp.ClientSession() as http:
        one = [(await post_rest(http, base, f"a{i}", **{"X-Real-IP": "203.0.113.5"})).status for i in range(7)]
        other = (await post_rest(http, base, "b", **{"X-Real-IP": "203.0.113.6"})).status
        assert one[-1] == 429 and other == 200
    ratelimit.reset()
    async with server(monkeypatch) as base, aiohttp.ClientSession() as http:
        # without the setting the header is ignored: nobody escapes the limit by forging it
        statuses = [(await post_rest(http, base, f"c{i}", **{"X-Real-IP": f"198.51.100.{i}"})).status for i in range(7)]
        assert statuses[-1] == 429


async def test_failed_logins_block_token_routes_of_that_address_but_not_customers(
    limits_env: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with server(monkeypatch) as base, aiohttp.ClientSession() as http:
        for _ in range(3):
            async with http.get(base + "/api/console/me?token=guess") as reply:
                assert reply.status == 401
        async with http.get(base + "/api/console/me?token=right") as reply:  # even the right token waits now
            assert reply.status == 429 and int(reply.headers["Retry-After"]) >= 1
        assert (await post_rest(http, base, "customer")).status == 200


async def test_wechat_is_limited_per_address_and_per_openid(
    limits_env: Dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with server(monkeypatch) as base, aiohttp.ClientSession() as http:

        async def push(openid: str) -> int:
            async with http.post(f"{base}/webhooks/wechat/webhook?openid={openid}&signature=x", data=b"<xml/>") as r:
                return r.status

        assert [await push("o-alice") for _ in range(4)] == [200, 200, 200, 429]  # RATE_LIMIT_SENDER 3/minute
        assert [await push("o-bob"), await push("o-carol")] == [200, 429]  # the platform's address: 5/minute


async def test_health_is_limited_per_address(limits_env: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    async with server(monkeypatch) as base, aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(5):
            async with http.get(base + "/api/health") as reply:
                statuses.append(reply.status)
        assert statuses == [200] * 4 + [429]


async def test_two_workers_share_the_counts(limits_env: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = ratelimit.RateLimiter(), ratelimit.RateLimiter()  # two processes' limiters
    assert await first.hit("RATE_LIMIT_SENDER", "rest", "shared") is None
    assert await second.hit("RATE_LIMIT_SENDER", "rest", "shared") is None
    assert await first.hit("RATE_LIMIT_SENDER", "rest", "shared") is None
    refused = await second.hit("RATE_LIMIT_SENDER", "rest", "shared")
    assert refused is not None and refused.limit == "RATE_LIMIT_SENDER"


async def test_off_switch_serves_everything(limits_env: Dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE_LIMITS", "off")
    async with server(monkeypatch) as base, aiohttp.ClientSession() as http:
        assert {(await post_rest(http, base, "load")).status for _ in range(10)} == {200}


@pytest.mark.integration  # an in-process Sanic server
async def test_redis_down_fails_open_logged_once_and_without_delay(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("REDIS_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("RATE_LIMITS", "on")
    monkeypatch.setenv("RATE_LIMIT_SENDER", "1/minute")
    ratelimit.reset()
    caplog.set_level(logging.INFO, logger=ratelimit.__name__)
    try:
        async with server(monkeypatch) as base, aiohttp.ClientSession() as http:
            started = time.monotonic()
            statuses = [(await post_rest(http, base, "during-outage")).status for _ in range(5)]
            elapsed = time.monotonic() - started
    finally:
        ratelimit.reset()
    assert statuses == [200] * 5
    assert elapsed < 2.0, elapsed  # one refused connection, then no Redis call for RETRY_AFTER_FAILURE
    outages = [r for r in caplog.records if "rate limits unavailable" in r.getMessage()]
    assert len(outages) == 1


async def test_parsing_the_sender_never_raises() -> None:
    assert ratelimit.rest_sender(b'{"sender": " 42 ", "message": ""}') == "42"
    assert ratelimit.rest_sender(b'{"sender": 7}') == "7"
    for body in (b"", b"[]", b"{", b'{"sender": true}', b'{"sender": {}}', b"\xff", b"[" * 100000):
        assert ratelimit.rest_sender(body) is None


def test_limit_strings_parse_and_defaults_are_generous() -> None:
    from limits import parse_many

    for name, value in ratelimit.DEFAULTS.items():
        assert parse_many(value), name
    per_minute = {
        item.amount for item in parse_many(ratelimit.DEFAULTS["RATE_LIMIT_SENDER"]) if item.GRANULARITY.name == "minute"
    }
    assert per_minute and min(per_minute) >= 30  # one message every 2 s all minute long passes
    assert asyncio.iscoroutinefunction(ratelimit.on_request)
