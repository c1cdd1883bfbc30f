"""schemathesis against docs/openapi.yaml on the real stack: no operation answers 5xx (issue 13).

The ``st`` CLI of schemathesis (its own venv ``.venv-schemathesis``, installed by
``tools/setup.sh --browser`` from ``requirements/schemathesis.txt``: its pytest 9 and rich are not
in the Rasa venv's lock) runs every operation of the spec (examples, coverage, fuzzing and
stateful phases; valid and invalid inputs) against a stack of this module's own (action server,
Rasa server, its own Redis and a copy of ``data/`` as ``TRAINER_ROOT``: the fuzzer claims,
resolves and approves cases, so it must not share the session's ``bot``), with the shared token
as ``Authorization: Bearer`` and the console name ``X-Agent-Name`` of a supervisor (the role that
sees every case). Check: ``not_a_server_error`` (any 5xx fails the test, with schemathesis's
reproduction in the message). Deterministic: fixed ``--seed`` and no example database.

Realistic identifiers (a safety case, a complaint with its ticket, a compensation waiting for
approval) are made first and offered to the generator as dictionaries for half of the
``sender_id`` / ``ticket_id`` / ``sender`` values, so the routes behind the 404s run too.

Excluded (``EXCLUDED``): ``POST /api/trainer/train``, which starts a real ``rasa train``
(minutes of both CPUs per accepted body, and one job at a time): its refusals (400/422) are
covered by tests/agent_api/test_training_routes.py. Everything else runs, including saving
trainers' examples and stories (into the copy of ``data/``, each accepted save runs ``rasa data
validate``), imports, activation, discard and rollback (no job exists, so they are refused), and
the console's event stream (read for two events).

About 7 minutes on the shared 2-CPU machine (measured: 392 s of schemathesis, 1,461 requests, plus the stack).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from bot.store import client as store_client
from bot.store.handoff import HandoffCase
from tests.conftest import trainer_workspace
from tests.support.bot import BotClient, start_bot
from tools.devstack import RedisSettings, Stack, free_port

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "openapi.yaml"
ST = ROOT / ".venv-schemathesis" / "bin" / "st"

EXCLUDED = {
    "POST /api/trainer/train": "starts a real `rasa train` (minutes of CPU per accepted body)",
}
"""Operations not fuzzed, with the reason (also in the README's Security section)."""

SUPERVISOR = "李主管"  # policy/staff.yml: a supervisor sees and may open every case
SEED = 13
MAX_EXAMPLES = 10
SAFETY = "我家孩子用你们的暖手宝，刚才外壳突然炸开把手烫出水泡了"
COMPLAINT = "我买的杯子碎了，订单号 2024112312345678"


def spec_operations() -> set[str]:
    """Every operation of docs/openapi.yaml as ``"METHOD /path"``."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return {f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method in ops}


@pytest.fixture(scope="module")
def fuzz_bot(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BotClient, RedisSettings]]:
    """A stack of its own: Redis, action server, Rasa server, trainers' workspace (limits off)."""
    folder = tmp_path_factory.mktemp("openapi-fuzz")
    stack = Stack()
    try:
        (folder / "redis").mkdir()
        redis = stack.start_redis(free_port(), folder / "redis", log=folder / "redis.log")
        root = trainer_workspace(folder / "trainer-root")
        client = start_bot(stack, model_path, redis, folder, TRAINER_ROOT=str(root))
        client.trainer_root = root
        yield client, redis
    finally:
        stack.stop()


def _pending_compensation(redis: RedisSettings, sender: str) -> str:
    """A ticket whose compensation (¥800) waits for approval, with its case in the queue; its id."""

    async def make() -> str:
        import redis.asyncio as aioredis

        conn = aioredis.Redis(host=redis.host, port=redis.port, db=redis.db, decode_responses=True)
        try:
            tickets, handoffs = store_client.ticket_store(conn), store_client.handoff_queue(conn)
            ticket, _ = await tickets.create(
                f"fuzz-{sender}",
                channel="rest",
                sender_id=sender,
                customer_id=sender,
                type="product",
                status="pending_approval",
                compensation={"amount": 800.0, "status": "pending_approval", "approved_by": None},
            )
            case = HandoffCase(
                sender_id=sender,
                channel="rest",
                customer_id=sender,
                reason="approval",
                queue="senior",
                priority="P3",
                deadline=time.time() + 3600,
                ticket_id=ticket.id,
                summary={"type": "product"},
            )
            await handoffs.enqueue(case, f"fuzz-{sender}")
            return str(ticket.id)
        finally:
            await conn.close()

    return asyncio.run(make())


def seed_identifiers(bot: BotClient, redis: RedisSettings) -> dict[str, list[str]]:
    """Conversations, tickets and cases that exist, for the generator's dictionaries."""
    tag = uuid.uuid4().hex[:8]
    safety, complaint, approval = f"fuzz-safety-{tag}", f"fuzz-cup-{tag}", f"fuzz-approval-{tag}"
    assert any("转接" in reply for reply in bot.say(safety, SAFETY))
    bot.say(complaint, COMPLAINT)
    bot.say(complaint, "我要换货")
    tickets = [_pending_compensation(redis, approval)]
    for sender in (safety, complaint):
        status, found = bot.get(f"/api/tickets?sender_id={urllib.parse.quote(sender)}")
        assert status == 200, found
        tickets += [ticket["id"] for ticket in found]
    assert len(tickets) >= 2, tickets
    return {"senders": [safety, complaint, approval], "tickets": tickets}


def write_config(folder: Path, ids: dict[str, list[str]]) -> Path:
    """schemathesis.toml: the identifiers offered for half of the generated values."""
    senders, tickets = json.dumps(ids["senders"], ensure_ascii=False), json.dumps(ids["tickets"])
    config = folder / "schemathesis.toml"
    config.write_text(
        f"""max-stream-events = 2

[dictionaries.senders]
values = {senders}

[dictionaries.tickets]
values = {tickets}

[parameters]
sender_id = {{ dictionary = "senders", probability = 0.5 }}
sender = {{ dictionary = "senders", probability = 0.5 }}
conversation = {{ dictionary = "senders", probability = 0.5 }}
ticket_id = {{ dictionary = "tickets", probability = 0.5 }}

""",
        encoding="utf-8",
    )
    return config


def run_schemathesis(bot: BotClient, folder: Path, config: Path, checks: str = "not_a_server_error") -> dict[str, Any]:
    """Runs ``st run`` on every operation but ``EXCLUDED``; returns the JSON report, the HAR
    entries (``har``) and the console output (``output``)."""
    assert ST.exists(), f"{ST} is missing: run `bash tools/setup.sh --browser` (make setup-test)"
    reports = folder / "reports"
    command = [str(ST), "--config-file", str(config), "run", str(SPEC), "--url", bot.base]
    command += ["-H", f"Authorization: Bearer {bot.token}", "-H", f"X-Agent-Name: {urllib.parse.quote(SUPERVISOR)}"]
    command += ["--checks", checks, "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED)]
    command += ["--generation-database", "none", "--generation-with-security-parameters", "false"]
    command += ["--workers", "2", "--request-timeout", "20", "--no-color"]
    command += ["--report", "json,har", "--report-dir", str(reports)]
    for name in EXCLUDED:
        command += ["--exclude-name", name]
    environment = {**os.environ, "NO_COLOR": "1", "COLUMNS": "160"}
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=900, env=environment)
    output = done.stdout + done.stderr
    (report_file,) = reports.glob("json-*.json")
    (har_file,) = reports.glob("har-*.json")
    report = json.loads(report_file.read_text(encoding="utf-8"))
    report["har"] = json.loads(har_file.read_text(encoding="utf-8"))["log"]["entries"]
    report["output"] = output
    report["returncode"] = done.returncode
    return report


def statuses_by_operation(entries: list[dict[str, Any]], operations: set[str]) -> dict[str, Counter[int]]:
    """HAR entries grouped by the spec operation they called: ``{"GET /api/...": Counter(status)}``.

    A request matching two operations (``/api/trainer/train/x`` and ``/api/trainer/train/{job_id}``)
    counts for the one with more literal segments."""
    patterns = []
    for operation in operations:
        method, path = operation.split(" ", 1)
        patterns.append((operation, method, path.strip("/").split("/")))
    found: dict[str, Counter[int]] = defaultdict(Counter)
    for entry in entries:
        method = entry["request"]["method"]
        parts = urllib.parse.urlsplit(entry["request"]["url"]).path.strip("/").split("/")
        matches = [
            (sum(not w.startswith("{") for w in want), operation)
            for operation, want_method, want in patterns
            if method == want_method
            and len(parts) == len(want)
            and all(w.startswith("{") or w == p for w, p in zip(want, parts))
        ]
        if matches:
            found[max(matches)[1]][entry["response"]["status"]] += 1
    return found


def test_schemathesis_finds_no_5xx_on_any_operation(fuzz_bot: tuple[BotClient, RedisSettings], tmp_path: Path) -> None:
    bot, redis = fuzz_bot
    ids = seed_identifiers(bot, redis)
    started = time.monotonic()
    report = run_schemathesis(bot, tmp_path, write_config(tmp_path, ids))
    elapsed = time.monotonic() - started
    output = report["output"]
    assert report["failures"] == [] and report["errors"] == [], output[-6000:]
    assert report["returncode"] == 0 and report["complete"], output[-6000:]

    operations = spec_operations()
    fuzzed = operations - set(EXCLUDED)
    assert set(EXCLUDED) <= operations, "an excluded operation is no longer in the spec"
    assert report["operations"]["selected"] == report["operations"]["tested"] == len(fuzzed), report["operations"]
    assert report["test_cases"]["generated"] >= 20 * len(fuzzed), report["test_cases"]
    statuses = statuses_by_operation(report["har"], operations)
    assert not set(statuses) & set(EXCLUDED), "an excluded operation was called"
    assert all(status < 500 for counts in statuses.values() for status in counts), dict(statuses)
    # every operation was called, and got past the token check at least once (not only 401s)
    missing = sorted(fuzzed - set(statuses))
    assert not missing, f"never called: {missing}"
    only_refused = sorted(op for op, counts in statuses.items() if set(counts) <= {401})
    assert not only_refused, f"only 401: {only_refused}"
    # the realistic identifiers reached the routes behind the 404s
    reached = {op for op, counts in statuses.items() if counts[200]}
    for operation in (
        "GET /api/console/cases/{sender_id}",
        "GET /api/tickets/{ticket_id}",
        "GET /api/conversations/{sender_id}/transcript",
        "POST /webhooks/rest/webhook",
    ):
        assert operation in reached, (operation, dict(statuses.get(operation, {})))
    print(
        f"schemathesis: {report['test_cases']['generated']} cases, {len(report['har'])} requests, "
        f"{len(fuzzed)} operations in {elapsed:.0f} s"
    )


def test_the_longest_run_of_digits_does_not_hold_the_server(fuzz_bot: tuple[BotClient, RedisSettings]) -> None:
    """Found by schemathesis's coverage phase: a 20,000-digit message (the longest allowed) held the
    Rasa server's event loop for minutes, every route waiting (the number and time patterns retried
    at every position of the run: bot/language/numbers.py ``_START``, entities.py ``_DAY``)."""
    bot, _ = fuzz_bot
    status, _replies = bot.send(f"digits-{uuid.uuid4().hex[:8]}", "0" * 20_000)
    assert status == 200
    status, replies = bot.send(f"after-{uuid.uuid4().hex[:8]}", "快递三天没到")
    assert status == 200 and replies
