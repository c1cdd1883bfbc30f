"""Rasa 3.6 NLU graph components wrapping the plain modules of ``bot.nlu``.

* ``TextNormalizer`` runs before the tokenizer (registered as a featurizer so that it also
  processes the training data) and rewrites the message text, whole: the entity and urgency
  rules read all of it (a burn at the end of a 1,400-character rant still counts).
* ``DigitMasker`` runs after the tokenizer and replaces each run of digits in the tokens'
  lemmas (what the count featurizers read) by "#": an order number says that the customer
  gave a number, not what the message is about; the text itself, which the entity
  extractors read, keeps the digits. It also keeps only the first ``max_tokens`` tokens for
  the classifier: very long rants put their point early and its cost grows with length.
* ``RuleEntityExtractor`` adds spaCy rule-based entities (order ids, phones, amounts with their
  role, times, couriers, product categories) and ``desired_outcome`` (what the customer asks for).
* ``UrgencyDetector`` adds ``urgency`` entities (safety, media_legal, vulnerable).
* ``LearnedPhrases`` adds the entities trainers taught by annotating examples (``bot.language.phrases``),
  where the rule readers found none.
* ``ComplaintIntentRules`` applies the domain rules of ``bot.language.intent_rules`` to the intent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.language.causes import read_causes
from bot.language.entities import build_nlp, extract_entities
from bot.language.intent_rules import COMPLAINT_INTENTS, decide_intent
from bot.language.normalize import mask_digits, normalize_text
from bot.language.phrases import Phrase
from bot.language.phrases import find as find_phrases
from bot.language.phrases import learn as learn_phrases
from bot.language.replies import comparable, find_keywords, outcome_vocabulary
from bot.language.urgency import detect_urgency


class _StatelessComponent(GraphComponent):
    """Shared constructor for components that keep no trained state."""

    def __init__(self, config: Dict[Text, Any]) -> None:
        self._config = config

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Creates the component (see parent class)."""
        return cls(config)

    @staticmethod
    def supported_languages() -> List[Text]:
        """Chinese only."""
        return ["zh"]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class TextNormalizer(_StatelessComponent):
    """The one normaliser (``bot.language.normalize``): Simplified, half-width, no emoticon codes."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Default configuration."""
        return {}

    def _normalize(self, message: Message) -> None:
        text = message.get(TEXT)
        if isinstance(text, str):
            message.set(TEXT, normalize_text(text))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Normalises every training example, moving annotated entity spans with their words."""
        for example in training_data.training_examples:
            before = example.get(TEXT)
            self._normalize(example)
            after = example.get(TEXT)
            if example.get(ENTITIES) and isinstance(before, str) and before != after:
                example.set(ENTITIES, moved_spans(before, str(after), example.get(ENTITIES)))
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Normalises incoming messages."""
        for message in messages:
            self._normalize(message)
        return messages


def moved_spans(before: str, after: str, entities: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
    """Annotated spans of ``before`` placed in its normalised form ``after`` (the normalised words,
    nearest the old place); a span whose words the normaliser removed is dropped."""
    moved = []
    for entity in entities:
        start, end = entity.get("start"), entity.get("end")
        if not isinstance(start, int) or not isinstance(end, int):
            continue
        words = normalize_text(before[start:end]).strip()
        places = [i for i in range(len(after)) if words and after.startswith(words, i)]
        if not places:
            continue
        new_start = min(places, key=lambda i: abs(i - start))
        moved.append({**entity, "start": new_start, "end": new_start + len(words)})
    return moved


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class DigitMasker(_StatelessComponent):
    """Masks digit runs in token lemmas ("SF4718293650412" -> "sf#") and caps the tokens the
    featurizers see at ``max_tokens``."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Default configuration."""
        return {
            # Tokens the classifier reads; the rules (entities, urgency, cause) read the whole text.
            "max_tokens": 600,
        }

    def _mask(self, message: Message) -> None:
        tokens = message.get(TOKENS_NAMES[TEXT]) or []
        limit = int(self._config.get("max_tokens") or 0)
        if limit and len(tokens) > limit:
            tokens = tokens[:limit]
            message.set(TOKENS_NAMES[TEXT], tokens)
        for token in tokens:
            token.lemma = mask_digits(token.lemma or token.text)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Masks the training examples' tokens."""
        for example in training_data.training_examples:
            self._mask(example)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Masks incoming messages' tokens."""
        for message in messages:
            self._mask(message)
        return messages


def outcome_entities(text: Text) -> List[Dict[Text, Any]]:
    """``desired_outcome`` entities: what the customer asks for ("换货", "退钱"), not negated ones."""
    vocabulary = outcome_vocabulary()
    hits = find_keywords(comparable(text), [(k, words) for k, (_, words) in vocabulary.items()])
    seen = set()
    entities = []
    for hit in sorted(hits, key=lambda h: h.start):
        if hit.owner in seen:
            continue
        seen.add(hit.owner)
        entities.append(
            {
                "entity": "desired_outcome",
                "value": hit.owner,
                "start": hit.start,
                "end": hit.end,
                "text": text[hit.start : hit.end],
            }
        )
    return entities


def _append_entities(message: Message, entities: List[Dict[Text, Any]]) -> None:
    if entities:
        message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class RuleEntityExtractor(_StatelessComponent):
    """spaCy (blank zh + jieba) EntityRuler and regex matcher for complaint entities."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Default configuration."""
        return {
            # Entity types to keep; empty keeps all of them.
            "entities": [],
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        super().__init__(config)
        # load jieba, spaCy and every lexicon at model load time, not on the first customer's message
        build_nlp()
        warm = normalize_text("收到的东西壞了 订单号二零二六一一二九零零四四七七一二")
        extract_entities(warm), outcome_entities(warm), read_causes(warm), detect_urgency(warm)

    @staticmethod
    def required_packages() -> List[Text]:
        """spaCy, jieba and cn2an."""
        return ["spacy", "jieba", "cn2an"]

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds rule-based entities to each message."""
        wanted = set(self._config.get("entities") or [])
        for message in messages:
            found = extract_entities(message.get(TEXT) or "") + outcome_entities(message.get(TEXT) or "")
            _append_entities(
                message,
                [
                    {**e, "confidence": 1.0, "extractor": self.__class__.__name__}
                    for e in found
                    if not wanted or e["entity"] in wanted
                ],
            )
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class UrgencyDetector(_StatelessComponent):
    """Adds one ``urgency`` entity per urgency class found (highest priority first)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Default configuration."""
        return {}

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds urgency entities to each message."""
        for message in messages:
            text = message.get(TEXT) or ""
            seen = set()
            entities = []
            for hit in detect_urgency(text):
                if hit.level in seen:
                    continue
                seen.add(hit.level)
                entities.append(
                    {
                        "entity": "urgency",
                        "value": hit.level,
                        "start": hit.start,
                        "end": hit.end,
                        "text": hit.trigger,
                        "confidence": 1.0,
                        "extractor": self.__class__.__name__,
                    }
                )
            _append_entities(message, entities)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class LearnedPhrases(GraphComponent):
    """Entities trainers taught by annotating examples (``bot.language.phrases``): learnt from the
    training data's annotated spans, found after the rule readers, never over them."""

    FILE = "phrases.json"

    def __init__(
        self, config: Dict[Text, Any], storage: ModelStorage, resource: Resource, phrases: List[Phrase]
    ) -> None:
        self._config = config
        self._storage = storage
        self._resource = resource
        self.phrases = phrases

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Default configuration."""
        return {}

    @staticmethod
    def supported_languages() -> List[Text]:
        """Chinese only."""
        return ["zh"]

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LearnedPhrases":
        """A component with nothing learnt yet."""
        return cls(config, model_storage, resource, [])

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "LearnedPhrases":
        """The phrases of a trained model (none when the model has none)."""
        try:
            with model_storage.read_from(resource) as folder:
                raw = json.loads((Path(folder) / cls.FILE).read_text(encoding="utf-8"))
        except (ValueError, FileNotFoundError):
            raw = []
        return cls(config, model_storage, resource, [Phrase(**item) for item in raw])

    def train(self, training_data: TrainingData) -> Resource:
        """Collects the annotated spans of the (normalised) training examples."""
        self.phrases = learn_phrases(
            (str(m.get(TEXT) or ""), m.get(ENTITIES) or []) for m in training_data.training_examples if m.get(ENTITIES)
        )
        with self._storage.write_to(self._resource) as folder:
            (Path(folder) / self.FILE).write_text(
                json.dumps([p.to_dict() for p in self.phrases], ensure_ascii=False), encoding="utf-8"
            )
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds the taught entities the rule readers did not find."""
        if not self.phrases:
            return messages
        for message in messages:
            found = find_phrases(message.get(TEXT) or "", self.phrases, message.get(ENTITIES) or [])
            _append_entities(message, [{**e, "confidence": 1.0, "extractor": self.__class__.__name__} for e in found])
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class ComplaintIntentRules(_StatelessComponent):
    """Applies ``bot.language.intent_rules`` after the classifier and the fallback classifier,
    and adds the ``complaint_cause`` and ``complaint_type2`` entities."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Default configuration."""
        return {}

    def process(self, messages: List[Message]) -> List[Message]:
        """Replaces the intent where a domain rule applies (and records which rule did)."""
        for message in messages:
            intent = message.get(INTENT) or {}
            if not intent:
                continue
            text = message.get(TEXT) or ""
            levels = [e.get("value") for e in message.get(ENTITIES, []) if e.get("entity") == "urgency"]
            causes = read_causes(text)
            decision = decide_intent(intent, message.get(INTENT_RANKING_KEY) or [], levels, text, causes)
            if decision.rule is not None:
                message.set(
                    INTENT,
                    {"name": decision.name, "confidence": decision.confidence, "rule": decision.rule},
                    add_to_output=True,
                )
            if decision.name not in COMPLAINT_INTENTS:
                continue
            entities = []
            cause = causes.first_of(decision.name[len("complaint_") :])
            if cause is not None:
                entities.append(
                    {
                        "entity": "complaint_cause",
                        "value": cause.cause,
                        "start": cause.start,
                        "end": cause.end,
                        "text": cause.trigger,
                    }
                )
            if decision.secondary_type:
                second = causes.first_of(decision.secondary_type)
                span = (
                    {"start": second.start, "end": second.end, "text": second.trigger}
                    if second
                    else {"start": 0, "end": 0, "text": ""}
                )
                entities.append({"entity": "complaint_type2", "value": decision.secondary_type, **span})
                if second is not None:
                    entities.append(
                        {
                            "entity": "complaint_cause",
                            "role": "secondary",
                            "value": second.cause,
                            "start": second.start,
                            "end": second.end,
                            "text": second.trigger,
                        }
                    )
            _append_entities(
                message, [{**e, "confidence": 1.0, "extractor": self.__class__.__name__} for e in entities]
            )
        return messages
