"""Every conversation of tests/scenarios.yml against the real stack, with its expectations.

The same table drives ``make transcripts`` (tools/transcripts.py). A turn that is a plain string
is only checked for an answer; the keys a turn may carry are described at the top of the file.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

TABLE = Path(__file__).resolve().parent / "scenarios.yml"
SCENARIOS: dict[str, list[Any]] = yaml.safe_load(TABLE.read_text(encoding="utf-8"))
KEYS = {"say", "intent", "reply", "no_reply", "ticket", "handoff"}


def turns(name: str) -> list[dict[str, Any]]:
    """The scenario's turns as mappings (a plain message is ``{"say": message}``; YAML numbers as text)."""
    found = [dict(t) if isinstance(t, dict) else {"say": t} for t in SCENARIOS[name]]
    return [{**t, "say": str(t["say"])} if "say" in t and t["say"] is not None else t for t in found]


def test_the_table_is_well_formed() -> None:
    assert len(SCENARIOS) >= 30
    for name in SCENARIOS:
        for turn in turns(name):
            assert "say" in turn and isinstance(turn["say"], str), (name, turn)
            assert set(turn) <= KEYS, (name, set(turn) - KEYS)
            for key in ("reply", "no_reply"):
                if key in turn:
                    re.compile(turn[key])


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(bot, name: str) -> None:
    sender = f"scenario-{name[:30]}-{uuid.uuid4().hex[:8]}"
    log: list[str] = []
    for n, turn in enumerate(turns(name), 1):
        status, replies = bot.send(sender, turn["say"])
        texts = [r.get("text") or "" for r in replies] if status == 200 else []
        log += [f"顾客: {turn['say'][:60]}"] + [f"  机器人: {t}" for t in texts]
        where = f"{name} turn {n}\n" + "\n".join(log)
        assert status == 200 and replies, f"no answer: {status} {replies}\n{where}"
        if "reply" in turn:
            assert any(re.search(turn["reply"], t) for t in texts), f"no reply matches {turn['reply']!r}\n{where}"
        if "no_reply" in turn:
            assert not any(re.search(turn["no_reply"], t) for t in texts), (
                f"a reply matches {turn['no_reply']!r}\n{where}"
            )
        if "intent" in turn:
            _, tracker = bot.get(f"/conversations/{sender}/tracker")
            latest = [e for e in tracker["events"] if e["event"] == "user"][-1]
            assert latest["parse_data"]["intent"]["name"] == turn["intent"], where
        if "ticket" in turn:
            status, tickets = bot.get(f"/api/tickets?sender_id={sender}")
            assert status == 200 and len(tickets) == 1, f"{tickets}\n{where}"
            assert {k: tickets[0].get(k) for k in turn["ticket"]} == turn["ticket"], where
        if "handoff" in turn:
            status, cases = bot.get("/api/handoffs")
            mine = [c for c in cases if c["sender_id"] == sender]
            assert status == 200 and [c["queue"] for c in mine] == [turn["handoff"]], f"{mine}\n{where}"
