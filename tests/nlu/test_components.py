"""The custom graph components on real Rasa messages and tokens."""

from __future__ import annotations

from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.language.normalize import normalize_text
from bot.nlu.components import DigitMasker


def test_digit_masker_changes_lemmas_not_text() -> None:
    message = Message(data={TEXT: "单号SF4718293650412"})
    message.set(TOKENS_NAMES[TEXT], [Token("单号", 0), Token("SF4718293650412", 2)])
    DigitMasker({}).process([message])
    assert [t.lemma for t in message.get(TOKENS_NAMES[TEXT])] == ["单号", "SF#"]
    assert message.get(TEXT) == "单号SF4718293650412"
    assert message.get(TOKENS_NAMES[TEXT])[1].text == "SF4718293650412"


def test_digit_masker_caps_the_classifiers_tokens_only() -> None:
    text = "快递 " * 100
    message = Message(data={TEXT: text})
    message.set(TOKENS_NAMES[TEXT], [Token("快递", i * 3) for i in range(100)])
    DigitMasker({"max_tokens": 48}).process([message])
    assert len(message.get(TOKENS_NAMES[TEXT])) == 48
    assert message.get(TEXT) == text  # the rules still read the whole message


def test_the_intent_rules_component_adds_cause_and_secondary_type() -> None:
    from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY

    from bot.nlu.components import ComplaintIntentRules

    text = "你们怎么回事 我拍的是小耙子 怎么寄过来是铲子 客服也一直不回"
    message = Message(data={TEXT: text})
    ranking = [{"name": "complaint_product", "confidence": 0.7}, {"name": "complaint_service", "confidence": 0.2}]
    message.set(INTENT, ranking[0])
    message.set(INTENT_RANKING_KEY, ranking)
    ComplaintIntentRules({}).process([message])
    assert message.get(INTENT)["name"] == "complaint_product"
    found = {(e["entity"], e.get("role"), e["value"]) for e in message.get(ENTITIES)}
    assert ("complaint_cause", None, "wrong_item") in found
    assert ("complaint_type2", None, "service") in found
    assert ("complaint_cause", "secondary", "unresponsive") in found


def test_the_entity_extractor_reports_wishes_and_amount_roles() -> None:
    from rasa.shared.nlu.constants import ENTITIES

    from bot.nlu.components import RuleEntityExtractor

    message = Message(data={TEXT: "不要退款 换个新的 花了300 至少赔我2千"})
    RuleEntityExtractor({}).process([message])
    found = {(e["entity"], e.get("role"), e["value"]) for e in message.get(ENTITIES)}
    assert ("desired_outcome", None, "exchange") in found and ("desired_outcome", None, "refund") not in found
    assert ("amount", "price", 300.0) in found and ("amount", "demand", 2000.0) in found


def test_normalising_training_data_moves_annotated_spans_with_their_words() -> None:
    from bot.nlu.components import moved_spans

    before = "[流泪]我的電熱毯把手燙出泡了"
    after = normalize_text(before)
    start = before.index("燙出泡")
    (moved,) = moved_spans(before, after, [{"entity": "urgency", "value": "safety", "start": start, "end": start + 3}])
    assert after[moved["start"] : moved["end"]] == "烫出泡"
    assert moved_spans("[流泪]好", normalize_text("[流泪]好"), [{"entity": "urgency", "start": 0, "end": 4}]) == []


def test_learned_phrases_train_persist_load_and_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rasa.engine.graph import ExecutionContext
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.training_data.training_data import TrainingData

    from bot.nlu.components import LearnedPhrases

    storage = LocalModelStorage(tmp_path)
    resource = Resource("learned_phrases")
    context = ExecutionContext(graph_schema=None, model_id="m")  # type: ignore[arg-type]
    example = Message(
        data={
            TEXT: "手上烫出泡了",
            "intent": "complaint_product",
            "entities": [{"entity": "urgency", "value": "safety", "start": 2, "end": 5}],
        }
    )
    LearnedPhrases.create({}, storage, resource, context).train(TrainingData([example]))
    loaded = LearnedPhrases.load({}, storage, resource, context)
    message = Message(data={TEXT: "孩子脚被烫出泡"})
    loaded.process([message])
    assert [(e["entity"], e["value"]) for e in message.get("entities")] == [("urgency", "safety")]
