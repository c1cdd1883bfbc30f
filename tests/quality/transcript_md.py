"""Reads a ``docs/transcripts/*.md`` file (written by ``tools/transcripts.py``) back into tracker events.

The Markdown holds what the customer said (``**顾客:** …`` lines, with the NLU's reading in the
``<sub>NLU: intent confidence[, rule …][; urgency …]</sub>`` line under it), what the bot answered
(``> **机器人:** …``, a multi-line message continuing on unmarked lines, its buttons as ``> - [title]``)
and the conversation's tickets (``<sub>工单 TS…: type / 原因 … , 紧急程度 …, P4, 状态 …, 方案 …</sub>``).

The events are shaped as the tracker store keeps them: a customer's text as the channel passed it
to Rasa (an empty message becomes ``/empty_message``, a leading "/" the full-width "／"), bot messages
with ``metadata.author = "bot"``, timestamps ten seconds apart. Slots and actions are not in the
Markdown and are not made up; the tickets stand in for the case's type and urgency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPTS = ROOT / "docs" / "transcripts"
T0 = 1_764_468_000.0  # 2025-11-30 10:00 Asia/Shanghai

_CUSTOMER = re.compile(r"^\*\*顾客:\*\* ?(.*?)\s*$")
_BOT = re.compile(r"^> \*\*机器人:\*\* ?(.*?)\s*$")
_BUTTON = re.compile(r"^> - \[(.*)\]\s*$")
_NLU = re.compile(r"^<sub>NLU: (\S+) ([0-9.]+)(?:, rule (\S+))?(?:; urgency (.+?))?</sub>")
_TICKET = re.compile(r"^<sub>工单 (TS\d+): (.*)</sub>")


@dataclass
class Transcript:
    """One transcript: its events and tickets, as the checker takes them."""

    name: str
    events: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def end(self) -> float:
        """The time of the last event."""
        return max((e.get("timestamp") or T0 for e in self.events), default=T0)


def _ticket(ticket_id: str, body: str) -> dict[str, Any]:
    parts = [p.strip() for p in body.split(",")]
    head = [p.strip() for p in parts[0].split("/")]
    ticket: dict[str, Any] = {"id": ticket_id, "type": None if head[0] == "None" else head[0], "risk_flag": False}
    for part in head[1:]:
        if part.startswith("原因 "):
            ticket["cause_label"] = part[3:]
        elif part.startswith("另有 "):
            ticket["secondary_type"] = part[3:]
    for part in parts[1:]:
        if part.startswith("紧急程度 "):
            value = part[5:]
            ticket["urgency"] = None if value == "—" else value
        elif re.fullmatch(r"P\d", part):
            ticket["priority"] = part
        elif part.startswith("状态 "):
            ticket["status"] = part[3:]
        elif part.startswith("方案 "):
            value = part[3:]
            ticket["chosen_option"] = None if value == "—" else {"label": value}
        elif part.startswith("补偿 "):
            amount = re.search(r"¥([0-9.]+) \((\w+)\)", part)
            if amount:
                ticket["compensation"] = {"amount": float(amount.group(1)), "status": amount.group(2)}
        elif part == "风险标记":
            ticket["risk_flag"] = True
    return ticket


def parse(path: Path) -> Transcript:
    """The transcript at ``path`` as events and tickets.

    Raises:
        ValueError: a line the format does not have (so a change of ``tools/transcripts.py`` is noticed).
    """
    transcript = Transcript(path.stem)
    events = transcript.events
    open_bot: dict[str, Any] | None = None  # the bot message whose continuation lines follow
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stamp = T0 + 10.0 * len(events)
        if customer := _CUSTOMER.match(line):
            open_bot = None
            text = customer.group(1)
            if text == "(空消息)":
                text = "/empty_message"
            elif text.startswith("/"):
                text = "／" + text[1:]
            events.append({"event": "user", "text": text, "timestamp": stamp, "parse_data": {}})
        elif nlu := _NLU.match(line):
            open_bot = None
            user = next(e for e in reversed(events) if e["event"] == "user")
            intent: dict[str, Any] = {"name": nlu.group(1), "confidence": float(nlu.group(2))}
            entities = [{"entity": "urgency", "value": u.strip()} for u in (nlu.group(4) or "").split(",") if u.strip()]
            user["parse_data"] = {"intent": intent, "entities": entities}
        elif bot := _BOT.match(line):
            open_bot = {"event": "bot", "text": bot.group(1), "timestamp": stamp, "metadata": {"author": "bot"}}
            events.append(open_bot)
        elif button := _BUTTON.match(line):
            assert open_bot is not None, f"{path.name}:{number}: a button without a message"
            open_bot.setdefault("data", {}).setdefault("buttons", []).append({"title": button.group(1)})
        elif ticket := _TICKET.match(line):
            open_bot = None
            transcript.tickets.append(_ticket(ticket.group(1), ticket.group(2)))
        elif not line.strip():
            open_bot = None
        elif line.startswith("# ") or line == "<sub>没有工单</sub>":
            continue
        elif open_bot is not None:
            open_bot["text"] += "\n" + line.rstrip()
        else:
            raise ValueError(f"{path.name}:{number}: unexpected line {line!r}")
    return transcript


def all_transcripts() -> list[Transcript]:
    """Every transcript of ``docs/transcripts/``, by name."""
    return [parse(p) for p in sorted(TRANSCRIPTS.glob("*.md"))]
