"""Diversity: the top of a ranking re-ordered so near-duplicates do not fill the first screen."""

from __future__ import annotations

import numpy as np

from paperfeed.recommend.evidence import zscore

#: How much of the top of a ranking is re-ordered for diversity, and how strongly.
DIVERSE = 30
REDUNDANCY = 0.5


def diversify(
    order: np.ndarray, scores: np.ndarray, vectors: np.ndarray, mean: np.ndarray
) -> np.ndarray:
    """Maximal marginal relevance (Carbonell & Goldstein, SIGIR 1998) over the top of a
    ranking: each next paper maximises its z-scored score minus ``REDUNDANCY`` times its
    highest cosine (centred embeddings) to the papers already placed, so three versions of
    one idea do not fill the first screen. (Papers a rule puts first are diversified apart
    from the rest, so they stay in front.)"""
    if len(order) < 3:
        return order
    v = vectors[order] - mean
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    z = zscore(scores[order])
    similar = v @ v.T
    placed: list[int] = []
    closest = np.zeros(len(order))
    left = np.ones(len(order), dtype=bool)
    for _ in range(len(order)):
        gain = np.where(left, z - REDUNDANCY * closest, -np.inf)
        best = int(np.argmax(gain))
        placed.append(best)
        left[best] = False
        closest = np.maximum(closest, similar[best])
    return order[placed]
