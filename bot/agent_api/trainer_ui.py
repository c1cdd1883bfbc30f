"""The trainers' workbench screen (issue 11): static files at ``/trainer/`` on Rasa's port.

Registered in ``credentials.yml`` as ``bot.agent_api.trainer_ui.TrainerUi``. Trainers (shop staff
who improve the bot) open ``/trainer/`` in a browser; the page (``trainer_static/index.html``,
``trainer.js``, ``trainer.css``: plain JavaScript, nothing from a CDN) logs in with the agents'
API token and talks to ``/api/trainer/...`` (:mod:`bot.agent_api.trainer_routes`), so this
channel itself serves files only: it has no API of its own, needs no token (the page holds no
data) and never handles a customer message.

Like the web chat widget (:mod:`bot.channels.webchat`), each file is one Sanic
``Blueprint.static`` route, so nothing else in ``trainer_static/`` or beside it is reachable.
``/trainer`` and ``/trainer/`` give ``index.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint

from bot.agent_api.static import files_blueprint

STATIC_DIR = Path(__file__).resolve().parent / "trainer_static"
STATIC_FILES = {
    "index.html": "text/html",
    "trainer.js": "application/javascript",
    "trainer.css": "text/css",
}
"""The workbench's files and their types (Sanic adds ``charset=utf-8``)."""


class TrainerUi(InputChannel):
    """``/trainer/``: the workbench's page, script and style sheet (never a customer channel)."""

    @classmethod
    def name(cls) -> Text:
        """Channel name."""
        return "trainer_ui"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TrainerUi":
        """No settings."""
        return cls()

    def url_prefix(self) -> Text:
        """Mounted at ``/trainer`` rather than under ``/webhooks``."""
        return "/trainer"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """One static route per file; ``/trainer`` and ``/trainer/`` are ``index.html``."""
        routes = {name: ("/" if name == "index.html" else f"/{name}", kind) for name, kind in STATIC_FILES.items()}
        return files_blueprint("trainer_ui", STATIC_DIR, routes)  # "/" also answers "/trainer"
