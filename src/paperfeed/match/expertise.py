"""Expertise affinity: how closely a researcher's own papers cover a paper.

The scorer the reviewer gold standard measures (``paperfeed eval reviewer-gold``). Unlike the
feed's ranking it has no learned model: a reviewer is judged by the papers they wrote, not by
what sets them apart from everyone else.
"""

from __future__ import annotations

import numpy as np

from paperfeed.recommend.evidence import Papers, similarities, zscore
from paperfeed.recommend.sparse import cosines

#: Weight of the rare-terms half of :func:`expertise_scores`: chosen on the even-SHA-1 half
#: of the reviewer gold standard's researchers (from 0 to 1, with the best 2, 3 or 5 papers);
#: the odd half checks it (docs/benchmarks.md).
EXPERTISE_TERMS = 0.25


def expertise_scores(profile: Papers, candidates: Papers) -> np.ndarray:
    """The mean of the three best embedding cosines between each candidate and the profile's
    papers (raw, as OpenReview's expertise model takes them: centring on a small pool of
    papers costs here) plus :data:`EXPERTISE_TERMS` times the three best rare-terms cosines,
    each z-scored over the candidates."""
    k = min(3, len(profile))
    sem = similarities(candidates.vectors @ profile.vectors.T, k)["top3"]
    rare = similarities(cosines(candidates.terms, profile.terms), k)["top3"]
    return zscore(sem) + EXPERTISE_TERMS * zscore(rare)
