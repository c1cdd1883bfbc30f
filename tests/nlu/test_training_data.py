"""The training data: enough of it, well-formed, and not copied from the evaluation set."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from bot.language.normalize import normalize_text

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT.parent / "shared" / "eval" / "dev.tsv"
COMPLAINT_INTENTS = ["complaint_product", "complaint_logistics", "complaint_service", "complaint_malicious"]


def examples() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" in item:
                lines = [line[2:].strip() for line in item["examples"].splitlines() if line.startswith("- ")]
                found.setdefault(item["intent"], []).extend(lines)
    return found


def test_at_least_100_distinct_examples_per_complaint_type() -> None:
    data = examples()
    for intent in COMPLAINT_INTENTS:
        assert len(set(data[intent])) >= 100, intent


def test_no_example_under_two_intents() -> None:
    owner: dict[str, str] = {}
    clashes = []
    for intent, lines in examples().items():
        for line in lines:
            key = normalize_text(line)
            if owner.setdefault(key, intent) != intent:
                clashes.append((line, owner[key], intent))
    assert clashes == []


def _grams(text: str, n: int = 4) -> set[str]:
    text = "".join(ch for ch in normalize_text(text) if not ch.isspace())
    return {text[i : i + n] for i in range(max(0, len(text) - n + 1))}


@pytest.mark.skipif(not EVAL.exists(), reason="../shared/eval/dev.tsv is not beside the checkout")
def test_training_data_does_not_copy_the_evaluation_set() -> None:
    with EVAL.open(encoding="utf-8") as f:
        eval_grams = [g for g in (_grams(r["text"]) for r in csv.DictReader(f, delimiter="\t")) if len(g) >= 4]
    suspicious = []
    for intent, lines in examples().items():
        for line in lines:
            grams = _grams(line)
            if len(grams) < 4:
                continue
            for other in eval_grams:
                overlap = len(grams & other) / min(len(grams), len(other))
                if overlap >= 0.6:
                    suspicious.append(line)
                    break
    assert suspicious == []


CORPORA = ROOT.parent / "shared" / "corpora"


def _plain(text: str) -> str:
    """The comparison form: normalised (Simplified, half-width), without spaces and punctuation."""
    import re

    return re.sub(r"[\W_]+", "", normalize_text(text))


def _shared_texts() -> set[str]:
    import json

    texts: set[str] = set()
    with (CORPORA / "reviews.tsv").open(encoding="utf-8") as f:
        texts.update(_plain(r["text"]) for r in csv.DictReader(f, delimiter="\t"))
    with (CORPORA / "dialogues.jsonl").open(encoding="utf-8") as f:
        for line in f:
            texts.update(_plain(t["text"]) for t in json.loads(line)["turns"] if t["speaker"] == "user")
    with EVAL.open(encoding="utf-8") as f:
        texts.update(_plain(r["text"]) for r in csv.DictReader(f, delimiter="\t"))
    return {t for t in texts if _content_length(t) >= 8}


def _content_length(plain: str) -> int:
    """Chinese characters count one each, a run of Latin letters or digits counts one."""
    import re

    return len(re.findall(r"[\u4e00-\u9fff]|[A-Za-z0-9]+", plain))


@pytest.mark.skipif(not CORPORA.exists() or not EVAL.exists(), reason="../shared/ is not beside the checkout")
def test_no_training_example_equals_a_corpus_or_dev_text() -> None:
    """Training data is our own words: no example equals a text of ../shared after normalisation.

    Short texts (under 8 content characters: "好的谢谢", "快递还没到") are common phrases,
    not copies, and are not compared.
    """
    shared = _shared_texts()
    copied = [line for lines in examples().values() for line in lines if _plain(line) in shared]
    assert copied == []


def _entity_label_examples() -> list[tuple[str, list[dict]]]:
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    data = RasaYAMLReader().read(ROOT / "data" / "nlu" / "entity_labels.yml")
    return [(m.get("text"), m.get("entities") or []) for m in data.training_examples]


def test_every_entity_label_of_the_domain_is_in_the_training_data() -> None:
    """Rasa refuses to fine-tune when the data has a label the model has not seen: a trainer's first
    annotated entity must not force a full training (data/nlu/entity_labels.yml)."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    names, roles = set(), set()
    for item in domain["entities"]:
        name, spec = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        names.add(name)
        roles.update(spec.get("roles") or [])
    annotated = [e for _, entities in _entity_label_examples() for e in entities]
    assert names <= {e["entity"] for e in annotated}, sorted(names - {e["entity"] for e in annotated})
    assert roles <= {e.get("role") for e in annotated}, sorted(roles - {e.get("role") for e in annotated})


def test_the_label_examples_teach_the_phrase_learner_nothing_the_readers_do_not_read() -> None:
    """Each learnable annotation is what the rule readers read there (span and value), so
    LearnedPhrases never adds an entity because of these examples."""
    from bot.language.entities import extract_entities
    from bot.language.phrases import LEARNABLE
    from bot.language.urgency import detect_urgency
    from bot.nlu.components import outcome_entities

    for text, entities in _entity_label_examples():
        read = [*extract_entities(text), *outcome_entities(text)]
        read += [{"entity": "urgency", "value": h.level, "start": h.start, "end": h.end} for h in detect_urgency(text)]
        for entity in (e for e in entities if e["entity"] in LEARNABLE):
            assert any(
                r["entity"] == entity["entity"]
                and str(r["value"]) == entity["value"]
                and r["start"] < entity["end"]
                and entity["start"] < r["end"]
                for r in read
            ), (text, entity, read)
