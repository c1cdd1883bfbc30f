"""Word vectors on jieba tokens: the committed resource, its keys and its lookup (no Rasa imports).

The vectors are trained by ``scripts/train_vectors.py`` on the unlabelled corpora of
``../shared/corpora`` (and our own training examples) and committed as numbers only, never
as texts, in ``resources/vectors/``:

* ``vocab.txt``: one token a line (UTF-8), the row order of the matrix;
* ``vectors.npy``: a ``float16`` matrix ``[len(vocab), dim]``, every row of unit length;
* ``meta.json``: how they were trained (algorithm, dimensions, corpus sizes, seed) and the
  SHA-256 of the two files above.

A token's key is what the classifier's count features read: the token's lemma after
``DigitMasker`` (digit runs -> "#"), lower-cased. ``token_key`` is the one definition, used
by the training script and by ``bot.nlu.vectors.WordVectorFeaturizer`` alike, so training and
lookup agree. Unknown tokens (and whitespace) get a zero vector.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from bot.language.normalize import mask_digits

VECTORS_DIR = Path(__file__).parent / "resources" / "vectors"
"""Where the committed vectors live."""
VOCAB_FILE = "vocab.txt"
MATRIX_FILE = "vectors.npy"
META_FILE = "meta.json"


def token_key(token: str) -> str:
    """The vocabulary key of a token: digit runs masked as "#", lower-cased, trimmed ("" for whitespace)."""
    return mask_digits(token).lower().strip()


@dataclass(frozen=True)
class WordVectors:
    """A vocabulary and its matrix (``float32`` in memory)."""

    index: dict[str, int]
    matrix: np.ndarray

    @property
    def dim(self) -> int:
        """Number of dimensions of a vector."""
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, key: object) -> bool:
        return key in self.index

    def lookup(self, keys: Sequence[str]) -> np.ndarray:
        """One row per key (``[len(keys), dim]``, ``float32``); zeros for keys not in the vocabulary."""
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            found = self.index.get(key)
            if found is not None:
                out[row] = self.matrix[found]
        return out


def save_vectors(directory: Path, words: Sequence[str], matrix: np.ndarray, meta: dict[str, object]) -> dict[str, object]:
    """Writes ``vocab.txt``, ``vectors.npy`` (``float16``, rows L2-normalised) and ``meta.json``.

    Returns the metadata as written (with the files' sizes and SHA-256).
    """
    if len(words) != matrix.shape[0] or len(set(words)) != len(words):
        raise ValueError("need one distinct word per matrix row")
    if any(not w or w != w.strip() or "\n" in w for w in words):
        raise ValueError("words must be non-empty and without surrounding or inner line breaks")
    directory.mkdir(parents=True, exist_ok=True)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float16)
    (directory / VOCAB_FILE).write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
    np.save(directory / MATRIX_FILE, unit, allow_pickle=False)
    files = {}
    for name in (VOCAB_FILE, MATRIX_FILE):
        data = (directory / name).read_bytes()
        files[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    written = {**meta, "words": len(words), "dim": int(matrix.shape[1]), "dtype": "float16", "files": files}
    (directory / META_FILE).write_text(json.dumps(written, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return written


def resource_fingerprint(directory: Path = VECTORS_DIR) -> str:
    """SHA-256 over the vocabulary and the matrix (changes whenever the vectors do)."""
    digest = hashlib.sha256()
    for name in (VOCAB_FILE, MATRIX_FILE):
        digest.update(name.encode())
        digest.update((Path(directory) / name).read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=4)
def _load(directory: str, stamp: tuple[int, ...]) -> WordVectors:
    path = Path(directory)
    words = (path / VOCAB_FILE).read_text(encoding="utf-8").split("\n")
    if words and words[-1] == "":
        words.pop()
    matrix = np.load(path / MATRIX_FILE, allow_pickle=False).astype(np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(words):
        raise ValueError(f"{path}: {len(words)} words but a matrix of shape {matrix.shape}")
    return WordVectors(index={w: i for i, w in enumerate(words)}, matrix=matrix)


def load_vectors(directory: Path | str = VECTORS_DIR) -> WordVectors:
    """Loads the vectors of ``directory`` once per process (reloaded only if the files change)."""
    path = Path(directory).resolve()
    stamp = tuple((path / name).stat().st_mtime_ns for name in (VOCAB_FILE, MATRIX_FILE))
    return _load(str(path), stamp)

