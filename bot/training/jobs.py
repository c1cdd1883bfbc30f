"""Training jobs of the trainers' workbench: one button, a model trained in the background with
its progress, compared with the live model when done (issue 11).

A job is one JSON file, ``var/trainer/jobs/<id>.json`` of the workspace (written atomically
under a file lock), and its log ``<id>.log`` beside it. The job::

    {"id": "20261129-234812-1a2b", "trainer": "li", "mode": "finetune" | "full",
     "status": "queued" | "training" | "evaluating" | "ready" | "failed" | "discarded" | "activated",
     "progress": {"stage": "排队" | "读取数据" | "训练 NLU" | "训练对话" | "评估" | "完成" | "失败", "percent": 0-100},
     "created": <Unix seconds>, "finished": <Unix seconds> | null,
     "model": "models/candidates/trainer-<id>.tar.gz" | null,        # relative to the workspace
     "base_model": <the live model it was fine-tuned from and compared with> | null,
     "error": <one line for the trainer> | null, "log_tail": [<last log lines, PII masked>],
     "timings": {"train_seconds": float | null, "evaluate_seconds": float | null},
     "comparison": <bot.training.compare.compare's result> | null,
     "fallback_reason": <why a fine-tune ran as full training> | null,
     "requested_mode": <the mode asked for>, "epoch_fraction": float | null,
     "pid": <the runner's process id> | null, "by": {"discarded"|"activated": <trainer>} }

:func:`start` writes the job ("queued") and spawns ``python -m bot.training.jobs run <root> <id>``
detached (its own session, so a server restart does not kill it); the runner (:func:`run`) calls
``rasa train`` (with ``--finetune <live model> --epoch-fraction F`` in "finetune" mode), reads its
output for the progress, then compares the candidate with the live model in its own process
(:func:`bot.training.compare.compare`) and marks the job "ready". Only one job runs at a time.
"""

from __future__ import annotations

import argparse
import codecs
import os
import re
import secrets
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock

from bot.privacy import mask_pii
from bot.trainer.processes import process_alive
from bot.trainer.workspace import Workspace
from bot.training import compare as comparing
from bot.training.files import code_root, read_json, write_json_atomically
from bot.training.models import serving_model

MODES = ("finetune", "full")
RUNNING = ("queued", "training", "evaluating")
EPOCH_FRACTION_ENV = "TRAINER_EPOCH_FRACTION"
DEFAULT_EPOCH_FRACTION = 0.2
"""Fine-tuning runs this fraction of the configured epochs (measured in reports/train_bench.md)."""
QUEUED_GRACE_SECONDS = 60.0
"""A queued job without a process id is not declared dead before this (the spawn is writing it)."""
LOG_TAIL_LINES = 20
_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")
_EPOCHS = re.compile(r"Epochs:\s*(\d+)%\|[^|]*\|\s*(\d+)/(\d+)")
_COMPONENT = re.compile(r"Starting to train component '(\w+)'")
_FINETUNE_REFUSED = ("Cannot finetune", "No model for finetuning found", "minimum compatible Rasa Version")


class JobError(Exception):
    """A job request that cannot be honoured; ``status`` is the HTTP status the API answers with."""

    status = 409


class JobRunning(JobError):
    """Another job is queued, training or evaluating and its process is alive (409); ``job`` is it."""

    def __init__(self, job: dict[str, Any]) -> None:
        super().__init__(f"job {job['id']} of {job['trainer']} is {job['status']}")
        self.job = job


class JobNotFound(JobError, LookupError):
    """No job with that id (404)."""

    status = 404


class JobStateError(JobError):
    """The job is not in a state that allows the request (e.g. discarding an activated one) (409)."""


def jobs_dir(ws: Workspace) -> Path:
    """``var/trainer/jobs`` of the workspace."""
    return ws.var_dir / "jobs"


def _lock(ws: Workspace) -> FileLock:
    jobs_dir(ws).mkdir(parents=True, exist_ok=True)
    return FileLock(str(jobs_dir(ws) / ".lock"), timeout=30)


def _path(ws: Workspace, job_id: str) -> Path:
    if not _ID.match(job_id):
        raise JobNotFound(f"no job {job_id!r}")
    return jobs_dir(ws) / f"{job_id}.json"


def log_path(ws: Workspace, job_id: str) -> Path:
    """The job's log (the runner's and Rasa's output)."""
    return jobs_dir(ws) / f"{job_id}.log"


def new_id(clock: Callable[[], float] = time.time) -> str:
    """A time-sortable id: ``YYYYMMDD-HHMMSS-xxxx`` (UTC, 4 random hex digits)."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(clock())) + "-" + secrets.token_hex(2)


def _reconcile(ws: Workspace, job: dict[str, Any], now: float) -> dict[str, Any]:
    """Marks a running job whose process is gone as failed (called under the lock)."""
    if job.get("status") not in RUNNING:
        return job
    if job.get("pid") is None and now - float(job.get("created") or 0) < QUEUED_GRACE_SECONDS:
        return job
    if process_alive(job.get("pid")):
        return job
    job = {
        **job,
        "status": "failed",
        "progress": {"stage": "失败", "percent": job.get("progress", {}).get("percent", 0)},
        "error": "训练进程意外停止 (the training process stopped without finishing)",
        "finished": now,
        "log_tail": _tail(log_path(ws, job["id"])),
    }
    write_json_atomically(_path(ws, job["id"]), job)
    return job


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NOISE = re.compile(r"^(\s|Traceback|<frozen)|Warning\b|warnings\.warn")


def log_tail(text: str, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of a log worth showing a trainer (pure): colour codes removed,
    Python warnings and traceback lines (indented, "Traceback …") left out, PII masked, each
    line cut at 300 characters."""
    parts = [_ANSI.sub("", p).rstrip() for p in re.split(r"[\r\n]+", text)]
    parts = [p for p in parts if p.strip() and not _NOISE.search(p)]
    return [mask_pii(p)[:300] for p in parts[-lines:]]


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        return log_tail(path.read_text(encoding="utf-8", errors="replace"), lines)
    except FileNotFoundError:
        return []


def _read_unlocked(ws: Workspace, job_id: str) -> dict[str, Any]:
    job = read_json(_path(ws, job_id))
    if not isinstance(job, dict):
        raise JobNotFound(f"no job {job_id!r}")
    return job


def read(ws: Workspace, job_id: str) -> dict[str, Any]:
    """The job (see the module docstring); a running job whose process died is marked failed first.

    Raises:
        JobNotFound: no such job (or a malformed id).
    """
    with _lock(ws):
        return _reconcile(ws, _read_unlocked(ws, job_id), time.time())


def _all_unlocked(ws: Workspace) -> list[dict[str, Any]]:
    now = time.time()
    jobs = []
    for path in jobs_dir(ws).glob("*.json"):
        job = read_json(path)
        if isinstance(job, dict) and _ID.match(str(job.get("id", ""))):
            jobs.append(_reconcile(ws, job, now))
    return sorted(jobs, key=lambda j: (float(j.get("created") or 0), j["id"]), reverse=True)


def list_jobs(ws: Workspace) -> list[dict[str, Any]]:
    """Every job, newest first (dead running jobs marked failed)."""
    with _lock(ws):
        return _all_unlocked(ws)


def update(ws: Workspace, job_id: str, **changes: Any) -> dict[str, Any]:
    """Merges ``changes`` into the job and writes it atomically under the lock; returns the job.

    Raises:
        JobNotFound: no such job.
    """
    with _lock(ws):
        job = {**_read_unlocked(ws, job_id), **changes}
        write_json_atomically(_path(ws, job_id), job)
        return job


def runner_command(ws: Workspace, job_id: str) -> list[str]:
    """The detached process :func:`start` spawns (replaced in tests)."""
    return [sys.executable, "-m", "bot.training.jobs", "run", str(ws.root), job_id]


def child_env() -> dict[str, str]:
    """The environment of the runner and of ``rasa train``: telemetry off, quiet TensorFlow,
    ``PYTHONPATH`` = the code root first (the folder holding ``bot/``)."""
    env = dict(os.environ)
    path = [str(code_root())] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env.update(
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        PYTHONWARNINGS="ignore",
        PYTHONPATH=os.pathsep.join(dict.fromkeys(path)),
    )
    return env


def start(
    ws: Workspace,
    *,
    trainer: str,
    mode: str,
    epoch_fraction: float | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Creates a job ("queued") and spawns its runner in the background; returns the job.

    Args:
        trainer: who started it.
        mode: "finetune" (from the live model, ``epoch_fraction`` of the configured epochs;
            falls back to full training when Rasa cannot fine-tune) or "full".
        epoch_fraction: 0 < F <= 1; default ``TRAINER_EPOCH_FRACTION`` or 0.2.

    Raises:
        ValueError: unknown mode, empty trainer, fraction outside (0, 1] (422).
        JobRunning: another job is queued, training or evaluating and its process is alive
            (a job whose process died is marked failed instead).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if not trainer.strip():
        raise ValueError("a trainer name is required")
    fraction = float(epoch_fraction or os.environ.get(EPOCH_FRACTION_ENV) or DEFAULT_EPOCH_FRACTION)
    if not 0 < fraction <= 1:
        raise ValueError(f"the epoch fraction must be in (0, 1], not {fraction}")
    with _lock(ws):
        for other in _all_unlocked(ws):
            if other["status"] in RUNNING:
                raise JobRunning(other)
        job_id = new_id(clock)
        job: dict[str, Any] = {
            "id": job_id,
            "trainer": trainer.strip(),
            "mode": mode,
            "requested_mode": mode,
            "epoch_fraction": fraction if mode == "finetune" else None,
            "status": "queued",
            "progress": {"stage": "排队", "percent": 0},
            "created": clock(),
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
        write_json_atomically(_path(ws, job_id), job)
    with log_path(ws, job_id).open("ab") as log:
        process = subprocess.Popen(
            runner_command(ws, job_id),
            cwd=ws.root,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return update(ws, job_id, pid=process.pid)


def discard(ws: Workspace, job_id: str, trainer: str) -> dict[str, Any]:
    """Throws a finished candidate away: status "discarded", its model file deleted.

    Raises:
        JobNotFound: no such job.
        JobStateError: the job is still running, or was activated (roll back instead).
    """
    with _lock(ws):
        job = _reconcile(ws, _read_unlocked(ws, job_id), time.time())
        if job["status"] in RUNNING or job["status"] == "activated":
            raise JobStateError(f"job {job_id} is {job['status']}; only a ready or failed job can be discarded")
        if job.get("model"):
            (ws.root / job["model"]).unlink(missing_ok=True)
        job = {**job, "status": "discarded", "by": {**(job.get("by") or {}), "discarded": trainer}}
        write_json_atomically(_path(ws, job_id), job)
        return job


def mark_activated(ws: Workspace, job_id: str, trainer: str) -> dict[str, Any]:
    """Records that the job's candidate went live (call after :func:`bot.training.models.activate`).

    Raises:
        JobNotFound: no such job.
        JobStateError: the job is not "ready" (or already "activated": then a no-op returning it).
    """
    with _lock(ws):
        job = _read_unlocked(ws, job_id)
        if job["status"] == "activated":
            return job
        if job["status"] != "ready":
            raise JobStateError(f"job {job_id} is {job['status']}; only a ready job can be activated")
        job = {**job, "status": "activated", "by": {**(job.get("by") or {}), "activated": trainer}}
        write_json_atomically(_path(ws, job_id), job)
        return job


# ---- the runner (in the detached process) ----


def parse_progress(line: str, progress: dict[str, Any]) -> dict[str, Any]:
    """The progress after one line of ``rasa train`` output (pure; ``progress`` is not changed).

    Stages: a component starting to train ("Starting to train component 'X'") sets "训练对话"
    for policies (``*Policy``) and "训练 NLU" otherwise; DIET's epoch bar ("Epochs:  45%|…| 18/40")
    in the NLU stage moves the percent from 10 to 85; "Your Rasa model is trained" means 90.
    The percent never goes down.
    """
    stage, percent = progress.get("stage", "读取数据"), int(progress.get("percent", 0))
    found = _COMPONENT.search(line)
    if found:
        stage = "训练对话" if found.group(1).endswith("Policy") else "训练 NLU"
        percent = max(percent, 10 if stage == "训练 NLU" else percent)
    epochs = _EPOCHS.search(line)
    if epochs and stage == "训练 NLU":
        done, total = int(epochs.group(2)), int(epochs.group(3))
        if total:
            percent = max(percent, 10 + int(75 * done / total))
    if "Your Rasa model is trained" in line:
        percent = max(percent, 90)
    return {"stage": stage, "percent": min(percent, 99)}


def train_command(ws: Workspace, out_name: str, base: Path | None, fraction: float | None) -> list[str]:
    """``rasa train`` for the workspace (``--finetune base --epoch-fraction F`` when ``base``)."""
    command = [sys.executable, "-m", "rasa", "train", "--data", str(ws.data_dir), "--domain", str(ws.domain)]
    command += ["--config", str(ws.config), "--out", str(ws.candidates_dir), "--fixed-model-name", out_name]
    if base is not None:
        command += ["--finetune", str(base), "--epoch-fraction", str(fraction or DEFAULT_EPOCH_FRACTION)]
    return command


_recent: deque[str] = deque(maxlen=400)
"""The runner's recent output lines (the job's ``log_tail`` is taken from them)."""


def _say(message: str) -> None:
    print(message, flush=True)
    _recent.append(message)


def _train(ws: Workspace, job_id: str, command: list[str]) -> tuple[int, list[str]]:
    """Runs the training command, echoing its output to our log and the progress to the job.
    Returns the exit code and the last 400 output lines (for the refusal check and the tail)."""
    _say("==> " + " ".join(command))
    process = subprocess.Popen(
        command,
        cwd=ws.root,
        env=child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines: deque[str] = deque(maxlen=400)
    progress: dict[str, Any] = {"stage": "读取数据", "percent": 5}
    update(ws, job_id, progress=progress)
    written, pending = time.monotonic(), ""
    while chunk := os.read(process.stdout.fileno(), 65536):
        sys.stdout.write(text := decoder.decode(chunk))
        sys.stdout.flush()
        pending += text
        *complete, pending = re.split(r"[\r\n]", pending)
        for line in complete:
            if line.strip():
                lines.append(line)
                _recent.append(line)
                progress = parse_progress(line, progress)
        if time.monotonic() - written > 1.0:
            update(ws, job_id, progress=progress)
            written = time.monotonic()
    if pending.strip():
        lines.append(pending)
        _recent.append(pending)
    update(ws, job_id, progress=progress)
    return process.wait(), list(lines)


def _link_code(ws: Workspace) -> None:
    """config.yml names resources relative to the working directory (``bot/language/resources/jieba``):
    a workspace outside the checkout gets a ``bot`` link to the code."""
    link, code = ws.root / "bot", code_root() / "bot"
    if not link.exists() and ws.root.resolve() != code_root():
        link.symlink_to(code, target_is_directory=True)
        _say(f"==> linked {link} -> {code} (resources named relative to the project root)")


def _relative(ws: Workspace, path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ws.root))
    except ValueError:
        return str(path)


def run(ws: Workspace, job_id: str, clock: Callable[[], float] = time.time) -> int:
    """The runner: trains, compares, and marks the job "ready" (0) or "failed" (1).

    Never raises for a training or evaluation failure: the job gets ``error`` (one line) and
    ``log_tail``; the traceback stays in the log.
    """
    job = update(ws, job_id, status="training", pid=os.getpid(), progress={"stage": "读取数据", "percent": 0})
    _recent.clear()
    try:
        _link_code(ws)
        base = serving_model(ws)
        mode, fallback = job["mode"], None
        if mode == "finetune" and base is None:
            mode, fallback = "full", "没有可微调的在线模型，改为完整训练 (no live model to fine-tune from)"
        ws.candidates_dir.mkdir(parents=True, exist_ok=True)
        out = ws.candidates_dir / f"trainer-{job_id}.tar.gz"
        update(ws, job_id, mode=mode, fallback_reason=fallback, base_model=_relative(ws, base) if base else None)
        started = time.monotonic()
        fraction = job.get("epoch_fraction")
        code, lines = _train(
            ws, job_id, train_command(ws, f"trainer-{job_id}", base if mode == "finetune" else None, fraction)
        )
        if mode == "finetune" and (code != 0 or not out.is_file()):
            refusal = next((line.strip() for line in lines if any(r in line for r in _FINETUNE_REFUSED)), None)
            if refusal:
                mode, fallback = "full", f"Rasa 拒绝微调，改为完整训练: {mask_pii(refusal)[:300]}"
                update(ws, job_id, mode=mode, fallback_reason=fallback)
                code, lines = _train(ws, job_id, train_command(ws, f"trainer-{job_id}", None, None))
        train_seconds = round(time.monotonic() - started, 1)
        if code != 0 or not out.is_file():
            return _fail(
                ws, job_id, f"训练失败 (rasa train exited with {code})", clock, {"train_seconds": train_seconds}
            )
        timings = {"train_seconds": train_seconds, "evaluate_seconds": None}
        update(
            ws,
            job_id,
            status="evaluating",
            model=_relative(ws, out),
            timings=timings,
            progress={"stage": "评估", "percent": 90},
        )
        started = time.monotonic()
        _say(f"==> comparing {out.name} with {base.name if base else 'no live model'}")
        comparison = comparing.compare(base, out, ws)
        comparing.write_report(ws, job_id, comparison, base, out)
        timings["evaluate_seconds"] = round(time.monotonic() - started, 1)
        update(
            ws,
            job_id,
            status="ready",
            comparison=comparison,
            timings=timings,
            finished=clock(),
            progress={"stage": "完成", "percent": 100},
            log_tail=log_tail("\n".join(_recent)),
        )
        _say(f"==> ready: {out.name} (train {train_seconds} s, evaluate {timings['evaluate_seconds']} s)")
        return 0
    except Exception as error:  # the job must end "failed", whatever broke; the traceback goes to the log
        import traceback

        traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
        return _fail(ws, job_id, f"{type(error).__name__}: {mask_pii(str(error))[:300]}", clock)


def _fail(
    ws: Workspace, job_id: str, error: str, clock: Callable[[], float], timings: dict[str, Any] | None = None
) -> int:
    _say(f"==> failed: {error}")
    job = _read_unlocked(ws, job_id)
    changes: dict[str, Any] = {
        "status": "failed",
        "error": error,
        "finished": clock(),
        "progress": {"stage": "失败", "percent": job.get("progress", {}).get("percent", 0)},
        "log_tail": log_tail("\n".join(_recent)),
    }
    if timings:
        changes["timings"] = {**job.get("timings", {}), **timings}
    update(ws, job_id, **changes)
    return 1


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.training.jobs run <workspace root> <job id>`` (what :func:`start` spawns)."""
    parser = argparse.ArgumentParser(prog="python -m bot.training.jobs")
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser("run", help="run one queued job")
    runner.add_argument("root", type=Path)
    runner.add_argument("job_id")
    args = parser.parse_args(argv)
    return run(Workspace(args.root.resolve()), args.job_id)


if __name__ == "__main__":
    sys.exit(main())
