"""The trainers' read routes on the running bot: which conversations to review, one conversation's turns."""

from __future__ import annotations

import time
import urllib.parse
import uuid
from typing import Any

from tools.devstack import http_json


def get(bot: Any, path: str, token: str | None = "") -> tuple[int, Any]:
    url = bot.base + path
    key = bot.token if token == "" else token
    if key is not None:
        url += ("&" if "?" in url else "?") + "token=" + urllib.parse.quote(key)
    status, text, parsed = http_json("GET", url, None)
    assert "Traceback" not in text, text
    return status, parsed


def test_a_misread_turn_is_listed_and_shown_with_its_reading(bot: Any) -> None:
    sender = f"trainer-{uuid.uuid4().hex[:10]}"
    started = time.time() - 1
    bot.say(sender, "asdfghjkl")  # not understood: a fallback
    bot.say(sender, "我的电话13912345678 杯子收到就是碎的")

    status, listing = get(bot, f"/api/trainer/conversations?filter=fallback&since={started}&limit=200")
    assert status == 200, listing
    row = next(c for c in listing["conversations"] if c["sender_id"] == sender)
    assert row["turn_count"] == 2 and row["least_confidence"] <= 1.0

    status, conversation = get(bot, f"/api/trainer/conversations/{sender}")
    assert status == 200, conversation
    first, second = conversation["turns"]
    assert first["intent"] == "nlu_fallback" and first["fallback"] and first["uncertainty"] >= 1.0
    assert first["replies"], "the bot's answer is shown with the turn"
    assert "13912345678" not in second["text"] and "139****5678" in second["text"]
    assert second["intent"].startswith("complaint_") and second["runner_up"]
    assert 0.0 <= second["margin"] <= 1.0


def test_bad_queries_unknown_conversations_and_missing_tokens_are_4xx(bot: Any) -> None:
    assert get(bot, "/api/trainer/conversations?filter=sad")[0] == 400
    assert get(bot, "/api/trainer/conversations?since=yesterday")[0] == 400
    assert get(bot, "/api/trainer/conversations?limit=0")[0] == 400
    assert get(bot, "/api/trainer/conversations?order=random")[0] == 400
    assert get(bot, "/api/trainer/conversations/nobody-" + uuid.uuid4().hex)[0] == 404
    assert get(bot, "/api/trainer/conversations", token=None)[0] == 401
