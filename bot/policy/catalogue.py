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
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from bot.language.causes import vocabulary as cause_vocabulary
from bot.language.numbers import demanded_amount
from bot.language.replies import (
    comparable,
    contains_any,
    find_keywords,
    match_choice,
    outcome_vocabulary,
    read_outcome,
)
from bot.policy import schema
from bot.policy.labels import load_labels
from bot.vocabulary import ComplaintType, Urgency

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "policy" / "options.yml"
ENV_VAR = "POLICY_OPTIONS"
"""Environment variable that overrides :data:`DEFAULT_PATH` (like ``SLA_CONFIG`` and ``POLICY_LABELS``)."""
"""The catalogue shipped with the bot."""

COMPLAINT_TYPES = tuple(ComplaintType)
"""Complaint types of SPEC.md section 2; the configuration must define options for each."""

URGENCY_LEVELS = tuple(Urgency)
"""Urgency classes of SPEC.md section 3."""

FAST = "fast"
"""The wish to have it working or arrived by a time: options that fit it are ordered by speed."""

APPROVERS = schema.APPROVERS
BUILTIN_FACTS = schema.BUILTIN_FACTS
cause_facts = schema.cause_facts

SELLER_FAULT_CAUSES = frozenset(
    {"defect", "wrong_item", "missing_parts", "not_as_described", "fake", "spoiled", "expired"}
)
"""Causes that are the seller's fault: ``quality_defect`` holds (the seller pays return shipping,
SPEC.md section 4 Law; the seeds: a wrong item is returned at the seller's cost)."""

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
            raise ValueError(f"unknown complaint type {self.complaint_type!r}; expected one of {COMPLAINT_TYPES}")
        if self.urgency is not None and self.urgency not in URGENCY_LEVELS:
            raise ValueError(f"unknown urgency {self.urgency!r}; expected None or one of {URGENCY_LEVELS}")
        for name in ("demanded_amount", "order_amount"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0
            ):
                raise ValueError(f"{name} must be a non-negative number or None, not {value!r}")
        days = self.days_since_receipt
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 0):
            raise ValueError(f"days_since_receipt must be a non-negative int or None, not {days!r}")


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
# The catalogue


class Catalogue:
    """The validated option catalogue. Build it with :func:`load_catalogue`."""

    def __init__(self, spec: schema.OptionsFile, *, source: str, approvers: Mapping[str, str]) -> None:
        self.source = source
        self.spec = spec
        self.authority = spec.authority
        self.approvers = dict(approvers)
        self.window_days = int(spec.no_reason_return.window_days)
        self._categories = spec.categories
        self._facts = spec.facts
        self._exclusions = spec.no_reason_return.exclusions
        self._no_compensation_facts = spec.no_compensation_facts
        # What a customer may ask for is language (bot/language/resources/outcomes.yml); a
        # catalogue may still bring its own vocabulary (tests do).
        self._outcomes: Mapping[str, tuple[str, tuple[str, ...]]] = (
            {k: (o.label, tuple(o.keywords)) for k, o in spec.outcomes.items()}
            if spec.outcomes is not None
            else dict(outcome_vocabulary())
        )
        # keyed by ComplaintType, a StrEnum: a plain "product" finds its entry
        self._options = cast(Mapping[str, list[schema.OptionSpec]], spec.options)
        self._demand_rules = cast(Mapping[str, list[schema.DemandRule]], spec.demanded_compensation.rules)
        keywords: dict[str, list[str]] = {}
        for option in (
            *[s for specs in spec.options.values() for s in specs],
            spec.demanded_compensation,
            spec.human_review,
        ):
            keywords.setdefault(option.id, [_norm(option.label)]).extend(option.keywords)
        self._keywords_by_id = {k: tuple(dict.fromkeys(v)) for k, v in keywords.items()}

    # -- introspection -------------------------------------------------------------------------

    @property
    def outcomes(self) -> dict[str, str]:
        """Outcome ids the customer may ask for, with their Chinese labels."""
        return {k: label for k, (label, _) in self._outcomes.items()}

    @property
    def human_review(self) -> Option:
        """The human-review option that is always offered last."""
        return self._make(self.spec.human_review, None)

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

    def _fact_holds(self, spec: schema.FactSpec, category: str | None, text: str) -> bool:
        if category is not None and category in spec.categories:
            return True
        if spec.keywords and _contains_any(text, spec.keywords):
            also_any = getattr(spec, "also_any", ())
            return not also_any or _contains_any(text, also_any)
        return False

    def _base_facts(self, case: Case) -> set[str]:
        problem = _norm(case.problem)
        category = self.resolve_category(case.product_category)
        facts = {"always"}
        goods_text = f"{_norm(case.product_category)} {problem}"
        for exclusion_id, exclusion in self._exclusions.items():
            if self._fact_holds(exclusion, category, goods_text):
                facts.add(exclusion_id)
        for name, spec in self._facts.items():
            if self._fact_holds(spec, category, problem):
                facts.add(name)
        if case.cause:
            facts.add(f"cause_{case.cause}")
        misuse = _contains_any(problem, self.spec.quality_defect.misuse_keywords)
        if case.is_quality_defect is None:
            defect = case.cause in SELLER_FAULT_CAUSES or (
                not misuse and _contains_any(problem, self.spec.quality_defect.keywords)
            )
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
        for exclusion_id, exclusion in self._exclusions.items():
            if exclusion_id in facts:
                return ReturnVerdict(False, exclusion_id, exclusion.explanation)
        if case.delivered is False:
            return ReturnVerdict(False, "not_received", self.spec.no_reason_return.not_received_explanation)
        if case.days_since_receipt is not None and case.days_since_receipt > self.window_days:
            return ReturnVerdict(
                False,
                "past_window",
                self.spec.no_reason_return.past_window_explanation.format(window_days=self.window_days),
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
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount) or amount < 0:
            raise ValueError(f"amount must be a non-negative number, not {amount!r}")
        if amount <= self.authority.bot_max:
            return None
        if amount <= self.authority.manager_max:
            return "manager"
        return "headquarters"

    # -- options -------------------------------------------------------------------------------

    def _check_type(self, complaint_type: str) -> None:
        if complaint_type not in self._options:
            raise ValueError(f"unknown complaint type {complaint_type!r}; expected one of {COMPLAINT_TYPES}")

    def _make(self, spec: schema._OptionBase, compensation: float | None) -> Option:
        approval = self.approval_for(compensation) if compensation else None
        hours = spec.by_when_hours
        if hours is not None and approval is not None:
            hours += self.authority.approval_hours[approval]
        template = spec.description_with_approval if approval and spec.description_with_approval else spec.description
        description = template.format(
            hours=_format_number(hours) if hours is not None else "",
            by_when=spec.by_when or "",
            amount=_format_number(compensation) if compensation is not None else "",
            approver=self.approvers[approval] if approval else "",
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
            rule.allows(amount, case.order_amount, facts) for rule in self._demand_rules.get(case.complaint_type, ())
        )

    def options_for(self, case: Case, include_human_review: bool = True) -> list[Option]:
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
        if case.desired_outcome is not None and case.desired_outcome not in self._outcomes:
            raise ValueError(
                f"unknown desired outcome {case.desired_outcome!r}; expected one of {sorted(self._outcomes)}"
            )
        facts = self.facts(case)
        no_compensation = case.complaint_type == "malicious" or any(f in facts for f in self._no_compensation_facts)
        ranked: list[tuple[int, int, Option]] = []

        def add(position: int, spec: schema._OptionBase, compensation: float | None) -> None:
            fits = case.desired_outcome is not None and case.desired_outcome in spec.outcomes
            ranked.append((0 if fits else 1, position, self._make(spec, compensation)))

        if self._demand_allowed(case, facts):
            add(-1, self.spec.demanded_compensation, round(float(case.demanded_amount or 0), 2))
        for position, spec in enumerate(self._options[case.complaint_type]):
            if not spec.conditions.holds(facts):
                continue
            compensation = spec.compensation.amount(case.order_amount) if spec.compensation else None
            if compensation and no_compensation:
                continue
            add(position, spec, compensation)
        if case.desired_outcome == FAST:  # "明天上午之前能用上": the quickest fitting option first
            ranked.sort(
                key=lambda r: (r[0], r[2].by_when_hours if r[0] == 0 and r[2].by_when_hours is not None else 1e9, r[1])
            )
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


def load_catalogue(path: str | Path | None = None, *, labels: str | Path | None = None) -> Catalogue:
    """Reads and validates an option catalogue (:class:`bot.policy.schema.OptionsFile`).

    Args:
        path: a YAML file; None reads ``$POLICY_OPTIONS``, else the shipped ``policy/options.yml``.
        labels: the labels file that names the approvers; ``policy/labels.yml`` by default.

    Returns:
        The catalogue.

    Raises:
        PolicyError: (a ``ValueError``) the file is not valid YAML or breaks the schema; every
            line names the file, the key path and the problem (unknown complaint types, missing
            fields, options without conditions, unknown facts or outcomes, compensation for
            malicious cases ...).
        FileNotFoundError: the file does not exist.
    """
    file = Path(path if path is not None else os.environ.get(ENV_VAR) or DEFAULT_PATH)
    approvers = load_labels(labels).approvers
    return Catalogue(schema.load_yaml(file, schema.OptionsFile), source=str(file), approvers=approvers)


@functools.lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The shipped catalogue, loaded once per process (actions call this)."""
    return load_catalogue()
