"""Comparing a candidate with the live model: the scoring of given predictions (no model loaded)
and the sets read from the workspace."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.trainer.workspace import Workspace
from bot.training import compare
from bot.training.compare import EvalSet, compare_predictions, load_sets, score_set, story_steps

DEV = EvalSet(
    name="dev",
    kind="type",
    texts=["电饭煲坏了 电话13812345678", "快递三天没动", "客服不理人", "你好", "孩子吃了拉肚子"],
    gold=["product", "logistics", "service", "none", "product"],
    labels=["product", "logistics", "service", "malicious", "none"],
    macro_labels=["product", "logistics", "service", "none"],
    secondary=["", "", "logistics", "", ""],
    urgency=["none", "none", "none", "none", "safety"],
)


def _p(intent: str | None, urgency: str = "none") -> dict[str, str | None]:
    return {"intent": intent, "urgency": urgency}


LIVE = [_p("complaint_product"), _p("greet"), _p("complaint_logistics"), _p("greet"), _p("complaint_product")]
CANDIDATE = [
    _p("complaint_product"),
    _p("complaint_logistics"),
    _p("complaint_service"),
    _p("nlu_fallback"),
    _p("complaint_product", "safety"),
]


def test_a_set_is_scored_per_class_with_macro_f1_and_urgency_recall() -> None:
    live = score_set(DEV, LIVE)
    # the secondary type (logistics for row 3) counts as right; "greet" for a logistics text is a miss
    assert live["per_class"]["logistics"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    assert live["per_class"]["none"] == {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1}
    assert live["per_class"]["product"]["f1"] == 1.0 and live["per_class"]["service"]["support"] == 0
    assert live["macro_f1"] == pytest.approx((1.0 + 2 / 3 + 0.0 + 2 / 3) / 4)
    assert live["urgency_recall"] == 0.0
    candidate = score_set(DEV, CANDIDATE)
    assert candidate["macro_f1"] == pytest.approx(1.0) and candidate["urgency_recall"] == 1.0
    with pytest.raises(ValueError):
        score_set(DEV, LIVE[:2])


def test_the_comparison_lists_changed_readings_with_masked_text() -> None:
    result = compare_predictions([DEV], [LIVE], [CANDIDATE])
    assert [s["name"] for s in result["sets"]] == ["dev"] and result["sets"][0]["size"] == 5
    assert set(result["sets"][0]) == {"name", "size", "live", "candidate"}
    assert set(result["sets"][0]["live"]) == {"per_class", "macro_f1", "urgency_recall"}
    assert result["changed"] == [
        {"set": "dev", "text": "快递三天没动", "gold": "logistics", "live": "none", "candidate": "logistics"},
        {"set": "dev", "text": "客服不理人", "gold": "service", "live": "logistics", "candidate": "service"},
    ]
    same = compare_predictions([DEV], [CANDIDATE], [CANDIDATE])
    assert same["changed"] == []


def test_without_a_live_model_only_the_candidate_is_scored() -> None:
    result = compare_predictions([DEV], None, [CANDIDATE])
    assert result["sets"][0]["live"] is None and result["changed"] == []


def test_changed_readings_are_capped_and_personal_data_masked() -> None:
    many = EvalSet("trainer_stories", "intent", ["我的电话13812345678"] * 300, ["greet"] * 300, ["greet"], ["greet"])
    result = compare_predictions([many], [[_p("greet")] * 300], [[_p("deny")] * 300])
    assert len(result["changed"]) == compare.CHANGED_LIMIT
    assert "13812345678" not in result["changed"][0]["text"]


def test_malicious_cases_score_malicious_against_everything_else() -> None:
    cases = EvalSet(
        "malicious_cases",
        "malicious",
        ["a", "b"],
        ["malicious", "other"],
        ["malicious", "other"],
        ["malicious", "other"],
    )
    figures = score_set(cases, [_p("complaint_malicious"), _p("complaint_product")])
    assert figures["macro_f1"] == 1.0 and figures["urgency_recall"] is None


def test_the_sets_come_from_the_dev_file_the_bad_faith_cases_and_the_trainers_stories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = tmp_path / "dev.tsv"
    dev.write_text("cand_id\ttext\ttype\ttype2\turgent\nx\t坏了\tproduct\t\tnone\n", encoding="utf-8")
    monkeypatch.setenv(compare.EVAL_SET_ENV, str(dev))
    ws = Workspace(tmp_path)
    ws.test_stories_dir.mkdir(parents=True)
    (ws.test_stories_dir / "test_li.yml").write_text(
        'version: "3.1"\nstories:\n- story: s\n  steps:\n  - user: |\n      收到的[电饭煲](product)坏了\n'
        "    intent: complaint_product\n  - action: action_acknowledge_complaint\n  - intent: affirm\n",
        encoding="utf-8",
    )
    assert story_steps(ws.test_stories_dir / "test_li.yml") == [("收到的电饭煲坏了", "complaint_product")]
    sets = {s.name: s for s in load_sets(ws)}
    assert set(sets) == {"dev", "malicious_cases", "trainer_stories"}
    assert sets["dev"].texts == ["坏了"] and sets["dev"].urgency == ["none"]
    assert len(sets["malicious_cases"].texts) > 50
    assert sets["trainer_stories"].labels == ["complaint_product"]
    monkeypatch.setenv(compare.EVAL_SET_ENV, str(tmp_path / "missing.tsv"))
    assert "dev" not in {s.name for s in load_sets(ws)}


def test_the_report_is_written_as_json_and_markdown(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    result = compare_predictions([DEV], [LIVE], [CANDIDATE])
    json_path, md_path = compare.write_report(ws, "job1", result, Path("live.tar.gz"), Path("cand.tar.gz"))
    assert '"candidate_model": "cand.tar.gz"' in json_path.read_text(encoding="utf-8")
    text = md_path.read_text(encoding="utf-8")
    assert "| dev | 5 | 0.583 | 1.000 | 0.000 | 1.000 |" in text and "2 reading(s) changed" in text


def test_predictions_are_cached_by_model_file_and_texts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "m.tar.gz"
    model.write_bytes(b"m")
    calls = []

    async def fake(model: Path, sets: list[EvalSet]) -> list[list[dict[str, str]]]:
        calls.append(model)
        return [[_p("greet") for _ in s.texts] for s in sets]

    monkeypatch.setattr(compare, "_predict", fake)
    cache = tmp_path / "cache"
    first = compare.predict(model, [DEV], cache)
    assert compare.predict(model, [DEV], cache) == first and len(calls) == 1
    other = EvalSet("dev", "type", ["别的"], ["none"], ["none"], ["none"])
    compare.predict(model, [other], cache)
    model.write_bytes(b"retrained")
    compare.predict(model, [DEV], cache)
    assert len(calls) == 3
