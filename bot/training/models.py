"""Which model is live: the pointer ``models/active.json`` of a :class:`Workspace` (issue 11).

The file::

    {"model": "models/candidates/trainer-<job>.tar.gz",   # relative to the workspace root
     "activated_by": "<trainer>", "activated_at": 1764460000.0,   # Unix seconds
     "job": "<job id>" | null,
     "history": [<the previous entries, same keys without "history", newest first>]}

Written atomically (temporary file + ``os.replace``) under a cross-process file lock in
``var/trainer/``, so two trainers activating at once leave one consistent pointer. Without the
file the server trains from ``data/`` as before (``tools/devstack.py``).

The running Rasa server is not reloaded here: the caller (the HTTP route) loads
:func:`live_model` into the agent after :func:`activate` or :func:`rollback`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from filelock import FileLock

from bot.trainer.workspace import Workspace
from bot.training.files import read_json, write_json_atomically

HISTORY_LIMIT = 20
"""How many previous entries the pointer keeps."""
LOCK_TIMEOUT_SECONDS = 30.0


class NothingToRollBack(LookupError):
    """There is no previous model, or its file is gone (the HTTP API answers 409)."""


def _lock(ws: Workspace) -> FileLock:
    ws.var_dir.mkdir(parents=True, exist_ok=True)
    return FileLock(str(ws.var_dir / "active.lock"), timeout=LOCK_TIMEOUT_SECONDS)


def _relative(ws: Workspace, model: Path) -> str:
    model = model if model.is_absolute() else ws.root / model
    model = model.resolve()
    try:
        return str(model.relative_to(ws.root))
    except ValueError:
        return str(model)


def model_file(ws: Workspace, entry: dict[str, Any]) -> Path:
    """The absolute path of an entry's ``model`` (stored relative to the workspace root)."""
    path = Path(entry["model"])
    return path if path.is_absolute() else ws.root / path


def active(ws: Workspace) -> dict[str, Any] | None:
    """The pointer (see the module docstring), or None when no model was ever activated."""
    data = read_json(ws.active_file)
    return data if isinstance(data, dict) and data.get("model") else None


def activate(
    ws: Workspace, model: Path, *, trainer: str, job: str | None = None, clock: Callable[[], float] = time.time
) -> dict[str, Any]:
    """Makes ``model`` the live model; the one live before goes to the top of the history.

    Args:
        model: a model archive (absolute, or relative to the workspace root); must exist.
        trainer: who activated it (recorded).
        job: the training job that made it, if any.

    Returns:
        ``{"active": <new entry>, "previous": <the entry it replaced, or None>}`` (entries
        without ``history``).

    Raises:
        FileNotFoundError: ``model`` does not exist.
        ValueError: ``trainer`` is empty.
        filelock.Timeout: another activation held the lock for over 30 s.
    """
    if not trainer.strip():
        raise ValueError("a trainer name is required")
    path = model if model.is_absolute() else ws.root / model
    if not path.is_file():
        raise FileNotFoundError(f"no model at {path}")
    with _lock(ws):
        current = active(ws)
        entry = {"model": _relative(ws, path), "activated_by": trainer.strip(), "activated_at": clock(), "job": job}
        history: list[dict[str, Any]] = []
        previous = None
        if current:
            history = list(current.get("history") or [])
            previous = {k: v for k, v in current.items() if k != "history"}
            history.insert(0, previous)
        write_json_atomically(ws.active_file, {**entry, "history": history[:HISTORY_LIMIT]})
    return {"active": entry, "previous": previous}


def rollback(ws: Workspace, *, trainer: str, clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """Makes the previous model live again (the newest history entry whose file still exists is
    not searched for: only the one directly before counts, so a rollback is predictable).

    The entry rolled back from is dropped (not kept as a "next"); the restored one is recorded as
    activated by ``trainer`` now, with its original ``job``.

    Returns:
        ``{"active": <restored entry>, "previous": <the entry rolled back from>}``.

    Raises:
        NothingToRollBack: no model is active, there is no previous one, or its file is gone.
        ValueError: ``trainer`` is empty.
    """
    if not trainer.strip():
        raise ValueError("a trainer name is required")
    with _lock(ws):
        current = active(ws)
        history = list((current or {}).get("history") or [])
        if not current or not history:
            raise NothingToRollBack("no previous model to go back to")
        target = history[0]
        if not model_file(ws, target).is_file():
            raise NothingToRollBack(f"the previous model {target['model']} is no longer on disk")
        entry = {
            "model": target["model"],
            "activated_by": trainer.strip(),
            "activated_at": clock(),
            "job": target.get("job"),
        }
        previous = {k: v for k, v in current.items() if k != "history"}
        write_json_atomically(ws.active_file, {**entry, "history": history[1:]})
    return {"active": entry, "previous": previous}


def live_model(ws: Workspace) -> Path | None:
    """The active model's file when the pointer exists and the file is there, else None
    (the caller then uses the model trained from ``data/``)."""
    entry = active(ws)
    if not entry:
        return None
    path = model_file(ws, entry)
    return path if path.is_file() else None


def serving_model(ws: Workspace) -> Path | None:
    """The model the server runs: :func:`live_model`, else the newest archive directly in
    ``models/`` (what ``make run`` trained from ``data/``; candidates are not counted), else None.
    What a new candidate is compared with and fine-tuned from."""
    live = live_model(ws)
    if live is not None:
        return live
    archives = [p for p in ws.models_dir.glob("*.tar.gz") if p.is_file()]
    return max(archives, key=lambda p: p.stat().st_mtime) if archives else None
