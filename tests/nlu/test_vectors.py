"""WordVectorFeaturizer and the vector resource, on small vectors made here (no trained model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.language.vectors import VECTORS_DIR, load_vectors, resource_fingerprint, save_vectors, token_key
from bot.nlu.components import DigitMasker
from bot.nlu.vectors import WordVectorFeaturizer

WORDS = ["快递", "没", "到", "sf#", "破"]
MATRIX = np.array(
    [[3.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 5.0], [1.0, 1.0, 0.0, 0.0]]
)


@pytest.fixture(scope="module")
def vectors_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("vectors")
    save_vectors(directory, WORDS, MATRIX, {"algorithm": "test"})
    return directory


def featurizer(directory: Path, **config: object) -> WordVectorFeaturizer:
    return WordVectorFeaturizer({**WordVectorFeaturizer.get_default_config(), "vectors_path": str(directory), **config}, "wv")


def tokenized(pairs: list[tuple[str, int]], text: str) -> Message:
    message = Message(data={TEXT: text})
    message.set(TOKENS_NAMES[TEXT], [Token(word, start) for word, start in pairs])
    return message


def dense(message: Message, kind: str) -> np.ndarray:
    found = [f for f in message.features if f.type == kind and f.attribute == TEXT and f.origin == "wv"]
    assert len(found) == 1
    assert not found[0].is_sparse()
    return found[0].features


def test_saved_vectors_are_unit_float16_with_their_hashes(vectors_dir: Path) -> None:
    raw = np.load(vectors_dir / "vectors.npy")
    assert raw.dtype == np.float16 and raw.shape == (5, 4)
    assert np.allclose(np.linalg.norm(raw.astype(np.float32), axis=1), 1.0, atol=1e-3)
    meta = json.loads((vectors_dir / "meta.json").read_text(encoding="utf-8"))
    assert meta["words"] == 5 and meta["dim"] == 4 and set(meta["files"]) == {"vocab.txt", "vectors.npy"}
    assert load_vectors(vectors_dir) is load_vectors(vectors_dir)  # loaded once, cached


def test_token_key_masks_digits_and_lower_cases() -> None:
    assert token_key("SF4718293650412") == "sf#"
    assert token_key(" ") == ""


def test_one_row_per_token_and_zeros_for_unknown_tokens(vectors_dir: Path) -> None:
    message = tokenized([("快递", 0), ("还", 2), ("没", 3), (" ", 4), ("到", 5)], "快递还没 到")
    featurizer(vectors_dir).process([message])
    sequence = dense(message, FEATURE_TYPE_SEQUENCE)
    assert sequence.shape == (5, 4) and sequence.dtype == np.float32
    assert np.allclose(sequence[0], [1, 0, 0, 0], atol=1e-3)
    assert not sequence[1].any() and not sequence[3].any()  # 还 is unknown, whitespace too
    assert np.allclose(sequence[4], [0, 0, 1, 0], atol=1e-3)


def test_sentence_is_the_mean_of_the_known_tokens(vectors_dir: Path) -> None:
    message = tokenized([("快递", 0), ("还", 2), ("没", 3), ("到", 4)], "快递还没到")
    featurizer(vectors_dir).process([message])
    sequence = dense(message, FEATURE_TYPE_SEQUENCE)
    sentence = dense(message, FEATURE_TYPE_SENTENCE)
    assert sentence.shape == (1, 4)
    assert np.allclose(sentence[0], sequence[[0, 2, 3]].mean(axis=0))
    assert np.allclose(sentence[0], [1 / 3, 1 / 3, 1 / 3, 0], atol=1e-3)


def test_max_pooling(vectors_dir: Path) -> None:
    message = tokenized([("快递", 0), ("破", 2)], "快递破")
    featurizer(vectors_dir, pooling="max").process([message])
    assert np.allclose(dense(message, FEATURE_TYPE_SENTENCE)[0], [1, 0.7071, 0, 0], atol=1e-3)


def test_nothing_known_gives_zeros_and_no_tokens_gives_no_features(vectors_dir: Path) -> None:
    unknown = tokenized([("哈", 0), ("哈", 1)], "哈哈")
    empty = Message(data={TEXT: ""})
    empty.set(TOKENS_NAMES[TEXT], [])
    featurizer(vectors_dir).process([unknown, empty])
    assert dense(unknown, FEATURE_TYPE_SEQUENCE).shape == (2, 4)
    assert not dense(unknown, FEATURE_TYPE_SENTENCE).any()
    assert empty.features == []


def test_after_the_digit_masker_reads_masked_lemmas_of_the_capped_tokens(vectors_dir: Path) -> None:
    message = tokenized([("单号", 0), ("SF4718293650412", 2), ("快递", 17)], "单号SF4718293650412快递")
    DigitMasker({"max_tokens": 2}).process([message])
    featurizer(vectors_dir).process([message])
    sequence = dense(message, FEATURE_TYPE_SEQUENCE)
    assert sequence.shape == (2, 4)  # as many rows as the count featurizers see
    assert np.allclose(sequence[1], [0, 0, 0, 1], atol=1e-3)  # "sf#"


def test_training_data_gets_the_same_features(vectors_dir: Path) -> None:
    example = tokenized([("快递", 0), ("没", 2), ("到", 3)], "快递没到")
    example.set("intent", "complaint_logistics")
    live = tokenized([("快递", 0), ("没", 2), ("到", 3)], "快递没到")
    component = featurizer(vectors_dir)
    component.process_training_data(TrainingData([example]))
    component.process([live])
    assert np.array_equal(dense(example, FEATURE_TYPE_SEQUENCE), dense(live, FEATURE_TYPE_SEQUENCE))
    assert np.array_equal(dense(example, FEATURE_TYPE_SENTENCE), dense(live, FEATURE_TYPE_SENTENCE))


def test_bad_configuration_is_refused(vectors_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigException):
        featurizer(vectors_dir, pooling="sum")
    with pytest.raises(InvalidConfigException):
        featurizer(tmp_path)


def test_new_vectors_change_the_training_cache_key(vectors_dir: Path, tmp_path: Path) -> None:
    save_vectors(tmp_path, WORDS, MATRIX[::-1].copy(), {"algorithm": "test"})
    config = {"vectors_path": str(vectors_dir)}
    assert WordVectorFeaturizer.fingerprint_addon(config) == resource_fingerprint(vectors_dir)
    assert WordVectorFeaturizer.fingerprint_addon({"vectors_path": str(tmp_path)}) != resource_fingerprint(vectors_dir)


def test_the_committed_vectors_fit_the_budget_and_cover_the_complaint_words() -> None:
    files = [VECTORS_DIR / "vocab.txt", VECTORS_DIR / "vectors.npy"]
    assert sum(f.stat().st_size for f in files) < 4_200_000
    meta = json.loads((VECTORS_DIR / "meta.json").read_text(encoding="utf-8"))
    assert meta["files"]["vectors.npy"]["sha256"] and meta["dim"] >= 64
    vectors = load_vectors()
    assert all(word in vectors for word in ["快递", "退款", "客服", "质量", "#"])
    related = vectors.lookup(["退款", "退钱"])
    unrelated = vectors.lookup(["退款", "味道"])
    assert float(related[0] @ related[1]) > float(unrelated[0] @ unrelated[1])


def test_the_committed_vocabulary_is_words_not_texts() -> None:
    """The corpora are not ours to redistribute: vocab.txt holds single jieba tokens only."""
    import re

    words = (VECTORS_DIR / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(words) == len(set(words)) == json.loads((VECTORS_DIR / "meta.json").read_text(encoding="utf-8"))["words"]
    content = [len(re.findall(r"[\u4e00-\u9fff]|[A-Za-z0-9#]+", w)) for w in words]
    assert max(content) < 8  # the corpus-copy check of the training data compares texts from 8 on
    assert not any(re.search(r"\s", w) for w in words)
