"""The live-model pointer (models/active.json): activate, rollback, atomic writes, what devstack serves."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from bot.trainer.workspace import Workspace
from bot.training import models
from bot.training.models import NothingToRollBack, activate, active, live_model, rollback, serving_model


def _model(ws: Workspace, name: str) -> Path:
    path = ws.candidates_dir / f"{name}.tar.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"model " + name.encode())
    return path


def test_no_pointer_means_no_live_model(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert active(ws) is None and live_model(ws) is None
    with pytest.raises(NothingToRollBack):
        rollback(ws, trainer="li")


def test_activate_records_who_and_keeps_the_previous_one(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    a, b = _model(ws, "a"), _model(ws, "b")
    first = activate(ws, a, trainer="li", job="j1", clock=lambda: 100.0)
    assert first == {
        "active": {"model": "models/candidates/a.tar.gz", "activated_by": "li", "activated_at": 100.0, "job": "j1"},
        "previous": None,
    }
    second = activate(ws, b, trainer="wang", clock=lambda: 200.0)
    assert second["previous"] == first["active"]
    stored = json.loads(ws.active_file.read_text(encoding="utf-8"))
    assert stored["model"] == "models/candidates/b.tar.gz" and stored["activated_by"] == "wang"
    assert stored["history"] == [first["active"]]
    assert live_model(ws) == b


def test_rollback_goes_back_one_model_and_then_refuses(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    a, b = _model(ws, "a"), _model(ws, "b")
    activate(ws, a, trainer="li", job="j1")
    activate(ws, b, trainer="li", job="j2")
    result = rollback(ws, trainer="zhao", clock=lambda: 300.0)
    assert result["active"] == {
        "model": "models/candidates/a.tar.gz",
        "activated_by": "zhao",
        "activated_at": 300.0,
        "job": "j1",
    }
    assert result["previous"]["job"] == "j2"
    assert live_model(ws) == a
    with pytest.raises(NothingToRollBack):
        rollback(ws, trainer="zhao")


def test_rollback_refuses_when_the_previous_file_is_gone(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    a, b = _model(ws, "a"), _model(ws, "b")
    activate(ws, a, trainer="li")
    activate(ws, b, trainer="li")
    a.unlink()
    with pytest.raises(NothingToRollBack, match="no longer on disk"):
        rollback(ws, trainer="li")
    assert live_model(ws) == b  # nothing changed


def test_a_missing_model_cannot_be_activated_and_a_deleted_live_one_is_not_served(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with pytest.raises(FileNotFoundError):
        activate(ws, ws.candidates_dir / "nope.tar.gz", trainer="li")
    with pytest.raises(ValueError):
        activate(ws, _model(ws, "a"), trainer=" ")
    activate(ws, ws.candidates_dir / "a.tar.gz", trainer="li")
    (ws.candidates_dir / "a.tar.gz").unlink()
    assert active(ws) is not None and live_model(ws) is None


def test_serving_model_falls_back_to_the_newest_model_trained_from_data(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    assert serving_model(ws) is None
    ws.models_dir.mkdir(parents=True)
    old, new = ws.models_dir / "complaint-1.tar.gz", ws.models_dir / "complaint-2.tar.gz"
    old.write_bytes(b"1")
    new.write_bytes(b"2")
    import os

    os.utime(old, (1, 1))
    assert serving_model(ws) == new
    candidate = _model(ws, "c")
    activate(ws, candidate, trainer="li")
    assert serving_model(ws) == candidate


def test_a_failed_write_leaves_the_old_pointer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(tmp_path)
    activate(ws, _model(ws, "a"), trainer="li")
    before = ws.active_file.read_text(encoding="utf-8")

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("bot.trainer.examples.os.replace", crash)
    with pytest.raises(OSError):
        activate(ws, _model(ws, "b"), trainer="li")
    assert ws.active_file.read_text(encoding="utf-8") == before
    assert [p.name for p in ws.models_dir.iterdir() if p.name.startswith(".active")] == []


def _activate_many(root: str, names: list[str]) -> None:
    ws = Workspace(Path(root))
    for name in names:
        activate(ws, ws.candidates_dir / f"{name}.tar.gz", trainer=name)


def test_concurrent_activations_keep_every_entry(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    names = [f"m{i}" for i in range(8)]
    for name in names:
        _model(ws, name)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_activate_many, args=(str(tmp_path), names[i::2])) for i in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    stored = json.loads(ws.active_file.read_text(encoding="utf-8"))
    seen = [stored["activated_by"]] + [entry["activated_by"] for entry in stored["history"]]
    assert sorted(seen) == sorted(names)
    assert models.HISTORY_LIMIT >= len(names)


def test_make_run_serves_the_active_model_and_says_how_to_go_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tools import devstack

    ws = Workspace(tmp_path)
    monkeypatch.setenv("TRAINER_ROOT", str(tmp_path))
    monkeypatch.setattr(devstack, "ensure_model", lambda force=False: Path("/trained/from/data.tar.gz"))
    assert devstack.run_model() == Path("/trained/from/data.tar.gz")
    activate(ws, _model(ws, "a"), trainer="li")
    assert devstack.run_model() == ws.candidates_dir / "a.tar.gz"
    out = capsys.readouterr().out
    assert "models/candidates/a.tar.gz" in out and f"delete {ws.active_file}" in out
