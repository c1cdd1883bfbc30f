"""Masking of personal data (phone numbers, ID numbers, addresses) and API tokens in logs."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Tuple, Union

_ID_CARD = re.compile(
    r"(?<![0-9])([1-9][0-9]{5})(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9])"
)
_MOBILE = re.compile(r"(?<![0-9])((?:\+?86[ -]?)?1[3-9][0-9])[ -]?[0-9]{4}[ -]?([0-9]{4})(?![0-9])")
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_LANDLINE = re.compile(r"(?<![0-9])(0[0-9]{2,3})-[0-9]{4}([0-9]{3,4})(?![0-9])")
_ADDRESS = re.compile(
    r"([\u4e00-\u9fa5]{2})[\u4e00-\u9fa5]*(?:省|市|区|县|镇|乡|路|街|巷|弄|道|村|小区|花园|大厦|公寓)"
    r"[\u4e00-\u9fa5A-Za-z0-9#\-]*(?:号|栋|幢|单元|室|楼|层)[0-9A-Za-z\-]*室?"
)


_ESCAPED = re.compile(r"\\u([0-9a-fA-F]{4})")
_TOKEN = re.compile(r"((?:[?&]token=|[Bb]earer\s+))[^&\s'\"]+")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def is_id_card_number(value: str) -> bool:
    """An 18-character mainland ID number with a valid date and check digit (GB 11643)."""
    value = value.strip().upper()
    if not _ID_CARD.fullmatch(value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS))
    return "10X98765432"[total % 11] == value[17]


def mask_pii(text: str) -> str:
    """Masks ID-card numbers, phone numbers and street addresses in ``text``.

    ``13812345678`` -> ``138****5678`` (``+8613812345678`` -> ``+86138****5678``); an 18-digit ID
    keeps its first 6 characters; an address keeps its first two characters ("上海***"); an e-mail
    address its first character and its domain (``z***@qq.com``).
    """
    if not text:
        return text
    if "\\u" in text:  # JSON dumps in debug logs escape Chinese: read it as written
        text = _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)
    text = _TOKEN.sub(lambda m: m.group(1) + "***", text)
    text = _ID_CARD.sub(lambda m: m.group(1) + "************", text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(2)}", text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = _ADDRESS.sub(lambda m: m.group(1) + "***", text)
    return text


class PiiMaskingFilter(logging.Filter):
    """Logging filter that masks personal data in the final log message."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API name
        """Rewrites the record's message with personal data masked; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not break logging
            return True
        masked = mask_pii(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def install_log_masking() -> None:
    """Adds the masking filter to every handler of the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, PiiMaskingFilter) for f in handler.filters):
            handler.addFilter(PiiMaskingFilter())


# The scan's mobile pattern does not start right after two hex characters: digits inside a hex digest
# (a WeChat signature in a proxy's log line) are not a phone number (the soaks' only "findings").
_MOBILE_IN_LOGS = re.compile(
    r"(?<![0-9A-Fa-f][0-9A-Fa-f])(?<![0-9])(?:\+?86[ -]?)?1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4}(?![0-9])"
)

_KINDS = (
    ("id_number", _ID_CARD),
    ("mobile", _MOBILE_IN_LOGS),
    ("landline", _LANDLINE),
    ("email", _EMAIL),
    ("address", _ADDRESS),
    ("token", _TOKEN),
)
LOG_SUFFIXES = (".log", ".txt", ".out", ".err")
"""Files a folder given to :func:`scan_logs` is searched for (other files, e.g. uploads, are skipped)."""


@dataclass(frozen=True)
class LogFinding:
    """Personal data (or a token) left unmasked in a log line.

    Attributes:
        path: the log file.
        line: 1-based line number.
        kinds: what was found (``id_number``, ``mobile``, ``landline``, ``email``, ``address``, ``token``).
        excerpt: the line with everything masked (at most 200 characters), safe to print.
    """

    path: str
    line: int
    kinds: Tuple[str, ...]
    excerpt: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {', '.join(self.kinds)}: {self.excerpt}"


def scan_line(text: str) -> Tuple[str, ...]:
    """What :func:`mask_pii` would mask in ``text`` (JSON ``\\uXXXX`` escapes read as written)."""
    if "\\u" in text:
        text = _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)
    # a match with "*" in it is the masked form ("138****5678", "?token=***")
    return tuple(kind for kind, pattern in _KINDS if any("*" not in m.group(0) for m in pattern.finditer(text)))


def scan_logs(paths: Iterable[Union[str, Path]]) -> List[LogFinding]:
    """Searches log files for personal data that :func:`mask_pii` would have masked.

    Args:
        paths: files, or folders searched recursively for ``*.log``/``.txt``/``.out``/``.err``.

    Returns:
        One :class:`LogFinding` per line with unmasked phone numbers, ID numbers, addresses,
        e-mail addresses or API tokens, in file and line order; empty when the logs are clean.
        Unreadable bytes are replaced, never raised.
    """
    files: List[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in LOG_SUFFIXES)
        elif path.is_file():
            files.append(path)
    findings: List[LogFinding] = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as log:
            for number, line in enumerate(log, start=1):
                kinds = scan_line(line)
                if kinds:
                    findings.append(LogFinding(str(path), number, kinds, mask_pii(line.rstrip("\n"))[:200]))
    return findings
