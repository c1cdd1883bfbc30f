"""Starts the whole service: Redis, the action server and the Rasa server (``make run``).

Also used by the tests and the benchmark, so that all three start the stack the same way.

    python -m tools.devstack train   # train unless a model for the current config/domain/data exists
    python -m tools.devstack run     # train if needed, start everything under supervisord
    python -m tools.devstack cluster # the same with two Rasa and two action servers behind nginx

``run`` and ``cluster`` hand the processes to supervisord (supervisor 4.3, in the foreground, config
generated into the var dir): a crashed child is restarted and the reason logged; everything stops on
Ctrl-C/SIGTERM, or when one child keeps crashing at start (supervisor's FATAL state, see
:data:`FATAL_LISTENER`).
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

# The tools' one HTTP client; re-exported under the names the tests import from here.
from tools.http_client import json_request as http_json  # noqa: F401
from tools.http_client import ok as http_ok
from tools.http_client import request as http_request  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
MODELS = ROOT / "models"
VAR_DIR_VARIABLE = "BOT_VAR_DIR"


def var_dir() -> Path:
    """Where run-time files go: ``$BOT_VAR_DIR``, default ``var/`` of the checkout (git-ignored)."""
    return Path(os.environ.get(VAR_DIR_VARIABLE) or ROOT / "var").resolve()


VAR = var_dir()

# What a trained model depends on: a change in any of these means a new model.
MODEL_INPUTS = ("config.yml", "domain.yml", "data", "bot/nlu", "bot/language")

QUIET_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PYTHONWARNINGS": "ignore",
    "PYTHONPATH": str(ROOT),
}


def base_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: telemetry off, project on the path."""
    env = dict(os.environ)
    env.update(QUIET_ENV)
    env.update(extra)
    return env


def _input_files() -> Iterable[Path]:
    for name in MODEL_INPUTS:
        path = ROOT / name
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def model_fingerprint() -> str:
    """A hash of everything a trained model depends on."""
    digest = hashlib.sha256()
    for path in _input_files():
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_model(force: bool = False) -> Path:
    """Returns the model for the current inputs, training it first if there is none."""
    name = f"complaint-{model_fingerprint()}"
    model = MODELS / f"{name}.tar.gz"
    if model.exists() and not force:
        print(f"==> reusing model {model.relative_to(ROOT)}", flush=True)
        return model
    print(f"==> training model {name} (a few minutes)", flush=True)
    started = time.monotonic()
    subprocess.run(
        [str(VENV_BIN / "rasa"), "train", "--fixed-model-name", name, "--out", str(MODELS)],
        cwd=ROOT,
        env=base_env(),
        check=True,
    )
    print(f"==> trained in {time.monotonic() - started:.0f} s", flush=True)
    return model


# Below Linux's ephemeral range (32768-60999): a port the kernel hands out for bind(0) can be
# taken by an outgoing connection before the server binds it, which made a test stack fail to
# start once while many HTTP clients were running.
_PORTS = range(20000, 32000)


def free_port() -> int:
    """An unused TCP port on localhost, outside the ephemeral range."""
    for _ in range(200):
        port = random.choice(_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # everything busy: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:  # type: ignore[no-untyped-def]
    """Polls ``check()`` until it is true; fails early if ``process`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{what} did not become ready within {timeout:.0f} s")


def redis_ping(host: str, port: int, password: str = "") -> bool:
    """True when a Redis server answers PING."""
    import redis

    return bool(redis.Redis(host=host, port=port, password=password or None, socket_timeout=1).ping())


# Platform channels switched on by their variables (bot/channels/*.py read the values themselves;
# a channel whose variables are only partly set refuses to start, naming what is missing).
OPTIONAL_CHANNELS = {
    "WECHAT_TOKEN": "bot.channels.wechat.WeChatInput",
    "TAOBAO_APP_KEY": "bot.channels.taobao.TaobaoInput",
}


def rasa_command(
    model: Path, port: int, token: str, credentials: Path, endpoints: Path | str = "endpoints.yml"
) -> list[str]:
    """``rasa run`` with the REST/HTTP API flags every stack uses.

    ``--auth-token=<token>`` in one argument: a token starting with "-" (one in 64 of
    ``secrets.token_urlsafe``) would otherwise be read as an option and Rasa would exit with 2.
    """
    return [
        str(VENV_BIN / "rasa"),
        "run",
        "--model",
        str(model),
        "--port",
        str(port),
        "--enable-api",
        f"--auth-token={token}",
        "--credentials",
        str(credentials),
        "--endpoints",
        str(endpoints),
        "--cors",
        "*",
    ]


def credentials_file(env: dict[str, str], directory: Path | None = None) -> Path:
    """credentials.yml plus the platform channels whose switch variable is set in ``env``.

    Returns credentials.yml itself when no platform channel is configured; otherwise a file
    written into ``directory`` (default ``var/``, git-ignored).
    """
    extra = [channel for variable, channel in OPTIONAL_CHANNELS.items() if env.get(variable)]
    base = ROOT / "credentials.yml"
    if not extra:
        return base
    directory = directory or VAR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"credentials-{os.getpid()}-{hashlib.sha256(','.join(extra).encode()).hexdigest()[:8]}.yml"
    text = base.read_text(encoding="utf-8").rstrip("\n") + "\n" + "".join(f"{channel}: {{}}\n" for channel in extra)
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class RedisSettings:
    """Where the Redis server is."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    password: str = ""

    @classmethod
    def from_url(cls, url: str) -> "RedisSettings":
        """Parses ``redis://[:password@]host[:port][/db]``."""
        parsed = urllib.parse.urlparse(url)
        db = parsed.path.lstrip("/")
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 6379,
            db=int(db) if db else 0,
            password=urllib.parse.unquote(parsed.password or ""),
        )

    def env(self) -> dict[str, str]:
        """Variables read by endpoints.yml."""
        return {
            "REDIS_HOST": self.host,
            "REDIS_PORT": str(self.port),
            "REDIS_DB": str(self.db),
            "REDIS_PASSWORD": self.password,
        }


def redis_command(binary: str, port: int, data_dir: Path) -> list[str]:
    """A redis-server in the foreground on 127.0.0.1:``port``, append-only persistence in ``data_dir``."""
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
    ]


def actions_command(port: int) -> list[str]:
    """The Rasa SDK action server on ``port`` (all interfaces)."""
    return [str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(port)]


@dataclass
class Stack:
    """The running processes, stopped together."""

    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
        """Starts a child process in its own process group (so Ctrl-C reaches it only via us)."""
        out = open(log, "ab") if log else None
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT if out else None, start_new_session=True
        )
        self.processes.append((name, process))
        return process

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM every child (newest first), then SIGKILL what is left."""
        for name, process in reversed(self.processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for name, process in reversed(self.processes):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()

    def start_redis(self, port: int, data_dir: Path, log: Path | None = None) -> RedisSettings:
        """Starts a real redis-server with append-only persistence in ``data_dir``."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: run tools/setup.sh (or set REDIS_URL)")
        data_dir.mkdir(parents=True, exist_ok=True)
        process = self.start("redis", redis_command(binary, port, data_dir), env=base_env(), log=log)
        wait_until(lambda: redis_ping("127.0.0.1", port), 20, "redis-server", process)
        return RedisSettings(port=port)

    def start_actions(self, port: int, env: dict[str, str], log: Path | None = None) -> str:
        """Starts the Rasa SDK action server; returns its webhook URL."""
        process = self.start("actions", actions_command(port), env=env, log=log)
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/health"), 120, "action server", process)
        return f"http://127.0.0.1:{port}/webhook"

    def start_rasa(self, port: int, model: Path, token: str, env: dict[str, str], log: Path | None = None) -> str:
        """Starts the Rasa server (REST channel + HTTP API with token); returns its base URL."""
        process = self.start("rasa", rasa_command(model, port, token, credentials_file(env)), env=env, log=log)
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{base}/status?token={token}"), 300, "Rasa server", process)
        return base


def run_model() -> Path:
    """The model ``make run`` serves: the one trainers made live (``models/active.json`` of the
    workspace, ``TRAINER_ROOT`` or the project root) when its file exists, else the model trained
    from ``data/`` (:func:`ensure_model`). Only ``run`` reads the pointer; ``train`` and the tests
    always use the model of the current inputs."""
    from bot.trainer.workspace import ENV_VAR, Workspace
    from bot.training.models import active, live_model

    ws = Workspace(Path(os.environ.get(ENV_VAR) or ROOT).resolve())
    live = live_model(ws)
    if live is not None:
        entry = active(ws) or {}
        print(
            f"==> serving the trainers' live model {entry.get('model')} "
            f"(activated by {entry.get('activated_by')}; {ws.active_file} points to it)\n"
            f"    delete {ws.active_file} to go back to the model trained from data/",
            flush=True,
        )
        return live
    if ws.active_file.exists():
        print(f"==> {ws.active_file} names a model that is gone; using the model trained from data/", flush=True)
    return ensure_model()


# --- supervision (``run`` and ``cluster``) -------------------------------------------------------------
#
# Restart policy (supervisor's own): a child that dies after it counted as started (``startsecs``) is
# logged ("exited: actions (terminated by SIGKILL; not expected)") and started again at once; a child
# that dies again before ``startsecs`` is a failed start, retried after 1, 2, 3 s (supervisor's
# backoff); after ``startretries`` failed starts in a row it is FATAL and the listener below shuts
# supervisord down, which stops every other child. ``startsecs`` must therefore exceed the time a
# healthy child takes to come up: Rasa loads the model for 30-60 s (two replicas loading at once on
# 2 CPUs up to ~90 s), so a Rasa that dies while loading (a broken model, a port taken) ends as FATAL
# instead of being restarted forever; the action server imports the actions in ~5 s; Redis and nginx
# start in milliseconds.
STARTSECS = {"redis": 3, "actions": 15, "rasa": 90, "nginx": 3}
STARTRETRIES = 3


@dataclass
class Program:
    """One supervised child: ``command`` run in the project folder with the supervisor's environment
    plus ``env``; lower ``priority`` starts first and stops last."""

    name: str
    command: list[str]
    priority: int
    startsecs: int
    env: dict[str, str] = field(default_factory=dict)
    stopwaitsecs: int = 20


def _ini(value: str) -> str:
    """A value for supervisor's config parser, which expands ``%(...)s``: a literal % is doubled."""
    return value.replace("%", "%%")


def _quoted(value: str) -> str:
    """A value of supervisor's ``environment=`` list (shlex-parsed): double-quoted."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Supervisor:
    """supervisord (in the foreground) for ``programs``, its config and unix socket in ``var/supervisor``.

    Args:
        var: the var dir (:func:`var_dir`); created.
        programs: the children.
        logs: a folder for one log file per child (``<name>.log``); ``None`` passes their output
            through to supervisord's stdout (the terminal of ``make run``).
    """

    def __init__(self, var: Path, programs: list[Program], logs: Path | None = None) -> None:
        self.var = var
        self.programs = programs
        self.logs = logs
        self.folder = var / "supervisor"
        self.socket = self.folder / "supervisor.sock"
        self.config = self.folder / "supervisord.conf"
        self.fatal_file = self.folder / "fatal.txt"
        self.process: subprocess.Popen | None = None
        if len(str(self.socket)) > 100:  # sun_path holds 108 bytes
            raise ValueError(f"var dir path too long for a unix socket: {self.socket}")

    def write_config(self) -> Path:
        """Writes ``supervisord.conf``; returns its path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.logs is not None:
            self.logs.mkdir(parents=True, exist_ok=True)
        lines = [
            "[unix_http_server]",
            f"file={_ini(str(self.socket))}",
            "chmod=0700",
            "",
            "[supervisord]",
            "nodaemon=true",
            f"logfile={_ini(str(self.folder / 'supervisord.log'))}",
            "logfile_maxbytes=5MB",
            "logfile_backups=1",
            f"pidfile={_ini(str(self.folder / 'supervisord.pid'))}",
            f"childlogdir={_ini(str(self.folder))}",
            f"directory={_ini(str(ROOT))}",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
            "[supervisorctl]",
            f"serverurl=unix://{_ini(str(self.socket))}",
            "",
            "[eventlistener:fatal-listener]",
            f"command={_ini(shlex.join([sys.executable, '-m', 'tools.devstack', 'fatal-listener', str(self.fatal_file)]))}",
            "events=PROCESS_STATE_FATAL",
            "priority=1",
            "autorestart=true",
            "stderr_logfile=/dev/stderr",
            "stderr_logfile_maxbytes=0",
        ]
        for program in self.programs:
            if self.logs is None:
                output = ["stdout_logfile=/dev/stdout", "stdout_logfile_maxbytes=0"]
            else:
                log = _ini(str(self.logs / f"{program.name}.log"))
                output = [f"stdout_logfile={log}", "stdout_logfile_maxbytes=50MB", "stdout_logfile_backups=1"]
            lines += [
                "",
                f"[program:{program.name}]",
                f"command={_ini(shlex.join(program.command))}",
                f"priority={program.priority}",
                "autostart=true",
                "autorestart=true",  # a server that exits is never expected to, whatever its code
                f"startsecs={program.startsecs}",
                f"startretries={STARTRETRIES}",
                "stopsignal=TERM",
                f"stopwaitsecs={program.stopwaitsecs}",
                "stopasgroup=true",
                "killasgroup=true",
                "redirect_stderr=true",
                *output,
            ]
            if program.env:
                pairs = ",".join(f"{key}={_ini(_quoted(value))}" for key, value in program.env.items())
                lines.append(f"environment={pairs}")
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self.config

    def start(self, env: dict[str, str], output: Path | None = None) -> subprocess.Popen:
        """Starts supervisord with ``env`` (every child inherits it), in its own session so that
        Ctrl-C reaches it only through :meth:`stop`. ``output``: a file for its stdout/stderr."""
        self.write_config()
        self.fatal_file.unlink(missing_ok=True)
        out = open(output, "ab") if output else None
        self.process = subprocess.Popen(
            [str(VENV_BIN / "supervisord"), "--configuration", str(self.config)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,
        )
        return self.process

    def rpc(self):  # type: ignore[no-untyped-def]
        """supervisord's XML-RPC interface over the unix socket (``.supervisor.getAllProcessInfo()``, ...)."""
        import xmlrpc.client

        from supervisor.xmlrpc import SupervisorTransport

        return xmlrpc.client.ServerProxy(
            "http://127.0.0.1", transport=SupervisorTransport("", "", f"unix://{self.socket}")
        ).supervisor

    def info(self, name: str) -> dict:
        """supervisor's process info for ``name``: ``statename``, ``pid``, ``spawnerr``, ``start``, ..."""
        return dict(self.rpc().getProcessInfo(name))

    def stop(self, timeout: float = 90) -> int | None:
        """SIGTERM to supervisord (it stops the children, highest priority first) and waits; returns
        its exit code (``None``: it had not been started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def fatal_reason(self) -> str | None:
        """Why the fatal listener shut supervisord down, or ``None`` when it did not."""
        try:
            return self.fatal_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None


def fatal_listener(fatal_file: Path) -> int:
    """supervisor event listener (``[eventlistener:fatal-listener]``): when a child turns FATAL
    (``startretries`` failed starts in a row), writes why to ``fatal_file``, says so on stderr and
    shuts supervisord down, which stops everything else."""
    from supervisor import childutils

    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        childutils.listener.ok(sys.stdout)
        if headers.get("eventname") != "PROCESS_STATE_FATAL":
            continue
        name = childutils.get_headers(payload).get("processname", "?")
        reason = (
            f"{name} failed to start {STARTRETRIES + 1} times in a row (crashed within its startsecs each time); "
            "supervisord gave up on it (FATAL): stopping everything"
        )
        fatal_file.write_text(reason + "\n", encoding="utf-8")
        print(f"==> {reason}", file=sys.stderr, flush=True)
        childutils.getRPCInterface(os.environ).supervisor.shutdown()


def redis_program(var: Path) -> tuple[Program | None, RedisSettings, str]:
    """The embedded Redis (``None`` when ``REDIS_URL`` is set), its settings and a line for the banner."""
    if os.environ.get("REDIS_URL"):
        settings = RedisSettings.from_url(os.environ["REDIS_URL"])
        wait_until(lambda: redis_ping(settings.host, settings.port, settings.password), 10, "Redis at REDIS_URL")
        return None, settings, f"{settings.host}:{settings.port}/{settings.db} (REDIS_URL)"
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: run tools/setup.sh (or set REDIS_URL)")
    port = int(os.environ.get("REDIS_PORT", "6379"))
    data = var / "redis"
    data.mkdir(parents=True, exist_ok=True)
    where = f"127.0.0.1:{port} (embedded, data in {data}, append-only)"
    return Program("redis", redis_command(binary, port, data), 10, STARTSECS["redis"]), RedisSettings(port=port), where


def supervise(supervisor: Supervisor, env: dict[str, str], ready, banner) -> int:  # type: ignore[no-untyped-def]
    """Runs ``supervisor`` in the foreground: ``ready(process)`` waits for the children (it raises when
    supervisord exits), then ``banner()`` is printed; returns when supervisord exits: 0 after
    Ctrl-C/SIGTERM, 1 when a child turned FATAL (the reason printed) or supervisord failed."""
    stopping = False

    def on_signal(signum, frame):  # type: ignore[no-untyped-def]
        nonlocal stopping
        stopping = True
        if supervisor.process is not None and supervisor.process.poll() is None:
            supervisor.process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    process = supervisor.start(env)
    try:
        ready(process)
        print(banner(), flush=True)
    except (RuntimeError, TimeoutError) as error:
        if not stopping and process.poll() is None:
            print(f"==> {error}; stopping", file=sys.stderr, flush=True)
            supervisor.stop()
    code = process.wait()
    reason = supervisor.fatal_reason()
    if reason:
        print(f"==> stopped: {reason}", file=sys.stderr, flush=True)
        return 1
    if stopping:
        print("==> stopped", flush=True)
        return 0
    print(f"==> supervisord exited with code {code}", file=sys.stderr, flush=True)
    return 1


def run() -> int:
    """``make run``: the whole service under supervisord until Ctrl-C or SIGTERM."""
    model = run_model()
    var = var_dir()
    rasa_port = int(os.environ.get("RASA_PORT", "5005"))
    action_port = int(os.environ.get("ACTION_PORT", "5055"))
    token = os.environ.get("BOT_API_TOKEN") or secrets.token_urlsafe(24)
    redis, redis_settings, redis_where = redis_program(var)
    env = base_env(
        **redis_settings.env(), ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook", BOT_API_TOKEN=token
    )
    programs = [p for p in [redis] if p] + [
        Program("actions", actions_command(action_port), 20, STARTSECS["actions"]),
        Program("rasa", rasa_command(model, rasa_port, token, credentials_file(env, var)), 30, STARTSECS["rasa"]),
    ]
    supervisor = Supervisor(var, programs)
    base = f"http://127.0.0.1:{rasa_port}"

    def ready(process: subprocess.Popen) -> None:
        if redis is not None:
            wait_until(lambda: redis_ping("127.0.0.1", redis_settings.port), 20, "redis-server", process)
        wait_until(lambda: http_ok(f"http://127.0.0.1:{action_port}/health"), 120, "action server", process)
        wait_until(lambda: http_ok(f"{base}/status?token={token}"), 300, "Rasa server", process)

    def banner() -> str:
        return (
            "\n==> complaint bot is running\n"
            f"    web chat       {base}/webhooks/webchat/  (demo shop page with the widget)\n"
            f'    REST channel   POST {base}/webhooks/rest/webhook  {{"sender": "...", "message": "..."}}\n'
            f"    HTTP API       {base}/status?token={token}\n"
            f"    agents         {base}/console/  (queue and cases; the dashboard at {base}/console/dashboard)\n"
            f"    trainers       {base}/trainer/\n"
            f"    API token      {token}{'' if os.environ.get('BOT_API_TOKEN') else '  (generated; set BOT_API_TOKEN to choose one)'}\n"
            f"    action server  http://127.0.0.1:{action_port}/health\n"
            f"    Redis          {redis_where}\n"
            f"    supervisor     {supervisor.socket} (.venv/bin/supervisorctl -c {supervisor.config} status)\n"
            "    A crashed part is restarted; Ctrl-C stops everything.\n"
        )

    return supervise(supervisor, env, ready, banner)


def main(argv: list[str]) -> int:
    """Command-line entry point."""
    command = argv[1] if len(argv) > 1 else "run"
    if command == "train":
        ensure_model(force="--force" in argv)
        return 0
    if command == "model-path":
        print(ensure_model())
        return 0
    if command == "run":
        return run()
    if command == "cluster":
        from tools.cluster import run_cluster

        return run_cluster()
    if command == "fatal-listener":
        return fatal_listener(Path(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
