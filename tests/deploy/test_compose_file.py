"""docker-compose.yml: the compose specification's own checks and the topology README promises.

Schema: check-jsonschema's vendored compose-spec schema (``--builtin-schema vendor.compose-spec``)
and Debian's docker-compose v1 ``config -q`` (its own schema, interpolation and references; it
needs no daemon). Consistency: the Rasa services get every variable endpoints.yml reads, nginx's
upstream lists name existing services on the ports they listen on.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploy import COMPOSE_FILE, ROOT, env_references, load_compose, tool

RASA_SERVICES = ("rasa1", "rasa2")
ACTION_SERVICES = ("actions1", "actions2")
UPSTREAM_SERVER = re.compile(r"server\s+([\w.-]+):(\d+)([^;]*);")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def compose_env() -> dict[str, str]:
    env = dict(os.environ)
    env["BOT_API_TOKEN"] = "-starts-with-a-dash"
    return env


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_compose_file_passes_the_compose_spec_schema() -> None:
    result = check_compose_schema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_spec_check_refuses_a_misspelt_key(tmp_path: Path) -> None:
    data = load_compose()
    data["services"]["rasa1"]["restart_policy"] = "always"  # not a compose key
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = check_compose_schema(broken)
    assert result.returncode != 0
    assert "restart_policy" in result.stdout + result.stderr


def test_docker_compose_config_accepts_the_file_without_a_daemon() -> None:
    result = subprocess.run(
        [tool("docker-compose"), "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        env=compose_env(),
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_start_without_an_api_token() -> None:
    env = {key: value for key, value in os.environ.items() if key != "BOT_API_TOKEN"}
    result = subprocess.run(
        [tool("docker-compose"), "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode != 0
    assert "BOT_API_TOKEN" in result.stderr


def test_services_are_redis_two_action_servers_two_rasa_servers_and_nginx(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"redis", "nginx", *RASA_SERVICES, *ACTION_SERVICES}
    for name, service in compose["services"].items():
        assert service.get("restart") == "unless-stopped", name


def test_redis_keeps_an_append_only_file_on_a_named_volume(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    volume, target = redis["volumes"][0].split(":")[:2]
    assert target == "/data" and volume in compose["volumes"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_rasa_services_get_every_variable_endpoints_yml_reads(compose: dict[str, Any]) -> None:
    needed = env_references(ROOT / "endpoints.yml")
    assert {"ACTION_ENDPOINT_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_DB", "REDIS_PASSWORD"} <= needed
    for name in RASA_SERVICES:
        environment = compose["services"][name]["environment"]
        assert needed <= set(environment), (name, needed - set(environment))
        assert environment["REDIS_HOST"] == "redis"
        assert environment["SANIC_WORKERS"] in ("1", "2")
        # never a value in the repository: required from the environment
        assert environment["BOT_API_TOKEN"].startswith("${BOT_API_TOKEN:?")


def test_action_servers_get_the_redis_settings(compose: dict[str, Any]) -> None:
    for name in ACTION_SERVICES:
        environment = compose["services"][name]["environment"]
        assert {"REDIS_HOST", "REDIS_PORT", "REDIS_DB", "REDIS_PASSWORD"} <= set(environment)
        assert "--port" in compose["services"][name]["command"]


def listen_port(compose: dict[str, Any], name: str) -> int:
    """The port a service's server listens on: its command's --port, else the Dockerfile CMD's."""
    command = compose["services"][name].get("command")
    if command is None:
        cmd_line = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
        return int(re.search(r"--port (\d+)", cmd_line).group(1))  # type: ignore[union-attr]
    return int(command[command.index("--port") + 1])


def upstreams(value: str) -> list[tuple[str, int]]:
    return [(host, int(port)) for host, port, _ in UPSTREAM_SERVER.findall(value)]


def test_nginx_upstreams_name_existing_services_on_their_ports(compose: dict[str, Any]) -> None:
    env = compose["services"]["nginx"]["environment"]
    rasa = upstreams(env["RASA_UPSTREAM_SERVERS"])
    actions = upstreams(env["ACTION_UPSTREAM_SERVERS"])
    assert [host for host, _ in rasa] == list(RASA_SERVICES)
    assert [host for host, _ in actions] == list(ACTION_SERVICES)
    for host, port in rasa + actions:
        assert port == listen_port(compose, host), host
    # every server line is complete (ends with ";"), nothing else in the value
    for key in ("RASA_UPSTREAM_SERVERS", "ACTION_UPSTREAM_SERVERS"):
        assert UPSTREAM_SERVER.sub("", env[key]).strip() == "", key


def test_rasa_reaches_the_actions_through_nginx_and_nginx_publishes_the_proxy_port(compose: dict[str, Any]) -> None:
    nginx = compose["services"]["nginx"]
    env = nginx["environment"]
    for name in RASA_SERVICES:
        url = compose["services"][name]["environment"]["ACTION_ENDPOINT_URL"]
        assert url == f"http://nginx:{env['ACTION_PROXY_PORT']}/webhook"
    published = [str(port).split(":") for port in nginx["ports"]]
    assert [container for *_, container in published] == [env["PROXY_PORT"]]
    assert env["ACTION_PROXY_PORT"] not in [host for host, *_ in published]  # actions stay internal
    template_mount = nginx["volumes"][0].split(":")
    assert template_mount[0] == "./deploy/nginx/bot.conf.template"
    assert template_mount[1] == "/etc/nginx/templates/bot.conf.template"


def test_health_checks_use_the_servers_own_routes(compose: dict[str, Any]) -> None:
    for name in RASA_SERVICES:
        check = " ".join(compose["services"][name]["healthcheck"]["test"])
        assert "http://127.0.0.1:5005/'" in check and "/api/health" not in check
    for name in ACTION_SERVICES:
        check = " ".join(compose["services"][name]["healthcheck"]["test"])
        assert "http://127.0.0.1:5055/health'" in check


def test_rasa_replicas_share_the_upload_folder(compose: dict[str, Any]) -> None:
    mounts = set()
    for name in RASA_SERVICES:
        service = compose["services"][name]
        folder = service["environment"]["WEBCHAT_UPLOAD_DIR"]
        volume = next(v for v in service["volumes"] if v.split(":")[1] == folder)
        mounts.add(volume.split(":")[0])
    assert len(mounts) == 1 and mounts <= set(compose["volumes"])
