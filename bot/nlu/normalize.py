"""Text normalisation applied before tokenisation.

Traditional -> Simplified (OpenCC ``t2s``), full-width -> half-width, invisible characters
removed, whitespace collapsed and trimmed. The output keeps the customer's words; it only
removes differences that carry no meaning for the classifier.
"""

from __future__ import annotations

import functools
import re

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_WHITESPACE = re.compile(r"\s+")


@functools.lru_cache(maxsize=1)
def _t2s():  # type: ignore[no-untyped-def]
    import opencc

    return opencc.OpenCC("t2s")


def to_half_width(text: str) -> str:
    """Converts full-width ASCII forms (ＡＢＣ１２３！) and the ideographic space to half-width."""
    out = []
    for ch in text:
        code = ord(ch)
        if code == 0x3000:
            out.append(" ")
        elif 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        else:
            out.append(ch)
    return "".join(out)


def to_simplified(text: str) -> str:
    """Converts Traditional Chinese characters to Simplified ones."""
    return str(_t2s().convert(text))


def normalize_text(text: str, max_chars: int | None = None) -> str:
    """Normalises a customer message for the NLU.

    Args:
        text: the raw message.
        max_chars: if given, only the first ``max_chars`` characters (after cleaning) are kept;
            very long rants put their point early and the classifier's cost grows with length.

    Returns:
        The cleaned text (possibly empty).
    """
    if not text:
        return ""
    cleaned = _ZERO_WIDTH.sub("", text)
    cleaned = to_half_width(cleaned)
    cleaned = _WHITESPACE.sub(" ", cleaned).strip()
    if max_chars is not None and len(cleaned) > max_chars:
        cleaned = cleaned[:max_chars].rstrip()
    return to_simplified(cleaned)
