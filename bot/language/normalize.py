"""The one normaliser of customer text, applied once per message before tokenisation.

Traditional -> Simplified (OpenCC ``t2s``, characters only: its Taiwan-phrase configurations
rewrite Simplified text too, 么 -> 幺, 文件 -> 文档), then Taiwan and Hong Kong words
(``resources/dialect.yml``: 軟體 -> 软件, 冇 -> 没), full-width -> half-width, invisible
characters, @-mentions, masking asterisks, data placeholders of exported chats, emoticon codes
(WeChat ``/::(``, ``[流泪]``, ``[Facepalm]``, JD ``#E-s12``: emotion, never content) and spoken
fillers at the start of a long message removed, numbers read aloud turned into digits
("二零二六一一二九…", 幺 = 1), whitespace collapsed and trimmed. The output keeps the customer's
words; it only removes differences that carry no meaning for the NLU.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from bot.language.numbers import spoken_digits_to_arabic

_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_WHITESPACE = re.compile(r"\s+")
# "@某某客服 " addresses a post to an account; it says nothing about the problem, unless the
# account is a regulator or the media ("@315在线投诉"): tagging them is an escalation, kept as words.
_MENTION = re.compile(r"@[^\s@,，.。!！?？:：;；]{1,30}")
# Masked data in exported chats ("****", "1861****620" keeps its digits).
_MASK_RUN = re.compile(r"(?<![0-9])\*{3,}(?![0-9])")
# Exported chats replace private data by placeholders ("[订单x]", "[金额x]") and paste order
# cards ("[订单编号:[订单x]，订单金额:[金额x]，下单时间:[日期x] [时间x]]"). A card only says
# "this order"; a placeholder keeps its kind ("订单", "金额") and loses the brackets, which
# the tokenizer would otherwise cut into noise.
_ORDER_CARD = re.compile(
    r"\[订单编号[:：](?:[^\[\]]|\[[^\[\]]*\])*\]"
    # the JD widget's header of a consultation: "咨询订单号:[订单x] 订单金额:[金额x] 下单时间:[日期x] [时间x]"
    r"|(?:咨询)?订单号[:：]\[订单x\](?:\s*(?:订单金额|下单时间|商品ID|商品名称)[:：](?:\[[^\[\]]*\]\s*)+)*"
    r"|商品ID[:：]\[数字x\]"
)
_PLACEHOLDER = re.compile(r"\[([\u4e00-\u9fff]{1,6})[xX]\]")
# Runs of the same punctuation ("。。。。", "！！！", "~~~") carry tone, not content: one is kept.
_PUNCT_RUN = re.compile(r"([。.!?~,，、…·—\-])\1+")
_ESCAPED_SLASH = "／"
# Emoticon codes: WeChat's "/::(" "/:hug" (possibly escaped to "／" by a channel), bracket tags
# "[流泪]" "[Facepalm]" and JD's "#E-s12". Channel markers such as "[图片]" are content and stay.
_WECHAT_EMOTICON = re.compile(r"[/／]:[^\s\u4e00-\u9fff/／]{1,9}")
_BRACKET_TAG = re.compile(r"\[([\u4e00-\u9fff]{1,4}|[A-Za-z][A-Za-z ]{1,15})\]")
_CHANNEL_MARKERS = frozenset({"图片", "语音", "视频", "文件", "位置", "链接", "image", "Image", "IMAGE"})
_JD_EMOTICON = re.compile(r"#E-[a-z]\d{0,3}(?:\[数字x\])?")
# Spoken fillers at the start of a long message ("嗯嗯 对 喂 ...").
_LEADING_FILLERS = re.compile(r"^(?:(?:嗯|啊|哦|喂|哎|呃|额|唉)+[ ,，.。~]*)+")
_MIN_CONTENT_AFTER_FILLERS = 6


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


@functools.lru_cache(maxsize=1)
def _dialect() -> tuple[re.Pattern[str], dict[str, str]]:
    import yaml

    words = yaml.safe_load((Path(__file__).parent / "resources" / "dialect.yml").read_text(encoding="utf-8"))
    table = {str(k): str(v) for k, v in words.items()}
    pattern = re.compile("|".join(re.escape(w) for w in sorted(table, key=len, reverse=True)))
    return pattern, table


def strip_emoticons(text: str) -> str:
    """Removes emoticon codes ("/::(", "[流泪]", "[Facepalm]", "#E-s12"); "[图片]" stays."""
    text = _WECHAT_EMOTICON.sub(" ", text)
    text = _JD_EMOTICON.sub(" ", text)
    return _BRACKET_TAG.sub(lambda m: m.group(0) if m.group(1) in _CHANNEL_MARKERS else " ", text)


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
    """Converts Traditional Chinese to Simplified, and Taiwan and Cantonese words to Mainland ones."""
    simplified = str(_t2s().convert(text))
    pattern, table = _dialect()
    return pattern.sub(lambda m: table[m.group(0)], simplified)


_DIGITS = re.compile(r"[0-9]+")


def mask_digits(text: str) -> str:
    """Replaces every run of ASCII digits by "#" (for features, never for the text itself)."""
    return _DIGITS.sub("#", text)


def _mention(match: re.Match[str]) -> str:
    from bot.language.urgency import detect_urgency

    name = match.group(0)[1:]
    return f" {name} " if any(hit.level == "media_legal" for hit in detect_urgency(name)) else " "


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
    cleaned = strip_emoticons(_ZERO_WIDTH.sub("", text))
    escaped = cleaned.lstrip().startswith(_ESCAPED_SLASH)
    cleaned = to_half_width(cleaned)
    cleaned = _MASK_RUN.sub(" ", _MENTION.sub(_mention, cleaned))
    cleaned = _PLACEHOLDER.sub(r" \1 ", _ORDER_CARD.sub(" 订单 ", cleaned))
    cleaned = _PUNCT_RUN.sub(r"\1", cleaned)
    cleaned = _WHITESPACE.sub(" ", cleaned).strip()
    without_fillers = _LEADING_FILLERS.sub("", cleaned)
    if len(without_fillers) >= _MIN_CONTENT_AFTER_FILLERS:
        cleaned = without_fillers
    if max_chars is not None and len(cleaned) > max_chars:
        cleaned = cleaned[:max_chars].rstrip()
    if escaped and cleaned.startswith("/"):
        # Rasa reads a message starting with "/" as an intent command (RegexMessageHandler runs
        # after this component). Channels escape a customer's "/" to "／" (and only channels
        # send real commands, such as "/empty_message"): an escaped slash stays escaped.
        cleaned = _ESCAPED_SLASH + cleaned[1:]
    return spoken_digits_to_arabic(to_simplified(cleaned))


_SENTENCE_END = re.compile(r"[。！？!?，,；;、~～…\.]$")


def join_burst(texts: list[str]) -> str:
    """Several lines a customer sent in quick succession, read as one message.

    Customers type a complaint as short lines ("你好" / "我买的电饭煲" / "煮饭夹生"); the lines are
    joined in order with "，" where a line does not already end in punctuation, so the NLU reads
    one sentence. Empty lines and the empty-message intent are dropped unless nothing else is left.

    Args:
        texts: the lines in arrival order (already escaped for Rasa).

    Returns:
        One text ("" for no lines at all).
    """
    lines = [t.strip() for t in texts if t and t.strip() and t.strip() != "/empty_message"]
    if not lines:
        return texts[-1] if texts else ""
    joined = lines[0]
    for line in lines[1:]:
        joined += (line if _SENTENCE_END.search(joined) else "，" + line) if joined else line
    return joined
