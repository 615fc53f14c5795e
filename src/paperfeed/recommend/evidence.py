"""Evidence: what a profile's papers say of each candidate paper, one function per kind.

Every function here is pure: it takes papers as rows (:class:`Papers`) and the store's shares
(of categories, terms, style attributes) and returns one number per candidate. The ranking
(:mod:`paperfeed.recommend.rank`) z-scores them and adds them up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from paperfeed.recommend.sparse import Rows


@dataclass
class Papers:
    """A set of papers as the ranking sees them, one row each in every space."""

    tfidf: Any  # scipy.sparse CSR, asl's tf-idf space, rows L2-normalized
    terms: Any  # scipy.sparse CSR, the rare-terms tf-idf space (lexical.py)
    vectors: np.ndarray  # float32, unit rows, raw model space
    categories: list[list[str]]
    listed: Sequence[str | None] = field(default_factory=list)
    comments: Any = None  # scipy.sparse CSR, the arXiv comments' space (lexical.py), or None
    style: np.ndarray | None = None  # uint8, a row of style attributes per paper (style.py)

    def __len__(self) -> int:
        return len(self.vectors)

    def take(self, rows: Sequence[int] | np.ndarray) -> Papers:
        rows = np.asarray(rows, dtype=np.int64)
        return Papers(
            None if self.tfidf is None else self.tfidf[rows],
            None if self.terms is None else self.terms[rows],
            self.vectors[rows],
            [self.categories[i] for i in rows],
            [self.listed[i] for i in rows] if self.listed else [],
            None if self.comments is None else self.comments[rows],
            None if self.style is None else self.style[rows],
        )


def zscore(x: np.ndarray) -> np.ndarray:
    """``x`` in standard deviations from its mean (zeros when it does not vary)."""
    sd = x.std()
    return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x)


def centred(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Embeddings moved by ``mean`` and made unit length again."""
    v = vectors - mean
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def similarities(sim: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """A candidate's best match, best ``k`` and mean over the profile's papers (the mean of
    cosines is the product with the profile's mean row: its centroid)."""
    if not sim.shape[1]:
        zero = np.zeros(sim.shape[0])
        return {"max": zero, "top3": zero, "centroid": zero}
    return {
        "max": sim.max(axis=1),
        "top3": np.sort(sim, axis=1)[:, -k:].mean(axis=1),
        "centroid": sim.mean(axis=1),
    }


def category_counts(categories: Sequence[Sequence[str]]) -> Counter[str]:
    """How many of a profile's papers are in each category."""
    return Counter(c for cats in categories for c in cats)


def category_prior(categories: Iterable[Sequence[str]]) -> dict[str, float]:
    """Each category's share of these papers: how often a paper is in it by chance."""
    counts: Counter[str] = Counter()
    papers = 0
    for cats in categories:
        counts.update(set(cats))
        papers += 1
    return {c: n / papers for c, n in counts.items()}


#: Papers' worth of the background that a profile's counts (of categories, of terms) are
#: smoothed with (:func:`log_ratios`).
SMOOTHING = 2.0


def log_ratios(counts: np.ndarray, papers: int, prior: np.ndarray) -> np.ndarray:
    """``log(p(x | profile) / p(x))`` for features seen ``counts`` times in a profile of
    ``papers`` papers and in a ``prior`` share of papers at large, the profile's share
    smoothed towards the prior with :data:`SMOOTHING` (``m``) papers: a feature the
    profile uses more often than papers at large weighs more than zero."""
    m = SMOOTHING
    return np.log((counts + m * prior) / ((papers + m) * prior))


def category_weights(
    counts: Counter[str], papers: int, prior: Mapping[str, float]
) -> dict[str, float]:
    """How much more often a profile's papers are in each category than papers at large
    (:func:`log_ratios`). A category missing from ``counts`` weighs ``log(m / (papers +
    m))`` (:meth:`Listing.category_evidence
    <paperfeed.recommend.listing.Listing.category_evidence>`): a paper listed in a category
    the profile never uses loses."""
    rarest = min(prior.values(), default=1.0)  # for a category the prior never saw
    names = list(counts)
    weights = log_ratios(
        np.array([counts[c] for c in names], dtype=np.float64),
        papers,
        np.array([prior.get(c) or rarest for c in names], dtype=np.float64),
    )
    return dict(zip(names, weights.tolist(), strict=True))


def style_weights(matrix: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """For each style attribute, what a paper's having it rather than not says of the profile
    whose papers' attributes are ``matrix``: the :func:`log_ratios` of having it minus those
    of lacking it (a Bernoulli naive Bayes), so a habit the profile keeps, or a habit it
    avoids, counts both ways."""
    n = matrix.shape[0]
    having = matrix.sum(axis=0, dtype=np.float64)
    return log_ratios(having, n, prior) - log_ratios(n - having, n, 1 - prior)


def style_evidence(
    candidates: np.ndarray | None, profile: np.ndarray | None, prior: np.ndarray | None
) -> np.ndarray:
    """Each candidate's style attributes weighed by the profile's :func:`style_weights`: how
    much it is written and presented as the profile's papers are (``style.py``). Zeros
    without attributes on either side (a profile described in a sentence has no style)."""
    n = 0 if candidates is None else len(candidates)
    if candidates is None or profile is None or prior is None or not len(profile):
        return np.zeros(n)
    return candidates @ style_weights(profile, prior)


def comment_similarity(candidates: Any, profile: Any, n: int) -> np.ndarray:
    """Each of ``n`` candidates' comment against the profile's comments: the mean of its
    cosines with them (zeros without a comments space)."""
    if candidates is None or profile is None or not profile.shape[0]:
        return np.zeros(n)
    mean = sparse.csr_matrix(profile.mean(axis=0))
    return np.asarray((candidates @ mean.T).toarray()).ravel()


def term_shares(terms: Any) -> np.ndarray:
    """Each rare-terms column's share of the papers (rows of ``terms``) that use it."""
    m = sparse.csr_matrix(terms)
    counts = np.bincount(m.indices, minlength=m.shape[1])
    return (counts / max(m.shape[0], 1)).astype(np.float32)


def term_weights(profile: Any, shares: np.ndarray) -> Any:
    """A 1-row CSR over the rare terms: each term a profile's papers use weighs
    :func:`log_ratios` of the papers using it against its ``shares`` of papers at large, so
    a term in most of a researcher's papers and few others' counts most. Terms the profile
    does not use weigh nothing."""
    m = sparse.csr_matrix(profile)
    used, counts = np.unique(m.indices, return_counts=True)
    prior = shares[used].astype(np.float64)
    if not prior.all():  # a term no fitted paper used (shares from another fit): the rarest
        prior[prior == 0] = shares[shares > 0].min(initial=1.0)
    weights = log_ratios(counts.astype(np.float64), m.shape[0], prior)
    return sparse.csr_matrix(
        (weights, used, np.array([0, used.size])), shape=(1, m.shape[1]), dtype=np.float64
    )


def term_evidence(candidates: Rows, profile: Any, shares: np.ndarray | None) -> np.ndarray:
    """Each candidate's rare-terms row weighted by the profile's :func:`term_weights`: a
    naive-Bayes-like score of how typical its words are of the profile (zeros without
    ``shares`` or profile rows)."""
    if shares is None or profile is None or not profile.shape[0]:
        return np.zeros(candidates.n)
    return candidates.dot(term_weights(profile, shares)).ravel()


#: How many of the nearest earlier papers a paper's :func:`crowding` is the mean over.
CROWD = 20


def crowding(products: Iterable[np.ndarray], n: int, k: int = CROWD) -> np.ndarray:
    """Each of ``n`` papers' mean cosine with its ``k`` nearest papers in a reference sample
    of the store, from its products with the sample given in blocks of columns (``n`` rows
    each). A paper in a crowded topic is close to many papers, its author's among them;
    its similarities to a profile count for less (hubness)."""
    best = np.zeros((n, 0), dtype=np.float32)
    for block in products:
        both = np.hstack([best, np.asarray(block, dtype=np.float32)])
        if both.shape[1] > k:
            both = np.partition(both, both.shape[1] - k, axis=1)[:, -k:]
        best = both
    return best.mean(axis=1).astype(np.float64) if best.shape[1] else np.zeros(n)
