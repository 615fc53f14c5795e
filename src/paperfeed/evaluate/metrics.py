"""Ranking metrics, written out plainly so they can be checked against a reference."""

from __future__ import annotations

import math
from collections.abc import Sequence


def average_precision(relevant: Sequence[bool], total_relevant: int | None = None) -> float:
    """Mean of precision at each relevant position (0 when nothing is relevant)."""
    total = sum(relevant) if total_relevant is None else total_relevant
    if total == 0:
        return 0.0
    hits, summed = 0, 0.0
    for i, rel in enumerate(relevant, 1):
        if rel:
            hits += 1
            summed += hits / i
    return summed / total


def dcg(gains: Sequence[float], k: int) -> float:
    return sum(g / math.log2(i + 1) for i, g in enumerate(gains[:k], 1))


def ndcg(gains: Sequence[float], k: int, all_gains: Sequence[float] | None = None) -> float:
    """DCG@k of the ranking over DCG@k of the ideal one (linear gains, log2 discount)."""
    ideal = dcg(sorted(all_gains if all_gains is not None else gains, reverse=True), k)
    return dcg(gains, k) / ideal if ideal > 0 else 0.0


def reciprocal_rank(relevant: Sequence[bool]) -> float:
    return next((1.0 / i for i, rel in enumerate(relevant, 1) if rel), 0.0)
