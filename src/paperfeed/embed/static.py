"""The bundled static embedding: a vector per word, word piece and word pair, summed.

A text is cut into the words and word pieces of a WordPiece vocabulary (MiniLM's, with the
corpus's frequent whole words added), and each pair of adjacent whole words that the model
knows adds a feature of its own. The text's vector is the sum of its features' vectors, made
unit length: no network runs, so thousands of papers embed in a second on one core.

The vectors were distilled from the bundled MiniLM and then trained on which papers share an
author (``bench/train_embedding.py`` makes the file; :mod:`paperfeed.embed.training` holds
the pipeline). Vectors are int8 with a scale per row; the file carries its tokenizer.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from paperfeed.embed.model import ModelError, normalize

#: The model file shipped in ``embed/data``.
BUNDLED = "static-authorship-v1.npz"
#: Tokens read from a text: far more than any abstract holds, a bound on a hostile one.
MAX_TOKENS = 2048
#: Texts tokenized at once.
BATCH = 4096


class Featurizer:
    """Texts as sparse counts over a model's rows: word pieces, then known word pairs."""

    def __init__(self, tokenizer_json: str, bigrams: np.ndarray) -> None:
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        vocab = self.tokenizer.get_vocab()
        self.pieces = len(vocab)
        self.whole = np.zeros(self.pieces, dtype=bool)
        for piece, i in vocab.items():
            self.whole[i] = not piece.startswith("##") and any(ch.isalnum() for ch in piece)
        self.bigrams = np.asarray(bigrams, dtype=np.int64)  # sorted keys: left * pieces + right
        self.rows = self.pieces + len(self.bigrams)

    def ids(self, texts: Sequence[str]) -> list[np.ndarray]:
        encodings = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int64) for e in encodings]

    def pair_keys(self, ids: np.ndarray) -> np.ndarray:
        """The keys of the adjacent whole-word pairs in one text's ids."""
        if len(ids) < 2:
            return ids[:0]
        both = self.whole[ids[:-1]] & self.whole[ids[1:]]
        return ids[:-1][both] * self.pieces + ids[1:][both]

    def counts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """A ``len(texts) x rows`` matrix of feature counts."""
        rows, cols = [], []
        for r, ids in enumerate(self.ids(texts)):
            keys = self.pair_keys(ids)
            at = np.searchsorted(self.bigrams, keys)
            known = at < len(self.bigrams)
            known[known] = self.bigrams[at[known]] == keys[known]
            row = np.concatenate([ids, self.pieces + at[known]])
            cols.append(row)
            rows.append(np.full(len(row), r, dtype=np.int64))
        data = np.ones(sum(len(c) for c in cols), dtype=np.float32)
        shape = (len(texts), self.rows)
        if not cols:
            return sparse.csr_matrix(shape, dtype=np.float32)
        matrix = sparse.csr_matrix(
            (data, (np.concatenate(rows), np.concatenate(cols))), shape=shape, dtype=np.float32
        )
        matrix.sum_duplicates()
        return matrix


class StaticModel:
    """A text's vector is the unit-length sum of its features' vectors (see the module)."""

    def __init__(self, path: Path | str | None = None) -> None:
        try:
            if path is None:
                with resources.as_file(
                    resources.files("paperfeed.embed") / "data" / BUNDLED
                ) as bundled:
                    parts = _read(bundled)
            else:
                parts = _read(Path(path))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise ModelError(f"{path or BUNDLED}: not a static embedding model ({e})") from e
        self.name = str(parts["name"])
        self.featurizer = Featurizer(parts["tokenizer"], parts["bigrams"])
        self.vectors = parts["vectors"]
        if self.vectors.shape[0] != self.featurizer.rows:
            raise ModelError(f"{path or BUNDLED}: vectors and vocabulary do not match")
        self.dim = int(self.vectors.shape[1])

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), BATCH):
            batch = texts[start : start + BATCH]
            out[start : start + len(batch)] = self.featurizer.counts(batch) @ self.vectors
            if progress is not None:
                progress(len(batch))
        return normalize(out)


def save(
    path: Path | str, name: str, tokenizer_json: str, bigrams: np.ndarray, vectors: np.ndarray
) -> None:
    """Write a model file: int8 vectors with a float scale per row."""
    scale = np.abs(vectors).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    np.savez_compressed(
        path,
        name=np.array(name),
        tokenizer=np.frombuffer(tokenizer_json.encode(), dtype=np.uint8),
        bigrams=np.asarray(bigrams, dtype=np.int64),
        vectors=np.round(vectors / scale[:, None]).astype(np.int8),
        scales=scale.astype(np.float32),
    )


def _read(path: Path) -> dict[str, Any]:
    # opened here: numpy leaves its own handle open when the file is no zip
    with path.open("rb") as f, np.load(f, allow_pickle=False) as z:
        vectors = z["vectors"].astype(np.float32) * z["scales"][:, None]
        tokenizer = bytes(z["tokenizer"]).decode()
        json.loads(tokenizer)  # a clear error for a damaged file, before tokenizers' own
        return {
            "name": z["name"],
            "tokenizer": tokenizer,
            "bigrams": z["bigrams"],
            "vectors": vectors,
        }
