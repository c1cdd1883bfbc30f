"""Is a WeChat delivery genuine, fresh and safe to parse? Pure functions, checked before parsing.

1. **Signature.** ``signature = sha1(sorted([token, timestamp, nonce]))`` compared in constant
   time, and ``timestamp`` within ``timestamp_window`` seconds of our clock (wrong or stale ->
   403, parameters missing -> 400).
2. **XML safety.** defusedxml parses the body first; a DTD or an entity declaration -> 400
   without expanding anything, malformed XML -> 400. Only then does ``wechatpy`` see it.
3. **Safe mode (安全模式).** With an EncodingAESKey every message must be encrypted:
   ``msg_signature = sha1(sorted([token, timestamp, nonce, Encrypt]))`` is checked in constant
   time (403), then ``wechatpy`` decrypts and checks the AppID (wrong AppID -> 403).

Why not ``wechatpy.utils.check_signature``: it compares with ``!=`` (not constant time) and has
no time window, so a captured delivery could be replayed for ever. The digest is the same as
``wechatpy.utils.WeChatSigner``'s (the tests check both against each other); the crypto and the
parsing are wechatpy's.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, Dict, Mapping, Optional

from bot.channels.wechat.config import DEFAULT_TIMESTAMP_WINDOW, WeChatConfig


class XmlRejected(ValueError):
    """A body that is not acceptable XML (malformed, DTD, entities, wrong shape): answered 400."""


class Refused(Exception):
    """A delivery answered without being processed.

    Attributes:
        status: the HTTP status (400 or 403).
        reason: the text of the answer (never a stack trace).
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def wechat_signature(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted parts, concatenated (as ``wechatpy.utils.WeChatSigner``)."""
    return hashlib.sha1(b"".join(sorted(p.encode("utf-8") for p in parts))).hexdigest()


def is_fresh(timestamp: object, *, now: Optional[float] = None, window: int = DEFAULT_TIMESTAMP_WINDOW) -> bool:
    """``timestamp`` (epoch seconds, as sent) is within ``window`` seconds of ``now``; never raises."""
    try:
        sent = int(str(timestamp))
        current = time.time() if now is None else now
        return abs(current - sent) <= window
    except (TypeError, ValueError, OverflowError):
        return False


def signature_matches(token: str, signature: object, *parts: Any) -> bool:
    """Constant-time check of ``signature`` against ``sha1(sorted([token, *parts]))``; never raises."""
    try:
        if not token or not isinstance(signature, str) or not all(isinstance(p, str) for p in parts):
            return False
        expected = wechat_signature(token, *parts)
        return hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("utf-8"))
    except Exception:  # noqa: BLE001 - any oddity is a wrong signature
        return False


def verify_request(
    token: str,
    signature: object,
    timestamp: object,
    nonce: object,
    *extra: object,
    now: Optional[float] = None,
    window: int = DEFAULT_TIMESTAMP_WINDOW,
) -> bool:
    """A delivery is genuine and fresh: the signature matches and the timestamp is in the window.

    Args:
        token: Our WeChat token.
        signature: ``signature`` (or ``msg_signature``) as sent.
        timestamp: ``timestamp`` as sent (epoch seconds).
        nonce: ``nonce`` as sent.
        *extra: Further signed parts (the ``Encrypt`` element for ``msg_signature``).
        now: The current time (tests); the clock by default.
        window: Accepted clock difference in seconds.

    Returns:
        True only if both hold; every malformed input gives False.
    """
    fresh = is_fresh(timestamp, now=now, window=window)
    matches = signature_matches(token, signature, timestamp, nonce, *extra)
    return fresh and matches


def safe_xml_fields(body: bytes | str) -> Dict[str, str]:
    """Parses a WeChat XML document with defusedxml and returns its top-level fields.

    DTDs, entity declarations and external references are refused before anything is
    expanded; the caller may hand the same document to ``wechatpy`` afterwards.

    Raises:
        XmlRejected: malformed XML, a DTD or entity, or a root other than ``<xml>``.
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    raw = body.encode("utf-8") if isinstance(body, str) else body
    if not raw or not raw.strip():
        raise XmlRejected("empty body")
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise XmlRejected("XML with a DTD or entities is not accepted")
    except (ParseError, ValueError, TypeError) as error:
        raise XmlRejected(f"malformed XML: {str(error)[:80]}")
    if root.tag != "xml":
        raise XmlRejected("root element must be <xml>")
    return {child.tag: (child.text or "") for child in root}


def check_signed(config: WeChatConfig, args: Mapping[str, Any]) -> None:
    """The query's ``signature``/``timestamp``/``nonce`` check (URL verification and messages).

    Raises:
        Refused: 400 when a parameter is missing, 403 when wrong or stale.
    """
    signature, timestamp, nonce = args.get("signature"), args.get("timestamp"), args.get("nonce")
    if not (signature and timestamp and nonce):
        raise Refused(400, "missing signature, timestamp or nonce")
    if not verify_request(config.token, signature, timestamp, nonce, window=config.timestamp_window):
        raise Refused(403, "forbidden")


class Envelope:
    """Opens a (possibly encrypted) delivery: the plain message XML, or a refusal.

    Args:
        config: the channel's settings; safe mode when it has an EncodingAESKey.
    """

    def __init__(self, config: WeChatConfig) -> None:
        self.config = config
        self._crypto: Any = None
        if config.safe_mode:
            from wechatpy.crypto import WeChatCrypto

            self._crypto = WeChatCrypto(config.token, config.encoding_aes_key, config.app_id)

    def open(self, args: Mapping[str, Any], body: bytes) -> bytes:
        """The message XML of a delivery whose query signature was already checked.

        Args:
            args: the query parameters (``encrypt_type``, ``msg_signature``, ``timestamp``, ``nonce``).
            body: the raw body (at most 64 KB).

        Raises:
            Refused: 400 (plain text in safe mode, encrypted without a key, ``msg_signature``
                or ``Encrypt`` missing), 403 (``msg_signature`` wrong or another AppID).
            XmlRejected: unsafe or malformed XML, or an ``Encrypt`` that cannot be decrypted.
        """
        encrypted = (args.get("encrypt_type") or "").lower() == "aes"
        if not self.config.safe_mode:
            if encrypted:
                raise Refused(400, "encrypted message but no WECHAT_ENCODING_AES_KEY configured")
            return body
        if not encrypted:
            raise Refused(400, "encrypted messages expected (safe mode)")
        msg_signature, timestamp, nonce = args.get("msg_signature"), args.get("timestamp"), args.get("nonce")
        if not msg_signature:
            raise Refused(400, "missing msg_signature")
        encrypt = safe_xml_fields(body).get("Encrypt") or ""
        if not encrypt:
            raise Refused(400, "missing Encrypt")
        if not verify_request(
            self.config.token, msg_signature, timestamp, nonce, encrypt, window=self.config.timestamp_window
        ):
            raise Refused(403, "forbidden")
        return self._decrypt(encrypt, str(msg_signature), str(timestamp), str(nonce))

    def _decrypt(self, encrypt: str, msg_signature: str, timestamp: str, nonce: str) -> bytes:
        from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

        try:
            plain = self._crypto.decrypt_message({"Encrypt": encrypt}, msg_signature, timestamp, nonce)
        except (InvalidAppIdException, InvalidSignatureException):
            raise Refused(403, "forbidden")
        except Exception as error:  # noqa: BLE001 - bad base64, padding, encoding
            raise XmlRejected(f"cannot decrypt: {type(error).__name__}")
        return plain.encode("utf-8") if isinstance(plain, str) else plain
