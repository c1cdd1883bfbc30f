"""Imported chat histories kept for review (bot/trainer/import_store.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.trainer import import_store
from bot.trainer.imports import Message
from bot.trainer.review import least_sure_first
from bot.trainer.workspace import Workspace

MESSAGES = [
    Message("c1", 1.0, "buyer", "鞋子尺码不对 电话13912345678"),
    Message("c1", 2.0, "agent", "亲 换哪个尺码"),
    Message("c2", 3.0, "buyer", "嗯嗯"),
]


def parse(intent: str, confidence: float, runner: float) -> dict:
    return {
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent, "confidence": confidence}, {"name": "other", "confidence": runner}],
        "entities": [],
    }


def test_an_import_is_read_back_as_conversations_ranked_like_live_ones(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    meta = import_store.create(ws, trainer="小王", filename="a.csv", messages=MESSAGES, clock=lambda: 5.0)
    assert meta["status"] == "reading" and meta["buyer_turns"] == 2 and meta["conversations"] == 2
    events = {
        "c1": [
            import_store.user_event(MESSAGES[0], parse("complaint_product", 0.9, 0.05)),
            import_store.agent_event(MESSAGES[1]),
        ],
        "c2": [import_store.user_event(MESSAGES[2], parse("affirm", 0.5, 0.45))],
    }
    import_store.save_progress(ws, meta["import"], events, read=2, status="done")
    assert import_store.meta(ws, meta["import"])["status"] == "done"
    conversations = import_store.conversations(ws, meta["import"])
    ranked = least_sure_first(conversations)
    assert [t.text for _, t in ranked] == ["嗯嗯", "鞋子尺码不对 电话139****5678"]
    assert ranked[1][1].replies == ("亲 换哪个尺码",) and ranked[0][0].channel == "import"
    assert [m["import"] for m in import_store.list_imports(ws)] == [meta["import"]]


def test_an_import_left_reading_by_a_gone_process_shows_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(tmp_path)
    monkeypatch.setattr(os, "getpid", lambda: 2**22 + 12345)  # no such process
    meta = import_store.create(ws, trainer="小王", filename="a.csv", messages=MESSAGES)
    assert import_store.meta(ws, meta["import"])["status"] == "failed"


@pytest.mark.parametrize("bad", ["../../etc", "nope", "ABCDEF123456"])
def test_unknown_or_unsafe_import_ids_are_not_found(tmp_path: Path, bad: str) -> None:
    with pytest.raises(import_store.ImportNotFound):
        import_store.meta(Workspace(tmp_path), bad)
    with pytest.raises(import_store.ImportNotFound):
        import_store.conversations(Workspace(tmp_path), bad)
