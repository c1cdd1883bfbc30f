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

from bot.agent_api.static import files_blueprint

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
        return files_blueprint("console_ui", STATIC_DIR, STATIC_FILES)
