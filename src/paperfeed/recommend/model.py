"""The profile model: a linear SVM on rare terms, a profile's papers against the background.

A profile's model is fitted once on its marks (own, liked and disliked papers) or its
description, kept in the store under a key naming what it was fitted on, and read back by
the next process. :class:`ProfileState` is everything a ranking needs of a profile.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from paperfeed.models import Paper
from paperfeed.recommend.evidence import Papers, category_counts
from paperfeed.recommend.lexical import LexicalModel

#: The marks a person gives a paper they like; with the profile's own papers, its positives.
LIKED = ("up", "save")
#: A profile's marks that make a paper one of its positives, and those that make it a negative.
POSITIVE = ("positive", *LIKED)
NEGATIVE = ("down", "hide")
#: Disliked papers weigh this many background papers in the profile's model.
AGAINST_WEIGHT = 20
#: Part of a kept model's key: a model kept in another format is fitted again.
MODEL_FORMAT = 2


@dataclass(frozen=True)
class DualSvm:
    """A linear SVM (squared hinge, balanced classes) kept as its dual: the weights are
    ``w = sum_i a_i x_i`` over the training rows, and only rows with ``a_i != 0`` count.

    LinearSVC solves the dual (Hsieh et al., ICML 2008) but keeps only ``w``; the KKT
    conditions give the coefficients back from its margins, ``a_i = 2 C_i y_i max(0, 1 -
    y_i f(x_i))``. Kept this way a profile's model is the profile's own rows plus the ~10% of
    the shared background rows it leans on (~20 KB, not the ~1 MB of ``w`` over a million
    terms), and its decisions are products with rows that a day's candidates meet once for
    every profile (:class:`~paperfeed.recommend.sparse.Rows`)."""

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


@dataclass
class ProfileState:
    """A profile's papers as the ranker sees them, its negatives and its fitted model."""

    mine: list[Paper]
    prepared: Papers
    against: Any  # rare-terms rows of disliked papers, or None
    model: DualSvm  # its negative rows are rows of the lexical model's background sample
    against_coef: np.ndarray  # the model's coefficients of the disliked papers
    coauthors: Counter[str]  # name keys on the profile's papers (the owner's left out)
    categories: Counter[str]  # the profile's papers per category
    liked: frozenset[int] = frozenset()  # the papers among ``mine`` rated up or saved


def marked(marks: dict[int, str]) -> tuple[list[int], list[int]]:
    """A profile's liked papers (its own, up-rated, saved) and disliked ones, each sorted."""
    positives = sorted(p for p, r in marks.items() if r in POSITIVE)
    negatives = sorted(p for p, r in marks.items() if r in NEGATIVE)
    return positives, negatives


def model_key(lexical: LexicalModel, marks: dict[int, str], description: str | None) -> bytes:
    """Names what a profile's model is fitted on (its marks, its description, the lexical
    model and the kept format): the key its model is kept in the store under."""
    positives, negatives = marked(marks)
    return hashlib.blake2b(
        repr((MODEL_FORMAT, positives, negatives, description)).encode() + lexical.fingerprint,
        digest_size=16,
    ).digest()


def coauthor_counts(signed: dict[str, int], papers: int) -> Counter[str]:
    """How many of a profile's ``papers`` each co-author signed (``signed``: every author's
    count). The name on at least half of them is its owner's, not a co-author's, and is left
    out."""
    owners = {k for k, n in signed.items() if n >= max(2, papers / 2)}
    return Counter({k: n for k, n in signed.items() if k not in owners})


def profile_state(
    lexical: LexicalModel,
    mine: list[Paper],
    vectors: np.ndarray,
    disliked: list[Paper],
    disliked_vectors: np.ndarray,
    coauthors: Counter[str],
    kept: bytes | None = None,
    liked: frozenset[int] = frozenset(),
) -> ProfileState:
    """A profile's state from its papers (``mine``: a described profile's is its description
    as a :meth:`~paperfeed.models.Paper.from_text` stand-in) and the papers it disliked,
    each with their embeddings. ``kept``: a model fitted before on the same marks
    (:func:`model_bytes`), used rather than fitting again."""
    prepared = lexical.papers(mine, vectors)
    if prepared.style is not None and any(p.id == 0 for p in mine):
        # a description has no house style: the profile's style is its papers'
        prepared.style = prepared.style[[p.id != 0 for p in mine]]
    against = lexical.papers(disliked, disliked_vectors).terms if disliked else None
    if kept is not None:
        model, against_coef = read_model(kept)
    else:
        model, against_coef = fit(lexical, prepared, [p.id for p in mine], against)
    return ProfileState(
        mine,
        prepared,
        against,
        model,
        against_coef,
        coauthors,
        category_counts(prepared.categories),
        liked,
    )


def fit(
    lexical: LexicalModel, prepared: Papers, positives: list[int], against: Any
) -> tuple[DualSvm, np.ndarray]:
    """The profile's SVM against the background sample (its own papers left out) and the
    papers it disliked, which count more than sampled ones."""
    sample = np.flatnonzero(~np.isin(lexical.background_ids, positives))
    n_against = 0 if against is None else against.shape[0]
    parts = [lexical.background_terms[sample]] + [against] * (AGAINST_WEIGHT if n_against else 0)
    fitted = DualSvm.fit(prepared.terms, sparse.vstack(parts))
    # the negatives' coefficients go back to the background sample's rows and, summed over
    # their copies, to the disliked papers
    sampled = fitted.rows < sample.size
    against_coef = np.zeros(n_against)
    np.add.at(
        against_coef,
        (fitted.rows[~sampled] - sample.size) % max(n_against, 1),
        fitted.coef[~sampled],
    )
    model = DualSvm(
        fitted.own, sample[fitted.rows[sampled]], fitted.coef[sampled], fitted.intercept
    )
    return model, against_coef


def model_bytes(model: DualSvm, against_coef: np.ndarray) -> bytes:
    """A model as five arrays one after another, each behind its length (npz's zip reading
    cost more than the ranking it serves)."""
    arrays = [
        model.own.astype("<f8"),
        model.rows.astype("<i4"),
        model.coef.astype("<f4"),
        np.array([model.intercept], "<f8"),
        against_coef.astype("<f8"),
    ]
    return b"".join(np.array([a.size], "<i8").tobytes() + a.tobytes() for a in arrays)


def read_model(data: bytes) -> tuple[DualSvm, np.ndarray]:
    """A model and its disliked papers' coefficients back from :func:`model_bytes`."""
    arrays, at = [], 0
    for dtype in ("<f8", "<i4", "<f4", "<f8", "<f8"):
        size = int(np.frombuffer(data, "<i8", 1, at)[0])
        arrays.append(np.frombuffer(data, dtype, size, at + 8))
        at += 8 + size * np.dtype(dtype).itemsize
    own, rows, coef, intercept, against = arrays
    return DualSvm(own, rows.astype(np.int64), coef, float(intercept[0])), against
