"""The ticket store (SPEC.md section 6), on Redis.

One ticket follows a case from the first contact to the end. The bot announces a ticket number
only after :meth:`TicketStore.create` returned it, and a retried request never makes a second
ticket: creation runs as one Lua script that checks the idempotency key, takes the next daily
sequence number, writes the ticket and its indexes, and remembers the key, all atomically.
Updates are optimistic transactions (``WATCH``/``MULTI``) retried on conflict, so concurrent
updates never lose a history entry. Both also write the ticket's analytics projection (SPEC.md
section 7) in the same atomic step, so the dashboard never sees a projection older than a
ticket it could read; :meth:`TicketStore.all_facts` reads them back.

Keys, for prefix ``P`` (default ``tickets``):

============================  ======  ==================================================
``P:ticket:{id}``             string  the ticket as JSON
``P:idem:{key}``              string  idempotency key -> ticket id (expires, default 7 days)
``P:seq:{YYYYMMDD}``          string  daily sequence (INCR; expires after 3 days)
``P:created``                 zset    every ticket id, scored by ``created_at``
``P:sender:{sender_id}``      zset    the tickets of a Rasa conversation, by ``created_at``
``P:customer:{customer_id}``  zset    the tickets of a customer, by ``created_at``
``P:order:{order_id}``        zset    the tickets naming an order, by ``created_at`` (links the
                                      same buyer's conversations on different channels)
``P:progress``                zset    tickets not resolved/closed, by ``next_progress_due``
``P:facts``                   hash    ticket id -> its analytics projection as JSON
                                      (:func:`bot.analytics.facts.ticket_facts`), written
                                      with the ticket by every create and update
``P:facts:gen``               string  how many projection writes there were
``P:facts:changed``           zset    ticket id -> the number of its latest projection write
``P:facts:epoch``             string  set when the counter started (:mod:`bot.store.projections`)
============================  ======  ==================================================

Ticket ids read well on the phone: ``TS`` + the date in Asia/Shanghai + a daily sequence of at
least four digits (``TS202611230007``). Nothing is masked in storage; every log line written
here goes through :func:`bot.privacy.mask_pii`. Any failure to reach Redis raises
:class:`TicketStoreUnavailable`, so callers can tell the customer plainly.

The create script builds ticket and index key names inside Lua, so it assumes a single Redis
server (not Redis Cluster).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from bot.analytics import facts as analytics
from bot.language.causes import vocabulary as cause_vocabulary
from bot.policy import sla as sla_module
from bot.policy.labels import load_labels
from bot.policy.schema import LabelsFile
from bot.privacy import mask_pii
from bot.store import projections
from bot.store.reply import async_reply
from bot.vocabulary import DONE_STATUSES, ComplaintType, TicketStatus, Urgency

logger = logging.getLogger(__name__)

STATUSES = tuple(TicketStatus)
"""Every ticket status (SPEC.md section 6)."""


COMPLAINT_TYPES = tuple(ComplaintType)
"""Complaint types (SPEC.md section 2)."""

DEFAULT_PREFIX = "tickets"
DEFAULT_IDEMPOTENCY_TTL = 7 * 24 * 3600
ID_PREFIX = "TS"
ID_TIMEZONE = "Asia/Shanghai"
SEQUENCE_TTL = 3 * 24 * 3600  # a daily counter is needed for one day; kept a little longer

# Fields the store sets itself.
_MANAGED = frozenset({"id", "created_at", "updated_at", "history"})
# Fields fixed at creation.
_IMMUTABLE = frozenset({"channel", "sender_id"})

# A ResponseError with one of these prefixes means Redis cannot take writes right now.
_UNAVAILABLE_REPLIES = (
    "MISCONF",
    "OOM",
    "READONLY",
    "LOADING",
    "MASTERDOWN",
    "NOREPLICAS",
    "TRYAGAIN",
)
_UNAVAILABLE_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


class TicketStoreError(Exception):
    """Base class of the ticket store's errors."""


class TicketStoreUnavailable(TicketStoreError):
    """Redis could not be reached or refused the write; nothing can be promised to the customer."""


class TicketNotFound(TicketStoreError, KeyError):
    """No ticket with that id."""


@dataclass(kw_only=True)
class Ticket:
    """One complaint case (SPEC.md section 6).

    Times are epoch seconds. ``to_dict()`` is JSON-ready and is what the HTTP API returns.

    Attributes:
        id: Customer-readable id, ``TS`` + YYYYMMDD (Asia/Shanghai) + daily sequence.
        channel: Where the customer came from (``rest``, ``wechat``, ``taobao`` ...).
        customer_id: The customer's id on that channel, if known.
        sender_id: The Rasa conversation id.
        order_id: The order number the complaint is about.
        type: ``product``, ``logistics``, ``service`` or ``malicious``.
        secondary_type: A second complaint type, when the case has two.
        cause: The complaint cause, an id of ``bot/language/resources/causes.yml`` (``wrong_item``).
        urgency: ``safety``, ``media_legal``, ``vulnerable`` or None.
        priority: SLA priority label, ``P1`` .. ``P4``.
        tier: The SLA tier the case was filed under (``safety`` ... ``normal``); its progress
            interval paces the progress messages. Tickets stored before the field existed read
            as None, which means ``normal``.
        queue: The agents' queue (``emergency``, ``senior``, ``priority``, ``general``, ``supervisor``).
        first_response_due: A human must answer by then.
        resolution_due: An initial solution is due by then.
        next_progress_due: The next progress report is due by then.
        customer_words: The customer's own words.
        facts: Facts collected in the conversation.
        evidence: References to evidence (photo ids or URLs).
        options_offered: The options the bot offered.
        chosen_option: The option the customer chose.
        compensation: ``{"amount", "status", "approved_by"}`` or None.
        risk_flag: Flagged for the risk team (malicious cases).
        status: ``open``, ``pending_approval``, ``with_agent``, ``resolved`` or ``closed``.
        history: ``{"at", "status", "actor", "note", "changed"}`` entries, oldest first.
        owner: The agent who owns the case.
        satisfaction: The customer's score, 1-5.
        created_at: When the ticket was created.
        updated_at: When it last changed.
    """

    id: str
    channel: str
    customer_id: str | None = None
    sender_id: str
    order_id: str | None = None
    type: str | None = None
    secondary_type: str | None = None
    cause: str | None = None
    urgency: str | None = None
    priority: str | None = None
    tier: str | None = None
    queue: str | None = None
    first_response_due: float | None = None
    resolution_due: float | None = None
    next_progress_due: float | None = None
    customer_words: str = ""
    facts: dict[str, Any] = field(default_factory=dict)
    evidence: list[Any] = field(default_factory=list)
    options_offered: list[dict[str, Any]] = field(default_factory=list)
    chosen_option: Any = None
    compensation: dict[str, Any] | None = None
    risk_flag: bool = False
    status: str = "open"
    history: list[dict[str, Any]] = field(default_factory=list)
    owner: str | None = None
    satisfaction: int | None = None
    created_at: float
    updated_at: float

    @property
    def is_open(self) -> bool:
        """True unless the ticket is resolved or closed."""
        return self.status not in DONE_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """The ticket as a JSON-ready dict (a deep copy)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ticket:
        """Builds a ticket from :meth:`to_dict` output; unknown keys are ignored.

        Raises:
            ValueError: A required field (id, channel, sender_id, created_at, updated_at) is missing.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in known})
        except TypeError as e:
            raise ValueError(f"not a ticket: {e}") from e


TICKET_FIELDS = tuple(f.name for f in dataclasses.fields(Ticket))
"""Every ticket field, in order."""

_CREATE_FIELDS = frozenset(TICKET_FIELDS) - _MANAGED
_UPDATE_FIELDS = _CREATE_FIELDS - _IMMUTABLE - {"status"}


def _lua(name: str, *, facts_lib: bool = False) -> str:
    """The source of ``bot/store/lua/<name>.lua`` (after the projection helpers when ``facts_lib``)."""
    folder = Path(__file__).resolve().parent / "lua"
    lib = (folder / "ticket_facts_lib.lua").read_text(encoding="utf-8") if facts_lib else ""
    return lib + (folder / f"{name}.lua").read_text(encoding="utf-8")


# Creation, atomically: bot/store/lua/ticket_create.lua (its KEYS and ARGV are written at its top),
# read once per process and registered per client with ``register_script``.
@functools.cache
def _create_lua() -> str:
    return _lua("ticket_create", facts_lib=True)


# Stores projections all_facts computed, each only if the stored value is still the one read.
@functools.cache
def _backfill_lua() -> str:
    return _lua("ticket_facts_backfill", facts_lib=True)


# Numbers a projection write inside an update's MULTI (sent with EVAL: it runs in the transaction).
@functools.cache
def _touch_lua() -> str:
    return _lua("ticket_facts_touch", facts_lib=True)


FACTS_CHUNK = 2000
"""Ids per ``HMGET`` (and per ``MGET`` of tickets) when :meth:`TicketStore.all_facts` reads Redis."""


def _low(since: float | None) -> str:
    """The inclusive lower score of a ``ZRANGEBYSCORE`` from ``since``."""
    return "-inf" if since is None else repr(float(since))


def _loads_projection(raw: Any) -> dict[str, Any] | None:
    """A stored projection, or None when there is none (or it is not a JSON object)."""
    if raw is None:
        return None
    try:
        projection = json.loads(raw)
    except ValueError:
        return None
    return projection if isinstance(projection, dict) else None


def _projection(ticket: dict[str, Any], previous: Any = None) -> dict[str, Any] | None:
    """The analytics projection (``previous``: the stored one, raw), or None (logged) if it cannot
    be made: analytics never fails a write."""
    try:
        return analytics.ticket_facts(ticket, _loads_projection(previous))
    except Exception as error:  # ticket_facts is total; this is the belt to its braces
        _log(logging.ERROR, "analytics projection of ticket %s failed: %r", ticket.get("id"), error)
        return None


P = ParamSpec("P")
R = TypeVar("R")


def _guard(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turns Redis connection trouble into :class:`TicketStoreUnavailable`."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except TicketStoreError:
            raise
        except _UNAVAILABLE_ERRORS as e:
            _log(
                logging.WARNING,
                "ticket store unavailable in %s: %s",
                method.__name__,
                e,
            )
            raise TicketStoreUnavailable(f"ticket store unavailable: {e}") from e
        except redis_errors.ResponseError as e:
            if str(e).upper().startswith(_UNAVAILABLE_REPLIES):
                _log(logging.WARNING, "ticket store refused %s: %s", method.__name__, e)
                raise TicketStoreUnavailable(f"ticket store refused the request: {e}") from e
            raise

    return wrapper


def _log(level: int, message: str, *args: Any) -> None:
    """Logs with personal data masked (sender ids can be phone numbers)."""
    if logger.isEnabledFor(level):
        logger.log(level, "%s", mask_pii(message % args if args else message))


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _validate(values: dict[str, Any]) -> None:
    """Checks the values of ticket fields that the rest of the system relies on.

    Raises:
        ValueError: A value of the wrong kind.
    """
    for name in ("channel", "sender_id"):
        if name in values and (not isinstance(values[name], str) or not values[name]):
            raise ValueError(f"{name} must be a non-empty string")
    for name in ("customer_id", "order_id", "owner", "priority", "queue", "tier"):
        if values.get(name) is not None and not isinstance(values[name], str):
            raise ValueError(f"{name} must be a string or None")
    if "status" in values and values["status"] not in STATUSES:
        raise ValueError(f"invalid status {values['status']!r}; expected one of {', '.join(STATUSES)}")
    if values.get("cause") is not None and values["cause"] not in cause_vocabulary():
        raise ValueError(f"invalid cause {values['cause']!r}; expected an id of causes.yml")
    for name in ("type", "secondary_type"):
        if values.get(name) is not None and values[name] not in COMPLAINT_TYPES:
            raise ValueError(f"invalid {name} {values[name]!r}; expected one of {', '.join(COMPLAINT_TYPES)}")
    if values.get("urgency") is not None and values["urgency"] not in tuple(Urgency):
        raise ValueError(f"invalid urgency {values['urgency']!r}")
    if "satisfaction" in values:
        score = values["satisfaction"]
        if score is not None and (isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5):
            raise ValueError(f"satisfaction must be an integer 1-5, got {score!r}")
    if "facts" in values and not isinstance(values["facts"], dict):
        raise ValueError("facts must be a dict")
    for name in ("evidence", "options_offered"):
        if name in values and not isinstance(values[name], list):
            raise ValueError(f"{name} must be a list")
    if "options_offered" in values and not all(isinstance(o, dict) for o in values["options_offered"]):
        raise ValueError("options_offered must be a list of dicts")
    if "risk_flag" in values and not isinstance(values["risk_flag"], bool):
        raise ValueError("risk_flag must be a bool")
    if values.get("compensation") is not None:
        comp = values["compensation"]
        if not isinstance(comp, dict) or "amount" not in comp:
            raise ValueError("compensation must be a dict with amount, status, approved_by (or None)")
        amount = comp["amount"]
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
            raise ValueError(f"compensation amount must be a non-negative number, got {amount!r}")
        values["compensation"] = {"status": None, "approved_by": None, **comp}
    for name in ("first_response_due", "resolution_due", "next_progress_due"):
        value = values.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"{name} must be epoch seconds, got {value!r}")


def _dumps(data: dict[str, Any]) -> str:
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"ticket fields must be JSON-serialisable: {e}") from e


class TicketStore:
    """Tickets on Redis: atomic idempotent creation, optimistic updates with history.

    Args:
        redis: An ``redis.asyncio`` client (either ``decode_responses`` setting works).
        prefix: Key prefix (see the module docstring for the layout).
        clock: Returns the current time in epoch seconds; injectable for tests.
        idempotency_ttl: How long (seconds) an idempotency key keeps pointing at its ticket.
        sla: SLA configuration used to fill priority, queue and deadlines at creation;
            :func:`bot.policy.sla.load_sla` by default (loaded on first use).
        id_prefix: Letters before the date in ticket ids.
        timezone: Time zone of the date in ticket ids.
        max_attempts: How often an update is retried when another update got there first.
        cache_facts: Keep the analytics projections in memory between :meth:`all_facts` calls
            (:mod:`bot.store.projections`).
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.time,
        idempotency_ttl: int = DEFAULT_IDEMPOTENCY_TTL,
        sla: sla_module.SlaConfig | None = None,
        id_prefix: str = ID_PREFIX,
        timezone: str = ID_TIMEZONE,
        max_attempts: int = 200,
        cache_facts: bool = True,
    ) -> None:
        if idempotency_ttl <= 0:
            raise ValueError("idempotency_ttl must be positive")
        self.redis = redis
        self.prefix = prefix
        self.clock = clock
        self.idempotency_ttl = int(idempotency_ttl)
        self._sla = sla
        self.id_prefix = id_prefix
        self.tz = ZoneInfo(timezone)
        self.max_attempts = max_attempts
        self._create_script = redis.register_script(_create_lua())
        self._backfill_script = redis.register_script(_backfill_lua())
        self.cache_facts = cache_facts

    # keys -------------------------------------------------------------------------------
    def ticket_key(self, ticket_id: str) -> str:
        """Key of the ticket's JSON."""
        return f"{self.prefix}:ticket:{ticket_id}"

    def idempotency_key(self, key: str) -> str:
        """Key that maps an idempotency key to its ticket id."""
        return f"{self.prefix}:idem:{key}"

    def sequence_key(self, day: str) -> str:
        """Key of the daily sequence for ``day`` (YYYYMMDD)."""
        return f"{self.prefix}:seq:{day}"

    def sender_key(self, sender_id: str) -> str:
        """Index of a conversation's tickets."""
        return f"{self.prefix}:sender:{sender_id}"

    def customer_key(self, customer_id: str) -> str:
        """Index of a customer's tickets."""
        return f"{self.prefix}:customer:{customer_id}"

    def order_key(self, order_id: str) -> str:
        """Key of the zset of tickets naming an order."""
        return f"{self.prefix}:order:{order_id}"

    @property
    def created_key(self) -> str:
        """Every ticket, by creation time."""
        return f"{self.prefix}:created"

    @property
    def progress_key(self) -> str:
        """Open tickets, by next progress deadline."""
        return f"{self.prefix}:progress"

    @property
    def facts_key(self) -> str:
        """Hash of every ticket's analytics projection (SPEC.md section 7)."""
        return f"{self.prefix}:facts"

    @property
    def facts_change_keys(self) -> list[str]:
        """The numbering of projection writes: counter, ticket id -> latest number, epoch."""
        return [f"{self.prefix}:facts:gen", f"{self.prefix}:facts:changed", f"{self.prefix}:facts:epoch"]

    @property
    def sla(self) -> sla_module.SlaConfig:
        """The SLA configuration (loaded on first use)."""
        if self._sla is None:
            self._sla = sla_module.load_sla()
        return self._sla

    def _check_tier(self, name: str) -> None:
        try:
            self.sla.tier(name)
        except KeyError:
            raise ValueError(f"invalid tier {name!r}; expected a tier of sla.yml") from None

    def tier_of(self, ticket: Ticket) -> sla_module.Tier:
        """The SLA tier of a ticket; ``normal`` for a ticket stored before tickets kept their tier
        (or whose tier was since removed from ``sla.yml``)."""
        try:
            return self.sla.tier(ticket.tier or sla_module.NORMAL_TIER)
        except KeyError:
            return self.sla.tier(sla_module.NORMAL_TIER)

    # writing ----------------------------------------------------------------------------
    @_guard
    async def create(
        self,
        idempotency_key: str,
        *,
        repeat: bool = False,
        actor: str = "bot",
        note: str = "工单已创建",
        **fields: Any,
    ) -> tuple[Ticket, bool]:
        """Creates a ticket once per idempotency key.

        The first call with a key creates the ticket; every later (or concurrent) call with the
        same key, within ``idempotency_ttl``, gets that same ticket back as it is now and its
        ``fields`` are ignored. The SLA tier of ``urgency`` (and ``repeat``) is kept on the ticket
        (``tier``) and fills a missing ``priority``, ``queue`` and SLA deadlines.

        Args:
            idempotency_key: Identifies the request (e.g. conversation id + confirmation message id).
            repeat: The customer is a repeat complainant (only used to pick the SLA tier).
            actor: Who creates it, for the first history entry.
            note: Note of the first history entry.
            **fields: Ticket fields; ``channel`` and ``sender_id`` are required.

        Returns:
            The ticket and whether this call created it.

        Raises:
            ValueError: Unknown fields, missing required fields or invalid values.
            TicketStoreUnavailable: Redis cannot be reached or refused the write.
        """
        if not isinstance(idempotency_key, str) or not idempotency_key.strip():
            raise ValueError("idempotency_key must be a non-empty string")
        unknown = set(fields) - _CREATE_FIELDS
        if unknown:
            raise ValueError(f"unknown or store-managed ticket field(s): {', '.join(sorted(unknown))}")
        for name in ("channel", "sender_id"):
            if not fields.get(name):
                raise ValueError(f"{name} is required")
        values = dict(fields)
        values.setdefault("status", "open")
        _validate(values)

        now = float(self.clock())
        tier = self.sla.priority_for(values.get("urgency"), repeat=repeat)
        if values.get("tier") is None:
            values["tier"] = tier.name
        else:
            self._check_tier(values["tier"])
        missing_sla = [k for k in ("priority", "queue") if values.get(k) is None]
        missing_due = [
            k for k in ("first_response_due", "resolution_due", "next_progress_due") if values.get(k) is None
        ]
        if missing_sla or missing_due:
            values.update({k: getattr(tier, k) for k in missing_sla})
            due = sla_module.deadlines(tier, now).as_dict()
            values.update({k: due[k] for k in missing_due})

        body = Ticket(id="", created_at=now, updated_at=now, **values).to_dict()
        del body["id"]
        body["history"] = [
            {
                "at": now,
                "status": body["status"],
                "actor": actor,
                "note": note,
                "changed": [],
            }
        ]
        customer_id = body.get("customer_id")
        open_now = body["status"] not in DONE_STATUSES and body.get("next_progress_due") is not None
        day = datetime.fromtimestamp(now, self.tz).strftime("%Y%m%d")
        projection = _projection(dict(body, id=""))
        if projection is not None:
            del projection["id"]  # the script puts the id it takes first
        flag, ticket_id, stored = await self._create_script(
            keys=[
                self.idempotency_key(idempotency_key),
                self.sequence_key(day),
                self.created_key,
                self.sender_key(body["sender_id"]),
                self.customer_key(customer_id) if customer_id else self.customer_key(""),
                self.progress_key,
                self.order_key(body.get("order_id") or ""),
                self.facts_key,
                *self.facts_change_keys,
            ],
            args=[
                self.ticket_key(""),
                f"{self.id_prefix}{day}",
                _dumps(body),
                self.idempotency_ttl,
                repr(now),
                "1" if customer_id else "0",
                repr(float(body["next_progress_due"])) if open_now else "",
                SEQUENCE_TTL,
                "1" if body.get("order_id") else "0",
                "" if projection is None else analytics.dumps(projection),
            ],
        )
        created = int(flag) == 1
        ticket_id = _text(ticket_id)
        if not stored:
            raise TicketStoreUnavailable(f"idempotency key points to missing ticket {ticket_id}")
        ticket = Ticket.from_dict(json.loads(_text(stored)))
        if created:
            _log(
                logging.INFO,
                "ticket %s created for %s (%s, %s)",
                ticket.id,
                ticket.sender_id,
                ticket.type,
                ticket.priority,
            )
        else:
            _log(
                logging.INFO,
                "ticket %s returned again for a repeated request from %s",
                ticket.id,
                ticket.sender_id,
            )
        return ticket, created

    @_guard
    async def update(
        self,
        ticket_id: str,
        *,
        actor: str,
        note: str,
        status: str | None = None,
        **changes: Any,
    ) -> Ticket:
        """Changes a ticket and appends a timestamped history entry, atomically.

        Concurrent updates of one ticket are serialised by optimistic transactions: each is
        retried until it applies on top of the others, so no history entry is lost.

        Args:
            ticket_id: The ticket.
            actor: Who makes the change (``bot``, an agent id, ``customer`` ...).
            note: What happened, for the history.
            status: The new status, if it changes.
            **changes: Other fields to set (not id, channel, sender_id, created_at,
                updated_at or history).

        Returns:
            The updated ticket.

        Raises:
            ValueError: Unknown or read-only fields, or an invalid status or value.
            TicketNotFound: No such ticket.
            TicketStoreUnavailable: Redis cannot be reached or refused the write.
        """
        bad = set(changes) - _UPDATE_FIELDS
        if bad:
            raise ValueError(f"unknown or read-only ticket field(s): {', '.join(sorted(bad))}")
        values = dict(changes)
        if status is not None:
            values["status"] = status
        _validate(values)
        if values.get("tier") is not None:
            self._check_tier(values["tier"])
        key = self.ticket_key(ticket_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            for attempt in range(self.max_attempts):
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        raise TicketNotFound(ticket_id)
                    previous = await async_reply(pipe.hget(self.facts_key, ticket_id))  # what history can not say
                    current = json.loads(_text(raw))
                    old_customer = current.get("customer_id")
                    old_order = current.get("order_id")
                    now = float(self.clock())
                    current.update(values)
                    current["updated_at"] = now
                    current.setdefault("history", []).append(
                        {
                            "at": now,
                            "status": current["status"],
                            "actor": actor,
                            "note": note,
                            "changed": sorted(values),
                        }
                    )
                    ticket = Ticket.from_dict(current)
                    pipe.multi()
                    pipe.set(key, _dumps(current))  # keeps fields a newer version may have added
                    if ticket.customer_id != old_customer:
                        if old_customer:
                            pipe.zrem(self.customer_key(old_customer), ticket_id)
                        if ticket.customer_id:
                            pipe.zadd(
                                self.customer_key(ticket.customer_id),
                                {ticket_id: ticket.created_at},
                            )
                    if ticket.order_id != old_order:
                        if old_order:
                            pipe.zrem(self.order_key(old_order), ticket_id)
                        if ticket.order_id:
                            pipe.zadd(self.order_key(ticket.order_id), {ticket_id: ticket.created_at})
                    if ticket.is_open and ticket.next_progress_due is not None:
                        pipe.zadd(self.progress_key, {ticket_id: ticket.next_progress_due})
                    else:
                        pipe.zrem(self.progress_key, ticket_id)
                    projection = _projection(current, previous)
                    if projection is None:  # no stale projection: all_facts recomputes it
                        pipe.hdel(self.facts_key, ticket_id)  # type: ignore[arg-type]  # redis-py annotates *keys as List
                    else:
                        pipe.hset(self.facts_key, ticket_id, analytics.dumps(projection))
                    pipe.eval(_touch_lua(), 3, *self.facts_change_keys, ticket_id)  # type: ignore[arg-type]  # as hdel
                    await pipe.execute()
                except redis_errors.WatchError:
                    if attempt >= 3:  # heavy contention: spread the retries out
                        await asyncio.sleep(random.uniform(0, 0.002 * min(attempt, 20)))
                    continue
                _log(
                    logging.DEBUG,
                    "ticket %s updated by %s: status %s",
                    ticket_id,
                    actor,
                    ticket.status,
                )
                return ticket
        raise TicketStoreUnavailable(f"ticket {ticket_id} is too busy: gave up after {self.max_attempts} attempts")

    async def set_satisfaction(
        self,
        ticket_id: str,
        score: int,
        *,
        actor: str = "customer",
        note: str = "满意度评分",
    ) -> Ticket:
        """Records the customer's satisfaction score (1-5).

        Raises:
            ValueError: The score is not an integer 1-5.
            TicketNotFound: No such ticket.
            TicketStoreUnavailable: Redis cannot be reached.
        """
        return await self.update(ticket_id, actor=actor, note=note, satisfaction=score)

    # reading ----------------------------------------------------------------------------
    @_guard
    async def get(self, ticket_id: str) -> Ticket | None:
        """The ticket with that id, or None.

        Raises:
            TicketStoreUnavailable: Redis cannot be reached.
        """
        raw = await self.redis.get(self.ticket_key(ticket_id))
        return None if raw is None else Ticket.from_dict(json.loads(_text(raw)))

    async def _many(self, ids: Iterable[Any]) -> list[Ticket]:
        keys = [self.ticket_key(_text(i)) for i in ids]
        if not keys:
            return []
        return [Ticket.from_dict(json.loads(_text(raw))) for raw in await self.redis.mget(keys) if raw is not None]

    @_guard
    async def for_sender(self, sender_id: str) -> list[Ticket]:
        """Every ticket of a Rasa conversation, newest first.

        Raises:
            TicketStoreUnavailable: Redis cannot be reached.
        """
        return await self._many(await self.redis.zrevrange(self.sender_key(sender_id), 0, -1))

    @_guard
    async def linked(self, ticket: Ticket) -> list[Ticket]:
        """Tickets of OTHER customers naming the same order (newest first).

        A buyer who writes on two channels is two customers; the order number is what links
        them, so the agent sees the other conversation too. Empty without an order number.
        """
        if not ticket.order_id:
            return []
        ids = await self.redis.zrevrange(self.order_key(ticket.order_id), 0, 49)
        return [t for t in await self._many(ids) if t.id != ticket.id and t.customer_id != ticket.customer_id]

    @_guard
    async def open_or_recent(
        self,
        customer_id: str | None = None,
        sender_id: str | None = None,
        *,
        days: float | None = None,
        now: float | None = None,
    ) -> list[Ticket]:
        """A customer's tickets that are still open or were created within ``days``, newest first.

        This is the repeat-complainant check (SPEC.md section 4): tickets found through either
        the customer id or the conversation id count.

        Args:
            customer_id: The customer's id on the channel.
            sender_id: The Rasa conversation id.
            days: The "recent" window; ``repeat_window_days`` of ``policy/sla.yml`` by default.
            now: The current time; the store's clock by default.

        Returns:
            Open tickets (any age) and tickets created within the window, newest first.

        Raises:
            ValueError: Neither id given.
            TicketStoreUnavailable: Redis cannot be reached.
        """
        if not customer_id and not sender_id:
            raise ValueError("customer_id or sender_id is required")
        window = self.sla.repeat_window_days if days is None else days
        since = (self.clock() if now is None else now) - window * 86400
        ids: set[str] = set()
        if customer_id:
            ids.update(_text(i) for i in await self.redis.zrange(self.customer_key(customer_id), 0, -1))
        if sender_id:
            ids.update(_text(i) for i in await self.redis.zrange(self.sender_key(sender_id), 0, -1))
        tickets = [t for t in await self._many(sorted(ids)) if t.is_open or t.created_at >= since]
        return sorted(tickets, key=lambda t: (t.created_at, t.id), reverse=True)

    @_guard
    async def due_for_progress(self, now: float | None = None) -> list[Ticket]:
        """Open tickets whose progress report is due (``next_progress_due <= now``), most overdue first.

        Raises:
            TicketStoreUnavailable: Redis cannot be reached.
        """
        moment = self.clock() if now is None else now
        ids = await self.redis.zrangebyscore(self.progress_key, "-inf", moment)
        due = [t for t in await self._many(ids) if t.is_open and t.next_progress_due is not None]
        return sorted(due, key=lambda t: (t.next_progress_due or 0.0, t.id))

    @_guard
    async def all_facts(self, since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
        """The analytics projections of the tickets created in ``[since, until)``, oldest first.

        The first call in a process reads the projections from ``since`` on (ids from
        ``P:created``, projections from ``P:facts`` by ``HMGET`` in chunks of :data:`FACTS_CHUNK`
        in one pipeline; about a second per 20,000 tickets) into an in-process cache
        (:mod:`bot.store.projections`); later calls fetch only the projections written since
        (each write is numbered), read once what lies before the cached range if they ask
        further back, and answer from the cache. Without the cache (``cache_facts=False``) every
        call reads the range from Redis.

        A ticket without a projection (written before projections existed) or with one of an
        older :data:`bot.analytics.facts.VERSION` gets it computed from the ticket, and the result
        is stored unless the ticket changed meanwhile (compare-and-set, so a concurrent update's
        projection is never overwritten by an older one).

        Args:
            since: Epoch seconds, inclusive; None for the first ticket.
            until: Epoch seconds, exclusive; None for up to now and beyond.

        Returns:
            One new dict per ticket, keys of :data:`bot.analytics.facts.FIELDS` (SPEC.md section 7).

        Raises:
            TicketStoreUnavailable: Redis cannot be reached.
        """
        if not self.cache_facts:
            return [p for _, p in await self._read_facts(since, until)]
        key = self._cache_key()
        cache = projections.caches.get(key)
        if cache is None or not await self._refresh(cache):
            cache = await self._load_cache(since)
            if not cache.complete:  # a ticket without a projection that can not be made: read again next time
                return cache.select(since, until)
            projections.caches.put(key, cache)
        elif not cache.covers(since) and not await self._extend(cache, since):
            return [p for _, p in await self._read_facts(since, until)]
        return cache.select(since, until)

    def _cache_key(self) -> tuple[Any, ...]:
        where = self.redis.connection_pool.connection_kwargs
        return (where.get("host"), where.get("port"), where.get("path"), where.get("db"), self.prefix)

    async def _change_state(self) -> tuple[str | None, int]:
        """``P:facts:epoch`` and ``P:facts:gen`` as they are now."""
        gen_key, _, epoch_key = self.facts_change_keys
        epoch, gen = await self.redis.mget([epoch_key, gen_key])
        return (None if epoch is None else _text(epoch)), int(gen or 0)

    async def _load_cache(self, since: float | None) -> projections.FactsCache:
        """The projections of the tickets created from ``since`` on, read from Redis into a new
        cache (``complete`` False when a ticket had none and none could be made: not kept)."""
        epoch, gen = await self._change_state()  # before reading: later writes are numbered above
        cache = projections.FactsCache(epoch, gen, float("-inf") if since is None else float(since))
        ids = [_text(i) for i in await self.redis.zrangebyscore(self.created_key, _low(since), "+inf")]
        found = await self._facts_of(ids)
        cache.put_many([projection for _, projection in found], gen)
        cache.complete = len(found) == len(ids)
        return cache

    async def _extend(self, cache: projections.FactsCache, since: float | None) -> bool:
        """Reads into ``cache`` the tickets created from ``since`` up to its range; False (nothing
        changed) when one of them has no projection that can be made."""
        high = f"({cache.covered_from!r}"
        ids = [_text(i) for i in await self.redis.zrangebyscore(self.created_key, _low(since), high)]
        found = await self._facts_of(ids)
        if len(found) < len(ids):
            return False
        cache.covered_from = float("-inf") if since is None else float(since)
        cache.put_many([projection for _, projection in found], cache.gen)
        return True

    async def _refresh(self, cache: projections.FactsCache) -> bool:
        """Brings ``cache`` up to date with the projections written since; False when it must be
        read again (a new epoch, a counter that went back, a projection that can not be made)."""
        epoch, gen = await self._change_state()
        if epoch != cache.epoch or gen < cache.gen:
            return False
        if gen == cache.gen:
            return True
        _, changed_key, _ = self.facts_change_keys
        changed = [
            (_text(i), float(n))
            for i, n in await self.redis.zrangebyscore(changed_key, f"({cache.gen}", "+inf", withscores=True)
        ]
        ids = [ticket_id for ticket_id, _ in changed]
        found = dict(await self._facts_of(ids))
        if len(found) < len(ids):
            return False
        for ticket_id, number in changed:
            cache.put(found[ticket_id], number)
        cache.gen = max(cache.gen, gen)
        return True

    async def _read_facts(self, since: float | None, until: float | None) -> list[tuple[str, dict[str, Any]]]:
        """(id, projection) of the tickets created in ``[since, until)``, from Redis, oldest first."""
        high = "+inf" if until is None else f"({float(until)!r}"
        ids = [_text(i) for i in await self.redis.zrangebyscore(self.created_key, _low(since), high)]
        return await self._facts_of(ids)

    async def _facts_of(self, ids: list[str]) -> list[tuple[str, dict[str, Any]]]:
        """(id, projection) for ``ids`` in order, computed from the ticket where none is stored;
        tickets that are gone (or whose projection can not be made) are left out."""
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(ids), FACTS_CHUNK):
                pipe.hmget(self.facts_key, ids[start : start + FACTS_CHUNK])
            chunks = await pipe.execute()
        found: list[dict[str, Any] | None] = []
        stale: list[tuple[int, str]] = []  # (position, ticket id) of projections to compute
        for ticket_id, raw in zip(ids, (raw for chunk in chunks for raw in chunk)):
            projection = _loads_projection(raw)
            if projection is None or projection.get("v") != analytics.VERSION:
                stale.append((len(found), ticket_id))
                projection = None
            found.append(projection)
        if stale:
            await self._recompute_facts(found, stale)
        return [(ticket_id, p) for ticket_id, p in zip(ids, found) if p is not None]

    async def _recompute_facts(self, found: list[dict[str, Any] | None], stale: list[tuple[int, str]]) -> None:
        """Fills ``found`` at the ``stale`` positions from the tickets and stores the projections,
        each only if what is stored is still what was read (compare-and-set)."""
        written = 0
        for start in range(0, len(stale), FACTS_CHUNK):
            part = stale[start : start + FACTS_CHUNK]
            ids = [ticket_id for _, ticket_id in part]
            olds = await async_reply(self.redis.hmget(self.facts_key, ids))
            raws = await self.redis.mget([self.ticket_key(ticket_id) for ticket_id in ids])
            args: list[str] = []
            for (position, ticket_id), old, raw in zip(part, olds, raws):
                if raw is None:  # indexed but gone: nothing to count
                    continue
                projection = _projection(json.loads(_text(raw)), old)
                if projection is None:
                    continue
                found[position] = projection
                args += [ticket_id, "" if old is None else _text(old), analytics.dumps(projection)]
            if args:
                written += int(await self._backfill_script(keys=[self.facts_key, *self.facts_change_keys], args=args))
        _log(logging.INFO, "analytics projections computed for %d tickets, %d stored", len(stale), written)

    async def ping(self) -> bool:
        """True when Redis answers; never raises."""
        try:
            return bool(await self.redis.ping())
        except (redis_errors.RedisError, OSError):
            return False


def describe(ticket: Ticket, labels: LabelsFile | None = None) -> dict[str, Any]:
    """Template values for telling the customer where a ticket stands (status, agreed option).

    Args:
        ticket: The ticket.
        labels: The labels (``policy/labels.yml`` by default) that say how a status reads.

    Returns:
        ``{"ticket_id", "status", "next_steps"}`` for ``utter_progress_update`` and
        ``utter_answer_timing_ticket``.
    """
    # keyed by the status text: a stored ticket's status is a plain str (TicketStatus is a StrEnum)
    statuses = {str(status): label for status, label in (labels or load_labels()).ticket_statuses.items()}
    option = ticket.chosen_option if isinstance(ticket.chosen_option, dict) else {}
    steps = f"方案：{option.get('label')}，{option['description']}" if option.get("description") else ""
    return {"ticket_id": ticket.id, "status": statuses.get(ticket.status, ticket.status), "next_steps": steps}
