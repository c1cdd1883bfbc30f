"""The trainers' workbench routes on the agents' API (issue 11); same token, JSON errors.

Reading: ``GET /api/trainer/conversations`` (query ``filter=low_confidence|fallback|handoff``,
``type``, ``cause``, ``channel``, ``since``/``until`` epoch seconds, ``order=newest|least_confident``,
``limit`` 1-200), ``GET /api/trainer/conversations/{sender_id}`` (live, or ``import:<id>:<conversation>``),
``GET /api/trainer/queue`` (single turns, least sure first; ``?import=<id>`` for one import),
``GET /api/trainer/domain``, ``POST /api/trainer/tokens``.

Writing: ``POST /api/trainer/examples`` (201 / 409 contradiction / 422 misaligned, unknown name,
or refused by ``rasa data validate``), ``POST /api/trainer/stories``, ``POST /api/trainer/imports``
(raw file body; 202, read by the live model in the background), ``GET /api/trainer/imports[/{id}]``.

Models: ``POST /api/trainer/train``, ``GET /api/trainer/train[/{job}]``, ``POST
/api/trainer/train/{job}/activate|discard``, ``GET /api/trainer/models``, ``POST
/api/trainer/models/rollback``.

The logic is in :mod:`bot.trainer` (plain) and :mod:`bot.training` (jobs, models); these routes
read the tracker store, call them and shape JSON. Where files go: :class:`bot.trainer.workspace.Workspace`
(``TRAINER_ROOT``). Documented in ``docs/openapi.yaml``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from filelock import Timeout as LockTimeout
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.agent_api.http import ApiError, body_of, required_text
from bot.privacy import mask_pii
from bot.rasa_ext import data_validation
from bot.trainer import import_store, spans, stories
from bot.trainer.examples import Contradiction, ExampleError, InvalidData, MisalignedSpans, save_example
from bot.trainer.imports import ImportRefused, as_customer_text, read_export
from bot.trainer.review import Conversation, Turn, least_sure_first, read_conversation, select
from bot.trainer.values import vocabularies
from bot.trainer.workspace import Workspace

logger = logging.getLogger(__name__)

MAX_SCANNED = 1000
"""Conversations read per listing (the tracker store has no index by time yet)."""
NOT_TRAINABLE = {"nlu_fallback", "empty_message"}
"""Intents a trainer cannot save examples under (the fallback is decided by thresholds, not data)."""
PROGRESS_EVERY = 50
"""An import's progress is written every this many buyer turns."""
EVENTS_EVERY = 1000
"""The turns read so far are written every this many buyer turns (and at the end)."""

Route = Callable[..., Callable[[Callable[..., Awaitable[HTTPResponse]]], Any]]


class BadQuery(ValueError):
    """A query parameter the routes cannot use (answered 400)."""


def _number(request: Request, name: str) -> float | None:
    value = request.args.get(name)
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except ValueError:
        raise BadQuery(f"{name} must be epoch seconds, got {value!r}") from None
    if not math.isfinite(number):
        raise BadQuery(f"{name} must be epoch seconds, got {value!r}")
    return number


def _limit(request: Request, default: int = 50) -> int:
    try:
        limit = int(request.args.get("limit") or default)
    except ValueError:
        raise BadQuery("limit must be a number 1-200") from None
    if not 1 <= limit <= 200:
        raise BadQuery("limit must be 1-200")
    return limit


def turn_view(turn: Turn) -> dict[str, Any]:
    """A turn as JSON (masked text, reading, runner-up, margin, uncertainty, entities, actions, replies)."""
    return {
        "index": turn.index,
        "text": turn.text,
        "intent": turn.intent,
        "confidence": turn.confidence,
        "runner_up": turn.runner_up,
        "runner_up_confidence": turn.runner_up_confidence,
        "margin": round(turn.margin, 4),
        "uncertainty": turn.uncertainty,
        "fallback": turn.fallback,
        "corrected_next": turn.corrected_next,
        "entities": [dict(e) for e in turn.entities],
        "urgency": list(turn.urgency),
        "timestamp": turn.timestamp,
        "actions": list(turn.actions),
        "replies": list(turn.replies),
    }


def conversation_view(conversation: Conversation, *, turns: bool) -> dict[str, Any]:
    """A conversation as JSON; ``turns=False`` gives the list row only."""
    view: dict[str, Any] = {
        "sender_id": conversation.sender_id,
        "channel": conversation.channel,
        "started": conversation.started,
        "turn_count": len(conversation.turns),
        "least_confidence": conversation.least_confidence,
        "handoff_reason": conversation.handoff_reason,
        "complaint_type": conversation.complaint_type,
        "cause": conversation.cause,
    }
    if turns:
        view["turns"] = [turn_view(t) for t in conversation.turns]
    return view


def workspace(request: Request) -> Workspace:
    """The workspace of this server (``TRAINER_ROOT``), read once."""
    ctx = request.app.ctx
    if getattr(ctx, "trainer_workspace", None) is None:
        ctx.trainer_workspace = Workspace.from_env()
    return ctx.trainer_workspace


async def _events(request: Request, sender_id: str) -> list[dict[str, Any]] | None:
    tracker = await request.app.ctx.agent.tracker_store.retrieve_full_tracker(sender_id)
    return None if tracker is None else [event.as_dict() for event in tracker.events]


async def _read(request: Request, sender_id: str) -> Conversation | None:
    if sender_id.startswith(import_store.CHANNEL + ":"):
        _, import_id, _ = (sender_id.split(":", 2) + ["", ""])[:3]
        try:
            found = import_store.conversations(workspace(request), import_id)
        except import_store.ImportNotFound:
            return None
        return next((c for c in found if c.sender_id == sender_id), None)
    events = await _events(request, sender_id)
    return None if events is None else read_conversation(sender_id, events)


async def _live(request: Request) -> list[Conversation]:
    keys = list(await request.app.ctx.agent.tracker_store.keys())[:MAX_SCANNED]
    return [c for c in [await _read(request, k) for k in keys] if c is not None and c.turns]


def _domain(request: Request) -> Any:
    domain = request.app.ctx.agent.domain
    if domain is None:
        raise ApiError(503, "no model loaded yet")
    return domain


def _intents(request: Request) -> list[str]:
    return [i for i in _domain(request).intents if not i.startswith("EXTERNAL_") and i not in NOT_TRAINABLE]


def _validator(root: Any) -> Callable[[], list[str]]:
    """``rasa data validate`` on the workspace, for a save running in a worker thread."""

    def run() -> list[str]:
        result = data_validation.check_in_worker(str(root))
        return [] if result.ok else (result.messages or ["the project does not validate"])

    return run


_SAVES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="trainer-save")
"""Threads for saves and import files: a save waits for the file lock (up to 2 minutes) and must
not take the server's default threads, which loading a model and resolving hosts need."""


async def _in_thread(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_SAVES, partial(function, *args, **kwargs))


def _trainer(data: dict[str, Any]) -> str:
    return required_text(data, "trainer", limit=64)


def _entities(data: dict[str, Any]) -> list[dict[str, Any]]:
    raw = data.get("entities") or []
    if not isinstance(raw, list) or len(raw) > 50:
        raise ApiError(422, "'entities' must be a list of at most 50 {start, end, entity, value}")
    out = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("entity"), str):
            raise ApiError(422, "each entity needs 'entity' (a name), 'start' and 'end'", problems=[])
        start, end = item.get("start"), item.get("end")
        if type(start) is not int or type(end) is not int:
            raise ApiError(422, "entity 'start' and 'end' must be whole numbers (character offsets)", problems=[])
        entity = {"entity": item["entity"], "start": start, "end": end}
        for key in ("value", "role", "group"):
            if isinstance(item.get(key), str) and item[key]:
                entity[key] = item[key]
        out.append(entity)
    return out


def register(route: Route) -> None:
    """Adds the trainer routes through the agents' API ``route`` decorator (token, errors)."""

    @route("/trainer/conversations")
    async def trainer_conversations(request: Request) -> HTTPResponse:
        try:
            limit = _limit(request)
            since, until = _number(request, "since"), _number(request, "until")
            chosen = select(
                await _live(request),
                filter=request.args.get("filter") or None,
                complaint_type=request.args.get("type") or None,
                cause=request.args.get("cause") or None,
                channel=request.args.get("channel") or None,
                since=since,
                until=until,
                order=request.args.get("order") or "newest",
            )
        except (BadQuery, ValueError) as error:
            return response.json({"error": str(error)}, status=400)
        return response.json(
            {"conversations": [conversation_view(c, turns=False) for c in chosen[:limit]], "total": len(chosen)}
        )

    @route("/trainer/conversations/<sender_id>")
    async def trainer_conversation(request: Request, sender_id: str) -> HTTPResponse:
        conversation = await _read(request, sender_id)
        if conversation is None or not conversation.turns:
            return response.json({"error": f"no conversation {sender_id}"}, status=404)
        return response.json(conversation_view(conversation, turns=True))

    @route("/trainer/queue")
    async def trainer_queue(request: Request) -> HTTPResponse:
        try:
            limit = _limit(request)
        except BadQuery as error:
            return response.json({"error": str(error)}, status=400)
        import_id = request.args.get("import")
        if import_id:
            try:
                conversations = import_store.conversations(workspace(request), import_id)
            except import_store.ImportNotFound:
                raise ApiError(404, f"no import {import_id}")
        else:
            conversations = await _live(request)
        turns = [
            {"sender_id": c.sender_id, "channel": c.channel, **turn_view(t)}
            for c, t in least_sure_first(conversations, limit)
        ]
        return response.json({"turns": turns})

    @route("/trainer/domain")
    async def trainer_domain(request: Request) -> HTTPResponse:
        domain = _domain(request)
        urgency = next((s for s in domain.slots if s.name == "urgency"), None)
        return response.json(
            {
                "intents": _intents(request),
                "entities": list(domain.entities),
                "urgency": [v for v in getattr(urgency, "values", []) or [] if v in vocabularies()["urgency"]],
                "values": vocabularies(),
                "actions": [a for a in domain.action_names_or_texts if a and a != "action_listen" and " " not in a],
            }
        )

    @route("/trainer/tokens", methods=("POST",))
    async def trainer_tokens(request: Request) -> HTTPResponse:
        text = required_text(body_of(request), "text", limit=500)
        return response.json({"tokens": [{"text": w, "start": s, "end": e} for w, s, e in spans.tokens(text)]})

    @route("/trainer/examples", methods=("POST",))
    async def trainer_example(request: Request) -> HTTPResponse:
        data = body_of(request)
        trainer = _trainer(data)
        text = required_text(data, "text", limit=500)
        intent = data.get("intent")
        if not isinstance(intent, str):
            raise ApiError(422, "'intent' is required (an intent of the domain)", problems=[])
        entities = _entities(data)
        conversation = data.get("conversation") if isinstance(data.get("conversation"), str) else None
        ws = workspace(request)
        raw_text = data.get("text")
        if isinstance(raw_text, str) and raw_text != raw_text.strip():  # the spans count from the first character
            raise ApiError(422, "'text' must not start or end with spaces", problems=[])
        try:
            saved = await _in_thread(
                save_example,
                ws.data_dir,
                trainer=trainer,
                text=text,
                intent=intent,
                entities=entities,
                known_intents=_intents(request),
                known_entities=_domain(request).entities,
                conversation=conversation,
                validate=_validator(ws.root),
            )
        except Contradiction as error:
            raise ApiError(
                409,
                str(error),
                text=text,
                intent=intent,
                existing_intent=error.existing_intent,
                existing_file=_relative(ws, error.existing_file),
            )
        except MisalignedSpans as error:
            problems = [
                {
                    "entity": p.entity,
                    "start": p.start,
                    "end": p.end,
                    "reason": p.reason,
                    "reason_zh": p.reason_zh,
                    "suggested": {"start": p.suggested[0], "end": p.suggested[1]} if p.suggested else None,
                }
                for p in error.problems
            ]
            raise ApiError(422, str(error), problems=problems)
        except InvalidData as error:
            raise ApiError(422, str(error), problems=[], validation=error.messages)
        except ExampleError as error:
            raise ApiError(error.status, str(error), problems=[])
        except LockTimeout:
            raise ApiError(503, "another trainer's save is taking long; try again in a minute")
        return response.json(
            {
                "file": _relative(ws, saved.file),
                "line": saved.line,
                "duplicate": saved.duplicate,
                "validated": not saved.duplicate,
            },
            status=200 if saved.duplicate else 201,
        )

    @route("/trainer/stories", methods=("POST",))
    async def trainer_story(request: Request) -> HTTPResponse:
        data = body_of(request)
        trainer = _trainer(data)
        sender_id = required_text(data, "conversation", limit=200)
        upto, kind = data.get("upto"), data.get("kind") or "story"
        if type(upto) is not int:
            raise ApiError(422, "'upto' must be the index of a customer turn")
        next_ok = data.get("next_action_ok")
        if not isinstance(next_ok, bool):
            raise ApiError(422, "'next_action_ok' must be true or false")
        next_action = data.get("next_action")
        domain = _domain(request)
        if not next_ok and next_action not in domain.action_names_or_texts:
            raise ApiError(422, "'next_action' must be an action of the domain when the bot's action was wrong")
        corrections: dict[int, stories.Correction] = {}
        raw = data.get("corrections") or {}
        if not isinstance(raw, dict):
            raise ApiError(422, "'corrections' must map a turn index to {intent, entities}")
        intents = set(_intents(request))
        for key, fix in raw.items():
            if not (str(key).isascii() and str(key).isdecimal()) or not isinstance(fix, dict):
                raise ApiError(422, f"correction of turn {key!r}: a turn index and {{intent, entities}} are required")
            if fix.get("intent") not in intents:
                raise ApiError(422, f"correction of turn {key}: an intent of the domain is required")
            fixed = fix.get("entities") or []
            if not isinstance(fixed, list) or not all(
                isinstance(e, dict) and isinstance(e.get("entity"), str) and isinstance(e.get("value"), str)
                for e in fixed
            ):
                raise ApiError(422, f"correction of turn {key}: entities must be [{{entity, value}}] with text values")
            names = {e["entity"] for e in fixed}
            if not names <= set(domain.entities):
                raise ApiError(422, f"correction of turn {key}: unknown entity {sorted(names - set(domain.entities))}")
            corrections[int(key)] = stories.Correction(str(fix["intent"]), tuple(fixed))
        events = await _events(request, sender_id)
        if events is None:
            raise ApiError(404, f"no conversation {sender_id}")
        ws = workspace(request)
        safe = "".join(ch if ch.isalnum() else "_" for ch in mask_pii(sender_id))[:40]
        name = f"{time.strftime('%Y%m%d_%H%M%S')}_{safe}_{uuid.uuid4().hex[:6]}"
        try:
            training, test = stories.build(
                events,
                upto=upto,
                corrections=corrections,
                next_action=None if next_ok else str(next_action),
                name=name,
                kind=str(kind),
                keep_slots={s.name for s in domain.slots if s.influence_conversation},
            )
            saved = await _in_thread(
                stories.save_story,
                ws.data_dir,
                ws.test_stories_dir,
                trainer=trainer,
                conversation=sender_id,
                training_yaml=training,
                test_yaml=test,
                name=name,
                kind=str(kind),
                validate=_validator(ws.root),
            )
        except InvalidData as error:
            raise ApiError(422, str(error), validation=error.messages)
        except (stories.StoryError, ExampleError) as error:
            raise ApiError(422, str(error))
        except LockTimeout:
            raise ApiError(503, "another trainer's save is taking long; try again in a minute")
        return response.json(
            {
                "story_file": _relative(ws, saved.training_file),
                "test_file": _relative(ws, saved.test_file),
                "name": saved.name,
            },
            status=201,
        )

    @route("/trainer/imports", methods=("POST",))
    async def trainer_import(request: Request) -> HTTPResponse:
        trainer = (request.args.get("trainer") or "").strip()
        if not trainer or len(trainer) > 64:
            raise ApiError(400, "'trainer' query parameter is required (at most 64 characters)")
        filename = (request.args.get("filename") or "").strip()[:200]
        ws = workspace(request)
        reading = [m for m in import_store.list_imports(ws) if m.get("status") == "reading"]
        if reading:
            raise ApiError(409, "another import is being read; wait for it to finish", import_id=reading[0]["import"])
        try:
            messages = await _in_thread(read_export, request.body or b"", filename)
        except ImportRefused as error:
            raise ApiError(
                413 if error.too_big else 422,
                str(error),
                problems=[{"row": r, "problem": p} for r, p in error.problems[:200]],
            )
        meta = import_store.create(ws, trainer=trainer, filename=filename, messages=messages)
        request.app.add_task(_read_import(request.app, ws, meta["import"], messages))
        return response.json(meta, status=202)

    @route("/trainer/imports")
    async def trainer_imports(request: Request) -> HTTPResponse:
        return response.json({"imports": import_store.list_imports(workspace(request))})

    @route("/trainer/imports/<import_id>")
    async def trainer_import_status(request: Request, import_id: str) -> HTTPResponse:
        try:
            return response.json(import_store.meta(workspace(request), import_id))
        except import_store.ImportNotFound:
            raise ApiError(404, f"no import {import_id}")


async def _read_import(app: Any, ws: Workspace, import_id: str, messages: list[Any]) -> None:
    """Reads an import's buyer turns with the live model, saving progress as it goes."""
    events: dict[str, list[dict[str, Any]]] = {}
    read = 0
    try:
        for message in messages:
            conversation = events.setdefault(message.conversation_id, [])
            if message.role != "buyer":
                conversation.append(import_store.agent_event(message))
                continue
            if not message.text:
                continue
            parse = await app.ctx.agent.parse_message(as_customer_text(message.text))
            conversation.append(import_store.user_event(message, parse))
            read += 1
            await asyncio.sleep(0)  # a customer's turn waiting on this worker goes next
            if read % PROGRESS_EVERY == 0:
                kept = events if read % EVENTS_EVERY == 0 else None
                await _in_thread(import_store.save_progress, ws, import_id, kept, read=read)
        await _in_thread(import_store.save_progress, ws, import_id, events, read=read, status="done")
    except Exception as error:  # noqa: BLE001 - recorded on the import; the server goes on
        logger.exception("import %s failed after %d turns", import_id, read)
        import_store.save_progress(ws, import_id, events, read=read, status="failed", error=type(error).__name__)


def _relative(ws: Workspace, path: Any) -> str:
    try:
        return str(Path(path).resolve().relative_to(ws.root))
    except ValueError:
        return str(path)
