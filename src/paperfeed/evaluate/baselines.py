"""The peers the daily-feed benchmark compares the product with, written out as their
projects run them. Each sees the profile's papers and the candidates (:class:`Papers`), never
their authors:

- ``asl``: arxiv-sanity-lite (Karpathy): tf-idf + a LinearSVC per profile, every other paper
  a negative.
- ``zad``: zotero-arxiv-daily: embedding cosine to each profile paper, weighted by the
  profile paper's recency rank with 1 / (1 + log10(rank + 1)), summed.
- ``centroid``: cosine to the mean profile embedding.
- ``nearest``: cosine to the closest profile paper's embedding.
- ``tfidf`` and ``tfidf-nearest``: the same two on asl's tf-idf rows instead of embeddings.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from paperfeed.recommend.evidence import Papers


@dataclass
class Context:
    """What a baseline may know beyond the profile: background papers to serve as negatives,
    and a cache of models fitted once per profile (under ``key``)."""

    background: Any  # asl tf-idf rows of papers that are not the profile's (asl's negatives)
    cache: MutableMapping[Any, Any] = field(default_factory=dict)
    key: Any = None


Baseline = Callable[[Papers, Papers, Context], np.ndarray]


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


def nearest_scores(profile: Papers, candidates: Papers, ctx: Context) -> np.ndarray:
    """Cosine to the closest profile paper."""
    return np.asarray((candidates.vectors @ profile.vectors.T).max(axis=1), dtype=np.float64)


def tfidf_scores(profile: Papers, candidates: Papers, ctx: Context) -> np.ndarray:
    """Cosine of tf-idf rows to the mean profile row."""
    centre = np.asarray(profile.tfidf.mean(axis=0)).ravel()
    return np.asarray(candidates.tfidf @ (centre / (np.linalg.norm(centre) or 1.0)))


def tfidf_nearest_scores(profile: Papers, candidates: Papers, ctx: Context) -> np.ndarray:
    """Cosine of tf-idf rows to the closest profile paper's."""
    return np.asarray((candidates.tfidf @ profile.tfidf.T).max(axis=1).toarray()).ravel()


BASELINES: dict[str, Baseline] = {
    "asl": asl_scores,
    "zad": zad_scores,
    "centroid": centroid_scores,
    "nearest": nearest_scores,
    "tfidf": tfidf_scores,
    "tfidf-nearest": tfidf_nearest_scores,
}
