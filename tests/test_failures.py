"""What happens when parts of the service fail (SPEC.md 5, 6 and 9): loud, honest, nothing lost.

The tests that break things run on their OWN stack (own redis-server, action server and Rasa
server), so the session ``bot`` of the other tests is never disturbed. The tests run in file
order: the actions are tested on their own first, then the action server goes down (and comes
back), then Redis goes down (and comes back), then the logs of everything are checked for
personal data in clear.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from bot.policy.catalogue import Option
from tools.devstack import RedisSettings, Stack, base_env, free_port, http_json

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
SYSTEM_ERROR = "系统出了点问题"
TICKET_NUMBER = re.compile(r"TS\d{8,}")

PHONE = "13812345678"
ID_NUMBER = "110101199003071234"
ADDRESS = "北京市朝阳区建国路88号"
PII = (PHONE, ID_NUMBER, ADDRESS)


def new_sender(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}"


def eventually(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except Exception:  # noqa: BLE001 - still coming up
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.3)


def domain_text(response: str) -> str:
    return DOMAIN["responses"][response][0]["text"]


# ---------------------------------------------------------------------------------------------
# The actions on their own, with the ticket store / queue unreachable (Redis on a closed port)
# ---------------------------------------------------------------------------------------------


def option(**overrides: Any) -> dict[str, Any]:
    values = dict(
        id="exchange",
        label="换货",
        description="收到您寄回的商品后48小时内给您发出新的。",
        by_when_hours=48,
        compensation=None,
        approval=None,
        by_when_text=None,
    )
    values.update(overrides)
    return dataclasses.asdict(Option(**values))


def sdk_tracker(sender: str, text: str, intent: str, **slots: Any) -> Any:
    """A rasa_sdk Tracker as the action server would build it from Rasa's request."""
    from rasa_sdk import Tracker

    values = {name: None for name in DOMAIN["slots"]}
    values.update(slots)
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0},
        "entities": [],
        "message_id": uuid.uuid4().hex,
        "metadata": {},
    }
    events = [
        {"event": "action", "name": "action_listen", "timestamp": time.time() - 60},
        {
            "event": "user",
            "text": "收到的电饭煲煮饭夹生 才用了两次",
            "timestamp": time.time() - 50,
            "input_channel": "rest",
            "parse_data": {"intent": {"name": "complaint_product", "confidence": 1.0}},
        },
        {
            "event": "user",
            "text": text,
            "timestamp": time.time(),
            "input_channel": "rest",
            "message_id": message["message_id"],
            "parse_data": message,
        },
    ]
    return Tracker(sender, values, message, events, False, None, {}, "action_listen")


@pytest.fixture
def redis_unreachable(monkeypatch: pytest.MonkeyPatch) -> int:
    """``actions.services`` pointed at a port where nothing listens."""
    from actions import services

    port = free_port()
    monkeypatch.setenv("REDIS_HOST", "127.0.0.1")
    monkeypatch.setenv("REDIS_PORT", str(port))
    monkeypatch.setenv("REDIS_DB", "0")
    monkeypatch.setenv("REDIS_PASSWORD", "")
    monkeypatch.setattr(services, "_clients", {})
    return port


def settled_slots(**extra: Any) -> dict[str, Any]:
    chosen = option()
    offered = [chosen, option(id="return_refund", label="退货退款", description="寄回后48小时内全额退款。")]
    return dict(
        complaint_type="product",
        order_id="3920184756210384",
        phase="settle",
        problem_summary="煮饭夹生",
        options_offered=offered,
        chosen_option=chosen,
        agreement=True,
        **extra,
    )


@pytest.mark.parametrize(
    "chosen",
    [
        option(),
        option(id="partial_refund", label="不退货部分退款", compensation=20.0),
        option(id="big", label="补偿", compensation=800.0, approval="manager"),
    ],
)
async def test_ticket_not_created_when_the_store_is_down(redis_unreachable, caplog, chosen) -> None:
    from rasa_sdk.executor import CollectingDispatcher

    from actions.tickets import ActionOpenTicket

    dispatcher = CollectingDispatcher()
    tracker = sdk_tracker(PHONE, "确认", "affirm", **{**settled_slots(), "chosen_option": chosen})
    started = time.monotonic()
    events = await ActionOpenTicket().run(dispatcher, tracker, DOMAIN)
    assert time.monotonic() - started < 10, "a dead store must not hang the turn"

    assert [m.get("response") for m in dispatcher.messages] == ["utter_ticket_failed"]
    assert not TICKET_NUMBER.search(domain_text("utter_ticket_failed"))
    assert "{ticket_id}" not in domain_text("utter_ticket_failed")
    for message in dispatcher.messages:
        assert not TICKET_NUMBER.search(json.dumps(message, ensure_ascii=False)), message
        assert not message.get("ticket_id"), message
    assert {"event": "slot", "timestamp": None, "name": "handoff_reason", "value": "failure"} in events
    assert not [e for e in events if e.get("name") == "ticket_id" and e.get("value")], events
    assert not [e for e in events if e.get("event") == "pause"], events
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors, "the failure must be logged as an error"
    assert PHONE not in caplog.text  # the sender id (a phone number here) is masked


async def test_handoff_fails_honestly_when_the_queue_is_down(redis_unreachable, caplog) -> None:
    from rasa_sdk.executor import CollectingDispatcher

    from actions.handoff import ActionHandoff

    dispatcher = CollectingDispatcher()
    tracker = sdk_tracker(PHONE, "转人工", "request_human", handoff_reason="asked", complaint_type="product")
    events = await ActionHandoff().run(dispatcher, tracker, DOMAIN)

    assert [m.get("response") for m in dispatcher.messages] == ["utter_handoff_failed"]
    assert not TICKET_NUMBER.search(json.dumps(dispatcher.messages, ensure_ascii=False))
    assert not [e for e in events if e.get("event") == "pause"], "the bot must not pause with nobody coming"
    assert not [e for e in events if e.get("name") == "ticket_id" and e.get("value")], events
    assert [r for r in caplog.records if r.levelname == "ERROR"]
    assert PHONE not in caplog.text


async def test_handoff_of_an_existing_ticket_fails_honestly_when_the_store_is_down(redis_unreachable) -> None:
    from rasa_sdk.executor import CollectingDispatcher

    from actions.handoff import ActionHandoff

    dispatcher = CollectingDispatcher()
    tracker = sdk_tracker(
        "unit-" + uuid.uuid4().hex[:6],
        "我要找人工",
        "request_human",
        **settled_slots(handoff_reason="asked", ticket_id="TS202601010001"),
    )
    events = await ActionHandoff().run(dispatcher, tracker, DOMAIN)
    assert [m.get("response") for m in dispatcher.messages] == ["utter_handoff_failed"]
    assert not [e for e in events if e.get("event") == "pause"]


# ---------------------------------------------------------------------------------------------
# A stack of our own, to break
# ---------------------------------------------------------------------------------------------


@dataclass
class OwnStack:
    stack: Stack
    base: str
    token: str
    env: dict[str, str]
    redis: RedisSettings
    redis_dir: Path
    logs: Path
    action_port: int

    # http ------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, *, token: bool = False) -> tuple[int, str, Any]:
        url = self.base + path
        if token:
            url += ("&" if "?" in url else "?") + "token=" + urllib.parse.quote(self.token)
        return http_json(method, url, body)

    def send(self, sender: str, message: str) -> tuple[int, str, Any]:
        return self.request("POST", "/webhooks/rest/webhook", {"sender": sender, "message": message})

    def say(self, sender: str, message: str) -> list[str]:
        status, text, replies = self.send(sender, message)
        assert status == 200, (status, text)
        return [r.get("text") or "" for r in replies]

    def health(self) -> tuple[int, dict[str, Any]]:
        status, text, body = self.request("GET", "/api/health")
        assert isinstance(body, dict), text
        return status, body

    def log(self, name: str) -> str:
        path = self.logs / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    # processes -------------------------------------------------------------------------------
    def process(self, name: str) -> subprocess.Popen:
        running = [p for n, p in self.stack.processes if n == name and p.poll() is None]
        assert len(running) == 1, f"{name}: {len(running)} running"
        return running[0]

    def kill(self, name: str) -> None:
        """SIGTERM just that process (its own process group) and wait until it is gone."""
        process = self.process(name)
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def start_actions(self) -> None:
        self.stack.start_actions(self.action_port, self.env, log=self.logs / "actions.log")

    def start_redis(self) -> None:
        self.stack.start_redis(self.redis.port, self.redis_dir, log=self.logs / "redis.log")


@pytest.fixture(scope="module")
def own(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnStack]:
    root = tmp_path_factory.mktemp("failures")
    logs = root / "logs"
    logs.mkdir()
    stack = Stack()
    redis_dir = root / "redis"
    token = secrets.token_urlsafe(16)
    try:
        settings = stack.start_redis(free_port(), redis_dir, log=logs / "redis.log")
        action_port, rasa_port = free_port(), free_port()
        env = base_env(
            **settings.env(),
            ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
            BOT_API_TOKEN=token,
            FOLLOWUP_INTERVAL_SECONDS="1",
        )
        stack.start_actions(action_port, env, log=logs / "actions.log")
        base = stack.start_rasa(rasa_port, model_path, token, env, log=logs / "rasa.log")
        yield OwnStack(stack, base, token, env, settings, redis_dir, logs, action_port)
    finally:
        stack.stop()


def test_own_stack_is_healthy(own: OwnStack) -> None:
    status, health = own.health()
    assert status == 200, health
    assert any("您好" in r for r in own.say(new_sender("ok"), "你好"))


# ---- the action server goes down ----


def test_action_server_down_gives_a_clear_error_and_a_human(own: OwnStack) -> None:
    sender = new_sender("noactions")
    assert own.say(sender, "你好")  # the session exists before the failure
    own.kill("actions")
    try:
        status, text, replies = own.send(sender, "收到的电饭煲煮饭夹生 才用了两次")
        assert status == 200, (status, text)
        texts = [r.get("text") or "" for r in replies]
        assert texts and any(SYSTEM_ERROR in t for t in texts), texts  # not silence
        assert domain_text("utter_system_error") in texts

        status, health = own.health()
        assert status == 503, health
        assert health["checks"]["action_server"] is False
        assert health["checks"]["redis"] is True
        assert health["checks"]["action_failures"] >= 1 and health["checks"]["last_action_failure"]

        status, _, cases = own.request("GET", "/api/handoffs", token=True)
        assert status == 200, cases
        mine = [c for c in cases if c["sender_id"] == sender]
        assert len(mine) == 1 and mine[0]["reason"] == "failure", cases
        assert mine[0]["deadline"] > time.time()

        rasa_log = own.log("rasa.log")
        assert "Encountered an exception while running action" in rasa_log
        assert re.search(r"ERROR.*action failed for", rasa_log), "the failure must be logged loudly"

        # a second message while it is still down: again an answer, still one case
        status, text, replies = own.send(sender, "人呢")
        assert status == 200 and replies, (status, text)
        status, _, cases = own.request("GET", "/api/handoffs", token=True)
        assert len([c for c in cases if c["sender_id"] == sender]) == 1
    finally:
        own.start_actions()

    # back: the health check sees the action server again and a new complaint is handled normally
    status, health = own.health()
    assert health["checks"]["action_server"] is True
    replies = own.say(new_sender("actionsback"), "收到的电饭煲煮饭夹生 才用了两次")
    assert any("对吗" in r for r in replies) and not any(SYSTEM_ERROR in r for r in replies), replies


# ---- Redis goes down ----


def test_redis_down_is_loud_and_the_conversation_survives(own: OwnStack) -> None:
    sender = new_sender("noredis")
    before = own.say(sender, "快递五天了还没到 物流一直不更新")
    assert any("对吗" in r for r in before), before
    status, _, tracker = own.request("GET", f"/conversations/{sender}/tracker", token=True)
    assert status == 200
    earlier = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert earlier == ["快递五天了还没到 物流一直不更新"]

    log_mark = len(own.log("rasa.log"))
    own.kill("redis")
    try:
        status, text, body = own.send(sender, f"对 有事打我电话{PHONE} 身份证{ID_NUMBER} 地址{ADDRESS}")
        assert status == 503, (status, text)
        assert isinstance(body, dict) and body.get("error"), text
        assert "Traceback" not in text and 'File "' not in text

        status, health = own.health()
        assert status == 503, health
        assert health["checks"]["redis"] is False
        assert health["status"] != "ok"

        # the outbox and the agents' API say so too, as JSON
        status, text, body = own.request("GET", f"/webhooks/rest/outbox?sender={sender}")
        assert status == 503 and isinstance(body, dict) and body.get("error"), text
        status, text, body = own.request("GET", f"/api/tickets?sender_id={sender}", token=True)
        assert status == 503 and isinstance(body, dict) and body.get("error"), text

        # Rasa's HTTP API does not make up an empty conversation either
        status, text, body = own.request("GET", f"/conversations/{sender}/tracker", token=True)
        assert status != 200, text

        new_lines = own.log("rasa.log")[log_mark:]
        assert re.search(r"^.*\bERROR\b.*$", new_lines, re.M), new_lines[-3000:]
    finally:
        own.start_redis()

    # Redis is back with its data: the same conversation continues where it was
    replies = eventually(lambda: own.say(sender, "对"), 20, "a reply after Redis came back")
    assert replies and not any(SYSTEM_ERROR in r for r in replies), replies
    assert not any("您好，我是" in r for r in replies), "the bot must not start over"
    status, _, tracker = own.request("GET", f"/conversations/{sender}/tracker", token=True)
    assert status == 200
    users = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert users[0] == "快递五天了还没到 物流一直不更新" and users[-1] == "对", users
    assert tracker["slots"]["complaint_type"] == "logistics"
    status, health = own.health()
    assert health["checks"]["redis"] is True
    assert health["checks"]["tracker_store"] == "WindowedRedisTrackerStore"
    assert health["checks"]["tracker_store_durable"] is True


# ---- personal data in the logs ----


def pii_in(text: str) -> list[str]:
    """The personal data found in ``text``, in clear or JSON-escaped (\\uXXXX)."""
    found = []
    for value in PII:
        for form in {value, json.dumps(value)[1:-1]}:
            if form in text:
                found.append(form)
    return found


PII_CONVERSATION = [
    "买的冰箱不制冷 里面的肉全坏了 订单号3920184756210384",
    "对",
    f"我的电话{PHONE} 身份证{ID_NUMBER} 地址{ADDRESS}",
    "有照片",
    "退货退款",
    "确认",
]


def test_personal_data_is_masked_in_the_logs(own: OwnStack) -> None:
    sender = PHONE  # channels' customer ids can be phone numbers too
    for message in PII_CONVERSATION:
        assert own.say(sender, message)
    status, text, _ = own.request(
        "POST",
        f"/api/conversations/{sender}/messages",
        {"agent": "alice", "text": f"已记下您的电话{PHONE}和地址{ADDRESS}"},
        token=True,
    )
    assert status == 200, text
    own.say(new_sender("pii"), f"转人工 电话{PHONE} 地址{ADDRESS} 身份证{ID_NUMBER}")
    time.sleep(1.5)
    rasa_log, actions_log = own.log("rasa.log"), own.log("actions.log")
    assert rasa_log and actions_log
    assert "138****5678" in rasa_log, "expected the masked phone number in the log (is the test looking?)"
    assert pii_in(rasa_log) == [], [line for line in rasa_log.splitlines() if pii_in(line)][:5]
    assert pii_in(actions_log) == [], [line for line in actions_log.splitlines() if pii_in(line)][:5]


def test_personal_data_is_masked_in_debug_logs(own: OwnStack, model_path: Path) -> None:
    logs = own.logs / "debug"
    logs.mkdir(exist_ok=True)
    stack = Stack()
    action_port, rasa_port = free_port(), free_port()
    env = dict(own.env, ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook", LOG_LEVEL="DEBUG")
    try:
        stack.start_actions(action_port, env, log=logs / "actions.log")
        base = stack.start_rasa(rasa_port, model_path, own.token, env, log=logs / "rasa.log")
        debug = dataclasses.replace(own, stack=stack, base=base, env=env, logs=logs, action_port=action_port)
        sender = new_sender("piidebug")
        for message in PII_CONVERSATION:
            assert debug.say(sender, message)
    finally:
        stack.stop()
    rasa_log, actions_log = debug.log("rasa.log"), debug.log("actions.log")
    assert "DEBUG" in rasa_log
    assert pii_in(rasa_log) == [], [line[:300] for line in rasa_log.splitlines() if pii_in(line)][:3]
    assert pii_in(actions_log) == []
