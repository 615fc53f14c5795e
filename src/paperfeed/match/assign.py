"""Assigning reviewers to papers: each paper k reviewers, each reviewer at most their load,
the total affinity as high as it goes (or, fair, the weakest pair any paper gets first).

The problem is a transportation problem over the allowed pairs (a paper's best candidates,
conflicts left out); it is handed to HiGHS (through scipy's ``milp``), whose answer is
integral: the constraint matrix of a bipartite b-matching is totally unimodular. Inputs that
cannot be met are explained by which papers and reviewers block them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse.csgraph import maximum_flow

from paperfeed.errors import InputError


@dataclass
class Assignment:
    pairs: list[tuple[int, int]]  # (paper row, reviewer column)
    affinity: np.ndarray  # of each pair
    per_paper: np.ndarray  # total affinity of each paper's reviewers
    problems: list[str] = field(default_factory=list)


def _blockers(
    papers: np.ndarray, reviewers: np.ndarray, n_papers: int, k: int, load: np.ndarray
) -> list[str]:
    """Why no assignment exists, as far as counting can tell."""
    found = []
    candidates = np.bincount(papers, minlength=n_papers)
    for i in np.flatnonzero(candidates < k)[:20]:
        found.append(f"paper {i} has {candidates[i]} allowed reviewers, fewer than {k}")
    capacity = int(load[np.unique(reviewers)].sum()) if len(reviewers) else 0
    if capacity < k * n_papers:
        found.append(
            f"the reviewers can take {capacity} reviews in all, and {n_papers} papers "
            f"need {k} each ({k * n_papers})"
        )
    return found or [
        "the loads cannot be met by the allowed pairs (each paper's candidates are "
        "taken by other papers): raise --max-load or --candidates"
    ]


def assign(
    scores: sparse.csr_matrix,
    k: int,
    load: np.ndarray,
    fair: bool = False,
) -> Assignment:
    """``scores``: papers x reviewers, a stored entry for each allowed pair (its affinity,
    bids included); ``load``: the most papers each reviewer takes. The total affinity as
    high as it goes; with ``fair``, first the weakest reviewer any paper gets
    (:func:`bottleneck`), then the total over the pairs at least that good, kept if the
    worst-off paper's total is no lower than without it."""
    coo = scores.tocoo()
    papers, reviewers, value = coo.row, coo.col, coo.data.astype(np.float64)
    n_papers = scores.shape[0]
    if k < 1:
        raise InputError("each paper needs at least one reviewer (k >= 1)")
    if n_papers == 0:
        return Assignment([], np.zeros(0), np.zeros(0))
    best = _most_total(papers, reviewers, value, scores.shape, k, load)
    if best is None:
        problems = _blockers(papers, reviewers, n_papers, k, load)
        return Assignment([], np.zeros(0), np.zeros(n_papers), problems)
    if not fair:
        return best
    floor = bottleneck(papers, reviewers, value, scores.shape, k, load)
    keep = value >= (floor if floor is not None else -np.inf)
    raised = _most_total(papers[keep], reviewers[keep], value[keep], scores.shape, k, load)
    if raised is not None and raised.per_paper.min() >= best.per_paper.min():
        return raised
    return best


def _most_total(
    papers: np.ndarray,
    reviewers: np.ndarray,
    value: np.ndarray,
    shape: tuple[int, int],
    k: int,
    load: np.ndarray,
) -> Assignment | None:
    """The assignment of the most total affinity over these pairs, or None if there is
    none: HiGHS on the transportation problem (integral: the matrix is totally
    unimodular)."""
    n_papers, n_reviewers = shape
    n = len(value)
    rows = np.arange(n)
    per_paper = sparse.csr_matrix((np.ones(n), (papers, rows)), shape=(n_papers, n))
    per_reviewer = sparse.csr_matrix((np.ones(n), (reviewers, rows)), shape=(n_reviewers, n))
    constraints = [
        LinearConstraint(per_paper, k, k),
        LinearConstraint(per_reviewer, 0, load.astype(np.float64)),
    ]
    shift = value.min() if n else 0.0
    gains = value - shift + 1e-3  # every pair worth taking: only the constraints limit them
    result = milp(-gains, constraints=constraints, integrality=np.ones(n), bounds=Bounds(0, 1))
    if result.status != 0 or result.x is None:
        return None
    chosen = np.flatnonzero(result.x > 0.5)
    totals = np.bincount(papers[chosen], weights=value[chosen], minlength=n_papers)
    return Assignment([(int(papers[c]), int(reviewers[c])) for c in chosen], value[chosen], totals)


def bottleneck(
    papers: np.ndarray,
    reviewers: np.ndarray,
    value: np.ndarray,
    shape: tuple[int, int],
    k: int,
    load: np.ndarray,
) -> float | None:
    """The highest affinity ``t`` such that the pairs worth at least ``t`` still give every
    paper k reviewers within the loads (a maximum flow decides each ``t``; bisection over
    the distinct affinities), or None when not even all pairs do."""
    n_papers, n_reviewers = shape
    sink = 1 + n_papers + n_reviewers
    base_rows = np.r_[np.zeros(n_papers, dtype=np.int64), 1 + n_papers + np.arange(n_reviewers)]
    base_cols = np.r_[1 + np.arange(n_papers), np.full(n_reviewers, sink)]
    base_caps = np.r_[np.full(n_papers, k), load].astype(np.int32)

    def feasible(t: float) -> bool:
        use = value >= t
        graph = sparse.csr_array(
            (
                np.r_[base_caps, np.ones(int(use.sum()), dtype=np.int32)],
                (
                    np.r_[base_rows, 1 + papers[use]],
                    np.r_[base_cols, 1 + n_papers + reviewers[use]],
                ),
            ),
            shape=(sink + 1, sink + 1),
        )
        return bool(maximum_flow(graph, 0, sink).flow_value == k * n_papers)

    levels = np.unique(value)
    if not len(levels) or not feasible(levels[0]):
        return None
    lo, hi = 0, len(levels) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if feasible(levels[mid]):
            lo = mid
        else:
            hi = mid - 1
    return float(levels[lo])
