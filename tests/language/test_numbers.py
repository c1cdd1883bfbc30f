"""The one number reader (bot/language/numbers.py): amounts and numbers read aloud."""

from __future__ import annotations

import pytest

from bot.language.numbers import demanded_amount, find_amounts, parse_number, spoken_digits_to_arabic


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("500", 500.0),
        ("1.5w", 15000.0),
        ("2k", 2000.0),
        ("2千", 2000.0),
        ("2千5", 2500.0),
        ("1万2", 12000.0),
        ("三百", 300.0),
        ("两千五", 2500.0),
        ("一万五", 15000.0),
        ("一点五万", 15000.0),
        ("0", None),
        ("", None),
    ],
)
def test_parse_number(raw: str, value: float | None) -> None:
    assert parse_number(raw) == value


def test_a_bare_chinese_digit_needs_a_unit() -> None:
    assert parse_number("五", has_unit=False) is None and parse_number("五百", has_unit=False) == 500.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("至少赔我2千", [(2000.0, "demand")]),
        ("赔我1.5w", [(15000.0, "demand")]),
        ("给我补偿2k就行", [(2000.0, "demand")]),
        ("花了三百块 赔我五百", [(300.0, "price"), (500.0, "demand")]),
        ("五十八块五", [(58.5, None)]),
        ("退一赔三", []),
        ("等了3天", []),
        ("要两个", []),
        ("给5星", []),
        ("3920184756210384", []),
    ],
)
def test_amounts_and_their_role(text: str, expected: list[tuple[float, str | None]]) -> None:
    assert [(a.value, a.role) for a in find_amounts(text)] == expected


def test_demanded_amount() -> None:
    assert demanded_amount("不给500就差评") == 500.0 and demanded_amount("花了300") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("订单号是二零二六一一二九零零四四七七一二", "订单号是2026112900447712"),
        ("电话幺三八 一二三四 五六七八", "电话13812345678"),
        ("尾号四四零九", "尾号4409"),
        ("我们一二三四五六七个人", "我们一二三四五六七个人"),  # a count, not a number read aloud
        ("三百块", "三百块"),
    ],
)
def test_numbers_read_aloud(text: str, expected: str) -> None:
    assert spoken_digits_to_arabic(text) == expected


def test_a_number_starts_where_its_run_of_digits_starts() -> None:
    """Issue 13 (schemathesis): every pattern retried at each position of a long digit run."""
    assert find_amounts("0" * 20_000) == []
    assert find_amounts("三" * 20_000) == []
    assert [a.value for a in find_amounts("订单号3920184756210384 赔我500元")] == [500.0]
