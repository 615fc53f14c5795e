"""``recommend``: a day's new papers ranked for a profile, each with reasons a person can check.

The one function behind the CLI, the web page, the API, the Atom feed and the digest. It uses the
same ranker the daily-feed benchmark measures (:func:`paperfeed.recommend.rankers.features`),
so what is measured is what ships. Feedback is read on every call: a thumbs-down or a save
changes the next ranking at once.
"""

from __future__ import annotations

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
from paperfeed.errors import InputError
from paperfeed.ingest.normalize import name_key, org_key
from paperfeed.models import Paper, Rule, SearchFilters
from paperfeed.recommend.lexical import fit_terms, fit_tfidf
from paperfeed.recommend.rankers import (
    Context,
    Papers,
    _zscore,
    category_counts,
    cosines,
    paperfeed_scores,
    profile_model,
)
from paperfeed.store import Store

POSITIVE = ("positive", "up", "save")
NEGATIVE = ("down", "hide")
#: Background papers kept as the per-profile model's negatives.
BACKGROUND = 20_000
#: Rebuild the lexical model once the store has grown by this fraction.
STALE_GROWTH = 0.10


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


@dataclass
class LexicalModel:
    """The tf-idf spaces fitted on a store's papers, with a background sample in them."""

    tfidf: Any
    terms: Any
    background_ids: np.ndarray
    background_terms: Any
    size: int  # papers in the store when fitted

    @classmethod
    def build(cls, store: Store, seed: int = 0) -> LexicalModel:
        ids, texts = [], []
        # embedding_inputs is the store's light read of (id, title, abstract)
        for batch in store.embedding_inputs("", batch_size=20_000):
            for pid, title, abstract, _ in batch:
                text = paper_text(title, abstract)
                if text:
                    ids.append(pid)
                    texts.append(text)
        if len(texts) < 10:
            raise InputError("too few papers in the store to learn a vocabulary from")
        # Rare and common words are cut by document counts: a small store keeps them all.
        loose = {"min_df": 1, "max_df": 1.0} if len(texts) < 200 else {}
        tfidf, _ = fit_tfidf(texts, **loose)
        terms, matrix = fit_terms(texts, **loose)
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(ids), min(BACKGROUND, len(ids)), replace=False))
        return cls(tfidf, terms, np.asarray(ids)[rows], matrix[rows], len(ids))

    @classmethod
    def for_store(cls, store: Store) -> LexicalModel:
        """The cached model beside the database, rebuilt when the store has grown."""
        count = store.paper_count()
        path = None if store.location in ("", ":memory:") else Path(f"{store.location}.lexical")
        if path is not None and path.exists():
            model = pickle.loads(path.read_bytes())
            if isinstance(model, cls) and count <= model.size * (1 + STALE_GROWTH):
                return model
        model = cls.build(store)
        if path is not None:
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                pickle.dump(model, tmp)
            os.replace(tmp.name, path)
        return model

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
        texts = [paper_text(p.title, p.abstract) for p in items]
        return Papers(
            self.tfidf.transform(texts).tocsr(),
            self.terms.transform(texts).tocsr(),
            vectors,
            [p.categories for p in items],
            [p.listed for p in items],
        )


@dataclass
class Listing:
    """A window's papers, prepared once for every profile that ranks them."""

    papers: list[Paper]
    prepared: Papers


@dataclass
class ProfileState:
    """A profile's papers as the ranker sees them, and its negatives."""

    mine: list[Paper]
    prepared: Papers
    background: Any  # rare-terms rows of the model's negatives
    against: Any  # rare-terms rows of disliked papers, or None


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
    positives = sorted(p for p, r in marks.items() if r in POSITIVE)
    description = store.profile(profile).description if not positives else None
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
    allowed = {p.id for p in _apply_filters([listing.papers[i] for i in rows], rules)}
    rows = [i for i in rows if listing.papers[i].id in allowed]
    if not rows:
        return []
    new = [listing.papers[i] for i in rows]
    pinned = _pinned(store, new, rules, window)
    if not positives and not description:  # rules alone: what they pick, newest first
        chosen = sorted(new, key=lambda p: (p.id not in pinned, -p.id))[:limit]
        return [Recommendation(p, 0.0, pinned.get(p.id, [])) for p in chosen]
    key, state = _state_of(store, embedder, lexical, cache, profile, marks, description)
    cand = listing.prepared.take(rows)
    mean = np.vstack([listing.prepared.vectors, state.prepared.vectors]).mean(axis=0)
    scores = paperfeed_scores(
        state.prepared, cand, Context(mean, None, state.background, cache, key)
    )
    if state.against is not None:
        scores = scores - 0.5 * _zscore(cosines(cand.terms, state.against).max(axis=1))
    together = _coauthored(state.mine, new)
    if together:  # a paper with one of your co-authors (not measured: the benchmark hides authors)
        scores = scores + COAUTHOR_BONUS * np.array([p.id in together for p in new])
    first = np.array([p.id in pinned for p in new])
    order = np.lexsort((-scores, ~first))
    top = order[:DIVERSE]  # rule-picked papers are diversified apart, so they stay first
    parts = [
        diversify(part, scores, cand.vectors, mean) for part in (top[first[top]], top[~first[top]])
    ]
    order = np.concatenate([*parts, order[DIVERSE:]])[:limit]
    counts = category_counts(state.prepared.categories)
    sims = cosines(cand.terms[order], state.prepared.terms)
    return [
        Recommendation(
            new[i],
            float(scores[i]),
            pinned.get(new[i].id, [])
            + together.get(new[i].id, [])
            + explain(i, state.prepared, cand, state.mine, lexical.names, counts, sims[n]),
        )
        for n, i in enumerate(order)
    ]


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
    positives = [p for p, r in marks.items() if r in POSITIVE]
    description = store.profile(profile).description if not positives else None
    last = store.latest_day()
    if last is None or (not positives and not description):
        return []
    since = (date.fromisoformat(last[:10]) - timedelta(days=days - 1)).isoformat()
    lexical = lexical or LexicalModel.for_store(store)
    listing = _listing(store, embedder, lexical, SearchFilters(since=since, until=last), cache)
    rows = [i for i, p in enumerate(listing.papers) if p.id not in marks]
    if not rows:
        return []
    key, state = _state_of(store, embedder, lexical, cache, profile, marks, description)
    cand = listing.prepared.take(rows)
    mean = np.vstack([listing.prepared.vectors, state.prepared.vectors]).mean(axis=0)
    ctx = Context(mean, None, state.background, cache, key)
    scores = paperfeed_scores(state.prepared, cand, ctx)
    margin = np.abs(profile_model(state.prepared, ctx).decision_function(cand.terms))
    pool = np.argsort(-scores, kind="stable")[:100]
    v = cand.vectors - mean
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
    placed: list[int] = []
    closest = np.full(len(order), -1.0)
    left = list(range(len(order)))
    while left:
        gain = [z[i] - REDUNDANCY * max(closest[i], 0.0) for i in left]
        best = left.pop(int(np.argmax(gain)))
        placed.append(best)
        closest = np.maximum(closest, v @ v[best])
    return order[placed]


def _state_of(
    store: Store,
    embedder: Embedder,
    lexical: LexicalModel,
    cache: MutableMapping[Any, Any],
    profile: str,
    marks: dict[int, str],
    description: str | None,
) -> tuple[Any, ProfileState]:
    """The profile's prepared papers and negatives, kept in ``cache`` under a key that
    changes with its marks and description (the fitted model is kept under it too)."""
    positives = sorted(p for p, r in marks.items() if r in POSITIVE)
    negatives = sorted(p for p, r in marks.items() if r in NEGATIVE)
    key = ("profile", profile, tuple(positives), tuple(negatives), description, lexical.size)
    state = cache.get(key)
    if state is None:
        state = cache[key] = _profile_state(
            store, embedder, lexical, positives, negatives, description
        )
    return key, state


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
    ids = [int(i) for i in store.filter_ids(window)]
    key = ("listing", window, len(ids), ids[-1] if ids else 0, lexical.size)
    listing = cache.get(key)
    if listing is None:
        papers = store.papers(ids)
        listing = cache[key] = Listing(
            papers, lexical.papers(papers, _vectors(store, embedder, papers))
        )
    return listing


def _profile_state(
    store: Store,
    embedder: Embedder,
    lexical: LexicalModel,
    positives: list[int],
    negatives: list[int],
    description: str | None,
) -> ProfileState:
    loaded = {p.id: p for p in store.papers(positives + negatives)}
    mine = [loaded[i] for i in positives if i in loaded]
    if description:  # cold start: the description stands in for the profile's papers
        mine = [Paper.from_text(description)]
    prepared = lexical.papers(mine, _vectors(store, embedder, mine))
    background = lexical.background_terms[~np.isin(lexical.background_ids, positives)]
    disliked = [loaded[i] for i in negatives if i in loaded]
    against = None
    if disliked:  # explicit negatives count more than sampled ones
        against = lexical.papers(disliked, _vectors(store, embedder, disliked)).terms
        background = sparse.vstack([background] + [against] * 20)
    return ProfileState(mine, prepared, background, against)


#: Added to a z-scored score when a paper has one of the profile's co-authors.
COAUTHOR_BONUS = 1.0


def _coauthored(mine: list[Paper], papers: list[Paper]) -> dict[int, list[str]]:
    """Papers written with someone who wrote the profile's papers, with that reason. The
    name on at least half of a profile's papers is its owner's, not a co-author's."""
    counts = Counter(name_key(a.name) for p in mine for a in p.authors)
    if not counts:
        return {}
    owners = {k for k, n in counts.items() if n >= max(2, len(mine) / 2)}
    found: dict[int, list[str]] = {}
    for p in papers:
        names = [a.name for a in p.authors if name_key(a.name) in counts]
        names = [n for n in names if name_key(n) not in owners]
        if names:
            found[p.id] = [f"with {', '.join(names[:2])}, an author of your papers"]
    return found


def _mentions(paper: Paper, word: str) -> bool:
    text = f"{paper.title or ''} {paper.abstract or ''}"
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) is not None


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
    common, at_a, at_b = np.intersect1d(ai, bj, assume_unique=True, return_indices=True)
    weight = av[at_a] * bv[at_b]
    return common[np.argsort(-weight, kind="stable")[:n]]


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
    #: Prepared listings, profiles and fitted models kept (a model is ~8 MB on 75k papers).
    PARTS = 96

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
