"""The shared vocabulary (bot/vocabulary.py) against the categorical slots of domain.yml."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.vocabulary import (
    SLOT_HANDOFF_REASONS,
    ComplaintType,
    HandoffReason,
    Phase,
    TicketStatus,
    Urgency,
    customer_identity,
)

ROOT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=1)
def _slots() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["slots"]


@pytest.mark.parametrize(
    ("slot", "values"),
    [
        ("complaint_type", tuple(ComplaintType)),
        ("secondary_type", tuple(ComplaintType)),
        ("urgency", tuple(Urgency)),
        ("phase", tuple(Phase)),
        ("handoff_reason", SLOT_HANDOFF_REASONS),
    ],
)
def test_categorical_slots_carry_the_vocabulary(slot: str, values: tuple[str, ...]) -> None:
    spec = _slots()[slot]
    assert spec["type"] == "categorical"
    assert list(spec["values"]) == [str(v) for v in values]


def test_low_satisfaction_is_the_one_reason_no_rule_acts_on() -> None:
    assert set(HandoffReason) - set(SLOT_HANDOFF_REASONS) == {HandoffReason.LOW_SATISFACTION}


def test_members_are_their_strings() -> None:
    assert ComplaintType.PRODUCT == "product"
    assert json.dumps({"s": TicketStatus.PENDING_APPROVAL}) == '{"s": "pending_approval"}'
    assert f"{Urgency.MEDIA_LEGAL}" == "media_legal"


@pytest.mark.parametrize(
    ("channel", "customer", "identity"),
    [
        ("rest", "u1", "rest:u1"),
        ("wechat", "o6_bm", "wechat:o6_bm"),
        ("wechat", "wechat:o6_bm", "wechat:o6_bm"),  # platform sender ids carry the channel already
        ("taobao", "小明/01 %", "taobao:小明/01 %"),
        ("rest", "wechat:x", "rest:wechat:x"),  # another channel's prefix is part of the id
    ],
)
def test_customer_identity(channel: str, customer: str, identity: str) -> None:
    assert customer_identity(channel, customer) == identity


@pytest.mark.parametrize(("channel", "customer"), [("", "u1"), ("rest", "")])
def test_customer_identity_needs_both_parts(channel: str, customer: str) -> None:
    with pytest.raises(ValueError):
        customer_identity(channel, customer)
