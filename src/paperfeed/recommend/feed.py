"""``recommend``: a day's new papers ranked for a profile, each with reasons a person can check.

The one function behind the CLI, the web page, the API, the Atom feed and the digest. It uses the
same ranker the daily-feed benchmark measures (:func:`paperfeed.recommend.rankers.features`),
so what is measured is what ships. Feedback is read on every call: a thumbs-down or a save
changes the next ranking at once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import tempfile
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from paperfeed.embed.model import Embedder, paper_text
from paperfeed.errors import InputError, StoreBusy
from paperfeed.ingest.normalize import name_key, org_key
from paperfeed.models import Paper, Rule, SearchFilters
from paperfeed.recommend.lexical import fit_comments, fit_terms, fit_tfidf, terms_text
from paperfeed.recommend.rankers import (
    SMOOTHING,
    Context,
    DualSvm,
    Papers,
    Rows,
    _centred,
    _zscore,
    category_counts,
    category_prior,
    category_weights,
    comment_similarity,
    crowding,
    paperfeed_scores,
    style_evidence,
    term_shares,
    term_weights,
)
from paperfeed.recommend.style import style_matrix, style_prior
from paperfeed.store import Store

log = logging.getLogger(__name__)

POSITIVE = ("positive", "up", "save")
NEGATIVE = ("down", "hide")
#: Background papers kept as the per-profile model's negatives.
BACKGROUND = 20_000
#: Rebuild the lexical model once the store has grown by this fraction.
STALE_GROWTH = 0.10
#: A listing's rows are also kept dense up to this many cells (a day of 300 papers uses
#: ~25,000 terms: 7.5M), for faster products with each profile's papers.
DENSE_CELLS = 12_000_000
#: Listings up to this size keep their products with the whole background sample (~24 MB
#: for a day of 300 papers), shared by every profile's model; larger windows (a week of
#: ~2,000 papers would keep 160 MB) compute each profile's few thousand support rows instead.
KEEP_BACKGROUND_PRODUCTS = 1_000


@dataclass
class Recommendation:
    paper: Paper
    score: float
    why: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.paper.ref,
            "title": self.paper.title,
            "score": round(self.score, 4),
            "why": self.why,
            "authors": [a.name for a in self.paper.authors],
            "listed": self.paper.listed,
            "categories": self.paper.categories,
        }


#: Bumped when :class:`LexicalModel` changes shape: older cached models are refitted.
LEXICAL_VERSION = 5


@dataclass
class LexicalModel:
    """The tf-idf spaces fitted on a store's papers, with a background sample in them, and
    every fitted paper's rows (a profile's papers are read, not transformed again: the
    vectorizers cost ~0.5 ms a paper)."""

    tfidf: Any
    terms: Any
    background_ids: np.ndarray
    background_terms: Any
    size: int  # papers in the store when fitted
    ids: np.ndarray  # the papers fitted on, sorted
    tfidf_rows: Any  # CSR float32, a row per paper of ``ids``
    terms_rows: Any
    comments: Any = None  # the comments' vectorizer (None: no comment token seen twice)
    comment_rows: Any = None
    category_prior: dict[str, float] = field(default_factory=dict)
    term_shares: np.ndarray | None = None  # each rare term's share of the papers using it
    style_rows: np.ndarray | None = None  # uint8, each fitted paper's style attributes
    style_prior: np.ndarray | None = None  # each style attribute's share of the papers
    version: int = LEXICAL_VERSION

    @classmethod
    def build(cls, store: Store, seed: int = 0) -> LexicalModel:
        ids, texts, comments, categories, styles = [], [], [], [], []
        for batch in store.lexical_inputs(batch_size=20_000):
            for pid, title, abstract, comment, cats in batch:
                text = paper_text(title, abstract)
                if text:
                    ids.append(pid)
                    texts.append(text)
                    comments.append(comment or "")
                    categories.append(cats)
                    styles.append((title, abstract, comment, cats))
        if len(texts) < 10:
            raise InputError("too few papers in the store to learn a vocabulary from")
        # Rare and common words are cut by document counts: a small store keeps them all.
        loose = {"min_df": 1, "max_df": 1.0} if len(texts) < 200 else {}
        tfidf, tfidf_rows = fit_tfidf(texts, **loose)
        terms, matrix = fit_terms(
            [terms_text(t, c) for t, c in zip(texts, comments, strict=True)], **loose
        )
        comments_space, comment_rows = fit_comments(comments, **({"min_df": 1} if loose else {}))
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(ids), min(BACKGROUND, len(ids)), replace=False))
        style_rows = style_matrix(styles)
        return cls(
            tfidf,
            terms,
            np.asarray(ids)[rows],
            matrix[rows],
            len(ids),
            np.asarray(ids, dtype=np.int64),
            tfidf_rows.astype(np.float32),
            matrix.astype(np.float32),
            comments_space,
            comment_rows,
            category_prior(categories),
            term_shares(matrix),
            style_rows,
            style_prior(style_rows),
        )

    @classmethod
    def for_store(cls, store: Store) -> LexicalModel:
        """The cached model beside the database, rebuilt when the store has grown."""
        count = store.paper_count()
        path = None if store.location in ("", ":memory:") else Path(f"{store.location}.lexical")
        if path is not None and path.exists():
            model = pickle.loads(path.read_bytes())
            if (
                isinstance(model, cls)
                and model.__dict__.get("version") == LEXICAL_VERSION  # not the class default
                and count <= model.size * (1 + STALE_GROWTH)
            ):
                return model
        model = cls.build(store)
        if path is not None:
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                pickle.dump(model, tmp)
            os.replace(tmp.name, path)
        return model

    @property
    def fingerprint(self) -> bytes:
        """Names this model's background sample: kept profile models refer to its rows."""
        found = self.__dict__.get("_fingerprint")
        if found is None:
            h = hashlib.blake2b(self.background_ids.tobytes(), digest_size=16)
            h.update(str((self.size, self.background_terms.shape, self.version)).encode())
            found = self.__dict__["_fingerprint"] = h.digest()
        return found

    @property
    def names(self) -> np.ndarray:
        """Term of each rare-terms column (built once per process: ~1M strings)."""
        names = self.__dict__.get("_names")
        if names is None:
            names = self.__dict__["_names"] = self.terms.get_feature_names_out()
        return names

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_names"}

    def papers(self, items: list[Paper], vectors: np.ndarray) -> Papers:
        """``items`` as rankers see them: fitted papers' rows are read, others transformed."""
        wanted = np.array([p.id for p in items], dtype=np.int64)
        at = np.searchsorted(self.ids, wanted).clip(0, max(len(self.ids) - 1, 0))
        known = self.ids[at] == wanted if len(self.ids) else np.zeros(len(items), dtype=bool)
        categories = [p.categories for p in items]
        listed = [p.listed for p in items]
        if known.all():  # every row fitted (the usual case): read in the items' order
            return Papers(
                self.tfidf_rows[at],
                self.terms_rows[at],
                vectors,
                categories,
                listed,
                None if self.comment_rows is None else self.comment_rows[at],
                style=None if self.style_rows is None else self.style_rows[at],
            )
        new = [p for p, k in zip(items, known.tolist(), strict=True) if not k]
        fresh = [paper_text(p.title, p.abstract) for p in new]
        # the known rows, then the fresh ones, put back in the items' order
        order = np.empty(len(items), dtype=np.int64)
        order[known] = np.arange(int(known.sum()))
        order[~known] = int(known.sum()) + np.arange(len(fresh))
        tfidf = [self.tfidf_rows[at[known]]]
        terms = [self.terms_rows[at[known]]]
        comments = None if self.comment_rows is None else [self.comment_rows[at[known]]]
        if fresh:
            tfidf.append(self.tfidf.transform(fresh))
            terms.append(
                self.terms.transform(
                    [terms_text(t, p.comment) for t, p in zip(fresh, new, strict=True)]
                )
            )
            if comments is not None:
                comments.append(self.comments.transform([p.comment or "" for p in new]))
        style = None
        if self.style_rows is not None:
            fresh_style = style_matrix((p.title, p.abstract, p.comment, p.categories) for p in new)
            style = np.vstack([self.style_rows[at[known]], fresh_style])[order]
        return Papers(
            sparse.vstack(tfidf, format="csr")[order],
            sparse.vstack(terms, format="csr")[order],
            vectors,
            categories,
            listed,
            None if comments is None else sparse.vstack(comments, format="csr")[order],
            style=style,
        )


@dataclass
class Listing:
    """A window's papers, prepared once for every profile that ranks them."""

    papers: list[Paper]
    prepared: Papers
    lex: Rows  # the tf-idf rows, cut once for every profile's products with them
    rare: Rows  # the rare-terms rows, likewise
    author_keys: list[list[str]]  # each paper's authors' name keys
    #: the vector embeddings are centred on (:func:`_store_mean`); None: the listing's own mean
    mean: np.ndarray | None = None
    _background: np.ndarray | None = None
    _signed: dict[str, list[int]] | None = None
    _categories: tuple[dict[str, int], Any] | None = None
    _space: tuple[np.ndarray, np.ndarray] | None = None
    _crowding: np.ndarray | None = None

    def centred(self) -> tuple[np.ndarray, np.ndarray]:
        """The vector the listed papers' embeddings are centred on (the store's mean, else
        their own), and their embeddings centred on it and made unit length: the space
        semantic similarities are taken in, the same for every profile."""
        if self._space is None:
            vectors = self.prepared.vectors
            mean = self.mean
            if mean is None:
                mean = vectors.mean(axis=0) if len(vectors) else np.zeros(vectors.shape[1])
            self._space = (mean, _centred(vectors, mean))
        return self._space

    def category_evidence(
        self, counts: Counter[str], papers: int, prior: dict[str, float]
    ) -> np.ndarray:
        """For every listed paper, the sum of its categories' weights for a profile
        (:func:`~paperfeed.recommend.rankers.category_weights` of its ``papers``' category
        ``counts``): :func:`~paperfeed.recommend.rankers.category_evidence`, with the
        listing's categories read once for every profile."""
        if self._categories is None:
            vocab: dict[str, int] = {}
            cols = [[vocab.setdefault(c, len(vocab)) for c in p.categories] for p in self.papers]
            indptr = np.r_[0, np.cumsum([len(c) for c in cols])]
            flat = np.fromiter((c for row in cols for c in row), dtype=np.int64)
            self._categories = (vocab, (flat, indptr))
        vocab, (flat, indptr) = self._categories
        if not counts:  # a description: no category evidence
            return np.zeros(len(self.papers))
        missing = np.log(SMOOTHING / (papers + SMOOTHING))
        weight = np.full(len(vocab), missing)
        for name, w in category_weights(counts, papers, prior).items():
            if name in vocab:
                weight[vocab[name]] = w
        summed = np.r_[0.0, np.cumsum(weight[flat])]  # a paper's sum: a difference of two
        return summed[indptr[1:]] - summed[indptr[:-1]]

    def signed(self, key: str) -> list[int]:
        """The rows of the papers an author's name key signed."""
        if self._signed is None:
            signed: dict[str, list[int]] = {}
            for row, keys in enumerate(self.author_keys):
                for k in dict.fromkeys(keys):
                    signed.setdefault(k, []).append(row)
            self._signed = signed
        return self._signed.get(key, [])

    def background(self, lexical: LexicalModel, rows: np.ndarray) -> np.ndarray:
        """Products of every listed paper (rows of the answer) with these rows of the
        lexical model's background sample (columns), float32."""
        kept = self.kept_background(lexical)
        if kept is None:
            return self.rare.dot(lexical.background_terms[rows]).astype(np.float32)
        return kept[rows].T

    def crowding(self, lexical: LexicalModel) -> np.ndarray:
        """Every listed paper's :func:`~paperfeed.recommend.rankers.crowding`: its mean
        rare-terms cosine with its nearest papers in the lexical model's background sample
        (itself left out), the same for every profile."""
        if self._crowding is None:
            sample = lexical.background_terms
            ids = np.array([p.id for p in self.papers], dtype=np.int64)
            kept = self.kept_background(lexical)

            def blocks() -> Iterator[np.ndarray]:
                for at in range(0, sample.shape[0], 5000):
                    block = (
                        self.rare.dot(sample[at : at + 5000]).astype(np.float32)
                        if kept is None
                        else kept[at : at + 5000].T.copy()
                    )
                    # a listed paper in the sample would be its own nearest paper
                    block[lexical.background_ids[at : at + 5000][None, :] == ids[:, None]] = 0
                    yield block

            self._crowding = crowding(blocks(), len(self.papers))
        return self._crowding

    def kept_background(self, lexical: LexicalModel) -> np.ndarray | None:
        """The products with the whole background sample, one background row per row (so a
        profile's rows are read contiguously), computed on first use; None for a listing
        too large to keep them."""
        if len(self.papers) > KEEP_BACKGROUND_PRODUCTS:
            return None
        if self._background is None:  # two threads may both compute it: the same result
            sample = lexical.background_terms
            self._background = np.ascontiguousarray(
                np.vstack(
                    [
                        self.rare.dot(sample[at : at + 5000]).T.astype(np.float32)
                        for at in range(0, sample.shape[0], 5000)
                    ]
                )
            )
        return self._background


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


def recommend(
    store: Store,
    profile: str,
    embedder: Embedder,
    day: str | None = None,
    since: str | None = None,
    limit: int = 50,
    lexical: LexicalModel | None = None,
    cache: MutableMapping[Any, Any] | None = None,
) -> list[Recommendation]:
    """The papers listed on ``day`` (default: the latest day in the store), or since a day,
    best first for ``profile``; papers the profile already holds or rated are left out.

    The profile's rules apply first: papers outside its must-have categories or mentioning
    an excluded word are dropped; papers by followed authors or organizations, mentioning an
    included word or matching a saved query come first. The learned ranking orders the rest
    (and, within the first group, those too). A profile with no papers yet ranks by its
    description, so a line of text is enough to start.

    ``cache`` (any mapping; :class:`Recommender` keeps a bounded one) keeps what does not
    change between calls: a window's prepared papers, shared by every profile, and each
    profile's prepared papers and fitted model, until the profile changes."""
    cache = {} if cache is None else cache
    marks = store.profile_relations(profile)
    rules = store.rules(profile)
    positives, _ = _marked(marks)
    about = store.profile(profile)
    description = about.description if not positives else None
    if not positives and not description and not rules:
        raise InputError(
            f"profile {profile!r} has no papers yet: import some (paperfeed profile import), "
            "rate papers up, follow an author or describe your interests"
        )
    if day is None and since is None:
        day = store.latest_day()
    window = SearchFilters(since=since or day, until=day)
    lexical = lexical or LexicalModel.for_store(store)
    listing = _listing(store, embedder, lexical, window, cache)
    rows = [i for i, p in enumerate(listing.papers) if p.id not in marks]
    if any(r.kind in FILTERS for r in rules):
        allowed = {p.id for p in _apply_filters([listing.papers[i] for i in rows], rules)}
        rows = [i for i in rows if listing.papers[i].id in allowed]
    if not rows:
        return []
    new = [listing.papers[i] for i in rows]
    pinned = _pinned(store, new, rules, window)
    if not positives and not description:  # rules alone: what they pick, newest first
        chosen = sorted(new, key=lambda p: (p.id not in pinned, -p.id))[:limit]
        return [Recommendation(p, 0.0, pinned.get(p.id, [])) for p in chosen]
    state = _state_of(store, embedder, lexical, cache, about.id, marks, description)
    scored = _scored(listing, state, lexical, rows)
    cand, mean, evidence, scores = scored.cand, scored.mean, scored.evidence, scored.scores
    if scored.against is not None:
        scores = scores - 0.5 * _zscore(scored.against.max(axis=1))
    together = _coauthored(state.coauthors, listing, rows)
    if together:  # a paper with one of your co-authors (not measured: the benchmark hides authors)
        scores = scores + COAUTHOR_BONUS * np.array([p.id in together for p in new])
    first = np.array([p.id in pinned for p in new])
    order = np.lexsort((-scores, ~first))
    top = order[:DIVERSE]  # rule-picked papers are diversified apart, so they stay first
    parts = [
        diversify(part, scores, cand.vectors, mean) for part in (top[first[top]], top[~first[top]])
    ]
    order = np.concatenate([*parts, order[DIVERSE:]])[:limit]
    counts = state.categories
    return [
        Recommendation(
            new[i],
            float(scores[i]),
            pinned.get(new[i].id, [])
            + together.get(new[i].id, [])
            + explain(
                rows[i],
                state.prepared,
                listing.prepared,
                state.mine,
                lexical.names,
                counts,
                evidence["rare"][i],
            ),
        )
        for i in order
    ]


@dataclass
class Scored:
    """A ranking's candidates (listing ``rows``) as scored for one profile."""

    cand: Papers  # their vectors and categories
    mean: np.ndarray  # the vector the embeddings are centred on
    evidence: dict[str, np.ndarray]  # the parts given to paperfeed_scores, raw
    scores: np.ndarray
    against: np.ndarray | None  # rare-terms cosines with the papers the profile disliked


def _scored(
    listing: Listing, state: ProfileState, lexical: LexicalModel, rows: list[int]
) -> Scored:
    """Score the listing's ``rows`` for a profile with :func:`paperfeed_scores`, from the
    listed papers' products with the profile's papers (tf-idf and rare terms), its model's
    decision values and category shares, computed for the whole listing at once."""
    rare = listing.rare.dot(state.prepared.terms)
    svm = state.model.decide(rare, listing.background(lexical, state.model.rows))
    against = None
    if state.against is not None:
        against = listing.rare.dot(state.against)
        svm = svm + against @ state.against_coef
    mean, centred = listing.centred()
    given = {
        "lex": listing.lex.dot(state.prepared.tfidf),
        "rare": rare,
        "sem": centred @ _centred(state.prepared.vectors, mean).T,
        "svm": svm,
        "category": listing.category_evidence(
            state.categories, len(state.prepared), lexical.category_prior
        ),
        "comment": comment_similarity(
            listing.prepared.comments, state.prepared.comments, len(listing.papers)
        ),
        "terms": _term_evidence(listing, state, lexical),
        "style": style_evidence(listing.prepared.style, state.prepared.style, lexical.style_prior),
        "crowding": listing.crowding(lexical),
    }
    evidence = {name: values[rows] for name, values in given.items()}
    # all a ranking reads of the candidates once the products are given
    prepared = listing.prepared
    cand = Papers(None, None, prepared.vectors[rows], [prepared.categories[i] for i in rows])
    scores = paperfeed_scores(state.prepared, cand, Context(mean, None, None), given=evidence)
    return Scored(cand, mean, evidence, scores, None if against is None else against[rows])


def _term_evidence(listing: Listing, state: ProfileState, lexical: LexicalModel) -> np.ndarray:
    """:func:`~paperfeed.recommend.rankers.term_evidence` of every listed paper for a
    profile, from the listing's rare-terms rows cut once."""
    if lexical.term_shares is None or not state.prepared.terms.shape[0]:
        return np.zeros(len(listing.papers))
    return listing.rare.dot(term_weights(state.prepared.terms, lexical.term_shares)).ravel()


def to_rate(
    store: Store,
    profile: str,
    embedder: Embedder,
    lexical: LexicalModel | None = None,
    cache: MutableMapping[Any, Any] | None = None,
    k: int = 3,
    days: int = 7,
) -> list[Recommendation]:
    """Papers whose rating would teach the profile's model most: uncertainty sampling
    (Lewis & Gale, SIGIR 1994). Among the 100 best-ranked unrated papers of the last
    ``days`` days, those nearest the model's decision boundary, no two alike (centred
    cosine under 0.8)."""
    cache = {} if cache is None else cache
    marks = store.profile_relations(profile)
    positives, _ = _marked(marks)
    about = store.profile(profile)
    description = about.description if not positives else None
    last = store.latest_day()
    if last is None or (not positives and not description):
        return []
    since = (date.fromisoformat(last[:10]) - timedelta(days=days - 1)).isoformat()
    lexical = lexical or LexicalModel.for_store(store)
    listing = _listing(store, embedder, lexical, SearchFilters(since=since, until=last), cache)
    rows = [i for i, p in enumerate(listing.papers) if p.id not in marks]
    if not rows:
        return []
    state = _state_of(store, embedder, lexical, cache, about.id, marks, description)
    scored = _scored(listing, state, lexical, rows)
    scores, mean = scored.scores, scored.mean
    margin = np.abs(scored.evidence["svm"])
    pool = np.argsort(-scores, kind="stable")[:100]
    v = scored.cand.vectors - mean
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    picked: list[int] = []
    for i in pool[np.argsort(margin[pool], kind="stable")]:
        if all(float(v[i] @ v[j]) < 0.8 for j in picked):
            picked.append(int(i))
        if len(picked) == k:
            break
    return [
        Recommendation(
            listing.papers[rows[i]],
            float(scores[i]),
            ["your feed is unsure about this one: rating it teaches it most"],
        )
        for i in picked
    ]


#: How much of the top of a ranking is re-ordered for diversity, and how strongly.
DIVERSE = 30
REDUNDANCY = 0.5


def diversify(
    order: np.ndarray, scores: np.ndarray, vectors: np.ndarray, mean: np.ndarray
) -> np.ndarray:
    """Maximal marginal relevance (Carbonell & Goldstein, SIGIR 1998) over the top of a
    ranking: each next paper maximises its z-scored score minus ``REDUNDANCY`` times its
    highest cosine (centred embeddings) to the papers already placed, so three versions of
    one idea do not fill the first screen. (Papers a rule puts first are diversified apart
    from the rest, so they stay in front.)"""
    if len(order) < 3:
        return order
    v = vectors[order] - mean
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    z = _zscore(scores[order])
    similar = v @ v.T
    placed: list[int] = []
    closest = np.zeros(len(order))
    left = np.ones(len(order), dtype=bool)
    for _ in range(len(order)):
        gain = np.where(left, z - REDUNDANCY * closest, -np.inf)
        best = int(np.argmax(gain))
        placed.append(best)
        left[best] = False
        closest = np.maximum(closest, similar[best])
    return order[placed]


def _state_of(
    store: Store,
    embedder: Embedder,
    lexical: LexicalModel,
    cache: MutableMapping[Any, Any],
    profile_id: int,
    marks: dict[int, str],
    description: str | None,
) -> ProfileState:
    """The profile's prepared papers, negatives and fitted model, kept in ``cache`` under a
    key that changes with its marks and description. A model fitted before on the same
    marks is read back from the store rather than fitted again."""
    positives, negatives = _marked(marks)
    key = ("profile", profile_id, tuple(positives), tuple(negatives), description, lexical.size)
    state = cache.get(key)
    if state is None:
        fitted_on = model_key(lexical, marks, description)
        state = cache[key] = _profile_state(
            store, embedder, lexical, positives, negatives, description, profile_id, fitted_on
        )
    return state


def _marked(marks: dict[int, str]) -> tuple[list[int], list[int]]:
    """A profile's liked papers (its own, up-rated, saved) and disliked ones, each sorted."""
    positives = sorted(p for p, r in marks.items() if r in POSITIVE)
    negatives = sorted(p for p, r in marks.items() if r in NEGATIVE)
    return positives, negatives


def model_key(lexical: LexicalModel, marks: dict[int, str], description: str | None) -> bytes:
    """Names what a profile's model is fitted on (its marks, its description, the lexical
    model and the kept format): the key its model is kept in the store under."""
    positives, negatives = _marked(marks)
    return hashlib.blake2b(
        repr((MODEL_FORMAT, positives, negatives, description)).encode() + lexical.fingerprint,
        digest_size=16,
    ).digest()


def _vectors(store: Store, embedder: Embedder, papers: list[Paper]) -> np.ndarray:
    """Stored vectors of these papers; the ones the batch job has not reached are embedded now."""
    if not papers:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    found, vectors = store.vectors_for(embedder.name, [p.id for p in papers])
    vector_of = dict(zip(found.tolist(), vectors, strict=True))
    missing = [p for p in papers if p.id not in vector_of]
    if missing:
        fresh = embedder.embed([paper_text(p.title, p.abstract) for p in missing])
        vector_of.update(zip((p.id for p in missing), fresh, strict=True))
    return np.stack([vector_of[p.id] for p in papers]).astype(np.float32)


def _listing(
    store: Store,
    embedder: Embedder,
    lexical: LexicalModel,
    window: SearchFilters,
    cache: MutableMapping[Any, Any],
) -> Listing:
    key = ("listing", window, *store.filter_summary(window), lexical.size)
    listing = cache.get(key)
    if listing is None:
        papers = store.papers([int(i) for i in store.filter_ids(window)])
        prepared = lexical.papers(papers, _vectors(store, embedder, papers))
        listing = cache[key] = Listing(
            papers,
            prepared,
            Rows(prepared.tfidf, DENSE_CELLS),
            Rows(prepared.terms, DENSE_CELLS),
            [[name_key(a.name) for a in p.authors] for p in papers],
            _store_mean(store, embedder, lexical),
        )
    return listing


#: The store's mean embedding is taken over up to this many of its papers (the lexical
#: model's background sample), and only once at least ``MEAN_MIN`` of them have vectors.
MEAN_SAMPLE = 5_000
MEAN_MIN = 200


def _store_mean(store: Store, embedder: Embedder, lexical: LexicalModel) -> np.ndarray | None:
    """The mean embedding of the store's papers, from a sample of their stored vectors, or
    None while too few are embedded. Every paper embedding shares a common direction;
    centring on the store's mean (as search and the daily-feed benchmark do) ranked better
    there than centring on a day's own papers, whose mean leans to the day's topics (MRR
    0.2645 vs 0.2627 on 200 even authors)."""
    sample = lexical.background_ids[:: max(1, len(lexical.background_ids) // MEAN_SAMPLE)]
    _, vectors = store.vectors_for(embedder.name, sample.tolist())  # strided: ids are sorted
    if not len(vectors) or len(vectors) < min(MEAN_MIN, len(sample)):
        return None
    return vectors.mean(axis=0)


#: Disliked papers weigh this many background papers in the profile's model.
AGAINST_WEIGHT = 20


def _profile_state(
    store: Store,
    embedder: Embedder,
    lexical: LexicalModel,
    positives: list[int],
    negatives: list[int],
    description: str | None,
    profile_id: int,
    fitted_on: bytes,
) -> ProfileState:
    # no author lists: co-authors are counted by the store (a collaboration signs hundreds)
    loaded = {p.id: p for p in store.papers(positives + negatives, max_authors=0)}
    mine = [loaded[i] for i in positives if i in loaded]
    coauthors = _coauthor_counts(store.signers([p.id for p in mine]), len(mine))
    if description:  # cold start: the description stands in for the profile's papers
        mine = [Paper.from_text(description)]
    prepared = lexical.papers(mine, _vectors(store, embedder, mine))
    if description:
        prepared.style = None  # a sentence has no house style
    disliked = [loaded[i] for i in negatives if i in loaded]
    against = None
    if disliked:
        against = lexical.papers(disliked, _vectors(store, embedder, disliked)).terms
    kept = store.profile_model(profile_id, fitted_on)
    if kept is not None:
        model, against_coef = _read_model(kept)
    else:
        model, against_coef = _fit(lexical, prepared, positives, against)
        # a ranking is a read: it never waits for another write (an ingest may hold the
        # store for minutes), and a model not kept is fitted again next time
        try:
            with store.writer(wait=False) as w:
                w.save_profile_model(profile_id, fitted_on, _model_bytes(model, against_coef))
        except StoreBusy as e:
            log.info("did not keep the fitted model of profile %s: %s", profile_id, e)
        except Exception as e:  # read-only, say
            log.warning("could not keep the fitted model of profile %s: %s", profile_id, e)
    return ProfileState(
        mine,
        prepared,
        against,
        model,
        against_coef,
        coauthors,
        category_counts(prepared.categories),
    )


def _fit(
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


#: Part of a kept model's key: a model kept in another format is fitted again.
MODEL_FORMAT = 2


def _model_bytes(model: DualSvm, against_coef: np.ndarray) -> bytes:
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


def _read_model(data: bytes) -> tuple[DualSvm, np.ndarray]:
    arrays, at = [], 0
    for dtype in ("<f8", "<i4", "<f4", "<f8", "<f8"):
        size = int(np.frombuffer(data, "<i8", 1, at)[0])
        arrays.append(np.frombuffer(data, dtype, size, at + 8))
        at += 8 + size * np.dtype(dtype).itemsize
    own, rows, coef, intercept, against = arrays
    return DualSvm(own, rows.astype(np.int64), coef, float(intercept[0])), against


#: Added to a z-scored score when a paper has one of the profile's co-authors.
COAUTHOR_BONUS = 1.0


def _coauthor_counts(signed: dict[str, int], papers: int) -> Counter[str]:
    """How many of a profile's ``papers`` each co-author signed (``signed``: every author's
    count). The name on at least half of them is its owner's, not a co-author's, and is left
    out."""
    owners = {k for k, n in signed.items() if n >= max(2, papers / 2)}
    return Counter({k: n for k, n in signed.items() if k not in owners})


def _coauthored(coauthors: Counter[str], listing: Listing, rows: list[int]) -> dict[int, list[str]]:
    """Papers among the listing's ``rows`` written with someone who wrote the profile's
    papers (``coauthors``, from :func:`_coauthor_counts`), with that reason."""
    wanted = set(rows)
    found = sorted({r for k in coauthors for r in listing.signed(k) if r in wanted})
    reasons: dict[int, list[str]] = {}
    for r in found:
        paper, keys = listing.papers[r], listing.author_keys[r]
        names = [a.name for a, k in zip(paper.authors, keys, strict=True) if k in coauthors]
        reasons[paper.id] = [f"with {', '.join(names[:2])}, an author of your papers"]
    return reasons


def _mentions(paper: Paper, word: str) -> bool:
    text = f"{paper.title or ''} {paper.abstract or ''}"
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) is not None


#: Kinds of rule that drop papers (the others pick papers to show first).
FILTERS = ("category", "exclude")


def _apply_filters(papers: list[Paper], rules: list[Rule]) -> list[Paper]:
    """Drop the papers a profile's must-have categories or excluded words rule out."""
    wanted = {r.value for r in rules if r.kind == "category"}
    excluded = [r.value for r in rules if r.kind == "exclude"]
    return [
        p
        for p in papers
        if (not wanted or wanted & set(p.categories)) and not any(_mentions(p, w) for w in excluded)
    ]


def _pinned(
    store: Store, papers: list[Paper], rules: list[Rule], window: SearchFilters
) -> dict[int, list[str]]:
    """Papers a rule always shows, with the rule's reason: followed authors and
    organizations, included words, saved queries."""
    reasons: dict[int, list[str]] = {}
    if not rules:
        return reasons
    authors = {name_key(r.value): r.value for r in rules if r.kind == "author"}
    orgs = {org_key(r.value): r.value for r in rules if r.kind == "organization"}
    ids = {p.id for p in papers}
    for p in papers:
        for a in p.authors:
            if name_key(a.name) in authors:
                reasons.setdefault(p.id, []).append(f"by {a.name}, whom you follow")
            for aff in a.affiliations:
                if org_key(aff) in orgs:
                    reasons.setdefault(p.id, []).append(f"from {aff}, which you follow")
        for r in rules:
            if r.kind == "include" and _mentions(p, r.value):
                reasons.setdefault(p.id, []).append(f"mentions “{r.value}”")
    for r in rules:
        if r.kind == "query":
            for pid, _ in store.keyword_search(r.value, window, limit=len(ids) + 1):
                if pid in ids:
                    reasons.setdefault(pid, []).append(f"matches your alert “{r.value}”")
    return {pid: list(dict.fromkeys(why)) for pid, why in reasons.items()}


def _label(paper: Paper) -> str:
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
            why.append(f"close to your paper “{_label(mine[j])}”")
        top = _shared_terms(candidates.terms, i, profile.terms, j, 4)
        if top.size:
            why.append("shares the terms " + ", ".join(f"“{names[t]}”" for t in top))
    best = max(candidates.categories[i], key=lambda c: counts.get(c, 0), default=None)
    if best and counts.get(best):
        why.append(f"in {best}, like {counts[best]} of your {len(mine)} papers")
    return why


def _shared_terms(a: Any, i: int, b: Any, j: int, n: int) -> np.ndarray:
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


class LRU(MutableMapping[Any, Any]):
    """A thread-safe mapping that forgets its least recently used entries past ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, key: Any) -> Any:
        with self._lock:
            self._data.move_to_end(key)
            return self._data[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __delitem__(self, key: Any) -> None:
        with self._lock:
            del self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)


class Recommender:
    """``recommend`` for a long-running process: the lexical model loaded once, each
    ranking cached until the profile, its rules or the day's papers change (so a rating
    shows in the very next request, and repeated requests cost a dictionary lookup), and
    the parts that outlive a ranking (a day's prepared papers, a profile's fitted model)
    kept for the next one."""

    CACHED = 512
    #: Prepared listings (a day's: ~30 MB with its background products) and profiles (their
    #: papers and fitted model: see bench/bench_recommend.py for their size) kept.
    PARTS = 1024

    def __init__(self, store: Store, embedder: Embedder, lexical: LexicalModel | None = None):
        self.store = store
        self.embedder = embedder
        self.lexical = lexical
        self._cache: OrderedDict[Any, list[Recommendation]] = OrderedDict()
        self._parts = LRU(self.PARTS)
        self._lock = threading.Lock()
        self._warming = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.lexical is not None

    def warm(self) -> None:
        """Load (or fit) the lexical model: minutes for a large store the first time."""
        with self._warming:  # one fit, however many requests arrive meanwhile
            if self.lexical is None:
                self.lexical = LexicalModel.for_store(self.store)
                self.lexical.names  # noqa: B018 (built now rather than on a request)

    def _state(
        self, profile: str, day: str | None, since: str | None, limit: int
    ) -> tuple[Any, ...]:
        """What a ranking depends on: change any of it and the cached ranking is not used."""
        day = day or (None if since else self.store.latest_day())
        return (
            profile,
            day,
            since,
            limit,
            tuple(sorted(self.store.profile_relations(profile).items())),
            tuple(self.store.rules(profile)),
            self.store.profile(profile).description,
            self.store.paper_count(),
        )

    def to_rate(self, profile: str, k: int = 3) -> list[Recommendation]:
        """:func:`to_rate` with this process's models and prepared listings."""
        self.warm()
        return to_rate(self.store, profile, self.embedder, self.lexical, self._parts, k)

    def cached(
        self, profile: str, day: str | None = None, since: str | None = None, limit: int = 50
    ) -> list[Recommendation] | None:
        """The ranking if it is cached and still current (a few indexed reads), else None."""
        return self._lookup(self._state(profile, day, since, limit))

    def _lookup(self, state: tuple[Any, ...]) -> list[Recommendation] | None:
        with self._lock:
            if state in self._cache:
                self._cache.move_to_end(state)
                return self._cache[state]
        return None

    def recommend(
        self, profile: str, day: str | None = None, since: str | None = None, limit: int = 50
    ) -> list[Recommendation]:
        self.warm()
        state = self._state(profile, day, since, limit)
        found = self._lookup(state)
        if found is not None:
            return found
        recs = recommend(
            self.store, profile, self.embedder, state[1], since, limit, self.lexical, self._parts
        )
        with self._lock:
            self._cache[state] = recs
            while len(self._cache) > self.CACHED:
                self._cache.popitem(last=False)
        return recs

    def recommend_many(
        self,
        profiles: list[str],
        day: str | None = None,
        since: str | None = None,
        limit: int = 50,
        workers: int = 1,
    ) -> Iterator[tuple[str, list[Recommendation] | InputError]]:
        """Every profile's ranking of one window, in order: the daily job behind digests.

        The window's papers are prepared once here (their products with the background
        sample included); with ``workers`` > 1, forked processes share them and rank the
        profiles between them, each with its own store connection. A profile that cannot be
        ranked (no papers yet) yields its :class:`InputError`."""
        self.warm()
        if workers <= 1 or len(profiles) < 2 * workers or not _can_fork():
            with _one_blas_thread():
                for name in profiles:
                    try:
                        recs = self.recommend(name, day, since, limit)
                    except InputError as e:
                        yield name, e
                    else:
                        yield name, recs
            return
        day = day or (None if since else self.store.latest_day())
        window = SearchFilters(since=since or day, until=day)
        assert self.lexical is not None
        listing = _listing(self.store, self.embedder, self.lexical, window, self._parts)
        listing.kept_background(self.lexical)  # computed before the fork, shared by the workers
        listing.centred()
        by_id = {p.id: p for p in listing.papers}
        global _FORKED
        _FORKED = (self.store.location, self.embedder, self.lexical, dict(self._parts.items()))
        import multiprocessing

        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                jobs = [(name, day, since, limit) for name in profiles]
                for name, ranked in pool.imap(_rank_in_worker, jobs, chunksize=16):
                    if isinstance(ranked, str):
                        yield name, InputError(ranked)
                    else:
                        yield (
                            name,
                            [Recommendation(by_id[pid], score, why) for pid, score, why in ranked],
                        )
        finally:
            _FORKED = None


#: What forked ranking workers inherit: the store's location, the embedder, the lexical
#: model and the prepared parts (set just before the fork, cleared after).
_FORKED: tuple[str, Embedder, LexicalModel, dict[Any, Any]] | None = None
_WORKER: Recommender | None = None


def _one_blas_thread() -> Any:
    """Numpy's BLAS on one thread (a context manager, or for good if not used as one): a
    ranking's products are small, and BLAS threads spinning between them take the CPU that
    other rankings need."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _rank_in_worker(
    job: tuple[str, str | None, str | None, int],
) -> tuple[str, list[tuple[int, float, list[str]]] | str]:
    """Rank one profile in a forked worker; the papers go back as ids (the parent has them)."""
    global _WORKER
    if _WORKER is None:
        from paperfeed.store import open_store

        assert _FORKED is not None
        location, embedder, lexical, parts = _FORKED
        forked = getattr(embedder, "forked", None)  # its thread pool stayed in the parent
        _WORKER = Recommender(open_store(location), forked() if forked else embedder, lexical)
        _one_blas_thread()  # for the worker's life: two workers x two BLAS threads thrash
        _WORKER._parts.size = max(_WORKER._parts.size, len(parts) + Recommender.PARTS)
        for key, value in parts.items():
            _WORKER._parts[key] = value
    name, day, since, limit = job
    try:
        recs = _WORKER.recommend(name, day, since, limit)
    except InputError as e:
        return name, str(e)
    return name, [(r.paper.id, r.score, r.why) for r in recs]
