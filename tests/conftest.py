"""Shared fixtures: a real Redis server and the real bot stack, started once per test run."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Iterator

import pytest

from tools.devstack import RedisSettings, Stack, base_env, ensure_model, free_port, http_json

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The model for the current config/domain/data (trained once, reused)."""
    return ensure_model()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSettings]:
    """A real redis-server on a free port with its own data directory."""
    stack = Stack()
    data = tmp_path_factory.mktemp("redis")
    settings = stack.start_redis(free_port(), data, log=data / "redis.log")
    yield settings
    stack.stop()


@pytest.fixture(scope="session")
def redis_client(redis_server: RedisSettings):  # type: ignore[no-untyped-def]
    """A synchronous client on the test Redis server."""
    import redis

    return redis.Redis(host=redis_server.host, port=redis_server.port, db=redis_server.db, decode_responses=True)


class BotClient:
    """Talks to the running bot over HTTP, like a channel or an agent tool would."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token

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

    def say(self, sender: str, message: str) -> list[str]:
        """Sends a customer message through the REST channel; returns the bot's texts."""
        status, replies = self.post("/webhooks/rest/webhook", {"sender": sender, "message": message})
        assert status == 200, replies
        return [r.get("text", "") for r in replies]


@pytest.fixture(scope="session")
def bot(model_path: Path, redis_server: RedisSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotClient]:
    """The real service: action server + Rasa server on the test Redis."""
    logs = tmp_path_factory.mktemp("logs")
    stack = Stack()
    token = secrets.token_urlsafe(16)
    action_port, rasa_port = free_port(), free_port()
    env = base_env(
        **redis_server.env(),
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        BOT_API_TOKEN=token,
        FOLLOWUP_INTERVAL_SECONDS="1",  # the follow-up timer runs every second in tests
        WEBCHAT_UPLOAD_DIR=str(logs / "uploads"),
    )
    try:
        stack.start_actions(action_port, env, log=logs / "actions.log")
        base = stack.start_rasa(rasa_port, model_path, token, env, log=logs / "rasa.log")
        client = BotClient(base, token)
        client.logs = logs  # type: ignore[attr-defined]
        client.uploads = logs / "uploads"  # type: ignore[attr-defined]
        yield client
    finally:
        stack.stop()
