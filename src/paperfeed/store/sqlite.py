"""The embedded default store: one SQLite file in WAL mode with an FTS5 index."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from paperfeed.errors import NotFound, StoreError
from paperfeed.ingest.normalize import name_key, normalize_doi, org_key, parse_arxiv_id
from paperfeed.models import Author, AuthorRecord, Paper, PaperDraft, Profile
from paperfeed.store import migrations
from paperfeed.store.base import Store, Writer

_PAPER_COLUMNS = (
    "title, title_raw, abstract, abstract_raw, authors_text, categories, published, updated, "
    "listed, links, comment, journal_ref, license, venue, year, arxiv_version, versions, provenance"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA temp_store = MEMORY")
    db.execute("PRAGMA cache_size = -65536")
    return db


class SQLiteStore(Store):
    """One SQLite file: one writer connection, one reader connection per thread."""

    def __init__(self, location: str) -> None:
        self.location = location
        if location != ":memory:":
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._write = connect(location)
            migrations.apply(self._write)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{location}: not a usable paperfeed database ({e})") from e
        self._write_lock = threading.Lock()
        self._local = threading.local()

    # -- connections ---------------------------------------------------------------------

    @property
    def _read(self) -> sqlite3.Connection:
        if self.location == ":memory:":
            return self._write
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.location)
            db.execute("PRAGMA query_only = ON")
        return db

    def close(self) -> None:
        self._write.close()
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @contextmanager
    def writer(self) -> Iterator[SQLiteWriter]:
        with self._write_lock:
            self._write.execute("BEGIN IMMEDIATE")
            try:
                yield SQLiteWriter(self._write)
            except BaseException:
                self._write.execute("ROLLBACK")
                raise
            self._write.execute("COMMIT")

    # -- reads ---------------------------------------------------------------------------

    def resolve(self, ref: str) -> int:
        """The internal id of a paper named by any of its ids."""
        ref = ref.strip()
        kind, _, value = ref.partition(":")
        db = self._read
        if kind == "pf" and value.isdigit():
            row = db.execute("SELECT id FROM papers WHERE id = ?", (int(value),)).fetchone()
            if row:
                return int(row[0])
        candidates: list[tuple[str, str]] = []
        if kind in ("s2", "openalex") and value:
            candidates.append((kind, value))
        if (doi := normalize_doi(ref)) is not None:
            candidates.append(("doi", doi))
        if (arxiv := parse_arxiv_id(ref)) is not None:
            candidates.append(("arxiv", arxiv[0]))
        for k, v in candidates:
            row = db.execute(
                "SELECT paper_id FROM paper_ids WHERE kind = ? AND value = ?", (k, v)
            ).fetchone()
            if row:
                return int(row[0])
        raise NotFound(f"no paper with id {ref!r}")

    def get_paper(self, ref: str) -> Paper:
        return self._papers([self.resolve(ref)])[0]

    def iter_papers(self, batch_size: int = 1000) -> Iterator[Paper]:
        last = 0
        while True:
            ids = [
                r[0]
                for r in self._read.execute(
                    "SELECT id FROM papers WHERE id > ? ORDER BY id LIMIT ?", (last, batch_size)
                )
            ]
            if not ids:
                return
            yield from self._papers(ids)
            last = ids[-1]

    def _papers(self, ids: Sequence[int]) -> list[Paper]:
        db = self._read
        marks = ",".join("?" * len(ids))
        authors: dict[int, list[Author]] = {i: [] for i in ids}
        orgs: dict[tuple[int, int], list[str]] = {}
        for pid, pos, name in db.execute(
            f"SELECT pao.paper_id, pao.position, o.name FROM paper_author_orgs pao "
            f"JOIN organizations o ON o.id = pao.org_id WHERE pao.paper_id IN ({marks}) "
            f"ORDER BY o.id",
            ids,
        ):
            orgs.setdefault((pid, pos), []).append(name)
        for pid, pos, aid, name in db.execute(
            f"SELECT paper_id, position, author_id, name FROM paper_authors "
            f"WHERE paper_id IN ({marks}) ORDER BY paper_id, position",
            ids,
        ):
            authors[pid].append(Author(aid, name, orgs.get((pid, pos), [])))
        paper_ids: dict[int, dict[str, str]] = {i: {} for i in ids}
        for pid, kind, value in db.execute(
            f"SELECT paper_id, kind, value FROM paper_ids WHERE paper_id IN ({marks})", ids
        ):
            paper_ids[pid][kind] = value
        rows = {
            row[0]: row
            for row in db.execute(f"SELECT id, {_PAPER_COLUMNS} FROM papers WHERE id IN ({marks})", ids)
        }
        out = []
        for i in ids:
            r = rows[i]
            out.append(
                Paper(
                    id=r[0],
                    title=r[1],
                    title_raw=r[2],
                    abstract=r[3],
                    abstract_raw=r[4],
                    authors=authors[i],
                    ids=paper_ids[i],
                    categories=orjson.loads(r[6]),
                    published=r[7],
                    updated=r[8],
                    listed=r[9],
                    links=orjson.loads(r[10]),
                    comment=r[11],
                    journal_ref=r[12],
                    license=r[13],
                    venue=r[14],
                    year=r[15],
                    arxiv_version=r[16],
                    versions=orjson.loads(r[17]),
                    provenance=orjson.loads(r[18]),
                )
            )
        return out

    def stats(self) -> dict[str, Any]:
        db = self._read

        def count(table: str) -> int:
            return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

        listed = db.execute("SELECT min(listed), max(listed) FROM papers").fetchone()
        return {
            "papers": count("papers"),
            "authors": count("authors"),
            "organizations": count("organizations"),
            "profiles": count("profiles"),
            "source_records": count("source_records"),
            "with_arxiv_id": int(
                db.execute("SELECT count(*) FROM paper_ids WHERE kind = 'arxiv'").fetchone()[0]
            ),
            "listed_from": listed[0],
            "listed_to": listed[1],
        }

    def profiles(self) -> list[Profile]:
        return [
            Profile(*row)
            for row in self._read.execute(
                "SELECT p.id, p.name, p.kind, p.description, count(pp.paper_id) FROM profiles p "
                "LEFT JOIN profile_papers pp ON pp.profile_id = p.id GROUP BY p.id ORDER BY p.name"
            )
        ]

    def profile_papers(self, name: str) -> list[Paper]:
        row = self._read.execute("SELECT id FROM profiles WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no profile called {name!r}")
        ids = [
            r[0]
            for r in self._read.execute(
                "SELECT paper_id FROM profile_papers WHERE profile_id = ? ORDER BY paper_id", row
            )
        ]
        return self._papers(ids) if ids else []


class SQLiteWriter(Writer):
    """The write side of one transaction on the writer connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self._authors: dict[str, int] = {}
        self._orgs: dict[str, int] = {}

    def seen_paper(self, record_hash: str) -> int | None:
        row = self.db.execute(
            "SELECT paper_id FROM source_records WHERE hash = ?", (record_hash,)
        ).fetchone()
        return int(row[0]) if row else None

    def record_seen(self, record_hash: str, paper_id: int, source: str, location: str) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO source_records (hash, paper_id, source, location) "
            "VALUES (?, ?, ?, ?)",
            (record_hash, paper_id, source, location),
        )

    def find_by_ids(self, ids: dict[str, str]) -> dict[str, int]:
        found = {}
        for kind, value in ids.items():
            row = self.db.execute(
                "SELECT paper_id FROM paper_ids WHERE kind = ? AND value = ?", (kind, value)
            ).fetchone()
            if row:
                found[kind] = int(row[0])
        return found

    def find_by_key(self, kind: str, value: str) -> list[int]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT paper_id FROM paper_keys WHERE kind = ? AND value = ?", (kind, value)
            )
        ]

    def load_draft(self, paper_id: int) -> PaperDraft:
        r = self.db.execute(f"SELECT {_PAPER_COLUMNS} FROM papers WHERE id = ?", (paper_id,)).fetchone()
        orgs: dict[int, list[str]] = {}
        for pos, name in self.db.execute(
            "SELECT pao.position, o.name FROM paper_author_orgs pao "
            "JOIN organizations o ON o.id = pao.org_id WHERE pao.paper_id = ? ORDER BY o.id",
            (paper_id,),
        ):
            orgs.setdefault(pos, []).append(name)
        authors = [
            AuthorRecord(name, orgs.get(pos, []))
            for pos, name in self.db.execute(
                "SELECT position, name FROM paper_authors WHERE paper_id = ? ORDER BY position",
                (paper_id,),
            )
        ]
        ids = dict(
            self.db.execute("SELECT kind, value FROM paper_ids WHERE paper_id = ?", (paper_id,))
        )
        return PaperDraft(
            id=paper_id,
            ids=ids,
            title=r[0],
            title_raw=r[1],
            abstract=r[2],
            abstract_raw=r[3],
            authors=authors,
            categories=orjson.loads(r[5]),
            published=r[6],
            updated=r[7],
            listed=r[8],
            links=orjson.loads(r[9]),
            comment=r[10],
            journal_ref=r[11],
            license=r[12],
            venue=r[13],
            year=r[14],
            arxiv_version=r[15],
            versions=orjson.loads(r[16]),
            provenance=orjson.loads(r[17]),
        )

    def save(self, draft: PaperDraft, keys: dict[str, str]) -> int:
        values = (
            draft.title,
            draft.title_raw,
            draft.abstract,
            draft.abstract_raw,
            "; ".join(a.name for a in draft.authors) or None,
            _json(draft.categories),
            draft.published,
            draft.updated,
            draft.listed,
            _json(draft.links),
            draft.comment,
            draft.journal_ref,
            draft.license,
            draft.venue,
            draft.year,
            draft.arxiv_version,
            _json(draft.versions),
            _json(draft.provenance),
        )
        now = _now()
        db = self.db
        if draft.id is None:
            cur = db.execute(
                f"INSERT INTO papers ({_PAPER_COLUMNS}, created_at, modified_at) "
                f"VALUES ({','.join('?' * len(values))}, ?, ?)",
                (*values, now, now),
            )
            paper_id = int(cur.lastrowid or 0)
            draft.id = paper_id
        else:
            paper_id = draft.id
            sets = ", ".join(f"{c.strip()} = ?" for c in _PAPER_COLUMNS.split(","))
            db.execute(
                f"UPDATE papers SET {sets}, modified_at = ? WHERE id = ?", (*values, now, paper_id)
            )
            db.execute("DELETE FROM paper_authors WHERE paper_id = ?", (paper_id,))
            db.execute("DELETE FROM paper_author_orgs WHERE paper_id = ?", (paper_id,))
        db.executemany(
            "INSERT OR IGNORE INTO paper_ids (kind, value, paper_id) VALUES (?, ?, ?)",
            [(k, v, paper_id) for k, v in draft.ids.items()],
        )
        db.executemany(
            "INSERT OR IGNORE INTO paper_keys (kind, value, paper_id) VALUES (?, ?, ?)",
            [(k, v, paper_id) for k, v in keys.items()],
        )
        author_rows, org_rows = [], []
        for pos, a in enumerate(draft.authors):
            author_rows.append((paper_id, pos, self._author_id(a.name), a.name))
            for aff in a.affiliations:
                org_rows.append((paper_id, pos, self._org_id(aff)))
        db.executemany(
            "INSERT INTO paper_authors (paper_id, position, author_id, name) VALUES (?, ?, ?, ?)",
            author_rows,
        )
        if org_rows:
            db.executemany(
                "INSERT OR IGNORE INTO paper_author_orgs (paper_id, position, org_id) "
                "VALUES (?, ?, ?)",
                org_rows,
            )
        return paper_id

    def _author_id(self, name: str) -> int:
        return self._entity_id("authors", self._authors, name_key(name), name)

    def _org_id(self, name: str) -> int:
        return self._entity_id("organizations", self._orgs, org_key(name), name)

    def _entity_id(self, table: str, cache: dict[str, int], key: str, name: str) -> int:
        if (found := cache.get(key)) is not None:
            return found
        row = self.db.execute(f"SELECT id FROM {table} WHERE key = ?", (key,)).fetchone()
        if row is None:
            row = self.db.execute(
                f"INSERT INTO {table} (name, key) VALUES (?, ?) RETURNING id", (name, key)
            ).fetchone()
        cache[key] = int(row[0])
        return cache[key]

    def ensure_profile(self, name: str, kind: str, description: str | None = None) -> int:
        row = self.db.execute("SELECT id FROM profiles WHERE name = ?", (name,)).fetchone()
        if row:
            return int(row[0])
        row = self.db.execute(
            "INSERT INTO profiles (name, kind, description, created_at) VALUES (?, ?, ?, ?) "
            "RETURNING id",
            (name, kind, description, _now()),
        ).fetchone()
        return int(row[0])

    def add_to_profile(self, profile_id: int, paper_ids: Iterable[int]) -> None:
        now = _now()
        self.db.executemany(
            "INSERT OR IGNORE INTO profile_papers (profile_id, paper_id, added_at) VALUES (?, ?, ?)",
            [(profile_id, pid, now) for pid in paper_ids],
        )


__all__ = ["SQLiteStore", "SQLiteWriter"]
