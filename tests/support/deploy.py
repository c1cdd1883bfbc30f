"""Helpers of the deployment-file tests (``tests/deploy/``): the files, parsed, and the checkers' paths.

The checkers come from the project's set-up, never downloaded by the tests: ``kubernetes-validate``
and ``check-jsonschema`` in ``.venv-deploy-tools`` (``tools/setup.sh --browser``, from
``requirements/deploy-tools.txt``), ``docker-compose`` (v1, Debian), ``kubectl`` (the machine
image's, else Debian's ``kubernetes-client``) and ``nginx`` (Debian). A missing one fails the test
with how to install it: these tests check files, a skip would pass them unchecked.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
K8S_DIR = ROOT / "deploy" / "k8s"
NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "bot.conf.template"
TOOLS_BIN = ROOT / ".venv-deploy-tools" / "bin"

ENV_REFERENCE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?:[:?-][^}]*)?\}")
"""``${NAME}``, ``${NAME:-default}``, ``${NAME:?message}``: the variable names a file reads."""


def tool(name: str) -> str:
    """The path of checker ``name`` (the deploy-tools venv first, then PATH); fails when missing."""
    local = TOOLS_BIN / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `bash tools/setup.sh --browser` (make setup-test)")
    return found


def env_references(path: Path) -> set[str]:
    """The environment variable names ``path`` reads as ``${NAME}`` (comments ignored)."""
    text = "\n".join(line.split("#", 1)[0] for line in path.read_text(encoding="utf-8").splitlines())
    return set(ENV_REFERENCE.findall(text))


def load_compose() -> dict[str, Any]:
    """docker-compose.yml parsed (YAML merge keys resolved, interpolation not applied)."""
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data
