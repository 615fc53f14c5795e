"""A whole store copied to another backend (``paperfeed migrate-store``): every table's rows,
the vectors, and what the store keeps for itself, in one transaction on the target; and a
digest of a store's content, the same on both backends when nothing was lost."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson

from paperfeed.errors import InputError, StoreError
from paperfeed.store.base import Store
from paperfeed.store.codec import quantize
from paperfeed.store.sql import SQLStore
from paperfeed.store.sql_rows import PAPER_TABLE
from paperfeed.store.sql_writer import SQLWriter

#: Every table a store's content is in, parents before children, with its columns: the same
#: in both schemas. Embeddings differ in form and go through the store's vector methods.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("papers", PAPER_TABLE),
    ("authors", ("id", "name", "key")),
    ("organizations", ("id", "name", "key")),
    ("paper_ids", ("kind", "value", "paper_id")),
    ("paper_keys", ("kind", "value", "paper_id")),
    ("paper_authors", ("paper_id", "position", "author_id", "name")),
    ("paper_author_orgs", ("paper_id", "position", "org_id")),
    ("source_records", ("hash", "paper_id", "source", "location")),
    ("users", ("id", "name", "email", "password_hash", "created_at")),
    ("sessions", ("token_hash", "user_id", "csrf", "expires_at")),
    ("profiles", ("id", "name", "kind", "description", "created_at", "owner_id", "feed_token")),
    ("profile_papers", ("profile_id", "paper_id", "relation", "added_at")),
    ("profile_rules", ("profile_id", "kind", "value")),
    ("subscriptions", ("profile_id", "email", "frequency", "created_at")),
    ("digests", ("profile_id", "period", "message_id", "status", "papers", "updated_at")),
    ("profile_models", ("profile_id", "key", "model", "fitted_at")),
    ("sync_state", ("key", "value", "updated_at")),
    ("leases", ("name", "holder", "expires_at")),
    ("venues", ("id", "name", "owner_id", "settings", "report", "created_at")),
    ("venue_submissions", ("venue_id", "sid", "position", "paper", "model", "vector")),
    (
        "venue_reviewers",
        ("venue_id", "name", "position", "details", "token", "papers", "updated_at"),
    ),
    ("venue_assignments", ("venue_id", "sid", "reviewer", "affinity", "why")),
)

#: What a store keeps for itself that a copy must carry: the key its links are signed with
#: (feed and unsubscribe links keep working) and the fitted lexical model (kept profile
#: models refer to its rows).
KEPT = ("secret", "lexical")

#: Tables that hold no content of their own: the schema's record, SQLite's full-text index
#: (made again from the papers) and staging log (empty between writes), the vectors (copied
#: by model) and what Postgres keeps for itself (see :data:`KEPT`).
NOT_CONTENT = frozenset({"_migrations", "staged_runs", "staged_undo", "embeddings", "kept"})

#: Papers whose vectors are read and written at a time.
VECTOR_BATCH = 5000


def _sql(store: Store) -> SQLStore:
    if not isinstance(store, SQLStore):  # pragma: no cover - every backend is SQL today
        raise InputError(f"{store.location}: not a store paperfeed can copy")
    return store


def unknown_tables(store: Store) -> set[str]:
    """Tables of the store's schema that a copy would leave behind (none, unless a
    migration added one that :data:`TABLES` does not name)."""
    found = {t for t in _sql(store).tables() if not t.startswith("papers_fts")}
    return found - NOT_CONTENT - {table for table, _ in TABLES}


def rows(store: Store, table: str, columns: tuple[str, ...]) -> Iterator[tuple[Any, ...]]:
    """Every row of ``table``, as the backend gives it."""
    yield from _sql(store)._read.execute(f"SELECT {', '.join(columns)} FROM {table}")


def _vectors(store: Store) -> Iterator[tuple[str, list[int], list[bytes], np.ndarray]]:
    """``(model, paper ids, text hashes, vectors)`` in batches, for every model."""
    for model in sorted(store.stats()["embedded"]):
        for batch in store.embedding_inputs(model, VECTOR_BATCH):
            hashes = {pid: h for pid, _, _, h in batch if h is not None}
            ids, vectors = store.vectors_for(model, sorted(hashes))
            if len(ids):
                yield model, [int(i) for i in ids], [hashes[int(i)] for i in ids], vectors


def copy_store(
    source: Store, target: Store, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Copy everything ``source`` holds into the empty ``target``: all of it or, if anything
    fails, nothing. Returns the rows copied per table (and vectors per model)."""
    unknown = unknown_tables(source)
    if unknown:
        raise StoreError(f"{source.location}: tables this paperfeed cannot copy: {sorted(unknown)}")
    held = [t for t in ("papers", "users", "profiles") if next(rows(target, t, ("1",)), None)]
    if held:
        raise InputError(f"{target.location}: the target store is not empty (it has {held[0]})")
    counts: dict[str, int] = {}
    with target.writer() as w:
        assert isinstance(w, SQLWriter)  # every backend is SQL today
        for table, columns in TABLES:
            batch = list(rows(source, table, columns))
            w._insert(table, columns, batch)
            counts[table] = len(batch)
            if progress:
                progress(table, len(batch))
        for model, ids, hashes, vectors in _vectors(source):
            w.save_vectors(model, ids, hashes, vectors)
            counts[f"vectors:{model}"] = counts.get(f"vectors:{model}", 0) + len(ids)
        w.copied()  # the backend's indexes and counters caught up
    for name in KEPT:
        data = source.kept(name)
        if data is not None:
            target.keep(name, data)
    return counts


def _canonical(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, float):
        return repr(value)  # the same double either way
    return value


def content_digest(store: Store) -> str:
    """A hash of everything the store holds, the same on either backend for the same
    content: rows compared as values (sorted), vectors as SQLite keeps them, kept files."""
    digest = hashlib.sha256()
    for table, columns in TABLES:
        lines = sorted(
            orjson.dumps([_canonical(v) for v in row]) for row in rows(store, table, columns)
        )
        digest.update(f"{table}:{len(lines)}\n".encode())
        for line in lines:
            digest.update(line + b"\n")
    for model, ids, hashes, vectors in _vectors(store):
        digest.update(model.encode())
        digest.update(np.asarray(ids, dtype=np.int64).tobytes())
        digest.update(b"".join(hashes))
        digest.update(quantize(vectors)[0].tobytes())  # what SQLite keeps; exact both ways
    for name in KEPT:
        digest.update(name.encode() + (store.kept(name) or b"-"))
    return digest.hexdigest()
