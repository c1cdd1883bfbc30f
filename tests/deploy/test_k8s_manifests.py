"""deploy/k8s: rendered by kustomize (``kubectl kustomize``), checked against the Kubernetes API
schemas by ``kubernetes-validate --strict`` (schemas shipped in the package, offline), and the
promises of README "Going past one machine": replicas, probes on the right routes, Redis with
append-only persistence, the token from a Secret that is not committed, env that endpoints.yml reads.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploy import K8S_DIR, ROOT, env_references, tool

KUBERNETES_VERSION = "1.30.0"
"""A version kubernetes-validate 1.37 bundles and clusters commonly run; the manifests use only
stable APIs (apps/v1, policy/v1, networking.k8s.io/v1)."""

IMAGE = "registry.example.com/complaint-bot"


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = subprocess.run([tool("kubectl"), "kustomize", str(K8S_DIR)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    path = tmp_path_factory.mktemp("k8s") / "rendered.yaml"
    path.write_text(result.stdout, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def objects(rendered: Path) -> dict[tuple[str, str], dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(rendered.read_text(encoding="utf-8")) if doc]
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def container(objects: dict[tuple[str, str], dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    containers = objects[(kind, name)]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(spec: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in spec.get("env", [])}


def test_the_kustomization_lists_every_manifest_and_only_existing_files() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = kustomization["resources"]
    assert all((K8S_DIR / name).is_file() for name in listed), listed
    on_disk = {path.name for path in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == on_disk


def test_the_rendered_kustomization_passes_strict_kubernetes_validation(rendered: Path) -> None:
    result = validate(rendered)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed for resource") == 11, result.stdout


def test_each_manifest_passes_strict_kubernetes_validation() -> None:
    manifests = sorted(path for path in K8S_DIR.glob("*.yaml") if path.name != "kustomization.yaml")
    result = validate(*manifests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_strict_validation_refuses_a_misspelt_field(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all((K8S_DIR / "actions.yaml").read_text(encoding="utf-8")))
    deployment = next(doc for doc in docs if doc["kind"] == "Deployment")
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    broken = tmp_path / "actions.yaml"
    broken.write_text(yaml.safe_dump(deployment), encoding="utf-8")
    result = validate(broken)
    assert result.returncode != 0
    assert "replica" in result.stdout + result.stderr


def test_the_operators_image_replaces_the_placeholder(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    for name in ("rasa", "actions"):
        assert container(objects, "Deployment", name)["image"].startswith(IMAGE + ":")


def test_rasa_runs_two_replicas_probed_on_its_own_route(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert objects[("Deployment", "rasa")]["spec"]["replicas"] == 2
    rasa = container(objects, "Deployment", "rasa")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert rasa[probe]["httpGet"]["path"] == "/", probe  # not /api/health: see rasa.yaml
        assert rasa[probe]["httpGet"]["port"] == "http"
    startup = rasa["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60  # the model load
    assert rasa["ports"] == [{"name": "http", "containerPort": 5005}]
    requests, limits = rasa["resources"]["requests"], rasa["resources"]["limits"]
    assert requests["memory"] == "1536Mi" and limits["memory"] == "2560Mi"


def test_action_servers_run_two_replicas_probed_on_health(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert objects[("Deployment", "actions")]["spec"]["replicas"] == 2
    actions = container(objects, "Deployment", "actions")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert actions[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert actions["ports"] == [{"name": "http", "containerPort": 5055}]
    assert actions["command"][actions["command"].index("--port") + 1] == "5055"


def test_rasa_gets_every_variable_endpoints_yml_reads(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    env = env_of(container(objects, "Deployment", "rasa"))
    assert env_references(ROOT / "endpoints.yml") <= set(env)
    service = objects[("Service", "actions")]["spec"]["ports"][0]
    assert env["ACTION_ENDPOINT_URL"]["value"] == f"http://actions:{service['port']}/webhook"
    redis_port = objects[("Service", "redis")]["spec"]["ports"][0]["port"]
    assert env["REDIS_HOST"]["value"] == "redis" and env["REDIS_PORT"]["value"] == str(redis_port)
    assert env["SANIC_WORKERS"]["value"] in ("1", "2")


def test_the_api_token_comes_from_a_secret_that_is_not_committed(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    token = env_of(container(objects, "Deployment", "rasa"))["BOT_API_TOKEN"]
    assert "value" not in token
    assert token["valueFrom"]["secretKeyRef"] == {"name": "bot-api-token", "key": "BOT_API_TOKEN"}
    assert not [key for key in objects if key[0] == "Secret"]


def test_redis_is_a_statefulset_with_an_append_only_file_on_a_claim(
    objects: dict[tuple[str, str], dict[str, Any]],
) -> None:
    statefulset = objects[("StatefulSet", "redis")]
    redis = container(objects, "StatefulSet", "redis")
    args = redis["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    data_dir = args[args.index("--dir") + 1]
    claim = statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    assert {"name": claim, "mountPath": data_dir} in redis["volumeMounts"]
    assert redis["readinessProbe"]["exec"]["command"] == ["redis-cli", "ping"]


def test_services_and_ingress_point_at_the_named_ports(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    for name, port in (("rasa", 5005), ("actions", 5055), ("redis", 6379)):
        spec = objects[("Service", name)]["spec"]
        assert spec["ports"][0]["port"] == port
        kind = "StatefulSet" if name == "redis" else "Deployment"
        named = {p["name"]: p["containerPort"] for p in container(objects, kind, name)["ports"]}
        assert named[spec["ports"][0]["targetPort"]] == port
        assert spec["selector"] == objects[(kind, name)]["spec"]["selector"]["matchLabels"]
    for ingress in ("bot", "bot-socketio"):
        backend = objects[("Ingress", ingress)]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        assert backend == {"name": "rasa", "port": {"name": "http"}}


def test_socketio_long_polling_is_pinned_to_one_pod(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    socketio = objects[("Ingress", "bot-socketio")]
    assert socketio["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert socketio["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/socket.io"
    assert objects[("Service", "rasa")]["spec"]["sessionAffinity"] == "ClientIP"
    # one worker per pod: a poll reaching another worker of the same pod would be refused
    assert env_of(container(objects, "Deployment", "rasa"))["SANIC_WORKERS"]["value"] == "1"


def test_disruption_budgets_keep_one_server_of_each_kind(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    for name in ("rasa", "actions"):
        budget = objects[("PodDisruptionBudget", name)]["spec"]
        assert budget["minAvailable"] == 1
        assert budget["selector"] == objects[("Deployment", name)]["spec"]["selector"]
