"""Promises in a message to a customer: what will happen, and by when (SPEC.md sections 4 and 7).

SPEC.md section 4 says every promise carries a time; section 7 has the bot follow up on open cases.
The promise ledger (:mod:`bot.store.promises`) records what the bot or an agent told a customer would
happen by a time, so the follow-up timer can warn an agent before a promise is broken. This module
reads those promises out of one message: :func:`find_promises`.

What counts as a promise here: a sentence (or clause) that names a time *and* something we will do,
said to the customer as a commitment. Each has a ``kind``:

* ``contact``: the customer will hear from us (联系, 回电, 答复, 回复, 告知/告诉, 通知, 反馈, 进展/进度,
  a result or conclusion given to the customer: 给您处理结果, 给出检测结论);
* ``action``: something will be done (补发, 发出, 退款, 到账, 上门, 取件, 换货, 维修, 审批, 处理完, 办结 ...).

The kind comes from the first such word after the time in the same clause (then the nearest one
before it, then the next clause when the clause holds only the time): "我们马上联系快递公司催件，
12小时内把最新进度告诉您" is a contact promise (告诉), "24小时内办结并通知您" an action (办结).

Times read (all customer-facing times are Asia/Shanghai unless ``tz`` says otherwise):

* durations from ``said_at``: "N小时内", "N个小时内", "两小时内", "二十四小时之内", "24h内", "半小时内",
  "一个半小时内", "N分钟内", "N天内" (N x 24 hours), "N周内", "一个星期内", "N个月内" (30 days),
  "N个工作日内" (working days: Saturdays and Sundays are skipped, public holidays are not known),
  ranges by their upper end ("3-5个工作日", "一两天内", "两三天"), "N小时后"; the 内 may be left out
  before the verb ("3个工作日到账");
* days: 今天/今日/当天, 明天/明日, 后天, 大后天, 今晚/明早/明晚, "X月X日", "X年X月X日", "X号"
  (this month, else next), 周X/星期X/礼拜X (the next one, today included), 下周X, 本周X,
  本周内 (Sunday), 月底, "明天这个时候" (the same clock time);
* times of day: "HH:MM", "十点", "10点半", "3点20分", with 凌晨/早上/上午/中午/下午/傍晚/晚上; "下班前" is 18:00.

How a time reads when it leaves something open (documented choices, tested):

* a day without a time of day is its end (23:59): "今天内", "周五前", "12月3日前";
* a part of the day without a clock is its end: 凌晨 06:00, 早上/上午/明早 12:00, 中午 14:00,
  下午 18:00, 傍晚 19:00, 晚上/今晚 23:59;
* a clock hour 1-11 without a part of the day is the next such time after ``said_at`` on the 12-hour
  clock ("十点前" said at 14:00 is 22:00; said at 08:00 it is 10:00); after 明天/后天/a date, hours
  1-6 read as afternoon ("明天3点" is 15:00) and 7-11 as morning; a zero-padded hour ("09:00") is taken
  as written;
* a time without a day is the next one after ``said_at`` ("10:00前" said at 23:00 is tomorrow);
* a time with a day that is already past when said is not a promise.

Several times in one sentence: a time in parentheses annotates the promise of its sentence instead of
making a new one, and an absolute annotation sets its due. The bot's ticket message writes
"…48小时内给您发出新的（后天10:02前完成）": one promise, due at 后天10:02, the deadline the customer read.

Conditional promises ("收到您寄回的商品后48小时内", "核实后…", "审批通过后…", "如果…"): still a promise,
``conditional=True``; the due counts from ``said_at`` as written (the bot's own "（…前完成）" does
the same) and the text keeps the condition.

Not promises (no mention is returned):

* a sentence with no time ("我们会尽快处理": another checker flags promises without times) or with a
  time but no verb of ours ("活动到明天10点结束");
* negations ("我们不会…", "无法在今天…"; "不会超过24小时" is still a promise) and questions
  ("您希望几点联系您？", "明天10点给您回电可以吗？");
* the customer's window, task or condition ("签收7天内可以换", "请您在24小时内寄回", "如果您今天18:00前
  寄出，" - what follows it is a conditional promise);
* generalities ("一般在24小时内开好", "通常…"), past events ("已于今天10点退款", "已经…了");
* the bot's options menu ("您选一个（回复序号就行）：1. …"): offers, not promises, until chosen;
* the agreement the customer is asked to confirm ("确认一下：…。确认的话回复“确认”");
* the agreed option restated in a status or progress message ("方案：换货，…"): recorded when the
  ticket was opened; counting its "48小时内" again from the progress message would move the deadline.

Known misses (each seen when trying agents' phrasings): a vague verb ("3天左右到", "物流会在今天更新") is no
promise; a time that belongs to another event of the clause is taken as the due ("明天十点开会讨论后答复您"
is due at 10:00); a part of the day is read from ``said_at``, not from the event the sentence hangs it on
("麻烦您明天上午10点前把照片发过来，我们下午给您答复" is due this afternoon; "第二天上午" is the next
morning); holidays are not known ("节后3个工作日内"); a promise phrased with the customer as subject
("您可以在24小时内收到退款") is read as the customer's option; a condition is seen only when said with
后/如果 ("您上传照片…，我们在48小时内给出检测结论" is not marked conditional); "晚点", "稍后", "尽快" name
no time and are another checker's.

Plain Python, no Rasa imports; reading a message takes about 0.1 ms.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.language.normalize import to_simplified

Kind = Literal["contact", "action"]
KINDS: tuple[Kind, ...] = ("contact", "action")

SHANGHAI = "Asia/Shanghai"

DAY_END = time(23, 59)
"""What a day without a time of day means: its end."""

PERIOD_END: dict[str, time] = {
    "凌晨": time(6, 0),
    "早上": time(12, 0),
    "早晨": time(12, 0),
    "早": time(12, 0),
    "上午": time(12, 0),
    "中午": time(14, 0),
    "下午": time(18, 0),
    "下班": time(18, 0),
    "傍晚": time(19, 0),
    "晚上": time(23, 59),
    "晚": time(23, 59),
}
"""What a part of the day without a clock means: its end (下班 is the office's 18:00)."""

_AFTERNOON = frozenset({"下午", "傍晚", "晚上", "晚"})


@dataclass(frozen=True)
class PromiseMention:
    """One promise read from a message.

    Attributes:
        text: The promise sentence (or clause, when one sentence holds several promises), as
            normalised (Simplified, half-width), without its final punctuation.
        due: The deadline it names, epoch seconds.
        kind: ``contact`` (the customer hears from us) or ``action`` (something is done).
        conditional: True when the promise depends on something first ("收到您寄回的商品后…");
            the due still counts from when it was said.
        when: The time as written ("48小时内", "今天12:02前"; an annotation follows in parentheses).
    """

    text: str
    due: float
    kind: Kind
    conditional: bool = False
    when: str = ""


# --- numbers ----------------------------------------------------------------------------------
_CN_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUM = "零〇一二两三四五六七八九十百"
NUM = rf"(?:[0-9]+|[{_CN_NUM}]+)"
RANGE = rf"(?:{NUM}(?:\s*[-~到至]\s*{NUM})?)"


def small_number(raw: str) -> int | None:
    """An integer 0-999 written in Arabic or Chinese digits ("24", "二十四", "两", "一百二十").

    Two Chinese digits without 十/百 are a spoken range and read as the larger ("一两" 2, "两三" 3).

    Returns:
        The value, or None when ``raw`` is not such a number.
    """
    raw = raw.strip()
    if not raw:
        return None
    if raw.isdigit():
        return int(raw)
    if any(ch not in _CN_DIGIT and ch not in "十百" for ch in raw):
        return None
    if "十" not in raw and "百" not in raw:
        if len(raw) == 1:
            return _CN_DIGIT[raw]
        if len(raw) == 2:
            return max(_CN_DIGIT[raw[0]], _CN_DIGIT[raw[1]])
        return None
    total = 0
    rest = raw
    if "百" in rest:
        head, _, rest = rest.partition("百")
        if len(head) != 1:
            return None
        total += _CN_DIGIT[head] * 100
        if rest[:1] in ("零", "〇"):  # 一百零五 = 105
            return total + _CN_DIGIT[rest[1]] if len(rest) == 2 and rest[1] in _CN_DIGIT else None
        if rest and "十" not in rest:  # 一百二 = 120
            return total + _CN_DIGIT[rest] * 10 if len(rest) == 1 else None
    if "十" in rest:
        head, _, tail = rest.partition("十")
        if len(head) > 1 or len(tail) > 1:
            return None
        total += (_CN_DIGIT[head] if head else 1) * 10 + (_CN_DIGIT[tail] if tail else 0)
    elif rest:
        if len(rest) != 1:
            return None
        total += _CN_DIGIT[rest]
    return total


def _upper(raw: str) -> int | None:
    """The upper end of a range ("3-5" 5, "三到五" 5) or the number itself."""
    parts = re.split(r"\s*[-~到至]\s*", raw)
    values = [small_number(p) for p in parts]
    if any(v is None for v in values):
        return None
    return max(v for v in values if v is not None)


# --- time expressions -------------------------------------------------------------------------
_DURATION = re.compile(
    rf"(?:(?P<n>{RANGE})\s*(?P<count>个半|个)?|(?P<half>半)个?)\s*"
    r"(?P<unit>小时|钟头|[hH](?![a-zA-Z])|分钟|工作日|天|日|周|星期|礼拜|月)"
    r"(?P<suffix>之内|以内|内|之后|以后|后)?"
)
_DAY_WORDS = {"今天": 0, "今日": 0, "今儿": 0, "当天": 0, "明天": 1, "明日": 1, "明儿": 1, "后天": 2, "大后天": 3}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "1": 0, "2": 1, "3": 2}
_WEEKDAYS |= {"4": 3, "5": 4, "6": 5, "7": 6}
_POINT = re.compile(
    rf"(?=[0-9{_CN_NUM}今明后大当本这下周星礼月凌早上中傍晚])"  # where a time can start: saves empty matches
    r"(?:"
    r"(?P<day>大后天|后天|今天|今日|今儿|当天|明天|明日|明儿)"
    r"|(?P<week_end>本周内|这周内|本周之内|这周之内)"
    r"|(?P<month_end>月底|月末)"
    rf"|(?:(?P<year>[0-9]{{4}})年)?(?P<month>{NUM})月(?P<mday>{NUM})[日号]"
    r"|(?P<week>下下个?|下个?|本|这个?)?(?:周|星期|礼拜)(?P<wday>[一二三四五六日天1-7])"
    rf"|(?P<bare_mday>{NUM})[日号](?=之?前|以前|[0-9]|凌晨|早上|上午|中午|下午|傍晚|晚上)"
    r"|(?P<short>[今明])(?=早|晚)"
    r")?\s*"
    r"(?P<same_time>(?<=[天日])(?:这个时候|这时候|同一时间|此时))?"
    r"(?P<period>凌晨|早上|早晨|上午|中午|下午|傍晚|晚上|下班|(?<=[今明])早|(?<=[今明])晚)?\s*"
    r"(?:(?P<hh>[0-9]{1,2})\s*:\s*(?P<mm>[0-9]{2})"
    rf"|(?P<h>[0-9]{{1,2}}|[{_CN_NUM}]{{1,3}})点(?:(?P<clock_half>半)|(?P<m>[0-9]{{1,2}}|[{_CN_NUM}]{{1,3}})分?|钟|整)?"
    r")?"
    r"(?P<suffix>之前|以前|前|之内|以内|内|为止)?"
)


@dataclass(frozen=True)
class _Time:
    start: int
    end: int
    due: float
    when: str
    absolute: bool  # names a day or a clock, not a span from now


def _local(said_at: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(said_at, zone)


def add_working_days(start: datetime, days: int) -> datetime:
    """``start`` plus ``days`` working days, at the same clock time: Saturdays and Sundays are
    skipped (public holidays are not known). From a Saturday, one working day is Monday."""
    current = start
    left = days
    while left > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            left -= 1
    return current


def _duration(match: re.Match[str], said: datetime) -> datetime | None:
    unit = match.group("unit")
    if match.group("half"):
        amount: float = 0.5
    else:
        value = _upper(match.group("n"))
        if value is None:
            return None
        amount = value + (0.5 if match.group("count") == "个半" else 0)
    if amount <= 0:
        return None
    if unit == "工作日":
        if amount != int(amount):
            return None
        return add_working_days(said, int(amount))
    seconds = {
        "小时": 3600, "钟头": 3600, "h": 3600, "H": 3600, "分钟": 60, "天": 86400, "日": 86400,
        "周": 7 * 86400, "星期": 7 * 86400, "礼拜": 7 * 86400, "月": 30 * 86400,
    }[unit]  # fmt: skip
    return said + timedelta(seconds=amount * seconds)


def _clock(match: re.Match[str]) -> tuple[int, int, bool] | None:
    """(hour, minute, as_written) of the clock part; as_written: a 24-hour reading is certain."""
    if match.group("hh") is not None:
        raw_hour, minute = match.group("hh"), int(match.group("mm"))
        hour = int(raw_hour)
        certain = raw_hour.startswith("0") or hour >= 12 or hour == 0
    else:
        raw_hour = match.group("h")
        value = small_number(raw_hour)
        if value is None:
            return None
        hour = value
        minute = 30 if match.group("clock_half") else 0
        if match.group("m"):
            parsed = small_number(match.group("m"))
            if parsed is None:
                return None
            minute = parsed
        certain = raw_hour.startswith("0") or hour >= 12 or hour == 0
    if hour > 24 or minute > 59 or (hour == 24 and minute):
        return None
    return hour, minute, certain


def _with_period(hour: int, period: str) -> int:
    if period in _AFTERNOON and hour < 12:
        return hour + 12
    if period == "中午" and hour <= 2:
        return hour + 12
    return hour


def _at(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), zone) + timedelta(hours=hour, minutes=minute)


def _base_day(match: re.Match[str], said: datetime) -> date | None | Literal[False]:
    """The day a time point names; None when it names none; False when it names an impossible one."""
    today = said.date()
    if match.group("day"):
        return today + timedelta(days=_DAY_WORDS[match.group("day")])
    if match.group("short"):
        return today + timedelta(days=0 if match.group("short") == "今" else 1)
    if match.group("week_end"):
        return today + timedelta(days=6 - today.weekday())
    if match.group("month_end"):
        return today.replace(day=calendar.monthrange(today.year, today.month)[1])
    if match.group("month"):
        month, mday = small_number(match.group("month")), small_number(match.group("mday"))
        year = int(match.group("year")) if match.group("year") else today.year
        if month is None or mday is None or not 1 <= month <= 12:
            return False
        if not 1 <= mday <= calendar.monthrange(year, month)[1]:
            return False
        named = date(year, month, mday)
        if not match.group("year") and named < today:
            named = date(year + 1, month, min(mday, calendar.monthrange(year + 1, month)[1]))
        return named
    if match.group("wday"):
        wanted = _WEEKDAYS[match.group("wday")]
        week = match.group("week") or ""
        monday = today - timedelta(days=today.weekday())
        if week.startswith("下下"):
            return monday + timedelta(days=14 + wanted)
        if week.startswith("下"):
            return monday + timedelta(days=7 + wanted)
        if week:
            return monday + timedelta(days=wanted)
        return today + timedelta(days=(wanted - today.weekday()) % 7)
    if match.group("bare_mday"):
        mday = small_number(match.group("bare_mday"))
        if mday is None or not 1 <= mday <= 31:
            return False
        year, month = today.year, today.month
        if mday < today.day:
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if mday > calendar.monthrange(year, month)[1]:
            return False
        return date(year, month, mday)
    return None


def _point(match: re.Match[str], said: datetime, zone: ZoneInfo) -> datetime | None:
    """The deadline a time point names, or None (not a time, or already past)."""
    has_clock = match.group("hh") is not None or match.group("h") is not None
    period = match.group("period") or ""
    day = _base_day(match, said)
    if day is False:
        return None
    if day is None and not period and not has_clock:
        return None
    if period == "下班" and match.group("suffix") not in ("前", "之前", "以前"):
        return None  # "下班后" is not a deadline
    if has_clock and match.group("h") is not None and match.group("hh") is None:
        # a Chinese "一点" alone is "a little": a clock needs context
        chinese = not match.group("h").isdigit()
        context = day is not None or period or match.group("suffix") or match.group("clock_half") or match.group("m")
        if chinese and not context and not match.group(0).endswith(("钟", "整")):
            return None
    if match.group("same_time") and day is not None and not period and not has_clock:
        return datetime.combine(day, said.timetz())  # "明天这个时候"
    clock = _clock(match) if has_clock else None
    if has_clock and clock is None:
        return None
    explicit_day = day is not None
    base = day if day is not None else said.date()
    if clock is None:
        end = PERIOD_END[period] if period else DAY_END
        candidates = [_at(base, end.hour, end.minute, zone)]
    else:
        hour, minute, certain = clock
        if period:
            candidates = [_at(base, _with_period(hour, period), minute, zone)]
        elif certain or hour > 12:
            candidates = [_at(base, hour, minute, zone)]
        elif explicit_day and base > said.date():
            candidates = [_at(base, hour + 12 if 1 <= hour <= 6 else hour, minute, zone)]
        else:
            candidates = [_at(base, hour, minute, zone), _at(base, hour + 12, minute, zone)]
    if not explicit_day:
        candidates += [c + timedelta(days=1) for c in candidates]
    future = [c for c in candidates if c > said]
    if not future:
        return None if explicit_day and candidates[0] < said - timedelta(minutes=1) else candidates[0]
    return min(future)


def _times(sentence: str, said: datetime, zone: ZoneInfo) -> list[_Time]:
    """Every time in a sentence with the deadline it names, without overlaps, by position."""
    found: list[_Time] = []
    for match in _POINT.finditer(sentence):
        if match.end() == match.start() or match.group(0) in ("前", "之前", "以前", "内", "之内", "以内", "为止"):
            continue
        if not any(match.group(g) for g in ("day", "week_end", "month_end", "month", "wday", "bare_mday", "short")):
            if not match.group("period") and match.group("hh") is None and match.group("h") is None:
                continue
        due = _point(match, said, zone)
        if due is not None:
            found.append(_Time(match.start(), match.end(), due.timestamp(), match.group(0), True))
    for match in _DURATION.finditer(sentence):
        if any(not (match.end() <= t.start or match.start() >= t.end) for t in found):
            continue
        if _not_a_deadline(match, sentence):
            continue
        due = _duration(match, said)
        if due is not None:
            found.append(_Time(match.start(), match.end(), due.timestamp(), match.group(0), False))
    return sorted(found, key=lambda t: t.start)


_PAST_LEAD = re.compile(r"(?:超过|过了|等了|满|已经|已|了|用了|快)\s*$")


def _not_a_deadline(match: re.Match[str], sentence: str) -> bool:
    """A span that is not "within N": "3天前" (ago), "等了3天", "超过24小时", "7天无理由", "5日" as a date."""
    after = sentence[match.end() : match.end() + 3]
    unit, suffix = match.group("unit"), match.group("suffix")
    if after.startswith(("前", "之前", "以前", "多", "了", "无理由")) or (not suffix and after.startswith("的")):
        return True
    if sentence[max(0, match.start() - 1) : match.start()] == "第":
        return True  # "第二天" is a day, not a span
    if unit in ("日", "月") and not suffix:
        return True
    return bool(_PAST_LEAD.search(sentence[max(0, match.start() - 3) : match.start()]))


# --- what the sentence says about the time ----------------------------------------------------
_ABOUT_THE_PARCEL = "联系快递|联系物流|联系仓库|催件|催促|催一下|催快递"
"""Chasing the courier is something done (an action), though it says 联系."""
_CONTACT = (
    "处理结果|处理方案|检测结论|接入|接手|跟进|回电话|回电|回个电话|打电话|来电|致电|电话联系|联系|答复|回复|回您|回话|告知|告诉|通知|反馈|进展|进度|"
    "结果|结论|给您回个?话|给您消息|消息告诉"
)
_ACTION = (
    "补发|重发|重新发|发出|发货|发一件|发一份|寄出|寄给您|退款|退到|退回|退还|退您|到账|原路|上门|取件|取回|"
    "换货|换新|维修|修好|检修|审批|审核完|处理完|处理好|办结|办好|办完|完成|送达|送到|开好|开具|赔付|补偿|拦截|"
    "安装|安排|处理"
)
_KIND_WORD = re.compile(rf"(?P<courier>{_ABOUT_THE_PARCEL})|(?P<contact>{_CONTACT})|(?P<action>{_ACTION})")
_NEGATION = re.compile(
    r"(?:不会|不能|无法|没法|没办法|没有办法|不一定|不保证|保证不了|不确定|来不及|未必|不可能|做不到|赶不上)"
    r"(?!超过|晚于|迟于)"
)
_CUSTOMER_TASK = re.compile(
    r"请您|请在|请于|请尽快|麻烦您|您需要|需要您|您要在|您得|您可以|您可|(?:如果|假如|要是|只要|若|等)您|您先"
)
"""The customer's own task or condition before the time: "请您在24小时内寄回", "如果您今天18:00前寄出"."""
_WINDOW = re.compile(r"^\s*(?:都|均|也)?(?:可以|可|能|有效|内有效)")
_GENERIC = re.compile(r"一般|通常|正常情况下|平时|往往")
_PAST = re.compile(r"已于|刚刚|刚才")
_CONDITION = re.compile(
    r"如果|假如|要是|一旦|只要|若"
    r"|(?:收到|寄回|寄到|退回|寄出|上传|提交|签收|到货|入库|核实|核查|审核|审批|确认|检测|验货|拿到|取回|取件|通过)"
    r"[^，,。；;]{0,15}?(?<!售)后(?![天续面台])"
)
_LABEL = re.compile(r"^(?:接下来|下一步|后续|处理方案|说明)[:：]\s*")
_MENU = re.compile(r"您选一个|回复序号|选一个方案|回复数字")
_MENU_ITEM = re.compile(r"^\s*[0-9]{1,2}\s*[.、)]\s*\S")
_CONFIRMATION = re.compile(r"确认的话回复|回复[“\"]确认")
_RESTATEMENT = re.compile(r"^方案[:：]")
_SENTENCE = re.compile(r"[^。！!？?；;\n]+[。！!？?；;]*")
_QUESTION_END = re.compile(r"(?:[？?]|[吗呢么][。！!]?)\s*$")


def _clauses(sentence: str) -> list[tuple[int, int]]:
    """Spans of the comma-separated clauses of a sentence (commas inside parentheses do not split)."""
    spans: list[tuple[int, int]] = []
    depth, start = 0, 0
    for i, ch in enumerate(sentence):
        if ch in "（(":
            depth += 1
        elif ch in "）)":
            depth = max(0, depth - 1)
        elif ch in "，," and depth == 0:
            spans.append((start, i))
            start = i + 1
    spans.append((start, len(sentence)))
    return spans


def _in_parentheses(sentence: str, position: int) -> bool:
    depth = 0
    for ch in sentence[:position]:
        if ch in "（(":
            depth += 1
        elif ch in "）)":
            depth = max(0, depth - 1)
    return depth > 0


def _kind(after: str, before: str) -> Kind | None:
    match = _KIND_WORD.search(after)
    if match is None:
        matches = list(_KIND_WORD.finditer(before))
        match = matches[-1] if matches else None
    if match is None:
        return None
    return "contact" if match.group("contact") else "action"  # a courier chase is an action


def _strip_punctuation(text: str) -> str:
    return text.strip().rstrip("。！!；;，, ").strip()


def _sentence_promises(sentence: str, said: datetime, zone: ZoneInfo) -> list[PromiseMention]:
    times = _times(sentence, said, zone)
    if not times:
        return []
    if _QUESTION_END.search(sentence) or _RESTATEMENT.match(sentence.strip()):
        return []
    clauses = _clauses(sentence)

    def clause_of(position: int) -> int:
        return next(i for i, (s, e) in enumerate(clauses) if s <= position <= e)

    usable = []
    for t in times:
        c_start, c_end = clauses[clause_of(t.start)]
        if _WINDOW.match(sentence[t.end : c_end]):
            continue  # the customer's window: "签收7天内可以换"
        usable.append(t)
    if not usable:
        return []
    plain = [t for t in usable if not _in_parentheses(sentence, t.start)]
    annotations = [t for t in usable if _in_parentheses(sentence, t.start)]
    if not plain:
        plain, annotations = annotations[:1], annotations[1:]
    dues = {id(t): (t.due, t.when) for t in plain}
    for note in annotations:
        earlier = [t for t in plain if t.start < note.start]
        target = earlier[-1] if earlier else plain[0]
        if note.absolute:
            dues[id(target)] = (note.due, f"{target.when}（{note.when}）" if not target.absolute else note.when)

    found: list[tuple[int, int, PromiseMention]] = []
    previous_end = 0
    for t in plain:
        index = clause_of(t.start)
        c_start, c_end = clauses[index]
        clause = sentence[c_start:c_end]
        before = sentence[c_start : t.start]
        after = sentence[t.end : c_end]
        kind = _kind(after, before)
        region_end = c_end
        if kind is None and index + 1 < len(clauses):
            n_start, n_end = clauses[index + 1]
            if not any(n_start <= other.start < n_end for other in times):
                kind = _kind(sentence[n_start:n_end], "")
                region_end = n_end
        if kind is None:
            continue
        if _NEGATION.search(sentence[c_start:region_end]) or _CUSTOMER_TASK.search(before):
            continue
        if _GENERIC.search(sentence[: t.start]) or _PAST.search(clause):
            continue
        if "已经" in clause and clause.rstrip("。！! ").endswith(("了", "过")):
            continue
        conditional = bool(_CONDITION.search(sentence[previous_end : t.start]))
        due, when = dues[id(t)]
        found.append((c_start, region_end, PromiseMention("", due, kind, conditional, when)))
        previous_end = t.end
    if len(found) == 1:
        text = _LABEL.sub("", _strip_punctuation(sentence))
        return [PromiseMention(text, found[0][2].due, found[0][2].kind, found[0][2].conditional, found[0][2].when)]
    return [
        PromiseMention(_LABEL.sub("", _strip_punctuation(sentence[s:e])), m.due, m.kind, m.conditional, m.when)
        for s, e, m in found
    ]


_FULL_WIDTH = str.maketrans(
    {chr(code): chr(code - 0xFEE0) for code in range(0xFF10, 0xFF1A)}  # ０-９
    | {chr(code): chr(code - 0xFEE0) for code in range(0xFF21, 0xFF3B)}  # Ａ-Ｚ
    | {chr(code): chr(code - 0xFEE0) for code in range(0xFF41, 0xFF5B)}  # ａ-ｚ
    | {"～": "~", "－": "-", "\u3000": " "}
)


def _half_width_numbers(text: str) -> str:
    """Full-width digits, letters, "～" and "－" to half-width, and "：" between digits to ":"; the Chinese
    punctuation stays as the customer reads it."""
    return re.sub(r"(?<=[0-9])\s*：\s*(?=[0-9])", ":", text.translate(_FULL_WIDTH))


def find_promises(text: str, said_at: float, tz: str = SHANGHAI) -> list[PromiseMention]:
    """The promises in one message to a customer (see the module docstring for what counts).

    Args:
        text: The message as sent (bot response or an agent's own words); Traditional characters
            and full-width digits are read too.
        said_at: When it was sent, epoch seconds: durations count from here and relative days
            ("明天") are days of this moment in ``tz``.
        tz: The customer-facing time zone (IANA name).

    Returns:
        One :class:`PromiseMention` per promise, in the order of the message. Empty for a message
        with no promise (no time, a question, a negation, an options menu ...).

    Raises:
        zoneinfo.ZoneInfoNotFoundError: ``tz`` is not a known time zone.
    """
    if not text or not text.strip():
        return []
    zone = ZoneInfo(tz)
    said = _local(said_at, zone)
    clean = to_simplified(_half_width_numbers(text))
    if _CONFIRMATION.search(clean):
        return []  # the customer is asked to agree: nothing is promised until the ticket is opened
    if _MENU.search(clean):
        clean = "\n".join(line for line in clean.split("\n") if not _MENU_ITEM.match(line))
    found: list[PromiseMention] = []
    for match in _SENTENCE.finditer(clean):
        sentence = re.sub(r"[ \t]+", " ", match.group(0)).strip()
        if sentence:
            found.extend(_sentence_promises(sentence, said, zone))
    return found
