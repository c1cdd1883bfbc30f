"""Quality checks (质检): every conversation judged against the house rules of SPEC.md sections 4 and 5.

Plain Python (no Rasa, no Redis): :func:`check_conversation` reads a conversation's stored events
and gives a :class:`QualityReport`; ``bot/store/quality.py`` keeps the reports.
"""

from bot.quality.house_rules import (
    RULES,
    QualityReport,
    RuleResult,
    build_turns,
    check_conversation,
    exempt_texts_from_domain,
)

__all__ = [
    "RULES",
    "QualityReport",
    "RuleResult",
    "build_turns",
    "check_conversation",
    "exempt_texts_from_domain",
]
