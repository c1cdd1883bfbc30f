"""The windowed Redis tracker store, on the real Redis server of the test run."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_ext.tracker_store import WindowedRedisTrackerStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(ROOT / "domain.yml")


@pytest.fixture()
def store(domain, redis_server) -> WindowedRedisTrackerStore:  # type: ignore[no-untyped-def]
    return WindowedRedisTrackerStore(
        domain,
        host=redis_server.host,
        port=redis_server.port,
        db=redis_server.db,
        key_prefix=f"t{uuid.uuid4().hex[:8]}",
        window_events=40,
    )


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def turn(tracker: DialogueStateTracker, text: str, *extra) -> None:  # type: ignore[no-untyped-def]
    """One customer turn: the message, an action with its events, a reply, listening again."""
    tracker.update(UserUttered(text, {"name": "inform", "confidence": 0.9}))
    tracker.update(ActionExecuted("action_understand"))
    for event in extra:
        tracker.update(event)
    tracker.update(BotUttered(f"回复 {text}"))
    tracker.update(ActionExecuted("action_listen"))


def talk(store: WindowedRedisTrackerStore, sender: str, turns: int, start: int = 0, extras=None) -> None:  # type: ignore[no-untyped-def]
    """``turns`` turns, each retrieved from and saved to the store like Rasa's processor does."""
    extras = extras or {}
    for i in range(start, start + turns):
        tracker = run(store.retrieve(sender)) or run(store.create_tracker(sender))
        turn(tracker, f"第{i}句", *extras.get(i, ()))
        run(store.save(tracker))


def test_a_turn_appends_only_its_new_events(store) -> None:  # type: ignore[no-untyped-def]
    sender = "c1"
    talk(store, sender, 1)
    before = store.red.llen(store.events_key(sender))
    talk(store, sender, 1, start=1)
    assert store.red.llen(store.events_key(sender)) == before + 4
    texts = [e.text for e in run(store.retrieve(sender)).events if isinstance(e, UserUttered)]
    assert texts == ["第0句", "第1句"]


def test_a_long_conversation_is_handed_out_as_a_window_with_its_state(store) -> None:  # type: ignore[no-untyped-def]
    sender = "c2"
    talk(
        store,
        sender,
        60,
        extras={
            1: [SlotSet("order_id", "123456789012")],
            5: [SlotSet("complaint_type", "logistics"), ActiveLoop("complaint_form")],
            50: [SlotSet("complaint_type", "product")],
            55: [ConversationPaused()],
        },
    )
    window = run(store.retrieve(sender))
    full = run(store.retrieve_full_tracker(sender))
    assert len(full.events) == store.red.llen(store.events_key(sender)) > 240
    assert len(window.events) <= 40 + 5
    # the window starts between turns and carries the state from before it
    assert window.get_slot("order_id") == "123456789012"
    assert window.get_slot("complaint_type") == "product"
    assert window.active_loop_name == "complaint_form"
    assert window.is_paused()
    for name in ("order_id", "complaint_type", "urgency"):
        assert window.get_slot(name) == full.get_slot(name)
    assert window.latest_message.text == full.latest_message.text == "第59句"
    # the policies see the same recent history
    assert [e.text for e in window.events if isinstance(e, UserUttered)][-5:] == [f"第{i}句" for i in range(55, 60)]


def test_resuming_in_the_window_wins_over_an_older_pause(store) -> None:  # type: ignore[no-untyped-def]
    sender = "c3"
    talk(store, sender, 40, extras={2: [ConversationPaused()], 38: [ConversationResumed()]})
    assert not run(store.retrieve(sender)).is_paused()


def test_a_new_session_starts_a_fresh_window(store) -> None:  # type: ignore[no-untyped-def]
    sender = "c4"
    talk(store, sender, 20, extras={3: [SlotSet("order_id", "998877665544")]})
    tracker = run(store.retrieve(sender))
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    tracker.update(ActionExecuted("action_listen"))
    run(store.save(tracker))
    talk(store, sender, 2, start=20)
    window = run(store.retrieve(sender))
    assert isinstance(window.events[0], SessionStarted)
    assert window.get_slot("order_id") is None
    assert len(run(store.retrieve_full_tracker(sender)).events) > 80


def test_a_tracker_the_store_did_not_hand_out_replaces_the_conversation(store, domain) -> None:  # type: ignore[no-untyped-def]
    sender = "c5"
    talk(store, sender, 5)
    replacement = DialogueStateTracker.from_events(
        sender, [ActionExecuted("action_listen"), UserUttered("只有这一句")], domain.slots
    )
    run(store.save(replacement))
    events = run(store.retrieve_full_tracker(sender)).events
    assert [e.text for e in events if isinstance(e, UserUttered)] == ["只有这一句"]


def test_a_concurrent_write_is_not_lost(store) -> None:  # type: ignore[no-untyped-def]
    sender = "c6"
    talk(store, sender, 2)
    first, second = run(store.retrieve(sender)), run(store.retrieve(sender))
    turn(first, "客户的话")
    run(store.save(first))
    second.update(BotUttered("客服的话"))
    run(store.save(second))
    events = run(store.retrieve_full_tracker(sender)).events
    assert any(isinstance(e, UserUttered) and e.text == "客户的话" for e in events)
    assert any(isinstance(e, BotUttered) and e.text == "客服的话" for e in events)


def test_unknown_conversations_and_keys(store) -> None:  # type: ignore[no-untyped-def]
    assert run(store.retrieve("nobody")) is None
    assert run(store.retrieve_full_tracker("nobody")) is None
    assert not run(store.exists("nobody"))
    talk(store, "c7", 1)
    assert run(store.exists("c7"))
    assert list(run(store.keys())) == ["c7"]
