"""``WordVectorFeaturizer``: dense word-vector features on jieba tokens for the classifier.

Runs after ``JiebaTokenizer`` and ``bot.nlu.components.DigitMasker`` and, for the ``text`` of
every training example and every incoming message, adds

* a dense **sequence** feature, one row per token the count featurizers see (the first
  ``DigitMasker.max_tokens``): the token's vector, looked up by ``bot.language.vectors.token_key``
  of its lemma ("#" for digit runs, lower case); zeros for tokens without a vector
  (whitespace, rare words);
* a dense **sentence** feature: the mean (or max, ``pooling``) of the token vectors that are
  known; zeros when none is.

The vectors (``bot/language/resources/vectors/``, made by ``scripts/train_vectors.py``) are
committed files, loaded once per process on first use; nothing is downloaded. The component
is not trainable, so the model archive does not carry them: a model is served from the
project folder that trained it (``bot.stack``'s model fingerprint covers ``bot/language``).
``fingerprint_addon`` puts the vectors' hash into Rasa's training cache key, so new vectors
retrain the classifier even when ``config.yml`` does not change.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text, Type

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.constants import MAX_POOLING, MEAN_POOLING, POOLING

from bot.language.vectors import VECTORS_DIR, WordVectors, load_vectors, resource_fingerprint, token_key

logger = logging.getLogger(__name__)

_PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
VECTORS_PATH = "vectors_path"


def vectors_directory(config: Dict[Text, Any]) -> Path:
    """The configured vectors folder (the committed one by default; relative paths from the project root)."""
    configured = config.get(VECTORS_PATH)
    if not configured:
        return VECTORS_DIR
    path = Path(configured)
    return path if path.is_absolute() else _PROJECT_ROOT / path


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class WordVectorFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense token and sentence features from the committed word vectors."""

    @classmethod
    def required_components(cls) -> List[Type]:
        """A tokenizer must run first (``JiebaTokenizer``, then ``DigitMasker``)."""
        return [Tokenizer]

    @staticmethod
    def required_packages() -> List[Text]:
        """numpy only: the vectors are plain files (gensim is needed only to train them)."""
        return ["numpy"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """Default configuration."""
        return {
            # Name of the features in DIET (``alias``); None uses the component's node name.
            **DenseFeaturizer.get_default_config(),
            # Folder with vocab.txt and vectors.npy; None is the committed
            # bot/language/resources/vectors (a relative path is read from the project root).
            VECTORS_PATH: None,
            # How the sentence feature is made from the known tokens' vectors: "mean" or "max".
            POOLING: MEAN_POOLING,
        }

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        """Keeps the configuration; the vectors are loaded on first use."""
        super().__init__(name, config)
        self._directory = vectors_directory(config)
        self._pooling = config.get(POOLING, MEAN_POOLING)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        """Creates the component (see parent class)."""
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """The pooling must be mean or max, and the vectors must exist."""
        if config.get(POOLING, MEAN_POOLING) not in (MEAN_POOLING, MAX_POOLING):
            raise InvalidConfigException(
                f"{cls.__name__}: '{POOLING}' must be '{MEAN_POOLING}' or '{MAX_POOLING}', not {config.get(POOLING)!r}."
            )
        directory = vectors_directory(config)
        if not (directory / "vectors.npy").is_file() or not (directory / "vocab.txt").is_file():
            raise InvalidConfigException(
                f"{cls.__name__}: no vectors in {directory} (make them with scripts/train_vectors.py)."
            )

    @classmethod
    def fingerprint_addon(cls, config: Dict[Text, Any]) -> Optional[str]:
        """The vectors' hash, so that Rasa's training cache notices new vectors."""
        return resource_fingerprint(vectors_directory(config))

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        """Chinese only (the vectors are on jieba tokens)."""
        return ["zh"]

    @property
    def vectors(self) -> WordVectors:
        """The word vectors (loaded once per process, shared between instances)."""
        return load_vectors(self._directory)

    def features(self, keys: List[Text]) -> tuple[np.ndarray, np.ndarray]:
        """Sequence ``[len(keys), dim]`` and sentence ``[1, dim]`` features for a list of token keys."""
        sequence = self.vectors.lookup(keys)
        sentence = self.aggregate_sequence_features(sequence, self._pooling, only_non_zero_vectors=True)
        return sequence, sentence.astype(np.float32)

    def _featurize(self, message: Message) -> None:
        tokens = message.get(TOKENS_NAMES[TEXT])
        if not tokens:
            return  # nothing to featurize (like the count featurizers)
        sequence, sentence = self.features([token_key(t.lemma or t.text) for t in tokens])
        self.add_features_to_message(sequence=sequence, sentence=sentence, attribute=TEXT, message=message)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Adds the features to every training example."""
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Adds the features to incoming messages."""
        for message in messages:
            self._featurize(message)
        return messages
