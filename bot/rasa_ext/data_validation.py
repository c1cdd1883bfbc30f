"""``rasa data validate`` run in-process, in a separate worker process, for the trainers' saves (issue 11).

The checks are those of ``rasa data validate`` (``rasa.cli.utils.validate_files``): domain
validity, actions/forms/slots used in stories and rules, slot mappings, NLU (intents and
entities against the domain; its warnings, such as the same example under two intents, are
reported but do not fail: the save checks contradictions itself), and story structure, where a
conflict fails (the CLI only warns). When trainers saved stories or rules, RulePolicy's own
check runs as well, since ``rasa train`` refuses a rule that contradicts another. The CLI takes ~24 s here (Python and Rasa start each
time); reading the project takes ~10 s of that, all pure-Python YAML parsing, so it runs in one
long-lived worker process (``spawn``, Rasa imported once) instead of a thread of the server,
where it would hold the GIL against customers' turns.

:func:`validate` is what the routes await; :func:`check_project` is the worker's function and can
be called directly (tests, tools).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import tempfile
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_pool: ProcessPoolExecutor | None = None

NOISE = ("is not used in any story", "is not used in any rule", "not used in any story or rule")
"""Warnings every run of the project prints (responses only the actions send): not shown to trainers."""


@dataclass(frozen=True)
class Validation:
    """The result: ``ok`` as ``rasa data validate`` would exit; ``messages`` its errors and warnings (noise removed)."""

    ok: bool
    messages: list[str] = field(default_factory=list)


def check_project(root: str) -> Validation:
    """Runs ``rasa data validate``'s checks on ``root`` (``config.yml``, ``domain.yml``, ``data/``).

    Never raises: a file Rasa cannot read is ``Validation(False, [its error])``.
    """
    from rasa.shared.importers.importer import TrainingDataImporter
    from rasa.validator import Validator

    base = Path(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            importer = TrainingDataImporter.load_from_config(
                str(base / "config.yml"), str(base / "domain.yml"), [str(base / "data")]
            )
            validator = Validator.from_importer(importer)
            checks = [
                validator.verify_domain_validity(),
                validator.verify_actions_in_stories_rules(),
                validator.verify_forms_in_stories_rules(),
                validator.verify_form_slots(),
                validator.verify_slot_mappings(),
                validator.verify_nlu(True),
                # stricter than the CLI's default: a story that conflicts with another is refused
                validator.verify_story_structure(False, max_history=None),
            ]
            conflicts = _rule_conflicts(importer) if _has_trainer_stories(base) else []
            ok = all(checks) and not conflicts
        except Exception as error:  # noqa: BLE001 - a broken file is a result, not a crash
            return Validation(False, [f"{type(error).__name__}: {error}"])
    messages = conflicts + [
        str(w.message)
        for w in caught
        if not issubclass(w.category, DeprecationWarning) and not any(n in str(w.message) for n in NOISE)
    ]
    return Validation(ok, list(dict.fromkeys(messages))[:20])


def _has_trainer_stories(root: Path) -> bool:
    folder = root / "data" / "stories" / "trainer"
    return folder.is_dir() and any(folder.glob("*.yml"))


def _rule_conflicts(importer: Any) -> list[str]:
    """What ``rasa train`` would refuse in the rules: RulePolicy's own check, run on all stories and
    rules (a rule contradicting another rule, or a rule never applying), a few seconds."""
    from rasa.core.policies.rule_policy import InvalidRule, RulePolicy
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.core.generator import TrainingDataGenerator

    domain = importer.get_domain()
    trackers = TrainingDataGenerator(
        importer.get_stories(), domain, augmentation_factor=0, use_story_concatenation=False
    ).generate()
    with tempfile.TemporaryDirectory() as folder:
        policy = RulePolicy.create(
            RulePolicy.get_default_config(),
            LocalModelStorage(Path(folder)),
            Resource("rule_check"),
            ExecutionContext(GraphSchema({}), "rule_check"),
        )
        try:
            policy.train(trackers, domain)
        except InvalidRule as error:
            return [str(error).strip()]
    return []


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return _pool


async def validate(root: Path) -> Validation:
    """:func:`check_project` in the worker process (started on first use, ~5 s; then ~10 s a run)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), check_project, str(root))


def check_in_worker(root: str) -> Validation:
    """:func:`check_project` in the worker process, waited for from a plain thread (a save's file lock is held there).

    A worker that died is replaced once; when the check still cannot run, the result is a
    refusal that says so (nothing unchecked is kept), never an exception.
    """
    global _pool
    for _ in (1, 2):
        try:
            return _executor().submit(check_project, root).result()
        except BrokenProcessPool:
            _pool = None  # started again on the next call
        except Exception as error:  # noqa: BLE001 - reported as a refusal
            return Validation(False, [f"the validation could not run: {type(error).__name__}"])
    return Validation(False, ["the validation could not run: its worker process keeps dying"])


def shutdown() -> None:
    """Stops the worker process (server stop)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
