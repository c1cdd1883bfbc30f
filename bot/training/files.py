"""Small file helpers of the training package: atomic JSON writes and the code root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bot
from bot.trainer.examples import write_atomically


def code_root() -> Path:
    """The directory that contains the ``bot`` package (what goes on ``PYTHONPATH``); not
    necessarily the workspace's root."""
    return Path(bot.__file__).resolve().parent.parent


def write_json_atomically(path: Path, data: Any) -> None:
    """Writes ``data`` as UTF-8 JSON atomically (:func:`bot.trainer.examples.write_atomically`):
    a reader sees the old file or the new one, never half."""
    write_atomically(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when the file does not exist or is not JSON (a file broken by
    hand is treated as missing rather than failing every route that reads it)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
