"""Reading a shop's chat export: CSV or JSON Lines, UTF-8 or GBK, all or nothing."""

from __future__ import annotations

import json

import pytest

from bot.trainer.imports import MAX_BYTES, ImportRefused, read_export

CSV_CN = "会话ID,发送时间,角色,消息内容\nA1,2026-11-20 10:00:00,买家,收到的杯子是碎的\nA1,2026-11-20 10:01:00,客服,抱歉，请拍照\n"


def test_a_chinese_csv_in_gbk_is_read_with_its_chinese_columns_and_roles() -> None:
    messages = read_export(CSV_CN.encode("gbk"), "export.csv")
    assert [(m.conversation_id, m.role, m.text) for m in messages] == [
        ("A1", "buyer", "收到的杯子是碎的"),
        ("A1", "agent", "抱歉，请拍照"),
    ]
    assert messages[1].time - messages[0].time == 60


def test_json_lines_in_utf8_with_millisecond_times() -> None:
    rows = [
        {"conversation_id": "B", "time": 1795000000000, "role": "buyer", "text": "快递五天没到"},
        {"conversation_id": "B", "time": 1795000060000, "role": "agent", "text": "我查一下"},
    ]
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
    messages = read_export(data, "chats.jsonl")
    assert [m.time for m in messages] == [1795000000.0, 1795000060.0]


def test_bad_rows_are_all_reported_and_nothing_is_imported() -> None:
    data = (
        CSV_CN + "A2,not a time,买家,你好\nA3,2026-11-20 10:00:00,路人,你好\n,2026-11-20 10:00:00,买家,你好\n"
    ).encode()
    with pytest.raises(ImportRefused) as refused:
        read_export(data, "export.csv")
    rows = [row for row, _ in refused.value.problems]
    assert rows == [3, 4, 5] and "nothing was imported" in str(refused.value)
    assert "unknown role" in str(refused.value)


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"\xff\xfe\x00\xd8 broken", "x.csv", "neither UTF-8 nor GBK"),
        ("会话ID,角色\nA1,买家\n".encode(), "x.csv", "missing column(s): time, text"),
        ("只是一段话，没有列".encode(), "x.txt", "not CSV or JSON Lines"),
        (b"{not json}\n", "x.jsonl", "not JSON"),
        ("会话ID,发送时间,角色,消息内容\nA1,2026-11-20 10:00,客服,您好\n".encode(), "x.csv", "no buyer message"),
    ],
)
def test_files_that_are_not_an_export_are_refused_with_the_reason(data: bytes, name: str, reason: str) -> None:
    with pytest.raises(ImportRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read_export(data, name)


def test_a_file_over_the_size_limit_is_refused_before_reading_it() -> None:
    with pytest.raises(ImportRefused, match="at most"):
        read_export(b"a" * (MAX_BYTES + 1), "big.csv")
