"""What every connector does the same way: customer text, body limits, background turns.

* :func:`escape_user_text`: empty input becomes the ``/empty_message`` intent and a leading "/"
  is neutralised, so customers cannot trigger intents directly (SPEC.md section 9).
* :data:`MAX_MESSAGE_CHARS`, :data:`MAX_SENDER_CHARS`: the size limits of a customer message
  and of a conversation id, the same on every channel.
* :func:`read_body`: a streamed request body, refused as soon as it is over a limit.
* :class:`HttpClient`: one aiohttp session per connector and worker, with aiohttp-retry for
  the platform's send API (created on first use in the server's loop, closed at stop).
* :class:`OrderedTasks`: platforms with reply deadlines (WeChat, Taobao) are acknowledged at
  once and the turn runs in a tracked background task; one customer's messages run one after
  the other, in arrival order (per worker), and the tasks are drained when the server stops.

Nothing here knows a platform; the connectors import from here, never from each other.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Set

from sanic.request import Request

if TYPE_CHECKING:
    from types import SimpleNamespace

    from aiohttp import ClientSession, TraceRequestStartParams
    from aiohttp.typedefs import StrOrURL
    from aiohttp_retry import RetryClient, RetryOptionsBase
    from aiohttp_retry.client import _RequestContext

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 20_000
"""Longest customer message accepted, in characters (REST 413, Taobao 413, widget: a reply)."""
MAX_SENDER_CHARS = 128
"""Longest conversation id a client may name, in characters."""
EMPTY_MESSAGE_INTENT = "/empty_message"
"""What an empty or whitespace-only message becomes (an intent of ``domain.yml``)."""


def escape_user_text(message: str) -> str:
    """Maps empty input to the empty-message intent and neutralises a leading "/".

    Rasa treats text starting with "/" as a direct intent trigger; customers must not be able
    to do that. The full-width slash is turned back into "/" by the NLU normaliser
    (``bot/language/normalize.py``).

    Args:
        message: the customer's text as received.

    Returns:
        The text to hand to Rasa.
    """
    stripped = message.strip()
    if not stripped:
        return EMPTY_MESSAGE_INTENT
    if stripped.startswith("/"):
        return "／" + stripped[1:]
    return message


async def read_body(request: Request, limit: int) -> Optional[bytes]:
    """The request body, or None as soon as it is longer than ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before reading; a streamed
    (``stream=True`` route) or chunked body is read chunk by chunk and never buffered beyond
    ``limit``.

    Args:
        request: the Sanic request.
        limit: the largest accepted body, in bytes.
    """
    length = request.headers.get("content-length") or ""
    if length.strip().isdigit() and int(length) > limit:
        return None
    stream = getattr(request, "stream", None)
    if stream is None or request.body:
        # Sanic 21.12 sets ``request.stream`` on every request; on a route that does not stream,
        # the body is already read into ``request.body`` and the stream yields nothing.
        body = request.body or b""
        return None if len(body) > limit else body
    chunks: List[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class OrderedTasks:
    """Background turns, tracked, one customer at a time in arrival order.

    Each :meth:`spawn` starts a task at once; a task whose key (the customer) already has one
    running waits for it first, so one customer's replies keep the order of their messages
    while different customers are handled concurrently. Ordering is per worker process: two
    workers order only what each of them received.

    Args:
        channel: the channel's name, for task names and the log.
    """

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._tasks: Set["asyncio.Task[None]"] = set()
        self._tails: Dict[str, "asyncio.Task[None]"] = {}

    @property
    def pending(self) -> int:
        """Tasks not finished yet (running or waiting for the customer's previous message)."""
        return sum(1 for task in self._tasks if not task.done())

    def spawn(self, key: str, work: Callable[[], Awaitable[None]], *, name: str = "") -> "asyncio.Task[None]":
        """Runs ``work()`` in a tracked task after the previous task of ``key``.

        Args:
            key: the customer (their conversation id).
            work: the turn; it should handle its own errors (an escaping exception is logged).
            name: the task's name (for the log), e.g. the platform message id.

        Returns:
            The task.
        """
        previous = self._tails.get(key)

        async def run() -> None:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a background task must not die silently
                logger.exception("%s: background turn %s failed", self.channel, name or key)

        task = asyncio.get_running_loop().create_task(run(), name=f"{self.channel}:{name or key}")
        self._tasks.add(task)
        self._tails[key] = task

        def forget(done: "asyncio.Task[None]") -> None:
            self._tasks.discard(done)
            if self._tails.get(key) is done:
                del self._tails[key]

        task.add_done_callback(forget)
        return task

    async def drain(self, timeout: float = 10.0) -> None:
        """Waits for the tasks in progress (at shutdown, in tests); cancels what is left after ``timeout`` seconds.

        A cancelled task gets up to 2 more seconds to record what it could not finish.
        """
        pending = [task for task in self._tasks if not task.done()]
        if not pending:
            return
        _, still = await asyncio.wait(pending, timeout=timeout)
        for task in still:
            logger.error("%s still running at shutdown, cancelled", task.get_name())
            task.cancel()
        if still:
            await asyncio.wait(still, timeout=2.0)


class HttpClient:
    """One aiohttp session for a connector in one worker, retried by aiohttp-retry.

    The session is created on first use (inside the server's event loop, never at import) and
    reused for every call until :meth:`close` (the connector's ``before_server_stop`` listener).

    Args:
        retry: when and how often a request is repeated (``aiohttp_retry.ExponentialRetry``).
        timeout: total seconds for one attempt.
    """

    def __init__(self, retry: "RetryOptionsBase", timeout: float) -> None:
        self.retry = retry
        self.timeout = timeout
        self._client: Optional["RetryClient"] = None

    def client(self) -> "RetryClient":
        """The retrying client (created on first use)."""
        import aiohttp
        from aiohttp_retry import RetryClient

        if self._client is None or self._client._client.closed:
            trace = aiohttp.TraceConfig()
            # aiohttp 3.9 annotates its signals for aiosignal < 1.4 (Signal[callback]); aiosignal 1.4
            # made Signal generic over the callback's arguments, so the real callback type is refused.
            trace.on_request_start.append(_count_attempt)  # type: ignore[arg-type]
            session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout), trace_configs=[trace])
            self._client = RetryClient(client_session=session, retry_options=self.retry)
        return self._client

    def request(
        self, method: str, url: StrOrURL, *, tally: Optional[Dict[str, int]] = None, **kwargs: Any
    ) -> _RequestContext:
        """``RetryClient.request``; ``tally["attempts"]`` is set to the number of attempts made.

        Use as ``async with http.request(...) as response``. After the last attempt the last
        response is returned (a retryable status included) or the last exception raised.
        """
        return self.client().request(method, url, trace_request_ctx={"tally": tally}, **kwargs)

    async def close(self) -> None:
        """Closes the session (a later call opens a new one)."""
        if self._client is not None:
            await self._client.close()
        self._client = None


async def _count_attempt(session: ClientSession, context: SimpleNamespace, params: TraceRequestStartParams) -> None:
    info = getattr(context, "trace_request_ctx", None)
    if isinstance(info, dict) and isinstance(info.get("tally"), dict):
        info["tally"]["attempts"] = int(info.get("current_attempt") or 1)
