"""Assigning reviewers to papers: each paper k reviewers, each reviewer at most their load,
the total affinity as high as it goes (or, fair, the worst-off paper's first).

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
    bids included); ``load``: the most papers each reviewer takes. With ``fair``, the least
    total affinity any paper gets is raised as high as it goes first, then the total."""
    coo = scores.tocoo()
    papers, reviewers, value = coo.row, coo.col, coo.data.astype(np.float64)
    n_papers, n_reviewers = scores.shape
    if k < 1:
        raise InputError("each paper needs at least one reviewer (k >= 1)")
    if n_papers == 0:
        return Assignment([], np.zeros(0), np.zeros(0))
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
    if fair:
        floor = _fair_floor(per_paper, gains, constraints, n)
        if floor is None:
            return Assignment(
                [], np.zeros(0), np.zeros(n_papers), _blockers(papers, reviewers, n_papers, k, load)
            )
        gained = sparse.csr_matrix((gains, (papers, rows)), shape=(n_papers, n))
        constraints.append(LinearConstraint(gained, floor - 1e-6, np.inf))
    result = milp(-gains, constraints=constraints, integrality=np.ones(n), bounds=Bounds(0, 1))
    if result.status != 0 or result.x is None:
        return Assignment(
            [], np.zeros(0), np.zeros(n_papers), _blockers(papers, reviewers, n_papers, k, load)
        )
    chosen = np.flatnonzero(result.x > 0.5)
    totals = np.bincount(papers[chosen], weights=value[chosen], minlength=n_papers)
    return Assignment([(int(papers[c]), int(reviewers[c])) for c in chosen], value[chosen], totals)


def _fair_floor(
    per_paper: sparse.csr_matrix, gains: np.ndarray, constraints: list, n: int
) -> float | None:
    """The largest total gain every paper can get at once (max-min), or None if infeasible."""
    n_papers = per_paper.shape[0]
    gained = per_paper.multiply(gains).tocsr()
    # variables: the n pairs, then t; each paper: its gain - t >= 0
    with_t = sparse.hstack([gained, -np.ones((n_papers, 1))]).tocsr()
    widened = [
        LinearConstraint(sparse.hstack([c.A, np.zeros((c.A.shape[0], 1))]).tocsr(), c.lb, c.ub)
        for c in constraints
    ]
    objective = np.zeros(n + 1)
    objective[-1] = -1.0
    result = milp(
        objective,
        constraints=[*widened, LinearConstraint(with_t, 0, np.inf)],
        integrality=np.r_[np.ones(n), 0],
        bounds=Bounds(np.r_[np.zeros(n), -np.inf], np.r_[np.ones(n), np.inf]),
    )
    if result.status != 0 or result.x is None:
        return None
    return float(result.x[-1])
