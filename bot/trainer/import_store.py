"""Imported chat histories kept for review (issue 11): one folder per import in ``var/trainer/imports/``.

An import is read by :func:`bot.trainer.imports.read_export` (all or nothing), then its buyer
messages are read by the live model one by one in the background; this module keeps the result
as tracker-like events, so :func:`bot.trainer.review.read_conversation` reads an imported
conversation exactly like a live one and the same queue ("least sure first") ranks its turns.

Files: ``<id>/meta.json`` (id, trainer, filename, created, status ``reading|done|failed``, counts,
``read`` so far, the reading process id) and ``<id>/events.json`` (conversation id → events),
both replaced atomically. Customer texts are stored as exported (a trainer may save them as
examples) and masked when shown (:mod:`bot.trainer.review` masks).
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from bot.trainer.examples import write_atomically
from bot.trainer.imports import Message
from bot.trainer.processes import process_alive
from bot.trainer.review import Conversation, read_conversation
from bot.trainer.workspace import Workspace

CHANNEL = "import"
"""The channel imported conversations show (their sender ids are ``import:<import id>:<conversation>``)."""
_ID = re.compile(r"^[0-9a-f]{12}$")


class ImportNotFound(LookupError):
    """No import with that id (404)."""


def _folder(ws: Workspace, import_id: str) -> Any:
    if not _ID.match(import_id):
        raise ImportNotFound(import_id)
    return ws.var_dir / "imports" / import_id


def create(ws: Workspace, *, trainer: str, filename: str, messages: Sequence[Message], clock: Any = time.time) -> dict:
    """Records a new import of ``messages`` (status ``reading``, nothing read yet); returns its meta."""
    import_id = uuid.uuid4().hex[:12]
    meta = {
        "import": import_id,
        "trainer": trainer,
        "filename": filename,
        "created": clock(),
        "status": "reading",
        "conversations": len({m.conversation_id for m in messages}),
        "messages": len(messages),
        "buyer_turns": sum(1 for m in messages if m.role == "buyer" and m.text),
        "read": 0,
        "pid": os.getpid(),
        "error": None,
    }
    folder = _folder(ws, import_id)
    write_atomically(folder / "events.json", "{}")
    write_atomically(folder / "meta.json", json.dumps(meta, ensure_ascii=False))
    return meta


def meta(ws: Workspace, import_id: str) -> dict:
    """An import's meta; an import left ``reading`` by a process that is gone shows ``failed``.

    Raises:
        ImportNotFound: no such import.
    """
    path = _folder(ws, import_id) / "meta.json"
    if not path.exists():
        raise ImportNotFound(import_id)
    data: dict = json.loads(path.read_text(encoding="utf-8"))
    if data.get("status") == "reading" and not process_alive(int(data.get("pid") or 0)):
        data.update(status="failed", error="the server stopped while reading this import; import it again")
    return data


def list_imports(ws: Workspace) -> list[dict]:
    """Every import's meta, newest first."""
    folder = ws.var_dir / "imports"
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        try:
            found.append(meta(ws, child.name))
        except (ImportNotFound, ValueError, OSError):
            continue
    return sorted(found, key=lambda m: m.get("created") or 0, reverse=True)


def user_event(message: Message, parse_data: Mapping[str, Any]) -> dict[str, Any]:
    """A buyer message as a tracker ``user`` event with the model's reading."""
    return {
        "event": "user",
        "text": message.text,
        "timestamp": message.time,
        "parse_data": dict(parse_data),
        "input_channel": CHANNEL,
    }


def agent_event(message: Message) -> dict[str, Any]:
    """An agent's message as a tracker ``bot`` event (shown as the reply to the turn before)."""
    return {"event": "bot", "text": message.text, "timestamp": message.time}


def save_progress(
    ws: Workspace,
    import_id: str,
    events: Mapping[str, Sequence[Mapping[str, Any]]] | None,
    *,
    read: int,
    status: str = "reading",
    error: str | None = None,
) -> None:
    """Writes the events read so far and the progress (``status`` ``reading``, ``done`` or ``failed``)."""
    folder = _folder(ws, import_id)
    current = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    if events is not None:  # None: only the progress (the turns are written every EVENTS_EVERY)
        write_atomically(folder / "events.json", json.dumps(events, ensure_ascii=False))
    current.update(read=read, status=status, error=error)
    write_atomically(folder / "meta.json", json.dumps(current, ensure_ascii=False))


def conversations(ws: Workspace, import_id: str) -> list[Conversation]:
    """The import's conversations as read so far, for :func:`bot.trainer.review.least_sure_first`.

    Raises:
        ImportNotFound: no such import.
    """
    path = _folder(ws, import_id) / "events.json"
    if not path.exists():
        raise ImportNotFound(import_id)
    stored: dict = json.loads(path.read_text(encoding="utf-8"))
    return [
        read_conversation(f"{CHANNEL}:{import_id}:{conversation}", events) for conversation, events in stored.items()
    ]
