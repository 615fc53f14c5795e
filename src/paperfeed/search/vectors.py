"""Top-k cosine search over paper vectors: exact while small, HNSW (usearch) when large.

Vectors are centred on the corpus mean before cosine. Every paper embedding shares a common
direction ("this is an ML paper"), and raw cosine mostly measures that; removing it leaves
what tells papers apart (the "all-but-the-top" post-processing of Mu & Viswanath, 2018).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.embed.model import normalize
from paperfeed.store import Store

#: From this many vectors an HNSW index answers where one is built. At the corpus's size
#: the exact scan, with numpy's two BLAS threads, competes with the keyword half of a
#: hybrid search for the CPU; HNSW takes a fraction of its time and misses little, even for
#: short text queries (which sit far from paper vectors, where HNSW misses most; figures
#: in docs/benchmarks.md). Below this size the scan is fast enough and exact.
ANN_THRESHOLD = 50_000
#: HNSW candidates rescored exactly (int8 graph distances are rough): twice the results
#: wanted, and never fewer than this (docs/benchmarks.md).
MIN_CANDIDATES = 80
#: HNSW's search breadth (usearch's ``expansion_search``, HNSW's "ef"): enough for the
#: recall aimed at on the million-paper store (pgvector's index has its own,
#: ``MIN_EF_SEARCH``; docs/benchmarks.md). A saved index does not keep it: it comes back
#: with usearch's default (64) unless given on every load.
EXPANSION_SEARCH = 400


class VectorIndex:
    """Cosine top-k over ``(ids, vectors)``; ids are the store's paper ids, sorted."""

    def __init__(
        self,
        ids: np.ndarray,
        vectors: np.ndarray,
        center: bool = True,
        ann_threshold: int = ANN_THRESHOLD,
        ann_path: Path | str | None = None,
        build_ann: bool = True,
    ) -> None:
        """``build_ann`` False only loads an HNSW index saved at ``ann_path`` for exactly
        these vectors, and otherwise searches exactly: building one takes minutes at a
        million vectors, a cost for batch jobs (``paperfeed embed``), not for a query."""
        order = np.argsort(ids, kind="stable")
        self.ids = np.ascontiguousarray(ids[order], dtype=np.int64)
        vectors = np.asarray(vectors, dtype=np.float32)[order]
        dim = vectors.shape[1] if vectors.ndim == 2 else 0
        self.mean = vectors.mean(axis=0) if center and len(vectors) else np.zeros(dim, np.float32)
        path = Path(ann_path) if ann_path and len(self.ids) >= ann_threshold else None
        kept = _kept(path, self.ids, vectors) if path is not None else None
        if kept is not None and center:  # the saved index's centre, so its rows stay right
            self.mean = kept[1]
        self.matrix = normalize(vectors - self.mean) if len(vectors) else vectors
        self._ann: Any = None
        if len(self.ids) >= ann_threshold:
            self._ann = self._hnsw(path, build_ann, kept[0] if kept else 0, vectors)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def uses_ann(self) -> bool:
        return self._ann is not None

    def query_vector(self, vector: np.ndarray) -> np.ndarray:
        """A model vector moved into the index's centred space."""
        return normalize(np.asarray(vector, dtype=np.float32) - self.mean)

    def vector_of(self, paper_id: int) -> np.ndarray | None:
        """The indexed (centred) vector of a paper, or None if it has none."""
        at = int(np.searchsorted(self.ids, paper_id))
        if at < len(self.ids) and self.ids[at] == paper_id:
            return np.asarray(self.matrix[at])
        return None

    def vectors_of(self, paper_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The indexed vectors of those papers that have one."""
        found = {pid: self.vector_of(pid) for pid in paper_ids}
        return {pid: v for pid, v in found.items() if v is not None}

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        exclude: int | None = None,
    ) -> list[tuple[int, float]]:
        """The ``k`` nearest papers to a centred query vector, as ``(paper id, cosine)``.

        ``allowed`` (sorted paper ids) limits the answer to those papers.
        """
        if k <= 0 or not len(self.ids):
            return []
        want = k + (exclude is not None)
        if self._ann is not None and (allowed is None or len(allowed) > len(self.ids) // 20):
            hits = self._search_ann(self._ann, query, want, allowed)
            if len(hits) >= want:
                return _drop(hits, exclude)[:k]
        return _drop(self._search_exact(query, want, allowed), exclude)[:k]

    def _search_exact(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        if allowed is None:
            rows = None
            scores = self.matrix @ query
        else:
            at = np.searchsorted(self.ids, allowed)
            inside = at < len(self.ids)
            at, wanted = at[inside], allowed[inside]
            rows = at[self.ids[at] == wanted]
            scores = self.matrix[rows] @ query
        k = min(k, len(scores))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        positions = top if rows is None else rows[top]
        return [(int(self.ids[p]), float(scores[t])) for p, t in zip(positions, top, strict=True)]

    def _search_ann(
        self, ann: Any, query: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        wanted = max(2 * k, MIN_CANDIDATES) * (1 if allowed is None else 4)
        found = ann.search(query, min(wanted, len(self.ids)))
        positions = np.asarray(found.keys, dtype=np.int64)
        if allowed is not None:
            positions = positions[np.isin(self.ids[positions], allowed)]
        scores = self.matrix[positions] @ query
        best = np.argsort(-scores, kind="stable")[:k]
        return [(int(self.ids[positions[b]]), float(scores[b])) for b in best]

    def _hnsw(self, path: Path | None, build: bool, kept: int, raw: np.ndarray) -> Any:
        """The HNSW index: loaded when saved for exactly these vectors; with ``build``, the
        saved one with the new vectors added (``kept``: how many of the first it holds), or
        built whole, then saved."""
        # onnxruntime must load before usearch: in the other order the process dies in
        # onnxruntime's import (a segmentation fault: usearch 2.26, onnxruntime 1.32).
        import onnxruntime  # noqa: F401
        from usearch.index import Index

        index = None
        if path is not None and kept:
            index = Index.restore(str(path), view=False, expansion_search=EXPANSION_SEARCH)
            if index is None or len(index) != kept:
                index, kept = None, 0
        if index is not None and kept == len(self.ids):
            return index
        if not build:
            return None
        if index is None:
            index = Index(
                ndim=self.matrix.shape[1],
                metric="cos",
                dtype="i8",
                connectivity=16,
                expansion_add=128,
                expansion_search=EXPANSION_SEARCH,
            )
        # Papers get growing ids, so a day's new papers come after those the saved index
        # holds: they are added to it (centred as it is), not the whole index built again.
        index.add(np.arange(kept, len(self.ids), dtype=np.uint64), self.matrix[kept:], log=False)
        if path is not None:
            tmp = path.with_name(path.name + ".tmp")
            index.save(str(tmp))
            os.replace(tmp, path)
            np.save(_mean_path(path), self.mean)
            _tag_path(path).write_text(f"{len(self.ids)}:{_fingerprint(self.ids, raw)}")
        return index


class StoredIndex:
    """Cosine top-k through the nearest-neighbour index the database keeps itself
    (PostgreSQL's pgvector HNSW), centred on the centre it was built around: the same
    answers as :class:`VectorIndex` gives, with no vector loaded into this process, so any
    number of web workers share the one index."""

    uses_ann = True

    def __init__(self, store: Store, model: str, centre: np.ndarray, size: int) -> None:
        self.store, self.model, self.mean, self.size = store, model, centre, size

    def __len__(self) -> int:
        return self.size

    def query_vector(self, vector: np.ndarray) -> np.ndarray:
        return normalize(np.asarray(vector, dtype=np.float32) - self.mean)

    def vector_of(self, paper_id: int) -> np.ndarray | None:
        return self.vectors_of([paper_id]).get(paper_id)

    def vectors_of(self, paper_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The centred vectors of those papers that have one, read in one go."""
        ids, vectors = self.store.vectors_for(self.model, paper_ids)
        if not len(ids):
            return {}
        return dict(zip(ids.tolist(), normalize(vectors - self.mean), strict=True))

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None = None,
        exclude: int | None = None,
    ) -> list[tuple[int, float]]:
        """As :meth:`VectorIndex.search`: through the index, or exactly over the ``allowed``
        papers when they are few (or the index finds too few of them), scored where the
        vectors are."""
        if k <= 0 or not self.size:
            return []
        want = k + (exclude is not None)
        if allowed is None or len(allowed) > self.size // 20:
            wanted = want if allowed is None else max(2 * want, MIN_CANDIDATES) * 4
            hits = self.store.nearest(self.model, query, wanted)
            if allowed is not None:
                hits = [h for h in hits if _holds(allowed, h[0])]
            if len(hits) >= want or allowed is None:
                return _drop(hits, exclude)[:k]
        among = [int(i) for i in allowed]
        return _drop(self.store.nearest(self.model, query, want, among=among), exclude)[:k]


def _holds(sorted_ids: np.ndarray, paper_id: int) -> bool:
    at = int(np.searchsorted(sorted_ids, paper_id))
    return at < len(sorted_ids) and int(sorted_ids[at]) == paper_id


#: A saved index is added to while the papers it lacks are at most this share of all; past
#: it, it is built again whole, centred on all of them.
MOST_ADDED = 0.10


def _kept(path: Path, ids: np.ndarray, raw: np.ndarray) -> tuple[int, np.ndarray] | None:
    """(how many of the first vectors the index saved at ``path`` holds as they are now, its
    centre), or None when it holds anything else or too few of them."""
    tag = _tag_path(path)
    count, _, fingerprint = (tag.read_text() if tag.exists() else "").partition(":")
    if not count.isdigit() or not _mean_path(path).exists() or not path.exists():
        return None
    n = int(count)
    if not (1 - MOST_ADDED) * len(ids) <= n <= len(ids):
        return None
    if _fingerprint(ids[:n], raw[:n]) != fingerprint:
        return None
    return n, np.load(_mean_path(path))


def _fingerprint(ids: np.ndarray, raw: np.ndarray) -> str:
    """Of the ids and (a sample of) their vectors."""
    h = hashlib.blake2b(digest_size=16)
    h.update(ids.tobytes())
    h.update(raw[:: max(1, len(raw) // 1000)].tobytes())
    return h.hexdigest()


def _mean_path(path: Path) -> Path:
    return path.with_name(path.name + ".mean.npy")


def _drop(hits: list[tuple[int, float]], exclude: int | None) -> list[tuple[int, float]]:
    return hits if exclude is None else [h for h in hits if h[0] != exclude]


def _tag_path(path: Path) -> Path:
    return path.with_name(path.name + ".tag")
