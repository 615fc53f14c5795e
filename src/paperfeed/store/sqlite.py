"""The embedded default store: one SQLite file in WAL mode with an FTS5 index."""

from __future__ import annotations

import re
import sqlite3
import threading
import unicodedata
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import snowballstemmer

from paperfeed.errors import Conflict, NotFound, StoreBusy, StoreError
from paperfeed.ingest.normalize import name_key, normalize_doi, org_key, parse_arxiv_id
from paperfeed.models import (
    RELATIONS,
    Author,
    AuthorRecord,
    Paper,
    PaperDraft,
    Profile,
    Rule,
    SearchFilters,
    User,
)
from paperfeed.store import migrations
from paperfeed.store.base import Store, Writer
from paperfeed.store.codec import dequantize, quantize

_PAPER_COLUMNS = (
    "title, title_raw, abstract, abstract_raw, authors_text, categories, published, updated, "
    "listed, links, comment, journal_ref, license, venue, year, arxiv_version, versions, provenance"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _authors_text(d: PaperDraft) -> str | None:
    return "; ".join(a.name for a in d.authors) or None


def _row(d: PaperDraft) -> tuple[Any, ...]:
    return (
        d.title,
        d.title_raw,
        d.abstract,
        d.abstract_raw,
        _authors_text(d),
        _json(d.categories),
        d.published,
        d.updated,
        d.listed,
        _json(d.links),
        d.comment,
        d.journal_ref,
        d.license,
        d.venue,
        d.year,
        d.arxiv_version,
        _json(d.versions),
        _json(d.provenance),
    )


#: How long a connection waits for another process's write before giving up.
BUSY_TIMEOUT_MS = 30_000


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
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
        self._vocabulary: dict[str, int] | None = None
        self._papers_counted: int | None = None

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
    def writer(self, wait: bool = True) -> Iterator[SQLiteWriter]:
        if not self._write_lock.acquire(blocking=wait):
            raise StoreBusy(f"{self.location}: another write is under way")
        try:
            self._begin(wait)
            writer = SQLiteWriter(self._write)
            try:
                yield writer
            except BaseException:
                self._write.execute("ROLLBACK")
                raise
            self._write.execute("COMMIT")
            if writer.papers_changed:  # a rating or a kept model leaves both as they were
                self._vocabulary = self._papers_counted = None
        finally:
            self._write_lock.release()

    def _begin(self, wait: bool) -> None:
        if wait:
            self._write.execute("BEGIN IMMEDIATE")
            return
        self._write.execute("PRAGMA busy_timeout = 0")  # another process's write: fail now
        try:
            self._write.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise StoreBusy(f"{self.location}: another write is under way ({e})") from e
        finally:
            self._write.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

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

    def _papers(self, ids: Sequence[int], max_authors: int | None = None) -> list[Paper]:
        """Papers in the order asked, read in one pass; ids that do not exist are left out."""
        loaded = _load(self._read, ids, max_authors) if ids else {}
        return [
            Paper(
                id=i,
                authors=[Author(aid, name, orgs) for aid, name, orgs in loaded[i].authors],
                ids=loaded[i].ids,
                more_authors=loaded[i].more_authors,
                **loaded[i].fields,
            )
            for i in ids
            if i in loaded
        ]

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
            "embedded": dict(
                db.execute("SELECT model, count(*) FROM embeddings GROUP BY model").fetchall()
            ),
        }

    def profiles(self) -> list[Profile]:
        return self._profiles("1", ())

    def _profiles(self, where: str, params: tuple[Any, ...]) -> list[Profile]:
        return [
            Profile(*row)
            for row in self._read.execute(
                "SELECT p.id, p.name, p.kind, p.description, count(pp.paper_id), p.owner_id, "
                "p.feed_token FROM profiles p LEFT JOIN profile_papers pp "
                "ON pp.profile_id = p.id AND pp.relation IN ('positive', 'up', 'save') "
                f"WHERE {where} GROUP BY p.id ORDER BY p.name",
                params,
            )
        ]

    def profile(self, name: str) -> Profile:
        found = self._profiles("p.name = ?", (name,))
        if not found:
            raise NotFound(f"no profile called {name!r}")
        return found[0]

    def profiles_of(self, owner_id: int | None) -> list[Profile]:
        if owner_id is None:
            return self._profiles("p.owner_id IS NULL", ())
        return self._profiles("p.owner_id = ?", (owner_id,))

    def profile_by_token(self, token: str) -> Profile:
        found = self._profiles("p.feed_token = ?", (token,)) if token else []
        if not found:
            raise NotFound("no feed at that address")
        return found[0]

    def rules(self, name: str) -> list[Rule]:
        return [
            Rule(kind, value)
            for kind, value in self._read.execute(
                "SELECT r.kind, r.value FROM profile_rules r JOIN profiles p "
                "ON p.id = r.profile_id WHERE p.name = ? ORDER BY r.kind, r.value",
                (name,),
            )
        ]

    def user(self, name_or_email: str) -> User | None:
        row = self._read.execute(
            "SELECT id, name, email, password_hash FROM users WHERE name = ? OR email = ?",
            (name_or_email.strip(), name_or_email.strip()),
        ).fetchone()
        return User(*row) if row else None

    def session(self, token_hash: str) -> tuple[User, str] | None:
        row = self._read.execute(
            "SELECT u.id, u.name, u.email, u.password_hash, s.csrf FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
            (token_hash, _now()),
        ).fetchone()
        return (User(*row[:4]), row[4]) if row else None

    def subscriptions(self) -> list[tuple[Profile, str, str]]:
        subscribed = "p.id IN (SELECT profile_id FROM subscriptions)"
        profiles = {p.id: p for p in self._profiles(subscribed, ())}  # in name order
        rows = {
            pid: (email, frequency)
            for pid, email, frequency in self._read.execute(
                "SELECT profile_id, email, frequency FROM subscriptions"
            )
        }
        return [(p, *rows[pid]) for pid, p in profiles.items() if pid in rows]

    def subscription(self, profile_id: int) -> tuple[str, str] | None:
        row = self._read.execute(
            "SELECT email, frequency FROM subscriptions WHERE profile_id = ?", (profile_id,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def signers(self, paper_ids: Collection[int]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for key, n in _where_in(
            self._read,
            "SELECT a.key, count(*) FROM paper_authors pa JOIN authors a ON a.id = pa.author_id "
            "WHERE pa.paper_id IN ({}) GROUP BY a.key",
            (),
            sorted(paper_ids),
        ):
            counts[key] = counts.get(key, 0) + int(n)  # summed over chunks of ids
        return counts

    def profile_model(self, profile_id: int, key: bytes) -> bytes | None:
        row = self._read.execute(
            "SELECT model FROM profile_models WHERE profile_id = ? AND key = ?",
            (profile_id, key),
        ).fetchone()
        return bytes(row[0]) if row else None

    def digest_status(self, profile_id: int, period: str) -> str | None:
        row = self._read.execute(
            "SELECT status FROM digests WHERE profile_id = ? AND period = ?",
            (profile_id, period),
        ).fetchone()
        return row[0] if row else None

    def author_ids(self, name: str) -> set[int]:
        return {
            int(r[0])
            for r in self._read.execute("SELECT id FROM authors WHERE key = ?", (name_key(name),))
        }

    def author_counts(self, keys: Collection[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for chunk in _chunks(sorted(keys)):
            marks = ",".join("?" * len(chunk))
            counts.update(
                self._read.execute(
                    "SELECT a.key, count(*) FROM authors a JOIN paper_authors pa "
                    f"ON pa.author_id = a.id WHERE a.key IN ({marks}) GROUP BY a.key",
                    list(chunk),
                ).fetchall()
            )
        return counts

    def paper_count(self) -> int:
        return self._paper_count()

    def latest_day(self) -> str | None:
        row = self._read.execute("SELECT max(listed) FROM papers").fetchone()
        return row[0][:10] if row and row[0] else None

    def listing_days(self, limit: int = 30, until: str | None = None) -> list[tuple[str, int]]:
        return [
            (day, int(n))
            for day, n in self._read.execute(
                "SELECT listed, count(*) FROM papers WHERE listed IS NOT NULL AND listed <= ? "
                "GROUP BY listed ORDER BY listed DESC LIMIT ?",
                (until or "9999", limit),
            )
        ]

    def votes(self, ids: Sequence[int]) -> dict[int, int]:
        counts: dict[int, int] = {}
        for chunk in _chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            counts.update(
                self._read.execute(
                    "SELECT paper_id, count(*) FROM profile_papers "
                    f"WHERE relation IN ('up', 'save') AND paper_id IN ({marks}) "
                    "GROUP BY paper_id",
                    list(chunk),
                ).fetchall()
            )
        return counts

    def profile_papers(self, name: str) -> list[Paper]:
        row = self._read.execute("SELECT id FROM profiles WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no profile called {name!r}")
        ids = [
            r[0]
            for r in self._read.execute(
                "SELECT paper_id FROM profile_papers WHERE profile_id = ? "
                "AND relation IN ('positive', 'up', 'save') ORDER BY paper_id",
                row,
            )
        ]
        return self._papers(ids) if ids else []

    def papers(self, ids: Sequence[int], max_authors: int | None = None) -> list[Paper]:
        return self._papers(ids, max_authors)

    def written_by(self, authors: Collection[int], papers: Collection[int]) -> set[int]:
        if not authors or not papers:
            return set()
        marks = ",".join("?" * len(authors))
        return {
            int(row[0])
            for row in _where_in(
                self._read,
                f"SELECT DISTINCT paper_id FROM paper_authors WHERE author_id IN ({marks}) "
                "AND paper_id IN ({})",
                tuple(authors),
                list(papers),
            )
        }

    # -- search ---------------------------------------------------------------------------

    def keyword_search(
        self, query: str, filters: SearchFilters, limit: int
    ) -> list[tuple[int, float]]:
        terms = fts_terms(query)
        if not terms or limit <= 0:
            return []
        # Papers with every word first: a selective query, fast at any corpus size.
        hits = self._bm25(" AND ".join(terms), filters, limit)
        if len(terms) == 1 or len(hits) >= limit:
            return hits
        # Then papers with some of the words. Words in many papers weigh little in BM25 yet
        # make the OR query score a large part of the corpus: they are left out.
        common = max(2000, self._paper_count() // 100)
        by_df = sorted(terms, key=self._document_frequency)
        selective = [t for t in by_df if 0 < self._document_frequency(t) <= common]
        if not selective:
            if hits:  # every word is common, and some papers have them all: enough
                return hits
            selective = by_df[:2]
        seen = {pid for pid, _ in hits}
        more = self._bm25(" OR ".join(selective), filters, limit)
        return hits + [h for h in more if h[0] not in seen][: limit - len(hits)]

    def _bm25(self, match: str, filters: SearchFilters, limit: int) -> list[tuple[int, float]]:
        where, params = _filter_sql(filters)
        # bm25() is lower for better matches; weights follow the columns: title, authors,
        # abstract.
        sql = (
            "SELECT f.rowid, -bm25(papers_fts, 10.0, 4.0, 1.0) AS score FROM papers_fts f "
            + ("JOIN papers p ON p.id = f.rowid " if where else "")
            + "WHERE papers_fts MATCH ? "
            + (f"AND {where} " if where else "")
            + "ORDER BY bm25(papers_fts, 10.0, 4.0, 1.0) LIMIT ?"
        )
        try:
            rows = self._read.execute(sql, (match, *params, limit)).fetchall()
        except sqlite3.OperationalError as e:  # pragma: no cover - fts_terms emits only terms
            raise StoreError(f"full-text query {match!r} failed: {e}") from e
        return [(int(r[0]), float(r[1])) for r in rows]

    def _document_frequency(self, term: str) -> int:
        """Papers containing a quoted word, from the index's vocabulary (0 for a phrase, or a
        word whose indexed form we cannot tell). The vocabulary is read whole on first use
        (0.7 s for 75,000 papers) and kept until the next write."""
        if self._vocabulary is None:
            self._vocabulary = dict(
                self._read.execute("SELECT term, doc FROM papers_fts_vocab").fetchall()
            )
        word = term.strip('"')
        return 0 if " " in word else int(self._vocabulary.get(index_term(word), 0))

    def _paper_count(self) -> int:
        if self._papers_counted is None:
            row = self._read.execute("SELECT count(*) FROM papers").fetchone()
            self._papers_counted = int(row[0])
        return self._papers_counted

    def filter_ids(self, filters: SearchFilters) -> np.ndarray:
        where, params = _filter_sql(filters)
        sql = "SELECT p.id FROM papers p" + (f" WHERE {where}" if where else "") + " ORDER BY p.id"
        return np.fromiter((r[0] for r in self._read.execute(sql, params)), dtype=np.int64)

    def filter_summary(self, filters: SearchFilters) -> tuple[int, int]:
        where, params = _filter_sql(filters)
        sql = "SELECT count(*), coalesce(max(p.id), 0) FROM papers p"
        count, last = self._read.execute(
            sql + (f" WHERE {where}" if where else ""), params
        ).fetchone()
        return int(count), int(last)

    # -- vectors --------------------------------------------------------------------------

    def embedding_inputs(
        self, model: str, batch_size: int = 5000
    ) -> Iterator[list[tuple[int, str | None, str | None, bytes | None]]]:
        last = 0
        while True:
            rows = self._read.execute(
                "SELECT p.id, p.title, p.abstract, e.content_hash FROM papers p "
                "LEFT JOIN embeddings e ON e.model = ? AND e.paper_id = p.id "
                "WHERE p.id > ? ORDER BY p.id LIMIT ?",
                (model, last, batch_size),
            ).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def lexical_inputs(
        self, batch_size: int = 5000
    ) -> Iterator[list[tuple[int, str | None, str | None, str | None, list[str]]]]:
        last = 0
        while True:
            rows = self._read.execute(
                "SELECT id, title, abstract, comment, categories FROM papers "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (last, batch_size),
            ).fetchall()
            if not rows:
                return
            yield [(i, t, a, c, orjson.loads(cats)) for i, t, a, c, cats in rows]
            last = rows[-1][0]

    def load_vectors(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self._read.execute(
            "SELECT paper_id, vector, scale FROM embeddings WHERE model = ? ORDER BY paper_id",
            (model,),
        ).fetchall()
        return _vectors(rows)

    def vectors_for(self, model: str, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        rows = sorted(
            _where_in(
                self._read,
                "SELECT paper_id, vector, scale FROM embeddings WHERE model = ? "
                "AND paper_id IN ({})",
                (model,),
                sorted(set(ids)),
            )
        )
        return _vectors(rows)

    def profile_relations(self, name: str) -> dict[int, str]:
        row = self._read.execute("SELECT id FROM profiles WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no profile called {name!r}")
        return dict(
            self._read.execute(
                "SELECT paper_id, relation FROM profile_papers WHERE profile_id = ?", row
            ).fetchall()
        )


def _vectors(rows: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Decode ``(paper_id, int8 blob, scale)`` rows into ids and unit float32 vectors."""
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    raw = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.int8).reshape(len(rows), -1)
    scales = np.fromiter((r[2] for r in rows), dtype=np.float32, count=len(rows))
    return ids, dequantize(raw, scales)


# Words that match nearly every paper: in an OR query they cost time and rank nothing.
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was "
    "were which with we our via".split()
)
_PHRASE_OR_WORD = re.compile(r'"([^"]+)"|(\w+)')
_MAX_TERMS = 64


_STEMMER = snowballstemmer.stemmer("porter")


def index_term(word: str) -> str:
    """A word as the index stores it: unicode61 (lower case, no diacritics), then Porter."""
    folded = unicodedata.normalize("NFKD", word.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return str(_STEMMER.stemWord(folded))


def fts_terms(text: str) -> list[str]:
    """FTS5 terms from free text: quoted phrases stay phrases, other words are words.

    Every term is quoted, so FTS5 syntax in the text (``*``, ``NEAR``, ``AND``, ``:``,
    parentheses, a lone quote) is read as words, never as operators. Empty when nothing
    searchable remains.
    """
    terms: list[str] = []
    seen: set[str] = set()
    for phrase, word in _PHRASE_OR_WORD.findall(text[:10_000]):
        if phrase:
            words = re.findall(r"\w+", phrase)
            term = " ".join(words)
        else:
            words = [word]
            term = word
            if word.casefold() in _STOPWORDS:
                continue
        if not words or term.casefold() in seen:
            continue
        seen.add(term.casefold())
        terms.append('"' + term + '"')
        if len(terms) == _MAX_TERMS:
            break
    return terms


def _filter_sql(filters: SearchFilters) -> tuple[str, list[Any]]:
    """A WHERE clause over ``papers p`` for the filters, with its parameters."""
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
        clauses.append(f"EXISTS (SELECT 1 FROM json_each(p.categories) WHERE value IN ({marks}))")
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


def _chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _where_in(
    db: sqlite3.Connection, sql: str, head: tuple[Any, ...], values: Sequence[Any]
) -> Iterator[Any]:
    """Run ``sql`` (with ``{}`` where the ``IN`` list goes) over ``values`` in chunks."""
    for chunk in _chunks(values):
        yield from db.execute(sql.format(",".join("?" * len(chunk))), (*head, *chunk))


@dataclass(slots=True)
class _Loaded:
    fields: dict[str, Any]
    authors: list[tuple[int, str, list[str]]] = field(default_factory=list)  # id, name, orgs
    ids: dict[str, str] = field(default_factory=dict)
    more_authors: int = 0


_JSON_FIELDS = {"categories", "links", "versions", "provenance"}
_FIELD_NAMES = [c.strip() for c in _PAPER_COLUMNS.split(",") if c.strip() != "authors_text"]


def _load(
    db: sqlite3.Connection, ids: Sequence[int], max_authors: int | None = None
) -> dict[int, _Loaded]:
    """Papers with their authors (and affiliations) and ids, in a few queries; with
    ``max_authors``, only each paper's first authors, the others counted."""
    out: dict[int, _Loaded] = {}
    columns = ", ".join(_FIELD_NAMES)
    for row in _where_in(db, f"SELECT id, {columns} FROM papers WHERE id IN ({{}})", (), ids):
        out[row[0]] = _Loaded(
            {
                name: orjson.loads(value) if name in _JSON_FIELDS else value
                for name, value in zip(_FIELD_NAMES, row[1:], strict=True)
            }
        )
    if max_authors != 0:  # none wanted: only counted below
        _load_authors(db, ids, -1 if max_authors is None else max_authors, out)
    if max_authors is not None:
        for pid, count in _where_in(
            db,
            "SELECT paper_id, count(*) FROM paper_authors WHERE paper_id IN ({}) GROUP BY paper_id",
            (),
            ids,
        ):
            out[pid].more_authors = int(count) - len(out[pid].authors)
    for pid, kind, value in _where_in(
        db, "SELECT paper_id, kind, value FROM paper_ids WHERE paper_id IN ({})", (), ids
    ):
        out[pid].ids[kind] = value
    return out


def _load_authors(
    db: sqlite3.Connection, ids: Sequence[int], limit: int, out: dict[int, _Loaded]
) -> None:
    """Each paper's first ``limit`` authors (all for a negative limit), with affiliations."""
    orgs: dict[tuple[int, int], list[str]] = {}
    where = "(? < 0 OR {}position < ?) AND "
    for pid, pos, name in _where_in(
        db,
        "SELECT pao.paper_id, pao.position, o.name FROM paper_author_orgs pao "
        f"JOIN organizations o ON o.id = pao.org_id WHERE {where.format('pao.')}"
        "pao.paper_id IN ({}) ORDER BY o.id",
        (limit, limit),
        ids,
    ):
        orgs.setdefault((pid, pos), []).append(name)
    for pid, pos, aid, name in _where_in(
        db,
        f"SELECT paper_id, position, author_id, name FROM paper_authors WHERE {where.format('')}"
        "paper_id IN ({}) ORDER BY paper_id, position",
        (limit, limit),
        ids,
    ):
        out[pid].authors.append((aid, name, orgs.get((pid, pos), [])))


class SQLiteWriter(Writer):
    """The write side of one transaction on the writer connection.

    As the only writer (the store's lock and ``BEGIN IMMEDIATE``), it hands out row ids
    itself, so whole batches go in with ``executemany``.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.papers_changed = False
        self._next: dict[str, int] = {}
        self._entities: dict[str, dict[str, int]] = {"authors": {}, "organizations": {}}

    def _new_ids(self, table: str, n: int) -> range:
        if table not in self._next:
            row = self.db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()
            self._next[table] = int(row[0]) + 1
        first = self._next[table]
        self._next[table] = first + n
        return range(first, first + n)

    def _where_in(self, sql: str, head: tuple[Any, ...], values: Sequence[Any]) -> Iterator[Any]:
        return _where_in(self.db, sql, head, values)

    def seen_papers(self, hashes: Sequence[str]) -> dict[str, int]:
        return dict(
            self._where_in(
                "SELECT hash, paper_id FROM source_records WHERE hash IN ({})", (), hashes
            )
        )

    def record_seen(self, rows: Iterable[tuple[str, int, str, str]]) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO source_records (hash, paper_id, source, location) "
            "VALUES (?, ?, ?, ?)",
            rows,
        )

    def _lookup(
        self, table: str, pairs: Iterable[tuple[str, str]]
    ) -> Iterator[tuple[str, str, int]]:
        by_kind: dict[str, list[str]] = {}
        for kind, value in pairs:
            by_kind.setdefault(kind, []).append(value)
        for kind, values in by_kind.items():
            sql = f"SELECT ?, value, paper_id FROM {table} WHERE kind = ? AND value IN ({{}})"
            yield from self._where_in(sql, (kind, kind), list(dict.fromkeys(values)))

    def find_by_ids(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        return {(k, v): pid for k, v, pid in self._lookup("paper_ids", pairs)}

    def find_by_keys(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[int]]:
        found: dict[tuple[str, str], list[int]] = {}
        for k, v, pid in self._lookup("paper_keys", pairs):
            found.setdefault((k, v), []).append(pid)
        return found

    def load_drafts(self, paper_ids: Iterable[int]) -> dict[int, PaperDraft]:
        ids = list(dict.fromkeys(paper_ids))
        return {
            i: PaperDraft(
                id=i,
                authors=[AuthorRecord(name, orgs) for _, name, orgs in p.authors],
                ids=p.ids,
                **p.fields,
            )
            for i, p in _load(self.db, ids).items()
        }

    def save(self, drafts: Sequence[tuple[PaperDraft, Iterable[tuple[str, str]]]]) -> None:
        self.papers_changed = True
        now = _now()
        new = [d for d, _ in drafts if d.id is None]
        old = [d for d, _ in drafts if d.id is not None]
        for d, pid in zip(new, self._new_ids("papers", len(new)), strict=True):
            d.id = pid
        db = self.db
        db.executemany(
            f"INSERT INTO papers (id, {_PAPER_COLUMNS}, created_at, modified_at) "
            f"VALUES ({','.join('?' * 21)})",
            [(d.id, *_row(d), now, now) for d in new],
        )
        db.executemany(
            "INSERT INTO papers_fts (rowid, title, authors_text, abstract) VALUES (?, ?, ?, ?)",
            [(d.id, d.title, _authors_text(d), d.abstract) for d in new],
        )
        if old:
            sets = ", ".join(f"{c.strip()} = ?" for c in _PAPER_COLUMNS.split(","))
            db.executemany(
                f"UPDATE papers SET {sets}, modified_at = ? WHERE id = ?",
                [(*_row(d), now, d.id) for d in old],
            )
            db.executemany("DELETE FROM paper_authors WHERE paper_id = ?", [(d.id,) for d in old])
            db.executemany(
                "DELETE FROM paper_author_orgs WHERE paper_id = ?", [(d.id,) for d in old]
            )
        db.executemany(
            "INSERT OR IGNORE INTO paper_ids (kind, value, paper_id) VALUES (?, ?, ?)",
            [(k, v, d.id) for d, _ in drafts for k, v in d.ids.items()],
        )
        db.executemany(
            "INSERT OR IGNORE INTO paper_keys (kind, value, paper_id) VALUES (?, ?, ?)",
            [(k, v, d.id) for d, keys in drafts for k, v in keys],
        )
        named = [
            (d.id, pos, name_key(a.name), a.name)
            for d, _ in drafts
            for pos, a in enumerate(d.authors)
        ]
        authors = self._entity_ids("authors", [(key, name) for _, _, key, name in named])
        orgs = self._entity_ids(
            "organizations",
            [(org_key(o), o) for d, _ in drafts for a in d.authors for o in a.affiliations],
        )
        db.executemany(
            "INSERT INTO paper_authors (paper_id, position, author_id, name) VALUES (?, ?, ?, ?)",
            [(pid, pos, authors[key], name) for pid, pos, key, name in named],
        )
        db.executemany(
            "INSERT OR IGNORE INTO paper_author_orgs (paper_id, position, org_id) VALUES (?, ?, ?)",
            [
                (d.id, pos, orgs[org_key(o)])
                for d, _ in drafts
                for pos, a in enumerate(d.authors)
                for o in a.affiliations
            ],
        )

    def _entity_ids(self, table: str, named: list[tuple[str, str]]) -> dict[str, int]:
        """Ids of authors or organizations by key, creating the missing ones."""
        cache = self._entities[table]
        missing = list({key: name for key, name in named if key not in cache}.items())
        if missing:
            keys = [k for k, _ in missing]
            cache.update(
                self._where_in(f"SELECT key, id FROM {table} WHERE key IN ({{}})", (), keys)
            )
            create = [(k, n) for k, n in missing if k not in cache]
            rows = [
                (i, n, k)
                for (k, n), i in zip(create, self._new_ids(table, len(create)), strict=True)
            ]
            self.db.executemany(f"INSERT INTO {table} (id, name, key) VALUES (?, ?, ?)", rows)
            cache.update((k, i) for i, _, k in rows)
        if len(cache) > 1 << 20:  # bound memory on huge ingests; the database still has them
            kept = {k: cache[k] for k, _ in named}
            cache.clear()
            cache.update(kept)
        return cache

    def ensure_profile(
        self, name: str, kind: str, description: str | None = None, owner_id: int | None = None
    ) -> int:
        row = self.db.execute("SELECT id FROM profiles WHERE name = ?", (name,)).fetchone()
        if row:
            return int(row[0])
        row = self.db.execute(
            "INSERT INTO profiles (name, kind, description, created_at, owner_id) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            (name, kind, description, _now(), owner_id),
        ).fetchone()
        return int(row[0])

    def set_relation(self, profile_id: int, paper_ids: Iterable[int], relation: str) -> None:
        if relation not in RELATIONS:
            raise ValueError(f"unknown relation {relation!r}")
        now = _now()
        self.db.executemany(
            "INSERT INTO profile_papers (profile_id, paper_id, relation, added_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (profile_id, paper_id) "
            "DO UPDATE SET relation = excluded.relation, added_at = excluded.added_at",
            [(profile_id, pid, relation, now) for pid in paper_ids],
        )

    def add_to_profile(self, profile_id: int, paper_ids: Iterable[int]) -> None:
        now = _now()
        self.db.executemany(
            "INSERT OR IGNORE INTO profile_papers (profile_id, paper_id, added_at) "
            "VALUES (?, ?, ?)",
            [(profile_id, pid, now) for pid in paper_ids],
        )

    def create_user(self, name: str, email: str, password_hash: str) -> int:
        taken = self.db.execute(
            "SELECT name = ? COLLATE NOCASE FROM users WHERE name = ? OR email = ?",
            (name, name, email),
        ).fetchone()
        if taken:
            raise Conflict("that name is taken" if taken[0] else "that email has an account")
        row = self.db.execute(
            "INSERT INTO users (name, email, password_hash, created_at) VALUES (?, ?, ?, ?) "
            "RETURNING id",
            (name, email, password_hash, _now()),
        ).fetchone()
        return int(row[0])

    def start_session(self, token_hash: str, user_id: int, csrf: str, expires_at: str) -> None:
        self.db.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires_at) VALUES (?, ?, ?, ?)",
            (token_hash, user_id, csrf, expires_at),
        )

    def end_session(self, token_hash: str) -> None:
        self.db.execute(
            "DELETE FROM sessions WHERE token_hash = ? OR expires_at <= ?", (token_hash, _now())
        )

    def set_feed_token(self, profile_id: int, token: str | None) -> None:
        self.db.execute("UPDATE profiles SET feed_token = ? WHERE id = ?", (token, profile_id))

    def add_rule(self, profile_id: int, rule: Rule) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO profile_rules (profile_id, kind, value) VALUES (?, ?, ?)",
            (profile_id, rule.kind, rule.value),
        )

    def remove_rule(self, profile_id: int, rule: Rule) -> None:
        self.db.execute(
            "DELETE FROM profile_rules WHERE profile_id = ? AND kind = ? AND value = ?",
            (profile_id, rule.kind, rule.value),
        )

    def subscribe(self, profile_id: int, email: str | None, frequency: str = "daily") -> None:
        if email is None:
            self.db.execute("DELETE FROM subscriptions WHERE profile_id = ?", (profile_id,))
            return
        self.db.execute(
            "INSERT INTO subscriptions (profile_id, email, frequency, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (profile_id) "
            "DO UPDATE SET email = excluded.email, frequency = excluded.frequency",
            (profile_id, email, frequency, _now()),
        )

    def claim_digest(
        self, profile_id: int, period: str, message_id: str, papers: int
    ) -> str | None:
        row = self.db.execute(
            "SELECT status, message_id FROM digests WHERE profile_id = ? AND period = ?",
            (profile_id, period),
        ).fetchone()
        if row is not None:
            return str(row[1]) if row[0] == "sending" else None
        self.db.execute(
            "INSERT INTO digests (profile_id, period, message_id, status, papers, updated_at) "
            "VALUES (?, ?, ?, 'sending', ?, ?)",
            (profile_id, period, message_id, papers, _now()),
        )
        return message_id

    def save_profile_model(self, profile_id: int, key: bytes, model: bytes) -> None:
        self.db.execute(
            "INSERT INTO profile_models (profile_id, key, model, fitted_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (profile_id) DO UPDATE SET key = excluded.key, model = excluded.model, "
            "fitted_at = excluded.fitted_at",
            (profile_id, key, model, _now()),
        )

    def finish_digest(self, profile_id: int, period: str, status: str = "sent") -> None:
        self.db.execute(
            "UPDATE digests SET status = ?, updated_at = ? WHERE profile_id = ? AND period = ?",
            (status, _now(), profile_id, period),
        )

    def save_vectors(
        self, model: str, paper_ids: Sequence[int], hashes: Sequence[bytes], vectors: np.ndarray
    ) -> None:
        quantized, scales = quantize(vectors)
        self.db.executemany(
            "INSERT OR REPLACE INTO embeddings (model, paper_id, content_hash, vector, scale) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                (model, int(pid), h, q.tobytes(), float(sc))
                for pid, h, q, sc in zip(paper_ids, hashes, quantized, scales, strict=True)
            ),
        )


__all__ = ["SQLiteStore", "SQLiteWriter"]
