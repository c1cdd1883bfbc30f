"""The bot as a test talks to it over HTTP, and a helper that starts a whole stack for it."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from tools.devstack import RedisSettings, Stack, base_env, free_port
from tools.http_client import json_request as http_json

# The ticket fields of SPEC.md section 6 that every ticket read through the API must carry.
TICKET_FIELDS = (
    "id",
    "type",
    "urgency",
    "priority",
    "status",
    "options_offered",
    "chosen_option",
    "compensation",
    "risk_flag",
    "history",
)


class BotClient:
    """Talks to the running bot over HTTP, like a channel or an agent tool would."""

    def __init__(self, base: str, token: str, logs: Path | None = None) -> None:
        self.base = base
        self.token = token
        self.logs = logs
        self.uploads = logs / "uploads" if logs else None
        self.trainer_root: Path | None = None
        """The workspace the trainers' routes write into (``TRAINER_ROOT``), when the test set one."""

    def post(self, path: str, body: bytes | Any, *, raw: bool = False, token: bool = False) -> tuple[int, Any]:
        """POSTs JSON (or raw bytes) and returns (status, decoded JSON or text)."""
        data = body if raw else json.dumps(body, ensure_ascii=False).encode()
        status, text, parsed = http_json("POST", self.url(path, token), data)
        return status, text if parsed is None else parsed

    def get(self, path: str, *, token: bool = True) -> tuple[int, Any]:
        """GETs a path (with the API token by default)."""
        status, text, parsed = http_json("GET", self.url(path, token))
        return status, text if parsed is None else parsed

    def url(self, path: str, token: bool) -> str:
        """The server's URL for ``path``, with ``?token=`` when asked."""
        return self.base + path + ((("&" if "?" in path else "?") + "token=" + self.token) if token else "")

    def send(self, sender: str, message: str) -> tuple[int, Any]:
        """One customer message through the REST channel: (status, replies or error body)."""
        return self.post("/webhooks/rest/webhook", {"sender": sender, "message": message})

    def say(self, sender: str, message: str) -> list[str]:
        """Sends a customer message through the REST channel; returns the bot's texts."""
        status, replies = self.send(sender, message)
        assert status == 200, replies
        return [r.get("text", "") for r in replies]


def start_bot(stack: Stack, model_path: Path, redis: RedisSettings, logs: Path, **env: str) -> BotClient:
    """Starts the action server and the Rasa server on ``redis`` (stopped with ``stack.stop()``).

    Args:
        env: extra variables for both processes (``SANIC_WORKERS="2"``, ...). The follow-up
            timer runs every second unless ``FOLLOWUP_INTERVAL_SECONDS`` says otherwise.

    Raises:
        TimeoutError / RuntimeError: a server did not come up (its log is in ``logs``).
    """
    token = secrets.token_urlsafe(16)
    action_port, rasa_port = free_port(), free_port()
    variables = base_env(
        **redis.env(),
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        BOT_API_TOKEN=token,
        FOLLOWUP_INTERVAL_SECONDS="1",
        WEBCHAT_UPLOAD_DIR=str(logs / "uploads"),
    )
    variables.setdefault(
        "RATE_LIMITS", "off"
    )  # the suite sends hundreds of 401s from 127.0.0.1; tests/security turns them on
    variables.update(env)
    stack.start_actions(action_port, variables, log=logs / "actions.log")
    base = stack.start_rasa(rasa_port, model_path, token, variables, log=logs / "rasa.log")
    return BotClient(base, token, logs)
