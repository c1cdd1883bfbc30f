"""The scaled-out topology on one machine (``make cluster``, the cluster tests, the soak tool).

The processes ``docker-compose.yml`` names, started here without a container engine, all under one
supervisord with ``make run``'s restart policy (tools/devstack.py): Redis (append-only; or the one
at ``REDIS_URL``), two action servers, two Rasa servers (``SANIC_WORKERS=1`` each unless the
environment says otherwise) and Debian's nginx in front, configured from the same template the
compose file mounts into the nginx image (``deploy/nginx/bot.conf.template``). The Rasa servers
reach the action servers through nginx (``ACTION_ENDPOINT_URL=http://127.0.0.1:<action proxy>/webhook``).

    cluster = start_cluster(tmp_path / "var")
    cluster.base                        # http://127.0.0.1:<proxy port>, round-robin over the Rasa servers
    cluster.kill("rasa-1", signal.SIGKILL)
    cluster.wait_healthy()
    cluster.stop()
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import string
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tools.devstack import (
    ROOT,
    STARTSECS,
    Program,
    RedisSettings,
    Supervisor,
    actions_command,
    base_env,
    credentials_file,
    free_port,
    http_ok,
    rasa_command,
    redis_ping,
    redis_program,
    run_model,
    supervise,
    var_dir,
    wait_until,
)

TEMPLATE = ROOT / "deploy" / "nginx" / "bot.conf.template"
# nginx marks a replica down for 5 s after one failed connection, then tries it again.
UPSTREAM_OPTIONS = "max_fails=3 fail_timeout=10s"


@dataclass
class ClusterPorts:
    """The ports one cluster listens on (all on 127.0.0.1)."""

    proxy: int
    action_proxy: int
    rasa: list[int]
    actions: list[int]

    @classmethod
    def free(cls, replicas: int = 2) -> "ClusterPorts":
        """Unused ports for ``replicas`` Rasa and action servers (:func:`tools.devstack.free_port`)."""
        ports: set[int] = set()
        while len(ports) < 2 + 2 * replicas:
            ports.add(free_port())
        chosen = sorted(ports)
        return cls(chosen[0], chosen[1], chosen[2 : 2 + replicas], chosen[2 + replicas :])

    @classmethod
    def from_env(cls) -> "ClusterPorts":
        """``make cluster``'s ports: ``PROXY_PORT`` (8080), ``ACTION_PROXY_PORT`` (5054), ``RASA_PORTS``
        (5005,5006), ``ACTION_PORTS`` (5055,5056)."""

        def ports(name: str, default: str) -> list[int]:
            return [int(p) for p in os.environ.get(name, default).split(",") if p.strip()]

        return cls(
            int(os.environ.get("PROXY_PORT", "8080")),
            int(os.environ.get("ACTION_PROXY_PORT", "5054")),
            ports("RASA_PORTS", "5005,5006"),
            ports("ACTION_PORTS", "5055,5056"),
        )


def upstream_servers(ports: list[int], host: str = "127.0.0.1") -> str:
    """The ``server`` lines of an nginx upstream block for ``ports``."""
    return " ".join(f"server {host}:{port} {UPSTREAM_OPTIONS};" for port in ports)


def render_template(variables: dict[str, str], template: Path = TEMPLATE) -> str:
    """``deploy/nginx/bot.conf.template`` with the contract's variables filled in (``string.Template``);
    nginx's own ``$variables`` are left alone, as the nginx image's envsubst leaves them.

    Raises:
        KeyError: a ``${NAME}`` of the template has no value in ``variables``.
    """
    text = string.Template(template.read_text(encoding="utf-8"))
    missing = {name for name in text.get_identifiers() if name.isupper()} - set(variables)
    if missing:
        raise KeyError(f"no value for {sorted(missing)} in {template}")
    return text.safe_substitute(variables)


def nginx_config(folder: Path, ports: ClusterPorts) -> Path:
    """A minimal nginx.conf (pid, logs and temp files under ``folder``, foreground, no root needed)
    around the rendered template; returns its path."""
    for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    site = folder / "bot.conf"
    site.write_text(
        render_template(
            {
                "PROXY_PORT": str(ports.proxy),
                "RASA_UPSTREAM_SERVERS": upstream_servers(ports.rasa),
                "ACTION_PROXY_PORT": str(ports.action_proxy),
                "ACTION_UPSTREAM_SERVERS": upstream_servers(ports.actions),
                "ACCESS_LOG": str(folder / "access.log"),
            }
        ),
        encoding="utf-8",
    )
    # As root nginx's workers would switch to "nobody", which cannot enter a private var dir (pytest's
    # are 0700); as anyone else the directive is ignored and nginx runs as that user.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\n"
        "daemon off;\n"
        f"pid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    access_log off;  # the template's servers log to ACCESS_LOG, without query strings\n"
        f"    client_body_temp_path {folder / 'tmp/body'};\n"
        f"    proxy_temp_path {folder / 'tmp/proxy'};\n"
        f"    fastcgi_temp_path {folder / 'tmp/fastcgi'};\n"
        f"    uwsgi_temp_path {folder / 'tmp/uwsgi'};\n"
        f"    scgi_temp_path {folder / 'tmp/scgi'};\n"
        f"    include {site};\n"
        "}\n",
        encoding="utf-8",
    )
    return conf


def nginx_command(conf: Path) -> list[str]:
    """Debian's nginx in the foreground on ``conf``; ``-e`` keeps it from opening /var/log/nginx first."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx not found: run tools/setup.sh")
    return [binary, "-p", str(conf.parent), "-c", str(conf), "-e", str(conf.parent / "error.log")]


@dataclass
class Cluster:
    """A running cluster: where it answers and how to break it."""

    supervisor: Supervisor
    ports: ClusterPorts
    token: str
    redis: RedisSettings
    embedded_redis: bool
    var: Path
    logs: Path
    rasa_names: list[str] = field(default_factory=list)
    action_names: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        """The proxy: what customers, channels and agents use."""
        return f"http://127.0.0.1:{self.ports.proxy}"

    @property
    def rasa_urls(self) -> dict[str, str]:
        """Each Rasa replica directly, by program name (``rasa-1``, ...)."""
        return {name: f"http://127.0.0.1:{port}" for name, port in zip(self.rasa_names, self.ports.rasa)}

    @property
    def action_urls(self) -> dict[str, str]:
        """Each action server directly, by program name (``actions-1``, ...)."""
        return {name: f"http://127.0.0.1:{port}" for name, port in zip(self.action_names, self.ports.actions)}

    def status(self) -> dict[str, str]:
        """supervisor's state of every program (``RUNNING``, ``STARTING``, ``BACKOFF``, ``FATAL``, ...)."""
        return {info["name"]: info["statename"] for info in self.supervisor.rpc().getAllProcessInfo()}

    def pid(self, name: str) -> int:
        """The pid of program ``name`` (0 when it is not running)."""
        return int(self.supervisor.info(name)["pid"])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Sends ``sig`` to program ``name`` behind supervisor's back (a crash); returns the pid hit."""
        pid = self.pid(name)
        if not pid:
            raise RuntimeError(f"{name} is not running ({self.supervisor.info(name)['statename']})")
        os.kill(pid, sig)
        return pid

    def healthy(self) -> bool:
        """True when Redis, every action server, every Rasa server and the proxy answer."""
        process = self.supervisor.process
        if process is None or process.poll() is not None:
            raise RuntimeError(f"supervisord exited: {self.supervisor.fatal_reason() or 'see its log'}")
        return (
            redis_ping(self.redis.host, self.redis.port, self.redis.password)
            and all(http_ok(f"{url}/health") for url in self.action_urls.values())
            and all(http_ok(f"{url}/status?token={self.token}") for url in self.rasa_urls.values())
            and http_ok(f"{self.base}/status?token={self.token}")
            and http_ok(f"http://127.0.0.1:{self.ports.action_proxy}/health")
        )

    def wait_healthy(self, timeout: float = 300) -> None:
        """Waits until :meth:`healthy`.

        Raises:
            TimeoutError: not healthy within ``timeout`` seconds (logs in :attr:`logs`).
            RuntimeError: supervisord exited (a program turned FATAL).
        """
        wait_until(self.healthy, timeout, "cluster", self.supervisor.process)

    def stop(self) -> int | None:
        """Stops everything (supervisord stops its children); returns supervisord's exit code."""
        return self.supervisor.stop()


def cluster_programs(
    var: Path, ports: ClusterPorts, token: str, env: dict[str, str], model: Path
) -> tuple[list[Program], RedisSettings, str]:
    """The programs of a cluster (Redis first), its Redis settings and a line for the banner."""
    redis, settings, where = redis_program(var)
    programs = [p for p in [redis] if p]
    for number, port in enumerate(ports.actions, 1):
        programs.append(Program(f"actions-{number}", actions_command(port), 20, STARTSECS["actions"]))
    credentials = credentials_file(env, var)
    for number, port in enumerate(ports.rasa, 1):
        programs.append(
            Program(
                f"rasa-{number}",
                rasa_command(model, port, token, credentials),
                30,
                STARTSECS["rasa"],
                env={"SANIC_WORKERS": env.get("SANIC_WORKERS") or "1"},
            )
        )
    programs.append(Program("nginx", nginx_command(nginx_config(var / "nginx", ports)), 40, STARTSECS["nginx"]))
    return programs, settings, where


def prepare_cluster(
    var: Path,
    ports: ClusterPorts | None = None,
    env: dict[str, str] | None = None,
    model: Path | None = None,
    logs: bool = True,
) -> tuple[Cluster, dict[str, str], str]:
    """The cluster's supervisor (not started), the environment to start it with and the Redis banner line.

    ``env``: extra variables for every process (``BURST_WINDOW_SECONDS``, ``BOT_API_TOKEN``, ...).
    ``REDIS_URL`` in ``os.environ`` uses that Redis instead of an embedded one.
    """
    var = var.resolve()
    ports = ports or ClusterPorts.free()
    extra = dict(env or {})
    token = extra.get("BOT_API_TOKEN") or os.environ.get("BOT_API_TOKEN") or secrets.token_urlsafe(24)
    model = model or run_model()
    folder = var / "logs"
    # Redis settings come from redis_program; the environment needs them, so build in two steps.
    programs, settings, where = cluster_programs(var, ports, token, base_env(**extra), model)
    variables = base_env(
        **settings.env(),
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{ports.action_proxy}/webhook",
        BOT_API_TOKEN=token,
        **{k: v for k, v in extra.items() if k != "BOT_API_TOKEN"},
    )
    supervisor = Supervisor(var, programs, logs=folder if logs else None)
    cluster = Cluster(
        supervisor,
        ports,
        token,
        settings,
        embedded_redis=any(p.name == "redis" for p in programs),
        var=var,
        logs=folder,
        rasa_names=[f"rasa-{n}" for n in range(1, len(ports.rasa) + 1)],
        action_names=[f"actions-{n}" for n in range(1, len(ports.actions) + 1)],
    )
    return cluster, variables, where


def start_cluster(
    var: Path,
    ports: ClusterPorts | None = None,
    env: dict[str, str] | None = None,
    model: Path | None = None,
    timeout: float = 300,
) -> Cluster:
    """Starts a cluster with its var dir ``var`` (logs in ``var/logs/<program>.log``, supervisord's
    output in ``var/supervisord.out``) and waits until every part answers.

    Raises:
        TimeoutError / RuntimeError: it did not become healthy (the cluster is stopped first).
    """
    cluster, variables, _ = prepare_cluster(var, ports, env, model)
    cluster.supervisor.start(variables, output=cluster.var / "supervisord.out")
    try:
        cluster.wait_healthy(timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def run_cluster() -> int:
    """``make cluster``: the cluster in the foreground (output in the terminal) until Ctrl-C/SIGTERM."""
    cluster, variables, redis_where = prepare_cluster(var_dir(), ClusterPorts.from_env(), logs=False)

    def ready(process: subprocess.Popen) -> None:
        cluster.wait_healthy()

    def banner() -> str:
        replicas = "  ".join(f"{name} {url}" for name, url in cluster.rasa_urls.items())
        actions = "  ".join(f"{name} {url}" for name, url in cluster.action_urls.items())
        return (
            "\n==> complaint bot cluster is running\n"
            f"    proxy (nginx)  {cluster.base}  (web chat {cluster.base}/webhooks/webchat/, "
            f"REST {cluster.base}/webhooks/rest/webhook, agents {cluster.base}/console/)\n"
            f"    Rasa servers   {replicas}\n"
            f"    action servers {actions}  (through nginx at http://127.0.0.1:{cluster.ports.action_proxy})\n"
            f"    API token      {cluster.token}\n"
            f"    Redis          {redis_where}\n"
            f"    supervisor     .venv/bin/supervisorctl -c {cluster.supervisor.config} status\n"
            "    A crashed part is restarted; Ctrl-C stops everything.\n"
        )

    return supervise(cluster.supervisor, variables, ready, banner)
