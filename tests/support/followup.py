"""What the follow-up jobs need from the server, for tests: the real NLG on domain.yml, and an
outbox at the network edge that records what was sent."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=1)
def _domain() -> Any:
    from rasa.shared.core.domain import Domain

    return Domain.load(str(ROOT / "domain.yml"))


async def render(response: str, sender_id: str, channel: str | None = None, **values: Any) -> dict[str, Any]:
    """Rasa's templated NLG on the real domain.yml (what the server's agent does)."""
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.trackers import DialogueStateTracker

    domain = _domain()
    tracker = DialogueStateTracker(sender_id, domain.slots)
    message = await TemplatedNaturalLanguageGenerator(domain.responses).generate(
        response, tracker, channel or "rest", **values
    )
    return dict(message or {})


class Outbox:
    """What the jobs sent, as ``(sender_id, text)`` pairs (the network edge), and who sent each."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.authors: list[str] = []

    async def __call__(self, sender_id: str, message: dict[str, Any], author: str) -> None:
        self.sent.append((sender_id, message.get("text") or ""))
        self.authors.append(author)
