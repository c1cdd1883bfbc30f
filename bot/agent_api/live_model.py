"""The model trainers made live, loaded by every worker of the server (issue 11).

Activation and rollback write ``models/active.json`` (:mod:`bot.training.models`). The worker that
answered the trainer loads the model at once (:func:`load`); every other worker (``SANIC_WORKERS``
> 1, or another server on the same folder) sees the file change within :data:`POLL_SECONDS` and
loads it too (:func:`follow`). Loading runs in a thread (unpacking and building the graph take a
few seconds) and swaps Rasa's ``MessageProcessor`` in one assignment, so a turn in progress
finishes on the old model and the next one uses the new.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from bot.trainer.workspace import Workspace

logger = logging.getLogger(__name__)

POLL_SECONDS = 5.0


def pointed_model(ws: Workspace) -> Path | None:
    """The model ``models/active.json`` names (relative to the workspace, or absolute), if the file is there."""
    try:
        data = json.loads(ws.active_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = data.get("model") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name:
        return None
    path = Path(name) if Path(name).is_absolute() else ws.root / name
    return path if path.is_file() else None


def loaded_model(app: Any) -> str | None:
    """The file name of the model this worker serves."""
    agent = getattr(app.ctx, "agent", None)
    return getattr(agent, "model_name", None) if agent is not None else None


async def load(app: Any, model: Path) -> None:
    """Loads ``model`` into this worker's agent (in a thread; trackers and stores are kept)."""
    agent = app.ctx.agent
    await asyncio.get_running_loop().run_in_executor(None, agent.load_model, str(model))
    logger.info("now serving model %s", model.name)


async def follow(app: Any, ws: Workspace, interval: float = POLL_SECONDS) -> None:
    """Loads the pointed model whenever ``models/active.json`` changes (runs until cancelled).

    The file as it is at start is not acted on: the server was started with the model it should serve.
    """

    def stamp() -> float | None:
        try:
            return ws.active_file.stat().st_mtime
        except OSError:
            return None

    last = stamp()
    while True:
        await asyncio.sleep(interval)
        current = stamp()
        if current == last:
            continue
        last = current
        model = pointed_model(ws)
        if model is None or model.name == loaded_model(app):
            continue
        try:
            await load(app, model)
        except Exception:  # noqa: BLE001 - keep serving the model we have; the trainer sees it in /models
            logger.exception("could not load the activated model %s; still serving %s", model, loaded_model(app))
