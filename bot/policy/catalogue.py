"""Option catalogue for the "explore options" phase (SPEC.md section 4).

The bot offers at least two concrete options that fit the complaint type and the facts of the
case, each with what happens and by when, and always a human review last. Which options exist,
when they apply, what they cost and who must approve the cost is configuration
(``policy/options.yml``); this module evaluates it:

* :class:`Case` holds the facts the understand phase collected;
* :func:`load_catalogue` reads and validates the configuration;
* :meth:`Catalogue.options_for` lists the options for a case, the customer's wish first;
* :meth:`Catalogue.no_reason_return_verdict` applies the 7-day no-reason return rule;
* :meth:`Catalogue.approval_for` applies the authority limits;
* :meth:`Catalogue.match_choice` and :meth:`Catalogue.outcome_from_text` read customer replies
  with ``bot.language.replies`` (the option keywords are configuration, the reading is language).

Plain Python: no Rasa imports, nothing read at import time.
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.language.causes import vocabulary as cause_vocabulary
from bot.vocabulary import ComplaintType, Urgency
from bot.language.numbers import demanded_amount
from bot.language.replies import (
    comparable,
    contains_any,
    find_keywords,
    match_choice,
    outcome_vocabulary,
    read_outcome,
)

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "policy" / "options.yml"
"""The catalogue shipped with the bot."""

COMPLAINT_TYPES = tuple(ComplaintType)
"""Complaint types of SPEC.md section 2; the configuration must define options for each."""

URGENCY_LEVELS = tuple(Urgency)
"""Urgency classes of SPEC.md section 3."""

FAST = "fast"
"""The wish to have it working or arrived by a time: options that fit it are ordered by speed."""

APPROVERS = ("manager", "headquarters")
"""Who approves compensation above the bot's own limit, in rising order."""

BUILTIN_FACTS = frozenset(
    {
        "always",
        "quality_defect",
        "misuse",
        "no_reason_return",
        "delivered",
        "not_delivered",
        "order_amount_known",
        "urgent",
        *URGENCY_LEVELS,
    }
)
"""Facts computed by the code; the configuration adds exclusion ids and its own ``facts``.

Besides these, every cause of ``bot/language/resources/causes.yml`` is a fact named
``cause_<id>`` (``cause_wrong_item``) that holds when the case has that cause."""

SELLER_FAULT_CAUSES = frozenset({"defect", "wrong_item", "missing_parts", "not_as_described", "fake", "spoiled", "expired"})
"""Causes that are the seller's fault: ``quality_defect`` holds (the seller pays return shipping,
SPEC.md section 4 Law; the seeds: a wrong item is returned at the seller's cost)."""


def cause_facts() -> frozenset[str]:
    """``cause_<id>`` for every cause of the vocabulary."""
    return frozenset(f"cause_{c}" for c in cause_vocabulary())

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_MAX_LABEL_CHARS = 8
_PLACEHOLDERS = frozenset({"hours", "by_when", "amount", "approver", "window_days"})
_SENTENCE_END = "。"
_SENTENCE_BREAKS = re.compile(r"[。！？!?]")




# --------------------------------------------------------------------------------------------
# Public data types


@dataclass(frozen=True)
class Case:
    """The facts of a complaint that decide which options fit.

    Attributes:
        complaint_type: product, logistics, service or malicious.
        urgency: safety, media_legal, vulnerable or None.
        product_category: a category id (``appliances``) or name (``家电``), or None.
        problem: the customer's own words about what is wrong (keywords are read from it).
        desired_outcome: an outcome id of the catalogue (``refund``, ``exchange`` ...) or None.
        demanded_amount: an amount of money the customer asked for, in yuan, or None.
        order_amount: what the order cost, in yuan, or None when unknown.
        days_since_receipt: whole days since the customer signed for the goods, or None.
        delivered: whether the goods reached the customer, or None when unknown.
        is_quality_defect: whether the problem is a seller-side defect; None derives it from
            the cause (:data:`SELLER_FAULT_CAUSES`) or ``problem`` by the catalogue's keywords.
        cause: the complaint cause (an id of ``bot/language/resources/causes.yml``) or None.
    """

    complaint_type: str
    urgency: str | None = None
    product_category: str | None = None
    problem: str | None = None
    desired_outcome: str | None = None
    demanded_amount: float | None = None
    order_amount: float | None = None
    days_since_receipt: int | None = None
    delivered: bool | None = None
    is_quality_defect: bool | None = None
    cause: str | None = None

    def __post_init__(self) -> None:
        if self.cause is not None and self.cause not in cause_vocabulary():
            raise ValueError(f"unknown cause {self.cause!r}; expected None or an id of causes.yml")
        if self.complaint_type not in COMPLAINT_TYPES:
            raise ValueError(
                f"unknown complaint type {self.complaint_type!r}; expected one of {COMPLAINT_TYPES}"
            )
        if self.urgency is not None and self.urgency not in URGENCY_LEVELS:
            raise ValueError(
                f"unknown urgency {self.urgency!r}; expected None or one of {URGENCY_LEVELS}"
            )
        for name in ("demanded_amount", "order_amount"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(
                    f"{name} must be a non-negative number or None, not {value!r}"
                )
        days = self.days_since_receipt
        if days is not None and (
            isinstance(days, bool) or not isinstance(days, int) or days < 0
        ):
            raise ValueError(
                f"days_since_receipt must be a non-negative int or None, not {days!r}"
            )


@dataclass(frozen=True)
class Option:
    """One concrete option offered to the customer.

    Attributes:
        id: stable ascii id (``return_refund``), recorded on the ticket.
        label: short Chinese label that fits a button.
        description: one plain Chinese sentence: what happens and by when.
        by_when_hours: hours until the promised step (approval wait included), or None.
        compensation: money or coupon value in yuan the option grants, or None.
        approval: None when the bot may grant it, else ``manager`` or ``headquarters``.
        by_when_text: a human phrase for the time ("您选定的时间") when hours alone do not say it.
    """

    id: str
    label: str
    description: str
    by_when_hours: float | None
    compensation: float | None = None
    approval: str | None = None
    by_when_text: str | None = None


@dataclass(frozen=True)
class ReturnVerdict:
    """Whether the 7-day no-reason return applies to a case, and why not.

    Attributes:
        allowed: True when a no-reason return may be offered.
        reason: None when allowed; else an exclusion id (``custom_made``, ``perishable`` ...),
            ``not_received`` or ``past_window``.
        explanation: a plain Chinese sentence for the customer when not allowed.
    """

    allowed: bool
    reason: str | None = None
    explanation: str | None = None


# --------------------------------------------------------------------------------------------
# Text helpers (the reading itself lives in bot.language.replies)

_norm = comparable
_find_hits = find_keywords
_contains_any = contains_any


def _format_number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def demanded_amount_from_text(text: str) -> float | None:
    """The first amount of money the customer demands ("赔我500", "补偿三百块", "至少赔我2千").

    Read by ``bot.language.numbers`` (the one number reader): next to a demand word or as the
    whole message; the price of the goods ("花了300") and multiples ("退一赔三") do not count.
    """
    return demanded_amount(comparable(text))


# --------------------------------------------------------------------------------------------
# Catalogue internals


@dataclass(frozen=True)
class _Conditions:
    requires: tuple[str, ...] = ()
    requires_any: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    def holds(self, facts: frozenset[str]) -> bool:
        return (
            all(f in facts for f in self.requires)
            and (not self.requires_any or any(f in facts for f in self.requires_any))
            and not any(f in facts for f in self.excludes)
        )

    def names(self) -> tuple[str, ...]:
        return self.requires + self.requires_any + self.excludes


@dataclass(frozen=True)
class _Compensation:
    fixed: float | None = None
    share_of_order: float | None = None
    cap: float | None = None
    when_order_unknown: float | None = None

    def amount(self, order_amount: float | None) -> float:
        if self.fixed is not None:
            return self.fixed
        assert (
            self.share_of_order is not None
            and self.cap is not None
            and self.when_order_unknown is not None
        )
        if order_amount is None:
            return self.when_order_unknown
        return round(min(self.cap, order_amount * self.share_of_order), 2)

    def maximum(self) -> float:
        if self.fixed is not None:
            return self.fixed
        return max(self.cap or 0.0, self.when_order_unknown or 0.0)


@dataclass(frozen=True)
class _OptionSpec:
    id: str
    label: str
    description: str
    by_when_hours: float | None
    by_when: str | None
    outcomes: tuple[str, ...]
    keywords: tuple[str, ...]
    conditions: _Conditions
    compensation: _Compensation | None = None
    description_with_approval: str | None = None


@dataclass(frozen=True)
class _DemandRule:
    conditions: _Conditions
    max_amount: float | None
    max_share_of_order: float | None

    def allows(
        self, amount: float, order_amount: float | None, facts: frozenset[str]
    ) -> bool:
        if not self.conditions.holds(facts):
            return False
        if self.max_amount is not None and amount > self.max_amount:
            return False
        return self.max_share_of_order is None or (
            order_amount is not None
            and amount <= order_amount * self.max_share_of_order
        )


@dataclass(frozen=True)
class _FactSpec:
    categories: tuple[str, ...]
    keywords: tuple[str, ...]
    also_any: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Exclusion:
    id: str
    label: str
    explanation: str
    rule: _FactSpec


@dataclass(frozen=True)
class Authority:
    """Compensation limits (SPEC.md section 4, Authority).

    Attributes:
        bot_max: the bot grants compensation up to and including this amount.
        manager_max: above ``bot_max`` up to and including this, a manager approves; above, headquarters.
        approval_hours: hours added to an option's by-when while it waits for each approver.
        approvers: how each approver is named in descriptions.
    """

    bot_max: float
    manager_max: float
    approval_hours: Mapping[str, float]
    approvers: Mapping[str, str]


class _Reader:
    """Small schema checker that names the file and the place of every problem."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, where: str, message: str) -> ValueError:
        return ValueError(f"{self.source}: {where}: {message}")

    def mapping(
        self,
        value: Any,
        where: str,
        required: Sequence[str] = (),
        optional: Sequence[str] = (),
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(where, f"expected a mapping, got {type(value).__name__}")
        missing = [k for k in required if k not in value]
        if missing:
            raise self.error(where, f"missing field(s) {', '.join(missing)}")
        if required or optional:
            unknown = [str(k) for k in value if k not in required and k not in optional]
            if unknown:
                raise self.error(where, f"unknown field(s) {', '.join(unknown)}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(where, "expected a non-empty string")
        return value.strip()

    def words(
        self, value: Any, where: str, allow_empty: bool = False
    ) -> tuple[str, ...]:
        if value is None and allow_empty:
            return ()
        if not isinstance(value, list) or (not value and not allow_empty):
            raise self.error(where, "expected a non-empty list of words")
        out = []
        for i, item in enumerate(value):
            if (
                isinstance(item, bool)
                or not isinstance(item, (str, int, float))
                or not str(item).strip()
            ):
                raise self.error(f"{where}[{i}]", "expected a non-empty word")
            out.append(_norm(str(item).strip()))
        return tuple(out)

    def number(
        self, value: Any, where: str, minimum: float = 0.0, strict: bool = True
    ) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise self.error(where, f"expected a number, got {value!r}")
        if value < minimum or (strict and value == minimum):
            raise self.error(
                where,
                f"must be {'>' if strict else '>='} {_format_number(minimum)}, got {value!r}",
            )
        return float(value)

    def ident(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not _ID.match(value):
            raise self.error(
                where, f"id must be lower-case ascii (a-z, 0-9, _), got {value!r}"
            )
        return value


# --------------------------------------------------------------------------------------------
# The catalogue


class Catalogue:
    """The validated option catalogue. Build it with :func:`load_catalogue`."""

    def __init__(
        self,
        *,
        source: str,
        authority: Authority,
        categories: Mapping[str, tuple[str, ...]],
        defect_keywords: tuple[str, ...],
        misuse_keywords: tuple[str, ...],
        facts: Mapping[str, _FactSpec],
        no_compensation_facts: tuple[str, ...],
        window_days: int,
        not_received_explanation: str,
        past_window_explanation: str,
        exclusions: tuple[_Exclusion, ...],
        outcomes: Mapping[str, tuple[str, tuple[str, ...]]],
        options: Mapping[str, tuple[_OptionSpec, ...]],
        demanded: _OptionSpec,
        demand_rules: Mapping[str, tuple[_DemandRule, ...]],
        human_review: _OptionSpec,
    ) -> None:
        self.source = source
        self.authority = authority
        self.window_days = window_days
        self._categories = categories
        self._defect_keywords = defect_keywords
        self._misuse_keywords = misuse_keywords
        self._facts = facts
        self._no_compensation_facts = no_compensation_facts
        self._not_received_explanation = not_received_explanation
        self._past_window_explanation = past_window_explanation
        self._exclusions = exclusions
        self._outcomes = outcomes
        self._options = options
        self._demanded = demanded
        self._demand_rules = demand_rules
        self._human_review = human_review
        keywords: dict[str, list[str]] = {}
        for spec in (
            *[s for specs in options.values() for s in specs],
            demanded,
            human_review,
        ):
            keywords.setdefault(spec.id, [_norm(spec.label)]).extend(spec.keywords)
        self._keywords_by_id = {k: tuple(dict.fromkeys(v)) for k, v in keywords.items()}

    # -- introspection -------------------------------------------------------------------------

    @property
    def outcomes(self) -> dict[str, str]:
        """Outcome ids the customer may ask for, with their Chinese labels."""
        return {k: label for k, (label, _) in self._outcomes.items()}

    @property
    def human_review(self) -> Option:
        """The human-review option that is always offered last."""
        return self._make(self._human_review, None)

    def option_ids(self, complaint_type: str) -> list[str]:
        """All option ids configured for a complaint type, in catalogue order.

        Args:
            complaint_type: product, logistics, service or malicious.

        Returns:
            The ids (not including the demanded-compensation and human-review options).
        """
        self._check_type(complaint_type)
        return [s.id for s in self._options[complaint_type]]

    def resolve_category(self, name: str | None) -> str | None:
        """Maps a category id or name ("家电", "appliances") to its id; None when unknown."""
        key = _norm(name).strip()
        if not key:
            return None
        for category, aliases in self._categories.items():
            if key == category or key in aliases:
                return category
        return None

    # -- facts ---------------------------------------------------------------------------------

    def _fact_holds(self, spec: _FactSpec, category: str | None, text: str) -> bool:
        if category is not None and category in spec.categories:
            return True
        if spec.keywords and _contains_any(text, spec.keywords):
            return not spec.also_any or _contains_any(text, spec.also_any)
        return False

    def _base_facts(self, case: Case) -> set[str]:
        problem = _norm(case.problem)
        category = self.resolve_category(case.product_category)
        facts = {"always"}
        goods_text = f"{_norm(case.product_category)} {problem}"
        for exclusion in self._exclusions:
            if self._fact_holds(exclusion.rule, category, goods_text):
                facts.add(exclusion.id)
        for name, spec in self._facts.items():
            if self._fact_holds(spec, category, problem):
                facts.add(name)
        if case.cause:
            facts.add(f"cause_{case.cause}")
        misuse = _contains_any(problem, self._misuse_keywords)
        if case.is_quality_defect is None:
            defect = case.cause in SELLER_FAULT_CAUSES or (not misuse and _contains_any(problem, self._defect_keywords))
        else:
            defect = case.is_quality_defect
        if defect:
            facts.add("quality_defect")
        elif misuse:
            facts.add("misuse")
        if case.delivered is True:
            facts.add("delivered")
        elif case.delivered is False:
            facts.add("not_delivered")
        if case.order_amount is not None:
            facts.add("order_amount_known")
        if case.urgency is not None:
            facts.update({case.urgency, "urgent"})
        return facts

    def facts(self, case: Case) -> frozenset[str]:
        """The facts (built-in and configured) that hold for a case.

        Args:
            case: the case.

        Returns:
            Fact names, e.g. ``{"always", "quality_defect", "repairable", "no_reason_return"}``.
        """
        facts = self._base_facts(case)
        if self._verdict(case, facts).allowed:
            facts.add("no_reason_return")
        return frozenset(facts)

    def is_quality_defect(self, case: Case) -> bool:
        """``case.is_quality_defect`` when given, else derived from the problem text."""
        return "quality_defect" in self._base_facts(case)

    # -- the 7-day rule ------------------------------------------------------------------------

    def _verdict(self, case: Case, facts: set[str]) -> ReturnVerdict:
        for exclusion in self._exclusions:
            if exclusion.id in facts:
                return ReturnVerdict(False, exclusion.id, exclusion.explanation)
        if case.delivered is False:
            return ReturnVerdict(False, "not_received", self._not_received_explanation)
        if (
            case.days_since_receipt is not None
            and case.days_since_receipt > self.window_days
        ):
            return ReturnVerdict(
                False,
                "past_window",
                self._past_window_explanation.format(window_days=self.window_days),
            )
        return ReturnVerdict(True)

    def no_reason_return_verdict(self, case: Case) -> ReturnVerdict:
        """Applies the 7-day no-reason return rule (SPEC.md section 4, Law).

        Excluded goods (custom-made, perishable, opened digital goods, newspapers and
        periodicals: keywords in the problem text or the category) come first, then goods not
        yet received, then the window (``days_since_receipt`` above ``window_days``). An
        unknown number of days does not exclude: the option text states the window.

        Args:
            case: the case.

        Returns:
            The verdict, with the reason and a Chinese explanation when not allowed.
        """
        return self._verdict(case, self._base_facts(case))

    def no_reason_return_allowed(self, case: Case) -> bool:
        """True when a no-reason return may be offered (see :meth:`no_reason_return_verdict`)."""
        return self.no_reason_return_verdict(case).allowed

    # -- authority -----------------------------------------------------------------------------

    def approval_for(self, amount: float) -> str | None:
        """Who must approve a compensation amount.

        Args:
            amount: yuan, non-negative.

        Returns:
            None up to and including ``bot_max`` (the bot grants it), ``"manager"`` up to and
            including ``manager_max``, ``"headquarters"`` above.

        Raises:
            ValueError: for a negative or non-finite amount.
        """
        if (
            isinstance(amount, bool)
            or not isinstance(amount, (int, float))
            or not math.isfinite(amount)
            or amount < 0
        ):
            raise ValueError(f"amount must be a non-negative number, not {amount!r}")
        if amount <= self.authority.bot_max:
            return None
        if amount <= self.authority.manager_max:
            return "manager"
        return "headquarters"

    # -- options -------------------------------------------------------------------------------

    def _check_type(self, complaint_type: str) -> None:
        if complaint_type not in self._options:
            raise ValueError(
                f"unknown complaint type {complaint_type!r}; expected one of {COMPLAINT_TYPES}"
            )

    def _make(self, spec: _OptionSpec, compensation: float | None) -> Option:
        approval = self.approval_for(compensation) if compensation else None
        hours = spec.by_when_hours
        if hours is not None and approval is not None:
            hours += self.authority.approval_hours[approval]
        template = (
            spec.description_with_approval
            if approval and spec.description_with_approval
            else spec.description
        )
        description = template.format(
            hours=_format_number(hours) if hours is not None else "",
            by_when=spec.by_when or "",
            amount=_format_number(compensation) if compensation is not None else "",
            approver=self.authority.approvers[approval] if approval else "",
            window_days=self.window_days,
        )
        return Option(
            id=spec.id,
            label=spec.label,
            description=description,
            by_when_hours=hours,
            compensation=compensation,
            approval=approval,
            by_when_text=spec.by_when,
        )

    def demanded_compensation_allowed(self, case: Case) -> bool:
        """Whether the customer's demanded amount may be offered as its own option.

        Never for malicious cases, never when a ``no_compensation_facts`` fact holds;
        otherwise when one of the type's rules has its conditions met and its caps respected.

        Args:
            case: the case (``demanded_amount`` unset or zero means False).

        Returns:
            True when :meth:`options_for` includes the demanded-compensation option.
        """
        return self._demand_allowed(case, self.facts(case))

    def _demand_allowed(self, case: Case, facts: frozenset[str]) -> bool:
        amount = case.demanded_amount
        if not amount or case.complaint_type == "malicious":
            return False
        if any(f in facts for f in self._no_compensation_facts):
            return False
        return any(
            rule.allows(amount, case.order_amount, facts)
            for rule in self._demand_rules.get(case.complaint_type, ())
        )

    def options_for(
        self, case: Case, include_human_review: bool = True
    ) -> list[Option]:
        """The options to offer for a case, best first.

        Every configured option of the case's type whose conditions hold is offered, in
        catalogue order, except options carrying compensation when the type is malicious or a
        ``no_compensation_facts`` fact holds. A demanded amount allowed by the rules becomes
        its own option, placed before the catalogue options. Options that fit the desired
        outcome move to the front (stable; for the wish ``fast``, the quickest first), and the human review comes last.

        Args:
            case: the case.
            include_human_review: append the human-review option (default True).

        Returns:
            At least two concrete options with the shipped catalogue, plus the human review.

        Raises:
            ValueError: unknown complaint type or desired outcome.
        """
        self._check_type(case.complaint_type)
        if (
            case.desired_outcome is not None
            and case.desired_outcome not in self._outcomes
        ):
            raise ValueError(
                f"unknown desired outcome {case.desired_outcome!r}; expected one of {sorted(self._outcomes)}"
            )
        facts = self.facts(case)
        no_compensation = case.complaint_type == "malicious" or any(
            f in facts for f in self._no_compensation_facts
        )
        ranked: list[tuple[int, int, Option]] = []

        def add(position: int, spec: _OptionSpec, compensation: float | None) -> None:
            fits = (
                case.desired_outcome is not None
                and case.desired_outcome in spec.outcomes
            )
            ranked.append((0 if fits else 1, position, self._make(spec, compensation)))

        if self._demand_allowed(case, facts):
            add(-1, self._demanded, round(float(case.demanded_amount or 0), 2))
        for position, spec in enumerate(self._options[case.complaint_type]):
            if not spec.conditions.holds(facts):
                continue
            compensation = (
                spec.compensation.amount(case.order_amount)
                if spec.compensation
                else None
            )
            if compensation and no_compensation:
                continue
            add(position, spec, compensation)
        if case.desired_outcome == FAST:  # "明天上午之前能用上": the quickest fitting option first
            ranked.sort(key=lambda r: (r[0], r[2].by_when_hours if r[0] == 0 and r[2].by_when_hours is not None else 1e9, r[1]))
        else:
            ranked.sort(key=lambda r: (r[0], r[1]))
        options = [option for _, _, option in ranked]
        if include_human_review:
            options.append(self.human_review)
        return options

    # -- reading replies (bot.language.replies) ------------------------------------------------

    def match_choice(self, text: str, offered: Sequence[Option]) -> Option | None:
        """Maps a customer's reply to one of the options just offered.

        Reads numbers ("1", "２", "第一个", "选2", "2号", "方案三", "①", "最后一个") and the
        options' labels and keywords (negated ones such as "不要退款" do not count); a number and
        a keyword must agree (:func:`bot.language.replies.match_choice`).

        Args:
            text: the customer's reply.
            offered: the options in the order they were shown (numbered from 1).

        Returns:
            The chosen option, or None when nothing or several match or the reply leaves the
            choice to the bot ("都行").
        """
        keywords = [self._keywords_by_id.get(o.id, ()) + (_norm(o.label),) for o in offered]
        index = match_choice(text, keywords)
        return None if index is None else offered[index]

    def outcome_from_text(self, text: str) -> tuple[str | None, float | None]:
        """What the customer wants and the amount demanded (:func:`bot.language.replies.read_outcome`)."""
        return read_outcome(text, {k: words for k, (_, words) in self._outcomes.items()})


def _template_fields(template: str) -> set[str]:
    return {
        name for _, name, _, _ in string.Formatter().parse(template) if name is not None
    }


def _parse_conditions(
    r: _Reader, value: Any, where: str, known: frozenset[str], required: bool
) -> _Conditions:
    if value is None:
        if required:
            raise r.error(
                where,
                "missing conditions (write `requires: [always]` for an option that is always offered)",
            )
        return _Conditions()
    data = r.mapping(value, where, optional=("requires", "requires_any", "excludes"))
    conditions = _Conditions(
        requires=tuple(
            r.words(data.get("requires"), f"{where}.requires", allow_empty=True)
        ),
        requires_any=tuple(
            r.words(data.get("requires_any"), f"{where}.requires_any", allow_empty=True)
        ),
        excludes=tuple(
            r.words(data.get("excludes"), f"{where}.excludes", allow_empty=True)
        ),
    )
    if required and not conditions.names():
        raise r.error(
            where,
            "no conditions (write `requires: [always]` for an option that is always offered)",
        )
    unknown = [n for n in conditions.names() if n not in known]
    if unknown:
        raise r.error(
            where,
            f"unknown fact(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
        )
    return conditions


def _parse_compensation(r: _Reader, value: Any, where: str) -> _Compensation:
    data = r.mapping(
        value, where, optional=("fixed", "share_of_order", "cap", "when_order_unknown")
    )
    if "fixed" in data:
        if len(data) > 1:
            raise r.error(
                where,
                "use either `fixed` or `share_of_order` + `cap` + `when_order_unknown`, not both",
            )
        return _Compensation(fixed=r.number(data["fixed"], f"{where}.fixed"))
    missing = [
        k for k in ("share_of_order", "cap", "when_order_unknown") if k not in data
    ]
    if missing:
        raise r.error(where, f"missing field(s) {', '.join(missing)} (or give `fixed`)")
    share = r.number(data["share_of_order"], f"{where}.share_of_order")
    if share > 1:
        raise r.error(f"{where}.share_of_order", f"must be at most 1, got {share!r}")
    return _Compensation(
        share_of_order=share,
        cap=r.number(data["cap"], f"{where}.cap"),
        when_order_unknown=r.number(
            data["when_order_unknown"], f"{where}.when_order_unknown"
        ),
    )


def _check_description(
    r: _Reader, template: str, where: str, spec_fields: set[str]
) -> None:
    try:
        fields = _template_fields(template)
    except ValueError as exc:
        raise r.error(where, f"malformed placeholder: {exc}") from None
    unknown = fields - _PLACEHOLDERS
    if unknown:
        raise r.error(
            where,
            f"unknown placeholder(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_PLACEHOLDERS))}",
        )
    if not fields & {"hours", "by_when"}:
        raise r.error(where, "the description must say by when ({hours} or {by_when})")
    missing = fields - spec_fields
    if missing:
        raise r.error(
            where,
            f"placeholder(s) {', '.join(sorted(missing))} without a value for this option",
        )
    text = template.strip()
    if not text.endswith(_SENTENCE_END) or _SENTENCE_BREAKS.search(text[:-1]):
        raise r.error(where, "must be one plain sentence ending in '。'")


def _parse_option(
    r: _Reader,
    value: Any,
    where: str,
    known_facts: frozenset[str],
    known_outcomes: Mapping[str, Any],
    *,
    kind: str = "option",
) -> _OptionSpec:
    required = ["id", "label", "description"]
    optional = ["by_when_hours", "by_when", "outcomes", "keywords"]
    if kind == "option":
        required.append("conditions")
        optional += ["compensation", "description_with_approval"]
    elif kind == "demanded":
        required += ["description_with_approval", "rules"]
    data = r.mapping(value, where, required=required, optional=optional)
    option_id = r.ident(data["id"], f"{where}.id")
    where = f"{where} ({option_id})"
    label = r.text(data["label"], f"{where}.label")
    if len(label) > _MAX_LABEL_CHARS:
        raise r.error(
            f"{where}.label",
            f"{label!r} is longer than {_MAX_LABEL_CHARS} characters (it must fit a button)",
        )
    if "by_when_hours" not in data and "by_when" not in data:
        raise r.error(where, "missing field by_when_hours (or by_when)")
    hours = (
        r.number(data["by_when_hours"], f"{where}.by_when_hours")
        if "by_when_hours" in data
        else None
    )
    by_when = r.text(data["by_when"], f"{where}.by_when") if "by_when" in data else None
    outcomes = r.words(data.get("outcomes"), f"{where}.outcomes", allow_empty=True)
    unknown = [o for o in outcomes if o not in known_outcomes]
    if unknown:
        raise r.error(f"{where}.outcomes", f"unknown outcome(s) {', '.join(unknown)}")
    compensation = (
        _parse_compensation(r, data["compensation"], f"{where}.compensation")
        if "compensation" in data
        else None
    )
    fields = {"window_days"}
    if hours is not None:
        fields.add("hours")
    if by_when is not None:
        fields.add("by_when")
    if compensation is not None or kind == "demanded":
        fields.add("amount")
    description = r.text(data["description"], f"{where}.description")
    _check_description(r, description, f"{where}.description", fields)
    with_approval = None
    if "description_with_approval" in data:
        with_approval = r.text(
            data["description_with_approval"], f"{where}.description_with_approval"
        )
        _check_description(
            r,
            with_approval,
            f"{where}.description_with_approval",
            fields | {"approver"},
        )
        if "approver" not in _template_fields(with_approval):
            raise r.error(
                f"{where}.description_with_approval",
                "must name the approver ({approver})",
            )
    if "approver" in _template_fields(description):
        raise r.error(
            f"{where}.description", "{approver} belongs in description_with_approval"
        )
    conditions = _parse_conditions(
        r, data.get("conditions"), f"{where}.conditions", known_facts, kind == "option"
    )
    return _OptionSpec(
        id=option_id,
        label=label,
        description=description,
        by_when_hours=hours,
        by_when=by_when,
        outcomes=outcomes,
        keywords=r.words(data.get("keywords"), f"{where}.keywords", allow_empty=True),
        conditions=conditions,
        compensation=compensation,
        description_with_approval=with_approval,
    )


def _parse_fact_spec(
    r: _Reader, data: dict[str, Any], where: str, categories: Mapping[str, Any]
) -> _FactSpec:
    cats = r.words(data.get("categories"), f"{where}.categories", allow_empty=True)
    unknown = [c for c in cats if c not in categories]
    if unknown:
        raise r.error(
            f"{where}.categories", f"unknown categor(y/ies) {', '.join(unknown)}"
        )
    keywords = r.words(data.get("keywords"), f"{where}.keywords", allow_empty=True)
    if not cats and not keywords:
        raise r.error(where, "needs categories or keywords")
    also_any = r.words(data.get("also_any"), f"{where}.also_any", allow_empty=True)
    if also_any and not keywords:
        raise r.error(f"{where}.also_any", "only makes sense with keywords")
    return _FactSpec(categories=cats, keywords=keywords, also_any=also_any)


def _parse(raw: Any, source: str) -> Catalogue:
    r = _Reader(source)
    top = r.mapping(
        raw,
        "top level",
        required=(
            "authority",
            "categories",
            "quality_defect",
            "facts",
            "no_reason_return",
            "options",
            "demanded_compensation",
            "human_review",
        ),
        optional=("no_compensation_facts", "outcomes"),
    )

    auth = r.mapping(
        top["authority"],
        "authority",
        required=("bot_max", "manager_max", "approval_hours", "approvers"),
    )
    bot_max = r.number(auth["bot_max"], "authority.bot_max")
    manager_max = r.number(auth["manager_max"], "authority.manager_max")
    if manager_max <= bot_max:
        raise r.error(
            "authority",
            f"manager_max ({manager_max:g}) must be above bot_max ({bot_max:g})",
        )
    hours = r.mapping(
        auth["approval_hours"], "authority.approval_hours", required=APPROVERS
    )
    names = r.mapping(auth["approvers"], "authority.approvers", required=APPROVERS)
    authority = Authority(
        bot_max=bot_max,
        manager_max=manager_max,
        approval_hours={
            k: r.number(hours[k], f"authority.approval_hours.{k}", strict=False)
            for k in APPROVERS
        },
        approvers={k: r.text(names[k], f"authority.approvers.{k}") for k in APPROVERS},
    )

    raw_categories = r.mapping(top["categories"], "categories")
    if not raw_categories:
        raise r.error("categories", "no categories")
    categories = {
        r.ident(k, f"categories.{k}"): r.words(v, f"categories.{k}")
        for k, v in raw_categories.items()
    }

    quality = r.mapping(
        top["quality_defect"],
        "quality_defect",
        required=("keywords",),
        optional=("misuse_keywords",),
    )
    defect_keywords = r.words(quality["keywords"], "quality_defect.keywords")
    misuse_keywords = r.words(
        quality.get("misuse_keywords"),
        "quality_defect.misuse_keywords",
        allow_empty=True,
    )

    nrr = r.mapping(
        top["no_reason_return"],
        "no_reason_return",
        required=(
            "window_days",
            "exclusions",
            "not_received_explanation",
            "past_window_explanation",
        ),
    )
    window = nrr["window_days"]
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise r.error(
            "no_reason_return.window_days",
            f"expected a positive whole number of days, got {window!r}",
        )
    past_window = r.text(
        nrr["past_window_explanation"], "no_reason_return.past_window_explanation"
    )
    if _template_fields(past_window) - {"window_days"}:
        raise r.error(
            "no_reason_return.past_window_explanation", "only {window_days} may be used"
        )
    exclusions = []
    for ex_id, ex in r.mapping(
        nrr["exclusions"], "no_reason_return.exclusions"
    ).items():
        where = f"no_reason_return.exclusions.{ex_id}"
        r.ident(ex_id, where)
        if ex_id in BUILTIN_FACTS:
            raise r.error(where, "name clashes with a built-in fact")
        data = r.mapping(
            ex,
            where,
            required=("label", "explanation"),
            optional=("categories", "keywords", "also_any"),
        )
        exclusions.append(
            _Exclusion(
                id=ex_id,
                label=r.text(data["label"], f"{where}.label"),
                explanation=r.text(data["explanation"], f"{where}.explanation"),
                rule=_parse_fact_spec(r, data, where, categories),
            )
        )

    facts: dict[str, _FactSpec] = {}
    for name, spec in r.mapping(top["facts"], "facts").items():
        where = f"facts.{name}"
        r.ident(name, where)
        if name in BUILTIN_FACTS or name in cause_facts() or name in {e.id for e in exclusions}:
            raise r.error(where, "name clashes with a built-in fact or an exclusion")
        facts[name] = _parse_fact_spec(
            r,
            r.mapping(spec, where, optional=("categories", "keywords")),
            where,
            categories,
        )
    known_facts = frozenset(BUILTIN_FACTS | cause_facts() | {e.id for e in exclusions} | set(facts))
    no_compensation = r.words(
        top.get("no_compensation_facts"), "no_compensation_facts", allow_empty=True
    )
    unknown = [f for f in no_compensation if f not in known_facts]
    if unknown:
        raise r.error("no_compensation_facts", f"unknown fact(s) {', '.join(unknown)}")

    # What a customer may ask for is language (bot/language/resources/outcomes.yml); a catalogue
    # may still bring its own vocabulary (tests do).
    outcomes: dict[str, tuple[str, tuple[str, ...]]] = {}
    if "outcomes" not in top:
        outcomes = dict(outcome_vocabulary())
    raw_outcomes = r.mapping(top["outcomes"], "outcomes") if "outcomes" in top else {}
    if "outcomes" in top and not raw_outcomes:
        raise r.error("outcomes", "no outcomes")
    for outcome_id, spec in raw_outcomes.items():
        where = f"outcomes.{outcome_id}"
        r.ident(outcome_id, where)
        data = r.mapping(spec, where, required=("label", "keywords"))
        outcomes[outcome_id] = (
            r.text(data["label"], f"{where}.label"),
            r.words(data["keywords"], f"{where}.keywords"),
        )

    raw_options = r.mapping(top["options"], "options")
    unknown = [str(t) for t in raw_options if t not in COMPLAINT_TYPES]
    if unknown:
        raise r.error(
            "options",
            f"unknown complaint type(s) {', '.join(unknown)}; expected {', '.join(COMPLAINT_TYPES)}",
        )
    missing = [t for t in COMPLAINT_TYPES if t not in raw_options]
    if missing:
        raise r.error(
            "options", f"no options for complaint type(s) {', '.join(missing)}"
        )
    options: dict[str, tuple[_OptionSpec, ...]] = {}
    for complaint_type in COMPLAINT_TYPES:
        entries = raw_options[complaint_type]
        where = f"options.{complaint_type}"
        if not isinstance(entries, list) or not entries:
            raise r.error(where, "expected a non-empty list of options")
        specs = [
            _parse_option(r, e, f"{where}[{i}]", known_facts, outcomes)
            for i, e in enumerate(entries)
        ]
        seen: set[str] = set()
        for spec in specs:
            if spec.id in seen:
                raise r.error(where, f"duplicate option id {spec.id!r}")
            seen.add(spec.id)
            if spec.compensation is not None:
                if complaint_type == "malicious":
                    raise r.error(
                        f"{where} ({spec.id})",
                        "malicious cases get no compensation beyond policy",
                    )
                if (
                    spec.compensation.maximum() > bot_max
                    and spec.description_with_approval is None
                ):
                    raise r.error(
                        f"{where} ({spec.id})",
                        "compensation may exceed authority.bot_max: add description_with_approval",
                    )
        options[complaint_type] = tuple(specs)

    demanded_raw = top["demanded_compensation"]
    demanded = _parse_option(
        r, demanded_raw, "demanded_compensation", known_facts, outcomes, kind="demanded"
    )
    rules_raw = r.mapping(demanded_raw["rules"], "demanded_compensation.rules")
    demand_rules: dict[str, tuple[_DemandRule, ...]] = {}
    for complaint_type, rules in rules_raw.items():
        where = f"demanded_compensation.rules.{complaint_type}"
        if complaint_type == "malicious":
            raise r.error(
                where, "a demanded amount is never offered in a malicious case"
            )
        if complaint_type not in COMPLAINT_TYPES:
            raise r.error(where, f"unknown complaint type {complaint_type!r}")
        if not isinstance(rules, list) or not rules:
            raise r.error(where, "expected a non-empty list of rules")
        parsed = []
        for i, rule in enumerate(rules):
            w = f"{where}[{i}]"
            data = r.mapping(
                rule,
                w,
                optional=(
                    "requires",
                    "requires_any",
                    "excludes",
                    "max_amount",
                    "max_share_of_order",
                ),
            )
            if "max_amount" not in data and "max_share_of_order" not in data:
                raise r.error(
                    w, "a rule needs a cap: max_amount and/or max_share_of_order"
                )
            conditions = _parse_conditions(
                r,
                {
                    k: v
                    for k, v in data.items()
                    if k in ("requires", "requires_any", "excludes")
                },
                w,
                known_facts,
                False,
            )
            parsed.append(
                _DemandRule(
                    conditions=conditions,
                    max_amount=r.number(data["max_amount"], f"{w}.max_amount")
                    if "max_amount" in data
                    else None,
                    max_share_of_order=(
                        r.number(data["max_share_of_order"], f"{w}.max_share_of_order")
                        if "max_share_of_order" in data
                        else None
                    ),
                )
            )
        demand_rules[complaint_type] = tuple(parsed)

    final_raw = top["human_review"]
    if isinstance(final_raw, dict) and "conditions" in final_raw:
        raise r.error(
            "human_review", "the human review is always offered: remove its conditions"
        )
    human_review = _parse_option(
        r, final_raw, "human_review", known_facts, outcomes, kind="final"
    )
    ids = {s.id for specs in options.values() for s in specs}
    for special in (demanded, human_review):
        if special.id in ids:
            raise r.error(
                "options", f"option id {special.id!r} is reserved for {special.label}"
            )
    if demanded.id == human_review.id:
        raise r.error("human_review", "id must differ from demanded_compensation.id")

    return Catalogue(
        source=source,
        authority=authority,
        categories=categories,
        defect_keywords=defect_keywords,
        misuse_keywords=misuse_keywords,
        facts=facts,
        no_compensation_facts=no_compensation,
        window_days=window,
        not_received_explanation=r.text(
            nrr["not_received_explanation"], "no_reason_return.not_received_explanation"
        ),
        past_window_explanation=past_window,
        exclusions=tuple(exclusions),
        outcomes=outcomes,
        options=options,
        demanded=demanded,
        demand_rules=demand_rules,
        human_review=human_review,
    )


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Reads and validates an option catalogue.

    Args:
        path: a YAML file; None reads the shipped ``policy/options.yml``.

    Returns:
        The catalogue.

    Raises:
        ValueError: the file is not valid YAML or breaks the schema (the message names the
            file and the place: unknown complaint types, missing fields, options without
            conditions, unknown facts or outcomes, compensation for malicious cases ...).
        FileNotFoundError: the file does not exist.
    """
    file = Path(path) if path is not None else DEFAULT_PATH
    try:
        raw = yaml.load(file.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise ValueError(f"{file}: not valid YAML: {exc}") from None
    return _parse(raw, str(file))


@functools.lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The shipped catalogue, loaded once per process (actions call this)."""
    return load_catalogue()
