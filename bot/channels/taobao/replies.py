"""The bot's answers to a buyer: POSTed, signed, to the shop integration's ``TAOBAO_REPLY_URL``.

Query parameters ``app_key``, ``timestamp``, ``sign_method``, ``sign`` (the TOP algorithm of
:mod:`.sign`, over the query and the exact JSON body), body :class:`TaobaoReply`.

A 2xx answer is success; connection errors, timeouts, 408, 429 and 5xx are retried by
aiohttp-retry (4 attempts by default, backoff 0.5 s, 1 s, 2 s) on one aiohttp session per
worker, then logged as errors (masked); other 4xx are logged at once. A failed delivery never
raises. The signature is made once per reply (its timestamp stays well inside TOP's 10 minutes
over the retries) and the ``reply_id`` is the same on every attempt, so the shop side can drop
repeats.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
import uuid
from typing import Any, Dict, List, Optional, Text

from pydantic import BaseModel
from rasa.core.channels.channel import OutputChannel

from bot.channels.common import HttpClient
from bot.channels.taobao import sign
from bot.channels.taobao.config import CHANNEL
from bot.channels.taobao.inbound import nick_of
from bot.privacy import mask_pii

logger = logging.getLogger(__name__)

RETRY_STATUSES = {408, 429}
"""Retried besides every 5xx."""


class ReplyButton(BaseModel):
    """A quick reply: ``payload`` is what the buyer would type (the options are also listed in ``text``)."""

    title: str
    payload: str


class TaobaoReply(BaseModel):
    """The JSON posted for one bot message.

    Attributes:
        buyer_nick: the recipient.
        reply_id: idempotency key, identical on every retry of this reply.
        in_reply_to: the ``message_id`` answered; None for agents' and follow-up messages.
        text: the text, when there is one.
        image_url: an image, when there is one.
        buttons: quick replies, when there are any.
    """

    buyer_nick: str
    reply_id: str
    in_reply_to: Optional[str]
    text: Optional[str] = None
    image_url: Optional[str] = None
    buttons: Optional[List[ReplyButton]] = None


def reply_body(
    buyer_nick: str, message: Dict[str, Any], *, reply_id: str, in_reply_to: Optional[str]
) -> Optional[Dict[str, Any]]:
    """The JSON posted for one Rasa bot message (None when it has nothing Taobao can show)."""
    text = message.get("text") or ""
    image = message.get("image") or ""
    if not isinstance(text, str) or not isinstance(image, str):
        return None
    if not text.strip() and not image:
        return None
    buttons = message.get("buttons") or message.get("quick_replies") or []
    choices = [
        ReplyButton(title=str(b.get("title")), payload=str(b.get("payload", b.get("title"))))
        for b in buttons
        if isinstance(b, dict) and b.get("title")
    ]
    reply = TaobaoReply(
        buyer_nick=buyer_nick,
        reply_id=reply_id,
        in_reply_to=in_reply_to,
        text=text if text.strip() else None,
        image_url=image or None,
        buttons=choices or None,
    )
    return reply.dict(exclude_none=True) | {"in_reply_to": in_reply_to}


class ReplySender:
    """Posts signed replies to ``TAOBAO_REPLY_URL`` with bounded retries; never raises.

    Args:
        url: the reply endpoint (its own query parameters are kept and signed too).
        app_key: our app key.
        secret: the signing secret.
        sign_method: ``md5``, ``hmac`` or ``hmac-sha256``.
        attempts: attempts per reply, at least 1.
        timeout: seconds per attempt.
        backoff: seconds before the second attempt; doubled for each further one.
    """

    def __init__(
        self,
        url: str,
        app_key: str,
        secret: str,
        *,
        sign_method: str = "hmac-sha256",
        attempts: int = 4,
        timeout: float = 5.0,
        backoff: float = 0.5,
    ) -> None:
        import aiohttp
        from aiohttp_retry import ExponentialRetry

        if sign_method not in sign.SIGN_METHODS:
            raise ValueError(f"reply sign_method must be one of {sign.SIGN_METHODS}")
        parts = urllib.parse.urlsplit(url)
        self.base_url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self.url_params = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        self.app_key = app_key
        self.secret = secret
        self.sign_method = sign_method
        self.attempts = max(1, int(attempts))
        # ExponentialRetry waits start_timeout * 2**attempt: backoff, 2*backoff, 4*backoff, ...
        retry = ExponentialRetry(
            attempts=self.attempts,
            start_timeout=float(backoff) / 2,
            statuses=RETRY_STATUSES,
            retry_all_server_errors=True,
            exceptions={aiohttp.ClientError, asyncio.TimeoutError, OSError},
        )
        self.http = HttpClient(retry, float(timeout))

    async def close(self) -> None:
        """Closes the HTTP session (at server stop)."""
        await self.http.close()

    async def send(
        self, buyer_nick: str, message: Dict[str, Any], *, reply_id: str, in_reply_to: Optional[str] = None
    ) -> bool:
        """Delivers one bot message.

        Args:
            buyer_nick: the recipient.
            message: a Rasa bot message (``text``, ``image``, ``buttons``, ...).
            reply_id: the idempotency key, sent unchanged on every attempt.
            in_reply_to: the buyer's message id this answers, if any.

        Returns:
            True when delivered (or nothing to deliver), False after giving up (logged).
        """
        body = reply_body(buyer_nick, message, reply_id=reply_id, in_reply_to=in_reply_to)
        if body is None:
            logger.debug("taobao: nothing sendable in a bot message for %s", mask_pii(buyer_nick))
            return True
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return await self.post(raw, what=f"reply {reply_id} to {buyer_nick}")

    async def post(self, raw: bytes, *, what: str) -> bool:
        """POSTs a signed JSON body; True on a 2xx, False (logged, masked) after giving up."""
        from yarl import URL

        tally = {"attempts": 0}
        try:
            params = sign.signed_params(
                raw, app_key=self.app_key, secret=self.secret, sign_method=self.sign_method, extra=self.url_params
            )
            url = URL(f"{self.base_url}?{urllib.parse.urlencode(params, quote_via=urllib.parse.quote)}", encoded=True)
            async with self.http.request(
                "POST", url, data=raw, tally=tally, headers={"Content-Type": "application/json; charset=utf-8"}
            ) as answer:
                if 200 <= answer.status < 300:
                    return True
                detail = f"HTTP {answer.status}"
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - network errors after the last attempt, a bad URL, a bug
            detail = f"{type(error).__name__}: {error}"
        logger.error(
            "taobao %s not delivered after %d attempt(s): %s", mask_pii(what), tally["attempts"], mask_pii(detail)
        )
        return False


class TaobaoOutput(OutputChannel):
    """Sends bot messages to a buyer through the signed reply endpoint.

    Args:
        sender: the channel's :class:`ReplySender`.
        in_reply_to: the buyer message answered (None for agents and follow-ups).
    """

    @classmethod
    def name(cls) -> Text:
        """Messages sent this way belong to the Taobao channel."""
        return CHANNEL

    def __init__(self, sender: ReplySender, in_reply_to: Optional[str] = None) -> None:
        self.sender = sender
        self.in_reply_to = in_reply_to
        self.delivered: List[bool] = []

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        """One POST per bot message (text, image and buttons together); reply id a fresh uuid."""
        try:
            nick = nick_of(recipient_id)
        except ValueError:
            logger.error("taobao: cannot send to %s, not a Taobao conversation", mask_pii(str(recipient_id)))
            self.delivered.append(False)
            return
        reply_id = uuid.uuid4().hex
        self.delivered.append(
            await self.sender.send(nick, dict(message), reply_id=reply_id, in_reply_to=self.in_reply_to)
        )

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """Text only."""
        await self.send_response(recipient_id, {"text": text})

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        """An image by URL."""
        await self.send_response(recipient_id, {"image": image})
