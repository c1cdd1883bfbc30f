"""Load with faults (``make soak``): many customers at once on REST, the widget and WeChat, against
the scaled-out topology (tools/cluster.py), with ``kill -9`` of action servers and a Rasa replica
midway; then an account of every line sent, written to ``reports/soak.md`` and ``reports/soak.json``.

    python -m tools.soak                          # 500 conversations, kills on, about 10 minutes
    python -m tools.soak --conversations 30 --no-kill --out /tmp/soak

What it does (issue 13, "Load with faults"):

* starts a local stand-in of WeChat's HTTP API (:class:`tools.fake_platforms.FakeWeChatApi`, in a
  thread of its own) and a cluster (Redis AOF, 2 action servers, 2 Rasa servers, nginx, under
  supervisord) with the WeChat channel pointed at it and the rate limits off (``RATE_LIMITS=off``:
  every simulated customer comes from this machine); the burst window is the product's default;
* runs ``--conversations`` customers, a third per channel, each starting at a random moment of
  the first ``--ramp`` seconds: a complaint in Chinese with an order number (sometimes typed as a
  burst of 2-3 quick lines), then answers to what the bot asks (yes, no photo, what they want, an
  option number, "确认"), pausing 1-3 s after each answer like a person; some customers add a
  phone number, an address or an ID number (so the log scan has something to find). REST customers
  wait for their HTTP answer; widget customers speak socket.io over long-polling
  (``socketio.AsyncClient``), bound to 127.0.0.10-29 so that nginx's sticky hash spreads them
  over both replicas, reconnecting with ``since`` as the widget does; WeChat deliveries are plain
  XML signed with wechatpy's ``WeChatSigner``; a delivery without "success" within 5 s is retried
  up to 3 times as WeChat does, and 5% of deliveries are re-posted anyway (same XML, 0-5 s later,
  often while the first is still open);
* kills (``kill -9``, behind supervisord's back) the programs of ``--kill`` at ``--kill-at``
  seconds after the first customer started (default ``actions-1`` and ``rasa-1`` when every
  customer has started, ``actions-2`` 20 s later); supervisord restarts them;
* waits until the inboxes are settled (no inbox waiting, no turn leased: a message left by the
  killed replica is swept after ``BURST_SWEEP_GRACE_SECONDS``, 30 s, a turn cut mid-way after its
  90 s lease), reads every conversation's tracker (``GET /conversations/<id>/tracker``), its
  tickets (``GET /api/tickets``) and the REST outboxes, and scans every log file of the cluster
  for unmasked personal data.

How lines are matched: the tracker's user events are the turns; a turn's text is its lines joined
with "，" (no line of the soak contains "，" or ends in punctuation), so REST and widget lines
are counted by splitting the texts; WeChat lines by their ``MsgId`` (``message_id`` and
``message_ids`` of the turn's metadata). A line is *lost* when it was sent and accepted (REST:
HTTP 200; widget: emitted on a connected socket; WeChat: a delivery answered "success") and no
turn recorded it; *recorded twice* when two turns did. A reply the customer received more often
than the conversation recorded it is an *extra answer*; *answered twice* counts both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shlex
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tools.devstack import ROOT


def _notice_texts(names: Sequence[str]) -> frozenset[str]:
    import yaml

    responses = (yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8")) or {}).get("responses") or {}
    return frozenset(str(v.get("text")) for name in names for v in responses.get(name) or [] if v.get("text"))


UNRECORDED_NOTICES = _notice_texts(("utter_paused_notice", "utter_system_error"))
"""Replies a channel sends without recording a bot event (bot/services/delivery.complete_turn)."""

WECHAT_TOKEN = "soakWeChatToken2026"
WECHAT_APP_ID = "wx50a0c0ffee0000aa"
WECHAT_SECRET = "soak-app-secret"
WEBHOOK_WECHAT = "/webhooks/wechat/webhook"
WIDGET_ADDRESSES = [f"127.0.0.{n}" for n in range(10, 30)]
WECHAT_ACK_TIMEOUT = 5.0  # WeChat waits 5 s for "success", then retries (three times at most)
WECHAT_RETRIES = 3
JOINER = "，"


# ---------------------------------------------------------------------------------------------
# what customers say (written for the soak; no line contains "，" or ends in punctuation)
# ---------------------------------------------------------------------------------------------

PRODUCTS = [
    ("台灯", "开关按了没反应"),
    ("保温杯", "盖子拧紧了还是漏水"),
    ("电动牙刷", "充了一晚上电还是开不了机"),
    ("空气炸锅", "加热的时候有股塑料味"),
    ("加湿器", "水箱底部裂了一道缝"),
    ("蓝牙耳机", "右耳一直没有声音"),
    ("羽绒服", "拉链第二天就坏了"),
    ("电饭锅", "内胆涂层一块块掉"),
]
LOGISTICS = [
    "快递一个星期了还没送到 物流信息三天没动",
    "包裹显示已经签收了 可我根本没收到",
    "快递员没打电话就把东西放驿站了 还说送货上门",
    "说好次日达 现在第四天了还在路上",
]
SERVICE = [
    "找在线客服问退款 等了一下午都没人回",
    "客服说给我补发 结果一直没消息 态度也很敷衍",
    "打客服电话一直占线 留言也没人回复",
]
OUTCOMES = {
    "product": ["换货", "退货退款", "想换个新的", "维修一下吧"],
    "logistics": ["补发吧", "催一下快递", "退款"],
    "service": ["让主管给个说法", "专人回电"],
}
CITIES = [("杭州", "西湖", "文三"), ("南京", "鼓楼", "中山北"), ("成都", "武侯", "科华北"), ("武汉", "洪山", "珞喻")]


def order_number(rng: random.Random) -> str:
    """A 16-digit order number of the shop's form."""
    return "39" + "".join(rng.choice("0123456789") for _ in range(14))


def mobile_number(rng: random.Random) -> str:
    """A mainland mobile number (11 digits, 13x-19x)."""
    return "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))


def id_number(rng: random.Random) -> str:
    """An 18-character ID number with a valid date and check digit (GB 11643)."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    body = (
        rng.choice(["330106", "320102", "510107", "420111"])
        + str(rng.randint(1965, 2002))
        + f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        + f"{rng.randint(0, 999):03d}"
    )
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights)) % 11]


def street_address(rng: random.Random) -> str:
    """A street address down to the room (what bot/privacy.py masks)."""
    city, district, road = rng.choice(CITIES)
    return f"{city}市{district}区{road}路{rng.randint(1, 300)}号{rng.randint(1, 30)}栋{rng.randint(101, 2505)}室"


@dataclass
class Persona:
    """One customer's story: what they open with and how they answer."""

    kind: str
    opening: List[str]  # one step: a single line or a quick burst of 2-3 lines
    order: str
    detail: str
    outcome: str
    pii: List[str]  # extra lines with personal data, sent as a burst after an answer


def persona(rng: random.Random) -> Persona:
    """A random customer (``rng`` seeds it, so a run can be repeated)."""
    kind = rng.choices(["product", "logistics", "service"], weights=[5, 3, 2])[0]
    order = order_number(rng)
    if kind == "product":
        item, problem = rng.choice(PRODUCTS)
        detail = f"{item}收到第二天就这样了"
        forms = [
            [f"买的{item}{problem} 订单号{order}"],
            ["你好", f"我买的{item}", f"{problem} 订单号{order}"],
            [f"{item}{problem}", f"订单号{order}"],
        ]
    elif kind == "logistics":
        problem = rng.choice(LOGISTICS)
        detail = "物流停在中转站好几天了"
        forms = [[f"{problem} 订单号{order}"], ["在吗", f"{problem}", f"订单{order}"]]
    else:
        problem = rng.choice(SERVICE)
        detail = "昨天下午在线客服那边"
        forms = [[f"{problem} 订单号{order}"], [problem, f"订单号是{order}"]]
    opening = rng.choice(forms)
    pii: List[str] = []
    roll = rng.random()
    if roll < 0.12:
        pii = [f"我电话{mobile_number(rng)} 有事直接打给我"]
    elif roll < 0.20:
        pii = [f"换货寄到{street_address(rng)}"]
    elif roll < 0.25:
        pii = [f"要实名的话我身份证号{id_number(rng)}"]
    return Persona(kind, opening, order, detail, rng.choice(OUTCOMES[kind]), pii)


def next_step(replies: Sequence[str], who: Persona, said: List[str], rng: random.Random) -> Optional[List[str]]:
    """What the customer types after the bot's ``replies`` (None: the conversation is over).

    Reads the bot's questions the way a customer would (tests/scenarios.yml shows the dialogue):
    a ticket number or a handover ends it; otherwise the last question asked is answered.
    """
    text = "\n".join(replies)
    if re.search(r"工单号|转接|转给人工|转交", text):
        return None
    if "确认的话回复" in text or "回复“确认”" in text:
        return ["确认"]
    if "回复序号" in text or "您选一个" in text:
        return [rng.choice(["1", "选1", "第一个"])]
    if "希望" in text and "处理" in text:
        return [who.outcome]
    if "照片" in text or "凭证" in text:
        return [rng.choice(["没有照片", "没拍照片", "没有"])]
    if "订单号" in text:
        return ["找不到订单号了"] if any(who.order in line for line in said) else [f"订单号{who.order}"]
    if "对吗" in text:
        return [rng.choice(["对", "是的", "对的 没错"])]
    if "具体" in text:
        return [who.detail]
    if "没太明白" in text or "再说一下" in text:
        return [who.opening[-1] + " 就是这个问题"]
    return ["转人工"]


# ---------------------------------------------------------------------------------------------
# what happened
# ---------------------------------------------------------------------------------------------


@dataclass
class Line:
    """One line a customer sent.

    ``status``: ``accepted`` (REST 200; widget emitted on a connected socket; WeChat "success"),
    ``refused`` (an HTTP error or no answer), ``unsent`` (the widget never got a connection).
    """

    text: str
    sent_at: float
    status: str = "pending"
    http_status: Optional[int] = None
    msg_id: Optional[str] = None
    seconds: Optional[float] = None  # REST: the request; WeChat: the first "success"
    deliveries: int = 0  # WeChat: POSTs of this MsgId (retries included)


@dataclass
class Conversation:
    """One simulated customer."""

    channel: str
    sender_id: str
    handle: str  # REST sender / widget session id / WeChat openid
    who: Persona
    lines: List[Line] = field(default_factory=list)
    replies: List[Tuple[float, str]] = field(default_factory=list)  # (monotonic time, text)
    step_latencies: List[float] = field(default_factory=list)
    unanswered_steps: int = 0
    finished: bool = False
    error: str = ""
    address: str = ""


@dataclass
class Event:
    """Something the soak did or saw, seconds after the first customer started."""

    at: float
    what: str


@dataclass
class SoakConfig:
    """How big and how rough a soak is (the command-line flags)."""

    conversations: int = 500
    ramp: float = 60.0
    kills: List[Tuple[float, str]] = field(default_factory=list)
    retry_share: float = 0.05
    max_steps: int = 6
    reply_timeout: float = 90.0
    settle_timeout: float = 300.0
    seed: int = 13
    channels: Tuple[str, ...] = ("rest", "webchat", "wechat")


class Soak:
    """Drives one soak against a running cluster and the fake WeChat API."""

    def __init__(self, cluster: Any, fake: Any, config: SoakConfig) -> None:
        self.cluster = cluster
        self.fake = fake
        self.config = config
        self.rng = random.Random(config.seed)
        self.conversations: List[Conversation] = []
        self.events: List[Event] = []
        self.kills: List[Dict[str, Any]] = []
        self.start = 0.0
        self.statuses: Dict[str, Counter] = {c: Counter() for c in config.channels}
        self.errors_timeline: List[Tuple[float, str, int]] = []  # (t, channel, status) of every non-2xx
        self.wechat_acks: List[float] = []
        self.wechat_extra_deliveries = 0
        self.by_openid: Dict[str, Conversation] = {}
        self._seen_sends = 0

    # -- helpers ------------------------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self.start

    def note(self, what: str) -> None:
        self.events.append(Event(round(self.now(), 1), what))
        print(f"[soak {self.now():6.1f}s] {what}", flush=True)

    def _status(self, channel: str, status: int) -> None:
        self.statuses[channel][str(status)] += 1
        if not 200 <= status < 300:
            self.errors_timeline.append((round(self.now(), 2), channel, status))

    def _pump_wechat(self) -> None:
        """Hands the fake API's new sends to their conversations (called from the customers' loop)."""
        sends = self.fake.sends
        while self._seen_sends < len(sends):
            sent = sends[self._seen_sends]
            self._seen_sends += 1
            conversation = self.by_openid.get(sent.openid)
            if conversation is not None and sent.msgtype == "text":
                conversation.replies.append((sent.at, sent.text))

    async def _wait_replies(self, conversation: Conversation, before: int, sent_at: float) -> None:
        """Waits for the step's first reply, records its latency, then reads on like a person (1-3 s)."""
        deadline = time.monotonic() + self.config.reply_timeout
        while len(conversation.replies) <= before and time.monotonic() < deadline:
            if conversation.channel == "wechat":
                self._pump_wechat()
            await asyncio.sleep(0.1)
        if len(conversation.replies) > before:
            conversation.step_latencies.append(max(0.0, conversation.replies[before][0] - sent_at))
        else:
            conversation.unanswered_steps += 1
        await asyncio.sleep(self.rng.uniform(1.0, 3.0))
        if conversation.channel == "wechat":
            self._pump_wechat()

    # -- the channels -------------------------------------------------------------------------
    async def _rest_line(self, http: Any, conversation: Conversation, line: Line) -> None:
        import aiohttp

        started = time.monotonic()
        try:
            async with http.post(
                f"{self.cluster.base}/webhooks/rest/webhook",
                json={"sender": conversation.handle, "message": line.text},
                timeout=aiohttp.ClientTimeout(total=180),
            ) as reply:
                line.http_status = reply.status
                body = await reply.json(content_type=None) if reply.status == 200 else await reply.text()
        except Exception as error:  # noqa: BLE001 - a refused line, counted
            line.status, line.http_status = "refused", 0
            conversation.error = f"{type(error).__name__}"
            self._status("rest", 0)
            return
        line.seconds = time.monotonic() - started
        self._status("rest", line.http_status)
        if line.http_status != 200:
            line.status = "refused"
            return
        line.status = "accepted"
        arrived = time.monotonic()
        for message in body or []:
            conversation.replies.append((arrived, str(message.get("text") or "")))

    async def _wechat_post(self, http: Any, conversation: Conversation, xml: str) -> Tuple[int, float]:
        import aiohttp
        from wechatpy.utils import WeChatSigner

        timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        signer = WeChatSigner()
        signer.add_data(WECHAT_TOKEN, timestamp, nonce)
        query = {"signature": signer.signature, "timestamp": timestamp, "nonce": nonce, "openid": conversation.handle}
        started = time.monotonic()
        try:
            async with http.post(
                f"{self.cluster.base}{WEBHOOK_WECHAT}",
                params=query,
                data=xml.encode("utf-8"),
                headers={"Content-Type": "text/xml"},
                timeout=aiohttp.ClientTimeout(total=WECHAT_ACK_TIMEOUT),
            ) as reply:
                text = await reply.text()
                status = reply.status if text == "success" or reply.status != 200 else 299
        except Exception:  # noqa: BLE001 - no answer in 5 s: WeChat retries
            status = 0
        seconds = time.monotonic() - started
        self._status("wechat", status if status != 299 else 200)
        if status == 200:
            self.wechat_acks.append(seconds)
        return status, seconds

    async def _wechat_line(self, http: Any, conversation: Conversation, line: Line) -> None:
        line.msg_id = str(self.rng.randrange(10**18, 10**19))
        xml = (
            "<xml><ToUserName><![CDATA[gh_50a0c0ffee00]]></ToUserName>"
            f"<FromUserName><![CDATA[{conversation.handle}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{line.text}]]></Content><MsgId>{line.msg_id}</MsgId></xml>"
        )
        if self.rng.random() < self.config.retry_share:  # WeChat re-posts now and then anyway
            self.wechat_extra_deliveries += 1
            delay = self.rng.uniform(0.0, 5.0)

            async def again() -> None:
                await asyncio.sleep(delay)
                line.deliveries += 1
                await self._wechat_post(http, conversation, xml)

            asyncio.get_running_loop().create_task(again())
        for attempt in range(1 + WECHAT_RETRIES):
            line.deliveries += 1
            status, seconds = await self._wechat_post(http, conversation, xml)
            if status == 200:
                line.status, line.http_status, line.seconds = "accepted", 200, seconds
                return
            line.http_status = status
            if attempt < WECHAT_RETRIES:
                await asyncio.sleep(max(0.0, WECHAT_ACK_TIMEOUT - seconds))
        line.status = "refused"

    async def _widget_connect(self, conversation: Conversation) -> Any:
        import aiohttp
        import socketio

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(conversation.address, 0)))
        client = socketio.AsyncClient(
            reconnection=True, reconnection_delay=1, reconnection_delay_max=5, http_session=session
        )
        state: Dict[str, Any] = {"session": None, "since": None, "confirmed": asyncio.Event(), "http": session}

        async def on_bot(data: Any) -> None:
            if isinstance(data, dict):
                conversation.replies.append((time.monotonic(), str(data.get("text") or "")))
                if isinstance(data.get("at"), (int, float)):
                    state["since"] = data["at"]

        async def on_confirm(session_id: Any) -> None:
            state["session"] = session_id
            state["confirmed"].set()

        async def on_connect() -> None:
            if state["session"]:  # a reconnect: the same session, and what was missed since
                self.note(f"widget {conversation.handle[:8]} reconnected")
                await client.emit("session_request", {"session_id": state["session"], "since": state["since"]})

        client.on("bot_uttered", on_bot)
        client.on("session_confirm", on_confirm)
        client.on("connect", on_connect)
        await client.connect(self.cluster.base, socketio_path="/socket.io", transports=["polling"], wait_timeout=30)
        await client.emit("session_request", {})
        await asyncio.wait_for(state["confirmed"].wait(), 30)
        conversation.handle = str(state["session"])
        conversation.sender_id = f"webchat:{conversation.handle}"
        client.soak_state = state  # type: ignore[attr-defined]
        return client

    async def _widget_line(self, client: Any, conversation: Conversation, line: Line) -> None:
        deadline = time.monotonic() + 60
        while not client.connected and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        if not client.connected:
            line.status = "unsent"
            return
        try:
            await client.emit("user_uttered", {"message": line.text, "session_id": conversation.handle})
        except Exception as error:  # noqa: BLE001 - not connected after all
            line.status, conversation.error = "unsent", type(error).__name__
            return
        line.status = "accepted"

    # -- one customer -------------------------------------------------------------------------
    async def customer(self, http: Any, conversation: Conversation, delay: float) -> None:
        await asyncio.sleep(delay)
        client = None
        try:
            if conversation.channel == "webchat":
                client = await self._widget_connect(conversation)
            step = list(conversation.who.opening)
            said: List[str] = []
            pii_left = list(conversation.who.pii)
            for number in range(self.config.max_steps):
                if number == 1 and pii_left:  # personal data typed right after the second answer
                    step, pii_left = step + pii_left, []
                before = len(conversation.replies)
                tasks = []
                last_sent = time.monotonic()
                for index, text in enumerate(step):
                    if index:
                        await asyncio.sleep(self.rng.uniform(0.3, 0.9))  # a quick burst
                    line = Line(text, time.monotonic())
                    conversation.lines.append(line)
                    said.append(text)
                    last_sent = line.sent_at
                    if conversation.channel == "rest":
                        tasks.append(asyncio.ensure_future(self._rest_line(http, conversation, line)))
                    elif conversation.channel == "wechat":
                        tasks.append(asyncio.ensure_future(self._wechat_line(http, conversation, line)))
                    else:
                        await self._widget_line(client, conversation, line)
                if tasks:
                    await asyncio.gather(*tasks)
                await self._wait_replies(conversation, before, last_sent)
                texts = [text for _, text in conversation.replies[before:]]
                following = next_step(texts, conversation.who, said, self.rng) if texts else ["在吗 怎么没回复"]
                if following is None:
                    break
                step = following
            conversation.finished = True
        except Exception as error:  # noqa: BLE001 - reported, never stops the soak
            conversation.error = f"{type(error).__name__}: {error}"[:200]
        finally:
            if client is not None:
                self._widget_clients.append(client)

    # -- the run ------------------------------------------------------------------------------
    async def killer(self) -> None:
        for at, name in sorted(self.config.kills):
            await asyncio.sleep(max(0.0, at - self.now()))
            try:
                pid = self.cluster.kill(name)
                self.kills.append({"program": name, "pid": pid, "at_seconds": round(self.now(), 1), "wall": _wall()})
                self.note(f"kill -9 {name} (pid {pid})")
            except Exception as error:  # noqa: BLE001 - reported
                self.kills.append({"program": name, "error": str(error), "at_seconds": round(self.now(), 1)})
                self.note(f"could not kill {name}: {error}")

    async def run(self) -> None:
        import aiohttp

        self._widget_clients: List[Any] = []
        channels = self.config.channels
        for number in range(self.config.conversations):
            channel = channels[number % len(channels)]
            handle = f"soak-{uuid.uuid4().hex[:12]}" if channel == "rest" else "o" + uuid.uuid4().hex[:27]
            sender = {"rest": handle, "wechat": f"wechat:{handle}", "webchat": ""}[channel]
            conversation = Conversation(channel, sender, handle, persona(self.rng))
            if channel == "webchat":
                conversation.address = WIDGET_ADDRESSES[number % len(WIDGET_ADDRESSES)]
            if channel == "wechat":
                self.by_openid[handle] = conversation
            self.conversations.append(conversation)
        delays = [self.rng.uniform(0, self.config.ramp) for _ in self.conversations]
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            self.start = time.monotonic()
            self.note(f"{len(self.conversations)} customers start within {self.config.ramp:.0f} s")
            killer = asyncio.ensure_future(self.killer())
            await asyncio.gather(
                *(self.customer(http, c, d) for c, d in zip(self.conversations, delays)), return_exceptions=True
            )
            self.note("every customer is done talking")
            if not killer.done():
                await killer
            await self.settle(http)
        for client in self._widget_clients:
            try:
                await client.eio.disconnect(abort=True)
            except Exception:  # noqa: BLE001
                pass
            state = getattr(client, "soak_state", {})
            if state.get("http") is not None:
                await state["http"].close()

    async def settle(self, http: Any) -> None:
        """Waits until no inbox waits and no turn is leased (Redis), then collects late replies."""
        import redis.asyncio as aioredis

        settings = self.cluster.redis
        client = aioredis.Redis(
            host=settings.host, port=settings.port, db=settings.db, password=settings.password or None
        )
        deadline = time.monotonic() + self.config.settle_timeout
        quiet = 0
        try:
            while time.monotonic() < deadline:
                try:
                    waiting = await client.zcard("inbox:due") + await client.zcard("inbox:leases")
                except Exception:  # noqa: BLE001 - Redis restarting: ask again
                    waiting = -1
                quiet = quiet + 1 if waiting == 0 else 0
                if quiet >= 3:
                    break
                await asyncio.sleep(2)
            self.settled = quiet >= 3
            self.note("inboxes settled" if self.settled else "inboxes did not settle in time")
        finally:
            await client.close()
        await asyncio.sleep(5)  # replies of the last swept turns on their way
        self._pump_wechat()
        for conversation in self.conversations:
            if conversation.channel != "rest":
                continue
            async with http.get(
                f"{self.cluster.base}/webhooks/rest/outbox", params={"sender": conversation.handle}
            ) as reply:
                if reply.status == 200:
                    for message in await reply.json():
                        conversation.replies.append((time.monotonic(), str(message.get("text") or "")))
                        self.outbox_replies = getattr(self, "outbox_replies", 0) + 1


def _wall() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# the account
# ---------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """The ``q``-th percentile (nearest rank) of ``values``, None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return round(ordered[rank - 1], 3)


def _texts_of_bot_event(event: Dict[str, Any], channel: str) -> str:
    text = str(event.get("text") or "")
    if channel == "wechat":
        from bot.channels.wechat.connector import text_with_buttons

        buttons = (event.get("data") or {}).get("buttons") or []
        return text_with_buttons(text, buttons) if buttons else text
    return text


async def collect(cluster: Any, conversations: List[Conversation]) -> Dict[str, Dict[str, Any]]:
    """Every conversation's tracker and tickets through the proxy (20 at a time)."""
    import aiohttp

    results: Dict[str, Dict[str, Any]] = {}
    limit = asyncio.Semaphore(20)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:

        async def one(conversation: Conversation) -> None:
            if not conversation.sender_id:
                return
            quoted = urllib.parse.quote(conversation.sender_id, safe="")
            async with limit:
                tracker: Dict[str, Any] = {}
                tickets: List[Any] = []
                for _ in range(3):
                    try:
                        async with http.get(
                            f"{cluster.base}/conversations/{quoted}/tracker", params={"token": cluster.token}
                        ) as reply:
                            tracker = await reply.json() if reply.status == 200 else {}
                        async with http.get(
                            f"{cluster.base}/api/tickets",
                            params={"sender_id": conversation.sender_id, "token": cluster.token},
                        ) as reply:
                            tickets = await reply.json() if reply.status == 200 else []
                        break
                    except Exception:  # noqa: BLE001 - try again
                        await asyncio.sleep(1)
                results[conversation.sender_id] = {"tracker": tracker, "tickets": tickets}

        await asyncio.gather(*(one(c) for c in conversations))
    return results


def account(soak: Soak, collected: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """The figures: per channel and in total (see the module docstring for the definitions)."""
    per: Dict[str, Counter] = {c: Counter() for c in soak.config.channels}
    latencies: Dict[str, List[float]] = {c: [] for c in soak.config.channels}
    problems: List[Dict[str, Any]] = []
    for conversation in soak.conversations:
        c = per[conversation.channel]
        c["conversations"] += 1
        c["finished"] += conversation.finished
        c["errors"] += bool(conversation.error)
        latencies[conversation.channel] += conversation.step_latencies
        c["steps_without_reply_in_time"] += conversation.unanswered_steps
        data = collected.get(conversation.sender_id) or {}
        events = (data.get("tracker") or {}).get("events") or []
        users = [e for e in events if e.get("event") == "user"]
        c["turns"] += len(users)
        if conversation.channel == "wechat":
            recorded: Counter = Counter()
            for event in users:
                metadata = event.get("metadata") or {}
                ids = set(metadata.get("message_ids") or []) | {metadata.get("message_id")}
                recorded.update(i for i in ids if i)
            keys = [line.msg_id for line in conversation.lines]
        else:
            recorded = Counter(part.strip() for e in users for part in str(e.get("text") or "").split(JOINER))
            keys = [line.text.strip() for line in conversation.lines]
        sent = Counter(keys)
        accepted = Counter(k for k, line in zip(keys, conversation.lines) if line.status == "accepted")
        c["sent"] += len(conversation.lines)
        c["accepted"] += sum(accepted.values())
        c["refused"] += sum(1 for line in conversation.lines if line.status in ("refused", "unsent"))
        c["recorded"] += sum(min(recorded[k], n) for k, n in sent.items())
        lost = sum(max(0, n - recorded[k]) for k, n in accepted.items())
        twice = sum(max(0, recorded[k] - n) for k, n in sent.items())
        refused_recorded = sum(
            1 for k, line in zip(keys, conversation.lines) if line.status != "accepted" and recorded[k] >= sent[k]
        )
        c["lost"] += lost
        c["recorded_twice"] += twice
        c["refused_but_recorded"] += refused_recorded
        # answers: each turn's bot messages (tracker) against what the customer received
        received = Counter(text for _, text in conversation.replies if text)
        answered = 0
        silent = 0
        current: List[str] = []
        turns_bot: List[List[str]] = []
        for event in events:
            if event.get("event") == "user":
                current = []
                turns_bot.append(current)
            elif event.get("event") == "bot" and turns_bot:
                current.append(_texts_of_bot_event(event, conversation.channel))
        for texts in turns_bot:
            if not any(texts):
                silent += 1
                continue
            hit = False
            for text in texts:
                if received[text] > 0:
                    received[text] -= 1
                    hit = True
            answered += hit
        # the channels' own notices are sent without a bot event ("passed on" while a human has the
        # conversation, the error reply of a failed turn): received, never recorded, not a second answer
        notices = sum(n for text, n in received.items() if n > 0 and text in UNRECORDED_NOTICES)
        extra = sum(n for text, n in received.items() if n > 0 and text not in UNRECORDED_NOTICES)
        c["notices"] = c.get("notices", 0) + notices
        c["answered_turns"] += answered
        c["turns_without_bot_message"] += silent
        c["unanswered_turns"] += len(turns_bot) - answered - silent
        c["extra_answers"] += extra
        tickets = data.get("tickets") or []
        c["tickets"] += len(tickets)
        c["conversations_with_ticket"] += bool(tickets)
        c["duplicate_tickets"] += max(0, len(tickets) - 1)
        if lost or twice or extra or len(tickets) > 1 or conversation.error:
            problems.append(
                {
                    "channel": conversation.channel,
                    "sender_id": conversation.sender_id,
                    "lost": lost,
                    "recorded_twice": twice,
                    "extra_answers": extra,
                    "tickets": [t.get("id") for t in tickets],
                    "error": conversation.error,
                    "lines": [
                        {"text": line.text, "status": line.status, "http": line.http_status, "msg_id": line.msg_id}
                        for line in conversation.lines
                    ],
                    "turns": [str(e.get("text")) for e in users],
                }
            )
    total: Counter = Counter()
    for c in per.values():
        total.update(c)
    for name, c in list(per.items()) + [("total", total)]:
        c["answered_twice"] = c["recorded_twice"] + c["extra_answers"]
    all_latencies = [v for values in latencies.values() for v in values]
    return {
        "per_channel": {name: dict(c) for name, c in per.items()},
        "total": dict(total),
        "turn_latency_seconds": {
            name: {
                "steps": len(values),
                "p50": percentile(values, 50),
                "p90": percentile(values, 90),
                "p99": percentile(values, 99),
                "max": round(max(values), 3) if values else None,
            }
            for name, values in list(latencies.items()) + [("all", all_latencies)]
        },
        "wechat_ack_seconds": {
            "deliveries": len(soak.wechat_acks),
            "p50": percentile(soak.wechat_acks, 50),
            "p99": percentile(soak.wechat_acks, 99),
            "max": round(max(soak.wechat_acks), 3) if soak.wechat_acks else None,
            "extra_deliveries_posted": soak.wechat_extra_deliveries,
            "deliveries_posted": sum(line.deliveries for c in soak.conversations for line in c.lines),
        },
        "problems": problems[:50],
        "problem_count": len(problems),
    }


def http_errors(soak: Soak, window: float = 60.0) -> Dict[str, Any]:
    """Non-2xx answers by channel and status; those within ``window`` s after a kill."""
    kill_times = [k["at_seconds"] for k in soak.kills if "pid" in k]
    near = Counter(
        f"{channel} {status}"
        for at, channel, status in soak.errors_timeline
        if any(0 <= at - k <= window for k in kill_times)
    )
    return {
        "by_channel": {c: dict(v) for c, v in soak.statuses.items()},
        "non_2xx_total": len(soak.errors_timeline),
        f"non_2xx_within_{int(window)}s_of_a_kill": dict(near),
        "first_errors": soak.errors_timeline[:20],
    }


def nginx_statuses(var: Path) -> Dict[str, Any]:
    """Statuses nginx answered (its access log), and how many requests nginx passed on to a second replica."""
    log = var / "nginx" / "access.log"
    statuses: Counter = Counter()
    retried = 0
    if log.exists():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            match = re.search(r'" (\d{3}) upstream=(\S+) upstream_status=(\S+)', line)
            if match:
                statuses[match.group(1)] += 1
                retried += "," in match.group(2)
    return {"statuses": dict(statuses), "passed_to_a_second_upstream": retried}


def supervisor_restarts(cluster: Any) -> Dict[str, Any]:
    """What supervisord saw: its log lines about children exiting and starting, and their state now."""
    out = cluster.var / "supervisord.out"
    lines = out.read_text(encoding="utf-8", errors="replace").splitlines() if out.exists() else []
    exits = [line.split(" INFO ", 1)[-1] for line in lines if "exited:" in line]
    spawns = Counter(m.group(1) for line in lines for m in [re.search(r"spawned: '([^']+)'", line)] if m)
    try:
        status = cluster.status()
    except Exception as error:  # noqa: BLE001 - reported
        status = {"error": str(error)}
    return {"exits": exits, "spawned": dict(spawns), "status_after": status}


def scan_for_pii(var: Path) -> Dict[str, Any]:
    """Every log file of the cluster scanned for unmasked personal data (``bot.privacy.scan_logs``
    when it exists; otherwise the same patterns as :func:`bot.privacy.mask_pii`)."""
    try:
        from bot.privacy import scan_logs  # type: ignore[attr-defined]

        findings = [(f.path, f.line, tuple(f.kinds), f.excerpt) for f in scan_logs([var])]
        scanner = "bot.privacy.scan_logs"
    except ImportError:
        findings = _fallback_scan(var)
        scanner = "tools.soak fallback (bot.privacy patterns)"
    kinds: Counter = Counter(kind for _, _, found, _ in findings for kind in found)
    files: Counter = Counter(str(Path(path).relative_to(var)) for path, _, _, _ in findings)
    pii = sum(1 for _, _, found, _ in findings if set(found) - {"token"})
    return {
        "scanner": scanner,
        "lines_with_findings": len(findings),
        "lines_with_personal_data": pii,
        "by_kind": dict(kinds),
        "by_file": dict(files),
        "examples": [f"{Path(p).relative_to(var)}:{n}: {', '.join(k)}: {e}" for p, n, k, e in findings[:10]],
    }


def _fallback_scan(var: Path) -> List[Tuple[str, int, Tuple[str, ...], str]]:
    from bot import privacy

    patterns = {"id_number": privacy._ID_CARD, "mobile": privacy._MOBILE, "address": privacy._ADDRESS}
    found = []
    for path in sorted(p for p in var.rglob("*") if p.is_file() and p.suffix in (".log", ".out", ".txt", ".err")):
        with open(path, encoding="utf-8", errors="replace") as log:
            for number, line in enumerate(log, 1):
                if "\\u" in line:
                    line = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), line)
                kinds = tuple(k for k, p in patterns.items() if any("*" not in m.group(0) for m in p.finditer(line)))
                if kinds:
                    found.append((str(path), number, kinds, privacy.mask_pii(line.rstrip("\n"))[:200]))
    return found


# ---------------------------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------------------------


class FakeWeChatThread:
    """:class:`tools.fake_platforms.FakeWeChatApi` in an event loop of its own thread."""

    def __init__(self) -> None:
        from tools.fake_platforms import FakeWeChatApi

        self.api = FakeWeChatApi(WECHAT_APP_ID, WECHAT_SECRET)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-wechat", daemon=True)

    def start(self) -> "FakeWeChatThread":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.api.start(), self.loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.api.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def cluster_env(fake: Any, folder: Path) -> Dict[str, str]:
    """The variables a soak cluster runs with: WeChat on the fake API, rate limits off."""
    return {
        "WECHAT_TOKEN": WECHAT_TOKEN,
        "WECHAT_APP_ID": WECHAT_APP_ID,
        "WECHAT_APP_SECRET": WECHAT_SECRET,
        "WECHAT_API_BASE": fake.base,
        "RATE_LIMITS": "off",
        "TRAINER_ROOT": str(folder / "trainer-root"),
        "WEBCHAT_UPLOAD_DIR": str(folder / "uploads"),
    }


def prepare_trainer_root(folder: Path) -> None:
    """A copy of data/, domain.yml and config.yml for the trainers' workbench of the cluster
    (as the cluster tests do), so nothing the servers write lands in the checkout."""
    import shutil

    root = folder / "trainer-root"
    if not root.exists():
        shutil.copytree(ROOT / "data", root / "data")
        for name in ("domain.yml", "config.yml"):
            shutil.copy2(ROOT / name, root / name)


def report(soak: Soak, figures: Dict[str, Any], extra: Dict[str, Any]) -> Dict[str, Any]:
    """Everything for soak.json."""
    return {
        "command": extra["command"],
        "started": extra["started"],
        "duration_seconds": extra["duration"],
        "load_seconds": extra["load_seconds"],
        "cluster_start_seconds": extra["cluster_start_seconds"],
        "config": {
            "conversations": soak.config.conversations,
            "ramp_seconds": soak.config.ramp,
            "kills_planned": [{"at_seconds": at, "program": name} for at, name in soak.config.kills],
            "wechat_retry_share": soak.config.retry_share,
            "max_steps": soak.config.max_steps,
            "seed": soak.config.seed,
            "burst_window_seconds": "1.5 (the product's default)",
            "cluster_env": extra["env_shown"],
            "widget_client_addresses": f"{WIDGET_ADDRESSES[0]}-{WIDGET_ADDRESSES[-1]}",
        },
        "kills": soak.kills,
        "settled": getattr(soak, "settled", False),
        "rest_outbox_replies": getattr(soak, "outbox_replies", 0),
        **figures,
        "http_errors": http_errors(soak),
        "nginx": nginx_statuses(soak.cluster.var),
        "supervisor": extra["supervisor"],
        "log_scan": extra["log_scan"],
        "events": [asdict(e) for e in soak.events],
    }


def markdown(data: Dict[str, Any]) -> str:
    """soak.md: the figures a person reads first, then the details."""
    total = data["total"]
    lat = data["turn_latency_seconds"]
    ack = data["wechat_ack_seconds"]
    target = lambda value, goal: "met" if value == goal else "**missed**"  # noqa: E731
    ack_ok = ack["p99"] is not None and ack["p99"] < 1.0
    lines = [
        "# Soak: load with faults",
        "",
        f"Command: `{data['command']}`  ",
        f"Started {data['started']}; {data['duration_seconds']:.0f} s in all (cluster start "
        f"{data['cluster_start_seconds']:.0f} s, customers talking {data['load_seconds']:.0f} s). "
        f"Generated by tools/soak.py; the JSON beside this file has every figure.",
        "",
        "## Targets",
        "",
        "| figure | value | target | |",
        "| --- | --- | --- | --- |",
        f"| lines lost (accepted, never recorded) | {total.get('lost', 0)} | 0 | {target(total.get('lost', 0), 0)} |",
        f"| answered twice (recorded twice + extra answers) | {total.get('answered_twice', 0)} | 0 | "
        f"{target(total.get('answered_twice', 0), 0)} |",
        f'| notices sent without a bot event ("passed on", error reply; not second answers) | '
        f"{total.get('notices', 0)} | | |",
        f"| duplicate tickets | {total.get('duplicate_tickets', 0)} | 0 | {target(total.get('duplicate_tickets', 0), 0)} |",
        f"| WeChat acknowledgement p99 | {ack['p99']} s | < 1 s | {'met' if ack_ok else '**missed**'} |",
        "",
        "## Messages",
        "",
        "| channel | conversations | lines sent | accepted | refused | recorded | lost | recorded twice | "
        "refused but recorded | turns | answered turns | unanswered turns | extra answers | tickets | duplicate tickets |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, c in list(data["per_channel"].items()) + [("total", total)]:
        lines.append(
            f"| {name} | {c.get('conversations', 0)} | {c.get('sent', 0)} | {c.get('accepted', 0)} | "
            f"{c.get('refused', 0)} | {c.get('recorded', 0)} | {c.get('lost', 0)} | {c.get('recorded_twice', 0)} | "
            f"{c.get('refused_but_recorded', 0)} | {c.get('turns', 0)} | {c.get('answered_turns', 0)} | "
            f"{c.get('unanswered_turns', 0)} | {c.get('extra_answers', 0)} | {c.get('tickets', 0)} | "
            f"{c.get('duplicate_tickets', 0)} |"
        )
    lines += [
        "",
        "## Latency",
        "",
        "Turn latency: from a customer's last line of a step (one line or a quick burst) to the first "
        "reply they received; it includes the 1.5 s burst window by design.",
        "",
        "| channel | steps answered | p50 s | p90 s | p99 s | max s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, v in lat.items():
        lines.append(f"| {name} | {v['steps']} | {v['p50']} | {v['p90']} | {v['p99']} | {v['max']} |")
    lines += [
        "",
        f'WeChat acknowledgement (time to the webhook\'s "success"): p50 {ack["p50"]} s, p99 {ack["p99"]} s, '
        f"max {ack['max']} s over {ack['deliveries']} successful deliveries; {ack['deliveries_posted']} POSTs in all, "
        f"{ack['extra_deliveries_posted']} of them deliberate re-posts of the same XML (5%).",
        "",
        "## Faults",
        "",
    ]
    for kill in data["kills"]:
        lines.append(
            f"* {kill.get('wall', '')}: `kill -9` {kill['program']} (pid {kill.get('pid', '-')}) at "
            f"{kill['at_seconds']} s {kill.get('error', '')}"
        )
    if not data["kills"]:
        lines.append("* none (run without kills)")
    sup = data["supervisor"]
    lines += [
        "",
        f"supervisord: spawned {sup['spawned']}; after the run: {sup['status_after']}.",
        "",
        *(f"* `{exit_line}`" for exit_line in sup["exits"][:20]),
        "",
        "## Refused",
        "",
        f"Answers other than 2xx seen by the customers, by channel and status: {data['http_errors']['by_channel']} "
        f"(status 0: no answer / connection failed; WeChat counts every POST, retries included). "
        f"Within 60 s after a kill: {data['http_errors']['non_2xx_within_60s_of_a_kill']}. "
        f"nginx answered {data['nginx']['statuses']} and passed "
        f"{data['nginx']['passed_to_a_second_upstream']} requests on to a second replica.",
        "",
        "## Logs",
        "",
        f"Scanned every log file of the cluster's var dir with {data['log_scan']['scanner']}: "
        f"{data['log_scan']['lines_with_personal_data']} lines with unmasked phone numbers, addresses or ID "
        f"numbers; findings by kind {data['log_scan']['by_kind']}, by file {data['log_scan']['by_file']}.",
        "",
        *(f"* `{example}`" for example in data["log_scan"]["examples"]),
        "",
        "## Conversations with a problem",
        "",
        f"{data['problem_count']} (the first 50 are in soak.json under `problems`).",
        "",
    ]
    return "\n".join(lines)


def parse_kills(text: str, ramp: float) -> List[Tuple[float, str]]:
    """``"rasa-1,actions-1@+0,actions-2@+20"`` -> kill times (seconds after the first customer);
    ``@N`` is absolute, ``@+N`` after the ramp; no ``@`` means at the end of the ramp; ``off``: none."""
    if text.strip().lower() in ("", "off", "none", "0"):
        return []
    kills = []
    for part in text.split(","):
        name, _, when = part.strip().partition("@")
        at = ramp + float(when[1:]) if when.startswith("+") else float(when) if when else ramp
        kills.append((at, name.strip()))
    return kills


def run_soak(
    config: SoakConfig, cluster: Any, fake: Any, command: str = "", cluster_start_seconds: float = 0.0
) -> Dict[str, Any]:
    """Runs the customers, settles, collects and accounts; returns the report (not written)."""
    started = _wall()
    began = time.monotonic()
    soak = Soak(cluster, fake, config)
    asyncio.run(soak.run())
    load_seconds = soak.events[-1].at if soak.events else 0.0
    collected = asyncio.run(collect(cluster, soak.conversations))
    figures = account(soak, collected)
    extra = {
        "command": command,
        "started": started,
        "duration": time.monotonic() - began + cluster_start_seconds,
        "load_seconds": load_seconds,
        "cluster_start_seconds": cluster_start_seconds,
        "supervisor": supervisor_restarts(cluster),
        "log_scan": scan_for_pii(cluster.var),
        "env_shown": {"RATE_LIMITS": "off", "WECHAT_API_BASE": "the fake WeChat API (tools/fake_platforms.py)"},
    }
    return report(soak, figures, extra)


def write_report(data: Dict[str, Any], out: Path) -> None:
    """``out``.json and ``out``.md."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(data), encoding="utf-8")


def main(argv: Optional[List[str]] = None) -> int:
    """``make soak``."""
    parser = argparse.ArgumentParser(prog="python -m tools.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--ramp", type=float, default=60.0, help="customers start within this many seconds")
    parser.add_argument(
        "--kill",
        default="actions-1,rasa-1,actions-2@+20",
        help="programs to kill -9: name[@seconds|@+seconds after the ramp], comma-separated; 'off' for none",
    )
    parser.add_argument("--retry-share", type=float, default=0.05, help="WeChat deliveries re-posted anyway")
    parser.add_argument("--max-steps", type=int, default=6)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "soak", help="report path without suffix")
    parser.add_argument("--var", type=Path, default=None, help="the cluster's var dir (default var/soak)")
    args = parser.parse_args(argv)

    from tools.cluster import start_cluster
    from tools.devstack import ensure_model, free_port, var_dir

    config = SoakConfig(
        conversations=args.conversations,
        ramp=args.ramp,
        kills=parse_kills(args.kill, args.ramp),
        retry_share=args.retry_share,
        max_steps=args.max_steps,
        seed=args.seed,
    )
    var = (args.var or var_dir() / "soak").resolve()
    if var.exists():
        import shutil

        shutil.rmtree(var)
    var.mkdir(parents=True)
    prepare_trainer_root(var)
    if not os.environ.get("REDIS_URL") and not os.environ.get("REDIS_PORT"):
        os.environ["REDIS_PORT"] = str(free_port())  # the embedded Redis: not 6379, which make run may hold
    fake = FakeWeChatThread().start()
    command = shlex.join(["python", "-m", "tools.soak", *(argv if argv is not None else sys.argv[1:])])
    began = time.monotonic()
    print(f"==> starting the cluster in {var} (about 2 minutes)", flush=True)
    cluster = start_cluster(var / "cluster", env=cluster_env(fake.api, var), model=ensure_model())
    cluster_start = time.monotonic() - began
    try:
        data = run_soak(config, cluster, fake.api, command, cluster_start)
    finally:
        cluster.stop()
        fake.stop()
    write_report(data, args.out)
    total = data["total"]
    print(
        f"==> sent {total.get('sent', 0)}, recorded {total.get('recorded', 0)}, lost {total.get('lost', 0)}, "
        f"answered twice {total.get('answered_twice', 0)}, duplicate tickets {total.get('duplicate_tickets', 0)}, "
        f"WeChat ack p99 {data['wechat_ack_seconds']['p99']} s; report in {args.out}.md",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
