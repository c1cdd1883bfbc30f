"""Service-level agreement: priority tiers, queues and deadlines (SPEC.md sections 3, 5 and 7).

The numbers live in ``policy/sla.yml``; this module loads them, picks the tier for a case
and computes its deadlines. Plain Python (no Rasa imports): actions, the ticket store and the
handoff code all call it.

    sla = load_sla()
    tier = sla.priority_for("vulnerable", repeat=True)   # the highest applicable tier
    due = deadlines(tier, created_at=time.time())
    format_deadline(due.first_response_due)              # "今天14:30前"

Timestamps are epoch seconds (``time.time()``); customer-facing times are local to the
configured time zone (Asia/Shanghai), computed with :mod:`zoneinfo` from the system tz database.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.policy import schema
from bot.policy.labels import labels_path, load_labels
from bot.vocabulary import Urgency

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "policy" / "sla.yml"
"""Where the SLA configuration lives unless ``SLA_CONFIG`` or a ``path`` says otherwise."""

ENV_VAR = "SLA_CONFIG"
"""Environment variable that overrides :data:`DEFAULT_PATH`."""

URGENCY_TIERS = tuple(Urgency)
"""Urgency values (SPEC.md section 3); each has a tier of the same name."""

REPEAT_TIER = "repeat"
"""Tier of a repeat complainant (another complaint open, or one within ``repeat_window_days``)."""

NORMAL_TIER = "normal"
"""Tier of an ordinary complaint."""

REQUIRED_TIERS = schema.REQUIRED_TIERS

_DAY_WORDS = {0: "今天", 1: "明天", 2: "后天"}


@dataclass(frozen=True)
class Queue:
    """An agents' queue.

    Attributes:
        name: Queue id used in tickets and handoff (``emergency``, ``senior`` ...).
        display: Who the customer is told will take over (``安全应急专员``).
    """

    name: str
    display: str


@dataclass(frozen=True)
class Tier:
    """One SLA priority tier.

    Attributes:
        name: Tier id (``safety``, ``media_legal``, ``vulnerable``, ``repeat``, ``normal``).
        priority: Priority label, ``P1`` (highest) to ``P4``.
        queue: The agents' queue the case goes to.
        queue_display: Chinese name of who takes over, for the customer.
        first_response_minutes: A human answers within this many minutes.
        resolution_hours: An initial solution within this many hours.
        progress_every_hours: Open cases get a progress report at least this often.
        order: Position in the configuration file (the last tie-breaker).
    """

    name: str
    priority: str
    queue: str
    queue_display: str
    first_response_minutes: float
    resolution_hours: float
    progress_every_hours: float
    order: int = 0

    @property
    def rank(self) -> int:
        """The priority as a number: 1 for ``P1`` (the highest)."""
        return int(self.priority[1:])

    @property
    def sort_key(self) -> tuple[int, float, int]:
        """Sorts the highest tier first: priority, then the faster first response, then order."""
        return (self.rank, self.first_response_minutes, self.order)

    @property
    def first_response_seconds(self) -> float:
        """First-response target in seconds."""
        return self.first_response_minutes * 60

    @property
    def resolution_seconds(self) -> float:
        """Resolution target in seconds."""
        return self.resolution_hours * 3600

    @property
    def progress_seconds(self) -> float:
        """Progress-report interval in seconds."""
        return self.progress_every_hours * 3600


@dataclass(frozen=True)
class Deadlines:
    """The SLA deadlines of one case, as epoch seconds.

    Attributes:
        first_response_due: A human must have answered by then (else escalate).
        resolution_due: An initial solution is due by then.
        next_progress_due: The next progress report is due by then.
    """

    first_response_due: float
    resolution_due: float
    next_progress_due: float

    def as_dict(self) -> dict[str, float]:
        """The deadlines as ticket fields."""
        return {
            "first_response_due": self.first_response_due,
            "resolution_due": self.resolution_due,
            "next_progress_due": self.next_progress_due,
        }


@dataclass(frozen=True)
class SlaConfig:
    """The loaded SLA configuration.

    Attributes:
        timezone: IANA name of the time zone customer-facing times are given in.
        tiers: Every tier, in configuration order.
        queues: Every queue, in configuration order (the tie-break order of the agents' queue).
        escalation_queue: Where a case goes when nobody claimed it in time.
        escalation_window_minutes: The time the escalation queue gets for such a case.
        approval_queue: Where a compensation above the bot's authority goes for approval.
        repeat_window_days: A complaint created within this many days makes a repeat complainant.
        low_satisfaction_max_score: A satisfaction score at or below this goes to a human.
        low_satisfaction_queue: The queue that follows up a low score.
    """

    timezone: str
    tiers: tuple[Tier, ...]
    queues: tuple[Queue, ...]
    escalation_queue: str
    escalation_window_minutes: float = 30.0
    approval_queue: str = "senior"
    repeat_window_days: float = 30.0
    low_satisfaction_max_score: int = 2
    low_satisfaction_queue: str = "supervisor"

    @property
    def queue_names(self) -> tuple[str, ...]:
        """The queue ids, in configuration order."""
        return tuple(q.name for q in self.queues)

    @property
    def escalation_window_seconds(self) -> float:
        """Seconds the escalation queue gets for an escalated case."""
        return self.escalation_window_minutes * 60

    @property
    def repeat_window_seconds(self) -> float:
        """The repeat-complainant window in seconds."""
        return self.repeat_window_days * 86400

    def is_low_satisfaction(self, score: int) -> bool:
        """A score (1-5) that goes to a human (``low_satisfaction.max_score`` or below)."""
        return 1 <= score <= self.low_satisfaction_max_score

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)

    def tier(self, name: str) -> Tier:
        """Returns the tier called ``name``.

        Raises:
            KeyError: No such tier.
        """
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise KeyError(f"no SLA tier {name!r}")

    def queue(self, name: str) -> Queue:
        """Returns the queue called ``name``.

        Raises:
            KeyError: No such queue.
        """
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise KeyError(f"no agent queue {name!r}")

    def queue_display(self, name: str) -> str:
        """Who the customer is told takes over in queue ``name`` (``客服专员``)."""
        return self.queue(name).display

    def priority_for(self, urgency: str | Iterable[str] | None, *, repeat: bool = False) -> Tier:
        """Picks the tier for a case: the highest of every tier that applies.

        Args:
            urgency: ``safety``, ``media_legal``, ``vulnerable``, several of them, or ``None``
                (or an empty string) for an ordinary complaint.
            repeat: The customer has another complaint open or had one within ``repeat_window_days``.

        Returns:
            The winning tier (``normal`` when nothing else applies).

        Raises:
            ValueError: An unknown urgency value.
        """
        if urgency is None or urgency == "":
            levels: list[str] = []
        elif isinstance(urgency, str):
            levels = [urgency]
        else:
            levels = [u for u in urgency if u]
        unknown = [u for u in levels if u not in URGENCY_TIERS]
        if unknown:
            raise ValueError(f"unknown urgency {unknown[0]!r}; expected one of {', '.join(URGENCY_TIERS)} or None")
        candidates = [self.tier(u) for u in levels] + [self.tier(NORMAL_TIER)]
        if repeat:
            candidates.append(self.tier(REPEAT_TIER))
        return min(candidates, key=lambda t: t.sort_key)

    @property
    def escalation(self) -> Queue:
        """The supervisor queue for unclaimed or escalated cases."""
        return self.queue(self.escalation_queue)


def from_spec(spec: schema.SlaFile, labels: schema.LabelsFile) -> SlaConfig:
    """The runtime configuration of a validated ``sla.yml`` with the queues' labels."""
    queues = tuple(Queue(name=name, display=labels.queues[name]) for name in spec.queues)
    tiers = tuple(
        Tier(
            name=name,
            priority=tier.priority,
            queue=tier.queue,
            queue_display=labels.queues[tier.queue],
            order=order,
            **spec.tier_times(name),
        )
        for order, (name, tier) in enumerate(spec.tiers.items())
    )
    return SlaConfig(
        timezone=spec.timezone,
        tiers=tiers,
        queues=queues,
        escalation_queue=spec.escalation.queue,
        escalation_window_minutes=spec.escalation.window_minutes,
        approval_queue=spec.approval_queue,
        repeat_window_days=spec.repeat_window_days,
        low_satisfaction_max_score=spec.low_satisfaction.max_score,
        low_satisfaction_queue=spec.low_satisfaction.queue,
    )


@functools.lru_cache(maxsize=8)
def _load(path: str, labels_file: str) -> SlaConfig:
    spec = schema.load_yaml(Path(path), schema.SlaFile)
    labels = load_labels(labels_file)
    schema.check_queue_labels(labels, labels_file, spec.queues)
    return from_spec(spec, labels)


def load_sla(path: str | os.PathLike[str] | None = None, *, labels: str | os.PathLike[str] | None = None) -> SlaConfig:
    """Loads the SLA configuration with its queues' labels (cached per file pair).

    Args:
        path: The YAML file; by default ``$SLA_CONFIG`` or ``policy/sla.yml``.
        labels: The labels file; by default ``$POLICY_LABELS`` or ``policy/labels.yml``.

    Returns:
        The validated configuration.

    Raises:
        OSError: The file cannot be read (``FileNotFoundError`` when it does not exist).
        PolicyError: (a ``ValueError``) the file is not a valid SLA configuration; each line
            names the file, the key path and the problem.
    """
    chosen = path or os.environ.get(ENV_VAR) or DEFAULT_PATH
    return _load(str(Path(chosen).resolve()), str(labels_path(labels)))


def priority_for(
    urgency: str | Iterable[str] | None,
    *,
    repeat: bool = False,
    config: SlaConfig | None = None,
) -> Tier:
    """Picks the tier for a case from the default (or given) configuration.

    See :meth:`SlaConfig.priority_for`.

    Args:
        urgency: ``safety``, ``media_legal``, ``vulnerable``, several of them, or ``None``.
        repeat: The customer is a repeat complainant.
        config: The configuration to use; :func:`load_sla` by default.

    Returns:
        The highest applicable tier.
    """
    return (config or load_sla()).priority_for(urgency, repeat=repeat)


def next_progress_due(tier: Tier, created_at: float, now: float | None = None) -> float:
    """The next progress-report deadline: the first multiple of the interval after creation not yet past.

    Args:
        tier: The case's tier.
        created_at: When the case was created (epoch seconds).
        now: The current time; ``created_at`` when omitted (the first report).

    Returns:
        ``created_at + k * interval`` for the smallest ``k >= 1`` with that time ``>= now``.
    """
    interval = tier.progress_seconds
    elapsed = (created_at if now is None else now) - created_at
    k = max(1, math.ceil(elapsed / interval))
    return created_at + k * interval


def deadlines(tier: Tier, created_at: float, *, now: float | None = None) -> Deadlines:
    """The SLA deadlines of a case of ``tier`` created at ``created_at``.

    Args:
        tier: The case's tier.
        created_at: When the case was created (epoch seconds).
        now: The current time, for the next progress report; defaults to ``created_at``.

    Returns:
        First-response, resolution and next-progress deadlines (epoch seconds).
    """
    return Deadlines(
        first_response_due=created_at + tier.first_response_seconds,
        resolution_due=created_at + tier.resolution_seconds,
        next_progress_due=next_progress_due(tier, created_at, now),
    )


def format_deadline(due: float, *, now: float | None = None, tz: str | ZoneInfo | None = None) -> str:
    """A deadline as the customer reads it: ``今天14:30前``, ``明天09:00前``, ``后天…``, ``11月25日09:00前``.

    The time is rounded up to the whole minute, so the promise is never earlier than the deadline
    allows (14:30:20 reads ``14:31前``). Days are counted in the local calendar, so 23:50 → 00:20
    is ``明天00:20前``.

    Args:
        due: The deadline (epoch seconds).
        now: The current time (epoch seconds); ``time.time()`` by default.
        tz: Time zone (name or ZoneInfo); the configured one (Asia/Shanghai) by default.

    Returns:
        The Chinese phrase.
    """
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz) if tz else load_sla().tz
    now_local = datetime.fromtimestamp(time.time() if now is None else now, zone)
    due_local = datetime.fromtimestamp(math.ceil(due / 60) * 60, zone)
    clock = f"{due_local:%H:%M}前"
    days = (due_local.date() - now_local.date()).days
    if days in _DAY_WORDS:
        return _DAY_WORDS[days] + clock
    if due_local.year == now_local.year:
        return f"{due_local.month}月{due_local.day}日{clock}"
    return f"{due_local.year}年{due_local.month}月{due_local.day}日{clock}"


AMBER_SHARE = 0.25
"""The agents' console turns a countdown amber when less than this share of the case's window is left."""

AMBER_MIN_SECONDS = 5 * 60
"""... or when less than this many seconds are left, whichever comes first (a 15-minute safety case
turns amber at 5 minutes, not at 3 minutes 45)."""


def countdown(deadline: float, started: float | None, now: float) -> dict[str, float | str]:
    """How an open case stands against its first-response deadline, for the agents' console.

    Args:
        deadline: When a human must have taken the case (epoch seconds).
        started: When the case's window began (enqueued or escalated; epoch seconds), or None.
        now: The time to judge by (epoch seconds).

    Returns:
        ``{"seconds_left": float (negative once breached), "level": "ok" | "amber" | "red"}``:
        ``red`` once the deadline has passed (an SLA breach, SPEC.md section 5), ``amber`` when
        less than :data:`AMBER_SHARE` of the window or :data:`AMBER_MIN_SECONDS` is left.
    """
    left = deadline - now
    window = max(deadline - started, 0.0) if started else 0.0
    if left <= 0:
        level = "red"
    elif left <= max(AMBER_SHARE * window, AMBER_MIN_SECONDS):
        level = "amber"
    else:
        level = "ok"
    return {"seconds_left": round(left, 1), "level": level}
