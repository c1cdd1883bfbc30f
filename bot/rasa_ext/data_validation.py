"""``rasa data validate`` run in-process, in a separate worker process, for the trainers' saves (issue 11).

The checks are exactly those of ``rasa data validate`` (``rasa.cli.utils.validate_files`` without
``--fail-on-warnings``): domain validity, actions/forms/slots used in stories and rules, slot
mappings, NLU (intents and entities against the domain, the same example under two intents),
and story structure (conflicting stories). The CLI takes ~24 s here (Python and Rasa start each
time); reading the project takes ~10 s of that, all pure-Python YAML parsing, so it runs in one
long-lived worker process (``spawn``, Rasa imported once) instead of a thread of the server,
where it would hold the GIL against customers' turns.

:func:`validate` is what the routes await; :func:`check_project` is the worker's function and can
be called directly (tests, tools).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

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
                validator.verify_story_structure(True, max_history=None),
            ]
            ok = all(checks)
        except Exception as error:  # noqa: BLE001 - a broken file is a result, not a crash
            return Validation(False, [f"{type(error).__name__}: {error}"])
    messages = [str(w.message) for w in caught if not any(n in str(w.message) for n in NOISE)]
    return Validation(ok, list(dict.fromkeys(messages))[:20])


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
    """:func:`check_project` in the worker process, waited for from a plain thread (a save's file lock is held there)."""
    return _executor().submit(check_project, root).result()


def shutdown() -> None:
    """Stops the worker process (server stop)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
