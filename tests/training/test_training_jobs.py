"""Training jobs: the lifecycle (with a stand-in for rasa train), progress read from Rasa's
output, the fall-back from fine-tuning to full training, and what a trainer may do with a job."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.trainer.workspace import Workspace
from bot.training import jobs
from bot.training.jobs import JobNotFound, JobRunning, JobStateError
from bot.training.models import activate

# What rasa train 3.6 prints, as read from a real run (tests/training/test_training_integration.py).
RASA_LINES = [
    "2026-11-29 23:51:53 INFO     rasa.engine.training.hooks  - Starting to train component 'JiebaTokenizer'.",
    "2026-11-29 23:51:54 INFO     rasa.engine.training.hooks  - Starting to train component 'DIETClassifier'.",
    "Epochs:   0%|          | 0/40 [00:00<?, ?it/s]",
    "Epochs:  50%|█████     | 20/40 [01:08<01:08,  3.70s/it, t_loss=5.69, i_acc=0.81]",
    "Epochs: 100%|██████████| 40/40 [02:08<00:00,  3.71s/it, t_loss=1.22, i_acc=0.97]",
    "2026-11-29 23:52:04 INFO     rasa.engine.training.hooks  - Starting to train component 'RulePolicy'.",
    "Your Rasa model is trained and saved at 'models/candidates/trainer-x.tar.gz'.",
]


def test_progress_follows_the_components_and_diet_epochs() -> None:
    progress: dict[str, Any] = {"stage": "读取数据", "percent": 5}
    seen = []
    for line in RASA_LINES:
        progress = jobs.parse_progress(line, progress)
        seen.append((progress["stage"], progress["percent"]))
    assert seen == [
        ("训练 NLU", 10),
        ("训练 NLU", 10),
        ("训练 NLU", 10),
        ("训练 NLU", 47),
        ("训练 NLU", 85),
        ("训练对话", 85),
        ("训练对话", 90),
    ]
    # a policy's epochs (TED) do not move the NLU percent; the percent never goes down
    assert jobs.parse_progress("Epochs:  10%|█| 1/10", {"stage": "训练对话", "percent": 85})["percent"] == 85


def test_the_log_tail_leaves_out_warnings_tracebacks_and_personal_data() -> None:
    log = (
        "\x1b[93m/x/slot_mappings.py:224: UserWarning: Slot auto-fill has been removed\n"
        "  rasa.shared.utils.io.raise_warning(\n\x1b[0m"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1\n'
        "InvalidConfigException: Cannot finetune because more than just the 'epoch' keys changed\n"
        "客户电话 13812345678 说东西坏了\n"
    )
    tail = jobs.log_tail(log)
    assert tail[0].startswith("InvalidConfigException: Cannot finetune")
    assert len(tail) == 2 and "13812345678" not in tail[1]


def _fake_rasa(script: str) -> list[str]:
    return [sys.executable, "-c", script]


def _fake_train(succeed_when_finetuning: bool = True, fail: bool = False):  # type: ignore[no-untyped-def]
    """A train_command stand-in: prints Rasa's lines and writes the model (or refuses / fails)."""

    def command(ws: Workspace, out_name: str, base: Path | None, fraction: float | None) -> list[str]:
        out = ws.candidates_dir / f"{out_name}.tar.gz"
        lines = "\n".join(RASA_LINES)
        if fail:
            return _fake_rasa(f"print({lines!r}.splitlines()[0]); print('OSError: disk full'); raise SystemExit(1)")
        if base is not None and not succeed_when_finetuning:
            return _fake_rasa(
                "print('InvalidConfigException: Cannot finetune because NLU training data contains new labels'); "
                "raise SystemExit(1)"
            )
        return _fake_rasa(f"import pathlib; print({lines!r}, flush=True); pathlib.Path({str(out)!r}).write_text('m')")

    return command


COMPARISON = {"sets": [], "changed": []}


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setattr(jobs.comparing, "compare", lambda live, candidate, ws: COMPARISON)
    (tmp_path / "bot").mkdir()  # no link to the code needed
    return Workspace(tmp_path)


def _queued(ws: Workspace, mode: str = "full") -> dict[str, Any]:
    """A job written as start() writes it, without spawning the runner."""
    job_id = jobs.new_id()
    job = {
        "id": job_id,
        "trainer": "li",
        "mode": mode,
        "requested_mode": mode,
        "epoch_fraction": 0.2 if mode == "finetune" else None,
        "status": "queued",
        "progress": {"stage": "排队", "percent": 0},
        "created": time.time(),
        "finished": None,
        "model": None,
        "base_model": None,
        "error": None,
        "log_tail": [],
        "timings": {"train_seconds": None, "evaluate_seconds": None},
        "comparison": None,
        "fallback_reason": None,
        "pid": None,
        "by": {},
    }
    jobs.write_json_atomically(jobs.jobs_dir(ws) / f"{job_id}.json", job)
    return job


def test_the_runner_trains_compares_and_makes_the_job_ready(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "train_command", _fake_train())
    job = _queued(ws)
    assert jobs.run(ws, job["id"], clock=lambda: 500.0) == 0
    done = jobs.read(ws, job["id"])
    assert done["status"] == "ready" and done["progress"] == {"stage": "完成", "percent": 100}
    assert done["model"] == f"models/candidates/trainer-{job['id']}.tar.gz" and (ws.root / done["model"]).is_file()
    assert done["comparison"] == COMPARISON and done["finished"] == 500.0 and done["error"] is None
    assert done["timings"]["train_seconds"] is not None and done["timings"]["evaluate_seconds"] is not None
    assert (ws.reports_dir / f"{job['id']}.json").is_file() and (ws.reports_dir / f"{job['id']}.md").is_file()
    assert done["log_tail"][-1].startswith("==> comparing " + Path(done["model"]).name)


def test_finetuning_without_a_live_model_trains_in_full_and_says_why(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "train_command", _fake_train())
    job = _queued(ws, "finetune")
    assert jobs.run(ws, job["id"]) == 0
    done = jobs.read(ws, job["id"])
    assert done["mode"] == "full" and done["requested_mode"] == "finetune"
    assert "no live model" in done["fallback_reason"] and done["base_model"] is None


def test_a_refused_finetune_falls_back_to_full_training(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    live = ws.candidates_dir / "live.tar.gz"
    live.parent.mkdir(parents=True)
    live.write_text("m")
    activate(ws, live, trainer="li")
    calls: list[Path | None] = []
    fake = _fake_train(succeed_when_finetuning=False)

    def recording(ws: Workspace, out_name: str, base: Path | None, fraction: float | None) -> list[str]:
        calls.append(base)
        return fake(ws, out_name, base, fraction)

    monkeypatch.setattr(jobs, "train_command", recording)
    job = _queued(ws, "finetune")
    assert jobs.run(ws, job["id"]) == 0
    done = jobs.read(ws, job["id"])
    assert calls == [live, None]
    assert done["status"] == "ready" and done["mode"] == "full"
    assert "Cannot finetune" in done["fallback_reason"] and done["base_model"] == "models/candidates/live.tar.gz"


def test_a_failed_training_ends_failed_with_one_line_and_the_log_tail(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "train_command", _fake_train(fail=True))
    job = _queued(ws)
    assert jobs.run(ws, job["id"]) == 1
    done = jobs.read(ws, job["id"])
    assert done["status"] == "failed" and done["progress"]["stage"] == "失败"
    assert done["error"] == "训练失败 (rasa train exited with 1)"
    assert "OSError: disk full" in done["log_tail"]
    with pytest.raises(JobStateError):
        jobs.mark_activated(ws, job["id"], "li")
    assert jobs.discard(ws, job["id"], "li")["status"] == "discarded"


def test_an_evaluation_error_fails_the_job_without_a_traceback(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "train_command", _fake_train())

    def broken(live: Path | None, candidate: Path, ws: Workspace) -> dict[str, Any]:
        raise RuntimeError("model could not be loaded")

    monkeypatch.setattr(jobs.comparing, "compare", broken)
    job = _queued(ws)
    assert jobs.run(ws, job["id"]) == 1
    done = jobs.read(ws, job["id"])
    assert done["status"] == "failed" and done["error"] == "RuntimeError: model could not be loaded"
    assert not any(line.startswith("Traceback") for line in done["log_tail"])


def test_start_spawns_one_job_at_a_time_and_a_dead_one_is_marked_failed(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "runner_command", lambda ws, job_id: _fake_rasa("import time; time.sleep(1.5)"))
    with pytest.raises(ValueError):
        jobs.start(ws, trainer="li", mode="quick")
    with pytest.raises(ValueError):
        jobs.start(ws, trainer="li", mode="finetune", epoch_fraction=1.5)
    first = jobs.start(ws, trainer="li", mode="finetune")
    assert first["status"] == "queued" and first["pid"] and first["epoch_fraction"] == 0.2
    with pytest.raises(JobRunning) as refused:
        jobs.start(ws, trainer="wang", mode="full")
    assert refused.value.job["id"] == first["id"]
    deadline = time.monotonic() + 20
    while jobs.process_alive(first["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    # the stand-in never reported back: its job is failed, and a new one may start
    dead = jobs.read(ws, first["id"])
    assert dead["status"] == "failed" and "stopped" in dead["error"]
    second = jobs.start(ws, trainer="wang", mode="full")
    assert [j["id"] for j in jobs.list_jobs(ws)] == [second["id"], first["id"]]


def test_activate_and_discard_follow_the_jobs_state(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "train_command", _fake_train())
    job = _queued(ws)
    with pytest.raises(JobStateError):
        jobs.discard(ws, job["id"], "li")  # still queued (and within its grace period)
    jobs.run(ws, job["id"])
    assert jobs.mark_activated(ws, job["id"], "li")["by"] == {"activated": "li"}
    with pytest.raises(JobStateError):
        jobs.discard(ws, job["id"], "li")
    other = _queued(ws)
    jobs.run(ws, other["id"])
    model = ws.root / jobs.read(ws, other["id"])["model"]
    assert jobs.discard(ws, other["id"], "wang")["status"] == "discarded" and not model.exists()
    with pytest.raises(JobNotFound):
        jobs.read(ws, "../../etc/passwd")
