"""Retrain, compare, activate and roll back through the API on a running server (issue 11).

A stack of its own: the real model is served and is the live model of a tiny workspace
(``TRAINER_ROOT``: the real domain and pipeline, 10 examples per intent, DIET at 2 epochs), so a
real training job takes about a minute. Activation must make the server answer with the new
model, and rollback with the old one, without a restart.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

import pytest

from bot.training.compare import EVAL_SET_ENV
from tests.support.bot import BotClient, start_bot
from tests.support.training import tiny_project
from tools.devstack import RedisSettings, Stack, http_json

DEV = "text\ttype\ttype2\turgent\n收到的电饭煲煮饭夹生\tproduct\t\tnone\n快递一个礼拜了还没到\tlogistics\t\tnone\n你好 在吗\tnone\t\tnone\n"


@pytest.fixture(scope="module")
def trained_stack(
    model_path: Path, redis_server: RedisSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotClient]:
    root = tiny_project(tmp_path_factory.mktemp("tiny-root"))
    (root / "models").mkdir()
    live = root / "models" / model_path.name
    try:
        os.link(model_path, live)
    except OSError:
        shutil.copy2(model_path, live)
    pointer = {
        "model": f"models/{live.name}",
        "activated_by": "setup",
        "activated_at": time.time(),
        "job": None,
        "history": [],
    }
    (root / "models" / "active.json").write_text(json.dumps(pointer), encoding="utf-8")
    dev = root / "dev.tsv"
    dev.write_text(DEV, encoding="utf-8")
    logs = tmp_path_factory.mktemp("training-logs")
    stack = Stack()
    try:
        client = start_bot(stack, model_path, redis_server, logs, TRAINER_ROOT=str(root), **{EVAL_SET_ENV: str(dev)})
        client.trainer_root = root
        yield client
    finally:
        stack.stop()


def call(bot: BotClient, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    url = f"{bot.base}{path}{'&' if '?' in path else '?'}token={urllib.parse.quote(bot.token)}"
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    status, text, parsed = http_json(method, url, data)
    assert "Traceback" not in text, text
    return status, parsed if parsed is not None else text


def test_a_job_trains_compares_goes_live_and_rolls_back_without_a_restart(trained_stack: BotClient) -> None:
    bot = trained_stack
    served = call(bot, "GET", "/api/trainer/models")[1]
    original = served["loaded"]
    assert served["active"]["model"] == f"models/{original}"

    status, job = call(bot, "POST", "/api/trainer/train", {"trainer": "小王", "mode": "full"})
    assert status == 202 and job["status"] in ("queued", "training"), job
    status, busy = call(bot, "POST", "/api/trainer/train", {"trainer": "小李", "mode": "full"})
    assert status == 409 and busy["job"]["id"] == job["id"], busy

    stages = set()
    deadline = time.monotonic() + 600
    while job["status"] in ("queued", "training", "evaluating") and time.monotonic() < deadline:
        time.sleep(2)
        job = call(bot, "GET", f"/api/trainer/train/{job['id']}")[1]
        stages.add(job["progress"]["stage"])
    assert job["status"] == "ready", (job["error"], job.get("log_tail"))
    assert len(stages) >= 2, stages  # the trainer saw it move
    dev = next(s for s in job["comparison"]["sets"] if s["name"] == "dev")
    assert dev["size"] == 3 and dev["live"] is not None and dev["candidate"] is not None
    listed = call(bot, "GET", "/api/trainer/train")[1]["jobs"]
    assert listed[0]["id"] == job["id"]

    status, live = call(bot, "POST", f"/api/trainer/train/{job['id']}/activate", {"trainer": "小王"})
    assert status == 200, live
    candidate = Path(job["model"]).name
    assert live["loaded"] == candidate and live["previous"]["model"] == f"models/{original}"
    assert call(bot, "GET", "/api/trainer/models")[1]["active"]["job"] == job["id"]
    assert bot.say("training-route-customer", "你好")  # the new model answers customers
    assert call(bot, "POST", f"/api/trainer/train/{job['id']}/discard", {"trainer": "小王"})[0] == 409

    status, back = call(bot, "POST", "/api/trainer/models/rollback", {"trainer": "小王"})
    assert status == 200 and back["loaded"] == original, back
    assert call(bot, "POST", "/api/trainer/models/rollback", {"trainer": "小王"})[0] == 409  # nothing before that


def test_training_requests_that_cannot_be_honoured_are_4xx(trained_stack: BotClient) -> None:
    bot = trained_stack
    assert call(bot, "POST", "/api/trainer/train", {"trainer": "小王", "mode": "overnight"})[0] == 422
    assert call(bot, "POST", "/api/trainer/train", {"mode": "full"})[0] == 400
    assert call(bot, "GET", "/api/trainer/train/20990101-000000-abcd")[0] == 404
    assert call(bot, "GET", "/api/trainer/train/../../etc")[0] == 404
    assert call(bot, "POST", "/api/trainer/train/20990101-000000-abcd/activate", {"trainer": "小王"})[0] == 404
    assert call(bot, "POST", "/api/trainer/train/20990101-000000-abcd/discard", {"trainer": "小王"})[0] == 404
