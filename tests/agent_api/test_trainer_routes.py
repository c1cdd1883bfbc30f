"""The trainers' read routes on the running bot: which conversations to review, one conversation's turns."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import uuid
from typing import Any

import pytest
import yaml

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


# ---------------------------------------------------------------------------------------------
# Saving corrections (the session bot writes into a copy of data/: bot.trainer_root)
# ---------------------------------------------------------------------------------------------


def post(bot: Any, path: str, body: Any, *, raw: bool = False, query: str = "") -> tuple[int, Any]:
    url = f"{bot.base}{path}?token={urllib.parse.quote(bot.token)}{query}"
    data = body if raw else json.dumps(body, ensure_ascii=False).encode()
    status, text, parsed = http_json("POST", url, data)
    assert "Traceback" not in text, text
    return status, parsed if parsed is not None else text


def unique(text: str) -> str:
    """A text no other test run saved (the words stay Chinese; a number makes it new)."""
    return f"{text}{uuid.uuid4().int % 100000}号"


def test_a_corrected_example_is_saved_valid_and_audited(bot: Any) -> None:
    text = unique("电饭煲收到就是碎的 第")
    status, saved = post(
        bot,
        "/api/trainer/examples",
        {
            "trainer": "小王",
            "text": text,
            "intent": "complaint_product",
            "entities": [{"start": 0, "end": 3, "entity": "product_category"}],
            "conversation": "rest:someone",
        },
    )
    assert status == 201, saved
    assert saved["file"] == "data/nlu/trainer/complaint_product.yml" and saved["validated"]
    written = (bot.trainer_root / saved["file"]).read_text(encoding="utf-8")
    # the words are read into the category the rule reader uses, as the dialogue expects
    assert f'- [电饭煲]{{"entity": "product_category", "value": "appliances"}}{text[3:]}' in written
    data = yaml.safe_load(written)  # still a valid Rasa NLU file
    assert data["nlu"][0]["intent"] == "complaint_product"
    audit = [json.loads(line) for line in (bot.trainer_root / "data/trainer_audit.jsonl").read_text().splitlines()]
    assert any(
        a["trainer"] == "小王" and text[3:] in a["example"] and a["conversation"] == "rest:someone" for a in audit
    )

    # the same words and marks again under the same intent: nothing written twice
    status, again = post(
        bot,
        "/api/trainer/examples",
        {
            "trainer": "小李",
            "text": text,
            "intent": "complaint_product",
            "entities": [{"start": 0, "end": 3, "entity": "product_category"}],
        },
    )
    assert status == 200 and again["duplicate"], again
    assert (bot.trainer_root / saved["file"]).read_text(encoding="utf-8").count(text[3:]) == 1

    # and under another intent: refused, both shown
    status, refused = post(
        bot, "/api/trainer/examples", {"trainer": "小李", "text": text, "intent": "complaint_logistics"}
    )
    assert status == 409, refused
    assert refused["existing_intent"] == "complaint_product" and refused["intent"] == "complaint_logistics"
    assert refused["existing_file"] == "data/nlu/trainer/complaint_product.yml"


def test_a_contradiction_with_the_shipped_data_is_refused(bot: Any) -> None:
    shipped = (bot.trainer_root / "data/nlu/general.yml").read_text(encoding="utf-8")
    block = next(b for b in yaml.safe_load(shipped)["nlu"] if b.get("intent") == "greet")
    line = next(x[2:].strip() for x in block["examples"].splitlines() if x.strip().startswith("- ") and "[" not in x)
    status, refused = post(
        bot, "/api/trainer/examples", {"trainer": "小王", "text": line, "intent": "complaint_service"}
    )
    assert status == 409, refused
    assert refused["existing_intent"] == "greet" and refused["existing_file"] == "data/nlu/general.yml"


def test_misaligned_spans_and_unknown_names_are_refused_with_the_reason(bot: Any) -> None:
    text = unique("保温杯收到就是碎的 编号")
    status, refused = post(
        bot,
        "/api/trainer/examples",
        {
            "trainer": "小王",
            "text": text,
            "intent": "complaint_product",
            "entities": [{"start": 1, "end": 3, "entity": "product_category"}],
        },
    )
    assert status == 422, refused
    (problem,) = refused["problems"]
    assert problem["suggested"] == {"start": 0, "end": 3} and "保温杯" in problem["reason_zh"]
    for body in (
        {"trainer": "小王", "text": text, "intent": "complaint_nonsense"},
        {
            "trainer": "小王",
            "text": text,
            "intent": "complaint_product",
            "entities": [{"start": 0, "end": 3, "entity": "colour"}],
        },
        {
            "trainer": "小王",
            "text": text,
            "intent": "complaint_product",
            "entities": [{"start": "0", "end": 3, "entity": "urgency"}],
        },
        {"trainer": "小王", "text": " " + text, "intent": "complaint_product"},
        {"trainer": "小王", "text": text, "intent": "nlu_fallback"},
    ):
        status, refused = post(bot, "/api/trainer/examples", body)
        assert status == 422, (body, refused)
    assert post(bot, "/api/trainer/examples", {"text": text, "intent": "complaint_product"})[0] == 400  # no trainer
    # words that are no category the bot knows, and no value given: the categories are listed
    status, refused = post(
        bot,
        "/api/trainer/examples",
        {
            "trainer": "小王",
            "text": text,
            "intent": "complaint_product",
            "entities": [{"start": 0, "end": 3, "entity": "product_category"}],
        },
    )
    assert status == 422 and "appliances" in refused["error"], refused
    assert not list((bot.trainer_root / "data/nlu/trainer").glob("complaint_nonsense*"))


def test_two_trainers_saving_at_the_same_moment_both_keep_their_example(bot: Any) -> None:
    texts = [unique("快递员态度太差 把箱子扔门口 第"), unique("客服一直不回消息 等了两天 第")]
    intents = ["complaint_logistics", "complaint_service"]
    barrier = threading.Barrier(2)
    results: list[tuple[int, Any]] = [(0, None), (0, None)]

    def save(i: int) -> None:
        barrier.wait()
        results[i] = post(
            bot, "/api/trainer/examples", {"trainer": f"训练师{i}", "text": texts[i], "intent": intents[i]}
        )

    workers = [threading.Thread(target=save, args=(i,)) for i in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
    assert [r[0] for r in results] == [201, 201], results
    for text, intent in zip(texts, intents):
        assert text in (bot.trainer_root / f"data/nlu/trainer/{intent}.yml").read_text(encoding="utf-8")


def test_a_story_and_its_test_story_come_from_a_conversation_without_phone_numbers(bot: Any) -> None:
    sender = f"trainer-story-{uuid.uuid4().hex[:8]}"
    bot.say(sender, "asdfghjkl")
    bot.say(sender, "杯子收到就是碎的，我电话13912345678")
    status, saved = post(
        bot,
        "/api/trainer/stories",
        {
            "trainer": "小王",
            "conversation": sender,
            "upto": 1,
            "corrections": {},
            "next_action_ok": True,
            "kind": "story",
        },
    )
    assert status == 201, saved
    story = (bot.trainer_root / saved["story_file"]).read_text(encoding="utf-8")
    test_story = (bot.trainer_root / saved["test_file"]).read_text(encoding="utf-8")
    assert "13912345678" not in story + test_story
    steps = yaml.safe_load(story)["stories"][0]["steps"]
    assert steps[0] == {"intent": "nlu_fallback"} and any("action" in s for s in steps[1:])
    assert "139****5678" in test_story and saved["test_file"].startswith("tests/trainer_stories/test_")

    status, refused = post(
        bot, "/api/trainer/stories", {"trainer": "小王", "conversation": sender, "upto": 7, "next_action_ok": True}
    )
    assert status == 422, refused
    # a story the shop's rules contradict would break the next training: refused, nothing kept
    before = sorted((bot.trainer_root / "data/stories/trainer").iterdir())
    status, refused = post(
        bot,
        "/api/trainer/stories",
        {"trainer": "小王", "conversation": sender, "upto": 0, "next_action_ok": False, "next_action": "utter_goodbye"},
    )
    assert status == 422 and "Contradicting" in refused["error"], refused
    assert sorted((bot.trainer_root / "data/stories/trainer").iterdir()) == before
    status, refused = post(
        bot,
        "/api/trainer/stories",
        {"trainer": "小王", "conversation": sender, "upto": 0, "next_action_ok": False, "next_action": "action_fly"},
    )
    assert status == 422, refused


CHAT_EXPORT = """会话ID,时间,角色,内容
c1,2026-11-01 10:00:00,买家,你好 我买的鞋子尺码不对
c1,2026-11-01 10:00:30,客服,亲 您要换哪个尺码呢
c1,2026-11-01 10:01:00,买家,换大一码吧
c2,2026-11-02 09:00:00,买家,快递三天了还没动 怎么回事
c2,2026-11-02 09:01:00,买家,嗯嗯 那个啥
"""


def test_a_gbk_chat_export_is_read_by_the_model_and_queued_least_sure_first(bot: Any) -> None:
    status, created = post(
        bot, "/api/trainer/imports", CHAT_EXPORT.encode("gbk"), raw=True, query="&trainer=小王&filename=chats.csv"
    )
    assert status == 202, created
    assert created["conversations"] == 2 and created["buyer_turns"] == 4
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, state = get(bot, f"/api/trainer/imports/{created['import']}")
        if state["status"] != "reading":
            break
        time.sleep(0.5)
    assert state["status"] == "done" and state["read"] == 4, state
    status, queue = get(bot, f"/api/trainer/queue?import={created['import']}")
    assert status == 200
    turns = queue["turns"]
    assert len(turns) == 4 and all(t["channel"] == "import" for t in turns)
    assert [t["uncertainty"] for t in turns] == sorted((t["uncertainty"] for t in turns), reverse=True)
    first = next(t for t in turns if t["text"].startswith("你好"))
    assert first["replies"] == ["亲 您要换哪个尺码呢"]  # the shop agent's answer shown with the turn
    status, conversation = get(bot, f"/api/trainer/conversations/{first['sender_id']}")
    assert status == 200 and conversation["turn_count"] == 2


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b"a,b\n1,2\n", 422, "missing column"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, 422, "UTF-8"),
        ("会话ID,时间,角色,内容\nc1,昨天,买家,你好\nc1,2026-11-01 10:00:00,路人,在吗\n".encode(), 422, "row"),
        (b"x" * (21 * 1024 * 1024), 413, "MB"),
    ],
)
def test_bad_chat_exports_are_refused_whole_with_the_rows_named(bot: Any, body: bytes, status: int, words: str) -> None:
    before = get(bot, "/api/trainer/imports")[1]["imports"]
    answer, refused = post(bot, "/api/trainer/imports", body, raw=True, query="&trainer=小王&filename=chats.csv")
    assert answer == status, refused
    assert words in refused["error"]
    if words == "row":
        assert [p["row"] for p in refused["problems"]] == [1, 2]
    assert len(get(bot, "/api/trainer/imports")[1]["imports"]) == len(before)  # nothing half imported


@pytest.mark.parametrize(
    "path",
    [
        "/api/trainer/examples",
        "/api/trainer/stories",
        "/api/trainer/tokens",
        "/api/trainer/train",
        "/api/trainer/train/20261130-000000-abcd/activate",
        "/api/trainer/train/20261130-000000-abcd/discard",
        "/api/trainer/models/rollback",
    ],
)
def test_malformed_json_is_400_on_every_trainer_post(bot: Any, path: str) -> None:
    for body in (b"{", b"[]", b"\xff\xfe", b"null"):
        status, answer = post(bot, path, body, raw=True)
        assert status in (400, 422), (path, body, status, answer)
    status = http_json("POST", bot.base + path, b"{}")[0]
    assert status == 401


def test_the_domain_and_tokens_a_correction_needs(bot: Any) -> None:
    status, domain = get(bot, "/api/trainer/domain")
    assert status == 200 and "complaint_product" in domain["intents"] and "nlu_fallback" not in domain["intents"]
    assert "product_category" in domain["entities"] and "safety" in domain["urgency"]
    status, tokens = post(bot, "/api/trainer/tokens", {"text": "保温杯收到就是碎的"})
    assert status == 200 and tokens["tokens"][0] == {"text": "保温杯", "start": 0, "end": 3}


def test_entities_are_shown_where_the_nlu_read_them_with_personal_data_masked(bot: Any) -> None:
    sender = f"trainer-pii-{uuid.uuid4().hex[:8]}"
    bot.say(sender, "[流泪][流泪]我电话138 1234 5678 孩子喝了奶粉拉肚子")
    status, conversation = get(bot, f"/api/trainer/conversations/{sender}")
    assert status == 200, conversation
    (turn,) = conversation["turns"]
    assert "1234" not in json.dumps(turn, ensure_ascii=False)  # neither the text nor an entity value
    for entity in turn["entities"]:
        if entity["entity"] in ("product_category", "urgency"):
            assert turn["text"][entity["start"] : entity["end"]] in ("奶粉", "拉肚", "拉肚子"), (turn["text"], entity)


def test_odd_queries_stories_and_imports_are_4xx(bot: Any) -> None:
    assert get(bot, "/api/trainer/conversations?since=nan")[0] == 400
    assert get(bot, "/api/trainer/conversations?until=inf")[0] == 400
    sender = f"trainer-odd-{uuid.uuid4().hex[:8]}"
    bot.say(sender, "你好")
    for corrections in ({"²": {"intent": "greet"}}, {"0": {"intent": "greet", "entities": 5}}, {"0": "greet"}):
        body = {
            "trainer": "小王",
            "conversation": sender,
            "upto": 0,
            "next_action_ok": True,
            "corrections": corrections,
        }
        assert post(bot, "/api/trainer/stories", body)[0] == 422, corrections
    nan = '{"conversation_id": "c1", "time": NaN, "role": "buyer", "text": "你好"}\n'
    status, refused = post(bot, "/api/trainer/imports", nan.encode(), raw=True, query="&trainer=小王&filename=a.jsonl")
    assert status == 422 and refused["problems"][0]["row"] == 1, refused
    deep = "[" * 100000 + "]" * 100000
    assert post(bot, "/api/trainer/examples", deep.encode(), raw=True)[0] == 400
