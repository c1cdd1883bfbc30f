"""The Taobao channel in the real bot: signed messages in, signed replies out to a fake shop endpoint."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from bot.channels.taobao import sign as taobao_sign
from tools.devstack import Stack, base_env, free_port

KEY, SECRET = "shop-key", "shop-secret"


class _Shop(BaseHTTPRequestHandler):
    """The shop's reply endpoint: records every reply and whether its signature verifies."""

    received: list[tuple[bool, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        ok = taobao_sign.verify(params, body, app_key=KEY, secret=SECRET)
        self.received.append((ok, json.loads(body)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'{"success": true}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def taobao_bot(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    work = tmp_path_factory.mktemp("taobao")
    shop = HTTPServer(("127.0.0.1", free_port()), _Shop)
    threading.Thread(target=shop.serve_forever, daemon=True).start()
    stack = Stack()
    try:
        redis = stack.start_redis(free_port(), work / "redis", log=work / "redis.log")
        action_port = free_port()
        env = base_env(
            **redis.env(),
            ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
            BOT_API_TOKEN="tok",
            TAOBAO_APP_KEY=KEY,
            TAOBAO_APP_SECRET=SECRET,
            TAOBAO_REPLY_URL=f"http://127.0.0.1:{shop.server_port}/reply",
        )
        stack.start_actions(action_port, env, log=work / "actions.log")
        base = stack.start_rasa(free_port(), model_path, "tok", env, log=work / "rasa.log")
        import redis as redis_lib

        yield base, redis_lib.Redis(host=redis.host, port=redis.port, decode_responses=True)
    finally:
        stack.stop()
        shop.shutdown()


def _send(base: str, message_id: str, text: str, **extra: Any) -> dict[str, Any]:
    body = json.dumps(
        {
            "buyer_nick": "小明",
            "message_id": message_id,
            "timestamp": taobao_sign.format_timestamp(),
            "text": text,
            **extra,
        },
        ensure_ascii=False,
    ).encode()
    query = urllib.parse.urlencode(taobao_sign.signed_params(body, app_key=KEY, secret=SECRET))
    request = urllib.request.Request(
        f"{base}/webhooks/taobao/webhook?{query}", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())


def _replies(count: int, timeout: float = 20) -> list[tuple[bool, dict[str, Any]]]:
    deadline = time.monotonic() + timeout
    while len(_Shop.received) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return list(_Shop.received)


def test_a_complaint_from_taobao_is_answered_through_the_signed_reply_endpoint(taobao_bot: tuple[str, Any]) -> None:
    taobao_bot, store = taobao_bot
    assert _send(taobao_bot, "m1", "收到的电饭煲煮饭夹生 才用了两次", order_id="3920184756210384")["success"]
    first = _replies(1)
    assert first and first[0][0], "the reply must carry a valid signature"
    assert first[0][1]["buyer_nick"] == "小明" and "对吗" in first[0][1]["text"]
    _send(taobao_bot, "m2", "对")
    second = _replies(2)
    # the order id came with the platform message: the bot does not ask for it
    assert "订单号" not in second[1][1]["text"] and "照片" in second[1][1]["text"]
    # a redelivered message is acknowledged and not answered twice
    assert _send(taobao_bot, "m2", "对")["duplicate"] is True
    time.sleep(2)
    assert len(_Shop.received) == 2
    # the conversation is the buyer's own, and the platform's order id is in it
    events = [json.loads(e) for e in store.lrange("tracker:events:taobao:小明", 0, -1)]
    assert any(e["event"] == "user" and e.get("input_channel") == "taobao" for e in events)
    assert ("order_id", "3920184756210384") in [(e.get("name"), e.get("value")) for e in events if e["event"] == "slot"]


def test_agents_reach_a_conversation_whose_id_is_chinese(taobao_bot: tuple[str, Any]) -> None:
    base, _ = taobao_bot
    path = urllib.parse.quote("taobao:小明")
    with urllib.request.urlopen(f"{base}/api/conversations/{path}/transcript?token=tok") as reply:
        transcript = json.loads(reply.read())
    assert transcript["sender_id"] == "taobao:小明" and transcript["channel"] == "taobao"
    assert any(m["from"] == "customer" for m in transcript["messages"])
