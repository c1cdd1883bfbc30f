"""The shape of the shop's policy files (``policy/*.yml``), as pydantic 1.10 models.

Each file is read with :func:`load_yaml` and checked by its model; every problem is reported
as ``<file>: <key path>: <problem>``, the key path being pydantic's ``loc`` joined with dots
(``policy/sla.yml: tiers.safety.first_response_minutes: ensure this value is greater than 0``).
All field problems of a file are reported at once, one per line, in a :class:`PolicyError`;
the cross-reference checks (a tier's queue is defined, ...) run once the fields are valid, so
a file with both kinds of mistakes shows the second kind after the first is fixed.

The models hold the rules of the format (types, ranges, required keys, unknown keys refused)
and the cross-references inside one file (a tier names a defined queue, an option's
conditions name known facts ...). What the values *mean* is applied by ``bot.policy.catalogue``
(options), ``bot.policy.sla`` (tiers and deadlines) and ``bot.policy.labels`` (Chinese labels).

Plain Python: no Rasa imports, nothing read at import time.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional, TypeVar
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, Extra, ValidationError, root_validator, validator
from pydantic.error_wrappers import ErrorWrapper

from bot.language.replies import comparable
from bot.vocabulary import ComplaintType, HandoffReason, TicketStatus, Urgency


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping.

    Plain YAML keeps the last value silently, so a shop owner who writes ``queue:`` twice under
    a tier would get whichever came last and ``make check-policy`` would say OK.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_YAML_LOADER = _UniqueKeyLoader

# ---------------------------------------------------------------------------------------------
# Errors


def _where(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc if part != "__root__") or "top level"


class PolicyError(ValueError):
    """A policy file that cannot be used.

    Attributes:
        source: The file (as given to the loader).
        problems: ``(key path, problem)`` pairs, e.g. ``("tiers.safety.queue", "unknown queue 'x'")``.
    """

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(f"{source}: {where}: {what}" for where, what in self.problems))

    @classmethod
    def from_validation(cls, source: str, error: ValidationError) -> PolicyError:
        """The pydantic errors of one file, each with its key path."""
        return cls(source, [(_where(e["loc"]), e["msg"]) for e in error.errors()])


def fail(model: Any, *problems: tuple[tuple[Any, ...], str]) -> ValidationError:
    """A pydantic error at a key path, for a check a validator makes on a parent of that key.

    Raised from a root validator, the path survives: pydantic prefixes it with ``__root__``,
    which :class:`PolicyError` drops.

    Args:
        model: The model class reporting it (``cls`` in a validator).
        problems: ``(key path, message)`` pairs, the path relative to that model.
    """
    return ValidationError([ErrorWrapper(ValueError(message), loc=loc) for loc, message in problems], model)


M = TypeVar("M", bound=BaseModel)


def load_yaml(path: Path, model: type[M]) -> M:
    """Reads one policy file and validates it with ``model``.

    Raises:
        FileNotFoundError: The file does not exist.
        PolicyError: Not YAML, not a mapping, or it breaks the model (a ``ValueError``).
    """
    source = str(path)
    try:
        with path.open(encoding="utf-8") as stream:  # the file's name goes into YAML's error marks
            raw = yaml.load(stream, Loader=_YAML_LOADER)
    except yaml.YAMLError as exc:
        raise PolicyError(source, [("top level", f"not valid YAML: {exc}")]) from None
    if not isinstance(raw, dict):
        raise PolicyError(source, [("top level", f"expected a mapping, got {type(raw).__name__}")])
    try:
        return model.parse_obj(raw)
    except ValidationError as error:
        raise PolicyError.from_validation(source, error) from None


# ---------------------------------------------------------------------------------------------
# Field types


class Strict(BaseModel):
    """Base of every policy model: unknown keys are an error, values are read-only."""

    class Config:
        extra = Extra.forbid
        allow_mutation = False
        anystr_strip_whitespace = True
        min_anystr_length = 1


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


_ID = re.compile(r"^[a-z][a-z0-9_]*$")

if TYPE_CHECKING:  # what the validated values are, for the type checker
    PositiveNumber = float
    NonNegativeNumber = float
    WholeDays = int
    Ident = str
    Text = str
    Words = tuple[str, ...]
    SomeWords = tuple[str, ...]
else:

    class PositiveNumber(float):
        """A finite number above 0 (ints and floats; not booleans, not strings)."""

        @classmethod
        def __get_validators__(cls) -> Iterator[Callable[..., Any]]:
            yield _number
            yield cls._check

        @staticmethod
        def _check(value: float) -> float:
            if value <= 0:
                raise ValueError("ensure this value is greater than 0")
            return value

    class NonNegativeNumber(float):
        """A finite number at or above 0."""

        @classmethod
        def __get_validators__(cls) -> Iterator[Callable[..., Any]]:
            yield _number
            yield cls._check

        @staticmethod
        def _check(value: float) -> float:
            if value < 0:
                raise ValueError("ensure this value is greater than or equal to 0")
            return value

    class WholeDays(int):
        """A whole number of days, at least 1."""

        @classmethod
        def __get_validators__(cls) -> Iterator[Callable[..., Any]]:
            yield cls._check

        @staticmethod
        def _check(value: Any) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected a positive whole number of days, got {value!r}")
            return value

    class Ident(str):
        """A lower-case ascii id (``return_refund``)."""

        @classmethod
        def __get_validators__(cls) -> Iterator[Callable[..., Any]]:
            yield cls._check

        @staticmethod
        def _check(value: Any) -> str:
            if not isinstance(value, str) or not _ID.match(value):
                raise ValueError(f"id must be lower-case ascii (a-z, 0-9, _), got {value!r}")
            return value

    class Text(str):
        """A non-empty string, stripped."""

        @classmethod
        def __get_validators__(cls) -> Iterator[Callable[..., Any]]:
            yield cls._check

        @staticmethod
        def _check(value: Any) -> str:
            if not isinstance(value, str) or not value.strip():
                raise ValueError("expected a non-empty string")
            return value.strip()

    def _word(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
            raise ValueError(f"expected a non-empty word, got {value!r}")
        return comparable(str(value).strip())

    class Words(tuple):  # type: ignore[type-arg]
        """A list of words (keywords, fact names), each normalised with ``comparable``; may be empty."""

        min_items: ClassVar[int] = 0

        @classmethod
        def __get_validators__(cls) -> Iterator[Callable[..., Any]]:
            yield cls._check

        @classmethod
        def _check(cls, value: Any) -> tuple[str, ...]:
            if value is None and not cls.min_items:
                return ()
            if not isinstance(value, list) or len(value) < cls.min_items:
                raise ValueError("expected a non-empty list of words" if cls.min_items else "expected a list of words")
            problems = []
            words = []
            for i, item in enumerate(value):
                try:
                    words.append(_word(item))
                except ValueError as exc:
                    problems.append(((i,), str(exc)))
            if problems:
                raise fail(BaseModel, *problems)
            return tuple(words)

    class SomeWords(Words):
        """A non-empty list of words."""

        min_items = 1


# ---------------------------------------------------------------------------------------------
# options.yml

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
        *Urgency,
    }
)
"""Facts computed by the code; the configuration adds exclusion ids and its own ``facts``.

Besides these, every cause of ``bot/language/resources/causes.yml`` is a fact named
``cause_<id>`` (``cause_wrong_item``) that holds when the case has that cause."""


def cause_facts() -> frozenset[str]:
    """``cause_<id>`` for every cause of ``bot/language/resources/causes.yml``."""
    from bot.language.causes import vocabulary

    return frozenset(f"cause_{c}" for c in vocabulary())


PLACEHOLDERS = frozenset({"hours", "by_when", "amount", "approver", "window_days"})
"""What a description may use: by-when hours, the by-when phrase, the amount in yuan, the approver,
the no-reason return window in days."""

MAX_LABEL_CHARS = 8
"""A label fits a button."""

_SENTENCE_END = "。"
_SENTENCE_BREAKS = re.compile(r"[。！？!?]")


def template_fields(template: str) -> set[str]:
    """The ``{placeholders}`` of a description.

    Raises:
        ValueError: A malformed placeholder (``{hours``).
    """
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def check_description(template: str, available: set[str]) -> None:
    """One plain sentence ending in "。" that says by when and uses only placeholders it has values for.

    Raises:
        ValueError: What is wrong with it.
    """
    try:
        fields = template_fields(template)
    except ValueError as exc:
        raise ValueError(f"malformed placeholder: {exc}") from None
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(PLACEHOLDERS))}"
        )
    if not fields & {"hours", "by_when"}:
        raise ValueError("the description must say by when ({hours} or {by_when})")
    missing = fields - available
    if missing:
        raise ValueError(f"placeholder(s) {', '.join(sorted(missing))} without a value for this option")
    text = template.strip()
    if not text.endswith(_SENTENCE_END) or _SENTENCE_BREAKS.search(text[:-1]):
        raise ValueError("must be one plain sentence ending in '。'")


class Conditions(Strict):
    """When an option applies: ``requires`` all hold, one of ``requires_any`` holds, no ``excludes`` holds."""

    requires: Words = Words()
    requires_any: Words = Words()
    excludes: Words = Words()

    def holds(self, facts: frozenset[str]) -> bool:
        """Whether the conditions hold for a set of facts."""
        return (
            all(f in facts for f in self.requires)
            and (not self.requires_any or any(f in facts for f in self.requires_any))
            and not any(f in facts for f in self.excludes)
        )

    def names(self) -> tuple[str, ...]:
        """Every fact the conditions name."""
        return tuple(self.requires) + tuple(self.requires_any) + tuple(self.excludes)


class OptionConditions(Conditions):
    """An option's conditions: at least one (``requires: [always]`` for an option always offered)."""

    @root_validator(skip_on_failure=True)
    def _not_empty(cls, values: dict[str, Any]) -> dict[str, Any]:
        if not any(values.get(k) for k in ("requires", "requires_any", "excludes")):
            raise ValueError("no conditions (write `requires: [always]` for an option that is always offered)")
        return values


class Compensation(Strict):
    """Money or a coupon an option grants: ``fixed`` yuan, or a share of the order with a cap."""

    fixed: Optional[PositiveNumber] = None
    share_of_order: Optional[PositiveNumber] = None
    cap: Optional[PositiveNumber] = None
    when_order_unknown: Optional[PositiveNumber] = None

    @root_validator(skip_on_failure=True)
    def _one_rule(cls, values: dict[str, Any]) -> dict[str, Any]:
        shared = ("share_of_order", "cap", "when_order_unknown")
        if values.get("fixed") is not None:
            if any(values.get(k) is not None for k in shared):
                raise ValueError("use either `fixed` or `share_of_order` + `cap` + `when_order_unknown`, not both")
            return values
        missing = [k for k in shared if values.get(k) is None]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)} (or give `fixed`)")
        if values["share_of_order"] > 1:
            raise fail(cls, (("share_of_order",), f"must be at most 1, got {values['share_of_order']!r}"))
        return values

    def amount(self, order_amount: float | None) -> float:
        """The yuan granted for an order of ``order_amount`` (None: unknown)."""
        if self.fixed is not None:
            return self.fixed
        assert self.share_of_order is not None and self.cap is not None and self.when_order_unknown is not None
        if order_amount is None:
            return self.when_order_unknown
        return round(min(self.cap, order_amount * self.share_of_order), 2)

    def maximum(self) -> float:
        """The most this compensation can grant."""
        if self.fixed is not None:
            return self.fixed
        return max(self.cap or 0.0, self.when_order_unknown or 0.0)


class _OptionBase(Strict):
    """Fields every offered option has."""

    id: Ident
    label: Text
    description: Text
    by_when_hours: Optional[PositiveNumber] = None
    by_when: Optional[Text] = None
    outcomes: Words = Words()
    keywords: Words = Words()
    description_with_approval: Optional[Text] = None

    grants_amount: ClassVar[bool] = False  # {amount} always has a value (the demanded amount)

    @validator("label")
    def _fits_a_button(cls, label: str) -> str:
        if len(label) > MAX_LABEL_CHARS:
            raise ValueError(f"{label!r} is longer than {MAX_LABEL_CHARS} characters (it must fit a button)")
        return label

    @root_validator(skip_on_failure=True)
    def _descriptions(cls, values: dict[str, Any]) -> dict[str, Any]:
        if values.get("by_when_hours") is None and values.get("by_when") is None:
            raise fail(cls, (("by_when_hours",), "missing field by_when_hours (or by_when)"))
        available = {"window_days"}
        if values.get("by_when_hours") is not None:
            available.add("hours")
        if values.get("by_when") is not None:
            available.add("by_when")
        if values.get("compensation") is not None or cls.grants_amount:
            available.add("amount")
        problems: list[tuple[tuple[Any, ...], str]] = []
        description = values["description"]
        try:
            check_description(description, available)
            if "approver" in template_fields(description):
                problems.append((("description",), "{approver} belongs in description_with_approval"))
        except ValueError as exc:
            problems.append((("description",), str(exc)))
        with_approval = values.get("description_with_approval")
        if with_approval is not None:
            try:
                check_description(with_approval, available | {"approver"})
                if "approver" not in template_fields(with_approval):
                    problems.append((("description_with_approval",), "must name the approver ({approver})"))
            except ValueError as exc:
                problems.append((("description_with_approval",), str(exc)))
        if problems:
            raise fail(cls, *problems)
        return values


class OptionSpec(_OptionBase):
    """One option of a complaint type (``options.<type>[i]``)."""

    conditions: OptionConditions
    compensation: Optional[Compensation] = None


class DemandRule(Conditions):
    """When a demanded amount may be offered: the conditions hold and the amount is within the caps."""

    max_amount: Optional[PositiveNumber] = None
    max_share_of_order: Optional[PositiveNumber] = None

    @root_validator(skip_on_failure=True)
    def _capped(cls, values: dict[str, Any]) -> dict[str, Any]:
        if values.get("max_amount") is None and values.get("max_share_of_order") is None:
            raise ValueError("a rule needs a cap: max_amount and/or max_share_of_order")
        return values

    def allows(self, amount: float, order_amount: float | None, facts: frozenset[str]) -> bool:
        """Whether ``amount`` may be offered for a case with these facts and order amount."""
        if not self.holds(facts):
            return False
        if self.max_amount is not None and amount > self.max_amount:
            return False
        return self.max_share_of_order is None or (
            order_amount is not None and amount <= order_amount * self.max_share_of_order
        )


class DemandedCompensation(_OptionBase):
    """The customer's own amount as an option, with the rules per complaint type that allow it."""

    description_with_approval: Text
    rules: dict[ComplaintType, list[DemandRule]]

    grants_amount = True

    @validator("rules", pre=True)
    def _rule_types(cls, rules: Any) -> Any:
        if isinstance(rules, dict):
            if "malicious" in rules:
                raise fail(cls, (("malicious",), "a demanded amount is never offered in a malicious case"))
            unknown = [str(k) for k in rules if k not in tuple(ComplaintType)]
            if unknown:
                raise fail(cls, *(((k,), f"unknown complaint type {k!r}") for k in unknown))
            empty = [str(k) for k, v in rules.items() if not v]
            if empty:
                raise fail(cls, *(((k,), "expected a non-empty list of rules") for k in empty))
        return rules


class HumanReview(_OptionBase):
    """The human review, always offered last."""

    @root_validator(pre=True)
    def _unconditional(cls, values: dict[str, Any]) -> dict[str, Any]:
        if "conditions" in values:
            raise ValueError("the human review is always offered: remove its conditions")
        return values


class FactSpec(Strict):
    """A fact that holds by product category and/or keywords in the problem text."""

    categories: Words = Words()
    keywords: Words = Words()

    @root_validator(skip_on_failure=True)
    def _something(cls, values: dict[str, Any]) -> dict[str, Any]:
        if not values.get("categories") and not values.get("keywords"):
            raise ValueError("needs categories or keywords")
        return values


class Exclusion(FactSpec):
    """Goods the 7-day no-reason return does not cover; ``also_any`` must appear with a keyword."""

    label: Text
    explanation: Text
    also_any: Words = Words()

    @root_validator(skip_on_failure=True)
    def _also_any_needs_keywords(cls, values: dict[str, Any]) -> dict[str, Any]:
        if values.get("also_any") and not values.get("keywords"):
            raise fail(cls, (("also_any",), "only makes sense with keywords"))
        return values


class NoReasonReturn(Strict):
    """The 7-day no-reason return rule (SPEC.md section 4, Law)."""

    window_days: WholeDays
    not_received_explanation: Text
    past_window_explanation: Text
    exclusions: dict[Ident, Exclusion]

    @validator("past_window_explanation")
    def _window_only(cls, text: str) -> str:
        if template_fields(text) - {"window_days"}:
            raise ValueError("only {window_days} may be used")
        return text

    @validator("exclusions")
    def _not_builtin(cls, exclusions: dict[str, Exclusion]) -> dict[str, Exclusion]:
        clash = [k for k in exclusions if k in BUILTIN_FACTS]
        if clash:
            raise fail(cls, *(((k,), "name clashes with a built-in fact") for k in clash))
        return exclusions


class Authority(Strict):
    """Compensation limits (SPEC.md section 4, Authority).

    Attributes:
        bot_max: The bot grants compensation up to and including this amount (yuan).
        manager_max: Above ``bot_max`` up to and including this, a manager approves; above, headquarters.
        approval_hours: Hours added to an option's by-when while it waits for each approver.

    How each approver is named is a label (``policy/labels.yml``, ``approvers``).
    """

    bot_max: PositiveNumber
    manager_max: PositiveNumber
    approval_hours: dict[str, NonNegativeNumber]

    @validator("approval_hours")
    def _every_approver(cls, value: dict[str, Any]) -> dict[str, Any]:
        missing = [a for a in APPROVERS if a not in value]
        unknown = [a for a in value if a not in APPROVERS]
        if missing:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; expected {', '.join(APPROVERS)}")
        return value

    @root_validator(skip_on_failure=True)
    def _rising(cls, values: dict[str, Any]) -> dict[str, Any]:
        if values["manager_max"] <= values["bot_max"]:
            raise fail(
                cls,
                (
                    ("manager_max",),
                    f"manager_max ({values['manager_max']:g}) must be above bot_max ({values['bot_max']:g})",
                ),
            )
        return values


class QualityDefect(Strict):
    """Words that make a problem the seller's fault, and words that say the damage came from use."""

    keywords: SomeWords
    misuse_keywords: Words = Words()


class OutcomeSpec(Strict):
    """A wish the customer may have, with its label and the words that express it."""

    label: Text
    keywords: SomeWords


class OptionsFile(Strict):
    """``policy/options.yml``: the option catalogue (see the comments in the file)."""

    authority: Authority
    categories: dict[Ident, SomeWords]
    quality_defect: QualityDefect
    facts: dict[Ident, FactSpec]
    no_compensation_facts: Words = Words()
    no_reason_return: NoReasonReturn
    outcomes: Optional[dict[Ident, OutcomeSpec]] = None
    options: dict[ComplaintType, list[OptionSpec]]
    demanded_compensation: DemandedCompensation
    human_review: HumanReview

    @validator("categories", "outcomes")
    def _not_empty(cls, value: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        if value is not None and not value:
            raise ValueError("must not be empty")
        return value

    @validator("options", pre=True)
    def _every_type(cls, options: Any) -> Any:
        if isinstance(options, dict):
            problems: list[tuple[tuple[Any, ...], str]] = []
            for key, entries in options.items():
                if key not in tuple(ComplaintType):
                    problems.append(((key,), f"unknown complaint type {key!r}; expected {', '.join(ComplaintType)}"))
                elif not isinstance(entries, list) or not entries:
                    problems.append(((key,), "expected a non-empty list of options"))
            missing = [t for t in ComplaintType if t not in options]
            if missing:
                problems.append((tuple(), f"no options for complaint type(s) {', '.join(missing)}"))
            if problems:
                raise fail(cls, *problems)
        return options

    @root_validator(skip_on_failure=True)
    def _cross_references(cls, values: dict[str, Any]) -> dict[str, Any]:
        problems: list[tuple[tuple[Any, ...], str]] = []
        categories = values["categories"]
        nrr: NoReasonReturn = values["no_reason_return"]
        for ex_id, ex in nrr.exclusions.items():
            problems += _unknown_categories(("no_reason_return", "exclusions", ex_id), ex, categories)
        exclusion_ids = set(nrr.exclusions)
        for name, spec in values["facts"].items():
            if name in BUILTIN_FACTS or name in cause_facts() or name in exclusion_ids:
                problems.append((("facts", name), "name clashes with a built-in fact or an exclusion"))
            problems += _unknown_categories(("facts", name), spec, categories)
        known = frozenset(BUILTIN_FACTS | cause_facts() | exclusion_ids | set(values["facts"]))
        unknown = [f for f in values["no_compensation_facts"] if f not in known]
        if unknown:
            problems.append((("no_compensation_facts",), f"unknown fact(s) {', '.join(unknown)}"))
        outcomes = set(values["outcomes"] or ()) if values["outcomes"] is not None else cls.known_outcomes()
        bot_max = values["authority"].bot_max
        ids: set[str] = set()
        for complaint_type, specs in values["options"].items():
            seen: set[str] = set()
            for i, spec in enumerate(specs):
                where = ("options", str(complaint_type), i)
                problems += _option_references(where, spec, known, outcomes)
                if spec.id in seen:
                    problems.append((where + ("id",), f"duplicate option id {spec.id!r}"))
                seen.add(spec.id)
                if spec.compensation is not None:
                    if complaint_type == ComplaintType.MALICIOUS:
                        problems.append(
                            (where + ("compensation",), "malicious cases get no compensation beyond policy")
                        )
                    elif spec.compensation.maximum() > bot_max and spec.description_with_approval is None:
                        problems.append(
                            (
                                where + ("compensation",),
                                "compensation may exceed authority.bot_max: add description_with_approval",
                            )
                        )
            ids |= seen
        demanded: DemandedCompensation = values["demanded_compensation"]
        problems += _option_references(("demanded_compensation",), demanded, known, outcomes)
        for complaint_type, rules in demanded.rules.items():
            for i, rule in enumerate(rules):
                names = [n for n in rule.names() if n not in known]
                if names:
                    problems.append(
                        (
                            ("demanded_compensation", "rules", str(complaint_type), i),
                            f"unknown fact(s) {', '.join(names)}",
                        )
                    )
        review: HumanReview = values["human_review"]
        problems += _option_references(("human_review",), review, known, outcomes)
        for key, special in (("demanded_compensation", demanded), ("human_review", review)):
            if special.id in ids:
                problems.append(((key, "id"), f"option id {special.id!r} is reserved for {special.label}"))
        if demanded.id == review.id:
            problems.append((("human_review", "id"), "id must differ from demanded_compensation.id"))
        if problems:
            raise fail(cls, *problems)
        return values

    @classmethod
    def known_outcomes(cls) -> set[str]:
        """Outcome ids when the file brings none (the language vocabulary's)."""
        from bot.language.replies import outcome_vocabulary

        return set(outcome_vocabulary())


def _unknown_categories(
    where: tuple[Any, ...], spec: FactSpec, categories: Mapping[str, Any]
) -> list[tuple[tuple[Any, ...], str]]:
    unknown = [c for c in spec.categories if c not in categories]
    return [(where + ("categories",), f"unknown categor(y/ies) {', '.join(unknown)}")] if unknown else []


def _option_references(
    where: tuple[Any, ...], spec: _OptionBase, known: frozenset[str], outcomes: set[str]
) -> list[tuple[tuple[Any, ...], str]]:
    problems: list[tuple[tuple[Any, ...], str]] = []
    unknown = [o for o in spec.outcomes if o not in outcomes]
    if unknown:
        problems.append((where + ("outcomes",), f"unknown outcome(s) {', '.join(unknown)}"))
    conditions = getattr(spec, "conditions", None)
    if conditions is not None:
        names = [n for n in conditions.names() if n not in known]
        if names:
            problems.append(
                (where + ("conditions",), f"unknown fact(s) {', '.join(names)}; known: {', '.join(sorted(known))}")
            )
    return problems


# ---------------------------------------------------------------------------------------------
# sla.yml

_PRIORITY = re.compile(r"^P\d+$")


class TierTimes(Strict):
    """Targets of a tier; in ``defaults`` they hold for every tier that does not set its own."""

    first_response_minutes: Optional[PositiveNumber] = None
    resolution_hours: Optional[PositiveNumber] = None
    progress_every_hours: Optional[PositiveNumber] = None


class TierSpec(TierTimes):
    """One SLA tier: priority label, queue, targets."""

    priority: str
    queue: str

    @validator("priority", pre=True)
    def _priority_label(cls, value: Any) -> str:
        if not isinstance(value, str) or not _PRIORITY.match(value):
            raise ValueError(f"needs a priority like P1, got {value!r}")
        return value


REQUIRED_TIERS = (*Urgency, "repeat", "normal")
"""Tiers every SLA file defines: one per urgency, the repeat complainant, the ordinary case."""


class Escalation(Strict):
    """Where an unclaimed case goes after its first-response deadline, and the time it gets there."""

    queue: Ident
    window_minutes: PositiveNumber


class LowSatisfaction(Strict):
    """A satisfaction score at or below ``max_score`` (1-4) is handed to ``queue``."""

    max_score: int
    queue: Ident

    @validator("max_score", pre=True)
    def _score(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
            raise ValueError(f"expected a whole score from 1 to 4 (5 is the best), got {value!r}")
        return value


class SlaFile(Strict):
    """``policy/sla.yml``: time zone, default targets, queues, escalation, approval, repeat window, tiers."""

    timezone: str = "Asia/Shanghai"
    defaults: TierTimes = TierTimes()
    queues: list[Ident]
    escalation: Escalation
    approval_queue: Ident
    repeat_window_days: PositiveNumber
    low_satisfaction: LowSatisfaction
    tiers: dict[Ident, TierSpec]

    @validator("timezone")
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception:  # ZoneInfoNotFoundError, ValueError for malformed names
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @validator("queues")
    def _distinct(cls, queues: list[str]) -> list[str]:
        if not queues:
            raise ValueError("no queues")
        twice = sorted({q for q in queues if queues.count(q) > 1})
        if twice:
            raise ValueError(f"queue(s) named twice: {', '.join(twice)}")
        return queues

    @root_validator(skip_on_failure=True)
    def _cross_references(cls, values: dict[str, Any]) -> dict[str, Any]:
        problems: list[tuple[tuple[Any, ...], str]] = []
        queues = values["queues"]
        defaults: TierTimes = values["defaults"]

        def known(where: tuple[Any, ...], queue: str) -> None:
            if queue not in queues:
                problems.append((where, f"names unknown queue {queue!r}; queues: {', '.join(queues)}"))

        for name, tier in values["tiers"].items():
            known(("tiers", name, "queue"), tier.queue)
            for key in TierTimes.__fields__:
                if getattr(tier, key) is None and getattr(defaults, key) is None:
                    problems.append((("tiers", name, key), "field required (here or in defaults)"))
        missing = [t for t in REQUIRED_TIERS if t not in values["tiers"]]
        if missing:
            problems.append((("tiers",), f"missing tier(s) {', '.join(missing)}"))
        known(("escalation", "queue"), values["escalation"].queue)
        known(("approval_queue",), values["approval_queue"])
        known(("low_satisfaction", "queue"), values["low_satisfaction"].queue)
        if problems:
            raise fail(cls, *problems)
        return values

    def tier_times(self, name: str) -> dict[str, float]:
        """A tier's targets with the defaults filled in."""
        tier = self.tiers[name]
        return {k: float(getattr(tier, k) or getattr(self.defaults, k)) for k in TierTimes.__fields__}


# ---------------------------------------------------------------------------------------------
# labels.yml


def _complete_labels(value: Any, expected: Sequence[str]) -> Any:
    """Every id of ``expected`` has a label and nothing else does (raises ValueError naming both)."""
    if isinstance(value, dict):
        missing = [str(k) for k in expected if k not in value]
        unknown = [str(k) for k in value if k not in expected]
        if missing or unknown:
            raise ValueError(
                "; ".join(
                    ([f"missing label(s) for {', '.join(missing)}"] if missing else [])
                    + ([f"unknown id(s) {', '.join(unknown)}; expected {', '.join(expected)}"] if unknown else [])
                )
            )
    return value


class DashboardLabels(Strict):
    """``dashboard:`` of ``policy/labels.yml``: how the complaint dashboard (SPEC.md section 7) names
    what the customer-facing words above do not name well on a chart (``这类诉求`` is a complaint
    type inside a sentence, not a row heading). Complaint types, handoff reasons and urgencies
    need every label; channels not listed show their id."""

    complaint_types: dict[ComplaintType, Text]
    handoff_reasons: dict[HandoffReason, Text]
    urgency: dict[Urgency, Text]
    channels: dict[Ident, Text] = {}

    @validator("complaint_types", "handoff_reasons", "urgency", pre=True)
    def _complete(cls, value: Any, field: Any) -> Any:
        expected = {
            "complaint_types": tuple(ComplaintType),
            "handoff_reasons": tuple(HandoffReason),
            "urgency": tuple(Urgency),
        }[field.name]
        return _complete_labels(value, expected)


class LabelsFile(Strict):
    """``policy/labels.yml``: the Chinese words for complaint types, ticket statuses, approvers, queues
    (and, optionally, the dashboard's words: :class:`DashboardLabels`).

    Every complaint type, ticket status and approver needs its label; the queues of ``sla.yml``
    are checked against ``queues`` when the SLA is loaded (:func:`check_queue_labels`).
    """

    complaint_types: dict[ComplaintType, Text]
    ticket_statuses: dict[TicketStatus, Text]
    approvers: dict[str, Text]
    queues: dict[Ident, Text]
    dashboard: Optional[DashboardLabels] = None

    @validator("complaint_types", "ticket_statuses", "approvers", pre=True)
    def _complete(cls, value: Any, field: Any) -> Any:
        expected = {
            "complaint_types": tuple(ComplaintType),
            "ticket_statuses": tuple(TicketStatus),
            "approvers": APPROVERS,
        }[field.name]
        return _complete_labels(value, expected)


def check_queue_labels(labels: LabelsFile, labels_source: str, queues: Sequence[str]) -> None:
    """Every queue of ``sla.yml`` has a label, and no label names a queue that does not exist.

    Raises:
        PolicyError: Naming the labels file and ``queues.<name>``.
    """
    problems = [(f"queues.{q}", "no label for this queue of sla.yml") for q in queues if q not in labels.queues]
    problems += [(f"queues.{q}", "not a queue of sla.yml") for q in labels.queues if q not in queues]
    if problems:
        raise PolicyError(labels_source, problems)
