"""Rankers: score candidate papers for a profile of positive papers.

Every ranker sees the same things: the profile's papers and the candidates as tf-idf rows
and embedding vectors, plus candidates' categories (authors are not used, so that the daily
benchmark can hide them). The peers are written out as their projects run them:

- ``asl``: arxiv-sanity-lite (Karpathy): tf-idf + a LinearSVC per profile, every other paper
  a negative.
- ``zad``: zotero-arxiv-daily: embedding cosine to each profile paper, weighted by the
  profile paper's recency rank with 1 / (1 + log10(rank + 1)), summed.
- ``centroid``: cosine to the mean profile embedding.
- ``paperfeed``: see :func:`paperfeed_scores`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse


@dataclass
class Papers:
    """A set of papers as rankers see them (rows aligned)."""

    tfidf: Any  # scipy.sparse CSR, asl's tf-idf space, rows L2-normalized
    terms: Any  # scipy.sparse CSR, paperfeed's rare-terms tf-idf space (lexical.py)
    vectors: np.ndarray  # float32, unit rows, raw model space
    categories: list[list[str]]
    listed: Sequence[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.tfidf.shape[0])

    def take(self, rows: Sequence[int] | np.ndarray) -> Papers:
        rows = np.asarray(rows, dtype=np.int64)
        return Papers(
            self.tfidf[rows],
            self.terms[rows],
            self.vectors[rows],
            [self.categories[i] for i in rows],
            [self.listed[i] for i in rows] if self.listed else [],
        )


@dataclass
class Context:
    """What rankers may know beyond the profile: the corpus mean vector and background
    papers to serve as negatives."""

    mean_vector: np.ndarray
    background: Any  # asl tf-idf rows of papers that are not the profile's (asl's negatives)
    background_terms: Any  # rare-terms rows of a sample of them (paperfeed's negatives)
    cache: MutableMapping[Any, Any] = field(default_factory=dict)
    key: Any = None  # names the (profile, background) pair, so models fit once are reused


Ranker = Callable[[Papers, Papers, Context], np.ndarray]


def asl_scores(profile: Papers, candidates: Papers, ctx: Context) -> np.ndarray:
    """arxiv-sanity-lite: LinearSVC(C=0.01, balanced) on tf-idf, profile vs background."""
    from sklearn.svm import LinearSVC

    clf = ctx.cache.get(("asl", ctx.key)) if ctx.key is not None else None
    if clf is None:
        x = sparse.vstack([profile.tfidf, ctx.background])
        y = np.zeros(x.shape[0])
        y[: len(profile)] = 1
        clf = LinearSVC(class_weight="balanced", C=0.01, max_iter=10_000, tol=1e-6)
        clf.fit(x, y)
        if ctx.key is not None:
            ctx.cache[("asl", ctx.key)] = clf
    return np.asarray(clf.decision_function(candidates.tfidf), dtype=np.float64)


def zad_scores(profile: Papers, candidates: Papers, ctx: Context) -> np.ndarray:
    """zotero-arxiv-daily: recency-weighted sum of cosines to each profile paper."""
    order = np.argsort([p or "" for p in profile.listed])[::-1] if profile.listed else None
    vectors = profile.vectors if order is None else profile.vectors[order]
    weights = 1.0 / (1.0 + np.log10(np.arange(len(vectors)) + 1.0))
    weights /= weights.sum()
    return (candidates.vectors @ vectors.T) @ weights


def centroid_scores(profile: Papers, candidates: Papers, ctx: Context) -> np.ndarray:
    """Cosine to the mean profile embedding."""
    centre = profile.vectors.mean(axis=0)
    return candidates.vectors @ (centre / (np.linalg.norm(centre) or 1.0))


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x)


def _centred(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    v = vectors - mean
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class SparseLinear:
    """A fitted linear model kept by its nonzero weights only: a LinearSVC over ~1M rare
    terms has ~120k of them (terms never seen in training stay exactly 0), so this holds
    the same decisions in an eighth of the memory."""

    indices: np.ndarray  # int32 columns
    weights: np.ndarray  # float64
    intercept: float
    width: int

    @classmethod
    def of(cls, coef: np.ndarray, intercept: float) -> SparseLinear:
        coef = np.asarray(coef, dtype=np.float64).ravel()
        nonzero = np.flatnonzero(coef).astype(np.int32)
        return cls(nonzero, coef[nonzero], float(intercept), coef.size)

    def decision_function(self, x: Any) -> np.ndarray:
        x = sparse.csr_matrix(x)
        return np.asarray(x[:, self.indices] @ self.weights).ravel() + self.intercept


def profile_model(profile: Papers, ctx: Context) -> SparseLinear:
    """A linear SVM on rare terms: the profile's papers against background papers."""
    from sklearn.svm import LinearSVC

    model = ctx.cache.get(("terms-svm", ctx.key)) if ctx.key is not None else None
    if model is None:
        x = sparse.vstack([profile.terms, ctx.background_terms])
        y = np.zeros(x.shape[0])
        y[: len(profile)] = 1
        svm = LinearSVC(C=1.0, class_weight="balanced", max_iter=5000).fit(x, y)
        model = SparseLinear.of(svm.coef_, float(svm.intercept_[0]))
        if ctx.key is not None:
            ctx.cache[("terms-svm", ctx.key)] = model
    return model


def cosines(candidates: Any, profile: Any) -> np.ndarray:
    """``candidates @ profile.T`` as a dense array. For sparse rows over ~1M terms, both
    sides are first cut to the profile's own terms: scipy's product would build index arrays
    as long as the vocabulary, which costs more than the product itself."""
    if not sparse.issparse(candidates):
        return np.asarray(candidates @ profile.T)
    c, p = sparse.csr_matrix(candidates), sparse.csr_matrix(profile)
    terms, p_cols = np.unique(p.indices, return_inverse=True)
    if not terms.size or not c.nnz:
        return np.zeros((c.shape[0], p.shape[0]))
    at = np.searchsorted(terms, c.indices).clip(0, terms.size - 1)
    keep = terms[at] == c.indices
    rows = np.repeat(np.arange(c.shape[0]), np.diff(c.indptr))[keep]
    small_c = sparse.csr_matrix((c.data[keep], (rows, at[keep])), shape=(c.shape[0], terms.size))
    small_p = sparse.csr_matrix((p.data, p_cols, p.indptr), shape=(p.shape[0], terms.size))
    return np.asarray((small_c @ small_p.T).toarray())


def _similarities(candidates: Any, profile: Any, k: int) -> dict[str, np.ndarray]:
    sim = cosines(candidates, profile)
    centre = np.asarray(profile.mean(axis=0)).ravel()
    return {
        "max": sim.max(axis=1),
        "top3": np.sort(sim, axis=1)[:, -k:].mean(axis=1),
        "centroid": np.asarray(candidates @ centre).ravel(),
    }


def category_counts(categories: Sequence[Sequence[str]]) -> Counter[str]:
    """How many of a profile's papers are in each category."""
    return Counter(c for cats in categories for c in cats)


def features(profile: Papers, candidates: Papers, ctx: Context) -> dict[str, np.ndarray]:
    """Per-candidate evidence, each z-scored over the candidate set.

    Similarities compare a candidate with each profile paper (best match, best three) and
    with the profile's mean, so a researcher with several interests is matched on any of
    them; embeddings are centred on the corpus mean first.
    """
    k = min(3, len(profile))
    out: dict[str, np.ndarray] = {}
    for space, (c, p) in {
        "lex": (candidates.tfidf, profile.tfidf),
        "rare": (candidates.terms, profile.terms),
        "sem": (
            _centred(candidates.vectors, ctx.mean_vector),
            _centred(profile.vectors, ctx.mean_vector),
        ),
    }.items():
        for name, values in _similarities(c, p, k).items():
            out[f"{space}_{name}"] = values
    out["svm"] = profile_model(profile, ctx).decision_function(candidates.terms)
    counts = category_counts(profile.categories)
    out["category"] = np.array(
        [max((counts.get(c, 0) for c in cats), default=0) for cats in candidates.categories],
        dtype=np.float64,
    ) / max(len(profile), 1)
    return {name: _zscore(np.asarray(v, dtype=np.float64)) for name, v in out.items()}


#: Weights of :func:`paperfeed_scores`: coordinate ascent on MRR over half of the first 200
#: even-SHA-1 authors of the daily benchmark (bench/tune_daily_feed.py); the other half
#: checks them.
WEIGHTS: dict[str, float] = {
    "svm": 1.0,
    "lex_max": 0.25,
    "lex_top3": 0.25,
    "lex_centroid": 0.5,
    "sem_max": 0.5,
    "sem_top3": 0.25,
    "sem_centroid": 0.5,
    "category": 0.25,
}


def paperfeed_scores(
    profile: Papers, candidates: Papers, ctx: Context, weights: dict[str, float] | None = None
) -> np.ndarray:
    """A weighted sum of z-scored evidence (:func:`features`); weights in :data:`WEIGHTS`."""
    f = features(profile, candidates, ctx)
    w = WEIGHTS if weights is None else weights
    return sum((w.get(name, 0.0) * v for name, v in f.items()), np.zeros(len(candidates)))


RANKERS: dict[str, Ranker] = {
    "asl": asl_scores,
    "zad": zad_scores,
    "centroid": centroid_scores,
    "paperfeed": paperfeed_scores,
}
