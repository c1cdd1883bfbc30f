"""``rasa data validate`` in-process for the trainers' saves (bot/rasa_ext/data_validation.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.rasa_ext.data_validation import check_project

ROOT = Path(__file__).resolve().parents[2]

NLU = """version: "3.1"
nlu:
- intent: greet
  examples: |
    - 你好
    - 在吗
- intent: thanks
  examples: |
    - 谢谢
    - 多谢了
"""


def project(tmp_path: Path, story_action: str) -> Path:
    for name in ("domain.yml", "config.yml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nlu.yml").write_text(NLU, encoding="utf-8")
    story = f'version: "3.1"\nstories:\n- story: s\n  steps:\n  - intent: greet\n  - action: {story_action}\n'
    (tmp_path / "data" / "stories.yml").write_text(story, encoding="utf-8")
    return tmp_path


def test_a_valid_project_passes(tmp_path: Path) -> None:
    result = check_project(str(project(tmp_path, "utter_greet")))
    assert result.ok, result.messages


def test_an_action_the_domain_does_not_know_fails_with_rasas_message(tmp_path: Path) -> None:
    result = check_project(str(project(tmp_path, "action_fly_to_the_moon")))
    assert not result.ok
    assert any("action_fly_to_the_moon" in m for m in result.messages), result.messages


def test_a_broken_file_is_a_result_not_a_crash(tmp_path: Path) -> None:
    root = project(tmp_path, "utter_greet")
    (root / "data" / "nlu.yml").write_text("nlu: [unclosed", encoding="utf-8")
    result = check_project(str(root))
    assert not result.ok and result.messages


def test_a_trainer_rule_that_contradicts_a_rule_is_refused_as_rasa_train_would(tmp_path: Path) -> None:
    for name in ("domain.yml", "config.yml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "data", tmp_path / "data")
    assert check_project(str(tmp_path)).ok
    trainer = tmp_path / "data" / "stories" / "trainer"
    trainer.mkdir(parents=True)
    rule = (
        'version: "3.1"\nrules:\n- rule: greet means goodbye\n  steps:\n  - intent: greet\n  - action: utter_goodbye\n'
    )
    (trainer / "r.yml").write_text(rule, encoding="utf-8")
    result = check_project(str(tmp_path))
    assert not result.ok and any("contradict" in m for m in result.messages), result.messages
