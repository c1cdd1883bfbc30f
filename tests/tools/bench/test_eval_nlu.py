"""tools/eval_nlu.py's figures (scikit-learn) against the hand-written formulas they replaced, on the same predictions."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tools import eval_nlu
from tools.eval_nlu import MACRO_TYPES, NO_CAUSE, TYPES, URGENCY

# ---- the earlier hand-written metrics (scripts/eval_nlu.py before scikit-learn), kept as the reference ----


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def _old_per_class(gold: list[str], pred: list[str], labels: list[str]) -> dict[str, dict[str, float]]:
    result = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, pred))
        fp = sum(g != label and p == label for g, p in zip(gold, pred))
        fn = sum(g == label and p != label for g, p in zip(gold, pred))
        p, r, f = _prf(tp, fp, fn)
        result[label] = {"precision": p, "recall": r, "f1": f, "support": gold.count(label)}
    return result


def _old_score(rows: list[dict[str, str]], preds: list[dict[str, Any]]) -> dict[str, Any]:
    gold_types = []
    for row, pred in zip(rows, preds):
        secondary = (row.get("type2") or "").strip()
        gold_types.append(pred["type"] if secondary and pred["type"] == secondary else row["type"])
    pred_types = [p["type"] for p in preds]
    per_type = _old_per_class(gold_types, pred_types, TYPES)
    gold_u = [r["urgent"] for r in rows]
    pred_u = [p["urgency"] for p in preds]
    urgent = _old_per_class(
        ["urgent" if g != "none" else "none" for g in gold_u], ["urgent" if p != "none" else "none" for p in pred_u],
        ["urgent"],
    )["urgent"]  # fmt: skip
    result: dict[str, Any] = {
        "n": len(rows),
        "type": {
            "per_class": per_type,
            "macro_f1": sum(per_type[t]["f1"] for t in MACRO_TYPES) / len(MACRO_TYPES),
            "macro_classes": MACRO_TYPES,
            "accuracy": sum(g == p for g, p in zip(gold_types, pred_types)) / len(rows),
        },
        "urgency": {"per_class": _old_per_class(gold_u, pred_u, URGENCY), "any_urgency": urgent},
        "confusion": {
            "labels": TYPES,
            "matrix": [[sum(g == a and p == b for g, p in zip(gold_types, pred_types)) for b in TYPES] for a in TYPES],
        },
    }
    caused = [(row, pred) for row, pred in zip(rows, preds) if row.get("cause") and row["cause"] not in NO_CAUSE]
    if caused:
        hits = sum(pred.get("cause") == row["cause"] for row, pred in caused)
        found = [pred.get("cause") for _, pred in caused if pred.get("cause")]
        result["cause"] = {
            "n": len(caused),
            "accuracy": hits / len(caused),
            "coverage": len(found) / len(caused),
            "precision_when_given": (hits / len(found)) if found else 0.0,
        }
    return result


def _old_malicious(cases: list[dict[str, str]], preds: list[dict[str, Any]]) -> dict[str, Any]:
    tp = sum(c["label"] == "malicious" and p["type"] == "malicious" for c, p in zip(cases, preds))
    fp = sum(c["label"] != "malicious" and p["type"] == "malicious" for c, p in zip(cases, preds))
    positives = sum(c["label"] == "malicious" for c in cases)
    return {
        "n": len(cases),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / positives if positives else 0.0,
        "positives": positives,
    }


# ---- fixtures ---------------------------------------------------------------------------------------------

CAUSES = ["quality_defect", "transit_damage", "late_delivery", "no_reply", "none", "unclear", "other", ""]

# Hand-made: a secondary type that saves a prediction, a class never predicted (malicious: precision 0 by
# convention), urgency of each kind and missed, causes right, wrong, missing and unscoreable.
SMALL_ROWS = [
    {"type": "product", "type2": "", "urgent": "none", "cause": "quality_defect"},
    {"type": "product", "type2": "logistics", "urgent": "safety", "cause": "transit_damage"},
    {"type": "logistics", "type2": "", "urgent": "none", "cause": "late_delivery"},
    {"type": "service", "type2": "", "urgent": "media_legal", "cause": "no_reply"},
    {"type": "none", "type2": "", "urgent": "none", "cause": "none"},
    {"type": "malicious", "type2": "", "urgent": "none", "cause": ""},
    {"type": "service", "type2": "product", "urgent": "vulnerable", "cause": "unclear"},
    {"type": "none", "type2": "", "urgent": "safety", "cause": ""},
]
SMALL_PREDS = [
    {"type": "product", "urgency": "none", "cause": "quality_defect"},
    {"type": "logistics", "urgency": "safety", "cause": "late_delivery"},
    {"type": "logistics", "urgency": "media_legal", "cause": None},
    {"type": "none", "urgency": "none", "cause": "no_reply"},
    {"type": "service", "urgency": "none", "cause": None},
    {"type": "none", "urgency": "none", "cause": None},
    {"type": "product", "urgency": "vulnerable", "cause": "quality_defect"},
    {"type": "none", "urgency": "safety", "cause": None},
]


def _random_set(seed: int, n: int) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    rows, preds = [], []
    for _ in range(n):
        gold = rng.choice(TYPES)
        rows.append(
            {
                "type": gold,
                "type2": rng.choice(["", "", "", *TYPES]),
                "urgent": rng.choice(["none", "none", "none", *URGENCY]),
                "cause": rng.choice(CAUSES),
            }
        )
        preds.append(
            {
                "type": gold if rng.random() < 0.7 else rng.choice(TYPES),
                "urgency": rng.choice(["none", "none", *URGENCY]),
                "cause": rng.choice([*CAUSES[:4], None, None]),
            }
        )
    return rows, preds


# ---- tests ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed, n", [(None, 8), (1, 40), (2, 448), (3, 1000)])
def test_score_gives_the_figures_of_the_hand_written_metrics(seed: int | None, n: int) -> None:
    rows, preds = (SMALL_ROWS, SMALL_PREDS) if seed is None else _random_set(seed, n)
    new, old = eval_nlu.score(rows, preds), _old_score(rows, preds)
    assert _close(new, old)
    # What the report prints (3 decimals) is the same character for character.
    assert eval_nlu._section("t", "s", new) == eval_nlu._section("t", "s", old)


def _close(new: Any, old: Any) -> bool:
    """Equal structure and keys; numbers equal to 1e-12 (sums may be taken in another order)."""
    if isinstance(old, dict):
        assert list(new) == list(old)
        return all(_close(new[k], old[k]) for k in old)
    if isinstance(old, list):
        assert len(new) == len(old)
        return all(_close(a, b) for a, b in zip(new, old))
    if isinstance(old, float):
        assert isinstance(new, float) and new == pytest.approx(old, abs=1e-12)
        return True
    assert new == old and type(new) is type(old)
    return True


def test_small_fixture_figures_by_hand() -> None:
    result = eval_nlu.score(SMALL_ROWS, SMALL_PREDS)
    # Gold after the secondary-type rule: product, logistics, logistics, service, none, malicious, product, none.
    assert result["type"]["accuracy"] == pytest.approx(5 / 8)
    assert result["type"]["per_class"]["product"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    assert result["type"]["per_class"]["malicious"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    none = result["type"]["per_class"]["none"]  # predicted 3 times, right once; 2 gold
    assert (none["precision"], none["recall"]) == pytest.approx((1 / 3, 1 / 2))
    assert result["urgency"]["any_urgency"]["recall"] == pytest.approx(3 / 4)
    assert result["urgency"]["any_urgency"]["precision"] == pytest.approx(3 / 4)
    # Causes scored on the first four rows only: right, wrong, missing, right.
    assert result["cause"] == {"n": 4, "accuracy": 0.5, "coverage": 0.75, "precision_when_given": pytest.approx(2 / 3)}
    assert result["confusion"]["matrix"][TYPES.index("service")][TYPES.index("none")] == 1


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_malicious_figures_match_the_hand_written_ones(seed: int) -> None:
    rng = random.Random(seed)
    cases = [{"label": rng.choice(["malicious", "ordinary"])} for _ in range(56)]
    preds = [{"type": rng.choice(["malicious", "product", "none"])} for _ in cases]
    assert eval_nlu.malicious_figures(cases, preds) == _old_malicious(cases, preds)


def test_malicious_figures_are_zero_when_undefined() -> None:
    cases = [{"label": "ordinary"}, {"label": "ordinary"}]
    preds = [{"type": "none"}, {"type": "product"}]
    assert eval_nlu.malicious_figures(cases, preds) == {"n": 2, "precision": 0.0, "recall": 0.0, "positives": 0}
