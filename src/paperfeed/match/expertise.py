"""Expertise affinity: how closely a researcher's own papers cover a paper.

The scorer the reviewer gold standard measures (``paperfeed eval reviewer-gold``) and the one
a venue's assignment uses, for one researcher or for many at once. Unlike the feed's ranking
it has no learned model: a reviewer is judged by the papers they wrote, not by what sets them
apart from everyone else.
"""

from __future__ import annotations

import numpy as np

from paperfeed.recommend.evidence import Papers
from paperfeed.recommend.sparse import cosines

#: Weight of the rare-terms half of :func:`expertise_scores`: chosen on the even-SHA-1 half
#: of the reviewer gold standard's researchers (from 0 to 1, with the best 2, 3 or 5 papers);
#: the odd half checks it (docs/benchmarks.md).
EXPERTISE_TERMS = 0.25
#: A researcher's best papers averaged.
BEST = 3


def expertise_scores(profile: Papers, candidates: Papers) -> np.ndarray:
    """The mean of the three best embedding cosines between each candidate and the profile's
    papers (raw, as OpenReview's expertise model takes them: centring on a small pool of
    papers costs here) plus :data:`EXPERTISE_TERMS` times the three best rare-terms cosines,
    each z-scored over the candidates."""
    return expertise_matrix(profile, np.array([0, len(profile)]), candidates)[:, 0]


def expertise_matrix(papers: Papers, bounds: np.ndarray, candidates: Papers) -> np.ndarray:
    """:func:`expertise_scores` of many researchers at once: ``papers`` holds each one's
    papers in turn, researcher ``j``'s rows ``bounds[j]:bounds[j + 1]``; the answer is
    candidates x researchers (a researcher without papers scores 0)."""
    semantic = _best_mean(candidates.vectors @ papers.vectors.T, bounds)
    rare = _best_mean(cosines(candidates.terms, papers.terms), bounds)
    return _zscore(semantic) + EXPERTISE_TERMS * _zscore(rare)


def _best_mean(sim: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Each row's mean of its :data:`BEST` largest values within each column segment
    ``bounds[j]:bounds[j + 1]`` (all of them when fewer). Segments of one size are taken
    together, their columns run through a :data:`BEST`-place insertion (ties kept, as a sort
    would): a few elementwise passes, no sort."""
    sizes = np.diff(bounds)
    out = np.zeros((sim.shape[0], len(sizes)))
    for size in np.unique(sizes[sizes > 0]).tolist():
        owners = np.flatnonzero(sizes == size)
        cols = bounds[owners][:, None] + np.arange(size)  # owners x size
        top = np.full((BEST, sim.shape[0], len(owners)), -np.inf, dtype=sim.dtype)
        for i in range(size):
            v = sim[:, cols[:, i]]
            for place in top:  # the larger stays, the smaller moves down a place
                larger = np.maximum(place, v)
                np.minimum(place, v, out=v)
                place[...] = larger
        taken = min(size, BEST)
        out[:, owners] = top[:taken].sum(axis=0) / taken
    return out


def _zscore(x: np.ndarray) -> np.ndarray:
    """Each column in standard deviations from its mean (zeros where it does not vary)."""
    sd = x.std(axis=0)
    flat = sd <= 1e-12
    return np.where(flat, 0.0, (x - x.mean(axis=0)) / np.where(flat, 1.0, sd))
