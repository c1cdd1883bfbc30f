"""The WeChat API the channel calls: access tokens and customer-service messages (客服消息).

* **Access token** (``GET {base}/cgi-bin/token``): cached in Redis (``wechat:token:{appid}``)
  until :data:`TOKEN_REFRESH_MARGIN` seconds before WeChat says it expires, so every worker
  shares one. A refresh is done by a single caller: an ``asyncio.Lock`` per worker plus
  ``redis.asyncio``'s ``Redis.lock`` across workers (``wechat:token-lock:{appid}``); whoever
  gets the lock second finds the new token in the cache.
* **Send** (``POST {base}/cgi-bin/message/custom/send``): refused with 40001/40014/42001 (token
  invalid or expired) -> that token is dropped from the cache (only if it is still the cached
  one) and the send retried once with a fresh token; refused with 45015 (the customer has not
  written for 48 hours) -> further sends to that customer stop until they write again
  (``wechat:closed:{openid}``, 7 days) and their open tickets are marked
  (:func:`bot.services.contact.mark_tickets_for_other_contact`).
* **HTTP**: one aiohttp session per worker (:class:`bot.channels.common.HttpClient`); a call
  that could not connect (nothing reached WeChat) is retried once after 0.2 s by aiohttp-retry,
  anything else fails at once with :class:`WeChatApiError`. URLs carry secrets and are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from bot.channels.common import HttpClient
from bot.channels.wechat.config import CHANNEL, KEY_PREFIX, WeChatConfig
from bot.channels.wechat.inbound import sender_id_for
from bot.privacy import mask_pii
from bot.services import contact
from bot.store import client as stores

if TYPE_CHECKING:
    from aiohttp_retry import ExponentialRetry
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

TOKEN_REFRESH_MARGIN = 300
"""A cached access token is dropped this many seconds before WeChat says it expires."""
TOKEN_LOCK_TTL = 15
"""Seconds the cross-worker refresh lock is held at most (a token fetch takes well under that)."""
WINDOW_CLOSED_TTL = 7 * 24 * 3600
HTTP_TIMEOUT = 10.0
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
"""Access token invalid (40001, 40014) or expired (42001): refresh and retry once."""
WINDOW_CLOSED = 45015
"""The customer has not written within 48 hours: customer-service messages are refused."""


class WeChatApiError(RuntimeError):
    """A WeChat API call failed (network, HTTP status or a non-zero ``errcode``).

    Attributes:
        errcode: WeChat's ``errcode`` when WeChat answered one, else None.
    """

    def __init__(self, message: str, errcode: Optional[int] = None) -> None:
        super().__init__(message)
        self.errcode = errcode


def _retry_once_if_unreachable() -> ExponentialRetry:
    import aiohttp
    from aiohttp_retry import ExponentialRetry

    # Only a failed connection is safe to repeat: a send that reached WeChat may have been delivered.
    return ExponentialRetry(
        attempts=2,
        start_timeout=0.1,
        statuses=set(),
        retry_all_server_errors=False,
        exceptions={aiohttp.ClientConnectorError},
    )


class WeChatApi:
    """Access tokens and customer-service messages, shared across workers through Redis.

    Args:
        config: The channel's settings.
        redis: A ``redis.asyncio`` client (``decode_responses=True``); created from the
            ``REDIS_*`` environment on first use when not given.
    """

    def __init__(self, config: WeChatConfig, redis: Optional[Redis] = None) -> None:
        self.config = config
        self._redis = redis
        self.http = HttpClient(_retry_once_if_unreachable(), HTTP_TIMEOUT)
        self._local_lock: Optional[asyncio.Lock] = None

    @property
    def redis(self) -> Redis:
        """The Redis client (created lazily, in the worker's loop)."""
        if self._redis is None:
            self._redis = stores.redis_from_env()
        return self._redis

    async def close(self) -> None:
        """Closes the HTTP session."""
        await self.http.close()

    @property
    def token_key(self) -> str:
        """Where the access token is cached."""
        return f"{KEY_PREFIX}:token:{self.config.app_id}"

    @property
    def token_lock_key(self) -> str:
        """The cross-worker refresh lock."""
        return f"{KEY_PREFIX}:token-lock:{self.config.app_id}"

    @staticmethod
    def closed_key(openid: str) -> str:
        """Set while the customer's 48-hour window is closed."""
        return f"{KEY_PREFIX}:closed:{openid}"

    # access token ----------------------------------------------------------------------
    async def access_token(self) -> str:
        """The cached access token, fetched by one caller across all workers when missing.

        Raises:
            WeChatApiError: the token could not be fetched, or another worker held the
                refresh lock for longer than :data:`TOKEN_LOCK_TTL` + 5 seconds.
        """
        from redis.exceptions import LockError

        token = await self.redis.get(self.token_key)
        if token:
            return str(token)
        if self._local_lock is None:
            self._local_lock = asyncio.Lock()
        async with self._local_lock:  # one caller per worker ...
            token = await self.redis.get(self.token_key)
            if token:
                return str(token)
            lock = self.redis.lock(
                self.token_lock_key, timeout=TOKEN_LOCK_TTL, blocking_timeout=TOKEN_LOCK_TTL + 5, thread_local=False
            )
            if not await lock.acquire():  # ... and one across workers
                raise WeChatApiError("timed out waiting for another worker to fetch the access token")
            try:
                token = await self.redis.get(self.token_key)  # fetched while we waited?
                if token:
                    return str(token)
                token, expires_in = await self._fetch_token()
                await self.redis.set(self.token_key, token, ex=max(60, expires_in - TOKEN_REFRESH_MARGIN))
                return token
            finally:
                try:
                    await lock.release()
                except LockError:  # expired meanwhile; nothing to release
                    logger.warning("WeChat token lock expired before it was released")

    async def drop_token(self, bad_token: str) -> None:
        """Forgets ``bad_token`` if it is still the cached one (a newer token is kept).

        Compare-and-delete with WATCH/MULTI: if another caller replaces the token in between,
        the transaction is discarded.
        """
        from redis.exceptions import WatchError

        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(self.token_key)
                if await pipe.get(self.token_key) == bad_token:
                    pipe.multi()
                    pipe.delete(self.token_key)
                    await pipe.execute()
            except WatchError:
                pass  # replaced meanwhile: the new token stays

    async def _fetch_token(self) -> Tuple[str, int]:
        url = f"{self.config.api_base}/cgi-bin/token"
        params = {"grant_type": "client_credential", "appid": self.config.app_id, "secret": self.config.app_secret}
        data = await self._call("GET", url, params=params)
        token = data.get("access_token")
        if not token or not isinstance(token, str):
            errcode = errcode_of(data)
            raise WeChatApiError(
                f"access token refused: errcode {errcode} {str(data.get('errmsg') or '')[:100]}", errcode
            )
        try:
            expires_in = int(data.get("expires_in") or 7200)
        except (TypeError, ValueError):
            expires_in = 7200
        logger.info("WeChat access token fetched for %s (expires in %s s)", self.config.app_id, expires_in)
        return token, expires_in

    async def _call(
        self, method: str, url: str, *, params: Dict[str, str], body: Optional[bytes] = None
    ) -> Dict[str, Any]:
        """One API call (retried once if it could not connect); the URL (with secrets) is never logged."""
        import aiohttp

        headers = {"Content-Type": "application/json; charset=utf-8"} if body is not None else None
        try:
            async with self.http.request(method, url, params=params, data=body, headers=headers) as reply:
                text = await reply.text()
                if reply.status != 200:
                    raise WeChatApiError(f"WeChat API answered HTTP {reply.status}")
        except aiohttp.ClientConnectorError as error:
            raise WeChatApiError(f"WeChat API unreachable: {type(error).__name__}")
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise WeChatApiError(f"WeChat API call failed: {type(error).__name__}")
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise WeChatApiError("WeChat API answered something that is not a JSON object")
        return data

    # sending ----------------------------------------------------------------------------
    async def window_closed(self, openid: str) -> bool:
        """The customer's 48-hour window is known to be closed."""
        return bool(await self.redis.exists(self.closed_key(openid)))

    async def reopen_window(self, openid: str) -> None:
        """The customer wrote: customer-service messages may go out again."""
        await self.redis.delete(self.closed_key(openid))

    async def send(self, openid: str, payload: Dict[str, Any]) -> bool:
        """Sends one customer-service message (客服消息).

        Args:
            openid: The customer.
            payload: The message without ``touser`` (``{"msgtype": "text", "text": {...}}``).

        Returns:
            True when WeChat accepted it; False when the customer's 48-hour window is closed
            (nothing is sent; their open tickets were marked for another contact route).

        Raises:
            WeChatApiError: WeChat refused the message or could not be reached.
        """
        if await self.window_closed(openid):
            logger.warning("WeChat message to %s not sent: 48-hour window closed", mask_pii(openid))
            return False
        body = json.dumps(dict(payload, touser=openid), ensure_ascii=False).encode("utf-8")
        url = f"{self.config.api_base}/cgi-bin/message/custom/send"
        for attempt in (1, 2):
            token = await self.access_token()
            data = await self._call("POST", url, params={"access_token": token}, body=body)
            errcode = errcode_of(data)
            if errcode == 0:
                return True
            if errcode in TOKEN_ERRORS and attempt == 1:
                logger.info("WeChat access token rejected (errcode %s); refreshing once", errcode)
                await self.drop_token(token)
                continue
            if errcode == WINDOW_CLOSED:
                await self._close_window(openid)
                return False
            raise WeChatApiError(
                f"WeChat refused the message: errcode {errcode} {str(data.get('errmsg') or '')[:100]}", errcode
            )
        raise WeChatApiError("unreachable")  # pragma: no cover

    async def send_text(self, openid: str, text: str) -> bool:
        """Sends a text message (see :meth:`send`)."""
        return await self.send(openid, {"msgtype": "text", "text": {"content": text}})

    async def _close_window(self, openid: str) -> None:
        """Stops sending to the customer and marks their open tickets, once per closure."""
        first = await self.redis.set(self.closed_key(openid), str(int(time.time())), nx=True, ex=WINDOW_CLOSED_TTL)
        logger.warning("WeChat 48-hour window of %s is closed; messages stop until they write again", mask_pii(openid))
        if first:
            await contact.mark_tickets_for_other_contact(self.redis, sender_id_for(openid), channel=CHANNEL)


def errcode_of(data: Dict[str, Any]) -> int:
    """WeChat's ``errcode`` (0 when absent, -1 when not a number)."""
    try:
        return int(data.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1
