"""How fast a trainer's correction can go live: full training against fine-tuning (``make bench-train``).

On a temporary copy of the project (data/, domain.yml, config.yml, a ``bot`` link to the code,
the current model and a copy of Rasa's training cache), one new trainer example is saved the way
the workbench saves it, then training jobs run exactly as a trainer's would
(:func:`bot.training.jobs.start`, a detached ``rasa train`` and the comparison with the live
model): fine-tuning from the current model at each epoch fraction, then full training with the
warm cache. Each job is timed (training, evaluation) and scored on the eval sets
(:mod:`bot.training.compare`); the new example is also a trainer test story, so the report says
whether the candidate learned it.

Writes ``reports/train_bench.md`` and ``reports/train_bench.json``.

Usage: python -m tools.bench_train [--fractions 0.2 0.1] [--no-full] [--cache DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.trainer.examples import save_example  # noqa: E402
from bot.trainer.workspace import Workspace  # noqa: E402
from bot.training import jobs  # noqa: E402
from tools.devstack import MODELS, model_fingerprint  # noqa: E402

TARGET_SECONDS = 180.0
NEW_EXAMPLE = ("新买的空气炸锅用了一周 内胆涂层大片起泡脱落", "complaint_product")
"""The correction the bench saves (a product complaint worded unlike the training data)."""


def machine() -> dict[str, Any]:
    """CPU model and count, memory, Python and Rasa versions."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory = next(
        (
            int(line.split()[1]) // 1024 // 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )
    import rasa

    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_average_now": load_average(),
        "memory_gb": memory,
        "python": platform.python_version(),
        "rasa": rasa.__version__,
    }


def prepare(work: Path, cache: Path | None) -> tuple[Workspace, Path]:
    """The copy of the project in ``work`` with the current model and the new example saved.

    Raises:
        SystemExit: no model matches the current inputs (``make train`` first; the bench never
            trains the base model itself).
    """
    base = MODELS / f"complaint-{model_fingerprint()}.tar.gz"
    if not base.is_file():
        raise SystemExit(f"no model for the current inputs ({base.name}): run `make train` first")
    for name in ("domain.yml", "config.yml"):
        shutil.copy(ROOT / name, work / name)
    shutil.copytree(ROOT / "data", work / "data")
    (work / "bot").symlink_to(ROOT / "bot", target_is_directory=True)
    (work / "models").mkdir()
    if base.stat().st_dev == work.stat().st_dev:
        os.link(base, work / "models" / base.name)
    else:
        shutil.copy(base, work / "models" / base.name)
    if cache and cache.is_dir():
        shutil.copytree(cache, work / ".rasa")
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    text, intent = NEW_EXAMPLE
    save_example(
        work / "data",
        trainer="bench",
        text=text,
        intent=intent,
        known_intents=domain["intents"],
        known_entities=[e if isinstance(e, str) else next(iter(e)) for e in domain.get("entities") or []],
    )
    ws = Workspace(work)
    ws.test_stories_dir.mkdir(parents=True)
    story = {"version": "3.1", "stories": [{"story": "bench correction", "steps": [{"user": text, "intent": intent}]}]}
    (ws.test_stories_dir / "test_bench.yml").write_text(yaml.safe_dump(story, allow_unicode=True), encoding="utf-8")
    return ws, base


def load_average() -> float:
    """The 1-minute load average (the machine is shared: other processes slow training down)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def _finish(ws: Workspace, job: dict[str, Any]) -> dict[str, Any]:
    """Adds what the report needs that the job does not hold: its wall time (created → finished)
    and the components Rasa restored from its cache (read from the job's log)."""
    log = jobs.log_path(ws, job["id"]).read_text(encoding="utf-8", errors="replace")
    if job.get("finished") and "wall_seconds" not in job:
        job["wall_seconds"] = round(float(job["finished"]) - float(job["created"]), 1)
    job.setdefault("wall_seconds", None)
    job["restored_from_cache"] = sorted(
        {line.split("'")[1] for line in log.splitlines() if "Restored component '" in line}
    )
    epochs = re.findall(r"Epochs:\s*\d+%\|[^|]*\|\s*(\d+)/(\d+) \[([\d:]+)<", log)
    job["diet_epochs"] = f"{epochs[-1][0]}/{epochs[-1][1]} in {epochs[-1][2]}" if epochs else None
    return job


def run_job(ws: Workspace, mode: str, fraction: float | None) -> dict[str, Any]:
    """Starts a job as a trainer would and waits for it; returns the finished job and its wall time."""
    load_before = load_average()
    started = time.monotonic()
    job = jobs.start(ws, trainer="bench", mode=mode, epoch_fraction=fraction)
    print(f"==> job {job['id']}: {mode} {fraction or ''}", flush=True)
    last = None
    while job["status"] in jobs.RUNNING:
        time.sleep(2)
        job = jobs.read(ws, job["id"])
        if (job["status"], job["progress"]) != last:
            last = (job["status"], job["progress"])
            print(f"    {time.monotonic() - started:6.0f} s  {job['status']}  {job['progress']}", flush=True)
    job["wall_seconds"] = round(time.monotonic() - started, 1)
    job["load_average"] = {"start": load_before, "end": load_average()}
    return _finish(ws, job)


def summary(job: dict[str, Any]) -> dict[str, Any]:
    """One row of the report."""
    sets = {s["name"]: s for s in (job.get("comparison") or {}).get("sets", [])}

    def fig(name: str, side: str, key: str) -> float | None:
        values = sets.get(name, {}).get(side) or {}
        return values.get(key)

    story = sets.get("trainer_stories", {}).get("candidate") or {}
    return {
        "job": job["id"],
        "mode": job["mode"],
        "epoch_fraction": job.get("epoch_fraction") if job["mode"] == "finetune" else None,
        "status": job["status"],
        "error": job.get("error"),
        "fallback_reason": job.get("fallback_reason"),
        "train_seconds": job["timings"].get("train_seconds"),
        "evaluate_seconds": job["timings"].get("evaluate_seconds"),
        "wall_seconds": job["wall_seconds"],
        "meets_target": job["status"] == "ready" and (job["wall_seconds"] or 1e9) <= TARGET_SECONDS,
        "diet_epochs": job.get("diet_epochs"),
        "load_average": job.get("load_average"),
        "dev_macro_f1": {"live": fig("dev", "live", "macro_f1"), "candidate": fig("dev", "candidate", "macro_f1")},
        "dev_urgency_recall": {
            "live": fig("dev", "live", "urgency_recall"),
            "candidate": fig("dev", "candidate", "urgency_recall"),
        },
        "malicious_macro_f1": {
            "live": fig("malicious_cases", "live", "macro_f1"),
            "candidate": fig("malicious_cases", "candidate", "macro_f1"),
        },
        "learned_the_correction": bool(story) and story.get("macro_f1") == 1.0,
        "live_already_read_it_right": (sets.get("trainer_stories", {}).get("live") or {}).get("macro_f1") == 1.0,
        "changed_readings": len((job.get("comparison") or {}).get("changed", [])),
        "restored_from_cache": job["restored_from_cache"],
    }


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def markdown(report: dict[str, Any]) -> str:
    """reports/train_bench.md."""
    m = report["machine"]
    lines = [
        "# Retraining after a trainer's correction: fine-tuning against full training",
        "",
        f"`{report['command']}` on {m['cpus']} × {m['cpu']}, {m['memory_gb']} GB, Python {m['python']}, "
        f"Rasa {m['rasa']}; {report['date']}.",
        "",
        f"Base model `{report['base_model']}` (the model of the current data); one new example saved as a trainer "
        f"would (`{report['new_example'][0]}` → {report['new_example'][1]}). Each row is one training job run as "
        "a trainer's is (detached `rasa train` with Rasa's cache copied from the project, then the comparison "
        "with the live model on the dev set, the bad-faith cases and the trainer's test story). "
        f"Target: live within {TARGET_SECONDS:.0f} s (train + compare; loading the model into the server not counted).",
        "",
        "| mode | epochs | train s | compare s | total s | ≤ 3 min | dev macro-F1 (live → candidate) "
        "| dev urgency recall | malicious macro-F1 | correction learned | readings changed |",
        "|---|---:|---:|---:|---:|:-:|---|---|---|:-:|---:|",
    ]
    for r in report["runs"]:
        epochs = f"{r['epoch_fraction']} × 40" if r["epoch_fraction"] else "40"
        lines.append(
            f"| {r['mode']} | {epochs} | {r['train_seconds']} | {r['evaluate_seconds']} | {r['wall_seconds']} "
            f"| {'yes' if r['meets_target'] else 'no'} "
            f"| {_f(r['dev_macro_f1']['live'])} → {_f(r['dev_macro_f1']['candidate'])} "
            f"| {_f(r['dev_urgency_recall']['live'])} → {_f(r['dev_urgency_recall']['candidate'])} "
            f"| {_f(r['malicious_macro_f1']['live'])} → {_f(r['malicious_macro_f1']['candidate'])} "
            f"| {'yes' if r['learned_the_correction'] else 'no'}"
            f"{' (live too)' if r.get('live_already_read_it_right') else ''} | {r['changed_readings']} |"
        )
    lines.append("")
    lines += [f"{note}\n" for note in report.get("notes") or []]
    for r in report["runs"]:
        notes = []
        if r["fallback_reason"]:
            notes.append(f"fell back to full training: {r['fallback_reason']}")
        if r["error"]:
            notes.append(f"failed: {r['error']}")
        notes.append(f"restored from cache: {', '.join(r['restored_from_cache']) or 'nothing'}")
        if r.get("diet_epochs"):
            notes.append(f"DIET epochs {r['diet_epochs']}")
        if r.get("load_average"):
            notes.append(f"load average {r['load_average']['start']} → {r['load_average']['end']}")
        lines.append(f"- {r['mode']} {r['epoch_fraction'] or ''}: " + "; ".join(notes))
    return "\n".join(lines) + "\n"


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fractions", nargs="*", type=float, default=[0.2, 0.1])
    parser.add_argument("--no-full", action="store_true", help="skip the full training run")
    parser.add_argument("--cache", type=Path, default=ROOT / ".rasa", help="Rasa's cache to copy (default .rasa)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    parser.add_argument("--note", action="append", default=[], help="a paragraph added to the report")
    parser.add_argument(
        "--report-from", type=Path, help="only write the report from the finished jobs of a kept bench project"
    )
    args = parser.parse_args()
    if args.report_from:
        ws = Workspace(args.report_from.resolve())
        finished = [_finish(ws, job) for job in reversed(jobs.list_jobs(ws)) if job["status"] not in jobs.RUNNING]
        base = next(ws.models_dir.glob("complaint-*.tar.gz"))
        write_report(args, finished, base, "python -m tools.bench_train --report-from <kept bench project>")
        return
    work = Path(tempfile.mkdtemp(prefix="train-bench-"))
    try:
        ws, base = prepare(work, args.cache)
        print(f"==> bench project in {work}; base model {base.name}", flush=True)
        runs = [run_job(ws, "finetune", fraction) for fraction in args.fractions]
        if not args.no_full:
            runs.append(run_job(ws, "full", None))
        write_report(args, runs, base, "python -m tools.bench_train " + " ".join(sys.argv[1:]))
    finally:
        if args.keep:
            print(f"==> kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def write_report(args: argparse.Namespace, runs: list[dict[str, Any]], base: Path, command: str) -> None:
    """Writes reports/train_bench.json and .md (into ``args.out``) and prints the Markdown."""
    report = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "base_model": base.name,
        "cache": str(args.cache) if args.cache.is_dir() else None,
        "new_example": list(NEW_EXAMPLE),
        "target_seconds": TARGET_SECONDS,
        "runs": [summary(job) for job in runs],
        "notes": args.note,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_bench.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (args.out / "train_bench.md").write_text(markdown(report), encoding="utf-8")
    print((args.out / "train_bench.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
