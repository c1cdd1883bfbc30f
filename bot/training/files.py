"""Small file helpers of the training package: atomic JSON writes and the code root."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import bot


def code_root() -> Path:
    """The directory that contains the ``bot`` package (what goes on ``PYTHONPATH``); not
    necessarily the workspace's root."""
    return Path(bot.__file__).resolve().parent.parent


def write_json_atomically(path: Path, data: Any) -> None:
    """Writes ``data`` as UTF-8 JSON to a temporary file in the same folder, fsyncs it and moves
    it into place (``os.replace``): a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None when the file does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
