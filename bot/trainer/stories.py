"""A story, a rule and a test story from a reviewed conversation (issue 11).

Plain Python over the tracker's events as dicts (the shape :mod:`bot.trainer.review` reads).
The trainer picks a turn (``upto``), may correct the intent and entities of any turn up to it,
and says whether the bot's next action after that turn was right; if not, which action should
have come. From that:

- **story** (``data/stories/trainer/<name>.yml``): every turn up to ``upto`` as Rasa story steps
  (intent with entities, the actions, slots set, form activation), ending with the right next
  action(s). MemoizationPolicy learns it on the next training.
- **rule**: only the ``upto`` turn: its intent followed by the right next action(s); for
  single-turn answers (a consult question), where the conversation before does not matter.
- **test story** (``tests/trainer_stories/test_<name>.yml``): the story with the customers' texts
  (masked: :func:`bot.privacy.mask_pii`), so ``rasa test`` checks NLU and dialogue together.

The YAML is written by hand from plain data (``yaml.safe_dump``) and checked by ``rasa data
validate`` before it is kept (the caller's step, as for examples).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.privacy import mask_pii
from bot.trainer.examples import TRAINER_DIR, ExampleError, Validate, audit, save_lock, write_atomically, write_checked

SKIPPED_ACTIONS = {"action_listen", "action_session_start"}
"""Actions a story never lists (Rasa adds them itself)."""


class StoryError(ValueError):
    """The story cannot be built (answered 422)."""


@dataclass(frozen=True)
class Correction:
    """A trainer's reading of one turn: intent and entities (``entity``, ``value``, ``start``, ``end``)."""

    intent: str
    entities: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Turn:
    """One customer turn and what followed it, as a story needs it."""

    text: str
    intent: str
    entities: tuple[Mapping[str, Any], ...]
    after: tuple[dict[str, Any], ...]
    """Story steps after the user message: ``{"action": ...}``, ``{"slot_was_set": [...]}``, ``{"active_loop": ...}``."""


def _masked(value: Any) -> Any:
    return mask_pii(value) if isinstance(value, str) else value


def turns_of(events: Sequence[Mapping[str, Any]], keep_slots: set[str] | None = None) -> list[Turn]:
    """The customer turns of a conversation with the steps that followed each (bot texts dropped).

    ``keep_slots``: the slots a story lists (those that influence the conversation); None keeps all.
    Slot and entity values are masked (:func:`bot.privacy.mask_pii`): training data holds no phone numbers.
    """
    drafts: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            parse = event.get("parse_data") or {}
            drafts.append(
                {
                    "text": str(event.get("text") or ""),
                    "intent": str((parse.get("intent") or {}).get("name") or ""),
                    "entities": tuple(dict(e) for e in parse.get("entities") or []),
                    "after": [],
                }
            )
        elif not drafts:
            continue
        elif kind == "action" and event.get("name") not in SKIPPED_ACTIONS:
            drafts[-1]["after"].append({"action": str(event["name"])})
        elif kind == "slot" and event.get("name") and (keep_slots is None or event["name"] in keep_slots):
            drafts[-1]["after"].append({"slot_was_set": [{str(event["name"]): _masked(event.get("value"))}]})
        elif kind == "active_loop":
            drafts[-1]["after"].append({"active_loop": event.get("name")})
    return [Turn(d["text"], d["intent"], d["entities"], tuple(d["after"])) for d in drafts]


def _entities(entities: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in entities:
        step: dict[str, Any] = {str(e["entity"]): _masked(e.get("value"))}
        if e.get("role"):
            step = {"entity": e["entity"], "value": _masked(e.get("value")), "role": e["role"]}
        out.append(step)
    return out


def _user_step(turn: Turn, *, test: bool) -> dict[str, Any]:
    step: dict[str, Any] = {}
    if test:
        step["user"] = mask_pii(turn.text)
    step["intent"] = turn.intent
    if turn.entities and not test:  # a test story's entities would be markup in the (masked) text
        step["entities"] = _entities(turn.entities)
    return step


def _ending(turn: Turn, next_action: str | None) -> list[dict[str, Any]]:
    """What follows the last turn: its own steps when they were right, else the right action alone."""
    if next_action is None:
        return list(turn.after)
    return [{"action": next_action}]


def build(
    events: Sequence[Mapping[str, Any]],
    *,
    upto: int,
    corrections: Mapping[int, Correction],
    next_action: str | None,
    name: str,
    kind: str = "story",
    keep_slots: set[str] | None = None,
) -> tuple[str, str]:
    """The training YAML (story or rule) and the test story YAML for one conversation.

    Args:
        events: the tracker's events as dicts, oldest first.
        upto: index of the last customer turn to include (0-based, as in :mod:`bot.trainer.review`).
        corrections: turn index → the trainer's reading (others keep the NLU's).
        next_action: the action that should have followed turn ``upto``; None when the bot was right.
        name: the story's name (shown by ``rasa test``).
        kind: ``story`` or ``rule``.
        keep_slots: the slots the story lists (the domain's slots that influence the conversation).

    Returns:
        ``(training_yaml, test_yaml)``, each a complete Rasa 3.1 YAML file.

    Raises:
        StoryError: ``upto`` outside the conversation, an unknown kind, a turn without an intent,
            or a turn the bot did nothing after (nothing to learn).
    """
    if kind not in ("story", "rule"):
        raise StoryError(f"kind must be story or rule, got {kind!r}")
    turns = turns_of(events, keep_slots)
    if not 0 <= upto < len(turns):
        raise StoryError(f"the conversation has {len(turns)} customer turns; turn {upto} is not one of them")
    chosen = []
    for index, turn in enumerate(turns[: upto + 1]):
        fix = corrections.get(index)
        if fix is not None:
            turn = Turn(turn.text, fix.intent, tuple(fix.entities), turn.after)
        if not turn.intent:
            raise StoryError(f"turn {index} has no intent: correct it first")
        chosen.append(turn)
    last = chosen[-1]
    ending = _ending(last, next_action)
    if not any("action" in step for step in ending):
        raise StoryError(f"the bot did nothing after turn {upto}: say which action should have come")
    window = [last] if kind == "rule" else chosen

    def steps(test: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for turn in window[:-1]:
            out += [_user_step(turn, test=test), *turn.after]
        return [*out, _user_step(window[-1], test=test), *ending]

    key = "rules" if kind == "rule" else "stories"
    training = {"version": "3.1", key: [{kind: name, "steps": steps(False)}]}
    test = {"version": "3.1", "stories": [{"story": name, "steps": steps(True)}]}
    return _dump(training), _dump(test)


def _dump(data: Mapping[str, Any]) -> str:
    header = (
        "# Written by the trainers' workbench (bot/trainer/stories.py); who saved it is in data/trainer_audit.jsonl.\n"
    )
    return header + yaml.safe_dump(dict(data), allow_unicode=True, sort_keys=False, width=1000)


@dataclass(frozen=True)
class SavedStory:
    """The files a story save wrote (paths inside the workspace)."""

    training_file: Path
    test_file: Path
    name: str


def save_story(
    data_dir: Path,
    tests_dir: Path,
    *,
    trainer: str,
    conversation: str,
    training_yaml: str,
    test_yaml: str,
    name: str,
    kind: str,
    validate: Validate | None = None,
    clock: Any = time.time,
) -> SavedStory:
    """Writes a new story (or rule) file and its test story, each atomically, under the save lock.

    Each save is a new file (``data/stories/trainer/<name>.yml``, ``tests_dir/test_<name>.yml``),
    so nothing another trainer wrote is touched. ``validate`` runs after the training file is
    written; on errors both files are removed again.

    Raises:
        ExampleError: a story of that name exists already (409 is not needed: names carry the time).
        InvalidData: ``validate`` refused the result (nothing kept).
    """
    training_file = data_dir / "stories" / TRAINER_DIR / f"{name}.yml"
    test_file = tests_dir / f"test_{name}.yml"
    with save_lock(data_dir):
        if training_file.exists() or test_file.exists():
            raise ExampleError(f"a story named {name} exists already")
        write_checked(training_file, training_yaml, validate)
        write_atomically(test_file, test_yaml)
        audit(
            data_dir,
            {
                "time": clock(),
                "trainer": trainer,
                "action": f"save_{kind}",
                "name": name,
                "file": str(training_file),
                "test_file": str(test_file),
                "conversation": conversation,
            },
        )
    return SavedStory(training_file, test_file, name)
