"""Reasons a person can check: which of their papers a paper is close to, the terms they
share, a shared category, a co-author."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from paperfeed.models import Paper
from paperfeed.recommend.evidence import Papers
from paperfeed.recommend.listing import Listing


def coauthored(coauthors: Counter[str], listing: Listing, rows: list[int]) -> dict[int, list[str]]:
    """Papers among the listing's ``rows`` written with someone who wrote the profile's
    papers (``coauthors``, from :func:`~paperfeed.recommend.model.coauthor_counts`), with
    that reason."""
    wanted = set(rows)
    found = sorted({r for k in coauthors for r in listing.signed(k) if r in wanted})
    reasons: dict[int, list[str]] = {}
    for r in found:
        paper, keys = listing.papers[r], listing.author_keys[r]
        names = [a.name for a, k in zip(paper.authors, keys, strict=True) if k in coauthors]
        reasons[paper.id] = [f"with {', '.join(names[:2])}, an author of your papers"]
    return reasons


def label(paper: Paper) -> str:
    """How a person recognises a paper: its title, else its abstract's opening, else its id."""
    if paper.title:
        return paper.title
    if paper.abstract:
        words = paper.abstract.split()
        return " ".join(words[:12]) + ("…" if len(words) > 12 else "")
    return paper.ref


def explain(
    i: int,
    profile: Papers,
    candidates: Papers,
    mine: list[Paper],
    names: Any,
    counts: Counter[str],
    sims: np.ndarray,
) -> list[str]:
    """Reasons for candidate ``i``: the closest of the profile's papers (``sims``: its rare-
    terms cosine to each), the rare terms they share, and a shared category."""
    why = []
    if sims.size and sims.max() > 0:
        j = int(sims.argmax())
        if mine[j].id == 0:
            why.append("close to your description of your interests")
        else:
            why.append(f"close to your paper “{label(mine[j])}”")
        top = shared_terms(candidates.terms, i, profile.terms, j, 4)
        if top.size:
            why.append("shares the terms " + ", ".join(f"“{names[t]}”" for t in top))
    best = max(candidates.categories[i], key=lambda c: counts.get(c, 0), default=None)
    if best and counts.get(best):
        why.append(f"in {best}, like {counts[best]} of your {len(mine)} papers")
    return why


def shared_terms(a: Any, i: int, b: Any, j: int, n: int) -> np.ndarray:
    """The ``n`` columns that weigh most in row ``i`` of ``a`` times row ``j`` of ``b`` (CSR,
    no repeated columns), read straight from the arrays: per-row scipy objects cost more."""
    ai = a.indices[a.indptr[i] : a.indptr[i + 1]]
    av = a.data[a.indptr[i] : a.indptr[i + 1]]
    bj = b.indices[b.indptr[j] : b.indptr[j + 1]]
    bv = b.data[b.indptr[j] : b.indptr[j + 1]]
    if not ai.size or not bj.size:
        return bj[:0]
    if not a.has_sorted_indices:  # found by binary search below
        order = np.argsort(ai, kind="stable")
        ai, av = ai[order], av[order]
    at = np.minimum(np.searchsorted(ai, bj), ai.size - 1)
    shared = ai[at] == bj
    weight = av[at[shared]] * bv[shared]
    common = bj[shared]
    return common[np.lexsort((common, -weight))[:n]]
