"""One customer turn, on every channel: inbox first, quiet window, one turn under the lock.

What the customer gets (issue 13, SPEC.md section 9):

* **Bursts are one turn.** A message waits in the customer's inbox (:mod:`bot.store.inbox`) until
  the customer has been quiet for ``BURST_WINDOW_SECONDS`` (default 1.5 s), but never longer than
  ``BURST_MAX_SECONDS`` (default 6 s) after the burst's first line. Then everything waiting is
  read as one message (:func:`bot.language.normalize.join_burst`) and answered once, on the
  request (or platform delivery) of the burst's last line; the others get no replies of their own
  (:attr:`TurnOutcome.merged`; REST answers them ``[]``).
* **One at a time, in arrival order, on any worker or replica.** The inbox is taken inside the
  customer's turn lock (:func:`turn_locks`, the atomic lock of ``bot/rasa_ext/lock_store.py``,
  whose waiting tickets never give up on a live process): whoever holds it takes everything that
  arrived before, in the order Redis received it, so a later message can never be answered
  before an earlier one.
* **No message lost when a process dies.** A message is in Redis before its channel answers the
  platform; if the process waiting for the quiet window dies, :func:`sweep` (every server, every
  few seconds) takes the inbox once it is overdue; if a process dies mid-turn, the batch's lease
  runs out and :func:`sweep` runs it again, unless the conversation already recorded it (the
  turn's metadata carries ``turn_id``, the batch id), so it is never answered twice. Replies of a
  swept turn go out through the channel's output (the REST outbox, the widget's room, WeChat's
  customer-service API).

Channels call :func:`handle` (REST: a crash is a 503) or :func:`answer` (the others: a crash is
the error reply and a case for a human). Redis errors while queueing are raised to the caller.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Text

from pydantic import BaseSettings, confloat
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock_store import LOCK_LIFETIME
from rasa.shared.core.events import UserUttered

from bot.language.normalize import join_burst
from bot.privacy import mask_pii
from bot.rasa_ext import guard
from bot.rasa_ext.lock_store import AtomicRedisLockStore
from bot.services import delivery
from bot.store import client as stores
from bot.store.inbox import Batch, Inbox, InboxEntry

if TYPE_CHECKING:
    from rasa.core.agent import Agent
    from redis.asyncio import Redis
    from sanic import Sanic

logger = logging.getLogger(__name__)

TURN_ID_KEY = "turn_id"
"""Metadata key of a turn's batch id (how :func:`sweep` knows a conversation recorded a turn)."""

TURN_LOCK_LIFETIME = float(LOCK_LIFETIME)
"""Seconds a turn-lock ticket lives without renewal (Rasa's ``TICKET_LOCK_LIFETIME``, 60 s): how long a
dead holder blocks the customer; a live holder renews it (:func:`_keep_lease`)."""

LEASE_SECONDS = 30.0
"""How long a taken batch is its process's without a renewal; a running turn renews it every third
(:func:`_keep_lease`), so a turn whose process died is run again by the sweep within about 35 s."""

SWEEP_INTERVAL_SECONDS = 5.0
"""Seconds between two sweeps of one server."""

LAST_LINE_HEAD_START_SECONDS = 0.3
"""When a burst is due, the request of its last line goes first; the others try this much later."""


class BurstSettings(BaseSettings):
    """How long a customer's lines are gathered into one turn (environment ``BURST_*``).

    Attributes:
        window_seconds: quiet time after the last line before the turn starts (0: no waiting;
            lines that arrive while a turn runs are still read together).
        max_seconds: longest a burst is gathered, from its first line (a customer who keeps
            typing is still answered).
        sweep_grace_seconds: an inbox due this long ago that nobody took lost its waiter (a
            turn normally starts within milliseconds of being due; a long wait for the lock
            behind a slow turn is the exception the grace covers).
    """

    window_seconds: confloat(ge=0, le=10) = 1.5  # type: ignore[valid-type]
    max_seconds: confloat(ge=0, le=60) = 6.0  # type: ignore[valid-type]
    sweep_grace_seconds: confloat(ge=0, le=3600) = 30.0  # type: ignore[valid-type]

    class Config:
        env_prefix = "BURST_"

    @property
    def window_ms(self) -> int:
        """The window in ms."""
        return int(self.window_seconds * 1000)

    @property
    def max_ms(self) -> int:
        """The cap in ms (never below the window)."""
        return int(max(self.max_seconds, self.window_seconds) * 1000)


_settings: Optional[BurstSettings] = None


def burst_settings() -> BurstSettings:
    """The settings from the environment, read once per process.

    Raises:
        pydantic.ValidationError: a ``BURST_*`` variable that is not a number in range (the
            agents' API reads them at server start, so a bad value stops the server there).
    """
    global _settings
    if _settings is None:
        _settings = BurstSettings()
    return _settings


Process = Callable[[UserMessage], Awaitable[Any]]
"""Runs one message through Rasa (the ``on_new_message`` of a channel's blueprint)."""

Deliver = Callable[[List[Dict[Text, Any]], str], Awaitable[Any]]
"""Sends a turn's replies to the customer, given the input channel of the turn's last line (must not
raise for a refused message)."""

TURN_LOCK_PREFIX = "turn"
"""Key prefix of the customers' turn locks (Rasa's own conversation lock is ``lock``)."""

_turn_locks: Optional[AtomicRedisLockStore] = None


def turn_locks() -> AtomicRedisLockStore:
    """The customers' turn locks: one turn of a customer at a time, on every worker and replica.

    The atomic ticket lock of ``bot/rasa_ext/lock_store.py`` under its own prefix, on the Redis of
    the ``REDIS_*`` variables: a waiting ticket never expires while its process lives, and turns
    are served in the order their tickets were issued. It wraps Rasa's own conversation lock
    (taken inside ``Agent.handle_message``), so agents' messages and follow-ups, which take only
    Rasa's lock, still get between two turns.
    """
    global _turn_locks
    if _turn_locks is None:
        _turn_locks = AtomicRedisLockStore(
            host=os.environ.get("REDIS_HOST", "127.0.0.1"),
            port=int(os.environ.get("REDIS_PORT", "6379")),
            db=int(os.environ.get("REDIS_DB", "0") or 0),
            password=os.environ.get("REDIS_PASSWORD") or None,
            key_prefix=TURN_LOCK_PREFIX,
        )
    return _turn_locks


_inboxes: Dict[int, Inbox] = {}


def inbox_for_loop() -> Inbox:
    """The inbox on a Redis client of the running event loop (a client is bound to its loop)."""
    loop = asyncio.get_running_loop()
    inbox = _inboxes.get(id(loop))
    if inbox is None or getattr(inbox, "_loop", None) is not loop:
        client: Redis = stores.redis_from_env()
        inbox = Inbox(client)
        inbox._loop = loop  # type: ignore[attr-defined]
        _inboxes[id(loop)] = inbox
    return inbox


@dataclass
class TurnOutcome:
    """What became of one customer message.

    Attributes:
        replies: the bot's replies to send (empty when merged, or when the turn said nothing).
        crashed: the turn raised (the tracker store failed, ...); ``replies`` are those so far.
        merged: the message was read as part of another message's turn, which answers it.
        texts: the customer's lines the turn read (empty when merged).
        channel: the input channel of the turn's last line ("" when merged).
    """

    replies: List[Dict[Text, Any]] = field(default_factory=list)
    crashed: bool = False
    merged: bool = False
    texts: List[str] = field(default_factory=list)
    channel: str = ""


def merged_message(batch: Batch, output: CollectingOutputChannel) -> UserMessage:
    """The batch as one Rasa message: lines joined, metadata of the lines combined.

    Later lines' metadata keys win; every image of the burst is kept in ``metadata["images"]``
    (the last one also in ``metadata["image"]``, which the actions read), the platforms' message
    ids of a burst in ``metadata["message_ids"]`` (the last one is the turn's ``message_id``), the
    batch id in ``metadata["turn_id"]``.
    """
    metadata: Dict[str, Any] = {}
    images: List[Any] = []
    for entry in batch.entries:
        metadata.update(entry.metadata)
        for image in list(entry.metadata.get("images") or []) + [entry.metadata.get("image")]:
            if image and image not in images:
                images.append(image)
    if images:
        metadata["image"] = images[-1]
        if len(images) > 1:
            metadata["images"] = images
    if len(batch.entries) > 1:
        metadata["burst"] = len(batch.entries)
        metadata["message_ids"] = [entry.message_id for entry in batch.entries if entry.message_id]
    metadata[TURN_ID_KEY] = batch.batch_id
    return UserMessage(
        join_burst([entry.text for entry in batch.entries]),
        output,
        batch.sender_id,
        input_channel=batch.entries[-1].channel or None,
        metadata=metadata,
        message_id=batch.entries[-1].message_id,
    )


@dataclass
class Queued:
    """A message in its customer's inbox (:func:`enqueue`), to be run by :func:`run_queued`.

    Attributes:
        sender_id: the conversation.
        position: entries waiting in the inbox right after this one was added (1: the first).
        wait_ms: ms until the burst was due when it was added.
    """

    sender_id: str
    position: int
    wait_ms: int


async def enqueue(message: UserMessage, inbox: Optional[Inbox] = None) -> Queued:
    """Appends ``message`` to its customer's inbox (call it before acknowledging a platform).

    Raises:
        redis.exceptions.RedisError: the message could not be queued (nothing was recorded).
    """
    settings = burst_settings()
    inbox = inbox or inbox_for_loop()
    entry = InboxEntry(
        text=message.text or "",
        channel=message.input_channel or "",
        metadata=dict(message.metadata or {}),
        message_id=message.message_id,
    )
    position, wait_ms = await inbox.push(message.sender_id, entry, settings.window_ms, settings.max_ms)
    return Queued(message.sender_id, position, wait_ms)


async def run_queued(
    agent: Optional[Agent],
    process: Process,
    queued: Queued,
    inbox: Optional[Inbox] = None,
    deliver: Optional[Deliver] = None,
) -> TurnOutcome:
    """Waits for the burst of ``queued`` to be due and, unless another turn takes it, runs the turn.

    Args:
        deliver: sends the turn's replies to the customer; called while the customer's turn lock
            is held, so one turn's replies all go out before the next turn's (channels that answer
            outside the request). A crashed turn's replies then end with the error reply.

    A crash of the turn is reported in the outcome, not raised; a Redis error while waiting is raised.
    """
    settings = burst_settings()
    inbox = inbox or inbox_for_loop()
    wait_ms, waiting = queued.wait_ms, queued.position
    while wait_ms > 0:
        await asyncio.sleep(wait_ms / 1000)
        status = await inbox.due_in(queued.sender_id, settings.window_ms, settings.max_ms)
        if status is None:
            return TurnOutcome(merged=True)
        wait_ms, waiting = status
    if waiting > queued.position:
        # Not the burst's last line: the last line's request takes the turn (a REST client gets
        # the answer on its last request); this one steps in only if that one does not.
        await asyncio.sleep(LAST_LINE_HEAD_START_SECONDS)
    return await _take_and_run(agent, process, queued.sender_id, inbox, deliver=deliver)


async def handle(
    agent: Optional[Agent], process: Process, message: UserMessage, inbox: Optional[Inbox] = None
) -> TurnOutcome:
    """:func:`enqueue` then :func:`run_queued`: queues ``message`` and, unless another turn takes it, runs the turn.

    For REST, which answers in the HTTP response (a crashed turn is a 503 there).

    Args:
        agent: the server's Rasa agent (renders the paused notice; may be None).
        process: runs one (merged) message through Rasa: the ``on_new_message`` Rasa gives every
            channel (``Agent.handle_message``: its own conversation lock, NLU, policies, actions).
        message: the customer's message (text already escaped by the channel).
        inbox: the inbox to use (default: :func:`inbox_for_loop`).

    Returns:
        The outcome; a crash of the turn is reported in it, not raised.

    Raises:
        redis.exceptions.RedisError: the message could not be queued (nothing was recorded).
    """
    inbox = inbox or inbox_for_loop()
    return await run_queued(agent, process, await enqueue(message, inbox), inbox)


async def answer(
    agent: Optional[Agent],
    process: Process,
    message: UserMessage,
    deliver: Deliver,
    *,
    queued: Optional[Queued] = None,
    inbox: Optional[Inbox] = None,
) -> Optional[TurnOutcome]:
    """A turn for channels that answer outside the request (widget, WeChat, Taobao).

    Args:
        deliver: sends the replies (under the customer's turn lock, see :func:`run_queued`).
        queued: the message is already in the inbox (WeChat :func:`enqueue`-s it before it
            acknowledges the delivery); else it is queued here.

    Returns:
        None when the message went into another message's turn (that turn answers), or when it
        is queued but its turn could not run now (Redis failed while waiting: the sweep answers
        it later, no error reply); else the outcome. A crashed turn, or a message that could not
        be queued (``crashed``), gets the error reply and a case for a human
        (:func:`bot.services.delivery.system_error`).
    """
    channel = message.input_channel or ""
    if queued is None:
        try:
            queued = await enqueue(message, inbox)
        except Exception:  # noqa: BLE001 - Redis down: the customer hears it, a human gets the case
            logger.exception("message from %s could not be queued", mask_pii(message.sender_id))
            outcome = TurnOutcome(
                [await delivery.system_error(agent, message.sender_id, channel)], True, channel=channel
            )
            await deliver(outcome.replies, channel)
            return outcome
    try:
        outcome = await run_queued(agent, process, queued, inbox, deliver)
    except Exception:  # noqa: BLE001 - it is in the inbox: the sweep answers it once Redis answers
        logger.exception("queued message of %s not run now; the inbox sweep will", mask_pii(message.sender_id))
        return None
    return None if outcome.merged else outcome


async def _take_and_run(
    agent: Optional[Agent],
    process: Process,
    sender_id: str,
    inbox: Inbox,
    batch: Optional[Batch] = None,
    deliver: Optional[Deliver] = None,
) -> TurnOutcome:
    """Under the customer's turn lock: takes the inbox (or runs ``batch``), runs one turn, delivers."""
    collector = CollectingOutputChannel()
    problems: List[str] = []
    locks = turn_locks()
    async with locks.lock(sender_id, lock_lifetime=TURN_LOCK_LIFETIME) as held:
        if batch is None:
            batch = await inbox.take(sender_id, int(LEASE_SECONDS * 1000))
            if batch is None:
                return TurnOutcome(merged=True)
        elif agent is not None and not await _still_to_run(agent, inbox, batch):
            return TurnOutcome(merged=True)  # its own process finished it while the sweep waited
        message = merged_message(batch, collector)
        channel = message.input_channel or ""
        texts = [e.text for e in batch.entries]
        keeper = asyncio.ensure_future(_keep_lease(inbox, batch, locks, sender_id, held.last_issued))
        try:
            with guard.watch_turn() as problems:
                await process(message)
        except Exception:  # noqa: BLE001 - the channel tells the customer
            logger.exception(
                "Failed to handle a %s message from %s: %s",
                channel,
                mask_pii(sender_id),
                mask_pii((message.text or "")[:200]),
            )
            crashed = True
        else:
            crashed = False
        finally:
            keeper.cancel()  # also when the turn is cancelled: the lease then runs out and the sweep runs it
        await _finish_quietly(inbox, batch)
        if crashed:
            outcome = TurnOutcome(collector.messages, True, texts=texts, channel=channel)
            if deliver is not None:
                outcome.replies = outcome.replies + [await delivery.system_error(agent, sender_id, channel)]
                await deliver(outcome.replies, channel)
            return outcome
        replies = await delivery.complete_turn(agent, sender_id, channel, problems, collector.messages)
        if deliver is not None:
            await deliver(replies, channel)
    return TurnOutcome(replies, texts=texts, channel=channel)


async def _keep_lease(inbox: Inbox, batch: Batch, locks: AtomicRedisLockStore, sender_id: str, ticket: int) -> None:
    """Renews the batch's lease and the held turn-lock ticket every third of the lease while the
    turn runs: a slow turn on an overloaded server is not a dead one, so the sweep must not run it
    a second time and the customer's next turn must not start beside it (the lock's own lifetime,
    60 s, would otherwise let it)."""
    while True:
        await asyncio.sleep(min(LEASE_SECONDS, TURN_LOCK_LIFETIME) / 3)
        try:
            await locks.renew(sender_id, ticket, TURN_LOCK_LIFETIME)
            if not await inbox.renew(batch.batch_id, int(LEASE_SECONDS * 1000)):
                return
        except Exception:  # noqa: BLE001 - Redis down: the turn fails too, or the next renewal works
            logger.warning("lease of batch %s not renewed", batch.batch_id)


async def _still_to_run(agent: Agent, inbox: Inbox, batch: Batch) -> bool:
    """Under the turn lock, for a swept batch: still taken and not recorded by the conversation."""
    if not await inbox.is_taken(batch.batch_id):
        return False
    return not await recorded(agent, batch.sender_id, batch.batch_id)


async def _finish_quietly(inbox: Inbox, batch: Batch) -> None:
    try:
        await inbox.finish(batch.batch_id)
    except Exception:  # noqa: BLE001 - the lease runs out; the sweep sees the turn was recorded
        logger.warning("batch %s of %s could not be closed", batch.batch_id, mask_pii(batch.sender_id))


async def recorded(agent: Agent, sender_id: str, batch_id: str) -> bool:
    """Whether the conversation already has the turn of ``batch_id`` (``metadata["turn_id"]``)."""
    tracker = await agent.tracker_store.retrieve(sender_id)
    return tracker is not None and any(
        isinstance(event, UserUttered) and (event.metadata or {}).get(TURN_ID_KEY) == batch_id
        for event in tracker.events
    )


async def sweep(app: Sanic, inbox: Optional[Inbox] = None) -> int:
    """Runs the turns whose process died; returns how many turns it ran.

    Overdue inboxes (due more than ``BURST_SWEEP_GRACE_SECONDS`` ago, nobody took them) and batches
    whose lease ran out (claimed anew, so one server runs each) are run under the conversation's
    lock; a batch the conversation already recorded is only closed. The replies go out through
    the output channel of the channel the last line came on.
    """
    agent = getattr(app.ctx, "agent", None)
    if agent is None or not agent.is_ready():
        return 0
    inbox = inbox or inbox_for_loop()
    ran = 0
    for sender_id in await inbox.overdue(int(burst_settings().sweep_grace_seconds * 1000)):
        logger.warning("inbox of %s was not taken in time: answering it now", mask_pii(sender_id))
        ran += await _run_swept(app, agent, agent.handle_message, sender_id, inbox)
    for batch in await inbox.claim_expired(int(LEASE_SECONDS * 1000)):
        if not batch.entries or await recorded(agent, batch.sender_id, batch.batch_id):
            await inbox.finish(batch.batch_id)
            continue
        logger.warning("turn %s of %s did not finish: running it again", batch.batch_id, mask_pii(batch.sender_id))
        ran += await _run_swept(app, agent, agent.handle_message, batch.sender_id, inbox, batch)
    return ran


async def _run_swept(
    app: Sanic, agent: Agent, process: Process, sender_id: str, inbox: Inbox, batch: Optional[Batch] = None
) -> int:
    async def deliver(replies: List[Dict[Text, Any]], channel: str) -> None:
        channel = channel or await _latest_channel(agent, sender_id)
        output = delivery.output_channel_for(app, channel)
        if output is None:
            logger.error(
                "swept turn of %s: channel %r cannot send; replies in the transcript", mask_pii(sender_id), channel
            )
            return
        for reply in replies:
            try:
                await output.send_response(sender_id, {k: v for k, v in reply.items() if k != "recipient_id"})
            except Exception as error:  # noqa: BLE001 - the transcript keeps the reply
                logger.error("swept reply to %s not delivered: %s", mask_pii(sender_id), error)

    outcome = await _take_and_run(agent, process, sender_id, inbox, batch, deliver)
    return 0 if outcome.merged else 1


async def _latest_channel(agent: Agent, sender_id: str) -> str:
    tracker = await agent.tracker_store.retrieve(sender_id)
    return (tracker.get_latest_input_channel() if tracker else None) or "rest"


async def sweep_forever(app: Sanic, interval: float = SWEEP_INTERVAL_SECONDS) -> None:
    """:func:`sweep` every ``interval`` seconds until cancelled (started by the agents' API)."""
    while True:
        await asyncio.sleep(interval)
        try:
            await sweep(app)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - Redis down: try again next time
            logger.warning("inbox sweep failed", exc_info=True)
