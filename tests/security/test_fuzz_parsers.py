"""Hypothesis fuzzing of the webhook parsers: any input gives a clean refusal (the error the route
answers 4xx) or a valid value, never another exception (which a route would answer 500)."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels.rest import PayloadError, parse_payload
from bot.channels.taobao import sign
from bot.channels.taobao.inbound import TaobaoRequestError, check_request, parse_message, query_params
from bot.channels.webchat import UploadError, check_upload, message_metadata
from bot.channels.wechat.config import WeChatConfig
from bot.channels.wechat.inbound import Inbound, parse_inbound
from bot.channels.wechat.security import Envelope, Refused, XmlRejected, safe_xml_fields, verify_request

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
rest_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"sender": json_values | st.text(max_size=200), "message": json_values | st.text(max_size=200)},
        optional={"metadata": json_values},
    ).map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
)


@FUZZ
@given(rest_bodies)
def test_rest_payload_is_a_triple_or_a_400_413(body: bytes) -> None:
    try:
        sender, text, metadata = parse_payload(body)
    except PayloadError as error:
        assert error.status in (400, 413)
        return
    assert isinstance(sender, str) and 1 <= len(sender) <= 128
    assert isinstance(text, str) and (metadata is None or isinstance(metadata, dict))


TAGS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event", "Recognition", "MediaId"]
xml_fields = st.dictionaries(st.sampled_from(TAGS), st.text(max_size=40), max_size=8)


def to_xml(fields: dict[str, str], root: str) -> str:
    from xml.sax.saxutils import escape

    return f"<{root}>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items()) + f"</{root}>"


wechat_bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    st.builds(to_xml, xml_fields, st.sampled_from(["xml", "xml", "root"])),
    st.builds(to_xml, xml_fields, st.just("xml")).map(lambda s: s.encode("utf-8")),
)


@FUZZ
@given(wechat_bodies)
def test_wechat_parse_inbound_is_an_inbound_or_xml_rejected(body: Any) -> None:
    try:
        inbound = parse_inbound(body)
    except XmlRejected:
        return
    assert isinstance(inbound, Inbound) and inbound.openid and len(inbound.openid) <= 128
    assert inbound.kind in ("bot", "welcome", "ignore", "voice_not_recognised", "unsupported")


@FUZZ
@given(wechat_bodies)
def test_wechat_safe_xml_fields_never_raises_otherwise(body: Any) -> None:
    try:
        assert isinstance(safe_xml_fields(body), dict)
    except XmlRejected:
        pass


@FUZZ
@given(
    st.text(max_size=20),
    st.one_of(st.none(), st.integers(), st.text(max_size=50)),
    st.text(max_size=15),
    st.text(max_size=10),
)
def test_wechat_signature_check_is_total(token: str, signature: Any, timestamp: str, nonce: str) -> None:
    assert verify_request(token, signature, timestamp, nonce) in (True, False)


AES_KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode().rstrip("=")
SAFE = WeChatConfig(token="t0ken", app_id="wx0123456789abcdef", app_secret="s", encoding_aes_key=AES_KEY)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(["encrypt_type", "msg_signature", "timestamp", "nonce"]), st.text(max_size=30), max_size=4
    ),
    st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda e: f"<xml><Encrypt>{e}</Encrypt></xml>".encode(),
            st.text(alphabet="ABCDEFGHabcdefgh0123456789+/=", max_size=120),
        ),
    ),
)
def test_wechat_safe_mode_envelope_refuses_cleanly(args: dict[str, str], body: bytes) -> None:
    try:
        opened = Envelope(SAFE).open(args, body)
    except (Refused, XmlRejected):
        return
    assert isinstance(opened, bytes)


@FUZZ
@given(st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode())))
def test_taobao_message_is_parsed_or_refused_4xx(body: bytes) -> None:
    try:
        parse_message(body)
    except TaobaoRequestError as error:
        assert 400 <= error.status < 500


@FUZZ
@given(st.text(max_size=200), st.binary(max_size=100))
def test_taobao_request_check_is_total(query: str, body: bytes) -> None:
    result = check_request(query, body, app_key="12345", secret="s3cret")
    assert result is None or (400 <= result[0] < 500 and isinstance(result[1], str))
    try:
        params = query_params(query)
    except TaobaoRequestError:
        return
    assert sign.verify(params, body, app_key="12345", secret="s3cret") in (True, False)


@FUZZ
@given(st.one_of(st.none(), st.binary(max_size=200)), st.one_of(st.none(), st.text(max_size=200)))
def test_webchat_upload_check_refuses_cleanly(data: Any, session_id: Any) -> None:
    try:
        kind = check_upload(data, session_id)
    except UploadError as error:
        assert error.status in (400, 413, 415)
        return
    assert kind in ("jpg", "png", "webp")


@FUZZ
@given(st.text(max_size=64), st.text(max_size=300))
def test_webchat_message_metadata_is_total(session_id: str, text: str) -> None:
    metadata = message_metadata(session_id, text)
    assert metadata["customer_id"] == session_id and metadata["channel"] == "webchat"
