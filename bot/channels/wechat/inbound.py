"""What a (decrypted, verified) WeChat delivery means for the bot: XML -> :class:`Inbound`.

Message types: text goes to the bot (a leading "/" is neutralised like on every channel); an
image goes to the bot as ``[图片]`` with ``metadata["image"]`` (``media_id``, ``pic_url``); voice
goes to the bot as WeChat's own transcript (``Recognition``) when there is one, otherwise the
customer is asked to type (``voice_not_recognised``); video, short video, location, link and
any other message type are ``unsupported``; ``subscribe`` is ``welcome``; other events are
``ignore``d.

Every conversation is ``sender_id = "wechat:<openid>"`` with metadata
``{"customer_id": openid, "channel": "wechat", "msg_type": ..., "message_id": MsgId}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from bot.channels.common import escape_user_text
from bot.channels.wechat.config import CHANNEL, KEY_PREFIX, SENDER_PREFIX
from bot.channels.wechat.security import XmlRejected, safe_xml_fields

IMAGE_TEXT = "[图片]"
"""The text an image stands for in the conversation (a marker the NLU keeps, not a reply)."""
DEDUP_TTL = 3600
"""Seconds a delivery id is remembered; WeChat's retries end after about 15 seconds."""


@dataclass
class Inbound:
    """What a WeChat delivery means for the bot.

    Attributes:
        kind: ``bot`` (a user message for Rasa), ``voice_not_recognised``, ``unsupported``,
            ``welcome`` or ``ignore``.
        openid: The customer (``FromUserName``).
        msg_type: WeChat's ``MsgType`` (``event`` for events).
        dedup_key: The delivery's identity (``msg:<openid>:<MsgId>`` — two customers' messages
            can carry the same ``MsgId`` — or ``event:<openid>:<time>:<event>``).
        text: The text for Rasa (``bot`` only).
        message_id: WeChat's ``MsgId`` (None for events).
        metadata: The message metadata for Rasa.
        event: The event name, lower case (events only).
    """

    kind: str
    openid: str
    msg_type: str
    dedup_key: str
    text: str = ""
    message_id: Optional[str] = None
    metadata: Dict[str, Any] = field(default_factory=dict)
    event: Optional[str] = None

    @property
    def sender_id(self) -> str:
        """The Rasa conversation id."""
        return sender_id_for(self.openid)


def sender_id_for(openid: str) -> str:
    """``wechat:<openid>``."""
    return SENDER_PREFIX + openid


def openid_of(recipient_id: str) -> str:
    """The openid of a Rasa conversation id (``wechat:<openid>`` or a bare openid)."""
    return recipient_id[len(SENDER_PREFIX) :] if recipient_id.startswith(SENDER_PREFIX) else recipient_id


def dedup_key(app_id: str, inbound: Inbound) -> str:
    """The Redis key that claims a delivery (``SET NX EX`` for :data:`DEDUP_TTL` seconds)."""
    return f"{KEY_PREFIX}:seen:{app_id}:{inbound.dedup_key}"


def parse_inbound(xml: bytes | str) -> Inbound:
    """Turns a (decrypted) WeChat message into an :class:`Inbound`.

    The XML is checked with :func:`~bot.channels.wechat.security.safe_xml_fields` before
    ``wechatpy.parser.parse_message`` sees it.

    Raises:
        XmlRejected: unsafe or malformed XML, or a message without sender, type, time or id.
    """
    from wechatpy.parser import parse_message

    fields = safe_xml_fields(xml)
    if not fields.get("MsgType", "").strip():
        raise XmlRejected("MsgType missing")
    try:
        message = parse_message(xml.decode("utf-8") if isinstance(xml, bytes) else xml)
        openid = (message.source or "").strip()
        msg_type = str(fields["MsgType"]).strip().lower()
        create_time = str(fields.get("CreateTime") or "").strip()
        int(create_time)
    except Exception as error:  # noqa: BLE001 - anything wechatpy cannot read is a bad request
        raise XmlRejected(f"not a WeChat message: {type(error).__name__}")
    if not openid or len(openid) > 128:
        raise XmlRejected("FromUserName missing")
    base = {"customer_id": openid, "channel": CHANNEL, "msg_type": msg_type}

    if msg_type == "event":
        event = str(fields.get("Event") or "").strip().lower()
        key = f"event:{openid}:{create_time}:{event}"
        kind = "welcome" if event in ("subscribe", "subscribe_scan") else "ignore"
        return Inbound(
            kind=kind,
            openid=openid,
            msg_type=msg_type,
            dedup_key=key,
            event=event,
            metadata=dict(base, event=event, message_id=None),
        )

    message_id = str(fields.get("MsgId") or "").strip()
    if not message_id.isdigit():
        raise XmlRejected("MsgId missing")
    metadata: Dict[str, Any] = dict(base, message_id=message_id)
    inbound = Inbound(
        kind="bot",
        openid=openid,
        msg_type=msg_type,
        dedup_key=f"msg:{openid}:{message_id}",
        message_id=message_id,
        metadata=metadata,
    )
    if msg_type == "text":
        inbound.text = escape_user_text(fields.get("Content") or "")
    elif msg_type == "image":
        inbound.text = IMAGE_TEXT
        metadata["image"] = {"media_id": fields.get("MediaId") or "", "pic_url": fields.get("PicUrl") or ""}
    elif msg_type == "voice":
        recognition = (fields.get("Recognition") or "").strip()
        metadata["voice"] = {"media_id": fields.get("MediaId") or "", "format": fields.get("Format") or ""}
        if recognition:
            inbound.text = escape_user_text(recognition)
            metadata["voice"]["recognition"] = True
        else:
            inbound.kind = "voice_not_recognised"
    else:  # video, shortvideo, location, link, miniprogrampage, anything new
        inbound.kind = "unsupported"
    return inbound
