"""Makes Rasa's silent failures loud, for every channel.

Rasa 3.6 logs "Encountered an exception while running action ... the actions events are
lost" and carries on when a custom action fails (the action server is down, a bug), so the
customer gets no answer and nobody notices. A channel runs each message inside
:func:`watch_turn`; a logging handler on Rasa's processor records such failures for the
turn, and the channel then answers with a clear error message, queues the conversation for
a human, and counts the failure for the health check (``GET /api/health``).

Rasa also wraps the tracker store in a ``FailSafeTrackerStore`` that silently switches to
memory when Redis fails; :func:`unwrap_tracker_store` removes that wrapper, so a Redis
failure reaches the channel as an error (a 503 and a log line) instead of a conversation
that quietly forgets everything.
"""

from __future__ import annotations

import contextvars
import logging
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional

if TYPE_CHECKING:
    from rasa.core.agent import Agent

logger = logging.getLogger(__name__)

_turn: contextvars.ContextVar[Optional[List[str]]] = contextvars.ContextVar("turn_problems", default=None)
FAILURES: Dict[str, Any] = {"count": 0, "last": None, "last_at": None}
_MARKERS = ("Encountered an exception while running action", "the actions events are lost")


class _ActionFailureHandler(logging.Handler):
    """Records Rasa's 'action failed, events lost' log lines against the current turn."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken log record must not break the turn
            return
        if any(marker in message for marker in _MARKERS):
            problems = _turn.get()
            if problems is not None:
                problems.append(message[:300])
            FAILURES["count"] += 1
            FAILURES["last"] = message[:300]
            FAILURES["last_at"] = time.time()


_handler = _ActionFailureHandler(level=logging.ERROR)


def install() -> None:
    """Attaches the handler to Rasa's processor logger (once)."""
    target = logging.getLogger("rasa.core.processor")
    if _handler not in target.handlers:
        target.addHandler(_handler)


@contextmanager
def watch_turn() -> Iterator[List[str]]:
    """Collects the action failures of one message; the list is empty when all went well."""
    problems: List[str] = []
    token = _turn.set(problems)
    try:
        yield problems
    finally:
        _turn.reset(token)


def unwrap_tracker_store(agent: Agent) -> None:
    """Replaces Rasa's FailSafeTrackerStore (silent fallback to memory) by the real store."""
    from rasa.core.tracker_store import FailSafeTrackerStore

    store = agent.tracker_store
    if isinstance(store, FailSafeTrackerStore):
        real = store._tracker_store
        agent.tracker_store = real
        if agent.processor is not None:
            agent.processor.tracker_store = real
        logger.info("tracker store %s in use without silent in-memory fallback", type(real).__name__)
