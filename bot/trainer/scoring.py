"""How the NLU's reading of a message is scored: the pure helpers shared by ``tools/eval_nlu.py``
(the full evaluation) and ``bot/training/compare.py`` (a candidate model against the live one).

Plain Python and scikit-learn, no Rasa: a prediction is the dict Rasa's ``parse_message`` returns
(or only its intent name and entities).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sklearn.metrics import precision_recall_fscore_support

TYPES = ["product", "logistics", "service", "malicious", "none"]
"""The complaint types an intent maps to (``complaint_<type>``, every other intent is "none")."""
MACRO_TYPES = ["product", "logistics", "service", "none"]
"""The classes of the macro-F1 (malicious appears in the real sets only as a secondary type)."""
URGENCY = ["safety", "media_legal", "vulnerable"]
"""Urgency levels, highest priority first (the ``urgency`` entity's values)."""


def predicted_type(intent: str | None) -> str:
    """Maps an intent name to a complaint type ("none" for every non-complaint intent)."""
    if intent and intent.startswith("complaint_"):
        return intent[len("complaint_") :]
    return "none"


def entity_values(entities: Iterable[dict[str, Any]], name: str) -> list[str]:
    """The values of every entity called ``name``, in order, as strings."""
    return [str(e.get("value")) for e in entities if e.get("entity") == name]


def predicted_urgency(entities: list[dict[str, Any]]) -> str:
    """Highest-priority urgency entity ("safety" > "media_legal" > "vulnerable"), or "none"."""
    levels = set(entity_values(entities, "urgency"))
    return next((u for u in URGENCY if u in levels), "none")


def per_class(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 (0.0 where a ratio is undefined) and support of each label.

    Returns:
        ``{label: {"precision", "recall", "f1", "support"}}`` in the order of ``labels``
        (scikit-learn's ``precision_recall_fscore_support`` with ``zero_division=0``).
    """
    p, r, f, s = precision_recall_fscore_support(list(gold), list(pred), labels=list(labels), zero_division=0)
    return {
        label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, label in enumerate(labels)
    }


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> float:
    """Unweighted mean of the labels' F1 (scikit-learn's ``average="macro"`` over ``labels`` only)."""
    _, _, f1, _ = precision_recall_fscore_support(
        list(gold), list(pred), labels=list(labels), average="macro", zero_division=0
    )
    return float(f1)


def any_urgency(gold: Sequence[str], pred: Sequence[str]) -> dict[str, float]:
    """Did the model see that a case is urgent at all: precision, recall, F1 and support of
    "urgent" (any level other than "none") against "none"."""
    return per_class(
        ["urgent" if g != "none" else "none" for g in gold],
        ["urgent" if p != "none" else "none" for p in pred],
        ["urgent"],
    )["urgent"]


def gold_type(row_type: str, secondary: str | None, predicted: str) -> str:
    """The gold type a prediction is scored against: the secondary type when the prediction is it."""
    secondary = (secondary or "").strip()
    return predicted if secondary and predicted == secondary else row_type
