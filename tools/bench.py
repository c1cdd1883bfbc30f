"""Speed benchmark: our complaint bot side by side with Rasa's starter bot (``make bench``).

Both bots run the same way: a real ``redis-server`` (tracker store *and* lock store, one
database each), ``SANIC_WORKERS`` Sanic workers, the REST channel driven over HTTP with
aiohttp. Our bot also gets its action server; the starter bot (``rasa init``, cached in
``var/bench/starter``) needs none. The bots are measured one after the other, so they never
compete for the CPU. For each bot:

1. model load: ``rasa run`` start until ``/status`` answers with a model, until every
   worker logged "Rasa server is up and running", and until the first REST reply;
2. warm-up (concurrent, so every worker has answered before anything is measured);
3. where the time goes: ``POST /model/parse`` (NLU only) against full REST turns, one
   request at a time, with the CPU time each process used per turn;
4. saturation: N conversations, each sending its next message as soon as the reply came;
5. fixed offered load: open loop at ``--rate`` turns/s, latency counted from the scheduled
   send time (no coordinated omission), never two requests in flight for one conversation;
6. long conversations: turn 1 against turn 50 (repeated, medians);
7. memory of the Rasa server process tree (main process + workers) after the load.

Writes ``reports/bench.md`` and ``reports/bench.json`` and prints the table. Exit code 0 even
when a target is missed (it is a report); non-zero only when the benchmark itself failed.

Usage: python tools/bench.py [--quick] [--duration S] [--rate R] [--workers N] [--skip-starter]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.devstack import (  # noqa: E402 - after the sys.path line above
    VENV_BIN,
    RedisSettings,
    Stack,
    base_env,
    ensure_model,
    free_port,
    http_ok,
    rasa_command,
    wait_until,
)

BENCH = ROOT / "var" / "bench"
STARTER = BENCH / "starter"
LOGS = BENCH / "logs"
REPORTS = ROOT / "reports"
REST_PATH = "/webhooks/rest/webhook"
READY_LINE = "Rasa server is up and running"

# Targets (see the README): relative to the starter bot measured in the same run.
TARGET_THROUGHPUT_FACTOR = 2.0
TARGET_P99_MS = 150.0
TARGET_LONG_RATIO = 1.2

# ---- messages -------------------------------------------------------------------------------

# Short conversations the way customers write them: greeting, complaint of each type,
# confirmation, order number, thanks. A new sender id for each conversation.
OUR_CONVERSATIONS: list[list[str]] = [
    ["你好", "收到的电饭煲煮饭夹生 这才用了两次", "对", "订单号 4812345678901", "谢谢"],
    ["快递三天没动了 到底什么时候能到", "对的", "订单号是5120394857612", "好的谢谢"],
    [
        "在吗",
        "客服半天不回消息 问了三遍都没人理",
        "是的",
        "订单号 4812345678902",
        "谢谢你",
    ],
    ["买的面膜用了脸上过敏起红疹", "对", "订单号 3920184756210384", "多久能处理好"],
    [
        "顺丰显示已签收但是我根本没收到",
        "不是 是快递员把东西扔在门口就走了",
        "订单号 4812345678903",
        "谢谢",
    ],
    ["衣服洗一次就掉色了 质量太差", "嗯", "订单号 4812345678904", "好的 再见"],
    ["退款申请了一周还没到账 客服也不给说法", "对", "订单号 4812345678905", "谢谢"],
]
# One long conversation repeats this cycle. Its length is 7, so turn 1 and turn 50 carry the
# same message, and turns 1-7 and 50-56 the same mix of messages.
OUR_LONG_CYCLE: list[str] = [
    "你好",
    "快递三天没动了 到底什么时候能到",
    "对",
    "订单号 4812345678901",
    "还有 收到的杯子也是碎的",
    "是的",
    "谢谢",
]

STARTER_CONVERSATIONS: list[list[str]] = [
    ["hi", "I am feeling very sad", "yes", "bye"],
    ["hello there", "I am great", "goodbye"],
    ["hey", "not good", "no", "see you later"],
    ["good morning", "I am happy", "are you a bot?"],
    ["hey there", "unhappy", "of course", "bye"],
    ["hello", "my day was horrible", "yes", "good night"],
]
STARTER_LONG_CYCLE: list[str] = [
    "hi",
    "I am sad",
    "yes",
    "I am great",
    "are you a bot?",
    "no",
    "bye",
]

LONG_TURNS = 60
IDLE_PROBE_S = 3.0  # how long to watch the idle machine for other people's jobs
BUSY_MACHINE_CORES = 0.2  # warn above this many cores used by other processes
EARLY_WINDOW = (1, 7)  # inclusive, 1-based turn numbers
LATE_WINDOW = (50, 56)


# ---- pure helpers (unit-tested in tests/bench/test_bench_helpers.py) ------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between ranks (numpy's default).

    Raises:
        ValueError: for an empty sequence or ``q`` outside 0-100.
    """
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} outside 0-100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    """The median (50th percentile)."""
    return percentile(values, 50)


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int | None]:
    """n, p50/p95/p99/max and mean in milliseconds (None when there are no samples)."""
    if not seconds:
        return {
            "n": 0,
            "p50_ms": None,
            "p95_ms": None,
            "p99_ms": None,
            "max_ms": None,
            "mean_ms": None,
        }
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
        "mean_ms": round(sum(ms) / len(ms), 1),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` rounded to 2 places, None when undefined."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)


def window(latencies: Sequence[Sequence[float]], first: int, last: int) -> list[float]:
    """All latencies of turns ``first``-``last`` (1-based, inclusive) over every conversation."""
    return [
        turns[i - 1]
        for turns in latencies
        for i in range(first, last + 1)
        if i <= len(turns)
    ]


def turn_median(latencies: Sequence[Sequence[float]], turn: int) -> float | None:
    """Median latency of one turn (1-based) over every conversation that reached it."""
    values = [turns[turn - 1] for turns in latencies if turn <= len(turns)]
    return median(values) if values else None


def schedule(rate: float, duration: float) -> list[float]:
    """Send offsets (seconds from the start) of an open-loop run: ``rate`` per second."""
    if rate <= 0 or duration <= 0:
        return []
    return [k / rate for k in range(round(rate * duration))]


def verdict(met: bool | None, noisy: bool = False) -> str:
    """The "met?" column; "(noisy)" when other processes used the CPU meanwhile."""
    if met is None:
        return "n/a"
    return ("yes" if met else "**no**") + (" (noisy)" if noisy else "")


def noisy(*results: dict[str, Any] | None, phase: str) -> bool:
    """True when other processes kept more than BUSY_MACHINE_CORES busy during ``phase``."""
    return any(
        (_get(result, phase, "cores_busy", OTHER) or 0.0) > BUSY_MACHINE_CORES
        for result in results
        if result
    )


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: floats rounded to ``digits``, None as "—"."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def count_ready_lines(text: str) -> int:
    """How many Sanic workers logged that the Rasa server is up."""
    return text.count(READY_LINE)


def parse_proc_stat(line: str) -> tuple[int, int, int]:
    """``(ppid, utime, stime)`` in clock ticks from a ``/proc/<pid>/stat`` line.

    The command name (field 2) may contain spaces and parentheses, so fields are counted from
    the last ")".
    """
    rest = line[line.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state): ppid is field 4, utime field 14, stime field 15.
    return int(rest[1]), int(rest[11]), int(rest[12])


def descendants_of(root: int, parents: dict[int, int]) -> list[int]:
    """``root`` and every process below it, given a pid -> ppid map."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(sorted(children.get(pid, [])))
    return found


# ---- processes: CPU time and memory from /proc --------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MACHINE = "machine"
OTHER = "other processes"


def _proc_stats() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, utime, stime) for every process we can read."""
    stats: dict[int, tuple[int, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = parse_proc_stat((entry / "stat").read_text())
            except (OSError, ValueError, IndexError):
                continue
    return stats


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (e.g. the Rasa main process and its Sanic workers)."""
    stats = _proc_stats()
    if pid not in stats:
        return []
    return descendants_of(pid, {p: s[0] for p, s in stats.items()})


def cpu_seconds_by_process(pid: int) -> dict[int, float]:
    """CPU time (seconds) used so far by each process of the tree below ``pid``."""
    stats = _proc_stats()
    if pid not in stats:
        return {}
    pids = descendants_of(pid, {p: s[0] for p, s in stats.items()})
    return {p: (stats[p][1] + stats[p][2]) / CLOCK_TICKS for p in pids if p in stats}


def cpu_seconds(groups: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system, seconds) used so far by each named process tree."""
    stats = _proc_stats()
    parents = {p: s[0] for p, s in stats.items()}
    totals: dict[str, float] = {}
    for name, pid in groups.items():
        pids = descendants_of(pid, parents) if pid in stats else []
        totals[name] = (
            sum(stats[p][1] + stats[p][2] for p in pids if p in stats) / CLOCK_TICKS
        )
    totals["bench client"] = time.process_time()
    totals[MACHINE] = machine_busy_seconds()
    return totals


def machine_busy_seconds() -> float:
    """CPU time all processes on the machine used so far (every CPU, idle and I/O wait excluded)."""
    fields = [
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    ]
    return (sum(fields) - fields[3] - fields[4]) / CLOCK_TICKS


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds used between two :func:`cpu_seconds` snapshots.

    The machine-wide total is replaced by "other processes": what the machine used beyond
    the bot, Redis and the benchmark client (other people's jobs on a shared machine).
    """
    used = {name: after[name] - before.get(name, 0.0) for name in after}
    machine = used.pop(MACHINE, None)
    if machine is not None:
        used[OTHER] = max(0.0, machine - sum(used.values()))
    return {name: round(value, 3) for name, value in used.items()}


def _kib_field(path: Path, key: str) -> int:
    """A "Key:   123 kB" value from a /proc file (0 if missing)."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def tree_memory(pid: int) -> dict[str, Any]:
    """RSS (summed, counts pages shared after fork once per process) and PSS of a process tree."""
    pids = process_tree(pid)
    rss = {p: _kib_field(Path(f"/proc/{p}/status"), "VmRSS") for p in pids}
    pss = {p: _kib_field(Path(f"/proc/{p}/smaps_rollup"), "Pss") for p in pids}
    return {
        "processes": len(pids),
        "rss_mb": round(sum(rss.values()) / 1024, 1),
        "pss_mb": round(sum(pss.values()) / 1024, 1) if any(pss.values()) else None,
        "rss_mb_per_process": {str(p): round(v / 1024, 1) for p, v in rss.items()},
    }


# ---- the bots -----------------------------------------------------------------------------


@dataclass
class Bot:
    """A running bot and what to say to it."""

    key: str
    title: str
    base: str
    token: str
    model: Path
    conversations: list[list[str]]
    long_cycle: list[str]
    cpu_groups: dict[str, int]
    rasa_pid: int
    log: Path
    redis: RedisSettings
    started_at: float
    ready_at: float
    status: dict[str, Any] = field(default_factory=dict)


def ensure_starter() -> Path:
    """Rasa's starter bot (``rasa init``), created and trained once; returns its model."""
    models = sorted((STARTER / "models").glob("*.tar.gz"))
    if models:
        print(f"==> reusing starter bot {models[-1].relative_to(ROOT)}", flush=True)
        return models[-1]
    print(
        "==> creating Rasa's starter bot with `rasa init` (trains a model, about 2 minutes)",
        flush=True,
    )
    STARTER.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / "starter-init.log", "wb") as log:
        subprocess.run(
            [str(VENV_BIN / "rasa"), "init", "--no-prompt", "--init-dir", str(STARTER)],
            cwd=BENCH,
            env=base_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    models = sorted((STARTER / "models").glob("*.tar.gz"))
    if not models:
        raise RuntimeError(
            f"`rasa init` produced no model; see {LOGS / 'starter-init.log'}"
        )
    return models[-1]


def write_starter_endpoints(redis: RedisSettings, db: int) -> Path:
    """endpoints.yml for the starter bot: the same Redis as ours, its own database and keys.

    Rasa ignores a key prefix that is not alphanumeric (it falls back to "tracker"/"lock"),
    hence "startertracker" rather than "starter_tracker".
    """
    path = STARTER / "endpoints.yml"
    common = f'  url: "{redis.host}"\n  port: {redis.port}\n  db: {db}\n' + (
        f'  password: "{redis.password}"\n' if redis.password else ""
    )
    path.write_text(
        "# Written by tools/bench.py: Redis tracker and lock store, like our bot.\n"
        f'tracker_store:\n  type: redis\n{common}  key_prefix: "startertracker"\n  use_ssl: false\n\n'
        f'lock_store:\n  type: redis\n{common}  key_prefix: "starterlock"\n',
        encoding="utf-8",
    )
    return path


def starter_credentials() -> Path:
    """The starter bot's credentials.yml (checked to enable the REST channel)."""
    path = STARTER / "credentials.yml"
    text = path.read_text(encoding="utf-8")
    if not any(line.strip() == "rest:" for line in text.splitlines()):
        raise RuntimeError(f"{path} does not enable the REST channel (`rest:`)")
    return path


def fetch_json(url: str, timeout: float = 5) -> Any:
    """GET a URL and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


def start_starter_rasa(
    stack: Stack, port: int, model: Path, token: str, env: dict[str, str], log: Path
) -> str:
    """``rasa run`` for the starter bot, with the same flags as ``Stack.start_rasa``."""
    process = stack.start(
        "rasa-starter",
        rasa_command(model, port, token, starter_credentials(), STARTER / "endpoints.yml"),
        env=env,
        log=log,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: http_ok(f"{base}/status?token={token}"),
        300,
        "starter Rasa server",
        process,
    )
    return base


def pid_of(stack: Stack, name: str) -> int:
    """The pid of a process started on ``stack``."""
    return next(process.pid for n, process in stack.processes if n == name)


def wait_for_workers(
    log: Path, workers: int, started: float, timeout: float = 180
) -> float | None:
    """Seconds from ``started`` until ``workers`` workers logged READY_LINE (None on timeout)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if (
            count_ready_lines(log.read_text(encoding="utf-8", errors="replace"))
            >= workers
        ):
            return time.perf_counter() - started
        time.sleep(0.05)
    return None


def start_our_bot(stack: Stack, redis: RedisSettings, model: Path, workers: int) -> Bot:
    """Action server + Rasa server of our bot (``Stack.start_rasa``, as ``make run`` does)."""
    token = secrets.token_urlsafe(16)
    action_port, rasa_port = free_port(), free_port()
    env = base_env(
        **redis.env(),
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        BOT_API_TOKEN=token,
        SANIC_WORKERS=str(workers),
    )
    stack.start_actions(action_port, env, log=_fresh_log("ours-actions.log"))
    log = _fresh_log("ours-rasa.log")
    started = time.perf_counter()
    base = stack.start_rasa(rasa_port, model, token, env, log=log)
    ready = time.perf_counter()
    return Bot(
        key="ours",
        title="our bot",
        base=base,
        token=token,
        model=model,
        conversations=OUR_CONVERSATIONS,
        long_cycle=OUR_LONG_CYCLE,
        cpu_groups={"rasa": pid_of(stack, "rasa"), "actions": pid_of(stack, "actions")},
        rasa_pid=pid_of(stack, "rasa"),
        log=log,
        redis=redis,
        started_at=started,
        ready_at=ready,
    )


def start_starter_bot(
    stack: Stack, redis: RedisSettings, model: Path, workers: int, db: int
) -> Bot:
    """Rasa server of the starter bot on the same Redis (another database), no action server."""
    write_starter_endpoints(redis, db)
    token = secrets.token_urlsafe(16)
    env = base_env(SANIC_WORKERS=str(workers))
    log = _fresh_log("starter-rasa.log")
    started = time.perf_counter()
    base = start_starter_rasa(stack, free_port(), model, token, env, log)
    ready = time.perf_counter()
    return Bot(
        key="starter",
        title="starter bot",
        base=base,
        token=token,
        model=model,
        conversations=STARTER_CONVERSATIONS,
        long_cycle=STARTER_LONG_CYCLE,
        cpu_groups={"rasa": pid_of(stack, "rasa-starter")},
        rasa_pid=pid_of(stack, "rasa-starter"),
        log=log,
        redis=RedisSettings(redis.host, redis.port, db, redis.password),
        started_at=started,
        ready_at=ready,
    )


def _fresh_log(name: str) -> Path:
    """An empty log file under var/bench/logs (Stack appends, the ready-line count must not)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    path = LOGS / name
    path.write_bytes(b"")
    return path


# ---- HTTP load ----------------------------------------------------------------------------


@dataclass
class Sample:
    """One request: how long it took and whether it succeeded."""

    latency: float
    ok: bool
    done: float
    error: str = ""
    replies: int = 0


@dataclass
class Conversation:
    """A customer: a sender id working through one script after another."""

    prefix: str
    scripts: list[list[str]]
    index: int = 0
    generation: int = 0
    turn: int = 0

    @property
    def sender(self) -> str:
        """The sender id of the current conversation."""
        return f"{self.prefix}-{self.generation}"

    def next_message(self) -> tuple[str, str]:
        """``(sender, message)`` of the next turn; a finished script starts a new conversation."""
        script = self.scripts[(self.index + self.generation) % len(self.scripts)]
        if self.turn >= len(script):
            self.generation += 1
            self.turn = 0
            script = self.scripts[(self.index + self.generation) % len(self.scripts)]
        message = script[self.turn]
        self.turn += 1
        return self.sender, message


class Client:
    """REST channel and HTTP API calls to one bot over a shared aiohttp session."""

    def __init__(self, session: Any, bot: Bot) -> None:
        self.session = session
        self.bot = bot

    async def turn(
        self, sender: str, message: str, started: float | None = None
    ) -> Sample:
        """One REST turn; latency from ``started`` (the scheduled time) if given."""
        return await self._post(
            f"{self.bot.base}{REST_PATH}",
            {"sender": sender, "message": message},
            started,
        )

    async def parse(self, text: str) -> Sample:
        """``POST /model/parse``: the NLU pipeline only, no tracker, no policies, no actions."""
        return await self._post(
            f"{self.bot.base}/model/parse?token={self.bot.token}", {"text": text}, None
        )

    async def _post(
        self, url: str, body: dict[str, str], started: float | None
    ) -> Sample:
        import aiohttp

        start = time.perf_counter() if started is None else started
        try:
            async with self.session.post(url, json=body) as response:
                payload = await response.read()
                done = time.perf_counter()
                if response.status != 200:
                    return Sample(done - start, False, done, f"HTTP {response.status}")
                decoded = json.loads(payload)
                return Sample(
                    done - start,
                    True,
                    done,
                    replies=len(decoded) if isinstance(decoded, list) else 1,
                )
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            done = time.perf_counter()
            return Sample(done - start, False, done, type(error).__name__)


def error_counts(samples: Iterable[Sample]) -> dict[str, int]:
    """Failed requests by kind."""
    return dict(Counter(s.error for s in samples if not s.ok))


async def closed_loop(
    client: Client,
    prefix: str,
    concurrency: int,
    warmup: float,
    duration: float,
    cpu_groups: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Saturation: ``concurrency`` conversations send back to back for ``warmup + duration`` s.

    Throughput and latency come from the turns that finished inside the last ``duration`` s.
    """
    start = time.perf_counter() + warmup
    end = start + duration
    samples: list[Sample] = []
    cpu: dict[str, dict[str, float]] = {}
    workers: dict[str, dict[int, float]] = {}

    async def customer(i: int) -> None:
        conversation = Conversation(f"{prefix}-c{i}", client.bot.conversations, index=i)
        while time.perf_counter() < end:
            sample = await client.turn(*conversation.next_message())
            if start <= sample.done <= end:
                samples.append(sample)

    async def snapshot() -> None:
        if cpu_groups is None:
            return
        await asyncio.sleep(max(0.0, start - time.perf_counter()))
        cpu["before"] = cpu_seconds(cpu_groups)
        workers["before"] = cpu_seconds_by_process(cpu_groups["rasa"])
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        cpu["after"] = cpu_seconds(cpu_groups)
        workers["after"] = cpu_seconds_by_process(cpu_groups["rasa"])

    await asyncio.gather(snapshot(), *(customer(i) for i in range(concurrency)))
    ok = [s for s in samples if s.ok]
    result: dict[str, Any] = {
        "concurrency": concurrency,
        "duration_s": duration,
        "turns": len(samples),
        "turns_per_s": round(len(ok) / duration, 1),
        "errors": len(samples) - len(ok),
        "error_kinds": error_counts(samples),
        "latency": latency_summary([s.latency for s in ok]),
    }
    if cpu:
        used = cpu_delta(cpu["before"], cpu["after"])
        result["cores_busy"] = {
            name: round(sec / duration, 2) for name, sec in used.items()
        }
        # Per Rasa process (main + each Sanic worker): shows whether the load is spread.
        result["rasa_cores_busy_by_process"] = {
            str(pid): round((sec - workers["before"].get(pid, 0.0)) / duration, 2)
            for pid, sec in workers["after"].items()
        }
    return result


async def open_loop(
    client: Client, prefix: str, rate: float, duration: float, senders: int
) -> dict[str, Any]:
    """Fixed offered load: a request every 1/rate s, whatever the replies; latency from the schedule.

    Each request goes to the next idle conversation (round robin over ``senders``); when all
    are busy, a new one is opened, so one conversation never has two requests in flight.
    """
    idle: deque[Conversation] = deque(
        Conversation(f"{prefix}-o{i}", client.bot.conversations, index=i)
        for i in range(senders)
    )
    extra = 0
    samples: list[Sample] = []
    send_lag: list[float] = []
    in_flight: set[asyncio.Task[None]] = set()

    async def one(conversation: Conversation, scheduled: float) -> None:
        send_lag.append(time.perf_counter() - scheduled)
        samples.append(
            await client.turn(*conversation.next_message(), started=scheduled)
        )
        idle.append(conversation)

    start = time.perf_counter() + 0.2
    offsets = schedule(rate, duration)
    for offset in offsets:
        scheduled = start + offset
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        if idle:
            conversation = idle.popleft()
        else:
            extra += 1
            conversation = Conversation(
                f"{prefix}-x{extra}", client.bot.conversations, index=extra
            )
        task = asyncio.create_task(one(conversation, scheduled))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.gather(*in_flight)
    elapsed = max(s.done for s in samples) - start if samples else duration
    ok = [s for s in samples if s.ok]
    return {
        "offered_rate": rate,
        "duration_s": duration,
        "requests": len(samples),
        "achieved_rate": round(len(ok) / elapsed, 1) if elapsed > 0 else None,
        "errors": len(samples) - len(ok),
        "error_kinds": error_counts(samples),
        "latency": latency_summary([s.latency for s in samples]),
        "max_client_send_lag_ms": round(max(send_lag) * 1000, 1) if send_lag else None,
        "conversations_opened_because_all_busy": extra,
    }


async def long_conversations(
    client: Client, prefix: str, repetitions: int
) -> dict[str, Any]:
    """``repetitions`` conversations of LONG_TURNS turns, one request at a time.

    Besides the latency of every turn, records the Rasa server's CPU time per turn and the
    size of the conversation in Redis at the end, to show where a long conversation's extra
    time goes.
    """
    latencies: list[list[float]] = []
    rasa_cpu: list[list[float]] = []
    errors = 0
    sender = ""
    for rep in range(repetitions):
        sender = f"{prefix}-long{rep}"
        turns: list[float] = []
        cpu: list[float] = []
        for turn in range(LONG_TURNS):
            before = cpu_seconds(client.bot.cpu_groups)
            sample = await client.turn(
                sender, client.bot.long_cycle[turn % len(client.bot.long_cycle)]
            )
            cpu.append(cpu_delta(before, cpu_seconds(client.bot.cpu_groups))["rasa"])
            errors += not sample.ok
            turns.append(sample.latency)
        latencies.append(turns)
        rasa_cpu.append(cpu)
    early_ms = _median_ms(window(latencies, *EARLY_WINDOW))
    late_ms = _median_ms(window(latencies, *LATE_WINDOW))
    # /proc counts CPU time in clock ticks (10 ms): a mean over many turns, not a median.
    early_cpu_ms = _mean_ms(window(rasa_cpu, *EARLY_WINDOW))
    late_cpu_ms = _mean_ms(window(rasa_cpu, *LATE_WINDOW))
    turn1 = turn_median(latencies, 1)
    turn50 = turn_median(latencies, 50)
    return {
        "repetitions": repetitions,
        "turns": LONG_TURNS,
        "errors": errors,
        "turn1_ms": round(turn1 * 1000, 1) if turn1 is not None else None,
        "turn50_ms": round(turn50 * 1000, 1) if turn50 is not None else None,
        "turn50_over_turn1": ratio(turn50, turn1),
        "early_window": list(EARLY_WINDOW),
        "late_window": list(LATE_WINDOW),
        "early_median_ms": early_ms,
        "late_median_ms": late_ms,
        "late_over_early": ratio(late_ms, early_ms),
        "rasa_cpu_early_mean_ms": early_cpu_ms,
        "rasa_cpu_late_mean_ms": late_cpu_ms,
        "tracker_bytes_at_end": tracker_bytes(client.bot, sender) if sender else None,
        "per_turn_median_ms": [
            round(m * 1000, 1)
            for m in (turn_median(latencies, t) for t in range(1, LONG_TURNS + 1))
            if m is not None
        ],
    }


def _median_ms(seconds: Sequence[float]) -> float | None:
    """Median in milliseconds, rounded; None without samples."""
    return round(median(seconds) * 1000, 1) if seconds else None


def _mean_ms(seconds: Sequence[float]) -> float | None:
    """Mean in milliseconds, rounded; None without samples."""
    return round(sum(seconds) / len(seconds) * 1000, 1) if seconds else None


def tracker_bytes(bot: Bot, sender: str) -> int | None:
    """Size of the conversation ``sender`` as stored by the Redis tracker store."""
    import redis

    client = redis.Redis(
        host=bot.redis.host,
        port=bot.redis.port,
        db=bot.redis.db,
        password=bot.redis.password or None,
    )
    sizes = []
    for key in client.scan_iter(match=f"*tracker*{sender}"):
        kind = client.type(key)
        if kind == b"string":  # Rasa's RedisTrackerStore: one JSON document
            sizes.append(int(client.strlen(key)))
        elif kind == b"list":  # ours: one JSON document per event
            sizes.append(sum(len(e) for e in client.lrange(key, 0, -1)))
    return max(sizes, default=None)


async def nlu_versus_full(client: Client, prefix: str, rounds: int) -> dict[str, Any]:
    """Sequential: every message through ``/model/parse``, then through full REST turns.

    The CPU time of each process is taken around the full turns only, so it shows which
    process spends the time of a turn.
    """
    messages = [m for script in client.bot.conversations for m in script]
    parse = [await client.parse(m) for _ in range(rounds) for m in messages]
    before = cpu_seconds(client.bot.cpu_groups)
    turns: list[Sample] = []
    for r in range(rounds):
        for i, script in enumerate(client.bot.conversations):
            for message in script:
                turns.append(await client.turn(f"{prefix}-seq{r}-{i}", message))
    used = cpu_delta(before, cpu_seconds(client.bot.cpu_groups))
    parse_ms = median([s.latency for s in parse if s.ok]) * 1000
    turn_ms = median([s.latency for s in turns if s.ok]) * 1000
    return {
        "requests_each": len(turns),
        "errors": sum(not s.ok for s in parse + turns),
        "parse": latency_summary([s.latency for s in parse if s.ok]),
        "turn": latency_summary([s.latency for s in turns if s.ok]),
        "nlu_share_of_turn": ratio(parse_ms, turn_ms),
        "cpu_ms_per_turn": {
            name: round(sec * 1000 / len(turns), 1) for name, sec in used.items()
        },
        "empty_replies": sum(s.ok and s.replies == 0 for s in turns),
    }


async def with_cpu(bot: Bot, phase: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Runs a phase and adds ``cores_busy``: CPU cores each process kept busy meanwhile."""
    before, started = cpu_seconds(bot.cpu_groups), time.perf_counter()
    result = await phase
    elapsed = time.perf_counter() - started
    used = cpu_delta(before, cpu_seconds(bot.cpu_groups))
    result["cores_busy"] = {name: round(sec / elapsed, 2) for name, sec in used.items()}
    return result


async def wait_for_quiet(bot: Bot, budget: float) -> float | None:
    """Cores other processes keep busy while the bot is idle, probed for IDLE_PROBE_S.

    With a ``budget`` (seconds), probes again until the machine is quiet or the budget is
    spent: on a shared machine that keeps other people's jobs out of the measurements.
    """
    deadline = time.perf_counter() + budget
    while True:
        probe = await with_cpu(bot, asyncio.sleep(IDLE_PROBE_S, result={}))
        busy = probe["cores_busy"].get(OTHER)
        if (busy or 0) <= BUSY_MACHINE_CORES or time.perf_counter() >= deadline:
            return busy
        print(f"    waiting: other processes keep {busy:.1f} cores busy", flush=True)


async def measure(bot: Bot, options: argparse.Namespace, run_id: str) -> dict[str, Any]:
    """All HTTP measurements of one running bot."""
    import aiohttp

    prefix = f"bench-{run_id}-{bot.key}"
    timeout = aiohttp.ClientTimeout(total=60)
    # One connection per request by default: Sanic workers share the listening socket, and
    # a keep-alive connection stays with the worker that accepted it, so a client that opens
    # its connections at once can end up with all of them on one worker.
    connector = aiohttp.TCPConnector(
        limit=max(256, options.senders + options.concurrency),
        force_close=not options.keepalive,
    )
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        client = Client(session, bot)
        first_sent = time.perf_counter()
        first = await client.turn(f"{prefix}-first", bot.conversations[0][0])
        if not first.ok:
            raise RuntimeError(
                f"{bot.title}: first REST turn failed ({first.error}); see {bot.log}"
            )
        load = {
            "to_status_s": round(bot.ready_at - bot.started_at, 2),
            "first_reply_since_start_s": round(first.done - bot.started_at, 2),
            "first_reply_latency_ms": round((first.done - first_sent) * 1000, 1),
        }
        all_up = await asyncio.to_thread(
            wait_for_workers, bot.log, options.workers, bot.started_at, 60
        )
        load["all_workers_up_s"] = round(all_up, 2) if all_up is not None else None
        load["workers_up"] = count_ready_lines(
            bot.log.read_text(encoding="utf-8", errors="replace")
        )

        print(
            f"    warm-up ({options.warmup:.0f} s, {options.concurrency} conversations)",
            flush=True,
        )
        await closed_loop(
            client, f"{prefix}-warm", options.concurrency, 0, options.warmup
        )
        load["background_cores_busy"] = await wait_for_quiet(bot, options.wait_quiet)
        if (load["background_cores_busy"] or 0) > BUSY_MACHINE_CORES:
            print(
                f"    warning: other processes keep {load['background_cores_busy']:.1f} cores "
                "busy; the figures will be pessimistic",
                flush=True,
            )
        print("    NLU only vs full turn (sequential)", flush=True)
        breakdown = await nlu_versus_full(client, prefix, options.rounds)
        print(
            f"    saturation ({options.duration:.0f} s, {options.concurrency} conversations)",
            flush=True,
        )
        saturation = await closed_loop(
            client,
            f"{prefix}-sat",
            options.concurrency,
            min(2.0, options.warmup),
            options.duration,
            bot.cpu_groups,
        )
        print(
            f"    open loop ({options.latency_duration:.0f} s at {options.rate:g} turns/s)",
            flush=True,
        )
        fixed = await with_cpu(
            bot,
            open_loop(
                client,
                f"{prefix}-ol",
                options.rate,
                options.latency_duration,
                options.senders,
            ),
        )
        print(
            f"    long conversations ({options.reps} x {LONG_TURNS} turns)", flush=True
        )
        long = await with_cpu(bot, long_conversations(client, prefix, options.reps))
    return {
        "load": load,
        "breakdown": breakdown,
        "saturation": saturation,
        "fixed_rate": fixed,
        "long": long,
    }


def bench_bot(bot: Bot, options: argparse.Namespace, run_id: str) -> dict[str, Any]:
    """Measures a started bot; memory is read after the load tests."""
    bot.status = fetch_json(f"{bot.base}/status?token={bot.token}")
    if not bot.status.get("model_file"):
        raise RuntimeError(f"{bot.title}: /status shows no model: {bot.status}")
    result = asyncio.run(measure(bot, options, run_id))
    result["memory"] = tree_memory(bot.rasa_pid)
    if "actions" in bot.cpu_groups:
        result["action_server_memory"] = tree_memory(bot.cpu_groups["actions"])
    result["model"] = bot.model.name
    result["status_model_file"] = Path(str(bot.status.get("model_file"))).name
    result["log"] = str(bot.log.relative_to(ROOT))
    return result


# ---- report -------------------------------------------------------------------------------


def _get(result: dict[str, Any] | None, *path: str) -> Any:
    """A nested value, None when the bot or the value is missing."""
    value: Any = result
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def targets(
    ours: dict[str, Any], starter: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The three targets with the measured values and whether each was met."""
    ours_tps = _get(ours, "saturation", "turns_per_s")
    starter_tps = _get(starter, "saturation", "turns_per_s")
    p99 = _get(ours, "fixed_rate", "latency", "p99_ms")
    long_ratio = _get(ours, "long", "late_over_early")
    return [
        {
            "name": "saturation throughput >= 2x starter",
            "value": ratio(ours_tps, starter_tps),
            "met": None
            if starter_tps is None
            else ours_tps >= TARGET_THROUGHPUT_FACTOR * starter_tps,
            "noisy": noisy(ours, starter, phase="saturation"),
        },
        {
            "name": f"p99 <= {TARGET_P99_MS:.0f} ms at the fixed rate",
            "value": p99,
            "met": None if p99 is None else p99 <= TARGET_P99_MS,
            "noisy": noisy(ours, phase="fixed_rate"),
        },
        {
            "name": f"turn ~50 / turn ~1 <= {TARGET_LONG_RATIO}",
            "value": long_ratio,
            "met": None if long_ratio is None else long_ratio <= TARGET_LONG_RATIO,
            "noisy": noisy(ours, phase="long"),
        },
    ]


def table_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(metric, our bot, starter bot, target, met?) rows of the main table."""
    ours, starter = report["bots"]["ours"], report["bots"].get("starter")
    config = report["config"]
    met = [verdict(t["met"], t.get("noisy", False)) for t in report["targets"]]
    starter_tps = _get(starter, "saturation", "turns_per_s")
    rate = f"fixed load {config['rate']:g} turns/s"
    early = f"turns {EARLY_WINDOW[0]}-{EARLY_WINDOW[1]}"
    late = f"turns {LATE_WINDOW[0]}-{LATE_WINDOW[1]}"
    twice = fmt(TARGET_THROUGHPUT_FACTOR * starter_tps) if starter_tps else "—"
    # Rows with a target: (label, path, digits, target, met?).
    targeted: dict[str, tuple[str, str]] = {
        "saturation throughput": (f"≥ 2× starter ({twice})", met[0]),
        "saturation errors": ("0", verdict(_zero(ours, starter, "saturation"))),
        "p99": (f"ours ≤ {TARGET_P99_MS:.0f}", met[1]),
        "fixed errors": ("0", verdict(_zero(ours, starter, "fixed_rate"))),
        "late/early": (f"ours ≤ {TARGET_LONG_RATIO}", met[2]),
    }
    spec: list[tuple[str, tuple[str, ...], int, str]] = [
        (
            f"saturation throughput, {config['concurrency']} conversations back to back (turns/s)",
            ("saturation", "turns_per_s"),
            1,
            "saturation throughput",
        ),
        ("saturation: errors", ("saturation", "errors"), 0, "saturation errors"),
        ("saturation: median latency (ms)", ("saturation", "latency", "p50_ms"), 1, ""),
        (f"{rate}: achieved turns/s", ("fixed_rate", "achieved_rate"), 1, ""),
        (f"{rate}: p50 latency (ms)", ("fixed_rate", "latency", "p50_ms"), 1, ""),
        (f"{rate}: p95 latency (ms)", ("fixed_rate", "latency", "p95_ms"), 1, ""),
        (f"{rate}: p99 latency (ms)", ("fixed_rate", "latency", "p99_ms"), 1, "p99"),
        (f"{rate}: max latency (ms)", ("fixed_rate", "latency", "max_ms"), 1, ""),
        (f"{rate}: errors", ("fixed_rate", "errors"), 0, "fixed errors"),
        ("long conversation: turn 1, median (ms)", ("long", "turn1_ms"), 1, ""),
        ("long conversation: turn 50, median (ms)", ("long", "turn50_ms"), 1, ""),
        ("long conversation: turn 50 / turn 1", ("long", "turn50_over_turn1"), 2, ""),
        (
            f"long conversation: {early}, median (ms)",
            ("long", "early_median_ms"),
            1,
            "",
        ),
        (f"long conversation: {late}, median (ms)", ("long", "late_median_ms"), 1, ""),
        (
            f"long conversation: {late} / {early} median",
            ("long", "late_over_early"),
            2,
            "late/early",
        ),
        (
            f"long conversation: Rasa CPU per turn, {early}, mean (ms)",
            ("long", "rasa_cpu_early_mean_ms"),
            1,
            "",
        ),
        (
            f"long conversation: Rasa CPU per turn, {late}, mean (ms)",
            ("long", "rasa_cpu_late_mean_ms"),
            1,
            "",
        ),
        (
            f"long conversation: tracker in Redis after {LONG_TURNS} turns (bytes)",
            ("long", "tracker_bytes_at_end"),
            0,
            "",
        ),
        ("model load: start → /status with model (s)", ("load", "to_status_s"), 2, ""),
        (
            f"model load: start → all {config['sanic_workers']} workers up (s)",
            ("load", "all_workers_up_s"),
            2,
            "",
        ),
        (
            "model load: start → first reply (s)",
            ("load", "first_reply_since_start_s"),
            2,
            "",
        ),
        ("first reply latency (ms)", ("load", "first_reply_latency_ms"), 1, ""),
        (
            "Rasa server memory after load, RSS summed over processes (MB)",
            ("memory", "rss_mb"),
            0,
            "",
        ),
        ("Rasa server memory after load, PSS (MB)", ("memory", "pss_mb"), 0, ""),
        ("Rasa server processes (main + workers)", ("memory", "processes"), 0, ""),
        (
            "idle: NLU only, POST /model/parse, median (ms)",
            ("breakdown", "parse", "p50_ms"),
            1,
            "",
        ),
        ("idle: full REST turn, median (ms)", ("breakdown", "turn", "p50_ms"), 1, ""),
        ("idle: NLU share of a turn", ("breakdown", "nlu_share_of_turn"), 2, ""),
        (
            "noise: other processes' CPU, bot idle (cores)",
            ("load", "background_cores_busy"),
            2,
            "",
        ),
        (
            "noise: other processes' CPU, saturation (cores)",
            ("saturation", "cores_busy", OTHER),
            2,
            "",
        ),
        (
            f"noise: other processes' CPU, {rate} (cores)",
            ("fixed_rate", "cores_busy", OTHER),
            2,
            "",
        ),
        (
            "noise: other processes' CPU, long conversations (cores)",
            ("long", "cores_busy", OTHER),
            2,
            "",
        ),
    ]
    rows = []
    for label, path, digits, key in spec:
        target, ok = targeted.get(key, ("", ""))
        theirs = fmt(_get(starter, *path), digits=digits) if starter else "skipped"
        rows.append((label, fmt(_get(ours, *path), digits=digits), theirs, target, ok))
    return rows


def _zero(ours: dict[str, Any], starter: dict[str, Any] | None, phase: str) -> bool:
    """True when no request of the phase failed for either bot."""
    return all(not _get(bot, phase, "errors") for bot in (ours, starter) if bot)


def render_table(rows: list[tuple[str, str, str, str, str]]) -> str:
    """A markdown table."""
    lines = [
        "| metric | our bot | starter bot | target | met? |",
        "|---|---:|---:|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_cpu(report: dict[str, Any]) -> str:
    """Where the time goes: CPU per turn and busy cores under saturation, per process."""
    header = (
        "| process | CPU ms per turn, idle (ours) | cores busy at saturation (ours) "
        "| CPU ms per turn, idle (starter) | cores busy at saturation (starter) |"
    )
    lines = [header, "|---|---:|---:|---:|---:|"]
    ours, starter = report["bots"]["ours"], report["bots"].get("starter")
    names = list(_get(ours, "breakdown", "cpu_ms_per_turn") or {})
    for name in names:
        lines.append(
            "| "
            + " | ".join(
                [
                    name,
                    fmt(_get(ours, "breakdown", "cpu_ms_per_turn", name)),
                    fmt(_get(ours, "saturation", "cores_busy", name), digits=2),
                    fmt(_get(starter, "breakdown", "cpu_ms_per_turn", name)),
                    fmt(_get(starter, "saturation", "cores_busy", name), digits=2),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def render_markdown(report: dict[str, Any]) -> str:
    """reports/bench.md."""
    machine, config = report["machine"], report["config"]
    ours, starter = report["bots"]["ours"], report["bots"].get("starter")
    breakdown = ours["breakdown"]
    share = breakdown.get("nlu_share_of_turn")
    cpu = breakdown.get("cpu_ms_per_turn", {})
    quick = " — **quick smoke run, figures are rough**" if config["quick"] else ""
    setup = (
        f"Machine: {machine['cpus']} CPUs ({machine['cpu_model']}), {machine['memory_gb']} GB RAM, "
        f"Python {machine['python']}, Rasa {machine['rasa']}, Sanic {machine['sanic']}, "
        f"`SANIC_WORKERS={config['sanic_workers']}` for both bots. "
        f"Models: `{ours['model']}` (ours), `{starter['model'] if starter else '—'}` (starter). "
        "Both bots: Redis tracker store and Redis lock store on one real `redis-server` (own database "
        "and key prefix each), REST channel, measured one after the other on the same machine; the load "
        "generator (aiohttp, one process) shares the CPUs with the server."
    )
    where = (
        "One request at a time on a warm server: `POST /model/parse` (the NLU pipeline alone, plus "
        f"HTTP) takes {fmt(breakdown['parse']['p50_ms'])} ms at the median, a full REST turn "
        f"{fmt(breakdown['turn']['p50_ms'])} ms, so the NLU is about "
        f"{fmt(share * 100 if share is not None else None, digits=0)} % of a turn. The rest is "
        "spent in the Rasa server too (loading, replaying and saving the conversation, the lock, "
        "the policies, calling the action server): per turn Redis used "
        f"{fmt(cpu.get('redis'))} ms and the action server {fmt(cpu.get('actions'))} ms of CPU, "
        f"the Rasa server {fmt(cpu.get('rasa'))} ms. CPU time per process (from /proc) during "
        "those sequential turns, and how many cores each process kept busy during the saturation "
        "run:"
    )
    spread = (
        "Cores busy per Rasa server process (main process, then each worker) at saturation: "
        + "; ".join(
            f"{bot_key} "
            + " / ".join(
                f"{v:.2f}"
                for v in (
                    _get(bot, "saturation", "rasa_cores_busy_by_process") or {}
                ).values()
            )
            for bot_key, bot in report["bots"].items()
        )
        + "."
    )
    long = ours["long"]
    growth = (
        f"In a long conversation a turn takes {fmt(long['early_median_ms'])} ms at turns "
        f"{EARLY_WINDOW[0]}-{EARLY_WINDOW[1]} and {fmt(long['late_median_ms'])} ms at turns "
        f"{LATE_WINDOW[0]}-{LATE_WINDOW[1]}; the Rasa server's CPU time per turn goes from "
        f"{fmt(long['rasa_cpu_early_mean_ms'])} to {fmt(long['rasa_cpu_late_mean_ms'])} ms, and "
        f"the conversation stored in Redis reaches {fmt(long['tracker_bytes_at_end'])} bytes after "
        f"{LONG_TURNS} turns. With Rasa's own Redis tracker store (the starter bot) every turn "
        "loads, replays and rewrites the whole conversation and the policies featurise its whole "
        "history, so a turn costs more the longer the conversation; our store "
        "(`bot/store/tracker_store.py`) appends only a turn's new events and hands the dialogue the last "
        "40 events (about six turns) plus the state before them. Per-turn medians: `reports/bench.json` "
        "(`bots.ours.long.per_turn_median_ms`)."
    )
    noise = max(
        (
            _get(bot, *path) or 0.0
            for bot in report["bots"].values()
            for path in (
                ("load", "background_cores_busy"),
                ("saturation", "cores_busy", OTHER),
                ("fixed_rate", "cores_busy", OTHER),
                ("long", "cores_busy", OTHER),
            )
        ),
        default=0.0,
    )
    warning = (
        f"**Warning: other processes on this machine used up to {noise:.1f} CPU cores while "
        'the bots were measured (the "noise" rows): figures of those phases are pessimistic '
        "for the bot measured then, comparisons can be skewed either way, and verdicts that rest "
        'on them are marked "(noisy)". Re-run `make bench` (with `--wait-quiet`) on a quiet '
        "machine.**"
        if noise > BUSY_MACHINE_CORES
        else 'The machine was otherwise quiet during the measurements (the "noise" rows).'
    )
    method = [
        (
            f"- Saturation: {config['concurrency']} conversations, each sending its next message as "
            f"soon as the reply arrives, for {config['duration_s']:g} s after a warm-up; turns finished "
            "inside the window count. Conversations are short scripts (greeting, complaint, "
            "confirmation, order number, thanks), a new sender id for each."
        ),
        (
            f"- Fixed load: open loop, one request every {1000 / config['rate']:.0f} ms for "
            f"{config['latency_duration_s']:g} s, sent on schedule whatever the replies; latency "
            "counted from the scheduled send time, so a stalled server is not hidden (no coordinated "
            f"omission). Each request goes to the next idle one of {config['senders']} conversations; "
            "a conversation never has two requests in flight."
        ),
        (
            f"- Long conversation: {config['reps']} conversations of {LONG_TURNS} turns, one request "
            f"at a time, cycling {len(OUR_LONG_CYCLE)} messages (so turn 1 and turn 50, and turns "
            f"{EARLY_WINDOW[0]}-{EARLY_WINDOW[1]} and {LATE_WINDOW[0]}-{LATE_WINDOW[1]}, carry the "
            "same messages). The target uses the window medians; the single-turn medians are shown too."
        ),
        (
            "- Model load: from starting `rasa run` until `/status` answers with a model (polled every "
            '0.3 s), until every Sanic worker logged "Rasa server is up and running", and until the '
            "first REST reply."
        ),
        (
            "- Memory: the Rasa server process and its worker children after the load tests; RSS "
            "summed over processes counts pages the forked workers share once per process, PSS "
            "splits them."
        ),
        (
            "- HTTP: "
            + (
                "keep-alive connections"
                if config["keepalive"]
                else "a new connection per request"
            )
            + " (`--keepalive` switches). Sanic's workers share one listening socket and a "
            "keep-alive connection stays with the worker that accepted it: a client that opens its "
            "connections all at once (a proxy's upstream pool, this benchmark with `--keepalive`) "
            "can have every connection on one worker while the others idle."
        ),
        (
            '- Noise: CPU time of every process from /proc; "other processes" is what the whole '
            "machine used beyond the bot, its action server, Redis and the benchmark client; "
            "`--wait-quiet S` waits up to S seconds for a quiet machine before each bot."
        ),
    ]
    lines = [
        "# Benchmark: our bot vs Rasa's starter bot",
        "",
        f"Written by `make bench` (`tools/bench.py`) on {report['date']}{quick}.",
        "",
        setup,
        "",
        warning,
        "",
        render_table(table_rows(report)),
        "",
        "## Where the time goes (our bot)",
        "",
        where,
        "",
        render_cpu(report),
        "",
        spread,
        "",
        growth,
        "",
        "## How it is measured",
        "",
        *method,
        "",
        "Raw figures, including per-turn medians and error kinds: `reports/bench.json`; logs: `var/bench/logs/`.",
        "",
    ]
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    """CPU count and model, memory, Python and library versions, git commit."""
    import rasa
    import sanic

    cpu_model = "unknown"
    try:
        cpu_model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
        )
    except OSError:
        commit, dirty = "", False
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "memory_gb": round(
            _kib_field(Path("/proc/meminfo"), "MemTotal") / 1024 / 1024, 1
        ),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "rasa": rasa.__version__,
        "sanic": sanic.__version__,
        "git_commit": commit + ("-dirty" if dirty else ""),
    }


# ---- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``--quick`` shortens everything for a smoke test."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=float,
        help="saturation window in seconds (default 20, quick 4)",
    )
    parser.add_argument(
        "--latency-duration",
        type=float,
        help="open-loop run in seconds (default 30, quick 6)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=20.0,
        help="open-loop offered load, turns/s (default 20)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=20,
        help="conversations in the saturation run (default 20)",
    )
    parser.add_argument(
        "--senders",
        type=int,
        default=200,
        help="conversations the open loop rotates over (default 200)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="SANIC_WORKERS for both bots (default: $SANIC_WORKERS or 2)",
    )
    parser.add_argument(
        "--reps",
        type=int,
        help=f"long conversations of {LONG_TURNS} turns (default 5, quick 1)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for other processes to leave the CPUs before measuring a bot",
    )
    parser.add_argument(
        "--keepalive",
        action="store_true",
        help="reuse HTTP connections (default: a new connection per request)",
    )
    parser.add_argument(
        "--skip-starter", action="store_true", help="measure our bot only"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short durations: a smoke test, not a measurement",
    )
    parser.add_argument(
        "--out", type=Path, default=REPORTS, help="report directory (default reports/)"
    )
    options = parser.parse_args(argv)
    quick = options.quick
    options.duration = options.duration or (4.0 if quick else 20.0)
    options.latency_duration = options.latency_duration or (6.0 if quick else 30.0)
    options.reps = options.reps or (1 if quick else 5)
    options.warmup = 2.0 if quick else 5.0
    options.rounds = 1 if quick else 3
    options.workers = options.workers or int(os.environ.get("SANIC_WORKERS") or 2)
    if options.workers < 1 or options.rate <= 0 or options.concurrency < 1:
        parser.error("--workers, --rate and --concurrency must be positive")
    return options


def run(options: argparse.Namespace, stacks: list[Stack]) -> dict[str, Any]:
    """Starts Redis, then each bot in turn, measures it and stops it."""
    run_id = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    model = ensure_model()
    starter_model = None if options.skip_starter else ensure_starter()

    infra = Stack()
    stacks.append(infra)
    redis_dir = BENCH / "redis"
    shutil.rmtree(
        redis_dir, ignore_errors=True
    )  # the bench's own data only: start empty
    redis = infra.start_redis(free_port(), redis_dir, log=_fresh_log("redis.log"))
    cpu_redis = {"redis": pid_of(infra, "redis")}

    bots: dict[str, Any] = {}
    print(f"==> our bot ({model.name}), SANIC_WORKERS={options.workers}", flush=True)
    stack = Stack()
    stacks.append(stack)
    ours = start_our_bot(stack, redis, model, options.workers)
    ours.cpu_groups.update(cpu_redis)
    bots["ours"] = bench_bot(ours, options, run_id)
    stack.stop()

    if starter_model is not None:
        print(
            f"==> starter bot ({starter_model.name}), SANIC_WORKERS={options.workers}",
            flush=True,
        )
        stack = Stack()
        stacks.append(stack)
        starter = start_starter_bot(stack, redis, starter_model, options.workers, db=1)
        starter.cpu_groups.update(cpu_redis)
        bots["starter"] = bench_bot(starter, options, run_id)
        stack.stop()

    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": {
            "quick": options.quick,
            "sanic_workers": options.workers,
            "duration_s": options.duration,
            "latency_duration_s": options.latency_duration,
            "rate": options.rate,
            "concurrency": options.concurrency,
            "senders": options.senders,
            "reps": options.reps,
            "warmup_s": options.warmup,
            "keepalive": options.keepalive,
            "wait_quiet_s": options.wait_quiet,
        },
        "bots": bots,
    }
    report["targets"] = targets(bots["ours"], bots.get("starter"))
    return report


def _raise_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM behaves like Ctrl-C, so the ``finally`` below stops every child."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark, writes the reports, prints the table."""
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    stacks: list[Stack] = []
    finished = False
    try:
        report = run(options, stacks)
        finished = True
    except KeyboardInterrupt:
        print("\n==> interrupted", file=sys.stderr, flush=True)
        return 130
    finally:
        for stack in reversed(stacks):
            stack.stop()
        if not finished:
            print(
                f"==> benchmark did not finish; logs in {LOGS.relative_to(ROOT)}/",
                file=sys.stderr,
                flush=True,
            )
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "bench.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    markdown = render_markdown(report)
    (options.out / "bench.md").write_text(markdown, encoding="utf-8")
    print()
    print(render_table(table_rows(report)))
    print()
    print(render_cpu(report))
    for target in report["targets"]:
        print(
            f"target {target['name']}: {target['value']} -> {verdict(target['met'], target['noisy'])}"
        )
    print(f"\n==> wrote {options.out / 'bench.md'} and {options.out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
