"""Web chat widget channel: Rasa's socket.io channel plus the widget's files and image upload.

Registered in ``credentials.yml`` as ``bot.channels.webchat.WebChatInput`` (always on). The
browser speaks Rasa's socket.io protocol (``session_request`` / ``session_confirm``,
``user_uttered`` / ``bot_uttered``) at ``/socket.io``; the channel is called ``webchat`` and
every browser session is the conversation ``webchat:<session id>`` (metadata ``customer_id``
= the session id). On top of Rasa's channel:

* our own ``session_request`` handler: Rasa 3.6 calls ``enter_room()`` without ``await`` (a
  coroutine since python-socketio 5.9), so the browser never joined its room and no reply
  reached it; a requested session id is only reused when it looks like one of ours (never
  ``wechat:...``), and it is bound to the socket, so a message cannot name another conversation;
* each message runs like on the other channels: leading "/" escaped, over-long text refused with
  a reply, malformed payloads answered like an empty message, a failed action gets the error
  reply and a human, a paused conversation gets the "passed on" notice
  (:func:`bot.services.delivery.complete_turn`);
* ``GET /webhooks/webchat/`` the demo shop page, ``/webhooks/webchat/widget.js`` the widget (one
  ``<script>`` tag embeds it), ``/webhooks/webchat/socket.io.min.js`` the socket.io client
  (served from here, no CDN): Sanic ``Blueprint.static`` routes, one per file, so nothing else
  in ``webchat_static/`` or beside it is reachable;
* ``POST /webhooks/webchat/upload`` (multipart: ``file``, ``session_id``): an evidence photo,
  at most 5 MB, a JPEG/PNG/WebP that Pillow opens, verifies and decodes completely, at most
  40 megapixels (413/415/400 otherwise; a truncated file, a foreign header behind image magic
  bytes or a decompression bomb is 415), checked in a worker thread and stored with aiofiles
  (the event loop never blocks on it) under
  ``var/uploads/`` (``WEBCHAT_UPLOAD_DIR``); answers ``{"url": ...}``, served at
  ``/webhooks/webchat/uploads/<name>``. The widget then sends ``[图片] <url>``, which becomes
  ``metadata["image"]`` and so the ticket's evidence;
* agents' and follow-up messages reach the browser live (``get_output_channel()`` emits to the
  session's room), stamped with ``at``; a browser that reconnects sends the latest ``at`` it saw
  and gets what it missed replayed.

The socket.io server lives in the Sanic process: with several Sanic workers or several Rasa
instances, messages outside a request only reach browsers connected to the same process (the
replay on reconnect still delivers them). The widget uses HTTP long-polling only: the websocket
upgrade fails between python-engineio 4.15 and Sanic 21.12 ("Invalid frame header").
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, Iterable, List, Optional, Text

import aiofiles
import aiofiles.os
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from rasa.shared.core.events import BotUttered, Event
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.common import MAX_MESSAGE_CHARS, MAX_SENDER_CHARS, escape_user_text
from bot.privacy import install_log_masking, mask_pii
from bot.rasa_ext import guard
from bot.services import delivery, ratelimit, turns

if TYPE_CHECKING:
    from rasa.core.agent import Agent
    from redis.asyncio import Redis
    from socketio import AsyncServer

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC_DIR = Path(__file__).resolve().parent / "webchat_static"
DEFAULT_UPLOAD_DIR = ROOT / "var" / "uploads"
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UPLOADS_PER_SESSION = 20  # per day: evidence for a complaint, not a photo album
SESSION_KEY = "webchat:session:{}"  # sessions this service issued (uploads need one)
UPLOAD_COUNT_KEY = "webchat:uploads:{}"
SESSION_TTL = 30 * 24 * 3600

STATIC_FILES = {
    "index.html": "text/html",
    "widget.js": "application/javascript",
    "socket.io.min.js": "application/javascript",
}
"""The widget's files and their types (Sanic adds ``charset=utf-8``)."""
MAX_IMAGE_PIXELS = 40_000_000
"""Largest photo accepted, in pixels (a 48-megapixel phone photo is about 8000 x 6000 = 48 M)."""
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CHANNEL = "webchat"
SENDER_PREFIX = "webchat:"
UPLOADED_IMAGE = re.compile(r"^\[图片\]\s*(https?://\S+/webhooks/webchat/uploads/[0-9a-f]{32}\.(?:jpg|png|webp))$")
UPLOAD_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
# The widget's own replies (sent without a turn), as responses of domain.yml.
NO_SESSION_RESPONSE = "utter_webchat_no_session"
TOO_LONG_RESPONSE = "utter_message_too_long"
RESPONSES = (NO_SESSION_RESPONSE, TOO_LONG_RESPONSE)


class UploadError(ValueError):
    """An upload that is refused, with the HTTP status to answer."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


def image_kind(data: bytes) -> Optional[str]:
    """``jpg``, ``png`` or ``webp`` when Pillow reads the whole file as that format; else None.

    ``Image.verify()`` checks the file's structure (PNG chunk checksums), then a second
    ``Image.open`` decodes every pixel, which refuses truncated files. Magic bytes alone are not
    trusted: a PNG signature in front of HTML or a script is refused, so is any other format
    and a picture over :data:`MAX_IMAGE_PIXELS` (checked from the header, before decoding).
    Bytes after a complete image are not looked at (uploads are served as ``image/*`` with
    ``nosniff``). CPU-bound: call it in a worker thread.
    """
    from PIL import Image

    formats = list(UPLOAD_FORMATS)
    try:
        with Image.open(io.BytesIO(data), formats=formats) as image:
            kind = UPLOAD_FORMATS.get(image.format or "")
            image.verify()
        with Image.open(io.BytesIO(data), formats=formats) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                return None
            image.load()
    except Exception:  # noqa: BLE001 - anything Pillow cannot read is not an image we keep
        return None
    return kind


def check_upload(data: Optional[bytes], session_id: Optional[str]) -> str:
    """Validates an evidence upload; returns the file extension.

    Raises:
        UploadError: 400 (no file / no session), 413 (over 5 MB), 415 (not JPEG/PNG/WebP).
    """
    session_id = (session_id or "").strip()
    if not session_id or len(session_id) > MAX_SENDER_CHARS:
        raise UploadError("'session_id' is required", 400)
    if not data:
        raise UploadError("'file' is required (multipart/form-data)", 400)
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError("the image is larger than 5 MB", 413)
    kind = image_kind(data)  # a worker thread in the route: decoding is CPU work
    if kind is None:
        raise UploadError("only JPEG, PNG or WebP images are accepted", 415)
    return kind


def sender_id_for(session_id: str) -> str:
    """The conversation id of a browser session: ``webchat:<session id>`` (also its socket.io room)."""
    return SENDER_PREFIX + session_id


class WebChatOutput(SocketIOOutput):
    """Rasa's socket.io output, each message stamped with ``at`` (server time, seconds).

    The widget remembers the latest ``at`` it received and sends it as ``since`` when it
    reconnects, so messages sent while it was away (an agent's, a follow-up) are replayed.
    """

    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    async def _send_message(self, socket_id: Text, response: Any) -> None:
        response = dict(response)
        response.setdefault("at", round(time.time(), 3))
        await super()._send_message(socket_id, response)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """Like Rasa's (one message per paragraph), marking an agent's message with its author."""
        author = kwargs.get("author")
        extra = {"author": author} if isinstance(author, str) and author.startswith("agent:") else {}
        for part in text.strip().split("\n\n"):
            await self._send_message(recipient_id, {"text": part, **extra})


def missed_messages(events: Iterable[Event], since: object, limit: int = 50) -> List[Dict[str, Any]]:
    """The bot's and agents' messages logged after ``since`` (seconds, from the browser: checked), as the widget shows them."""
    if isinstance(since, bool) or not isinstance(since, (int, float)):
        return []
    missed = []
    for event in events:
        if not isinstance(event, BotUttered) or (event.timestamp or 0) <= since:
            continue
        message = {k: v for k, v in (event.data or {}).items() if v}
        if event.text:
            message["text"] = event.text
        author = (event.metadata or {}).get("author")
        if message and isinstance(author, str) and author.startswith("agent:"):
            message["author"] = author
        if message:
            message["at"] = round(event.timestamp, 3)
            missed.append(message)
    return missed[-limit:]


def message_metadata(session_id: str, text: str) -> Dict[str, Any]:
    """The customer id and, for ``[图片] <url>`` of one of our uploads, the image (evidence)."""
    metadata: Dict[str, Any] = {"channel": CHANNEL, "customer_id": session_id}
    image = UPLOADED_IMAGE.match(text.strip())
    if image:
        metadata["image"] = image.group(1)
    return metadata


def share_rooms_through_redis(sio: AsyncServer) -> None:
    """Makes ``sio.emit(room=...)`` reach the room's browsers on every worker and replica.

    A browser's socket lives in the one server process it connected to (the proxy keeps it there,
    see deploy/nginx/bot.conf.template), but an agent's reply or a follow-up may be sent by any
    process: python-socketio's ``AsyncRedisManager`` publishes every emit on Redis (the ``REDIS_*``
    variables), and each process delivers it to its own sockets of that room. Rasa creates the
    ``AsyncServer`` itself, so the manager is swapped in before any browser connects.
    """
    import socketio

    password = urllib.parse.quote(os.environ.get("REDIS_PASSWORD") or "", safe="")
    url = "redis://{auth}{host}:{port}/{db}".format(
        auth=f":{password}@" if password else "",
        host=os.environ.get("REDIS_HOST", "127.0.0.1"),
        port=os.environ.get("REDIS_PORT", "6379"),
        db=os.environ.get("REDIS_DB", "0") or "0",
    )
    manager = socketio.AsyncRedisManager(url, channel="webchat-rooms")
    manager.set_server(sio)
    sio.manager = manager
    sio.manager_initialized = False


class WebChatInput(SocketIOInput):
    """Rasa's socket.io channel with the widget's files, image upload and loud failures."""

    @classmethod
    def name(cls) -> Text:
        """``webchat``: the tracker's channel name (the socket.io protocol is Rasa's)."""
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WebChatInput":
        """Rasa's socket.io settings; ``session_persistence`` defaults to true, plus ``upload_dir``."""
        credentials = dict(credentials or {})
        return cls(
            user_message_evt=credentials.get("user_message_evt", "user_uttered"),
            bot_message_evt=credentials.get("bot_message_evt", "bot_uttered"),
            namespace=credentials.get("namespace"),
            session_persistence=bool(credentials.get("session_persistence", True)),
            socketio_path=credentials.get("socketio_path", "/socket.io"),
            jwt_key=credentials.get("jwt_key"),
            jwt_method=credentials.get("jwt_method", "HS256"),
            metadata_key=credentials.get("metadata_key", "metadata"),
            upload_dir=credentials.get("upload_dir"),
        )

    def __init__(
        self,
        user_message_evt: Text = "user_uttered",
        bot_message_evt: Text = "bot_uttered",
        namespace: Optional[Text] = None,
        session_persistence: bool = True,
        socketio_path: Optional[Text] = "/socket.io",
        jwt_key: Optional[Text] = None,
        jwt_method: Optional[Text] = "HS256",
        metadata_key: Optional[Text] = "metadata",
        *,
        upload_dir: Optional[str] = None,
    ) -> None:
        """Rasa's ``SocketIOInput`` settings (``session_persistence`` on by default) plus ``upload_dir``."""
        super().__init__(
            user_message_evt=user_message_evt,
            bot_message_evt=bot_message_evt,
            namespace=namespace,
            session_persistence=session_persistence,
            socketio_path=socketio_path,
            jwt_key=jwt_key,
            jwt_method=jwt_method,
            metadata_key=metadata_key,
        )
        self.upload_dir = Path(upload_dir or os.environ.get("WEBCHAT_UPLOAD_DIR") or DEFAULT_UPLOAD_DIR)
        self._app: Optional[Sanic] = None
        self._redis: Optional[Redis] = None

    def redis(self) -> Redis:
        """The Redis client of this process (created on first use, in the server's loop)."""
        if self._redis is None:
            from bot.store import client as stores

            self._redis = stores.redis_from_env()
        return self._redis

    async def _remember_session(self, session_id: str) -> None:
        try:
            await self.redis().set(SESSION_KEY.format(session_id), "1", ex=SESSION_TTL)
        except Exception:  # noqa: BLE001 - chatting works without it; uploads will say so
            logger.exception("could not record web chat session %s", session_id)

    async def _upload_allowed(self, session_id: str) -> Optional[UploadError]:
        """None when this session may store one more photo; else the refusal."""
        if not SESSION_ID.match(session_id):
            return UploadError("unknown session: connect to the chat first", 403)
        redis = self.redis()
        try:
            if not await redis.exists(SESSION_KEY.format(session_id)):
                return UploadError("unknown session: connect to the chat first", 403)
            key = UPLOAD_COUNT_KEY.format(session_id)
            async with redis.pipeline(transaction=True) as pipe:  # the day starts with the first upload
                pipe.set(key, 0, ex=24 * 3600, nx=True)  # queued: a pipeline command returns the pipeline
                pipe.incr(key)
                _, count = await pipe.execute()
        except Exception:  # noqa: BLE001 - refuse rather than store without a limit
            logger.exception("upload quota unavailable for %s", session_id)
            return UploadError("temporarily unavailable, please retry", 503)
        if count > MAX_UPLOADS_PER_SESSION:
            return UploadError(f"at most {MAX_UPLOADS_PER_SESSION} images a day in one chat", 429)
        return None

    def get_output_channel(self) -> Optional[WebChatOutput]:
        """Messages outside a turn (agents, follow-ups) go to the session's room, stamped."""
        return WebChatOutput(self.sio, self.bot_message_evt) if self.sio is not None else None

    def url_prefix(self) -> Text:
        """The widget's files are at ``/webhooks/webchat/`` (socket.io itself at ``/socket.io``)."""
        return "webchat"

    # message handling --------------------------------------------------------------------
    async def _run_turn(self, sid: Text, data: Any, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """One customer message from a browser: checked, run, answered in the session's room.

        The session id comes from the socket's own ``session_request`` (kept in its socket.io
        session), never from the message, so a browser cannot write into another conversation
        (``wechat:``/``taobao:`` ones included). Replies go to the room, i.e. to every tab of
        that customer.
        """
        sio = self.sio
        assert sio is not None, "blueprint() creates the server before any message arrives"
        output = WebChatOutput(sio, self.bot_message_evt)
        session = await sio.get_session(sid, namespace=self.namespace)
        sender_id = session.get("sender_id")
        if not sender_id:
            await output._send_message(sid, delivery.domain_response(NO_SESSION_RESPONSE))
            return
        text = data.get("message") if isinstance(data, dict) else None
        if not isinstance(text, str):
            text = ""  # a malformed payload is answered like an empty message (REST does the same)
        if len(text) > MAX_MESSAGE_CHARS:
            await output.send_text_message(sender_id, delivery.domain_response(TOO_LONG_RESPONSE)["text"])
            return
        agent: Optional[Agent] = getattr(getattr(self._app, "ctx", None), "agent", None)
        turn = UserMessage(
            escape_user_text(text),
            None,
            sender_id,
            input_channel=self.name(),
            metadata=message_metadata(session["session_id"], text),
        )

        async def deliver(replies: List[Dict[Text, Any]], channel: str) -> None:
            for message in replies:
                await output.send_response(sender_id, {k: v for k, v in message.items() if k != "recipient_id"})

        # None: read together with the customer's next line(s), whose turn answers
        await turns.answer(agent, on_new_message, turn, deliver)

    async def _replay(self, sid: Text, sender_id: Text, since: object) -> None:
        """Sends a reconnecting browser what it missed (only to that socket)."""
        agent: Optional[Agent] = getattr(getattr(self._app, "ctx", None), "agent", None)
        sio = self.sio
        if agent is None or sio is None:
            return
        try:
            tracker = await agent.tracker_store.retrieve(sender_id)
        except Exception:  # noqa: BLE001 - the live conversation still works
            logger.exception("could not read %s to replay missed messages", mask_pii(sender_id))
            return
        for message in missed_messages(tracker.events if tracker else [], since):
            await sio.emit(self.bot_message_evt, message, room=sid, namespace=self.namespace)

    # routes ------------------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """Rasa's socket.io server with our session and message handlers, plus the widget routes."""
        install_log_masking()
        guard.install()
        # The parent creates the AsyncServer (self.sio) and its connect/disconnect handlers; its
        # blueprint only adds a health route at "/", which would hide the demo page, so a
        # blueprint of our own attaches the same server.
        super().blueprint(on_new_message)
        sio = self.sio
        assert sio is not None and self.socketio_path is not None, "set by super().blueprint() and from_credentials()"
        share_rooms_through_redis(sio)

        # Replaces Rasa's handler, which calls ``sio.enter_room()`` without ``await`` (a
        # coroutine since python-socketio 5.9: the browser never joined its room and no reply
        # reached it) and takes any session id a client names.
        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Any = None) -> None:
            requested = data.get("session_id") if isinstance(data, dict) else None
            session_id = requested if isinstance(requested, str) and SESSION_ID.match(requested) else uuid.uuid4().hex
            sender_id = sender_id_for(session_id)
            await sio.save_session(sid, {"session_id": session_id, "sender_id": sender_id}, namespace=self.namespace)
            await self._remember_session(session_id)
            await sio.enter_room(sid, sender_id, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)
            if session_id == requested and isinstance(data, dict) and data.get("since") is not None:
                await self._replay(sid, sender_id, data.get("since"))

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def user_uttered(sid: Text, data: Any = None) -> None:
            if await ratelimit.refuse_webchat_message(self, sid):  # over its limit: told to wait (issue 13)
                return
            try:
                await self._run_turn(sid, data, on_new_message)
            except Exception:  # noqa: BLE001 - a socket.io handler must not die silently
                logger.exception("web chat message on socket %s failed", sid)

        webchat = SocketBlueprint(sio, self.socketio_path, "webchat", __name__)

        @webchat.listener("before_server_start")
        async def remember_app(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
            self._app = app

        for name, content_type in STATIC_FILES.items():
            webchat.static(
                "/" if name == "index.html" else f"/{name}",
                STATIC_DIR / name,
                name=f"webchat_{name}",
                content_type=content_type,
                resource_type="file",
            )
        webchat.static("/uploads", str(self.upload_dir), name="webchat_uploads", resource_type="dir")

        @webchat.on_response
        async def upload_headers(request: Request, reply: HTTPResponse) -> None:
            if request.path.startswith("/webhooks/webchat/uploads/"):  # customers' photos: private, never sniffed
                reply.headers["Cache-Control"] = "private, max-age=86400"
                reply.headers["X-Content-Type-Options"] = "nosniff"
            elif request.method == "GET" and reply.status == 200:
                reply.headers.setdefault("Cache-Control", "no-cache")

        @webchat.route("/health", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webchat.route("/upload", methods=["POST"])
        async def upload(request: Request) -> HTTPResponse:
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > MAX_UPLOAD_BYTES + 64 * 1024:
                return response.json({"error": "the image is larger than 5 MB"}, status=413)
            try:
                form_file = request.files.get("file") if request.files else None
                session_id = request.form.get("session_id") if request.form else None
            except Exception:  # noqa: BLE001 - a broken multipart body
                return response.json({"error": "multipart/form-data with 'file' expected"}, status=400)
            try:
                kind = await asyncio.get_running_loop().run_in_executor(
                    None, check_upload, form_file.body if form_file else None, session_id
                )
            except UploadError as error:
                return response.json({"error": str(error)}, status=error.status)
            assert form_file is not None  # check_upload refuses a missing file
            refused = await self._upload_allowed((session_id or "").strip())
            if refused is not None:
                return response.json({"error": str(refused)}, status=refused.status)
            name = f"{uuid.uuid4().hex}.{kind}"
            try:
                await aiofiles.os.makedirs(self.upload_dir, exist_ok=True)
                async with aiofiles.open(self.upload_dir / name, "wb") as stored:
                    await stored.write(form_file.body)
            except OSError:
                logger.exception("could not store an upload")
                return response.json({"error": "temporarily unavailable, please retry"}, status=503)
            logger.info(
                "evidence image %s uploaded for %s (%d bytes)", name, mask_pii(session_id or ""), len(form_file.body)
            )
            url = f"{request.scheme}://{request.host}/webhooks/webchat/uploads/{name}"
            return response.json({"url": url})

        return webchat
