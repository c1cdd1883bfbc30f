"""docs/openapi.yaml documents every route of the agents' API."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.agent_api.channel import AgentApi

ROOT = Path(__file__).resolve().parents[2]


def test_every_agent_api_route_is_documented() -> None:
    spec = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    blueprint = AgentApi().blueprint(lambda message: None)  # type: ignore[arg-type, return-value]
    served = set()
    for route in blueprint._future_routes:
        path = "/api" + re.sub(r"<(\w+)>", r"{\1}", route.uri.rstrip("/"))
        served.update((path, method) for method in route.methods)
    assert served, "the blueprint registered no routes"
    assert served <= documented, f"undocumented: {sorted(served - documented)}"
    assert ("/webhooks/rest/outbox", "GET") in documented
