"""`make check-policy` (python -m bot.policy.check) and the policy check at both servers' start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.policy import catalogue, check

ROOT = Path(__file__).resolve().parents[2]
BROKEN = "tiers.urgent.first_response_minutes: ensure this value is greater than 0"


def _folder(tmp_path: Path, *, broken: bool) -> Path:
    for name in ("labels.yml", "sla.yml", "options.yml", "staff.yml"):
        (tmp_path / name).write_text((ROOT / "policy" / name).read_text(encoding="utf-8"), encoding="utf-8")
    if broken:
        raw = yaml.safe_load((tmp_path / "sla.yml").read_text(encoding="utf-8"))
        raw["tiers"]["urgent"] = {"priority": "P1", "queue": "emergency", "first_response_minutes": 0}
        (tmp_path / "sla.yml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return tmp_path


def test_the_shipped_policy_is_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.main([]) == 0
    assert capsys.readouterr().out.strip() == "OK"


def test_a_broken_file_prints_file_key_and_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path, broken=True)
    assert check.main(["--policy-dir", str(folder)]) == 1
    assert capsys.readouterr().err.strip() == f"{folder / 'sla.yml'}: {BROKEN}"


def test_a_missing_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path, broken=False)
    (folder / "labels.yml").unlink()
    assert check.main(["--policy-dir", str(folder)]) == 1
    assert "labels.yml" in capsys.readouterr().err


def test_the_command_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "bot.policy.check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert (ok.returncode, ok.stdout.strip()) == (0, "OK")
    folder = _folder(tmp_path, broken=True)
    bad = subprocess.run(
        [sys.executable, "-m", "bot.policy.check", "--policy-dir", str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and BROKEN in bad.stderr


def test_the_rasa_server_refuses_to_mount_the_agents_api_with_a_broken_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.agent_api.channel import AgentApi

    folder = _folder(tmp_path, broken=True)
    monkeypatch.setenv("SLA_CONFIG", str(folder / "sla.yml"))
    with pytest.raises(ValueError, match=BROKEN):
        AgentApi().blueprint(lambda message: None)  # type: ignore[arg-type, return-value]
    monkeypatch.delenv("SLA_CONFIG")
    assert AgentApi().blueprint(lambda message: None) is not None  # type: ignore[arg-type, return-value]


def test_the_action_server_refuses_to_load_its_actions_with_a_broken_policy(tmp_path: Path) -> None:
    folder = _folder(tmp_path, broken=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SLA_CONFIG": str(folder / "sla.yml")}
    run = subprocess.run([sys.executable, "-c", "import actions"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode != 0 and BROKEN in run.stderr
    env.pop("SLA_CONFIG")
    assert subprocess.run([sys.executable, "-c", "import actions"], cwd=ROOT, env=env).returncode == 0


def test_a_key_written_twice_is_refused_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Plain YAML keeps the last of two equal keys silently; a shop owner's slip must not pass."""
    folder = _folder(tmp_path, broken=False)
    sla_file = folder / "sla.yml"
    text = sla_file.read_text(encoding="utf-8")
    sla_file.write_text(
        text.replace("repeat_window_days: 30", "repeat_window_days: 30\nrepeat_window_days: 7"), "utf-8"
    )
    assert check.main(["--policy-dir", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "duplicate key 'repeat_window_days'" in err and "sla.yml" in err and "line" in err


def test_policy_options_points_the_catalogue_at_a_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "options.yml"
    copy.write_text("not: [a, catalogue\n", encoding="utf-8")
    monkeypatch.setenv("POLICY_OPTIONS", str(copy))
    with pytest.raises(ValueError, match="options.yml"):
        catalogue.load_catalogue()
