"""Saving a trainer's corrected example as Rasa training data, safely (issue 11).

A save is:

- **checked**: the intent and entity names are the domain's; every entity span falls on jieba's
  tokens (:mod:`bot.trainer.spans`); the same text (:func:`comparable`: normalised, punctuation and case ignored) is not already
  an example of another intent anywhere under ``data/nlu/`` (:class:`Contradiction`, with both);
- **append-only and atomic**: one file per intent, ``data/nlu/trainer/<intent>.yml``, rewritten
  with the new line added to a temporary file and moved into place (``os.replace``), so a crash
  leaves the old or the new file, never half of one; nothing already there is changed;
- **serialised**: the check and the write happen under one cross-process file lock
  (``filelock``), so two trainers saving at once both keep their example;
- **audited**: one JSON line per save in ``data/trainer_audit.jsonl`` (who, when, what, from which
  conversation);
- **validated**: the caller passes ``validate`` (``rasa data validate`` on the project, which needs
  Rasa, so it is given from outside this plain package); it runs under the lock after the write,
  and the file is put back as it was when it reports errors (:class:`InvalidData`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock

from bot.language.normalize import normalize_text
from bot.privacy import mask_pii
from bot.trainer.spans import Misaligned, misaligned
from bot.trainer.values import canonical, vocabularies

TRAINER_DIR = "trainer"
BAD_CATEGORIES = {"Cc", "Cs", "Zl", "Zp", "Co", "Cn"}
"""Unicode categories a saved line may not hold: controls (line breaks too), surrogates, separators, unassigned."""
AUDIT_FILE = "trainer_audit.jsonl"
LOCK_TIMEOUT_SECONDS = 120.0
"""Longest wait for another trainer's save (each holds the lock through ``rasa data validate``, ~10 s)."""
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML has it (all NLU files are read on every save)."""
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


class ExampleError(ValueError):
    """The example cannot be saved; ``status`` is the HTTP status the API answers with."""

    status = 422


class Contradiction(ExampleError):
    """The same text is already an example of another intent (409, both shown)."""

    status = 409

    def __init__(self, text: str, intent: str, existing_intent: str, existing_file: str) -> None:
        super().__init__(
            f"{text!r} is already an example of {existing_intent} in {existing_file}; "
            f"saving it as {intent} would teach the model both"
        )
        self.existing_intent = existing_intent
        self.existing_file = existing_file


class InvalidData(ExampleError):
    """``rasa data validate`` refused the project with the new file (422, its messages); nothing was kept."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__("rasa data validate refused the result: " + "; ".join(messages or ["no details"]))
        self.messages = list(messages)


Validate = Callable[[], Sequence[str]]
"""Runs ``rasa data validate`` on the project as it is on disk; returns its errors (empty = valid)."""


class MisalignedSpans(ExampleError):
    """Entity spans Rasa could not learn (422, each with its reason and the span that works)."""

    def __init__(self, problems: Sequence[Misaligned]) -> None:
        super().__init__("; ".join(f"{p.entity} {p.start}-{p.end}: {p.reason}" for p in problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Saved:
    """Where the example went; ``duplicate`` when the same line (words and marks) was already there (``file``)."""

    file: Path
    line: str
    duplicate: bool = False


def plain_text(example: str) -> str:
    """An example line without Rasa's entity markup (``[电饭煲](product)`` → ``电饭煲``)."""
    return _ANNOTATION.sub(lambda m: m.group(1), example)


def annotate(text: str, entities: Sequence[Mapping[str, Any]]) -> str:
    """Rasa's markup for ``text`` with ``entities`` (``[电饭煲](product)``, or the JSON form when
    the value differs from the text or a role is given)."""
    out, cursor = [], 0
    for entity in sorted(entities, key=lambda e: int(e["start"])):
        start, end = int(entity["start"]), int(entity["end"])
        piece = text[start:end]
        value = entity.get("value")
        extra = {k: entity[k] for k in ("role", "group") if entity.get(k)}
        if (value is None or value == piece) and not extra:
            markup = f"[{piece}]({entity['entity']})"
        else:
            body = {"entity": entity["entity"], **({"value": value} if value not in (None, piece) else {}), **extra}
            markup = f"[{piece}]{json.dumps(body, ensure_ascii=False)}"
        out += [text[cursor:start], markup]
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def _examples_of(path: Path) -> Iterable[tuple[str, str]]:
    """``(intent, example line)`` pairs of one Rasa NLU file (lookups and synonyms skipped)."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or {}
    for block in data.get("nlu") or []:
        if not isinstance(block, dict) or "intent" not in block:
            continue
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                yield str(block["intent"]), line[2:].strip()


def comparable(text: str) -> str:
    """The form two examples are compared in: normalised (:func:`normalize_text`), lower case, only
    letters and digits (spaces, punctuation, quotes and emoji ignored: "快递，丢了！" = "快递丢了")."""
    return re.sub(r"[\W_]+", "", normalize_text(text)).lower()


def existing(nlu_dir: Path) -> dict[str, list[tuple[str, str, str]]]:
    """Every example under ``nlu_dir``, by :func:`comparable` plain text → ``[(intent, file, line)]``."""
    index: dict[str, list[tuple[str, str, str]]] = {}
    for path in sorted(nlu_dir.rglob("*.yml")):
        for intent, line in _examples_of(path):
            index.setdefault(comparable(plain_text(line)), []).append((intent, str(path), line))
    return index


def save_lock(data_dir: Path) -> FileLock:
    """The one lock of all saves into ``data_dir`` (kept in ``var/``, outside the training data)."""
    folder = data_dir.parent / "var"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / "trainer-save.lock"), timeout=LOCK_TIMEOUT_SECONDS)


def write_atomically(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the project's files are world-readable
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_checked(path: Path, content: str, validate: Validate | None, then: Callable[[], None] | None = None) -> None:
    """Writes ``path`` atomically, runs ``validate`` and then ``then`` (the audit line); when the
    validation reports errors or anything fails, the old file is put back and the error raised.

    Call under :func:`save_lock`, so no other save sees the file while it is being checked.

    Raises:
        InvalidData: ``validate`` returned errors (the file is as it was before).
    """
    before = path.read_bytes() if path.exists() else None
    write_atomically(path, content)
    try:
        errors = list(validate()) if validate is not None else []
        if errors:
            raise InvalidData(errors)
        if then is not None:
            then()
    except BaseException:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            write_atomically(path, before.decode("utf-8"))
        raise


def audit(data_dir: Path, record: Mapping[str, Any]) -> None:
    """Appends one JSON line to ``data_dir/trainer_audit.jsonl`` (call under :func:`save_lock`)."""
    with (data_dir / AUDIT_FILE).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(dict(record), ensure_ascii=False) + "\n")


def _render(intent: str, lines: Sequence[str]) -> str:
    body = "".join(f"    - {line}\n" for line in lines)
    return (
        "# Written by the trainers' workbench (bot/trainer/examples.py): one line per saved correction;\n"
        "# who saved each one is in data/trainer_audit.jsonl.\n"
        f'version: "3.1"\nnlu:\n- intent: {intent}\n  examples: |\n{body}'
    )


def _with_value(text: str, entity: Mapping[str, Any]) -> dict[str, Any]:
    """The entity with its value read into the entity's vocabulary (:func:`bot.trainer.values.canonical`).

    Raises:
        ExampleError: the words cannot be one of the vocabulary's values (422, the values listed).
    """
    name, words = str(entity["entity"]), text[int(entity["start"]) : int(entity["end"])]
    value = canonical(name, words, entity.get("value"))
    if value is None:
        choices = "、".join(vocabularies()[name])
        raise ExampleError(f"「{words}」 is no {name} the bot knows; give its value, one of: {choices}")
    return {**entity, "value": value}


def save_example(
    data_dir: Path,
    *,
    trainer: str,
    text: str,
    intent: str,
    entities: Sequence[Mapping[str, Any]] = (),
    known_intents: Iterable[str],
    known_entities: Iterable[str],
    conversation: str | None = None,
    validate: Validate | None = None,
    clock: Any = time.time,
) -> Saved:
    """Checks and appends one example to ``data_dir/nlu/trainer/<intent>.yml``.

    Args:
        data_dir: the project's ``data/`` folder.
        trainer: the name the trainer logged in with (recorded in the audit log).
        text: the customer's text as the trainer wants it learned (one line).
        intent, entities: the corrected reading; entity spans are character offsets into ``text``.
        known_intents, known_entities: the domain's names.
        conversation: the conversation it came from, for the audit log.
        validate: ``rasa data validate`` on the project, run under the lock after the write; the
            example is kept only when it returns no errors.

    Returns:
        The file and the line written (``duplicate=True``, nothing written, when the same line,
        marks included, is already an example of the same intent; the same words with other marks
        are written, so a correction of the entities is never lost).

    Raises:
        ExampleError: empty text or trainer, text over one line, unknown intent or entity, words
            that are no value of the entity's vocabulary and no value given (422).
        MisalignedSpans: an entity span off jieba's tokens (422).
        Contradiction: the text is already an example of another intent (409).
        InvalidData: ``validate`` refused the result (422; nothing kept).
        filelock.Timeout: another save held the lock for over :data:`LOCK_TIMEOUT_SECONDS`.
    """
    text = text.strip()
    if not trainer.strip():
        raise ExampleError("a trainer name is required")
    if not text or len(text) > 500:
        raise ExampleError("the text must be one non-empty line of at most 500 characters")
    for what, value in (("text", text), ("trainer", trainer), ("conversation", conversation or "")):
        if any(unicodedata.category(ch) in BAD_CATEGORIES for ch in value):
            raise ExampleError(f"the {what} holds line breaks, control or invalid characters")
    if _ANNOTATION.search(text) or plain_text(text) != text:
        raise ExampleError("the text holds [words](name) or [words]{...}, which Rasa reads as an annotation")
    if mask_pii(text) != text:
        raise ExampleError("the text holds a phone number, an ID number or an address: leave it masked")
    spans = sorted((int(e.get("start") or 0), int(e.get("end") or 0)) for e in entities)
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
        raise ExampleError("two entities overlap; Rasa gives each word one entity")
    for entity in entities:
        if any(ch in str(entity.get("value") or "") for ch in '[]{}()"\\') or "\n" in str(entity.get("value") or ""):
            raise ExampleError(f"the value of {entity.get('entity')} holds brackets, quotes or a line break")
    if intent not in set(known_intents):
        raise ExampleError(f"unknown intent {intent!r}")
    names = set(known_entities)
    unknown = sorted({str(e.get("entity")) for e in entities} - names)
    if unknown:
        raise ExampleError(f"unknown entit{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}")
    problems = misaligned(text, entities)
    if problems:
        raise MisalignedSpans(problems)
    entities = [_with_value(text, e) for e in entities]
    line = annotate(text, entities)
    nlu_dir = data_dir / "nlu"
    target = nlu_dir / TRAINER_DIR / f"{intent}.yml"
    with save_lock(data_dir):
        found = existing(nlu_dir).get(comparable(text)) or []
        other = next((f for f in found if f[0] != intent), None)
        if other is not None:
            raise Contradiction(text, intent, other[0], other[1])
        same = next((f for f in found if f[2] == line), None)
        if same is not None:  # the same words with the same marks: nothing to add
            return Saved(Path(same[1]), line, duplicate=True)
        lines = [example for _, example in _examples_of(target)] if target.exists() else []
        record = {
            "time": clock(),
            "trainer": trainer.strip(),
            "action": "save_example",
            "intent": intent,
            "example": line,
            "file": str(target.relative_to(data_dir.parent)) if data_dir.parent in target.parents else str(target),
            "conversation": conversation,
        }
        write_checked(target, _render(intent, [*lines, line]), validate, then=lambda: audit(data_dir, record))
    return Saved(target, line)


def remove_example(data_dir: Path, saved: Saved, *, trainer: str, reason: str) -> None:
    """Takes back a line :func:`save_example` wrote (when ``rasa data validate`` refused the result)."""
    with save_lock(data_dir):
        lines = [example for _, example in _examples_of(saved.file)]
        if saved.line in lines:
            lines.remove(saved.line)
            intent = saved.file.stem
            if lines:
                write_atomically(saved.file, _render(intent, lines))
            else:
                saved.file.unlink()
        record = {"time": time.time(), "trainer": trainer, "action": "remove_example", "example": saved.line}
        audit(data_dir, {**record, "reason": reason})
