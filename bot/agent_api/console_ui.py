"""The agents' console and the shop's dashboard screens (issue 12): static files at ``/console/``.

Registered in ``credentials.yml`` as ``bot.agent_api.console_ui.ConsoleUi``. Agents open
``/console/`` (the queue and the case screen), shop owners ``/console/dashboard``. The pages
(``console_static/``: plain JavaScript and CSS, nothing from a CDN) log in with a name and the
agents' token and call ``/api/console/...`` and ``/api/analytics/...``; the charts are SVG drawn
on the server (:mod:`bot.analytics.charts`). This channel serves files only, like
:mod:`bot.agent_api.trainer_ui`: each file is one ``Blueprint.static`` route, so nothing else in
the folder is reachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

STATIC_DIR = Path(__file__).resolve().parent / "console_static"
STATIC_FILES = {
    "index.html": ("/", "text/html"),
    "dashboard.html": ("/dashboard", "text/html"),
    "common.js": ("/common.js", "application/javascript"),
    "console.js": ("/console.js", "application/javascript"),
    "dashboard.js": ("/dashboard.js", "application/javascript"),
    "console.css": ("/console.css", "text/css"),
}
"""Each file, the path it answers under ``/console`` and its type (Sanic adds ``charset=utf-8``)."""


class ConsoleUi(InputChannel):
    """``/console/`` and ``/console/dashboard`` (never a customer channel)."""

    @classmethod
    def name(cls) -> Text:
        """Channel name."""
        return "console_ui"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "ConsoleUi":
        """No settings."""
        return cls()

    def url_prefix(self) -> Text:
        """Mounted at ``/console`` rather than under ``/webhooks``."""
        return "/console"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """One static route per file (``/console`` and ``/console/`` are the agents' console)."""
        ui = Blueprint("console_ui", __name__)
        for name, (path, content_type) in STATIC_FILES.items():
            ui.static(
                path,
                STATIC_DIR / name,
                name=f"console_{name.replace('.', '_')}",
                content_type=content_type,
                resource_type="file",
            )

        @ui.on_response
        async def no_stale_pages(request: Request, reply: HTTPResponse) -> None:
            if request.method == "GET" and reply.status == 200:
                reply.headers.setdefault("Cache-Control", "no-cache")
                reply.headers.setdefault("X-Content-Type-Options", "nosniff")

        return ui
