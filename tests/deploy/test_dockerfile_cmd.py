"""The Dockerfile's CMD, run by a real ``sh`` with stand-ins for ``rasa`` and ``python``: the token
reaches Rasa as one ``--auth-token=`` argument (a token starting with "-" would otherwise be read
as an option), and the container refuses to start without one."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.support.deploy import ROOT

FAKE_RASA = '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > "$ARGS_OUT"\n'
FAKE_PYTHON = '#!/bin/sh\necho "==> reusing model"\necho models/complaint-test.tar.gz\n'


def cmd() -> list[str]:
    line = next(
        line for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines() if line.startswith("CMD ")
    )
    return json.loads(line[len("CMD ") :])


def run_cmd(tmp_path: Path, token: str | None) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (("rasa", FAKE_RASA), ("python", FAKE_PYTHON)):
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    out = tmp_path / "args.txt"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "ARGS_OUT": str(out)}
    if token is not None:
        env["BOT_API_TOKEN"] = token
    result = subprocess.run(cmd(), capture_output=True, text=True, env=env, cwd=tmp_path, timeout=30)
    return result, out.read_text().splitlines() if out.exists() else []


def test_a_token_starting_with_a_dash_reaches_rasa_as_one_argument(tmp_path: Path) -> None:
    result, args = run_cmd(tmp_path, "-abc_DEF")
    assert result.returncode == 0, result.stderr
    assert "--auth-token=-abc_DEF" in args
    assert args[args.index("--model") + 1] == "models/complaint-test.tar.gz"
    assert args[args.index("--port") + 1] == "5005"
    assert {"--enable-api", "--endpoints", "--credentials"} <= set(args)


def test_the_container_refuses_to_start_without_a_token(tmp_path: Path) -> None:
    result, args = run_cmd(tmp_path, None)
    assert result.returncode != 0
    assert "BOT_API_TOKEN is required" in result.stderr
    assert args == []  # rasa never started


def test_the_image_installs_the_same_pins_as_the_setup() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    setup = (ROOT / "tools" / "setup.sh").read_text(encoding="utf-8")
    for requirement in ("requirements/lock.txt", "requirements/rasa.txt"):
        assert requirement in dockerfile and requirement in setup
    assert os.path.exists(ROOT / ".dockerignore")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "models", "var"} <= set(ignored)  # trained in the image, not copied from here
