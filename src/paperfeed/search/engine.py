"""Keyword, semantic and hybrid search, and similar papers, over one store.

Hybrid search fuses the keyword and semantic rankings with reciprocal rank fusion
(Cormack, Clarke & Büttcher, SIGIR 2009): ``score = sum 1 / (60 + rank)``. Ranks, not scores,
are fused, so BM25's unbounded scores and cosines need no calibration against each other.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, cast

import numpy as np

from paperfeed.embed.model import Embedder, paper_text
from paperfeed.errors import InputError
from paperfeed.models import Hit, Paper, SearchFilters
from paperfeed.normalize import fold, title_key
from paperfeed.search.vectors import ANN_THRESHOLD, StoredIndex, VectorIndex
from paperfeed.store import Store

Mode = Literal["keyword", "semantic", "hybrid"]
MODES: tuple[Mode, ...] = ("keyword", "semantic", "hybrid")
RRF_K = 60
#: Candidates each method contributes to the fusion.
DEPTH = 100
#: Longest query text used; the rest cannot change a ranking much.
MAX_QUERY_CHARS = 10_000
#: Authors read per hit; the rest are counted (a collaboration paper signs thousands).
HIT_AUTHORS = 50

Ranking = list[tuple[int, float]]


class Searcher:
    """Search over a store; vectors are loaded (and indexed) on first semantic use."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder | None = None,
        index: VectorIndex | StoredIndex | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self._index = index
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="semantic")

    @property
    def index(self) -> VectorIndex | StoredIndex:
        if self._index is None:
            if self.embedder is None:
                raise InputError("semantic search needs an embedding model")
            self._index = load_index(self.store, self.embedder.name, build_ann=False)
        return self._index

    def reload(self, build_ann: bool = False) -> None:
        """Forget the loaded vectors, so the next semantic search sees newly embedded papers.

        With ``build_ann``, the new index (HNSW included, once the corpus is large enough) is
        built here and then swapped in: searches meanwhile use the old one."""
        if build_ann and self.embedder is not None:
            self._index = load_index(self.store, self.embedder.name, build_ann=True)
        else:
            self._index = None

    def usable_mode(self, mode: str) -> tuple[Mode, str]:
        """The mode a search can run in now, and a note when it differs from the one asked:
        semantic and hybrid search need vectors, and until some papers are embedded a search
        runs on keywords alone."""
        if mode not in MODES:
            raise InputError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
        if mode != "keyword" and (self.embedder is None or not len(self.index)):
            return "keyword", (
                "Semantic search starts once papers are embedded (paperfeed embed): "
                "these are keyword results."
            )
        return cast(Mode, mode), ""

    # -- the public face -----------------------------------------------------------------

    def search(
        self,
        query: str,
        mode: Mode = "hybrid",
        filters: SearchFilters | None = None,
        limit: int = 20,
    ) -> list[Hit]:
        """Papers for a free-text query, best first."""
        text = _clean_query(query)
        filters = filters or SearchFilters()
        if mode not in MODES:
            raise InputError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
        rankings: dict[str, Ranking] = {}
        depth = max(DEPTH, limit)

        def semantic() -> Ranking:
            return self.semantic(self.embed_query(text), filters, depth)

        # SQLite, onnxruntime and numpy all release the GIL: the two halves run at once.
        later = self._pool.submit(semantic) if mode != "keyword" else None
        # in semantic mode, a paper's exact title goes first too: a title long enough to
        # name a paper is looked up, a short one looked for by its words
        if mode == "semantic" and title_key(text):
            keyword = [(pid, 0.0) for pid in self.store.titled(text, filters)[:depth]]
        else:
            keyword = self.store.keyword_search(text, filters, depth if mode != "semantic" else 3)
        if mode != "semantic":
            rankings["keyword"] = keyword
        if later is not None:
            rankings["semantic"] = later.result()
        hits = self._hits(rankings, limit=limit + 5)
        if mode == "semantic":
            shown = {h.paper.id for h in hits}
            key = fold(text)
            hits += [
                Hit(p, 0.0, {"keyword": 1})
                for p in self.store.papers(
                    [pid for pid, _ in keyword if pid not in shown], max_authors=HIT_AUTHORS
                )
                if p.title and fold(p.title) == key
            ]
        named = self.store.author_ids(text)
        by_author = self.store.written_by(named, [h.paper.id for h in hits]) if named else set()
        return _exact_matches_first(text, hits, by_author)[:limit]

    def similar(
        self,
        ref: str,
        filters: SearchFilters | None = None,
        limit: int = 20,
        mode: Mode = "semantic",
    ) -> list[Hit]:
        """Papers like the paper named ``ref`` (any of its ids), the paper itself left out."""
        paper = self.store.get_paper(ref)
        rankings = self.similar_rankings(paper, filters or SearchFilters(), max(DEPTH, limit), mode)
        return self._hits(rankings, limit=limit)

    # -- the parts, also used by evaluation ----------------------------------------------

    def embed_query(self, text: str) -> np.ndarray:
        if self.embedder is None:
            raise InputError("semantic search needs an embedding model")
        return self.index.query_vector(self.embedder.embed([text])[0])

    def semantic(
        self,
        vector: np.ndarray,
        filters: SearchFilters,
        depth: int,
        within: Collection[int] | None = None,
        exclude: int | None = None,
    ) -> Ranking:
        allowed = self.store.filter_ids(filters) if filters else None
        if within is not None:
            pool = np.fromiter(sorted(within), dtype=np.int64)
            allowed = pool if allowed is None else np.intersect1d(allowed, pool)
        return self.index.search(vector, depth, allowed=allowed, exclude=exclude)

    def keyword(
        self,
        text: str,
        filters: SearchFilters,
        depth: int,
        within: Collection[int] | None = None,
        exclude: int | None = None,
    ) -> Ranking:
        # Restricting to a pool after the fact needs the whole ranking first.
        hits = self.store.keyword_search(
            text[:MAX_QUERY_CHARS], filters, depth if within is None else 1_000_000
        )
        keep = set(within) if within is not None else None
        return [h for h in hits if h[0] != exclude and (keep is None or h[0] in keep)][:depth]

    def paper_vector(self, paper: Paper) -> np.ndarray:
        """The centred vector of a stored paper, embedded now if it has none yet."""
        vector = self.index.vector_of(paper.id)
        if vector is None:
            return self.embed_query(paper_text(paper.title, paper.abstract))
        return vector

    def similar_rankings(
        self,
        paper: Paper,
        filters: SearchFilters,
        depth: int,
        mode: Mode = "semantic",
        within: Collection[int] | None = None,
    ) -> dict[str, Ranking]:
        rankings: dict[str, Ranking] = {}
        if mode in ("keyword", "hybrid"):
            text = paper_text(paper.title, paper.abstract)
            rankings["keyword"] = self.keyword(text, filters, depth, within, exclude=paper.id)
        if mode in ("semantic", "hybrid"):
            rankings["semantic"] = self.semantic(
                self.paper_vector(paper), filters, depth, within, exclude=paper.id
            )
        return rankings

    def _hits(self, rankings: dict[str, Ranking], limit: int) -> list[Hit]:
        fused = fuse(rankings)[:limit]
        papers = {
            p.id: p
            for p in self.store.papers([pid for pid, _, _ in fused], max_authors=HIT_AUTHORS)
        }
        return [Hit(papers[pid], score, ranks) for pid, score, ranks in fused if pid in papers]


def load_index(store: Store, model: str, build_ann: bool = False) -> VectorIndex | StoredIndex:
    """The vector index of a store's papers; with ``build_ann``, the HNSW index is built (or
    refreshed) and saved beside the database, for searches to load. A database that keeps
    an index of its own (PostgreSQL) builds it in itself, and searches go through it."""
    if build_ann:
        store.build_ann(model, ANN_THRESHOLD)
    kept = store.ann_index(model)
    if kept is not None:
        return StoredIndex(store, model, *kept)
    ids, vectors = store.load_vectors(model)
    ann_path = store.sidecar(f"{model}.usearch")
    return VectorIndex(ids, vectors, ann_path=ann_path, build_ann=build_ann)


def fuse(rankings: dict[str, Ranking]) -> list[tuple[int, float, dict[str, int]]]:
    """Reciprocal rank fusion; a single ranking keeps its own scores."""
    if len(rankings) == 1:
        ((name, ranking),) = rankings.items()
        return [(pid, score, {name: r}) for r, (pid, score) in enumerate(ranking, 1)]
    scores: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for name, ranking in rankings.items():
        for r, (pid, _) in enumerate(ranking, 1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (RRF_K + r)
            ranks.setdefault(pid, {})[name] = r
    order = sorted(scores, key=lambda pid: (-scores[pid], pid))
    return [(pid, scores[pid], ranks[pid]) for pid in order]


def _clean_query(query: str) -> str:
    text = " ".join(query.split())[:MAX_QUERY_CHARS]
    if not any(c.isalnum() for c in text):
        raise InputError("the query is empty: give some words to search for")
    return text


def _exact_matches_first(query: str, hits: Sequence[Hit], by_author: set[int]) -> list[Hit]:
    """A query that is a paper's exact title, then one that is an author's name (``by_author``:
    the hits that author signed), goes first: the searcher wants that paper, or that
    person's."""
    key = fold(query)
    titled = [h for h in hits if h.paper.title and fold(h.paper.title) == key]
    signed = [h for h in hits if h.paper.id in by_author]
    first = {h.paper.id: h for h in titled + signed}
    return [*first.values(), *(h for h in hits if h.paper.id not in first)]
