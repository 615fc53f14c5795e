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
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
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
    comments: Any = None  # scipy.sparse CSR, the arXiv comments' space (lexical.py), or None
    crowding: np.ndarray | None = None  # each paper's :func:`crowding` among earlier papers
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
            None if self.crowding is None else self.crowding[rows],
            None if self.style is None else self.style[rows],
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
    #: each category's share of the background's papers (:func:`category_prior`)
    category_prior: Mapping[str, float] = field(default_factory=dict)
    #: each rare-terms column's share of the store's papers (:func:`term_shares`), or None
    term_shares: np.ndarray | None = None
    #: each style attribute's share of the store's papers (``style.style_prior``), or None
    style_prior: np.ndarray | None = None


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


@dataclass(frozen=True)
class DualSvm:
    """A linear SVM (squared hinge, balanced classes) kept as its dual: the weights are
    ``w = sum_i a_i x_i`` over the training rows, and only rows with ``a_i != 0`` count.

    LinearSVC solves the dual (Hsieh et al., ICML 2008) but keeps only ``w``; the KKT
    conditions give the coefficients back from its margins, ``a_i = 2 C_i y_i max(0, 1 -
    y_i f(x_i))``. Kept this way a profile's model is the profile's own rows plus the ~10% of
    the shared background rows it leans on (~20 KB, not the ~1 MB of ``w`` over a million
    terms), and its decisions are products with rows that a day's candidates meet once for
    every profile (:class:`Rows`)."""

    own: np.ndarray  # coefficient of each positive (the profile's) row
    rows: np.ndarray  # negative rows with a nonzero coefficient
    coef: np.ndarray  # their coefficients (all negative)
    intercept: float

    @classmethod
    def fit(cls, positives: Any, negatives: Any, c: float = 1.0) -> DualSvm:
        from sklearn.svm import LinearSVC

        x = sparse.vstack([positives, negatives]).tocsr()
        n, n_pos = x.shape[0], positives.shape[0]
        y = np.zeros(n)
        y[:n_pos] = 1
        # seeded: liblinear visits the coordinates in a random order and stops at a
        # tolerance, so unseeded fits of the same rows differ a little from run to run
        svm = LinearSVC(C=c, class_weight="balanced", max_iter=5000, random_state=0).fit(x, y)
        sign = np.where(y == 1, 1.0, -1.0)
        weight = np.where(y == 1, n / (2 * n_pos), n / (2 * (n - n_pos)))  # "balanced"
        a = 2 * c * weight * np.maximum(0.0, 1 - sign * svm.decision_function(x)) * sign
        rows = np.flatnonzero(a[n_pos:])
        return cls(a[:n_pos], rows, a[n_pos:][rows], float(svm.intercept_[0]))

    def decide(self, own: np.ndarray, negatives: np.ndarray) -> np.ndarray:
        """Decision values from the candidates' products with the positive rows (``own``,
        one column per row) and with the negative rows in ``rows`` (one column each)."""
        coef = self.coef.astype(negatives.dtype, copy=False)  # no float64 copy of a float32 side
        return own @ self.own + negatives @ coef + self.intercept


def profile_model(profile: Papers, ctx: Context) -> tuple[DualSvm, Any]:
    """A linear SVM on rare terms, the profile's papers against background papers, with the
    background rows it kept (its support)."""
    key = ("terms-svm", ctx.key)
    found = ctx.cache.get(key) if ctx.key is not None else None
    if found is None:
        model = DualSvm.fit(profile.terms, ctx.background_terms)
        found = (model, sparse.csr_matrix(ctx.background_terms)[model.rows])
        if ctx.key is not None:
            ctx.cache[key] = found
    return found


class Rows:
    """Sparse rows cut to the columns they use, once, for many products with other rows.

    Over ~1M rare terms scipy's product builds index arrays as long as the vocabulary,
    which costs more than the product; a day's candidates use ~25k of them. Up to
    ``dense_limit`` cells the cut rows are also kept dense, and a product with a profile's
    few rows is then one sparse-times-dense product (~0.1 ms)."""

    def __init__(self, matrix: Any, dense_limit: int = 0) -> None:
        m = sparse.csr_matrix(matrix)
        self.n = m.shape[0]
        self.columns, inverse = np.unique(m.indices, return_inverse=True)
        self.small = sparse.csr_matrix(
            (m.data, inverse.ravel(), m.indptr), shape=(self.n, self.columns.size)
        )
        # where each of the matrix's columns went (-1: unused), for the other side's indices
        self.position = np.full(m.shape[1] + 1, -1, dtype=np.int32)
        self.position[self.columns] = np.arange(self.columns.size, dtype=np.int32)
        cells = self.n * self.columns.size
        self.dense = None  # C order: scipy copies anything else on every product
        if 0 < cells <= dense_limit:
            self.dense = np.ascontiguousarray(self.small.T.toarray())

    def dot(self, other: Any) -> np.ndarray:
        """``self @ other.T`` as a dense array."""
        o = sparse.csr_matrix(other)
        if not self.columns.size or not o.nnz:
            return np.zeros((self.n, o.shape[0]))
        at = self.position[np.minimum(o.indices, self.position.size - 1)]
        keep = at >= 0
        kept_before = np.zeros(keep.size + 1, dtype=np.int64)  # kept entries before each one
        np.cumsum(keep, out=kept_before[1:])
        # in the rows' own dtype: a float64 side would have scipy copy the dense rows upcast
        cut = sparse.csr_matrix(
            (o.data[keep].astype(self.small.dtype, copy=False), at[keep], kept_before[o.indptr]),
            shape=(o.shape[0], self.columns.size),
        )
        if self.dense is not None:
            return np.asarray(cut @ self.dense).T
        return np.asarray((self.small @ cut.T).toarray())


def cosines(candidates: Any, profile: Any) -> np.ndarray:
    """``candidates @ profile.T`` as a dense array (rows are unit length: cosines). Sparse
    rows over ~1M terms are cut to the candidates' terms first (:class:`Rows`)."""
    if not sparse.issparse(candidates):
        return np.asarray(candidates @ profile.T)
    return Rows(candidates).dot(profile)


def _similarities(sim: np.ndarray, k: int) -> dict[str, np.ndarray]:
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
    m))`` (:func:`category_evidence`): a paper listed in a category the profile never uses
    loses."""
    rarest = min(prior.values(), default=1.0)  # for a category the prior never saw
    names = list(counts)
    weights = log_ratios(
        np.array([counts[c] for c in names], dtype=np.float64),
        papers,
        np.array([prior.get(c) or rarest for c in names], dtype=np.float64),
    )
    return dict(zip(names, weights.tolist(), strict=True))


def category_evidence(
    categories: Sequence[Sequence[str]],
    counts: Counter[str],
    papers: int,
    prior: Mapping[str, float],
) -> np.ndarray:
    """For each paper, the sum of its categories' :func:`category_weights` (a naive-Bayes
    log-likelihood ratio: several matching categories add up, an unrelated one costs). A
    profile with no categories (a description) has no category evidence: zeros."""
    if not counts:
        return np.zeros(len(categories))
    weights = category_weights(counts, papers, prior)
    missing = float(np.log(SMOOTHING / (papers + SMOOTHING)))
    return np.array(
        [sum(weights.get(c, missing) for c in cats) for cats in categories], dtype=np.float64
    )


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


def term_evidence(candidates: Any, profile: Any, shares: np.ndarray | None) -> np.ndarray:
    """Each candidate's rare-terms row weighted by the profile's :func:`term_weights`: a
    naive-Bayes-like score of how typical its words are of the profile (zeros without
    ``shares``)."""
    n = candidates.shape[0] if candidates is not None else 0
    if shares is None or profile is None or not profile.shape[0] or not n:
        return np.zeros(n)
    return cosines(candidates, term_weights(profile, shares)).ravel()


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


def features(
    profile: Papers,
    candidates: Papers,
    ctx: Context,
    given: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Per-candidate evidence, each z-scored over the candidate set.

    Similarities compare a candidate with each profile paper (best match, best three) and
    with the profile's mean, so a researcher with several interests is matched on any of
    them; embeddings are centred on the corpus mean first. ``given`` holds parts a caller
    already computed for many profiles at once: the cosine matrices ``lex``, ``rare`` and
    ``sem`` (candidates x profile papers), the ``svm`` decision values, the ``category``
    evidence (:func:`category_evidence`), the ``comment`` similarities, the ``terms``
    evidence (:func:`term_evidence`), the ``style`` evidence (:func:`style_evidence`) and
    the candidates' ``crowding`` (else read from ``candidates.crowding``).
    """
    given = given or {}
    k = min(3, len(profile))
    sims = {
        "lex": given["lex"] if "lex" in given else cosines(candidates.tfidf, profile.tfidf),
        "rare": given["rare"] if "rare" in given else cosines(candidates.terms, profile.terms),
        "sem": given["sem"]
        if "sem" in given
        else _centred(candidates.vectors, ctx.mean_vector)
        @ _centred(profile.vectors, ctx.mean_vector).T,
    }
    out: dict[str, np.ndarray] = {}
    for space, sim in sims.items():
        for name, values in _similarities(sim, k).items():
            out[f"{space}_{name}"] = values
    if "svm" in given:
        out["svm"] = given["svm"]
    else:
        model, support = profile_model(profile, ctx)
        out["svm"] = model.decide(sims["rare"], cosines(candidates.terms, support))
    if "category" in given:
        out["category"] = given["category"]
    else:
        counts = category_counts(profile.categories)
        out["category"] = category_evidence(
            candidates.categories, counts, len(profile), ctx.category_prior
        )
    if "comment" in given:
        out["comment"] = given["comment"]
    else:
        out["comment"] = comment_similarity(candidates.comments, profile.comments, len(candidates))
    if "terms" in given:
        out["terms"] = given["terms"]
    else:
        out["terms"] = term_evidence(candidates.terms, profile.terms, ctx.term_shares)
    if "style" in given:
        out["style"] = given["style"]
    else:
        out["style"] = style_evidence(candidates.style, profile.style, ctx.style_prior)
    if "crowding" in given:
        out["crowding"] = given["crowding"]
    elif candidates.crowding is not None:
        out["crowding"] = candidates.crowding
    else:
        out["crowding"] = np.zeros(len(candidates))
    return {name: _zscore(np.asarray(v, dtype=np.float64)) for name, v in out.items()}


#: Weights of :func:`paperfeed_scores`: coordinate ascent on MRR over half of the first 200
#: even-SHA-1 authors of the daily benchmark (bench/tune_daily_feed.py), the other half
#: checking them; ``comment`` and ``category`` were then chosen on a grid with the others
#: held, on all 200, and ``terms`` and ``crowding`` likewise later, then ``style`` (README,
#: "The daily-feed benchmark"). Crowding counts against: a paper close to many is close to
#: you by chance.
WEIGHTS: dict[str, float] = {
    "svm": 1.0,
    "lex_max": 0.25,
    "lex_top3": 0.25,
    "lex_centroid": 0.5,
    "sem_max": 0.5,
    "sem_top3": 0.25,
    "sem_centroid": 0.5,
    "category": 1.0,
    "comment": 0.5,
    "terms": 0.5,
    "crowding": -0.5,
    "style": 1.0,
}


def paperfeed_scores(
    profile: Papers,
    candidates: Papers,
    ctx: Context,
    weights: dict[str, float] | None = None,
    given: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """A weighted sum of z-scored evidence (:func:`features`); weights in :data:`WEIGHTS`."""
    f = features(profile, candidates, ctx, given)
    w = WEIGHTS if weights is None else weights
    return sum((w.get(name, 0.0) * v for name, v in f.items()), np.zeros(len(candidates)))


#: Weight of the rare-terms half of :func:`expertise_scores`: chosen on the even-SHA-1 half
#: of the reviewer gold standard's researchers (from 0 to 1, with the best 2, 3 or 5 papers);
#: the odd half checks it (README, "Reviewer expertise").
EXPERTISE_TERMS = 0.25


def expertise_scores(profile: Papers, candidates: Papers, ctx: Context) -> np.ndarray:
    """Expertise affinity, for matching submissions to reviewers: how closely a researcher's
    nearest papers cover each candidate. The mean of the three best embedding cosines (raw,
    as OpenReview's expertise model takes them: centring on a small pool of papers costs
    here) plus ``EXPERTISE_TERMS`` times the three best rare-terms cosines, each z-scored.
    Unlike the feed's ranking it has no learned model: a reviewer is judged by the papers
    they wrote, not by what sets them apart from everyone else."""
    k = min(3, len(profile))
    sem = _similarities(candidates.vectors @ profile.vectors.T, k)["top3"]
    rare = _similarities(cosines(candidates.terms, profile.terms), k)["top3"]
    return _zscore(sem) + EXPERTISE_TERMS * _zscore(rare)


RANKERS: dict[str, Ranker] = {
    "asl": asl_scores,
    "zad": zad_scores,
    "centroid": centroid_scores,
    "paperfeed": paperfeed_scores,
}
