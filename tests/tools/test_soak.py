"""tools/soak.py at a tiny size against a real cluster (two Rasa and two action servers behind nginx).

Six customers, two per channel (REST, the widget over socket.io long-polling, WeChat through the
fake WeChat API of tools/fake_platforms.py), with the product's default burst window and one
``kill -9`` of an action server while they talk; the report's accounting must balance: every line
sent is recorded once, nothing lost, nothing answered twice, no duplicate ticket. About 3 minutes
(the cluster takes most of it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from tools.cluster import start_cluster
from tools.devstack import free_port
from tools.soak import (
    FakeWeChatThread,
    SoakConfig,
    cluster_env,
    markdown,
    next_step,
    parse_kills,
    persona,
    prepare_trainer_root,
    run_soak,
)


def test_kill_plans_and_the_customers_answers() -> None:
    assert parse_kills("off", 60) == []
    assert parse_kills("actions-1,rasa-1@+5,actions-2@12", 60) == [(60, "actions-1"), (65, "rasa-1"), (12, "actions-2")]
    import random

    rng = random.Random(1)
    who = persona(rng)
    assert all("，" not in line for line in who.opening + who.pii)
    assert next_step(["已登记，工单号 TS202611300001。"], who, [], rng) is None
    assert next_step(["确认一下：换货。确认的话回复“确认”，想换别的方案也可以直接说。"], who, [], rng) == ["确认"]
    assert next_step(["请把订单号发给我（在“我的订单”里能看到）。"], who, [], rng) == [f"订单号{who.order}"]


@pytest.fixture(scope="module")
def soak_report(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    folder = tmp_path_factory.mktemp("soak")
    prepare_trainer_root(folder)
    fake = FakeWeChatThread().start()
    mp = pytest.MonkeyPatch()
    mp.setenv("REDIS_PORT", str(free_port()))  # not the 6379 another stack may hold
    mp.delenv("REDIS_URL", raising=False)
    try:
        cluster = start_cluster(folder / "var", env=cluster_env(fake.api, folder), model=model_path)
        try:
            config = SoakConfig(conversations=6, ramp=3, kills=[(8.0, "actions-1")], max_steps=5, seed=7)
            yield run_soak(config, cluster, fake.api, "pytest tests/tools/test_soak.py")
        finally:
            cluster.stop()
    finally:
        mp.undo()
        fake.stop()


def test_a_tiny_soak_accounts_for_every_line(soak_report: Dict[str, Any]) -> None:
    total = soak_report["total"]
    problems = soak_report["problems"]
    assert total["conversations"] == 6 and set(soak_report["per_channel"]) == {"rest", "webchat", "wechat"}
    assert all(c["sent"] >= 2 for c in soak_report["per_channel"].values()), soak_report["per_channel"]
    assert total["refused"] == 0, soak_report["http_errors"]
    assert total["sent"] == total["recorded"] == total["accepted"], (total, problems)
    assert total["lost"] == 0 and total["answered_twice"] == 0, problems
    assert total["duplicate_tickets"] == 0, problems
    assert total["answered_turns"] >= total["turns"] - total["turns_without_bot_message"] - 1, total
    assert soak_report["settled"] is True
    [kill] = soak_report["kills"]
    assert kill["program"] == "actions-1" and kill["pid"] > 0
    assert soak_report["supervisor"]["spawned"].get("actions-1", 0) >= 2, soak_report["supervisor"]
    assert soak_report["wechat_ack_seconds"]["deliveries"] >= soak_report["per_channel"]["wechat"]["sent"]
    assert soak_report["turn_latency_seconds"]["all"]["p50"] is not None
    assert "## Targets" in markdown(soak_report)
