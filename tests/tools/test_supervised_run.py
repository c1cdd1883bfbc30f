"""``make run`` under supervisord (tools/devstack.py): a crashed part is restarted, SIGTERM stops
everything, a part that keeps crashing at start stops everything with its name.

One ``python -m tools.devstack run`` per module (free ports, its own var dir, ``BOT_VAR_DIR``); the
tests run in file order on it: kill the action server, kill Redis, then SIGTERM.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tools.devstack import ROOT, Supervisor, base_env, free_port, http_ok, redis_ping, wait_until
from tools.http_client import json_request

COMPLAINT = "收到的电饭煲煮饭夹生"


@dataclass
class Running:
    process: subprocess.Popen
    output: Path
    var: Path
    base: str
    token: str
    redis_port: int
    action_port: int

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.var, [])

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def pid(self, name: str) -> int:
        return int(self.supervisor.info(name)["pid"])


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def start_devstack(folder: Path, **extra: str) -> tuple[subprocess.Popen, Path, dict[str, str]]:
    """``python -m tools.devstack run`` with free ports and its own var dir; output appended to a file
    (append mode: supervisord and the children it passes through write to the same file)."""
    trainer_root = folder / "trainer-root"  # no models/active.json: the model of the current inputs
    shutil.copytree(ROOT / "data", trainer_root / "data")
    for name in ("domain.yml", "config.yml"):
        shutil.copy2(ROOT / name, trainer_root / name)
    env = base_env(
        BOT_VAR_DIR=str(folder / "var"),
        RASA_PORT=str(free_port()),
        ACTION_PORT=str(free_port()),
        REDIS_PORT=str(free_port()),
        BOT_API_TOKEN="supervised-run-token",
        TRAINER_ROOT=str(trainer_root),
        BURST_WINDOW_SECONDS="0",
        WEBCHAT_UPLOAD_DIR=str(folder / "uploads"),
    )
    env.pop("REDIS_URL", None)
    env.update(extra)
    output = folder / "devstack.out"
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.devstack", "run"],
        cwd=ROOT,
        env=env,
        stdout=open(output, "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, output, env


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def running(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    folder = tmp_path_factory.mktemp("run")
    process, output, env = start_devstack(folder)
    try:
        wait_until(lambda: "complaint bot is running" in output.read_text(errors="replace"), 400, "make run", process)
        yield Running(
            process,
            output,
            Path(env["BOT_VAR_DIR"]),
            f"http://127.0.0.1:{env['RASA_PORT']}",
            env["BOT_API_TOKEN"],
            int(env["REDIS_PORT"]),
            int(env["ACTION_PORT"]),
        )
    finally:
        stop(process)


def say(base: str, sender: str, message: str = COMPLAINT) -> list[str]:
    status, text, replies = json_request(
        "POST", f"{base}/webhooks/rest/webhook", {"sender": sender, "message": message}
    )
    assert status == 200, text
    return [reply.get("text", "") for reply in replies]


def test_a_killed_action_server_is_restarted_and_the_bot_answers_again(running: Running) -> None:
    old = running.pid("actions")
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: running.pid("actions") not in (0, old), 30, "a new action server")
    wait_until(lambda: http_ok(f"http://127.0.0.1:{running.action_port}/health"), 60, "the action server")
    wait_until(lambda: json_request("GET", f"{running.base}/api/health")[0] == 200, 60, "/api/health 200")
    assert any(say(running.base, "after-actions-crash"))
    assert "exited: actions (terminated by SIGKILL; not expected)" in running.text()
    assert running.process.poll() is None, "devstack stopped instead of restarting the action server"


def test_a_killed_embedded_redis_is_restarted_and_conversations_survive(running: Running) -> None:
    before = say(running.base, "redis-survivor")
    time.sleep(1.5)  # appendfsync everysec: the last second may be lost by kill -9, as documented by Redis
    old = running.pid("redis")
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: running.pid("redis") not in (0, old), 30, "a new redis-server")
    wait_until(lambda: redis_ping("127.0.0.1", running.redis_port), 30, "redis-server")
    status, text, tracker = json_request(
        "GET", f"{running.base}/conversations/redis-survivor/tracker?token={running.token}"
    )
    assert status == 200, text
    said = [event.get("text") for event in tracker["events"] if event.get("event") == "user"]
    assert COMPLAINT in said
    assert any(before)
    wait_until(lambda: json_request("GET", f"{running.base}/api/health")[0] == 200, 60, "/api/health 200")
    # As with an external Redis (README, "Failures"): a message that meets the restart is answered 503
    # and the client's retry is answered. Seen here: the first message after the restart got 503
    # (a pooled connection from before it), its retry 200.
    statuses = []
    for _ in range(3):
        status, text, replies = json_request(
            "POST", f"{running.base}/webhooks/rest/webhook", {"sender": "redis-survivor", "message": "是的"}
        )
        statuses.append(status)
        if status != 503:
            break
        time.sleep(1)
    assert statuses[-1] == 200 and any(r.get("text") for r in replies), (statuses, text)
    assert "exited: redis (terminated by SIGKILL; not expected)" in running.text()


def test_sigterm_stops_every_child(running: Running) -> None:
    infos = running.supervisor.rpc().getAllProcessInfo()
    pids = {info["name"]: info["pid"] for info in infos}
    assert {"redis", "actions", "rasa", "fatal-listener"} <= set(pids) and all(pids.values()), pids
    supervisord = int((running.var / "supervisor" / "supervisord.pid").read_text())
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=90) == 0
    left = {name: pid for name, pid in {**pids, "supervisord": supervisord}.items() if alive(pid)}
    assert left == {}, f"still running after SIGTERM: {left}"
    assert "==> stopped" in running.text()


def test_a_part_that_keeps_crashing_stops_everything_and_says_which(model_path: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:  # the action server's port is taken: it dies at start, every time
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        process, output, _ = start_devstack(tmp_path, ACTION_PORT=str(taken.getsockname()[1]))
        try:
            code = process.wait(timeout=240)
        finally:
            stop(process)
    text = output.read_text(encoding="utf-8", errors="replace")
    assert code != 0
    assert "gave up: actions entered FATAL state" in text
    assert "==> stopped: actions failed to start" in text
    assert "complaint bot is running" not in text
