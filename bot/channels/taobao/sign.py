"""Request signing the way the Taobao Open Platform (TOP) signs API calls.

Plain Python (no Rasa, no I/O): used by the Taobao channel to verify forwarded messages and to
sign the replies it posts back (``bot/channels/taobao/``).

The algorithm (TOP "签名算法", Qimen variant for JSON bodies):

1. take every request parameter except ``sign`` (system parameters such as ``app_key``,
   ``timestamp``, ``sign_method`` included), drop those whose name or value is empty;
2. sort them by name (ASCII order) and concatenate ``name + value`` without separators;
3. append the raw request body (the JSON text, byte for byte; nothing for an empty body);
4. digest the UTF-8 bytes of that string:

   * ``md5``:         ``MD5(secret + string + secret)``
   * ``hmac``:        ``HMAC-MD5(key=secret, string)``
   * ``hmac-sha256``: ``HMAC-SHA256(key=secret, string)``

5. the signature is the digest in upper-case hexadecimal.

``timestamp`` is ``yyyy-MM-dd HH:mm:ss`` in GMT+8; TOP accepts a clock difference of at most
10 minutes either way, and so do we.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime, timedelta, timezone
from typing import Mapping, Optional

SIGN_METHODS = ("md5", "hmac", "hmac-sha256")
GMT8 = timezone(timedelta(hours=8))
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
WINDOW_SECONDS = 600


def string_to_sign(params: Mapping[str, str], body: bytes = b"") -> bytes:
    """The bytes that are digested: sorted ``name+value`` pairs, then the body.

    Args:
        params: the request parameters (``sign`` is ignored, as are empty names and values).
        body: the raw request body.

    Returns:
        The UTF-8 string to sign, as bytes.
    """
    pairs = "".join(f"{name}{params[name]}" for name in sorted(params) if name != "sign" and name and params[name])
    return pairs.encode("utf-8") + (body or b"")


def sign(params: Mapping[str, str], body: bytes, secret: str, sign_method: str) -> str:
    """The TOP signature of a request.

    Args:
        params: the request parameters (``sign`` itself is ignored).
        body: the raw request body (``b""`` when there is none).
        secret: the app secret.
        sign_method: ``md5``, ``hmac`` or ``hmac-sha256``.

    Returns:
        The upper-case hexadecimal digest.

    Raises:
        ValueError: an unknown ``sign_method``.
    """
    data = string_to_sign(params, body)
    key = secret.encode("utf-8")
    if sign_method == "md5":
        digest = hashlib.md5(key + data + key).hexdigest()
    elif sign_method == "hmac":
        digest = hmac.new(key, data, hashlib.md5).hexdigest()
    elif sign_method == "hmac-sha256":
        digest = hmac.new(key, data, hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"unknown sign_method {sign_method!r}")
    return digest.upper()


def format_timestamp(when: Optional[float] = None) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in GMT+8 for a Unix time (now by default)."""
    moment = time.time() if when is None else when
    return datetime.fromtimestamp(moment, GMT8).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(value: str) -> float:
    """The Unix time of a GMT+8 ``yyyy-MM-dd HH:mm:ss`` timestamp.

    Raises:
        ValueError: not a timestamp in that format.
    """
    if not isinstance(value, str) or len(value) != 19:
        raise ValueError("timestamp must be 'yyyy-MM-dd HH:mm:ss'")
    return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=GMT8).timestamp()


def timestamp_fresh(value: object, now: Optional[float] = None, window: float = WINDOW_SECONDS) -> bool:
    """True when ``value`` is a valid timestamp at most ``window`` seconds from ``now``."""
    try:
        moment = parse_timestamp(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return False
    return abs((time.time() if now is None else now) - moment) <= window


def verify(
    params: Mapping[str, str],
    body: bytes,
    *,
    app_key: str,
    secret: str,
    now: Optional[float] = None,
    window: float = WINDOW_SECONDS,
) -> bool:
    """Checks a signed request: app key, sign method, timestamp window and signature.

    Pure and total: any problem, including an unexpected exception, gives ``False``. The
    signature is compared in constant time.

    Args:
        params: the query parameters (``app_key``, ``timestamp``, ``sign_method``, ``sign``, ...).
        body: the raw request body, exactly as received.
        app_key: the expected app key.
        secret: the app secret.
        now: the current Unix time (for tests).
        window: the largest accepted clock difference in seconds.

    Returns:
        True only for a fresh request signed with ``secret`` for ``app_key``.
    """
    try:
        given = params.get("sign")
        method = params.get("sign_method")
        if not (app_key and secret and isinstance(given, str) and given and method in SIGN_METHODS):
            return False
        if not hmac.compare_digest(str(params.get("app_key") or "").encode("utf-8"), app_key.encode("utf-8")):
            return False
        if not timestamp_fresh(params.get("timestamp"), now=now, window=window):
            return False
        expected = sign(params, body, secret, str(method))
        return hmac.compare_digest(expected.encode("ascii"), given.upper().encode("utf-8"))
    except Exception:  # noqa: BLE001 - a verifier never raises
        return False


def signed_params(
    body: bytes,
    *,
    app_key: str,
    secret: str,
    sign_method: str = "hmac-sha256",
    extra: Optional[Mapping[str, str]] = None,
    now: Optional[float] = None,
) -> dict[str, str]:
    """The query parameters of an outgoing signed request.

    Args:
        body: the exact body that will be sent.
        app_key: our app key.
        secret: the app secret.
        sign_method: ``md5``, ``hmac`` or ``hmac-sha256``.
        extra: other query parameters (they are signed too).
        now: the Unix time to put in ``timestamp`` (now by default).

    Returns:
        ``extra`` plus ``app_key``, ``timestamp``, ``sign_method`` and ``sign``.
    """
    params = dict(extra or {})
    params.update(app_key=app_key, timestamp=format_timestamp(now), sign_method=sign_method)
    params.pop("sign", None)
    params["sign"] = sign(params, body, secret, sign_method)
    return params
