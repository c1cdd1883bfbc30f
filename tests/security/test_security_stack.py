"""The real stack with rate limits on: REST customers get 429 past their limit, and after
conversations full of phone numbers, addresses and ID numbers no log line of any process of the
stack (Rasa server at DEBUG, action server) holds one unmasked (bot/privacy.py ``scan_logs``)."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from bot.privacy import scan_logs
from tests.support.bot import BotClient, start_bot
from tools.devstack import RedisSettings, Stack

PII_MESSAGES = (
    "我买的杯子碎了，订单号 2024112312345678",
    "我的电话是13812345678，快点处理",
    "手机 +86 139-1234-5678 地址是上海市浦东新区张江路88号3栋501室",
    "身份证号11010519491231002X，收货地址北京市朝阳区建国路100号",
    "邮箱 zhangsan@example.com 退款",
)


@pytest.fixture(scope="module")
def limited_bot(
    model_path: Path, redis_server: RedisSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotClient]:
    """A stack of its own with the limits on (small per-sender limit) and Rasa logging at DEBUG."""
    logs = tmp_path_factory.mktemp("security-logs")
    stack = Stack()
    try:
        yield start_bot(
            stack,
            model_path,
            redis_server,
            logs,
            RATE_LIMITS="on",
            RATE_LIMIT_SENDER="8/minute",
            LOG_LEVEL="DEBUG",
        )
    finally:
        stack.stop()


def test_a_rest_customer_over_the_limit_gets_429_with_retry_after(limited_bot: BotClient) -> None:
    sender = "flood-" + uuid.uuid4().hex[:8]
    statuses = [limited_bot.send(sender, f"第{i}条")[0] for i in range(10)]
    assert statuses[:8] == [200] * 8 and statuses[8:] == [429, 429], statuses
    request = urllib.request.Request(
        limited_bot.base + "/webhooks/rest/webhook",
        data=json.dumps({"sender": sender, "message": "还在吗"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(request, timeout=30)
        raise AssertionError("expected 429")
    except urllib.error.HTTPError as refused:
        assert refused.code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        body: Any = json.loads(refused.read())
        assert body["zh"] and body["error"]
    # another customer is served meanwhile
    assert limited_bot.send("calm-" + uuid.uuid4().hex[:8], "你好")[0] == 200


def test_no_personal_data_in_any_log_after_pii_conversations(limited_bot: BotClient) -> None:
    sender = "pii-" + uuid.uuid4().hex[:8]
    for message in PII_MESSAGES:
        status, replies = limited_bot.send(sender, message)
        assert status == 200, replies
    assert limited_bot.get(f"/api/tickets?sender_id={sender}")[0] == 200
    assert limited_bot.logs is not None
    logs = sorted(p.name for p in limited_bot.logs.iterdir() if p.suffix == ".log")
    assert logs == ["actions.log", "rasa.log"], logs
    rasa_log = (limited_bot.logs / "rasa.log").read_text(encoding="utf-8", errors="replace")
    # the stack really logged the customers' words, masked
    assert "138****5678" in rasa_log and "110105************" in rasa_log and "DEBUG" in rasa_log
    findings = scan_logs([limited_bot.logs])
    assert findings == [], "\n".join(str(f) for f in findings[:20])
