"""A candidate model against the live one, on every labelled set we have (issue 11).

The sets, read fresh each time:

- ``dev``: the shared labelled real messages (``TRAINER_EVAL_SET``, else
  ``<code root>/../shared/eval/dev.tsv``; columns ``text``, ``type``, optional ``type2``,
  ``urgent``), skipped when the file is missing. Classes: the complaint types of
  :data:`bot.trainer.scoring.TYPES` (``complaint_<type>``, every other intent "none"); macro-F1
  over product, logistics, service and none, a prediction equal to the secondary type counts as
  right (as ``tools/eval_nlu.py``); urgency recall = "any urgency" recall.
- ``malicious_cases``: ``docs/eval/malicious_cases.tsv`` of the code (ships with the project):
  classes "malicious" and "other"; macro-F1 over both.
- ``trainer_stories``: every user step with an ``intent`` in the trainers' saved test stories
  (``tests/trainer_stories/test_*.yml`` of the workspace): classes are the gold intents.

The result (:func:`compare`)::

    {"sets": [{"name", "size",
               "live": {"per_class": {cls: {"precision", "recall", "f1", "support"}},
                        "macro_f1": float, "urgency_recall": float | None} | None,
               "candidate": {...same...}}],
     "changed": [{"set", "text" (PII masked), "gold", "live", "candidate"}]}   # at most 200

``live`` is None (and ``changed`` empty) when there is no live model. Figures are fractions 0-1.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.privacy import mask_pii
from bot.trainer.examples import plain_text
from bot.trainer.scoring import (
    MACRO_TYPES,
    TYPES,
    any_urgency,
    gold_type,
    macro_f1,
    per_class,
    predicted_type,
    predicted_urgency,
)
from bot.trainer.workspace import Workspace
from bot.training.files import code_root, write_json_atomically

EVAL_SET_ENV = "TRAINER_EVAL_SET"
CHANGED_LIMIT = 200


@dataclass(frozen=True)
class EvalSet:
    """One labelled set: ``kind`` says how a prediction becomes a label ("type", "malicious" or
    "intent"); ``secondary`` (type sets) a second acceptable type per row; ``urgency`` the gold
    urgency per row when the set has one."""

    name: str
    kind: str
    texts: list[str]
    gold: list[str]
    labels: list[str]
    macro_labels: list[str]
    secondary: list[str] | None = None
    urgency: list[str] | None = None


def label_of(kind: str, prediction: dict[str, Any]) -> str:
    """The label a prediction (``{"intent": name | None, "urgency": level}``) gives in a set of ``kind``."""
    if kind == "type":
        return predicted_type(prediction.get("intent"))
    if kind == "malicious":
        return "malicious" if predicted_type(prediction.get("intent")) == "malicious" else "other"
    return str(prediction.get("intent") or "none")


def score_set(eval_set: EvalSet, predictions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``{"per_class", "macro_f1", "urgency_recall"}`` of one model on one set (pure).

    Args:
        predictions: one ``{"intent", "urgency"}`` per text, in order.

    Raises:
        ValueError: not one prediction per text.
    """
    if len(predictions) != len(eval_set.texts):
        raise ValueError(f"{len(predictions)} predictions for {len(eval_set.texts)} texts of {eval_set.name}")
    pred = [label_of(eval_set.kind, p) for p in predictions]
    gold = list(eval_set.gold)
    if eval_set.secondary is not None:
        gold = [gold_type(g, s, p) for g, s, p in zip(gold, eval_set.secondary, pred)]
    urgency_recall = None
    if eval_set.urgency is not None:
        urgency_recall = any_urgency(eval_set.urgency, [str(p.get("urgency") or "none") for p in predictions])["recall"]
    return {
        "per_class": per_class(gold, pred, eval_set.labels),
        "macro_f1": macro_f1(gold, pred, eval_set.macro_labels),
        "urgency_recall": urgency_recall,
    }


def compare_predictions(
    sets: Sequence[EvalSet],
    live: Sequence[Sequence[dict[str, Any]]] | None,
    candidate: Sequence[Sequence[dict[str, Any]]],
) -> dict[str, Any]:
    """The comparison of two models' predictions on ``sets`` (pure; see the module docstring for
    the shape, without the model names). ``live`` is None when there is no live model."""
    out_sets: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for index, eval_set in enumerate(sets):
        out_sets.append(
            {
                "name": eval_set.name,
                "size": len(eval_set.texts),
                "live": score_set(eval_set, live[index]) if live is not None else None,
                "candidate": score_set(eval_set, candidate[index]),
            }
        )
        if live is None:
            continue
        for text, gold, old, new in zip(eval_set.texts, eval_set.gold, live[index], candidate[index]):
            before, after = label_of(eval_set.kind, old), label_of(eval_set.kind, new)
            if before != after and len(changed) < CHANGED_LIMIT:
                changed.append(
                    {"set": eval_set.name, "text": mask_pii(text), "gold": gold, "live": before, "candidate": after}
                )
    return {"sets": out_sets, "changed": changed}


def _tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def dev_set_path() -> Path:
    """``TRAINER_EVAL_SET``, else ``<code root>/../shared/eval/dev.tsv`` (may not exist)."""
    return Path(os.environ.get(EVAL_SET_ENV) or code_root().parent / "shared" / "eval" / "dev.tsv")


def story_steps(path: Path) -> list[tuple[str, str]]:
    """``(text, intent)`` of every user step with an intent in one Rasa test-stories file
    (entity markup removed from the text)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    steps = []
    for story in data.get("stories") or []:
        for step in (story or {}).get("steps") or []:
            if isinstance(step, dict) and step.get("user") and step.get("intent"):
                steps.append((plain_text(str(step["user"]).strip()), str(step["intent"])))
    return steps


def load_sets(ws: Workspace) -> list[EvalSet]:
    """Every set that exists now (dev, malicious cases, trainers' test stories), non-empty only.

    Raises:
        yaml.YAMLError, KeyError: a set's file is malformed.
    """
    sets = []
    dev = dev_set_path()
    if dev.is_file():
        rows = _tsv(dev)
        sets.append(
            EvalSet(
                name="dev",
                kind="type",
                texts=[r["text"] for r in rows],
                gold=[r["type"] for r in rows],
                labels=list(TYPES),
                macro_labels=list(MACRO_TYPES),
                secondary=[r.get("type2") or "" for r in rows],
                urgency=[r.get("urgent") or "none" for r in rows],
            )
        )
    malicious = code_root() / "docs" / "eval" / "malicious_cases.tsv"
    if malicious.is_file():
        rows = _tsv(malicious)
        sets.append(
            EvalSet(
                name="malicious_cases",
                kind="malicious",
                texts=[r["text"] for r in rows],
                gold=["malicious" if r["label"] == "malicious" else "other" for r in rows],
                labels=["malicious", "other"],
                macro_labels=["malicious", "other"],
            )
        )
    steps = [step for path in sorted(ws.test_stories_dir.glob("test_*.yml")) for step in story_steps(path)]
    if steps:
        intents = sorted({intent for _, intent in steps})
        sets.append(
            EvalSet(
                name="trainer_stories",
                kind="intent",
                texts=[text for text, _ in steps],
                gold=[intent for _, intent in steps],
                labels=intents,
                macro_labels=intents,
            )
        )
    return [s for s in sets if s.texts]


async def _predict(model: Path, sets: Sequence[EvalSet]) -> list[list[dict[str, Any]]]:
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    # Rasa logs every parse (with the customer's text) at debug level: keep the job's log quiet.
    configure_structlog(logging.WARNING)
    logging.getLogger("rasa").setLevel(logging.WARNING)

    agent = Agent.load(str(model))
    results = []
    for eval_set in sets:
        predictions = []
        for text in eval_set.texts:
            parsed = await agent.parse_message(text)
            intent = parsed.get("intent") or {}
            predictions.append(
                {"intent": intent.get("name"), "urgency": predicted_urgency(list(parsed.get("entities") or []))}
            )
        results.append(predictions)
    return results


def _cache_key(model: Path, sets: Sequence[EvalSet]) -> str:
    stat = model.stat()
    digest = hashlib.sha256(f"{model.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    for eval_set in sets:
        digest.update(json.dumps([eval_set.name, eval_set.texts], ensure_ascii=False).encode())
    return digest.hexdigest()[:24]


def predict(model: Path, sets: Sequence[EvalSet], cache_dir: Path | None = None) -> list[list[dict[str, Any]]]:
    """Every text of every set parsed by ``model`` (loaded once, in this process; tens of seconds
    for the real model): one ``{"intent", "urgency"}`` per text.

    With ``cache_dir``, the predictions are kept there by model file (path, size, modification
    time) and texts, so the live model — the candidate of an earlier job — is not loaded again.
    """
    cached = cache_dir / f"{_cache_key(model, sets)}.json" if cache_dir else None
    if cached is not None and cached.is_file():
        return list(json.loads(cached.read_text(encoding="utf-8")))
    predictions = asyncio.run(_predict(model, sets))
    if cached is not None:
        write_json_atomically(cached, predictions)
    return predictions


def compare(live: Path | None, candidate: Path, ws: Workspace) -> dict[str, Any]:
    """Loads each model with Rasa in this process and scores both on every set (module docstring).
    Predictions are cached in ``var/trainer/predictions`` (:func:`predict`).

    Raises:
        Whatever Rasa raises for a model that cannot be loaded.
    """
    sets = load_sets(ws)
    cache = ws.var_dir / "predictions"
    candidate_predictions = predict(candidate, sets, cache)
    live_predictions = predict(live, sets, cache) if live is not None else None
    return compare_predictions(sets, live_predictions, candidate_predictions)


def markdown(comparison: dict[str, Any], title: str, live: str | None = None, candidate: str | None = None) -> str:
    """A short Markdown summary of a comparison: macro-F1 and urgency recall per set, live and
    candidate, and the first changed readings."""

    def figure(side: dict[str, Any] | None, key: str) -> str:
        value = side.get(key) if side else None
        return "—" if value is None else f"{value:.3f}"

    lines = [f"# {title}", "", f"Live: `{live or 'none'}`; candidate: `{candidate}`.", ""]
    lines += ["| set | size | macro-F1 live | macro-F1 candidate | urgency recall live | urgency recall candidate |"]
    lines += ["|---|---:|---:|---:|---:|---:|"]
    for s in comparison["sets"]:
        lines.append(
            f"| {s['name']} | {s['size']} | {figure(s['live'], 'macro_f1')} | {figure(s['candidate'], 'macro_f1')} "
            f"| {figure(s['live'], 'urgency_recall')} | {figure(s['candidate'], 'urgency_recall')} |"
        )
    changed = comparison["changed"]
    lines += ["", f"{len(changed)} reading(s) changed (at most {CHANGED_LIMIT} listed in the JSON)."]
    for c in changed[:20]:
        lines.append(f"- [{c['set']}] gold {c['gold']}: {c['live']} → {c['candidate']}: {c['text'][:80]}")
    return "\n".join(lines) + "\n"


def write_report(
    ws: Workspace, job_id: str, comparison: dict[str, Any], live: Path | None, candidate: Path
) -> tuple[Path, Path]:
    """Writes ``reports/trainer/<job>.json`` (the comparison plus ``live_model`` and
    ``candidate_model`` paths) and ``<job>.md`` of the workspace; returns both paths."""
    json_path = ws.reports_dir / f"{job_id}.json"
    md_path = ws.reports_dir / f"{job_id}.md"
    names = {"live_model": str(live) if live else None, "candidate_model": str(candidate)}
    write_json_atomically(json_path, {**names, **comparison})
    title = f"Training job {job_id}: candidate against the live model"
    md_path.write_text(markdown(comparison, title, names["live_model"], str(candidate)), encoding="utf-8")
    return json_path, md_path
