"""Local stand-ins for the platforms' HTTP APIs the bot calls (the network edge), for tools.

:class:`FakeWeChatApi` answers WeChat's ``/cgi-bin/token`` and ``/cgi-bin/message/custom/send``
on a free port of 127.0.0.1 and records every customer-service message with the time it arrived,
so that a tool (``make soak``) can point a cluster's ``WECHAT_API_BASE`` at it and see what each
customer received. (tests/channels/test_wechat.py keeps its own richer fake, with token
rejection and closed windows, for the channel's unit-level tests.)

    fake = FakeWeChatApi("wx1234567890abcdef", "secret")
    await fake.start()                  # in the running event loop
    env = {"WECHAT_API_BASE": fake.base, ...}
    fake.texts_to("o-openid")           # what that customer was sent, in order
    await fake.stop()
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from aiohttp import web

from tools.devstack import free_port


@dataclass
class Sent:
    """One customer-service message WeChat accepted.

    Attributes:
        openid: the recipient (``touser``).
        msgtype: WeChat's ``msgtype`` (``text`` for what the bot writes).
        text: the text content ("" for other types).
        at: ``time.monotonic()`` when the fake received it.
        body: the JSON body as sent.
    """

    openid: str
    msgtype: str
    text: str
    at: float
    body: Dict[str, Any]


class FakeWeChatApi:
    """WeChat's token and customer-service routes, recording every accepted message.

    Args:
        app_id: the AppID whose token requests are answered (others get errcode 40013).
        secret: the AppSecret that goes with it.

    Attributes:
        base: ``http://127.0.0.1:<port>``, for ``WECHAT_API_BASE``.
        sends: every accepted message, in arrival order.
        token_fetches: how many access tokens were issued.
        on_send: optional callback called with each :class:`Sent` (in the event loop).
    """

    def __init__(self, app_id: str, secret: str) -> None:
        self.app_id = app_id
        self.secret = secret
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.sends: List[Sent] = []
        self.token_fetches = 0
        self.on_send: Optional[Callable[[Sent], None]] = None
        self._issued: set[str] = set()
        self._runner: Optional[web.AppRunner] = None

    async def start(self) -> None:
        """Starts listening (in the running event loop)."""
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024).start()

    async def stop(self) -> None:
        """Stops listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _token(self, request: web.Request) -> web.Response:
        query = request.query
        if (
            query.get("grant_type") != "client_credential"
            or query.get("appid") != self.app_id
            or query.get("secret") != self.secret
        ):
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        self.token_fetches += 1
        token = f"ACCESS_TOKEN_{self.token_fetches}"
        self._issued.add(token)
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def _send(self, request: web.Request) -> web.Response:
        if request.query.get("access_token", "") not in self._issued:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
        body = await request.json()
        msgtype = str(body.get("msgtype") or "")
        text = str((body.get("text") or {}).get("content") or "") if msgtype == "text" else ""
        sent = Sent(str(body.get("touser") or ""), msgtype, text, time.monotonic(), body)
        self.sends.append(sent)
        if self.on_send is not None:
            self.on_send(sent)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def texts_to(self, openid: str) -> List[str]:
        """The texts sent to ``openid``, in order."""
        return [s.text for s in self.sends if s.openid == openid and s.msgtype == "text"]

    async def wait_for(self, openid: str, count: int = 1, timeout: float = 10.0) -> List[str]:
        """Waits until ``count`` texts were sent to ``openid``.

        Raises:
            TimeoutError: fewer arrived within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while len(self.texts_to(openid)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} message(s) to {openid} not sent within {timeout} s")
            await asyncio.sleep(0.05)
        return self.texts_to(openid)
