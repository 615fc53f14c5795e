"""The nearest-neighbour index PostgreSQL keeps itself: pgvector's HNSW over the centred vectors.

Search ranks papers by the cosine of vectors centred on the corpus mean (``search/vectors.py``
says why). The index is built on that very expression, ``vector - centre``, with the centre
written into it as a constant, one partial index per model, in half precision::

    CREATE INDEX ... USING hnsw (((vector::vector(384) - '[...]'::vector(384))::halfvec(384))
        halfvec_cosine_ops) WHERE model = '...'

A query that orders by the same expression is answered from the index, so every web worker
and host shares one index in the database instead of loading every vector into its memory.
Rows embedded later are added to the index by PostgreSQL as they are written (centred on the
centre it was built with); once the vectors grew by a tenth it is built again, beside the old
one (``CONCURRENTLY``: searches and writes go on), around a new centre, and then swapped in.
What the index is (its name, centre and size) is kept in the ``kept`` table.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from pgvector import HalfVector

from paperfeed.store.sql_rows import now

#: The index is built again around a new centre once its model's vectors grew past this
#: share of what it was built on (until then, rows are added to it as they are written).
REBUILD_GROWTH = 0.10
#: HNSW's build settings: pgvector's m, and twice its ef_construction, which builds a graph
#: that finds more at ef_search 500 than pgvector's defaults found at 600, in about the
#: same time a search, for 1.8 times the build (docs/benchmarks.md).
HNSW_OPTIONS = "m = 16, ef_construction = 128"
#: Memory for a build: the graph of a million half-precision vectors fits (past the setting,
#: pgvector builds on disk, many times slower).
BUILD_MEMORY = "2GB"
#: Neighbours an index search looks through at the least (pgvector's most is 1,000): the
#: breadth that kept recall@10 above 0.95 at a million papers, with some room
#: (docs/benchmarks.md). It is kept with the index it was measured for: an index built
#: before, with pgvector's default ef_construction (64), needs :data:`FORMER_EF_SEARCH`.
MIN_EF_SEARCH = 500
FORMER_EF_SEARCH = 600
#: Held (as a session lock) by the one process building an index, so two never build at once.
BUILD_LOCK = 0x70616E6E  # "pann"


def _kept_name(model: str) -> str:
    return f"ann:{model}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def index_meta(db: Any, model: str, checked: bool = True) -> dict[str, Any] | None:
    """What the index of ``model``'s vectors is (``name``, ``centre`` as the text written
    into it, ``dims``, ``count`` when built, the ``ef_search`` it needs), or None when there
    is none that is usable. Unless ``checked``, the index is taken to be there, as it is
    once a search loaded it: what is kept is written after it is built, and the one it
    replaces dropped with it."""
    row = db.execute("SELECT value FROM kept WHERE name = ?", (_kept_name(model),)).fetchone()
    if row is None:
        return None
    meta: dict[str, Any] = orjson.loads(bytes(row[0]))
    if not checked:
        return meta
    valid = db.execute(
        "SELECT i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
        "WHERE c.relname = ?",
        (meta["name"],),
    ).fetchone()
    return meta if valid and valid[0] else None


def _expression(meta: dict[str, Any]) -> str:
    dims = int(meta["dims"])
    return (
        f"((vector::vector({dims}) - {_literal(meta['centre'])}::vector({dims}))::halfvec({dims}))"
    )


def query_sql(model: str, meta: dict[str, Any]) -> str:
    """The search through the index, taking the query vector twice and the limit. The
    model and centre are constants in it: only then does the planner see the index."""
    expression = _expression(meta)
    return (
        f"SELECT paper_id, 1 - ({expression} <=> ?) AS score FROM embeddings "
        f"WHERE model = {_literal(model)} ORDER BY {expression} <=> ? LIMIT ?"
    )


def nearest(
    db: Any,
    model: str,
    meta: dict[str, Any],
    query: np.ndarray,
    k: int,
    among: Sequence[int] | None = None,
) -> list[tuple[int, float]]:
    """The ``k`` papers whose centred vectors are closest to the centred ``query`` by the
    index, as ``(paper id, cosine)``, best first; with ``among``, exactly, over those
    papers' vectors alone (the server scores them; only the best come back)."""
    target = HalfVector(np.asarray(query, dtype=np.float32))
    if among is not None:
        expression = _expression(meta)
        rows = db.execute(
            f"SELECT paper_id, 1 - ({expression} <=> ?) AS score FROM embeddings "
            f"WHERE model = ? AND paper_id = ANY(?) ORDER BY score DESC, paper_id LIMIT ?",
            (target, model, [int(i) for i in among], k),
        ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]
    breadth = int(meta.get("ef_search", FORMER_EF_SEARCH))
    db.execute(f"SET hnsw.ef_search = {min(1000, max(breadth, 2 * k))}")
    rows = db.execute(query_sql(model, meta), (target, target, k)).fetchall()
    return [(int(r[0]), float(r[1])) for r in rows]


def build(db: Any, model: str, min_vectors: int) -> dict[str, Any] | None:
    """The index of ``model``'s vectors, built (or built again around a new centre) when
    they number at least ``min_vectors`` and it has none or they grew past
    :data:`REBUILD_GROWTH`; None while there are too few of them. ``db``: a connection of
    its own, out of any transaction (the build runs while others read and write)."""
    meta = index_meta(db, model)
    count = int(
        db.execute("SELECT count(*) FROM embeddings WHERE model = ?", (model,)).fetchone()[0]
    )
    if count < max(1, min_vectors) or (meta and count <= meta["count"] * (1 + REBUILD_GROWTH)):
        return meta if count >= max(1, min_vectors) else None
    if not db.execute("SELECT pg_try_advisory_lock(?)", (BUILD_LOCK,)).fetchone()[0]:
        return meta  # another process is building it; until then the old one serves
    try:
        return _build(db, model, count, meta)
    finally:
        db.execute("SELECT pg_advisory_unlock(?)", (BUILD_LOCK,))


def _build(db: Any, model: str, count: int, old: dict[str, Any] | None) -> dict[str, Any]:
    row = db.execute("SELECT avg(vector) FROM embeddings WHERE model = ?", (model,)).fetchone()
    centre = np.asarray(row[0].to_numpy(), dtype=np.float32)
    meta = {
        "name": f"embeddings_ann_{hashlib.sha1(model.encode()).hexdigest()[:8]}_"
        + secrets.token_hex(4),
        "centre": "[" + ",".join(repr(float(x)) for x in centre) + "]",
        "dims": len(centre),
        "count": count,
        "ef_search": MIN_EF_SEARCH,
    }
    db.execute("ANALYZE embeddings")  # the planner weighs the index against what it holds
    db.execute(f"SET maintenance_work_mem = '{BUILD_MEMORY}'")
    try:
        db.execute(
            f"CREATE INDEX CONCURRENTLY {meta['name']} ON embeddings USING hnsw "
            f"({_expression(meta)} halfvec_cosine_ops) WITH ({HNSW_OPTIONS}) "
            f"WHERE model = {_literal(model)}"
        )
    except BaseException:
        db.execute(f"DROP INDEX IF EXISTS {meta['name']}")  # a failed build leaves it invalid
        raise
    with db.conn.transaction():
        db.execute(
            "INSERT INTO kept (name, value, kept_at) VALUES (?, ?, ?) ON CONFLICT (name) "
            "DO UPDATE SET value = excluded.value, kept_at = excluded.kept_at",
            (_kept_name(model), orjson.dumps(meta), now()),
        )
        if old is not None:
            db.execute(f"DROP INDEX IF EXISTS {old['name']}")
    return meta
