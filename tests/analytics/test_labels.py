"""The dashboard's Chinese words (bot/analytics/labels.py) come from the shop's files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.analytics import labels
from bot.policy import labels as policy_labels

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    labels.clear_cache()
    yield
    labels.clear_cache()


def write_labels(tmp_path: Path, change: dict[str, object]) -> Path:
    raw = yaml.safe_load((ROOT / "policy" / "labels.yml").read_text(encoding="utf-8"))
    raw.update(change)
    path = tmp_path / "labels.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_words() -> None:
    assert [labels.type_label(t) for t in ("product", "malicious", None)] == ["商品问题", "恶意诉求", "未分类"]
    assert labels.cause_label("wrong_item") == "发错货"
    assert [labels.category_label(c) for c in ("appliances", "food_delivery", None)] == ["家电", "外卖", "未注明品类"]
    assert [labels.urgency_label(u) for u in ("safety", None)] == ["人身安全", "普通"]
    assert labels.reason_label("misunderstood") == "连续两次没听懂"
    assert labels.channel_label("taobao") == "淘宝/天猫"
    assert labels.queue_label("supervisor") == "客服主管"
    assert labels.status_label("with_agent") == "人工客服处理中"
    assert [labels.label("weekday", 6), labels.label("hour", 0), labels.label("day", "2026-11-24")] == [
        "周日",
        "0时",
        "2026-11-24",
    ]


def test_an_id_without_a_label_reads_as_itself() -> None:
    assert labels.cause_label("new_cause") == "new_cause"
    assert labels.category_label("toys") == "toys"
    assert labels.channel_label("douyin") == "douyin"
    with pytest.raises(ValueError):
        labels.label("colour", "red")


def test_the_words_follow_labels_yml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = yaml.safe_load((ROOT / "policy" / "labels.yml").read_text(encoding="utf-8"))
    raw["dashboard"]["complaint_types"]["malicious"] = "疑似恶意"
    raw["dashboard"]["channels"]["douyin"] = "抖音"
    monkeypatch.setenv(policy_labels.ENV_VAR, str(write_labels(tmp_path, {"dashboard": raw["dashboard"]})))
    assert labels.type_label("malicious") == "疑似恶意"
    assert labels.channel_label("douyin") == "抖音"


def test_without_a_dashboard_block_the_customer_words_are_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = yaml.safe_load((ROOT / "policy" / "labels.yml").read_text(encoding="utf-8"))
    del raw["dashboard"]
    path = tmp_path / "labels.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv(policy_labels.ENV_VAR, str(path))
    assert labels.type_label("product") == "商品问题"
    assert labels.reason_label("asked") == "asked"
    assert labels.urgency_label("safety") == "safety"


def test_the_dashboard_block_needs_every_reason(tmp_path: Path) -> None:
    raw = yaml.safe_load((ROOT / "policy" / "labels.yml").read_text(encoding="utf-8"))
    del raw["dashboard"]["handoff_reasons"]["failure"]
    with pytest.raises(ValueError, match=r"dashboard\.handoff_reasons: missing label\(s\) for failure"):
        policy_labels.load_labels(write_labels(tmp_path, {"dashboard": raw["dashboard"]}))


def test_category_names_resolve_to_their_id() -> None:
    assert labels.resolve_category("小家电") == "appliances"
    assert labels.resolve_category(" 3C ") == "electronics"
    assert labels.resolve_category("") is None
