"""The action unit layer: a domain, a dispatcher and trackers built by hand, no servers.

The pattern of rasa-sdk's ``tests/test_forms.py`` and the financial demo: an action's ``run`` is
called with a ``CollectingDispatcher``, a ``Tracker`` made from slots and events, and the domain
as the action server passes it (the parsed ``domain.yml``); the test asserts on the returned
events and on ``dispatcher.messages`` (which response, with which values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

ROOT = Path(__file__).resolve().parents[2]

TrackerFactory = Callable[..., Tracker]


@pytest.fixture(scope="session")
def domain() -> DomainDict:
    """``domain.yml`` as the action server hands it to ``run`` (a plain dict)."""
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    """Collects what the action says (``dispatcher.messages``: dicts with ``response`` and its values)."""
    return CollectingDispatcher()


@pytest.fixture
def tracker_factory(domain: DomainDict) -> TrackerFactory:
    """Builds a ``Tracker`` like the one Rasa sends to the action server.

    Call it as ``tracker_factory(slots={...}, text="...", intent="...", entities=[...],
    events=[...], sender_id="rest-1", active_loop="settle_form", channel="rest")``:

    * ``slots``: set on top of the domain's initial slot values;
    * ``events``: earlier events (dicts as Rasa serialises them), before the latest message;
    * ``text``/``intent``/``entities``: the latest user message (its ``parse_data`` and
      ``latest_message``), appended after ``events`` with an ``action_listen`` before it;
      without ``text`` the tracker has no latest user message.
    """

    def make(
        *,
        slots: Optional[Dict[str, Any]] = None,
        events: Optional[List[Dict[str, Any]]] = None,
        text: Optional[str] = None,
        intent: Optional[str] = None,
        entities: Optional[List[Dict[str, Any]]] = None,
        sender_id: str = "test-sender",
        active_loop: Optional[str] = None,
        channel: str = "rest",
        confidence: float = 0.9,
    ) -> Tracker:
        values = {name: spec.get("initial_value") for name, spec in (domain.get("slots") or {}).items()}
        values.update(slots or {})
        history = list(events or [])
        latest: Dict[str, Any] = {}
        if text is not None:
            latest = {
                "text": text,
                "intent": {"name": intent or "nlu_fallback", "confidence": confidence},
                "entities": entities or [],
            }
            history += [
                {"event": "action", "name": "action_listen"},
                {
                    "event": "user",
                    "text": text,
                    "parse_data": latest,
                    "input_channel": channel,
                    "timestamp": 1_700_000_000.0 + len(history),
                },
            ]
        return Tracker(
            sender_id,
            values,
            latest,
            history,
            False,
            None,
            {"name": active_loop} if active_loop else {},
            "action_listen",
        )

    return make
