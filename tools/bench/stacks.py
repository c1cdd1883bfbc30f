"""Starting the two bots: ours (as ``make run`` does) and Rasa's starter bot (``rasa init``, provisioned once)."""

from __future__ import annotations

import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.bench.settings import (
    BENCH,
    LOGS,
    OUR_CONVERSATIONS,
    OUR_LONG_CYCLE,
    READY_LINE,
    ROOT,
    STARTER,
    STARTER_CONVERSATIONS,
    STARTER_LONG_CYCLE,
)
from tools.devstack import VENV_BIN, RedisSettings, Stack, base_env, free_port, rasa_command, wait_until
from tools.http_client import ok


@dataclass
class Bot:
    """A running bot and what to say to it.

    ``cpu_groups`` names the process trees whose CPU time is measured (name -> root pid);
    ``started_at``/``ready_at`` are ``time.perf_counter()`` readings around the server's start.
    """

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
    """Rasa's starter bot (``rasa init`` in ``var/bench/starter``), created and trained once; returns its model.

    Raises:
        subprocess.CalledProcessError: ``rasa init`` failed. RuntimeError: it produced no model.
    """
    models = sorted((STARTER / "models").glob("*.tar.gz"))
    if models:
        print(f"==> reusing starter bot {models[-1].relative_to(ROOT)}", flush=True)
        return models[-1]
    print("==> creating Rasa's starter bot with `rasa init` (trains a model, about 2 minutes)", flush=True)
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
        raise RuntimeError(f"`rasa init` produced no model; see {LOGS / 'starter-init.log'}")
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
        "# Written by tools/bench: Redis tracker and lock store, like our bot.\n"
        f'tracker_store:\n  type: redis\n{common}  key_prefix: "startertracker"\n  use_ssl: false\n\n'
        f'lock_store:\n  type: redis\n{common}  key_prefix: "starterlock"\n',
        encoding="utf-8",
    )
    return path


def starter_credentials() -> Path:
    """The starter bot's credentials.yml. Raises RuntimeError when it does not enable the REST channel."""
    path = STARTER / "credentials.yml"
    text = path.read_text(encoding="utf-8")
    if not any(line.strip() == "rest:" for line in text.splitlines()):
        raise RuntimeError(f"{path} does not enable the REST channel (`rest:`)")
    return path


def start_starter_rasa(stack: Stack, port: int, model: Path, token: str, env: dict[str, str], log: Path) -> str:
    """``rasa run`` for the starter bot, with the same flags as ``Stack.start_rasa``; returns its base URL."""
    process = stack.start(
        "rasa-starter",
        rasa_command(model, port, token, starter_credentials(), STARTER / "endpoints.yml"),
        env=env,
        log=log,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: ok(f"{base}/status?token={token}"), 300, "starter Rasa server", process)
    return base


def pid_of(stack: Stack, name: str) -> int:
    """The pid of the process started on ``stack`` under ``name``. Raises StopIteration when there is none."""
    return next(process.pid for n, process in stack.processes if n == name)


def count_ready_lines(text: str) -> int:
    """How many Sanic workers logged that the Rasa server is up (:data:`READY_LINE`)."""
    return text.count(READY_LINE)


def wait_for_workers(log: Path, workers: int, started: float, timeout: float = 180) -> float | None:
    """Seconds from ``started`` (a ``perf_counter`` reading) until ``workers`` workers logged READY_LINE.

    None when they have not within ``timeout`` seconds.
    """
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if count_ready_lines(log.read_text(encoding="utf-8", errors="replace")) >= workers:
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
    stack.start_actions(action_port, env, log=fresh_log("ours-actions.log"))
    log = fresh_log("ours-rasa.log")
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


def start_starter_bot(stack: Stack, redis: RedisSettings, model: Path, workers: int, db: int) -> Bot:
    """Rasa server of the starter bot on the same Redis (database ``db``), no action server."""
    write_starter_endpoints(redis, db)
    token = secrets.token_urlsafe(16)
    env = base_env(SANIC_WORKERS=str(workers))
    log = fresh_log("starter-rasa.log")
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


def fresh_log(name: str) -> Path:
    """An empty log file under var/bench/logs (Stack appends, the ready-line count must not)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    path = LOGS / name
    path.write_bytes(b"")
    return path
