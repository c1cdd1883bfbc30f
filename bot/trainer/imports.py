"""Reading a shop's own chat history for the trainers' workbench (issue 11).

Shops export conversations from their customer-service tool as CSV or JSON Lines with one
message a row: conversation id, time, role (buyer or agent) and text. Exports from Chinese tools
are often GBK, not UTF-8, and carry Chinese column names; both are read.

The import is all or nothing: :func:`read_export` either returns every row or raises
:class:`ImportRefused` with a per-row report, so nothing is half imported. Files over
:data:`MAX_BYTES` or :data:`MAX_ROWS` are refused before parsing the rest.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

MAX_BYTES = 20 * 1024 * 1024
"""Largest export accepted (bytes): a few hundred thousand messages."""
MAX_ROWS = 200_000
MAX_TEXT_CHARS = 5_000
MAX_PROBLEMS_SHOWN = 50
SHOP_TZ = ZoneInfo("Asia/Shanghai")
"""Times without a zone are the shop's local time (exports from Chinese tools are)."""

# Column names seen in exports, English and Chinese, mapped to ours.
COLUMNS = {
    "conversation_id": ("conversation_id", "conversation", "session_id", "会话id", "会话ID", "会话编号", "会话"),
    "time": ("time", "timestamp", "created_at", "时间", "发送时间", "消息时间"),
    "role": ("role", "sender", "from", "角色", "发送方", "身份"),
    "text": ("text", "message", "content", "内容", "消息内容", "消息"),
}
BUYER_ROLES = {"buyer", "customer", "user", "买家", "顾客", "客户", "用户"}
AGENT_ROLES = {"agent", "seller", "staff", "bot", "客服", "卖家", "商家", "机器人"}


@dataclass(frozen=True)
class Message:
    """One row of an export: ``role`` is ``buyer`` or ``agent``; ``time`` epoch seconds."""

    conversation_id: str
    time: float
    role: str
    text: str


@dataclass
class ImportRefused(ValueError):
    """The export cannot be imported; ``problems`` are ``(row, what is wrong)``, row 1 = first data row."""

    reason: str
    problems: list[tuple[int, str]] = field(default_factory=list)
    too_big: bool = False
    """Refused for its size (413) rather than its content (422)."""

    def __str__(self) -> str:
        shown = "; ".join(f"row {row}: {what}" for row, what in self.problems[:MAX_PROBLEMS_SHOWN])
        more = len(self.problems) - MAX_PROBLEMS_SHOWN
        return self.reason + (f" ({shown}{f'; and {more} more' if more > 0 else ''})" if shown else "")


def decode(data: bytes) -> str:
    """The export's text: UTF-8 (with or without BOM), else GB18030 (a superset of GBK).

    Raises:
        ImportRefused: neither encoding reads it.
    """
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportRefused("the file is neither UTF-8 nor GBK/GB18030 text")


def _time(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or not 0 <= value < 1e14:
            raise ValueError(f"time {value!r} is not a time")
        return float(value) / 1000 if value > 1e11 else float(value)  # milliseconds in some exports
    text = str(value or "").strip()
    if not text:
        raise ValueError("no time")
    if text.replace(".", "", 1).isdigit():
        return _time(float(text))
    parsed = datetime.fromisoformat(text.replace("/", "-"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=SHOP_TZ)).timestamp()


def _role(value: Any) -> str:
    role = str(value or "").strip().lower()
    if role in BUYER_ROLES:
        return "buyer"
    if role in AGENT_ROLES:
        return "agent"
    raise ValueError(f"unknown role {value!r} (buyer or agent)")


def _columns(names: list[str]) -> dict[str, str]:
    found = {}
    lowered = {n.strip().lower(): n for n in names if n}
    for ours, theirs in COLUMNS.items():
        for name in theirs:
            if name.lower() in lowered:
                found[ours] = lowered[name.lower()]
                break
    return found


def _rows(text: str, kind: str) -> Iterator[Mapping[str, Any]]:
    if kind == "csv":
        first = text.split("\n", 1)[0]
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if "\t" in first and "," not in first else ",")
        try:
            missing = [c for c in COLUMNS if c not in _columns(list(reader.fieldnames or []))]
            if missing:
                found = ", ".join(reader.fieldnames or [])
                raise ImportRefused(f"missing column(s): {', '.join(missing)}; found: {found}")
            yield from reader
        except csv.Error as error:  # a field over the csv module's limit, a NUL byte
            raise ImportRefused(f"not readable as CSV near line {reader.line_num}: {error}") from None
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            yield {"__error__": f"not JSON ({error.msg})", "__row__": number}
            continue
        except RecursionError:
            yield {"__error__": "nested too deeply", "__row__": number}
            continue
        yield row if isinstance(row, dict) else {"__error__": "not a JSON object", "__row__": number}


def read_export(data: bytes, filename: str = "") -> list[Message]:
    """Every message of an export, or a refusal that says what is wrong in which rows.

    Args:
        data: the uploaded file.
        filename: used only to choose CSV (``.csv``) or JSON Lines (``.jsonl``/``.json``); without
            an extension the content decides (a first line starting with ``{`` is JSON Lines).

    Raises:
        ImportRefused: too big, not text, not CSV/JSON Lines, missing columns, bad rows (all of
            them listed, the first :data:`MAX_PROBLEMS_SHOWN` shown), no buyer message at all.
    """
    if len(data) > MAX_BYTES:
        raise ImportRefused(
            f"the file is {len(data) // (1024 * 1024)} MB; at most {MAX_BYTES // (1024 * 1024)} MB", too_big=True
        )
    text = decode(data)
    lower = filename.lower()
    first = text.lstrip()[:1]
    kind = "jsonl" if lower.endswith((".jsonl", ".json")) or (not lower.endswith(".csv") and first == "{") else "csv"
    if kind == "csv" and "," not in text.split("\n", 1)[0] and "\t" not in text.split("\n", 1)[0]:
        raise ImportRefused("not CSV or JSON Lines: the first line has no columns")
    messages: list[Message] = []
    problems: list[tuple[int, str]] = []
    for number, row in enumerate(_rows(text, kind), start=1):
        if number > MAX_ROWS:
            raise ImportRefused(f"more than {MAX_ROWS} rows; split the export", too_big=True)
        if "__error__" in row:
            problems.append((int(row["__row__"]), str(row["__error__"])))
            continue
        columns = _columns(list(row.keys()))
        missing = [c for c in COLUMNS if c not in columns]
        if missing:
            problems.append((number, f"missing {', '.join(missing)}"))
            continue
        try:
            conversation = str(row[columns["conversation_id"]] or "").strip()
            message_text = str(row[columns["text"]] or "").strip()
            if not conversation:
                raise ValueError("empty conversation id")
            if len(message_text) > MAX_TEXT_CHARS:
                raise ValueError(f"text longer than {MAX_TEXT_CHARS} characters")
            messages.append(
                Message(conversation, _time(row[columns["time"]]), _role(row[columns["role"]]), message_text)
            )
        except (ValueError, TypeError) as error:
            problems.append((number, str(error)))
    if problems:
        raise ImportRefused(f"{len(problems)} row(s) cannot be read; nothing was imported", problems)
    if not any(m.role == "buyer" and m.text for m in messages):
        raise ImportRefused("no buyer message with text in the file")
    return sorted(messages, key=lambda m: (m.conversation_id, m.time))


def as_customer_text(text: str) -> str:
    """A buyer's text as the NLU may read it: a leading "/" is not an intent command (the same rule
    as the channels' ``escape_user_text``: the full-width slash is read back by the normaliser)."""
    stripped = text.strip()
    return "／" + stripped[1:] if stripped.startswith("/") else text
