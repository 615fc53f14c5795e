"""A listing: a window's papers (a day's, a week's), prepared once for every profile.

Everything about the listed papers that does not depend on a profile is computed here once
and shared: their rows in each lexical space cut for fast products, their embeddings
centred, their products with the background sample, their crowding and their categories.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from paperfeed.models import Paper
from paperfeed.normalize import name_key
from paperfeed.recommend.evidence import (
    SMOOTHING,
    Papers,
    category_weights,
    centred,
    crowding,
)
from paperfeed.recommend.lexical import LexicalModel
from paperfeed.recommend.sparse import Rows

#: A listing's rows are also kept dense up to this many cells (a day of 300 papers uses
#: ~25,000 terms: 7.5M), for faster products with each profile's papers.
DENSE_CELLS = 12_000_000
#: Listings up to this size keep their products with the whole background sample (~24 MB
#: for a day of 300 papers), shared by every profile's model; larger windows (a week of
#: ~2,000 papers would keep 160 MB) compute each profile's few thousand support rows instead.
KEEP_BACKGROUND_PRODUCTS = 1_000
#: The store's mean embedding is taken over up to this many papers of the lexical model's
#: background sample, and only once at least ``MEAN_MIN`` of them have vectors.
MEAN_SAMPLE = 5_000
MEAN_MIN = 200


def mean_sample(lexical: LexicalModel) -> list[int]:
    """The papers whose embeddings' mean the listed papers are centred on: every so many of
    the background sample (its ids are sorted, so the stride spreads over the store)."""
    ids = lexical.background_ids
    return ids[:: max(1, len(ids) // MEAN_SAMPLE)].tolist()


def store_mean(vectors: np.ndarray, sampled: int) -> np.ndarray | None:
    """The mean of the embeddings found (``vectors``) for the :func:`mean_sample` of
    ``sampled`` papers, or None while too few of them are embedded. Every paper embedding
    shares a common direction; centring on the store's mean ranked better than centring on a
    day's own papers, whose mean leans to the day's topics (docs/benchmarks.md)."""
    if not len(vectors) or len(vectors) < min(MEAN_MIN, sampled):
        return None
    return vectors.mean(axis=0)


@dataclass
class Listing:
    """A window's papers, prepared once for every profile that ranks them."""

    papers: list[Paper]
    prepared: Papers
    lex: Rows  # the tf-idf rows, cut once for every profile's products with them
    rare: Rows  # the rare-terms rows, likewise
    author_keys: list[list[str]]  # each paper's authors' name keys
    #: the vector embeddings are centred on (:func:`store_mean`); None: the listing's own mean
    mean: np.ndarray | None = None
    _background: np.ndarray | None = None
    _signed: dict[str, list[int]] | None = None
    _categories: tuple[dict[str, int], Any] | None = None
    _space: tuple[np.ndarray, np.ndarray] | None = None
    _crowding: np.ndarray | None = None

    @classmethod
    def of(
        cls,
        papers: list[Paper],
        vectors: np.ndarray,
        lexical: LexicalModel,
        mean: np.ndarray | None,
    ) -> Listing:
        """The listing of ``papers`` with their embeddings (``vectors``, in their order)."""
        prepared = lexical.papers(papers, vectors)
        return cls(
            papers,
            prepared,
            Rows(prepared.tfidf, DENSE_CELLS),
            Rows(prepared.terms, DENSE_CELLS),
            [[name_key(a.name) for a in p.authors] for p in papers],
            mean,
        )

    def centred(self) -> tuple[np.ndarray, np.ndarray]:
        """The vector the listed papers' embeddings are centred on (the store's mean, else
        their own), and their embeddings centred on it and made unit length: the space
        semantic similarities are taken in, the same for every profile."""
        if self._space is None:
            vectors = self.prepared.vectors
            mean = self.mean
            if mean is None:
                mean = vectors.mean(axis=0) if len(vectors) else np.zeros(vectors.shape[1])
            self._space = (mean, centred(vectors, mean))
        return self._space

    def category_evidence(
        self, counts: Counter[str], papers: int, prior: dict[str, float]
    ) -> np.ndarray:
        """For every listed paper, the sum of its categories' weights for a profile
        (:func:`~paperfeed.recommend.evidence.category_weights` of its ``papers``' category
        ``counts``): a naive-Bayes log-likelihood ratio, so several matching categories add
        up and an unrelated one costs. The listing's categories are read once for every
        profile; a profile with no categories (a description) has no category evidence."""
        if self._categories is None:
            vocab: dict[str, int] = {}
            cols = [[vocab.setdefault(c, len(vocab)) for c in p.categories] for p in self.papers]
            indptr = np.r_[0, np.cumsum([len(c) for c in cols])]
            flat = np.fromiter((c for row in cols for c in row), dtype=np.int64)
            self._categories = (vocab, (flat, indptr))
        vocab, (flat, indptr) = self._categories
        if not counts:  # a description: no category evidence
            return np.zeros(len(self.papers))
        missing = np.log(SMOOTHING / (papers + SMOOTHING))
        weight = np.full(len(vocab), missing)
        for name, w in category_weights(counts, papers, prior).items():
            if name in vocab:
                weight[vocab[name]] = w
        summed = np.r_[0.0, np.cumsum(weight[flat])]  # a paper's sum: a difference of two
        return summed[indptr[1:]] - summed[indptr[:-1]]

    def signed(self, key: str) -> list[int]:
        """The rows of the papers an author's name key signed."""
        if self._signed is None:
            signed: dict[str, list[int]] = {}
            for row, keys in enumerate(self.author_keys):
                for k in dict.fromkeys(keys):
                    signed.setdefault(k, []).append(row)
            self._signed = signed
        return self._signed.get(key, [])

    def background(self, lexical: LexicalModel, rows: np.ndarray) -> np.ndarray:
        """Products of every listed paper (rows of the answer) with these rows of the
        lexical model's background sample (columns), float32."""
        kept = self.kept_background(lexical)
        if kept is None:
            return self.rare.dot(lexical.background_terms[rows]).astype(np.float32)
        return kept[rows].T

    def crowding(self, lexical: LexicalModel) -> np.ndarray:
        """Every listed paper's :func:`~paperfeed.recommend.evidence.crowding`: its mean
        rare-terms cosine with its nearest papers in the lexical model's background sample
        (itself left out), the same for every profile."""
        if self._crowding is None:
            sample = lexical.background_terms
            ids = np.array([p.id for p in self.papers], dtype=np.int64)
            kept = self.kept_background(lexical)

            def blocks() -> Iterator[np.ndarray]:
                for at in range(0, sample.shape[0], 5000):
                    block = (
                        self.rare.dot(sample[at : at + 5000]).astype(np.float32)
                        if kept is None
                        else kept[at : at + 5000].T.copy()
                    )
                    # a listed paper in the sample would be its own nearest paper
                    block[lexical.background_ids[at : at + 5000][None, :] == ids[:, None]] = 0
                    yield block

            self._crowding = crowding(blocks(), len(self.papers))
        return self._crowding

    def kept_background(self, lexical: LexicalModel) -> np.ndarray | None:
        """The products with the whole background sample, one background row per row (so a
        profile's rows are read contiguously), computed on first use; None for a listing
        too large to keep them."""
        if len(self.papers) > KEEP_BACKGROUND_PRODUCTS:
            return None
        if self._background is None:  # two threads may both compute it: the same result
            sample = lexical.background_terms
            self._background = np.ascontiguousarray(
                np.vstack(
                    [
                        self.rare.dot(sample[at : at + 5000]).T.astype(np.float32)
                        for at in range(0, sample.shape[0], 5000)
                    ]
                )
            )
        return self._background
