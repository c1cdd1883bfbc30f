import json

import pytest

from bot.channels.common import EMPTY_MESSAGE_INTENT, MAX_MESSAGE_CHARS
from bot.channels.rest import PayloadError, parse_payload


def body(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'"text"',
        b"null",
        body({"message": "hi"}),
        body({"sender": "", "message": "hi"}),
        body({"sender": None, "message": "hi"}),
        body({"sender": True, "message": "hi"}),
        body({"sender": "a"}),
        body({"sender": "a", "message": 5}),
        body({"sender": "a" * 200, "message": "hi"}),
        body({"sender": "a", "message": "hi", "metadata": [1]}),
        # another channel's customer: writing there would read their replies and join their case
        body({"sender": "webchat:3979088a79e4409fa10d384f7df312a6", "message": "hi"}),
        body({"sender": "wechat:oAbc123", "message": "hi"}),
        body({"sender": " Taobao:小明 ", "message": "hi"}),
        b"\xff\xfe",
    ],
)
def test_bad_payloads_are_400(raw: bytes) -> None:
    with pytest.raises(PayloadError) as error:
        parse_payload(raw)
    assert error.value.status == 400


def test_too_long_is_413() -> None:
    with pytest.raises(PayloadError) as error:
        parse_payload(body({"sender": "a", "message": "坏" * (MAX_MESSAGE_CHARS + 1)}))
    assert error.value.status == 413


def test_empty_and_whitespace_become_the_empty_intent() -> None:
    assert parse_payload(body({"sender": "a", "message": ""}))[1] == EMPTY_MESSAGE_INTENT
    assert parse_payload(body({"sender": "a", "message": " \n\t　"}))[1] == EMPTY_MESSAGE_INTENT


def test_customers_cannot_trigger_intents() -> None:
    sender, text, _ = parse_payload(body({"sender": 42, "message": "/complaint_malicious"}))
    assert sender == "42"
    assert not text.startswith("/")


def test_a_sender_with_a_colon_of_its_own_is_fine() -> None:
    assert parse_payload(body({"sender": "shop-app:user 42", "message": "hi"}))[0] == "shop-app:user 42"


def test_valid_payload() -> None:
    assert parse_payload(body({"sender": "u1", "message": "快递没到", "metadata": {"a": 1}})) == (
        "u1",
        "快递没到",
        {"a": 1},
    )
