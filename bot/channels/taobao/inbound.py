"""What a forwarded Taobao message is: request checks and the payload as a pydantic model.

The request is signed like a Taobao Open Platform call (:mod:`.sign`): query parameters
``app_key``, ``timestamp`` (``yyyy-MM-dd HH:mm:ss``, GMT+8, at most 10 minutes off),
``sign_method`` and ``sign``, the signature covering the query and the raw body. The body is
one JSON object, :class:`TaobaoMessage` (other fields are ignored). Refusals, in this order:

* body over 64 KB -> 413
* a query parameter given twice -> 400; ``sign_method`` missing or unknown -> 400
* ``sign`` or ``app_key`` missing -> 401; ``timestamp`` missing, malformed or more than
  10 minutes off -> 403; wrong app key or wrong signature -> 401
* body not JSON, not an object, a field missing or of the wrong type/format -> 400;
  ``text`` longer than 20,000 characters -> 413

Each buyer is the conversation ``taobao:<nick>``: the nick as written (Chinese nicks stay
readable for agents), with ``%``, ``/``, ``\\``, ``?``, ``#``, whitespace and other invisible
characters percent-encoded, so the id is safe in URL paths and turns back into the nick.
"""

from __future__ import annotations

import json
import re
import unicodedata
import urllib.parse
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Union

from pydantic import BaseModel, Field, StrictInt, StrictStr, ValidationError, constr, root_validator, validator

from bot.channels.common import MAX_MESSAGE_CHARS
from bot.channels.taobao import sign
from bot.channels.taobao.config import CHANNEL

SENDER_PREFIX = f"{CHANNEL}:"
MAX_BODY_BYTES = 64 * 1024
MAX_NICK_CHARS = 64
MAX_URL_CHARS = 2048
_MESSAGE_ID = re.compile(r"[\x21-\x7e]{1,128}")
_ORDER_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_UNSAFE_IN_ID = set("%/\\?#")


class TaobaoRequestError(ValueError):
    """A request answered with a 4xx and a JSON error (never processed).

    Attributes:
        status: the HTTP status to answer (400, 401, 403 or 413).
    """

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def _encodable(value: str) -> str:
    """Refuses strings JSON allowed but UTF-8 cannot carry (lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid UTF-8 text")
    return value


class TaobaoMessage(BaseModel):
    """One buyer message, as the shop integration forwards it.

    Attributes:
        buyer_nick: the buyer's Taobao nick, 1-64 characters, no control characters.
        message_id: the platform's message id, unique per shop: 1-128 printable ASCII
            characters without spaces (a JSON number is accepted and kept as text).
        sent_at: JSON ``timestamp``, when the buyer sent it: ``yyyy-MM-dd HH:mm:ss``, GMT+8.
        text: what the buyer typed ("" allowed), at most 20,000 characters; required unless
            ``image_url`` is given.
        image_url: an image the buyer sent: http(s) URL, at most 2,048 characters.
        order_id: the order (tid) the chat is about, when the integration knows it:
            1-64 characters of ``[0-9A-Za-z_-]`` (a number is accepted).
    """

    buyer_nick: StrictStr
    if TYPE_CHECKING:  # what the validators below return: a JSON number is kept as text
        message_id: str
    else:
        message_id: Union[StrictStr, StrictInt]
    sent_at: StrictStr = Field(alias="timestamp")
    text: Optional[constr(strict=True, max_length=MAX_MESSAGE_CHARS)] = None  # type: ignore[valid-type]
    image_url: Optional[StrictStr] = None
    if TYPE_CHECKING:
        order_id: Optional[str] = None
    else:
        order_id: Optional[Union[StrictStr, StrictInt]] = None

    class Config:
        allow_mutation = False
        allow_population_by_field_name = True

    @validator("buyer_nick")
    def _nick(cls, value: str) -> str:
        _encodable(value)
        if not value.strip() or len(value) > MAX_NICK_CHARS or any(unicodedata.category(c) == "Cc" for c in value):
            raise ValueError(f"must be 1-{MAX_NICK_CHARS} characters without control characters")
        return value

    @validator("message_id")
    def _message_id(cls, value: Union[str, int]) -> str:
        if not _MESSAGE_ID.fullmatch(str(value)):
            raise ValueError("has an invalid format")
        return str(value)

    @validator("order_id")
    def _order_id(cls, value: Union[str, int, None]) -> Optional[str]:
        if value is not None and not _ORDER_ID.fullmatch(str(value)):
            raise ValueError("has an invalid format")
        return None if value is None else str(value)

    @validator("sent_at")
    def _sent_at(cls, value: str) -> str:
        sign.parse_timestamp(value)  # ValueError: not 'yyyy-MM-dd HH:mm:ss'
        return value

    @validator("text")
    def _text(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else _encodable(value)

    @validator("image_url")
    def _image_url(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        parsed = urllib.parse.urlsplit(_encodable(value))
        if (
            parsed.scheme not in ("http", "https")
            or not parsed.netloc
            or len(value) > MAX_URL_CHARS
            or any(c.isspace() for c in value)
        ):
            raise ValueError("must be an http(s) URL")
        return value

    @root_validator(skip_on_failure=True)
    def _text_or_image(cls, values: Dict[str, Any]) -> Dict[str, Any]:
        if values.get("text") is None and values.get("image_url") is None:
            raise ValueError("'text' or 'image_url' is required")
        values["text"] = values.get("text") or ""
        return values

    @property
    def image_only(self) -> bool:
        """An image without any text."""
        return bool(self.image_url) and not (self.text or "").strip()


def parse_message(body: bytes) -> TaobaoMessage:
    """Validates the JSON body of a (verified) request.

    Raises:
        TaobaoRequestError: 400 (not a JSON object, a field missing, of the wrong type or
            format), 413 (``text`` over 20,000 characters).
    """
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        raise TaobaoRequestError("body must be a JSON object")
    if not isinstance(data, dict):
        raise TaobaoRequestError("body must be a JSON object")
    try:
        return TaobaoMessage.parse_obj(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = "timestamp" if first["loc"][0] == "sent_at" else str(first["loc"][0])
        status = 413 if first["type"] == "value_error.any_str.max_length" else 400
        where = "" if field == "__root__" else f"'{field}' "
        raise TaobaoRequestError(f"{where}{first['msg']}", status=status)


def message_metadata(message: TaobaoMessage) -> Dict[str, Any]:
    """The metadata carried into the tracker (and from there into tickets)."""
    metadata: Dict[str, Any] = {
        "customer_id": message.buyer_nick,
        "channel": CHANNEL,
        "message_id": message.message_id,
        "order_id": message.order_id,
        "sent_at": message.sent_at,
    }
    if message.image_url:
        metadata["image"] = message.image_url
        metadata["images"] = [message.image_url]
    return metadata


def sender_id_for(buyer_nick: str) -> str:
    """``taobao:<nick>`` with URL-unsafe and invisible characters percent-encoded (reversible)."""
    out = []
    for char in buyer_nick:
        if char in _UNSAFE_IN_ID or unicodedata.category(char)[0] in "CZ":
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
        else:
            out.append(char)
    return SENDER_PREFIX + "".join(out)


def nick_of(sender_id: str) -> str:
    """The buyer nick of a ``taobao:`` sender id.

    Raises:
        ValueError: not a Taobao sender id.
    """
    if not sender_id.startswith(SENDER_PREFIX) or len(sender_id) == len(SENDER_PREFIX):
        raise ValueError("not a Taobao sender id")
    return urllib.parse.unquote(sender_id[len(SENDER_PREFIX) :], errors="strict")


def query_params(query_string: str) -> Dict[str, str]:
    """The query parameters as a dict.

    Raises:
        TaobaoRequestError: a parameter appears twice (400).
    """
    params: Dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(query_string or "", keep_blank_values=True):
        if name in params:
            raise TaobaoRequestError(f"query parameter '{name}' given more than once")
        params[name] = value
    return params


def check_request(
    query_string: str, body: bytes, *, app_key: str, secret: str, now: Optional[float] = None
) -> Optional[Tuple[int, str]]:
    """Size, sign method, timestamp and signature of an inbound request.

    The decision itself is :func:`bot.channels.taobao.sign.verify`; this only picks the status
    code of a refusal (413, 400, 401 or 403).

    Returns:
        None for an acceptable request, else ``(status, reason)``.
    """
    if len(body) > MAX_BODY_BYTES:
        return 413, f"body larger than {MAX_BODY_BYTES} bytes"
    try:
        params = query_params(query_string)
    except TaobaoRequestError as error:
        return error.status, str(error)
    if params.get("sign_method") not in sign.SIGN_METHODS:
        return 400, f"sign_method must be one of {', '.join(sign.SIGN_METHODS)}"
    if sign.verify(params, body, app_key=app_key, secret=secret, now=now):
        return None
    if not params.get("sign") or not params.get("app_key"):
        return 401, "missing signature"
    if not sign.timestamp_fresh(params.get("timestamp"), now=now):
        return 403, "timestamp missing or outside the 10-minute window"
    return 401, "wrong signature"
