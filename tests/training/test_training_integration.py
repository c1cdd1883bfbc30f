"""The whole lifecycle on a tiny project, with real ``rasa train`` processes (about 2 minutes):
a full training job, activation, a trainer's new example, a fine-tuning job from the live model,
the comparison, activation and rollback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.trainer.examples import save_example
from bot.trainer.workspace import Workspace
from bot.training import jobs
from bot.training.compare import EVAL_SET_ENV
from bot.training.models import activate, live_model, rollback
from tests.support.training import tiny_project

DEV = [
    ("收到的电饭煲煮饭夹生 才用了两次", "product", "none"),
    ("快递一个礼拜了还没到 物流也不更新", "logistics", "none"),
    ("客服一直不回消息 态度太差了", "service", "none"),
    ("孩子吃了你们的奶粉拉肚子 上吐下泻", "product", "safety"),
    ("你好 在吗", "none", "none"),
]


def _wait(ws: Workspace, job: dict[str, Any], timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while job["status"] in jobs.RUNNING and time.monotonic() < deadline:
        time.sleep(1)
        job = jobs.read(ws, job["id"])
    return job


def _urgency(model: Path, text: str) -> list[str]:
    from rasa.core.agent import Agent

    parsed = asyncio.run(Agent.load(str(model)).parse_message(text))
    return [e["value"] for e in parsed["entities"] if e["entity"] == "urgency"]


def _check_shape(comparison: dict[str, Any], with_live: bool) -> None:
    assert set(comparison) == {"sets", "changed"}
    assert [s["name"] for s in comparison["sets"]] == ["dev", "malicious_cases", "trainer_stories"]
    for s in comparison["sets"]:
        assert set(s) == {"name", "size", "live", "candidate"} and s["size"] > 0
        sides = [s["candidate"], s["live"]] if with_live else [s["candidate"]]
        for side in sides:
            assert set(side) == {"per_class", "macro_f1", "urgency_recall"} and 0 <= side["macro_f1"] <= 1
            for figures in side["per_class"].values():
                assert set(figures) == {"precision", "recall", "f1", "support"}
        if not with_live:
            assert s["live"] is None
    for changed in comparison["changed"]:
        assert set(changed) == {"set", "text", "gold", "live", "candidate"}


@pytest.mark.integration
def test_train_compare_activate_finetune_and_roll_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = Workspace(tiny_project(tmp_path / "project"))
    dev = tmp_path / "dev.tsv"
    dev.write_text("text\ttype\ttype2\turgent\n" + "".join(f"{t}\t{c}\t\t{u}\n" for t, c, u in DEV), encoding="utf-8")
    monkeypatch.setenv(EVAL_SET_ENV, str(dev))
    ws.test_stories_dir.mkdir(parents=True)
    story = {"stories": [{"story": "li", "steps": [{"user": "在吗", "intent": "greet"}, {"action": "utter_greet"}]}]}
    (ws.test_stories_dir / "test_li.yml").write_text(yaml.safe_dump(story, allow_unicode=True), encoding="utf-8")

    full = _wait(ws, jobs.start(ws, trainer="li", mode="full"))
    assert full["status"] == "ready", (full["error"], full["log_tail"])
    assert full["mode"] == "full" and full["base_model"] is None and full["fallback_reason"] is None
    assert full["progress"] == {"stage": "完成", "percent": 100} and full["timings"]["train_seconds"] > 0
    assert (ws.root / "bot").is_symlink()  # config.yml's jieba dictionary path resolves in the workspace
    _check_shape(full["comparison"], with_live=False)
    first = ws.root / full["model"]
    activate(ws, first, trainer="li", job=full["id"])
    jobs.mark_activated(ws, full["id"], "li")

    domain = yaml.safe_load(ws.domain.read_text(encoding="utf-8"))
    save_example(
        ws.data_dir,
        trainer="li",
        text="新买的空气炸锅内胆涂层起泡脱落",
        intent="complaint_product",
        known_intents=domain["intents"],
        known_entities=[],
    )
    # an urgency the rule readers miss ("燎泡"), taught by marking the words (bot/language/phrases.py)
    save_example(
        ws.data_dir,
        trainer="li",
        text="宝宝手上冒了好几个燎泡",
        intent="complaint_product",
        entities=[{"start": 9, "end": 11, "entity": "urgency", "value": "safety"}],
        known_intents=domain["intents"],
        known_entities=["urgency"],
    )
    tuned = _wait(ws, jobs.start(ws, trainer="li", mode="finetune", epoch_fraction=0.5))
    assert tuned["status"] == "ready", (tuned["error"], tuned["log_tail"])
    assert tuned["mode"] == "finetune" and tuned["fallback_reason"] is None, tuned["fallback_reason"]
    assert tuned["base_model"] == full["model"] and tuned["epoch_fraction"] == 0.5
    _check_shape(tuned["comparison"], with_live=True)
    assert (ws.reports_dir / f"{tuned['id']}.md").is_file()

    second = ws.root / tuned["model"]
    assert _urgency(first, "我家孩子脚上也起了燎泡") == []
    assert _urgency(second, "我家孩子脚上也起了燎泡") == ["safety"]  # the correction is learnt
    assert _urgency(second, "还好没起燎泡") == []  # and read with negation, like the lexicon
    activate(ws, second, trainer="wang", job=tuned["id"])
    assert live_model(ws) == second
    assert rollback(ws, trainer="wang")["active"]["job"] == full["id"]
    assert live_model(ws) == first
