"""CSFCube (Mysore et al., NeurIPS 2021 datasets track): faceted query-by-example.

Each query paper comes with a pool of candidates rated 0-3 for one facet (background,
method, result). A method ranks the pool from the query paper; we report MAP (a candidate is
relevant at rating >= 2, as in the CSFCube paper) and NDCG@20 on the graded ratings. The
query is the whole paper, the same for every facet: this measures paperfeed's "similar papers".
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from paperfeed.embed.index import embed_store
from paperfeed.embed.model import Embedder
from paperfeed.errors import InputError
from paperfeed.evaluate.metrics import average_precision, ndcg
from paperfeed.ingest.pipeline import ingest_items
from paperfeed.models import PaperRecord, SearchFilters
from paperfeed.search.engine import Mode, Ranking, Searcher, fuse
from paperfeed.search.vectors import VectorIndex
from paperfeed.store import open_store

FACETS = ("background", "method", "result")
#: Methods compared; "semantic-raw" is cosine without centring on the corpus mean.
METHODS = ("bm25", "semantic-raw", "semantic", "hybrid")
_MODES: dict[str, Mode] = {
    "bm25": "keyword",
    "semantic-raw": "semantic",
    "semantic": "semantic",
    "hybrid": "hybrid",
}


@dataclass(slots=True)
class Query:
    pid: str
    candidates: list[str]
    ratings: list[int]


@dataclass(slots=True)
class CsfCube:
    papers: dict[str, tuple[str, str]]  # pid -> (title, abstract)
    facets: dict[str, list[Query]] = field(default_factory=dict)


def load(root: Path | str) -> CsfCube:
    root = Path(root)
    path = root / "abstracts.jsonl"
    if not path.exists():
        raise InputError(f"{path}: not found; point at the csfcube folder")
    papers: dict[str, tuple[str, str]] = {}
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                papers[str(row["paper_id"])] = (row["title"], " ".join(row["abstract"]))
            except (ValueError, KeyError, TypeError) as e:
                raise InputError(f"{path}:{n}: not a CSFCube abstract record ({e})") from e
    data = CsfCube(papers)
    for facet in FACETS:
        fpath = root / f"test-pid2anns-csfcube-{facet}.json"
        try:
            raw = json.loads(fpath.read_text(encoding="utf-8"))
            data.facets[facet] = [
                Query(str(q), [str(c) for c in v["cands"]], [int(r) for r in v["relevance_adju"]])
                for q, v in raw.items()
            ]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"{fpath}: not a CSFCube annotation file ({e})") from e
    return data


def _records(data: CsfCube) -> Iterator[PaperRecord]:
    for pid, (title, abstract) in data.papers.items():
        yield PaperRecord(
            source="csfcube",
            location=f"abstracts.jsonl:{pid}",
            s2_id=pid,
            title=title,
            abstract=abstract,
        )


def evaluate(
    root: Path | str,
    embedder: Embedder,
    methods: tuple[str, ...] = METHODS,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{facet: {method: {"map": .., "ndcg@20": .., "queries": n}}}``, facet "all" included."""
    data = load(root)
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "csfcube.db"))
        try:
            ingest_items(store, _records(data), "csfcube/abstracts.jsonl", "csfcube")
            if progress:
                progress(f"embedding {len(data.papers)} abstracts with {embedder.name}")
            embed_store(store, embedder)
            sid = {p.ids["s2"]: p.id for p in store.iter_papers()}
            ids, vectors = store.load_vectors(embedder.name)
            searchers = {
                "raw": Searcher(store, embedder, VectorIndex(ids, vectors, center=False)),
                "centred": Searcher(store, embedder, VectorIndex(ids, vectors, center=True)),
            }
            return _score(data, sid, searchers, methods)
        finally:
            store.close()


def _score(
    data: CsfCube, sid: dict[str, int], searchers: dict[str, Searcher], methods: tuple[str, ...]
) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    per_method_all: dict[str, list[tuple[float, float]]] = {m: [] for m in methods}
    for facet, queries in data.facets.items():
        out[facet] = {}
        for method in methods:
            searcher = searchers["raw" if method == "semantic-raw" else "centred"]
            scores = []
            for q in queries:
                pool = [sid[c] for c in q.candidates]
                rating = dict(zip(pool, q.ratings, strict=True))
                query_paper = searcher.store.papers([sid[q.pid]])[0]
                rankings = searcher.similar_rankings(
                    query_paper, SearchFilters(), len(pool), _MODES[method], within=pool
                )
                ranked = _complete(rankings, pool)
                gains = [rating[p] for p in ranked]
                scores.append(
                    (
                        average_precision([g >= 2 for g in gains]),
                        ndcg(gains, 20, q.ratings),
                    )
                )
            per_method_all[method].extend(scores)
            out[facet][method] = _summary(scores)
    out["all"] = {m: _summary(s) for m, s in per_method_all.items()}
    return out


def _complete(rankings: dict[str, Ranking], pool: list[int]) -> list[int]:
    """The fused ranking, then pool members no method retrieved, in pool order."""
    ranked = [pid for pid, _, _ in fuse(rankings)]
    seen = set(ranked)
    return ranked + [p for p in pool if p not in seen]


def _summary(scores: list[tuple[float, float]]) -> dict[str, float]:
    arr = np.array(scores) if scores else np.zeros((0, 2))
    return {
        "map": float(arr[:, 0].mean()) if len(arr) else 0.0,
        "ndcg@20": float(arr[:, 1].mean()) if len(arr) else 0.0,
        "queries": len(scores),
    }
