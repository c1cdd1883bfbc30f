"""Saving a trainer's example: checked, append-only, atomic, serialised, audited."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
import yaml

from bot.trainer.examples import (
    AUDIT_FILE,
    Contradiction,
    ExampleError,
    MisalignedSpans,
    annotate,
    existing,
    remove_example,
    save_example,
)

INTENTS = ("complaint_product", "complaint_logistics", "inform")
ENTITIES = ("product", "order_id", "urgency")


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    nlu = tmp_path / "data" / "nlu"
    nlu.mkdir(parents=True)
    (nlu / "complaint_logistics.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: complaint_logistics\n  examples: |\n    - 快递五天了还没到\n', encoding="utf-8"
    )
    return tmp_path / "data"


def save(
    data_dir: Path, text: str, intent: str = "complaint_product", entities=(), trainer: str = "小王", validate=None
):
    return save_example(
        data_dir,
        trainer=trainer,
        text=text,
        intent=intent,
        entities=entities,
        known_intents=INTENTS,
        known_entities=ENTITIES,
        conversation="rest:c1",
        validate=validate,
        clock=lambda: 1000.0,
    )


def test_an_example_is_appended_as_valid_rasa_yaml_with_its_entity_and_audited(data_dir: Path) -> None:
    saved = save(data_dir, "电饭煲煮饭夹生", entities=[{"entity": "product", "start": 0, "end": 3}])
    assert saved.file == data_dir / "nlu" / "trainer" / "complaint_product.yml"
    block = yaml.safe_load(saved.file.read_text(encoding="utf-8"))["nlu"][0]
    assert block["intent"] == "complaint_product" and block["examples"] == "- [电饭煲](product)煮饭夹生\n"
    save(data_dir, "台灯不亮", trainer="小李")
    block = yaml.safe_load(saved.file.read_text(encoding="utf-8"))["nlu"][0]
    assert block["examples"].splitlines() == ["- [电饭煲](product)煮饭夹生", "- 台灯不亮"]  # nothing rewritten
    audit = [json.loads(line) for line in (data_dir / AUDIT_FILE).read_text(encoding="utf-8").splitlines()]
    assert [(a["trainer"], a["intent"], a["conversation"]) for a in audit] == [
        ("小王", "complaint_product", "rest:c1"),
        ("小李", "complaint_product", "rest:c1"),
    ]


def test_the_same_text_under_another_intent_is_a_contradiction_naming_both(data_dir: Path) -> None:
    with pytest.raises(Contradiction) as refused:
        save(data_dir, "快递五天了 还没到")  # the same text once normalised
    assert refused.value.status == 409 and refused.value.existing_intent == "complaint_logistics"
    assert "complaint_logistics.yml" in refused.value.existing_file
    assert not (data_dir / "nlu" / "trainer").exists()


def test_the_same_text_under_the_same_intent_is_a_duplicate_not_a_second_line(data_dir: Path) -> None:
    assert save(data_dir, "快递五天了还没到", intent="complaint_logistics").duplicate


def test_bad_examples_are_refused_with_the_reason(data_dir: Path) -> None:
    with pytest.raises(MisalignedSpans, match="电饭煲"):
        save(data_dir, "电饭煲煮饭夹生", entities=[{"entity": "product", "start": 1, "end": 3}])
    with pytest.raises(ExampleError, match="unknown intent"):
        save(data_dir, "你好", intent="complaint_weather")
    with pytest.raises(ExampleError, match="unknown entity"):
        save(data_dir, "电饭煲坏了", entities=[{"entity": "colour", "start": 0, "end": 3}])
    with pytest.raises(ExampleError, match="line breaks"):
        save(data_dir, "第一行\n第二行")
    with pytest.raises(ExampleError, match="trainer name"):
        save(data_dir, "电饭煲坏了", trainer=" ")


def _save_in_process(args: tuple[str, str]) -> str:
    data_dir, text = args
    return save(Path(data_dir), text, trainer=text).line


def test_two_trainers_saving_at_the_same_moment_both_keep_their_example(data_dir: Path) -> None:
    texts = [f"第{i}个杯子到手就是裂的" for i in range(8)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        lines = pool.map(_save_in_process, [(str(data_dir), t) for t in texts])
    assert sorted(lines) == sorted(texts)
    kept = [intent for found in existing(data_dir / "nlu").values() for intent, _, _ in found]
    assert kept.count("complaint_product") == len(texts)


def test_a_refused_validation_takes_the_line_back(data_dir: Path) -> None:
    saved = save(data_dir, "台灯不亮")
    remove_example(data_dir, saved, trainer="小王", reason="rasa data validate failed")
    assert not saved.file.exists()


def test_annotate_uses_the_json_form_when_the_value_differs() -> None:
    assert annotate("顺丰送的", [{"entity": "courier", "start": 0, "end": 2, "value": "顺丰速运"}]) == (
        '[顺丰]{"entity": "courier", "value": "顺丰速运"}送的'
    )


@pytest.mark.parametrize(
    "text, words",
    [
        ("我买的[电饭煲](urgency)坏了", "annotation"),
        ("电饭煲坏了\u2028真的", "line breaks"),
        ("电饭煲坏了\x00", "line breaks"),
        ("电话13812345678 电饭煲坏了", "phone number"),
    ],
)
def test_texts_that_would_break_the_file_or_leak_data_are_refused(data_dir: Path, text: str, words: str) -> None:
    with pytest.raises(ExampleError, match=words):
        save(data_dir, text)
    assert not (data_dir / "nlu" / "trainer").exists() or not list((data_dir / "nlu" / "trainer").iterdir())


def test_punctuation_emoji_and_case_do_not_hide_a_contradiction(data_dir: Path) -> None:
    save(data_dir, "快递丢了AB", intent="complaint_logistics")
    for variant in ("快递丢了ab。", "“快递，丢了AB！”", "快递丢了ab😡"):
        with pytest.raises(Contradiction):
            save(data_dir, variant, intent="complaint_product")


def test_new_marks_on_known_words_are_saved_not_dropped_as_a_duplicate(data_dir: Path) -> None:
    save(data_dir, "插头烫手了", intent="complaint_product")
    again = save(
        data_dir,
        "插头烫手了",
        intent="complaint_product",
        entities=[{"start": 2, "end": 4, "entity": "urgency", "value": "safety"}],
    )
    assert not again.duplicate and "urgency" in again.line
    assert save(data_dir, "插头烫手了", intent="complaint_product").duplicate


def test_a_failing_audit_or_validation_leaves_no_example(data_dir: Path) -> None:

    def crash() -> list[str]:
        raise RuntimeError("validator died")

    with pytest.raises(RuntimeError):
        save(data_dir, "第三次催发货了", validate=crash)
    target = data_dir / "nlu" / "trainer" / "complaint_product.yml"
    assert not target.exists() or "第三次催发货了" not in target.read_text(encoding="utf-8")
