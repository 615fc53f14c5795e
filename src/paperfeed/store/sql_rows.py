"""Rows to and from paperfeed's records, in the SQL both backends speak (``?`` marks its
parameters): paper rows, batched ``IN`` queries, loading papers with their authors, decoding
vectors, filters as SQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson

from paperfeed.models import PaperDraft, SearchFilters
from paperfeed.normalize import name_key, org_key
from paperfeed.store.codec import dequantize

PAPER_COLUMNS = (
    "title, title_raw, abstract, abstract_raw, authors_text, categories, published, updated, "
    "listed, links, comment, journal_ref, license, venue, year, arxiv_version, versions, provenance"
)
#: Every column a new paper's row is inserted with.
PAPER_TABLE = ("id", *(c.strip() for c in PAPER_COLUMNS.split(",")), "created_at", "modified_at")


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Database(Protocol):
    """A connection that takes ``?`` parameters: sqlite3's, or Postgres's through
    :class:`paperfeed.store.postgres_connect.Connection`."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...


#: Each backend's rows of a paper's categories (a JSON list in ``p.categories``), as a
#: table with the column ``value``.
SQLITE_CATEGORIES = "json_each(p.categories)"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def to_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def authors_text(d: PaperDraft) -> str | None:
    return "; ".join(a.name for a in d.authors) or None


def paper_row(d: PaperDraft) -> tuple[Any, ...]:
    return (
        d.title,
        d.title_raw,
        d.abstract,
        d.abstract_raw,
        authors_text(d),
        to_json(d.categories),
        d.published,
        d.updated,
        d.listed,
        to_json(d.links),
        d.comment,
        d.journal_ref,
        d.license,
        d.venue,
        d.year,
        d.arxiv_version,
        to_json(d.versions),
        to_json(d.provenance),
    )


def kept_secret(path: Path) -> str:
    """The secret in ``path``, made there (readable by its owner alone) the first time."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def decode_vectors(rows: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``(paper_id, int8 blob, scale)`` rows into ids and unit float32 vectors."""
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    raw = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.int8).reshape(len(rows), -1)
    scales = np.fromiter((r[2] for r in rows), dtype=np.float32, count=len(rows))
    return ids, dequantize(raw, scales)


def filter_sql(
    filters: SearchFilters, categories: str = SQLITE_CATEGORIES
) -> tuple[str, list[Any]]:
    """A WHERE clause over ``papers p`` for the filters, with its parameters (``categories``:
    how the backend reads a paper's categories as rows)."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.since or filters.until:
        # The day a paper was listed, else published; written as ranges over the two
        # indexed columns (ISO strings; "~" sorts after any time part) so the indexes serve.
        since, until = filters.since or "", (filters.until or "9999") + "~"
        clauses.append(
            "((p.listed >= ? AND p.listed <= ?) OR "
            "(p.listed IS NULL AND p.published >= ? AND p.published <= ?))"
        )
        params.extend((since, until, since, until))
    if filters.categories:
        marks = ",".join("?" * len(filters.categories))
        clauses.append(f"EXISTS (SELECT 1 FROM {categories} WHERE value IN ({marks}))")
        params.extend(filters.categories)
    if filters.author:
        clauses.append(
            "p.id IN (SELECT pa.paper_id FROM paper_authors pa JOIN authors a "
            "ON a.id = pa.author_id WHERE a.key = ?)"
        )
        params.append(name_key(filters.author))
    if filters.organization:
        clauses.append(
            "p.id IN (SELECT pao.paper_id FROM paper_author_orgs pao JOIN organizations o "
            "ON o.id = pao.org_id WHERE o.key = ?)"
        )
        params.append(org_key(filters.organization))
    if filters.profile:
        clauses.append(
            "p.id IN (SELECT pp.paper_id FROM profile_papers pp JOIN profiles pr "
            "ON pr.id = pp.profile_id WHERE pr.name = ?)"
        )
        params.append(filters.profile)
    return " AND ".join(clauses), params


def chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def where_in(db: Database, sql: str, head: tuple[Any, ...], values: Sequence[Any]) -> Iterator[Any]:
    """Run ``sql`` (with ``{}`` where the ``IN`` list goes) over ``values`` in chunks."""
    for chunk in chunks(values):
        yield from db.execute(sql.format(",".join("?" * len(chunk))), (*head, *chunk))


@dataclass(slots=True)
class Loaded:
    fields: dict[str, Any]
    authors: list[tuple[int, str, list[str]]] = field(default_factory=list)  # id, name, orgs
    ids: dict[str, str] = field(default_factory=dict)
    more_authors: int = 0


JSON_FIELDS = {"categories", "links", "versions", "provenance"}
FIELD_NAMES = [c.strip() for c in PAPER_COLUMNS.split(",") if c.strip() != "authors_text"]


def load_papers(
    db: Database, ids: Sequence[int], max_authors: int | None = None
) -> dict[int, Loaded]:
    """Papers with their authors (and affiliations) and ids, in a few queries; with
    ``max_authors``, only each paper's first authors, the others counted."""
    out: dict[int, Loaded] = {}
    columns = ", ".join(FIELD_NAMES)
    for row in where_in(db, f"SELECT id, {columns} FROM papers WHERE id IN ({{}})", (), ids):
        out[row[0]] = Loaded(
            {
                name: orjson.loads(value) if name in JSON_FIELDS else value
                for name, value in zip(FIELD_NAMES, row[1:], strict=True)
            }
        )
    if max_authors != 0:  # none wanted: only counted below
        load_authors(db, ids, -1 if max_authors is None else max_authors, out)
    if max_authors is not None:
        for pid, count in where_in(
            db,
            "SELECT paper_id, count(*) FROM paper_authors WHERE paper_id IN ({}) GROUP BY paper_id",
            (),
            ids,
        ):
            out[pid].more_authors = int(count) - len(out[pid].authors)
    for pid, paper_ids in load_ids(db, ids).items():
        out[pid].ids = paper_ids
    return out


def load_ids(db: Database, ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """Papers' own ids (arxiv, doi, s2, openalex) by kind, for those that have any."""
    found: dict[int, dict[str, str]] = {}
    sql = "SELECT paper_id, kind, value FROM paper_ids WHERE paper_id IN ({})"
    for pid, kind, value in where_in(db, sql, (), ids):
        found.setdefault(pid, {})[kind] = value
    return found


def load_authors(db: Database, ids: Sequence[int], limit: int, out: dict[int, Loaded]) -> None:
    """Each paper's first ``limit`` authors (all for a negative limit), with affiliations."""
    orgs: dict[tuple[int, int], list[str]] = {}
    where = "(? < 0 OR {}position < ?) AND "
    for pid, pos, name in where_in(
        db,
        "SELECT pao.paper_id, pao.position, o.name FROM paper_author_orgs pao "
        f"JOIN organizations o ON o.id = pao.org_id WHERE {where.format('pao.')}"
        "pao.paper_id IN ({}) ORDER BY o.id",
        (limit, limit),
        ids,
    ):
        orgs.setdefault((pid, pos), []).append(name)
    for pid, pos, aid, name in where_in(
        db,
        f"SELECT paper_id, position, author_id, name FROM paper_authors WHERE {where.format('')}"
        "paper_id IN ({}) ORDER BY paper_id, position",
        (limit, limit),
        ids,
    ):
        out[pid].authors.append((aid, name, orgs.get((pid, pos), [])))
