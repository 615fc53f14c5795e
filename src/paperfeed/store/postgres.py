"""The shared store: PostgreSQL with pgvector, for several web workers and hosts at once.

It reads and writes with the SQL the SQLite store runs (``SQLStore``, ``SQLWriter``); what
differs is here: connections, ids from sequences, keyword search over a weighted
``tsvector`` (ranked by ``ts_rank``, not BM25), categories as JSON rows, vectors in
pgvector, and what SQLite keeps in files beside the database (the signing secret, the fitted
lexical model) kept in the database, so that every process and host serving the store
shares it.
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psycopg
from pgvector.psycopg import register_vector

import paperfeed.store.postgres_ann as ann
import paperfeed.store.postgres_schema as schema
from paperfeed.errors import Conflict, StoreBusy, StoreError
from paperfeed.models import PaperDraft, SearchFilters
from paperfeed.store.base import Staged, _OneTransaction
from paperfeed.store.codec import as_stored
from paperfeed.store.sql import SQLStore, together
from paperfeed.store.sql_rows import Cursor, filter_sql, now, where_in
from paperfeed.store.sql_writer import SQLWriter

#: The advisory lock every transaction that saves papers holds until it ends, so that two
#: ingests never both create the same new paper (each would not see the other's).
PAPERS_LOCK = 0x70617066  # "papf"

#: Past how many rows an insert goes by ``COPY``.
COPY_FROM = 64

#: How long a write waits for another's rows before giving up (as SQLite's store waits).
BUSY_TIMEOUT_MS = 30_000

#: Weights of ``ts_rank`` for the tsvector's labels, in its order D, C, B, A: abstract (C)
#: 1, authors (B) 4, title (A) 10, as SQLite's BM25 weighs the three columns.
RANK_WEIGHTS = "{0, 0.1, 0.4, 1.0}"
#: Past this many times sqrt(ranked_most / papers), the share of papers a query's words
#: are estimated to be in, its matches are found by reading the newest papers
#: (:meth:`PostgresStore._path`).
DENSE_SHARE = 3.0
#: Below that, when the words are guessed to be in more than this many times the papers to
#: rank, the GIN index is asked only among the newest papers, enough of them to hold
#: :data:`WINDOW_SLACK` times the papers to rank by the share guessed, then, while too few
#: are found, the papers below it at the rate it showed (:meth:`PostgresStore._path`,
#: ``_match``).
WINDOW_MATCHES = 10
WINDOW_SLACK = 2
#: Windows tried before the index is asked among all the papers below them.
WINDOWS = 2
#: What a window's statement tells the planner. Left to itself it reads the window's papers
#: newest first, testing each one's tsvector, where intersecting the GIN index's matches
#: with the window (a BitmapAnd) reads only the matches (docs/benchmarks.md).
WINDOW_SETTING = "enable_indexscan = off"
#: Papers guessed to hold a query's rarest words, at most, for the other words to be tested
#: paper by paper rather than looked up in the GIN index (:meth:`SQLStore._rarest`).
TESTED_MOST = 300


def _by_score(hit: tuple[int, float]) -> tuple[float, int]:
    """Best first, as the statements order them: score, then id."""
    return -hit[1], hit[0]


@lru_cache(maxsize=512)
def _dialect(sql: str) -> str:
    """A query with ``?`` parameters as psycopg takes it (``%s``, and ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _text(parameters: Sequence[Any]) -> Sequence[Any]:
    """Parameters Postgres takes: its text holds no NUL character, which becomes U+FFFD (a
    lookup by such a value finds nothing, as nothing stored holds one)."""
    if not any(isinstance(p, str) and "\x00" in p for p in parameters):
        return parameters
    return [p.replace("\x00", "\ufffd") if isinstance(p, str) else p for p in parameters]


class Connection:
    """A psycopg connection that takes ``?`` parameters, as sqlite3's does."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        return self.conn.execute(_dialect(sql), _text(parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(_dialect(sql), (_text(row) for row in parameters))


def connect(location: str) -> psycopg.Connection[Any]:
    try:
        conn = psycopg.connect(location, autocommit=True)
    except psycopg.Error as e:
        raise StoreError(f"cannot connect to {_safe(location)}: {e}") from e
    conn.execute("SET client_min_messages = warning")  # not a notice per stop word
    return conn


def _safe(location: str) -> str:
    """The location without a password in it, for messages."""
    scheme, sep, rest = location.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return location
    return f"{scheme}{sep}{credentials.partition(':')[0]}@{host}"


class PostgresWriter(SQLWriter):
    def __init__(self, db: Connection) -> None:
        super().__init__(db)
        self._conn = db.conn
        self._papers_locked = False

    def lock_papers(self, on_wait: Callable[[str], None] | None = None) -> None:
        """Hold the papers' lock until this transaction ends (waiting for another's)."""
        if self._papers_locked:
            return
        got = self.db.execute("SELECT pg_try_advisory_xact_lock(?)", (PAPERS_LOCK,)).fetchone()
        if not got[0]:
            if on_wait is not None:
                on_wait("another ingest is writing papers to this store; waiting for it")
            self.db.execute("SELECT pg_advisory_xact_lock(?)", (PAPERS_LOCK,))
        self._papers_locked = True

    def _new_ids(self, table: str, n: int) -> Sequence[int]:
        rows = self.db.execute(
            f"SELECT nextval('{table}_id_seq') FROM generate_series(1, CAST(? AS integer))", (n,)
        )
        return [int(r[0]) for r in rows]

    def _index_new(self, new: Sequence[PaperDraft]) -> None:
        """Nothing: the ``search`` column is computed from the row."""

    def copied(self) -> None:
        """Rows were copied in whole, with their ids: the sequences go on after them."""
        self.papers_changed = True
        for table in ("papers", "authors", "organizations", "users", "profiles", "venues"):
            self.db.execute(
                f"SELECT setval('{table}_id_seq', (SELECT coalesce(max(id), 0) + 1 FROM {table}), "
                "false)"
            )

    def _insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        or_ignore: bool = False,
    ) -> None:
        """Many rows go in by ``COPY`` (with ``or_ignore``, into a temporary table first,
        then across, leaving out those already there): a statement per row costs a round
        of the protocol each, three times the time of the whole load."""
        rows = list(rows)
        if len(rows) < COPY_FROM:
            super()._insert(table, columns, rows, or_ignore)
            return
        self._copy(table, columns, rows, "ON CONFLICT DO NOTHING" if or_ignore else None)

    def _copy(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        on_conflict: str | None = None,
    ) -> None:
        """``COPY`` the rows in; with ``on_conflict``, into a temporary table first, then
        across with that clause."""
        names = ", ".join(columns)
        target = f"_load_{table}" if on_conflict else table
        if on_conflict:
            self.db.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {target} "
                f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
        with (
            self._conn.cursor() as cursor,
            cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(_text(row))
        if on_conflict:
            self.db.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {target} {on_conflict}"
            )
            self.db.execute(f"TRUNCATE {target}")

    def save(self, drafts: Sequence[tuple[PaperDraft, Iterable[tuple[str, str]]]]) -> None:
        self.lock_papers()
        super().save(drafts)

    def create_user(self, name: str, email: str, password_hash: str) -> int:
        try:
            with self._conn.transaction():  # a savepoint: the race lost, not the transaction
                return super().create_user(name, email, password_hash)
        except psycopg.errors.UniqueViolation as e:
            raise Conflict("that name or email has an account") from e

    def save_vectors(
        self, model: str, paper_ids: Sequence[int], hashes: Sequence[bytes], vectors: np.ndarray
    ) -> None:
        rows = [
            (model, int(pid), h, v)
            for pid, h, v in zip(paper_ids, hashes, as_stored(vectors), strict=True)
        ]
        upsert = (
            "ON CONFLICT (model, paper_id) DO UPDATE SET "
            "content_hash = excluded.content_hash, vector = excluded.vector"
        )
        if len(rows) < COPY_FROM:
            self.db.executemany(
                "INSERT INTO embeddings (model, paper_id, content_hash, vector) "
                f"VALUES (?, ?, ?, ?) {upsert}",
                rows,
            )
            return
        self._copy("embeddings", ("model", "paper_id", "content_hash", "vector"), rows, upsert)


class PostgresStore(SQLStore):
    """One PostgreSQL database: a writer connection and one reader connection per thread."""

    categories_sql = "jsonb_array_elements_text(p.categories::jsonb) AS c(value)"

    def __init__(self, location: str) -> None:
        self.location = location
        conn = connect(location)
        try:
            schema.apply(conn)
            register_vector(conn)
        except psycopg.Error as e:
            conn.close()
            raise StoreError(f"{_safe(location)}: not a usable paperfeed database ({e})") from e
        self._write = Connection(conn)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._opened: list[psycopg.Connection[Any]] = [conn]
        self._opened_lock = threading.Lock()
        self._frequencies: dict[str, int] = {}
        self._common: dict[str, float] | None = None
        self._stop_words: dict[str, bool] = {}
        self._top: int | None = None

    @property
    def _read(self) -> Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            conn = connect(self.location)
            register_vector(conn)
            with self._opened_lock:
                self._opened.append(conn)
            db = self._local.db = Connection(conn)
        return db

    def sidecar(self, name: str) -> Path | None:
        return None  # processes on several hosts share the store: no files beside it

    def kept(self, name: str) -> bytes | None:
        row = self._read.execute("SELECT value FROM kept WHERE name = ?", (name,)).fetchone()
        return bytes(row[0]) if row else None

    def keep(self, name: str, data: bytes) -> None:
        with self.writer() as w:
            w.db.execute(
                "INSERT INTO kept (name, value, kept_at) VALUES (?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET value = excluded.value, kept_at = excluded.kept_at",
                (name, data, now()),
            )

    def secret_key(self) -> str:
        with self.writer() as w:  # the first process to ask makes it; the others read it
            w.db.execute(
                "INSERT INTO kept (name, value, kept_at) VALUES ('secret', ?, ?) "
                "ON CONFLICT DO NOTHING",
                (secrets.token_urlsafe(32).encode(), now()),
            )
            row = w.db.execute("SELECT value FROM kept WHERE name = 'secret'").fetchone()
        return bytes(row[0]).decode()

    def close(self) -> None:
        with self._opened_lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
        self._local = threading.local()

    @contextmanager
    def writer(self, wait: bool = True) -> Iterator[PostgresWriter]:
        if not self._write_lock.acquire(blocking=wait):
            raise StoreBusy(f"{_safe(self.location)}: another write in this process is under way")
        try:
            writer = PostgresWriter(self._write)
            with self._write.conn.transaction():
                # Waits for another transaction's rows as SQLite waits for its lock: up to
                # the same time, or not at all.
                timeout = f"{BUSY_TIMEOUT_MS}ms" if wait else "1ms"
                writer.db.execute(f"SET LOCAL lock_timeout = '{timeout}'")
                yield writer
            if writer.papers_changed:
                self._papers_changed()
        except psycopg.errors.LockNotAvailable as e:
            raise StoreBusy(
                f"{_safe(self.location)}: another write is under way"
                + (f" and has not finished in {BUSY_TIMEOUT_MS // 1000} s" if wait else "")
            ) from e
        finally:
            self._write_lock.release()

    def staged(
        self, label: str, on_wait: Callable[[str], None] | None = None
    ) -> AbstractContextManager[Staged]:
        return self._staged(on_wait)

    @contextmanager
    def _staged(self, on_wait: Callable[[str], None] | None) -> Iterator[Staged]:
        with self.writer() as w:
            w.lock_papers(on_wait)
            yield _OneTransaction(w)

    def _papers_changed(self) -> None:
        super()._papers_changed()
        # the word caches start again, so a long-running server's do not grow without end
        self._frequencies = {}
        self._stop_words = {}
        self._common = None
        self._top = None

    def tables(self) -> set[str]:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        return {r[0] for r in self._read.execute(sql)}

    # -- search and vectors ---------------------------------------------------------------

    def _match(
        self, terms: list[str], every: bool, filters: SearchFilters, limit: int
    ) -> list[tuple[int, float]]:
        terms = self._indexed(terms)
        if not terms:
            return []
        where, params = filter_sql(filters, self.categories_sql)
        query = (" && " if every else " || ").join("phraseto_tsquery('english', %s)" for _ in terms)
        most = max(self.ranked_most, limit)
        # ts_rank reads each match's tsvector: past ``most`` matches only the newest are
        # ranked, found by the way :meth:`_path` picks by the words' share of papers (the
        # planner's guess reads the newest papers where it should not).
        dense, window = self._path(terms, every, most, bool(where))
        newest = "p.id" if dense else "p.id + 0"
        words, conn = [t.strip('"') for t in terms], self._read.conn
        # Through the index among all papers, a long title's common words cost the index
        # more than testing each paper its rarer words find: those are looked up, the
        # rest tested paper by paper (``ts_match_vq`` is ``@@``, which the index cannot
        # answer when called by name).
        rarest = (
            self._rarest(terms, TESTED_MOST) if every and window is None and not dense else None
        )
        match = f"p.search @@ ({query}) "
        lookup: tuple[str, ...] = ()
        if rarest is not None:
            lookup = tuple(t.strip('"') for t in rarest)
            match = (
                "p.search @@ ("
                + " && ".join("phraseto_tsquery('english', %s)" for _ in lookup)
                + f") AND ts_match_vq(p.search, {query}) "
            )
        # A window too narrow is followed by the papers just below it, for the matches it
        # lacked: ts_rank scores each paper by itself, so the best of both are the best of
        # the newest ``most``.
        best: list[tuple[int, float]] = []
        need, upper = most, None
        for tries in range(WINDOWS + 1):
            floor = None if window is None or tries == WINDOWS else self._top_id() - window
            sql = (
                f"SELECT m.id, ts_rank('{RANK_WEIGHTS}', m.search, {query}, 1) AS score, "
                f"count(*) OVER () FROM (SELECT p.id, p.search FROM papers p WHERE {match}"
                + ("AND p.id > %s " if floor is not None else "")
                + ("AND p.id <= %s " if upper is not None else "")
                + (f"AND {_dialect(where)} " if where else "")
                + f"ORDER BY {newest} DESC LIMIT %s) m ORDER BY score DESC, m.id LIMIT %s"
            )
            bounds = tuple(b for b in (floor, upper) if b is not None)
            with nullcontext() if floor is None else conn.transaction():
                if floor is not None:
                    conn.execute(f"SET LOCAL {WINDOW_SETTING}")
                rows = conn.execute(
                    sql,
                    _text((*words, *lookup, *words, *bounds, *params, need, limit)),
                    prepare=False,
                ).fetchall()
            best = sorted([*best, *((int(r[0]), float(r[1])) for r in rows)], key=_by_score)
            del best[limit:]
            found = int(rows[0][2]) if rows else 0
            # a window holding ``need`` matches holds the newest ``need``
            if floor is None or floor <= 0 or found >= need:
                break
            # else the papers below it, as many as hold the rest at the rate it showed
            assert window is not None
            rate = max(1, found) / ((upper if upper is not None else self._top_id()) - floor)
            below = min(
                15 * window, max(window // 4, math.ceil(WINDOW_SLACK * (need - found) / rate))
            )
            need, upper, window = need - found, floor, window + below
        return best

    def _path(
        self, terms: list[str], every: bool, most: int, filtered: bool
    ) -> tuple[bool, int | None]:
        """How :meth:`_match` finds the newest ``most`` matches: whether by reading the
        newest papers, and how many of the newest papers the GIN index is asked among first
        (None: all).

        The share of papers with the words is estimated from each word's as if the words were
        independent: the product for all of them, the sum for any (a phrase counts as rare).
        The newest papers are read past :data:`DENSE_SHARE` sqrt(ranked_most / papers), the
        break-even measured at a million papers (docs/benchmarks.md); the rarest word's
        share alone sent pairs of common words through the index. Below that, their share is
        guessed (:func:`together`): past :data:`WINDOW_MATCHES` times ``most`` matches
        guessed, the index is asked among the newest papers first, as many as hold
        :data:`WINDOW_SLACK` times ``most`` by the guess (with filters, whose share is not
        estimated, it is asked among all)."""
        papers = max(1, self._paper_count())
        shares = self._shares(terms)
        share = math.prod(shares) if every else min(1.0, sum(shares))
        if share > DENSE_SHARE * math.sqrt(self.ranked_most / papers):
            return True, None
        guess = together(shares) if every else share
        if filtered or guess * papers <= WINDOW_MATCHES * most:
            return False, None
        return False, math.ceil(WINDOW_SLACK * most / guess)

    def _top_id(self) -> int:
        """The newest paper's id, as this process last read it: papers added since by
        another only widen the windows above it (:meth:`_path`)."""
        if self._top is None:
            row = self._read.execute("SELECT coalesce(max(id), 0) FROM papers").fetchone()
            self._top = int(row[0])
        return self._top

    def _indexed(self, terms: list[str]) -> list[str]:
        """The terms PostgreSQL's English configuration indexes. A stop word of its own
        ("what", "can") has no lexeme: it matches nothing and constrains nothing, and left
        in, it would make the words beside it look rare (:meth:`_path`)."""
        words = [t.strip('"') for t in terms]
        unknown = [w for w in dict.fromkeys(words) if w not in self._stop_words]
        if unknown:
            rows = self._read.execute(
                "SELECT w, numnode(phraseto_tsquery('english', w)) = 0 FROM unnest(?::text[]) w",
                (unknown,),
            ).fetchall()
            self._stop_words.update({r[0]: bool(r[1]) for r in rows})
        return [t for t, w in zip(terms, words, strict=True) if not self._stop_words[w]]

    def _document_frequency(self, term: str) -> int:
        """Papers holding the word: from the statistics ANALYZE keeps of the commonest
        words (a word not among them is rare), or, before there are any, counted through
        the GIN index up to the count past which a word is common."""
        word = term.strip('"')
        if " " in word:
            return 0
        if word not in self._frequencies:
            self._frequencies[word] = self._counted(word)
        return self._frequencies[word]

    def _counted(self, word: str) -> int:
        common = self._common_words()
        if common:
            lexemes = self._read.execute(
                "SELECT lexeme FROM unnest(to_tsvector('english', ?))", (word,)
            ).fetchall()
            share = max((common.get(r[0], 0.0) for r in lexemes), default=-1.0)
            if share < 0:
                return 0  # a stop word: nothing to match
            return max(1, round(share * self._paper_count()))
        cap = max(2000, self._paper_count() // 100) + 1
        row = self._read.execute(
            "SELECT count(*) FROM (SELECT 1 FROM papers "
            "WHERE search @@ phraseto_tsquery('english', ?) LIMIT ?) s",
            (word, cap),
        ).fetchone()
        return int(row[0])

    def _common_words(self) -> dict[str, float]:
        """The commonest words of the papers' text and the share of papers holding each,
        as ANALYZE last saw them (empty before it ran)."""
        if self._common is None:
            row = self._read.execute(
                "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                "WHERE tablename = 'papers' AND attname = 'search'"
            ).fetchone()
            words = row[0] if row and row[0] else []
            self._common = dict(zip(words, row[1][: len(words)], strict=True)) if words else {}
        return self._common

    def load_vectors(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self._read.execute(
            "SELECT paper_id, vector FROM embeddings WHERE model = ? ORDER BY paper_id", (model,)
        ).fetchall()
        return _vectors(rows)

    def vectors_for(self, model: str, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        sql = "SELECT paper_id, vector FROM embeddings WHERE model = ? AND paper_id IN ({})"
        return _vectors(sorted(where_in(self._read, sql, (model,), sorted(set(ids)))))

    def ann_index(self, model: str) -> tuple[np.ndarray, int] | None:
        meta = ann.index_meta(self._read, model)
        if meta is None:
            return None
        return np.asarray(orjson.loads(meta["centre"]), np.float32), int(meta["count"])

    def build_ann(self, model: str, min_vectors: int) -> bool:
        with closing(connect(self.location)) as conn:
            register_vector(conn)
            return ann.build(Connection(conn), model, min_vectors) is not None

    def nearest(
        self, model: str, query: np.ndarray, k: int, among: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        # read at each search, to follow a rebuild by another process; checked at load
        meta = ann.index_meta(self._read, model, checked=False)
        if meta is None:
            raise StoreError(f"{_safe(self.location)}: no nearest-neighbour index of {model}")
        return ann.nearest(self._read, model, meta, query, k, among)


def _vectors(rows: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return ids, np.stack([r[1].to_numpy() for r in rows]).astype(np.float32)


__all__ = ["PostgresStore"]
