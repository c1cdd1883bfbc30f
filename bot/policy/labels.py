"""The shop's Chinese labels (``policy/labels.yml``): complaint types, ticket statuses, approvers, queues.

    labels = load_labels()
    labels.complaint_types["product"]      # "商品问题"
    labels.ticket_statuses["with_agent"]   # "人工客服处理中"
    labels.approvers["manager"]            # "店铺经理" (the one name of the approver)
    labels.queues["supervisor"]            # "客服主管"

Validated by :class:`bot.policy.schema.LabelsFile`; the queues are checked against ``sla.yml``
when the SLA is loaded. Plain Python, loaded on first use and cached per file.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from bot.policy import schema

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "policy" / "labels.yml"
"""Where the labels live unless ``POLICY_LABELS`` or a ``path`` says otherwise."""

ENV_VAR = "POLICY_LABELS"
"""Environment variable that overrides :data:`DEFAULT_PATH`."""


def labels_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The labels file to read: ``path``, else ``$POLICY_LABELS``, else :data:`DEFAULT_PATH`."""
    return Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH).resolve()


@functools.lru_cache(maxsize=8)
def _load(path: str) -> schema.LabelsFile:
    return schema.load_yaml(Path(path), schema.LabelsFile)


def load_labels(path: str | os.PathLike[str] | None = None) -> schema.LabelsFile:
    """Loads and validates the labels (cached per file).

    Raises:
        FileNotFoundError: The file does not exist.
        PolicyError: (a ``ValueError``) a label is missing or the file breaks the schema.
    """
    return _load(str(labels_path(path)))
