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


def profile_model(profile: Papers, ctx: Context) -> Any:
    """A linear SVM on rare terms: the profile's papers against background papers."""
    from sklearn.svm import LinearSVC

    model = ctx.cache.get(("terms-svm", ctx.key)) if ctx.key is not None else None
    if model is None:
        x = sparse.vstack([profile.terms, ctx.background_terms])
        y = np.zeros(x.shape[0])
        y[: len(profile)] = 1
        model = LinearSVC(C=1.0, class_weight="balanced", max_iter=5000).fit(x, y)
        if ctx.key is not None:
            ctx.cache[("terms-svm", ctx.key)] = model
    return model


def _similarities(candidates: Any, profile: Any, k: int) -> dict[str, np.ndarray]:
    sim = candidates @ profile.T
    sim = sim.toarray() if sparse.issparse(sim) else np.asarray(sim)
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
