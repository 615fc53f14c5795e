"""``recommend``: a day's new papers ranked for a profile, each with reasons a person can check.

The one function behind the CLI (and, later, the web page, API, feed and digest). It uses the
same ranker the daily-feed benchmark measures (:func:`paperfeed.recommend.rankers.features`),
so what is measured is what ships. Feedback is read on every call: a thumbs-down or a save
changes the next ranking at once.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from paperfeed.embed.model import Embedder, paper_text
from paperfeed.errors import InputError
from paperfeed.models import Paper, SearchFilters
from paperfeed.recommend.lexical import fit_terms, fit_tfidf
from paperfeed.recommend.rankers import (
    Context,
    Papers,
    _zscore,
    category_counts,
    paperfeed_scores,
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
        count = int(store.stats()["papers"])
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

    def papers(self, items: list[Paper], vectors: np.ndarray) -> Papers:
        texts = [paper_text(p.title, p.abstract) for p in items]
        return Papers(
            self.tfidf.transform(texts).tocsr(),
            self.terms.transform(texts).tocsr(),
            vectors,
            [p.categories for p in items],
            [p.listed for p in items],
        )


def recommend(
    store: Store,
    profile: str,
    embedder: Embedder,
    day: str | None = None,
    since: str | None = None,
    limit: int = 50,
    lexical: LexicalModel | None = None,
) -> list[Recommendation]:
    """The papers listed on ``day`` (default: the latest day in the store), or since a day,
    best first for ``profile``; papers the profile already holds or rated are left out."""
    marks = store.profile_relations(profile)
    positives = sorted(p for p, r in marks.items() if r in POSITIVE)
    negatives = sorted(p for p, r in marks.items() if r in NEGATIVE)
    if not positives:
        raise InputError(
            f"profile {profile!r} has no papers yet: import some (paperfeed profile import) "
            "or rate papers up"
        )
    if day is None and since is None:
        day = store.stats()["listed_to"]
    window = SearchFilters(since=since or day, until=day)
    candidates = [int(i) for i in store.filter_ids(window) if int(i) not in marks]
    if not candidates:
        return []
    lexical = lexical or LexicalModel.for_store(store)
    wanted = positives + negatives + candidates
    found, vectors = store.vectors_for(embedder.name, wanted)
    vector_of = dict(zip(found.tolist(), vectors, strict=True))
    missing = [p for p in store.papers([i for i in wanted if i not in vector_of])]
    if missing:  # embed on the fly what the batch job has not reached yet
        fresh = embedder.embed([paper_text(p.title, p.abstract) for p in missing])
        vector_of.update(zip((p.id for p in missing), fresh, strict=True))
    by_id = {p.id: p for p in store.papers(wanted)}
    mine = [by_id[i] for i in positives if i in by_id]
    new = [by_id[i] for i in candidates if i in by_id]
    disliked = [by_id[i] for i in negatives if i in by_id]

    def as_papers(items: list[Paper]) -> Papers:
        vecs = np.stack([vector_of[p.id] for p in items]) if items else np.zeros((0, embedder.dim))
        return lexical.papers(items, vecs.astype(np.float32))

    prof, cand = as_papers(mine), as_papers(new)
    keep = ~np.isin(lexical.background_ids, positives)
    background = lexical.background_terms[keep]
    if disliked:  # explicit negatives count more than sampled ones
        against = as_papers(disliked).terms
        background = sparse.vstack([background] + [against] * 20)
    mean = np.stack(list(vector_of.values())).mean(axis=0)
    scores = paperfeed_scores(prof, cand, Context(mean, None, background))
    if disliked:
        scores = scores - 0.5 * _zscore((cand.terms @ against.T).toarray().max(axis=1))
    order = np.argsort(-scores, kind="stable")[:limit]
    names = lexical.terms.get_feature_names_out()  # once: ~1M strings
    counts = category_counts(prof.categories)
    return [
        Recommendation(new[i], float(scores[i]), explain(i, prof, cand, mine, names, counts))
        for i in order
    ]


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
) -> list[str]:
    """Reasons for candidate ``i``: the closest of the profile's papers, the rare terms they
    share, and a shared category."""
    why = []
    row = candidates.terms[i]
    sims = (row @ profile.terms.T).toarray().ravel()
    if sims.size and sims.max() > 0:
        j = int(sims.argmax())
        why.append(f"close to your paper “{_label(mine[j])}”")
        shared = row.multiply(profile.terms[j]).tocoo()
        if shared.nnz:
            top = shared.col[np.argsort(-shared.data)[:4]]
            why.append("shares the terms " + ", ".join(f"“{names[t]}”" for t in top))
    best = max(candidates.categories[i], key=lambda c: counts.get(c, 0), default=None)
    if best and counts.get(best):
        why.append(f"in {best}, like {counts[best]} of your {len(mine)} papers")
    return why
