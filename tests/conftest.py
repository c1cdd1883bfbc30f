"""Shared fixtures (a real Redis server, the real bot stack, started once per run) and the test layers.

Layers (``pytest -m unit`` / ``integration`` / ``e2e``; ``make test-fast`` runs the unit layer):

* ``e2e``: the whole stack or a browser: a test that uses the trained model (``model_path``,
  ``bot`` and every stack fixture built on them) or Playwright (``browser``, ``page``).
* ``integration``: real servers started in the test run but no trained model: a test that uses
  ``redis_server`` (or ``redis_client``), in-process Sanic apps, fake platform servers, or
  whose own body starts processes with ``tools.devstack.Stack`` (a Redis it restarts).
* ``unit``: everything else: no servers (a test may dial a closed port); the whole layer runs in
  under a minute.

The layer is read from the fixtures a test uses (``pytest_collection_modifyitems``), so a new
test lands in the right layer by itself; a test may also carry the marker itself (the heaviest
one it carries wins). ``--strict-markers`` (pytest.ini) rejects a misspelt marker.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.support.bot import BotClient, start_bot
from tools.devstack import RedisSettings, Stack, ensure_model, free_port

ROOT = Path(__file__).resolve().parent.parent

# Every stack and channel of the run reads customers' lines without the 1.5 s quiet window (it would
# add 1.5 s to each of the suite's ~1,500 turns); the burst tests (tests/test_turns.py, the soak) set
# it back to the product's default themselves. Lines that arrive while a turn runs are still merged.
os.environ.setdefault("BURST_WINDOW_SECONDS", "0")

LAYERS = ("unit", "integration", "e2e")  # lightest first
E2E_FIXTURES = frozenset({"model_path", "bot", "browser", "page"})
INTEGRATION_FIXTURES = frozenset({"redis_server", "redis_client"})


def layer_of(fixtures: set[str], markers: set[str], starts_processes: bool = False) -> str:
    """The layer of a test that uses ``fixtures`` (its whole fixture closure) and carries ``markers``.

    ``starts_processes``: the test function itself names ``Stack`` (starts servers in its body).
    """
    found = "unit"
    if starts_processes or fixtures & INTEGRATION_FIXTURES:
        found = "integration"
    if fixtures & E2E_FIXTURES:
        found = "e2e"
    for marker in markers & set(LAYERS):
        if LAYERS.index(marker) > LAYERS.index(found):
            found = marker
    return found


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks every test with its layer (see the module docstring)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        markers = {mark.name for mark in item.iter_markers()}
        code = getattr(getattr(item, "function", None), "__code__", None)
        layer = layer_of(fixtures, markers, starts_processes=code is not None and "Stack" in code.co_names)
        if layer not in markers:
            item.add_marker(getattr(pytest.mark, layer))


@pytest.fixture(autouse=True)
def _unit_tests_start_no_servers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test that starts a process fails at once: it belongs to another layer."""
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(self: Stack, name: str, *args: object, **kwargs: object) -> None:
        raise AssertionError(
            f"a unit test started {name!r}: use the redis_server/bot fixtures or mark it integration/e2e"
        )

    monkeypatch.setattr(Stack, "start", refuse)


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


@pytest.fixture(scope="session")
def bot(model_path: Path, redis_server: RedisSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotClient]:
    """The real service: action server + Rasa server (one Sanic worker) on the test Redis."""
    logs = tmp_path_factory.mktemp("logs")
    trainer_root = trainer_workspace(tmp_path_factory.mktemp("trainer-root"))
    stack = Stack()
    try:
        client = start_bot(stack, model_path, redis_server, logs, TRAINER_ROOT=str(trainer_root))
        client.trainer_root = trainer_root
        yield client
    finally:
        stack.stop()


def trainer_workspace(folder: Path) -> Path:
    """A copy of the project's training inputs for the trainers' workbench to write into (``TRAINER_ROOT``),
    so no test saves into the checkout (``data/`` is part of the model's fingerprint)."""
    shutil.copytree(ROOT / "data", folder / "data")
    for name in ("domain.yml", "config.yml"):
        shutil.copy2(ROOT / name, folder / name)
    return folder


CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium, which Playwright drives (nothing is downloaded)."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium for the browser tests of a module."""
    # Not a skip: `make test` installs Debian's chromium (tools/setup.sh --browser).
    assert CHROMIUM.exists(), "chromium is not installed at /usr/bin/chromium: run `bash tools/setup.sh --browser`"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
