"""A Redis tracker store whose per-turn cost does not grow with the conversation.

Rasa's own ``RedisTrackerStore`` keeps a conversation as one JSON document: every turn
reads and parses the whole document, replays every event into a tracker, and on saving
reads and parses it again to merge, then writes it all back. The policies then featurise
the whole history. At turn 50 a turn costs several times what it cost at turn 1.

This store keeps each conversation as a Redis list of events (``RPUSH`` of the new events
only, so nothing is ever rewritten) and a small hash with the conversation's current
state. The dialogue only needs the recent past: ``retrieve`` returns the last
``window_events`` events of the current session, preceded by the state at that point
(slot values, the active form, paused or not) as ``SlotSet``/``ActiveLoop``/
``ConversationPaused`` events. ``retrieve_full_tracker`` (the HTTP API, the agents'
transcripts) still returns every event.

Keys, for conversation ``S`` and prefix ``P``: ``P:events:S`` (list of JSON events),
``P:meta:S`` (hash: ``state`` JSON, ``session_start`` index of the last SessionStarted) and
``P:active`` (zset: every conversation, scored by when it was last saved, epoch seconds), which the
follow-up timer reads to find conversations that went quiet (the house-rule check, the promise
ledger) without scanning every key.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Iterable, Optional, Text

import redis
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    ConversationPaused,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.rasa_ext import patches as rasa_patches
from bot.store.client import retry_once
from bot.store.reply import sync_reply

rasa_patches.apply()  # the Rasa server imports this module at start (endpoints.yml)

logger = logging.getLogger(__name__)

# Attributes set on a retrieved tracker, so that ``save`` knows which events are new.
LOADED = "_windowed_loaded"  # events in the tracker object that came from the store
STORED = "_windowed_stored"  # length of the Redis list when the tracker was read

DEFAULT_WINDOW = 40


class WindowedRedisTrackerStore(TrackerStore):
    """Append-only Redis tracker store that hands the dialogue a bounded window."""

    def __init__(
        self,
        domain: Domain,
        host: Text = "localhost",
        port: int = 6379,
        db: int = 0,
        password: Optional[Text] = None,
        key_prefix: Text = "tracker",
        window_events: int = DEFAULT_WINDOW,
        record_exp: Optional[float] = None,
        event_broker: Any = None,
        client: Optional[redis.Redis] = None,
        **kwargs: Any,
    ) -> None:
        self.red = client or redis.Redis(
            host=host or "localhost",
            port=int(port or 6379),
            db=int(db or 0),
            password=password or None,
            decode_responses=True,
            **retry_once(asyncio=False),
        )
        self.prefix = str(key_prefix or "tracker")
        self.window = max(int(window_events), 20)
        self.record_exp = int(record_exp) if record_exp else None
        super().__init__(domain, event_broker, **kwargs)

    # keys -------------------------------------------------------------------------------
    def events_key(self, sender_id: Text) -> str:
        return f"{self.prefix}:events:{sender_id}"

    @property
    def active_key(self) -> str:
        """Zset of every conversation by when it was last saved (epoch seconds)."""
        return f"{self.prefix}:active"

    def meta_key(self, sender_id: Text) -> str:
        return f"{self.prefix}:meta:{sender_id}"

    # reading ----------------------------------------------------------------------------
    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The current session's recent events, preceded by the state they start from."""
        pipe = self.red.pipeline(transaction=True)
        pipe.llen(self.events_key(sender_id))
        pipe.hgetall(self.meta_key(sender_id))
        pipe.lrange(self.events_key(sender_id), -self.window, -1)
        total, meta, tail = pipe.execute()
        if not total:
            return None
        session_start = int(meta.get("session_start", 0))
        first = total - len(tail)  # list index of tail[0]
        if session_start >= first:
            events = [json.loads(e) for e in tail[session_start - first :]]
            prefix: list[dict[str, Any]] = []
        else:
            events = _from_a_turn_boundary([json.loads(e) for e in tail])
            prefix = _state_events(json.loads(meta.get("state") or "{}"), events)
        tracker = DialogueStateTracker.from_dict(sender_id, prefix + events, self.domain.slots)
        setattr(tracker, LOADED, len(tracker.events))
        setattr(tracker, STORED, int(total))
        return tracker

    async def retrieve_full_tracker(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """Every event of every session (the HTTP API, transcripts)."""
        stored = sync_reply(self.red.lrange(self.events_key(sender_id), 0, -1))
        if not stored:
            return None
        return DialogueStateTracker.from_dict(sender_id, [json.loads(e) for e in stored], self.domain.slots)

    async def keys(self) -> Iterable[Text]:
        start = len(f"{self.prefix}:meta:")
        return [k[start:] for k in self.red.scan_iter(match=f"{self.prefix}:meta:*")]

    async def exists(self, conversation_id: Text) -> bool:
        return bool(self.red.exists(self.events_key(conversation_id)))

    # writing ----------------------------------------------------------------------------
    async def save(self, tracker: DialogueStateTracker) -> None:
        """Appends the events that are not stored yet and records the current state.

        A tracker this store did not hand out (a new conversation, or the HTTP API replacing
        a conversation's events) replaces whatever was stored under its id.
        """
        events = list(tracker.events)
        loaded = getattr(tracker, LOADED, None)
        replace = loaded is None
        new = events if replace else events[loaded:]
        key, meta_key = self.events_key(tracker.sender_id), self.meta_key(tracker.sender_id)
        stored = 0 if replace else int(getattr(tracker, STORED))
        if not replace:
            current = int(sync_reply(self.red.llen(key)))
            if current != stored:
                logger.warning(
                    "conversation %s changed while this turn ran (%d stored events, %d expected); "
                    "appending this turn's events after the others",
                    tracker.sender_id,
                    current,
                    stored,
                )
                stored = current
        pipe = self.red.pipeline(transaction=True)
        if replace:
            pipe.delete(key)
        mapping = {"state": json.dumps(_state_of(tracker), ensure_ascii=False)}
        session = _last_session_start(new)
        if session is not None:
            mapping["session_start"] = str(stored + session)
        elif replace:
            mapping["session_start"] = "0"
        if new:
            pipe.rpush(key, *(json.dumps(e.as_dict(), ensure_ascii=False) for e in new))
        pipe.hset(meta_key, mapping=mapping)
        pipe.zadd(self.active_key, {tracker.sender_id: time.time()})
        if self.record_exp:
            pipe.expire(key, self.record_exp)
            pipe.expire(meta_key, self.record_exp)
        pipe.execute()
        await self._stream(tracker.sender_id, new)
        setattr(tracker, LOADED, len(events))
        setattr(tracker, STORED, stored + len(new))

    async def _stream(self, sender_id: Text, new: list[Event]) -> None:
        if self.event_broker is not None and new:
            await self._stream_new_events(self.event_broker, new, sender_id)


def _last_session_start(events: list[Event]) -> Optional[int]:
    """Index of the last SessionStarted/Restarted among ``events``."""
    for i in range(len(events) - 1, -1, -1):
        if isinstance(events[i], (SessionStarted, Restarted)):
            return i
    return None


def _from_a_turn_boundary(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drops events before the first ``action_listen``, so the window starts between turns."""
    for i, event in enumerate(events):
        if event.get("event") == ActionExecuted.type_name and event.get("name") == ACTION_LISTEN_NAME:
            return events[i:]
    return events


def _state_of(tracker: DialogueStateTracker) -> dict[str, Any]:
    """What a window needs to start from: slots that are set, the active form, paused."""
    slots = {name: slot.value for name, slot in tracker.slots.items() if slot.value != slot.initial_value}
    return {
        "slots": slots,
        "active_loop": tracker.active_loop_name,
        "paused": tracker.is_paused(),
    }


def _state_events(state: dict[str, Any], window: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The state as events, stamped just before the window's first event.

    The state is the one after the last saved turn; replaying the window on top of it ends
    in the same state, because every event in the window sets its value outright.
    """
    stamp = (window[0].get("timestamp") if window else None) or 0.0
    prefix: list[Event] = [SlotSet(k, v, timestamp=stamp) for k, v in state.get("slots", {}).items()]
    if state.get("active_loop"):
        prefix.append(ActiveLoop(state["active_loop"], timestamp=stamp))
    if state.get("paused"):
        prefix.append(ConversationPaused(timestamp=stamp))
    return [e.as_dict() for e in prefix]
