"""Measures the NLU on real customer messages.

Two sets, both kept out of training:

* ``../shared/eval/dev.tsv``: 448 real messages labelled by two annotators (type, secondary
  type, urgency). Macro-F1 over product, logistics, service and none; urgency recall and
  precision.
* ``docs/eval/cause_labels_heldout.tsv``: our own two-pass labels (type, secondary type, cause,
  urgency) of 357 messages sampled from ``../shared/corpora``, which nobody read while writing
  data or rules: the honest figure for the cause (the ``complaint_cause`` entity) and a second
  measure of the type.
* ``docs/eval/cause_labels.tsv``: 408 more messages labelled the same way, which we used to
  write the cause patterns (so its cause figure is optimistic).

* ``docs/eval/malicious_cases.tsv``: our own sentences (never in training): 29 in bad faith
  (extortion, off-platform payment with a claim, admitted fake claims) and 27 that only look
  like it (QQ, WeChat, 投诉, 差评, a regulator or a lawyer mentioned in an ordinary complaint, a
  refund asked under the threat of a bad review): malicious precision and recall.

The corpus label files hold ids and labels only; the texts are read from the corpora at evaluation
time (they are not ours to commit). How they were made: ``docs/eval/README.md``.

Writes ``reports/nlu_eval.md`` and ``reports/nlu_eval.json`` (figures, committed) and
``reports/nlu_confusion.png``; the misread texts go to ``reports/nlu_errors.md``
(git-ignored: the corpora are not ours to redistribute).

Usage: python tools/eval_nlu.py [--model models/x.tar.gz] [--data dev.tsv] [--cause-set labels.tsv ...]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from pathlib import Path
from typing import Any

from sklearn.metrics import accuracy_score, confusion_matrix

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The scoring helpers live in bot/trainer/scoring.py, shared with the trainers' model comparison
# (bot/training/compare.py); the old names stay importable from here.
from bot.trainer.scoring import MACRO_TYPES, TYPES, URGENCY, gold_type, predicted_type, predicted_urgency  # noqa: E402
from bot.trainer.scoring import any_urgency as any_urgent  # noqa: E402
from bot.trainer.scoring import entity_values as _values  # noqa: E402
from bot.trainer.scoring import macro_f1 as _macro_f1  # noqa: E402
from bot.trainer.scoring import per_class as _per_class  # noqa: E402

SHARED = ROOT.parent / "shared"
NO_CAUSE = {"none", "unclear", "other"}
"""Cause labels that name no cause of the vocabulary: not scored for cause accuracy."""


def score(rows: list[dict[str, str]], preds: list[dict[str, Any]]) -> dict[str, Any]:
    """Type, urgency and (where labelled) cause figures.

    A predicted type equal to the secondary type (``type2``) counts as correct. The macro-F1
    is over product, logistics, service and none. Urgency is scored as "any urgency" (recall
    and precision: did the bot see that the case is urgent) and per class. The cause is scored
    on rows whose labelled cause is in the vocabulary (not in ``NO_CAUSE``): accuracy, coverage
    (a cause was given) and accuracy when given.

    Every ratio comes from scikit-learn (``precision_recall_fscore_support`` with
    ``zero_division=0``, ``accuracy_score``, ``confusion_matrix``); tests/tools/bench/test_eval_nlu.py
    checks them against the hand-written formulas they replaced.

    Returns:
        ``n``, ``type`` (``per_class``, ``macro_f1``, ``macro_classes``, ``accuracy``), ``urgency``
        (``per_class``, ``any_urgency``), ``confusion`` (``labels``, ``matrix``: gold rows,
        predicted columns) and, when some row has a scoreable cause, ``cause``.
    """
    gold_types = [gold_type(row["type"], row.get("type2"), pred["type"]) for row, pred in zip(rows, preds)]
    pred_types = [p["type"] for p in preds]
    per_type = _per_class(gold_types, pred_types, TYPES)
    macro = _macro_f1(gold_types, pred_types, MACRO_TYPES)
    accuracy = float(accuracy_score(gold_types, pred_types))

    gold_u = [r["urgent"] for r in rows]
    pred_u = [p["urgency"] for p in preds]
    any_urgency = any_urgent(gold_u, pred_u)
    result: dict[str, Any] = {
        "n": len(rows),
        "type": {"per_class": per_type, "macro_f1": macro, "macro_classes": MACRO_TYPES, "accuracy": accuracy},
        "urgency": {"per_class": _per_class(gold_u, pred_u, URGENCY), "any_urgency": any_urgency},
        "confusion": {"labels": TYPES, "matrix": confusion_matrix(gold_types, pred_types, labels=TYPES).tolist()},
    }
    caused = [(row, pred) for row, pred in zip(rows, preds) if row.get("cause") and row["cause"] not in NO_CAUSE]
    if caused:
        gold_c = [row["cause"] for row, _ in caused]
        pred_c = [pred.get("cause") or "" for _, pred in caused]  # "" (no cause given) never equals a label
        given = [i for i, cause in enumerate(pred_c) if cause]
        right_when_given = accuracy_score([gold_c[i] for i in given], [pred_c[i] for i in given]) if given else 0.0
        result["cause"] = {
            "n": len(caused),
            "accuracy": float(accuracy_score(gold_c, pred_c)),
            "coverage": len(given) / len(caused),
            "precision_when_given": float(right_when_given),
        }
    return result


def malicious_figures(cases: list[dict[str, str]], preds: list[dict[str, Any]]) -> dict[str, Any]:
    """Malicious precision and recall on the bad-faith set (``label`` "malicious" or anything else).

    Returns ``n``, ``precision`` and ``recall`` (0.0 where undefined), and ``positives`` (the
    bad-faith messages).
    """
    gold = ["malicious" if c["label"] == "malicious" else "other" for c in cases]
    pred = ["malicious" if p["type"] == "malicious" else "other" for p in preds]
    figures = _per_class(gold, pred, ["malicious"])["malicious"]
    return {
        "n": len(cases),
        "precision": figures["precision"],
        "recall": figures["recall"],
        "positives": figures["support"],
    }


def load_dev(path: Path) -> list[dict[str, str]]:
    """Rows of ``dev.tsv``."""
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def corpus_texts(corpora: Path) -> dict[str, str]:
    """Every corpus message by row id: ``source:id`` (reviews), ``source:id#turn`` (dialogues)."""
    texts: dict[str, str] = {}
    with (corpora / "reviews.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            texts[f"{row['source']}:{row['id']}"] = row["text"]
    with (corpora / "dialogues.jsonl").open(encoding="utf-8") as f:
        for line in f:
            dialogue = json.loads(line)
            for n, turn in enumerate(dialogue["turns"]):
                texts[f"{dialogue['source']}:{dialogue['id']}#{n}"] = turn["text"]
    return texts


def load_cause_set(path: Path, corpora: Path) -> list[dict[str, str]]:
    """Our labelled corpus sample, with each row's text looked up in the corpora."""
    texts = corpus_texts(corpora)
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    missing = [r["row_id"] for r in rows if r["row_id"] not in texts]
    if missing:
        raise SystemExit(f"{len(missing)} labelled rows are not in {corpora} (first: {missing[0]})")
    return [{**r, "text": texts[r["row_id"]]} for r in rows]


async def predict(model_path: str, sets: list[list[dict[str, str]]]) -> list[list[dict[str, Any]]]:
    """Parses every text of every set with the trained model (loaded once)."""
    from rasa.core.agent import Agent

    agent = Agent.load(model_path)
    results = []
    for rows in sets:
        preds = []
        for row in rows:
            parsed = await agent.parse_message(row["text"])
            intent = parsed.get("intent") or {}
            entities = parsed.get("entities") or []
            causes = _values(entities, "complaint_cause")
            preds.append(
                {
                    "intent": intent.get("name"),
                    "confidence": intent.get("confidence") or 0.0,
                    "rule": intent.get("rule"),
                    "type": predicted_type(intent.get("name")),
                    "urgency": predicted_urgency(entities),
                    "cause": causes[0] if causes else None,
                }
            )
        results.append(preds)
    return results


def _table(per_class: dict[str, dict[str, float]]) -> list[str]:
    lines = ["| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for name, m in per_class.items():
        lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    return lines


def _section(title: str, source: str, result: dict[str, Any]) -> list[str]:
    t, u = result["type"], result["urgency"]
    lines = [
        f"## {title}",
        "",
        f"`{source}`, {result['n']} messages. A prediction equal to the secondary type counts as correct.",
        "",
        f"**Macro-F1 over {', '.join(t['macro_classes'])}: {t['macro_f1']:.3f}**; accuracy {t['accuracy']:.3f}; "
        f"none recall {t['per_class']['none']['recall']:.3f}.",
        "",
        *_table(t["per_class"]),
        "",
        f"**Any urgency: recall {u['any_urgency']['recall']:.3f}, precision {u['any_urgency']['precision']:.3f}** "
        f"({u['any_urgency']['support']} urgent messages).",
        "",
        *_table(u["per_class"]),
        "",
    ]
    if "cause" in result:
        c = result["cause"]
        lines += [
            f"**Cause accuracy {c['accuracy']:.3f}** on the {c['n']} messages whose labelled cause is in the "
            f"vocabulary (a cause given for {c['coverage']:.0%} of them; right when given: {c['precision_when_given']:.3f}).",
            "",
        ]
    return lines


def _errors(title: str, rows: list[dict[str, str]], preds: list[dict[str, Any]]) -> list[str]:
    lines = [f"## {title}", ""]
    for row, pred in zip(rows, preds):
        secondary = (row.get("type2") or "").strip()
        wrong_type = pred["type"] not in (row["type"], secondary)
        wrong_urgency = pred["urgency"] != row["urgent"]
        wrong_cause = bool(row.get("cause")) and row["cause"] not in NO_CAUSE and pred.get("cause") != row["cause"]
        if wrong_type or wrong_urgency or wrong_cause:
            lines.append(
                f"- gold {row['type']}/{secondary or '-'}/{row.get('cause') or '-'}/{row['urgent']} "
                f"pred {pred['type']}/{pred.get('cause') or '-'}/{pred['urgency']} "
                f"({pred['intent']} {pred['confidence']:.2f}{', ' + pred['rule'] if pred.get('rule') else ''}): "
                f"{row['text'][:200]}"
            )
    return lines + [""]


def _plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = result["confusion"]["matrix"]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(TYPES)), TYPES, rotation=30)
    ax.set_yticks(range(len(TYPES)), TYPES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", color="black")
    ax.set_title(f"Complaint type on dev.tsv (macro-F1 {result['type']['macro_f1']:.3f})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model archive (default: newest in models/)")
    parser.add_argument("--data", default=str(SHARED / "eval" / "dev.tsv"))
    parser.add_argument(
        "--cause-set",
        nargs="*",
        default=[
            str(ROOT / "docs" / "eval" / "cause_labels_heldout.tsv"),
            str(ROOT / "docs" / "eval" / "cause_labels.tsv"),
        ],
    )
    parser.add_argument("--corpora", default=str(SHARED / "corpora"))
    parser.add_argument("--out", default=str(ROOT / "reports"))
    args = parser.parse_args()
    model = args.model or str(max((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    sets = [("Real customer messages (dev.tsv)", args.data, load_dev(Path(args.data)))]
    titles = {
        "cause_labels_heldout": "Our labelled corpus sample, held out",
        "cause_labels": "Our labelled corpus sample used to write the cause patterns",
    }
    for path in map(Path, args.cause_set):
        if Path(args.corpora).is_dir() and path.is_file():
            sets.append((titles.get(path.stem, path.stem), str(path), load_cause_set(path, Path(args.corpora))))
    malicious_path = ROOT / "docs" / "eval" / "malicious_cases.tsv"
    cases: list[dict[str, str]] = []
    if malicious_path.is_file():
        with malicious_path.open(encoding="utf-8") as f:
            cases = list(csv.DictReader(f, delimiter="\t"))
    *predictions, case_preds = asyncio.run(predict(model, [rows for _, _, rows in sets] + [cases]))

    report = ["# NLU evaluation on real customer messages", "", f"Model: `{Path(model).name}`.", ""]
    errors = ["# Misread messages (not committed: the texts are not ours)", ""]
    figures: dict[str, Any] = {"model": Path(model).name}
    for (title, source, rows), preds in zip(sets, predictions):
        result = score(rows, preds)
        figures[Path(source).stem] = result
        report += _section(
            title, source if not Path(source).is_relative_to(ROOT) else str(Path(source).relative_to(ROOT)), result
        )
        errors += _errors(title, rows, preds)
    if cases:
        preds = case_preds
        m = malicious_figures(cases, preds)
        positives = m.pop("positives")
        figures["malicious_cases"] = m
        report += [
            "## Bad faith (`docs/eval/malicious_cases.tsv`, our own sentences)",
            "",
            f"**Malicious precision {m['precision']:.3f}, recall {m['recall']:.3f}** on {positives} bad-faith messages "
            f"and {len(cases) - positives} that only mention QQ, WeChat, 投诉, 差评 or a regulator.",
            "",
        ]
        errors += ["## Bad faith set", ""] + [
            f"- gold {c['label']} pred {p['type']} ({p['intent']} {p['confidence']:.2f}{', ' + p['rule'] if p.get('rule') else ''}): {c['text']}"
            for c, p in zip(cases, preds)
            if (c["label"] == "malicious") != (p["type"] == "malicious")
        ]
    report += ["![confusion matrix on dev.tsv](nlu_confusion.png)", ""]
    (out / "nlu_eval.md").write_text("\n".join(report), encoding="utf-8")
    (out / "nlu_eval.json").write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "nlu_errors.md").write_text("\n".join(errors), encoding="utf-8")
    _plot(figures[Path(sets[0][1]).stem], out / "nlu_confusion.png")
    print((out / "nlu_eval.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
