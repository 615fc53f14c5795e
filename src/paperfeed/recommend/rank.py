"""The ranking: a listing's papers scored for a profile, fused, adjusted and explained.

:func:`rank` is the one ranking behind every face (the web page, the API, the Atom feed, the
digest, the CLI) and the daily-feed benchmark: the store's face (:mod:`.feed`) and the
benchmark (:mod:`paperfeed.evaluate.daily_feed`) only differ in where they read the listing
and the profile from.

Each kind of evidence (:mod:`.evidence`) is z-scored over the candidates and the weighted sum
(:data:`WEIGHTS`) is the score; a paper like one the profile disliked loses, a paper with one
of its co-authors gains, papers a rule picks come first, and the top is diversified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from paperfeed.models import Paper
from paperfeed.recommend.diversity import DIVERSE, diversify
from paperfeed.recommend.evidence import (
    centred,
    comment_similarity,
    similarities,
    style_evidence,
    term_evidence,
    zscore,
)
from paperfeed.recommend.explain import coauthored, explain
from paperfeed.recommend.lexical import LexicalModel
from paperfeed.recommend.listing import Listing
from paperfeed.recommend.model import ProfileState

#: Weights of the z-scored evidence, fitted on the daily-feed benchmark's even-SHA-1 authors
#: (bench/tune_daily_feed.py; how, in docs/ranking.md). Crowding counts against: a paper
#: close to many is close to you by chance.
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
#: Subtracted, times the z-scored closeness to the nearest disliked paper, from a score.
DISLIKE_PENALTY = 0.5
#: Added to a z-scored score when a paper has one of the profile's co-authors.
COAUTHOR_BONUS = 1.0
#: The spaces whose candidate x profile-paper cosines become best, best-three and mean evidence.
SIMILARITIES = ("lex", "rare", "sem")


@dataclass
class Recommendation:
    """A paper in a ranking, its score and the reasons for it."""

    paper: Paper
    score: float
    why: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.paper.ref,
            "title": self.paper.display_title,
            "snippet": self.paper.snippet,
            "urls": self.paper.urls,
            "score": round(self.score, 4),
            "why": self.why,
            "authors": [a.name for a in self.paper.authors],
            "listed": self.paper.listed,
            "categories": self.paper.categories,
        }


@dataclass
class Scored:
    """A listing's candidate ``rows`` as scored for one profile."""

    rows: list[int]
    evidence: dict[str, np.ndarray]  # each kind, raw (similarity matrices for SIMILARITIES)
    scores: np.ndarray  # the fused score
    against: np.ndarray | None  # rare-terms cosines with the papers the profile disliked


def fuse(evidence: dict[str, np.ndarray], weights: dict[str, float] | None = None) -> np.ndarray:
    """The weighted sum of the z-scored :func:`features` of ``evidence``."""
    w = WEIGHTS if weights is None else weights
    f = features(evidence)
    n = len(next(iter(f.values())))
    return sum((w.get(name, 0.0) * v for name, v in f.items()), np.zeros(n))


def features(evidence: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each kind of evidence z-scored over the candidates; a similarity matrix (candidates x
    the profile's papers) gives its best match, best three and mean, so a researcher with
    several interests is matched on any of them."""
    out: dict[str, np.ndarray] = {}
    for name, values in evidence.items():
        if name in SIMILARITIES:
            k = min(3, values.shape[1])
            for kind, v in similarities(values, k).items():
                out[f"{name}_{kind}"] = v
        else:
            out[name] = values
    return {name: zscore(np.asarray(v, dtype=np.float64)) for name, v in out.items()}


def score(
    listing: Listing,
    state: ProfileState,
    lexical: LexicalModel,
    rows: list[int],
    weights: dict[str, float] | None = None,
) -> Scored:
    """Score the listing's ``rows`` for a profile: every kind of evidence from the listed
    papers' products with the profile's papers, its model's decision values and its
    categories, computed for the whole listing at once, then :func:`fuse`."""
    rare = listing.rare.dot(state.prepared.terms)
    svm = state.model.decide(rare, listing.background(lexical, state.model.rows))
    against = None
    if state.against is not None:
        against = listing.rare.dot(state.against)
        svm = svm + against @ state.against_coef
    mean, space = listing.centred()
    prepared = listing.prepared
    given = {
        "lex": listing.lex.dot(state.prepared.tfidf),
        "rare": rare,
        "sem": space @ centred(state.prepared.vectors, mean).T,
        "svm": svm,
        "category": listing.category_evidence(
            state.categories, len(state.prepared), lexical.category_prior
        ),
        "comment": comment_similarity(
            prepared.comments, state.prepared.comments, len(listing.papers)
        ),
        "terms": term_evidence(listing.rare, state.prepared.terms, lexical.term_shares),
        "style": style_evidence(prepared.style, state.prepared.style, lexical.style_prior),
        "crowding": listing.crowding(lexical),
    }
    evidence = {name: values[rows] for name, values in given.items()}
    return Scored(
        rows, evidence, fuse(evidence, weights), None if against is None else against[rows]
    )


def rank(
    listing: Listing,
    state: ProfileState,
    lexical: LexicalModel,
    rows: list[int],
    pinned: dict[int, list[str]] | None = None,
    limit: int | None = 50,
    weights: dict[str, float] | None = None,
) -> list[Recommendation]:
    """The listing's ``rows`` best first for a profile, each with its reasons: the fused
    score (:func:`score`), less :data:`DISLIKE_PENALTY` for closeness to a disliked paper,
    plus :data:`COAUTHOR_BONUS` for a co-author; the papers a rule picked (``pinned``, with
    the rule's reasons) first; the top :data:`~.diversity.DIVERSE` diversified."""
    pinned = pinned or {}
    new = [listing.papers[i] for i in rows]
    scored = score(listing, state, lexical, rows, weights)
    scores = scored.scores
    if scored.against is not None:
        scores = scores - DISLIKE_PENALTY * zscore(scored.against.max(axis=1))
    together = coauthored(state.coauthors, listing, rows)
    if together:
        scores = scores + COAUTHOR_BONUS * np.array([p.id in together for p in new])
    first = np.array([p.id in pinned for p in new])
    order = np.lexsort((-scores, ~first))
    top = order[:DIVERSE]  # rule-picked papers are diversified apart, so they stay first
    mean, _ = listing.centred()
    vectors = listing.prepared.vectors[rows]
    parts = [diversify(part, scores, vectors, mean) for part in (top[first[top]], top[~first[top]])]
    order = np.concatenate([*parts, order[DIVERSE:]])[:limit]
    return [
        Recommendation(
            new[i],
            float(scores[i]),
            pinned.get(new[i].id, [])
            + together.get(new[i].id, [])
            + explain(
                rows[i],
                new[i],
                state.prepared,
                listing.prepared,
                state.mine,
                lexical,
                state.categories,
                scored.evidence["rare"][i],
                state.liked,
            ),
        )
        for i in order
    ]


#: Two papers offered for rating are never closer than this (centred embedding cosine).
UNSURE_APART = 0.8


def unsure(
    listing: Listing, state: ProfileState, lexical: LexicalModel, rows: list[int], k: int = 3
) -> list[Recommendation]:
    """Papers whose rating would teach the profile's model most: uncertainty sampling
    (Lewis & Gale, SIGIR 1994). Among the 100 best-ranked of the listing's ``rows``, those
    nearest the model's decision boundary, no two alike."""
    scored = score(listing, state, lexical, rows)
    margin = np.abs(scored.evidence["svm"])
    pool = np.argsort(-scored.scores, kind="stable")[:100]
    mean, _ = listing.centred()
    v = centred(listing.prepared.vectors[rows], mean)
    picked: list[int] = []
    for i in pool[np.argsort(margin[pool], kind="stable")]:
        if all(float(v[i] @ v[j]) < UNSURE_APART for j in picked):
            picked.append(int(i))
        if len(picked) == k:
            break
    return [
        Recommendation(
            listing.papers[rows[i]],
            float(scored.scores[i]),
            ["your feed is unsure about this one: rating it teaches it most"],
        )
        for i in picked
    ]
