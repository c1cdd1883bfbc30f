"""The custom graph components on real Rasa messages and tokens."""

from __future__ import annotations

from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.components import DigitMasker


def test_digit_masker_changes_lemmas_not_text() -> None:
    message = Message(data={TEXT: "单号SF4718293650412"})
    message.set(TOKENS_NAMES[TEXT], [Token("单号", 0), Token("SF4718293650412", 2)])
    DigitMasker({}).process([message])
    assert [t.lemma for t in message.get(TOKENS_NAMES[TEXT])] == ["单号", "SF#"]
    assert message.get(TEXT) == "单号SF4718293650412"
    assert message.get(TOKENS_NAMES[TEXT])[1].text == "SF4718293650412"
