"""The layers of docs/architecture.md, checked on the source: each layer imports only the
layers below it, the domain layers import no framework, and nothing imports upwards or sideways
between connectors. A new import that breaks the house fails here with the line that did it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Rank of each layer (docs/architecture.md, "Layers"): a module may import bot packages of a lower
# rank, and its own package; never a higher rank, never another package of the same rank.
LAYERS: dict[str, int] = {
    "bot.vocabulary": 0,
    "bot.privacy": 0,
    "bot.language": 1,
    "bot.policy": 2,
    "bot.trainer": 2,
    "bot.nlu": 2,
    "bot.quality": 2,
    "bot.analytics": 3,
    "bot.store": 4,
    "bot.rasa_ext": 5,
    "bot.training": 5,
    "bot.services": 6,
    "bot.followup": 7,
    "bot.channels": 8,
    "bot.agent_api": 8,
}
# The domain layers stay plain Python: they can be read, tested and reused without a server.
NO_FRAMEWORK = (
    "bot.vocabulary",
    "bot.privacy",
    "bot.language",
    "bot.policy",
    "bot.trainer",
    "bot.quality",
    "bot.analytics",
)
FRAMEWORKS = ("rasa", "rasa_sdk", "sanic", "redis", "aiohttp", "socketio")
# The runtime never imports the developer tools, the action server or the tests.
NEVER_FROM_BOT = ("tools", "actions", "tests")


def _package_of(module: str) -> str | None:
    for layer in sorted(LAYERS, key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


SOURCES = sorted((ROOT / "bot").rglob("*.py"))


def test_every_bot_module_is_in_a_layer() -> None:
    loose = [str(p.relative_to(ROOT)) for p in SOURCES if p.name != "__init__.py" or p.parent != ROOT / "bot"]
    loose = [p for p in loose if _package_of(_module_name(ROOT / p)) is None]
    assert loose == [], f"modules outside every layer of docs/architecture.md: {loose}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(path: Path) -> None:
    module = _module_name(path)
    own = _package_of(module)
    if own is None:
        return
    broken = []
    for line, target in _imports(path):
        top = target.split(".")[0]
        if top in NEVER_FROM_BOT:
            broken.append(f"{line}: {target} (the runtime never imports {top}/)")
        if own in NO_FRAMEWORK and top in FRAMEWORKS:
            broken.append(f"{line}: {target} ({own} is plain Python, no {top})")
        other = _package_of(target)
        if other is None or other == own:
            continue
        if LAYERS[other] >= LAYERS[own]:
            broken.append(f"{line}: {target} ({own} rank {LAYERS[own]} imports {other} rank {LAYERS[other]})")
    assert broken == [], f"{path.relative_to(ROOT)} imports against the layers:\n" + "\n".join(broken)


def test_a_broken_import_is_caught(tmp_path: Path) -> None:
    """The check itself can fail: a language module importing the store is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from bot.store.tickets import TicketStore\nimport redis\n", encoding="utf-8")
    targets = [t for _, t in _imports(bad)]
    assert "bot.store.tickets" in targets and "redis" in targets
    assert LAYERS[_package_of("bot.store.tickets")] > LAYERS["bot.language"]
