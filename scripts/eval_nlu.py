"""Measures the NLU on real customer messages (../shared/eval/dev.tsv by default).

Writes reports/nlu_eval.md, reports/nlu_eval.json and reports/nlu_confusion.png; the
misclassified texts go to reports/nlu_errors.md (git-ignored: the corpus is not ours to
redistribute).

Usage: python scripts/eval_nlu.py [--model models/x.tar.gz] [--data path.tsv]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TYPES = ["product", "logistics", "service", "malicious", "none"]
URGENCY = ["safety", "media_legal", "vulnerable"]


def predicted_type(intent: str | None) -> str:
    """Maps an intent name to a complaint type ("none" for every non-complaint intent)."""
    if intent and intent.startswith("complaint_"):
        return intent[len("complaint_") :]
    return "none"


def predicted_urgency(entities: list[dict[str, Any]]) -> str:
    """Highest-priority urgency entity, or "none"."""
    levels = {e["value"] for e in entities if e.get("entity") == "urgency"}
    return next((u for u in URGENCY if u in levels), "none")


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall and F1 (0 when undefined)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def score(rows: list[dict[str, str]], preds: list[dict[str, str]]) -> dict[str, Any]:
    """Computes type and urgency metrics. A prediction equal to ``type2`` counts as correct."""
    gold_eff, pred_types = [], []
    for row, pred in zip(rows, preds):
        g = row["type"]
        if pred["type"] == (row.get("type2") or "").strip():
            g = pred["type"]
        gold_eff.append(g)
        pred_types.append(pred["type"])
    present = [t for t in TYPES if t in set(r["type"] for r in rows)]
    per_type = {}
    for t in TYPES:
        tp = sum(1 for g, p in zip(gold_eff, pred_types) if g == t and p == t)
        fp = sum(1 for g, p in zip(gold_eff, pred_types) if g != t and p == t)
        fn = sum(1 for g, p in zip(gold_eff, pred_types) if g == t and p != t)
        p, r, f = prf(tp, fp, fn)
        per_type[t] = {"precision": p, "recall": r, "f1": f, "support": sum(1 for g in gold_eff if g == t)}
    macro = sum(per_type[t]["f1"] for t in present) / len(present)
    accuracy = sum(1 for g, p in zip(gold_eff, pred_types) if g == p) / len(rows)

    gold_u = [r["urgent"] for r in rows]
    pred_u = [p["urgency"] for p in preds]
    per_urgency = {}
    for u in URGENCY:
        tp = sum(1 for g, p in zip(gold_u, pred_u) if g == u and p == u)
        fp = sum(1 for g, p in zip(gold_u, pred_u) if g != u and p == u)
        fn = sum(1 for g, p in zip(gold_u, pred_u) if g == u and p != u)
        p, r, f = prf(tp, fp, fn)
        per_urgency[u] = {"precision": p, "recall": r, "f1": f, "support": gold_u.count(u)}
    urgent_gold = [g != "none" for g in gold_u]
    urgent_pred = [p != "none" for p in pred_u]
    tp = sum(1 for g, p in zip(urgent_gold, urgent_pred) if g and p)
    fp = sum(1 for g, p in zip(urgent_gold, urgent_pred) if not g and p)
    fn = sum(1 for g, p in zip(urgent_gold, urgent_pred) if g and not p)
    any_p, any_r, any_f = prf(tp, fp, fn)
    exact_tp = sum(1 for g, p in zip(gold_u, pred_u) if g != "none" and g == p)
    return {
        "n": len(rows),
        "type": {"per_class": per_type, "macro_f1_present": macro, "classes_present": present, "accuracy": accuracy},
        "urgency": {
            "per_class": per_urgency,
            "any_urgency": {"precision": any_p, "recall": any_r, "f1": any_f},
            "exact_class_recall": exact_tp / max(1, sum(urgent_gold)),
        },
        "confusion": {
            "labels": TYPES,
            "matrix": [[sum(1 for g, p in zip(gold_eff, pred_types) if g == gt and p == pt) for pt in TYPES] for gt in TYPES],
        },
    }


def write_reports(result: dict[str, Any], rows: list[dict[str, str]], preds: list[dict[str, str]], out: Path, model: str, data: str) -> None:
    """Writes the markdown summary, the JSON figures, the confusion matrix and the error list."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "nlu_eval.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    t, u = result["type"], result["urgency"]
    lines = [
        "# NLU evaluation on real customer messages",
        "",
        f"Data: `{data}` ({result['n']} messages). Model: `{model}`.",
        "A prediction equal to the secondary type (`type2`) counts as correct.",
        "",
        f"**Macro-F1 over the types present ({', '.join(t['classes_present'])}): {t['macro_f1_present']:.3f}** (target 0.85); accuracy {t['accuracy']:.3f}.",
        "",
        "| type | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for name, m in t["per_class"].items():
        lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    lines += [
        "",
        f"**Urgency recall (any urgency detected when there is one): {u['any_urgency']['recall']:.3f}** (target 0.95), "
        f"precision {u['any_urgency']['precision']:.3f}; exact-class recall {u['exact_class_recall']:.3f}.",
        "",
        "| urgency | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for name, m in u["per_class"].items():
        lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    lines += ["", "![confusion matrix](nlu_confusion.png)", ""]
    (out / "nlu_eval.md").write_text("\n".join(lines), encoding="utf-8")

    errors = ["# Misclassified messages (not committed)", ""]
    for row, pred in zip(rows, preds):
        if pred["type"] not in (row["type"], (row.get("type2") or "").strip()) or pred["urgency"] != row["urgent"]:
            errors.append(
                f"- gold {row['type']}/{row.get('type2') or '-'}/{row['urgent']} pred {pred['type']}/{pred['urgency']} "
                f"({pred['intent']} {pred['confidence']:.2f}): {row['text'][:200]}"
            )
    (out / "nlu_errors.md").write_text("\n".join(errors), encoding="utf-8")

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
    ax.set_title(f"Complaint type (macro-F1 {t['macro_f1_present']:.3f})")
    fig.tight_layout()
    fig.savefig(out / "nlu_confusion.png", dpi=100)


async def predict(model_path: str, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Parses every text with the trained model."""
    from rasa.core.agent import Agent

    agent = Agent.load(model_path)
    preds = []
    for row in rows:
        parsed = await agent.parse_message(row["text"])
        intent = (parsed.get("intent") or {}).get("name")
        preds.append(
            {
                "intent": intent,
                "confidence": (parsed.get("intent") or {}).get("confidence") or 0.0,
                "type": predicted_type(intent),
                "urgency": predicted_urgency(parsed.get("entities") or []),
            }
        )
    return preds


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="model archive (default: newest in models/)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "eval" / "dev.tsv"))
    parser.add_argument("--out", default=str(ROOT / "reports"))
    args = parser.parse_args()
    model = args.model or str(max((ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime))
    with open(args.data, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    preds = asyncio.run(predict(model, rows))
    result = score(rows, preds)
    write_reports(result, rows, preds, Path(args.out), Path(model).name, args.data)
    print((Path(args.out) / "nlu_eval.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
