"""The embedded default store: one SQLite file in WAL mode with an FTS5 index."""

from __future__ import annotations

import math
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

import paperfeed.store.fts as fts
import paperfeed.store.migrations as migrations
import paperfeed.store.sqlite_staging as staging
from paperfeed.errors import StoreBusy, StoreError
from paperfeed.models import SearchFilters
from paperfeed.store.base import Staged
from paperfeed.store.sql import SQLStore
from paperfeed.store.sql_rows import decode_vectors, filter_sql, kept_secret, where_in
from paperfeed.store.sql_writer import SQLWriter
from paperfeed.store.sqlite_connect import BUSY_TIMEOUT_MS, begin_immediate, connect

#: Past this many entries in the index's lists of papers of a query's words (the lists
#: FTS5's bm25() reads whole to weigh each word), the papers with every word are ranked
#: here, when few, and only the newest :attr:`SQLiteStore.ranked_most` of them either way:
#: at a million papers, a title of common words spent most of its time in bm25() weighing
#: them (docs/benchmarks.md).
BM25_READS = 200_000
#: Ranking a paper here (highlight() marking its words, then BM25 in Python) costs about
#: as much as bm25() reading this many entries of the index's lists.
READS_A_PAPER = 750
#: Papers a query's rarest words are guessed, together, to be in, at most, for the papers
#: with every word to be found among those alone (:meth:`SQLiteStore._tested`).
TESTED_MOST = 300


class SQLiteStore(SQLStore):
    """One SQLite file: one writer connection, one reader connection per thread."""

    #: See :data:`BM25_READS` and :data:`READS_A_PAPER`.
    bm25_reads, reads_a_paper, tested_most = BM25_READS, READS_A_PAPER, TESTED_MOST

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
        self._totals: tuple[int, float] | None = None
        self._scratch = fts.Scratch()
        self._papers_counted: int | None = None
        self._secret: str | None = None
        self._staging = staging.Stager(
            self._write,
            self._write_lock,
            self.location,
            self.sidecar("staging.lock"),
            self._papers_changed,
        )
        self._staging.undo_dead_runs_if_idle()  # a long write killed: take it back

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

    def sidecar(self, name: str) -> Path | None:
        return None if self.location in ("", ":memory:") else Path(f"{self.location}.{name}")

    def secret_key(self) -> str:
        path = self.sidecar("secret")
        if path is None:
            if self._secret is None:
                self._secret = secrets.token_urlsafe(32)
            return self._secret
        return kept_secret(path)

    def close(self) -> None:
        self._write.close()
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @contextmanager
    def writer(self, wait: bool = True) -> Iterator[SQLWriter]:
        timeout = BUSY_TIMEOUT_MS / 1000 if wait else -1
        if not self._write_lock.acquire(blocking=wait, timeout=timeout):
            raise StoreBusy(
                f"{self.location}: another write in this process is under way"
                + (f" and has not finished in {timeout:.0f} s" if wait else "")
            )
        try:
            begin_immediate(self._write, self.location, wait)
            writer = SQLWriter(self._write)
            try:
                yield writer
            except BaseException:
                self._write.execute("ROLLBACK")
                raise
            self._write.execute("COMMIT")
            if writer.papers_changed:  # a rating or a kept model leaves both as they were
                self._papers_changed()
        finally:
            self._write_lock.release()

    def staged(
        self, label: str, on_wait: Callable[[str], None] | None = None
    ) -> AbstractContextManager[Staged]:
        return self._staging.run(label, on_wait)

    def _papers_changed(self) -> None:
        super()._papers_changed()
        self._vocabulary = None
        self._totals = None

    def tables(self) -> set[str]:
        return {
            r[0] for r in self._read.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }

    # -- search and vectors ---------------------------------------------------------------

    def _match(
        self, terms: list[str], every: bool, filters: SearchFilters, limit: int
    ) -> list[tuple[int, float]]:
        match = (" AND " if every else " OR ").join(terms)
        where, params = filter_sql(filters)
        joins = "JOIN papers p ON p.id = f.rowid " if where else ""
        condition = "WHERE papers_fts MATCH ? " + (f"AND {where} " if where else "")
        source = "FROM papers_fts f " + joins + condition
        args: list[object] = [match, *params]
        try:
            most = self._ranked_most(terms, every, limit)
            if every and (reads := self._bm25_reads(terms, limit)) is not None:
                tested = self._tested(terms, condition, params)
                if tested is not None:
                    return tested[:limit]
                few = min(self.ranked_most, reads // self.reads_a_paper)
                # Words go together more often than chance: when even chance gives more
                # papers than ``few``, ranking here would be given up after marking them
                # (filters, whose share is not estimated, leave it to be tried).
                likely = few == self.ranked_most or where or self._by_chance(terms) <= few
                if likely:
                    ranked = self._ranked_here(terms, joins + condition, args, few)
                    if ranked is not None:
                        return ranked[:limit]
                most = self.ranked_most
            if most is not None:
                # BM25 scores every match: past that many only the newest are ranked,
                # found by reading FTS5's lists of papers from their newest end.
                oldest = self._read.execute(
                    f"SELECT f.rowid {source}ORDER BY f.rowid DESC LIMIT 1 OFFSET ?",
                    (*args, most - 1),
                ).fetchone()
                if oldest is not None:
                    source += "AND f.rowid >= ? "
                    args.append(oldest[0])
            # bm25() is lower for better matches; weights follow the columns: title,
            # authors, abstract.
            bm25 = f"bm25(papers_fts, {', '.join(map(str, fts.WEIGHTS))})"
            rows = self._read.execute(
                f"SELECT f.rowid, -{bm25} AS score {source}ORDER BY {bm25}, f.rowid LIMIT ?",
                (*args, limit),
            ).fetchall()
        except sqlite3.OperationalError as e:  # pragma: no cover - fts_terms emits only terms
            raise StoreError(f"full-text query {match!r} failed: {e}") from e
        return [(int(r[0]), float(r[1])) for r in rows]

    def _bm25_reads(self, terms: list[str], limit: int) -> int | None:
        """The entries of the index's lists bm25() would read to weigh ``terms`` (single
        words), when past :attr:`bm25_reads` and no more than :attr:`ranked_most`
        results are wanted; None otherwise (a phrase is left to bm25())."""
        if len(terms) < 2 or limit > self.ranked_most:
            return None
        if any(" " in fts.index_term(t.strip('"')) for t in terms):
            return None
        reads = sum(self._document_frequency(t) for t in terms)
        return reads if reads > self.bm25_reads else None

    def _tested(
        self, terms: list[str], condition: str, params: Sequence[object]
    ) -> list[tuple[int, float]] | None:
        """The papers with every one of ``terms`` (three single words or more), ranked as
        :meth:`_ranked_here` ranks them, found among the papers with the rarest few (as
        few as are guessed together in at most :attr:`tested_most` papers): those are
        indexed again in memory and asked the whole query (:class:`fts.Scratch`). FTS5
        finds the papers with every word by reading every word's list of papers, which for
        a long title of common words costs more. None when no few words are that rare, or
        when more than :attr:`ranked_most` papers have them."""
        rarest = self._rarest(terms, self.tested_most)
        if rarest is None:
            return None
        found = self._read.execute(
            "SELECT p.id, p.title, p.authors_text, p.abstract FROM papers_fts f "
            f"JOIN papers p ON p.id = f.rowid {condition}ORDER BY f.rowid DESC LIMIT ?",
            (" AND ".join(rarest), *params, self.ranked_most + 1),
        ).fetchall()
        if len(found) > self.ranked_most:
            return None
        return self._scored(terms, self._scratch.marked(found, " AND ".join(terms)))

    def _ranked_here(
        self, terms: list[str], condition: str, args: list[object], few: int
    ) -> list[tuple[int, float]] | None:
        """The papers with every one of ``terms`` (single words) ranked by BM25 as FTS5's
        bm25() scores them (:func:`fts.bm25`), each word weighed by its number of papers
        in the vocabulary rather than by reading them: all of them when no more than
        ``few``, the newest :attr:`ranked_most` when ``few`` is that many; None when more
        than ``few`` match (they cost less to rank in bm25())."""
        marked = ", ".join(
            f"highlight(papers_fts, {c}, '{fts.OPEN}', '{fts.CLOSE}')" for c in range(3)
        )
        found = self._read.execute(
            f"SELECT f.rowid, d.sz, {marked} FROM papers_fts f "
            f"JOIN papers_fts_docsize d ON d.id = f.rowid {condition}"
            "ORDER BY f.rowid DESC LIMIT ?",
            (*args, few + 1),
        ).fetchall()
        if len(found) > few:
            if few < self.ranked_most:
                return None
            found = found[:few]
        return self._scored(terms, found)

    def _scored(self, terms: list[str], marked: Sequence[Sequence[Any]]) -> list[tuple[int, float]]:
        """Rows of (id, tokens a column, the columns as highlight() marked ``terms``),
        scored as FTS5's bm25() scores them, each word weighed by its number of papers in
        the index's vocabulary, best first."""
        rows, mean = self._index_totals()
        words = [fts.index_term(t.strip('"')) for t in terms]
        weights = [fts.idf(rows, self._document_frequency(t)) for t in terms]
        scored = [
            (int(r[0]), fts.bm25(words, weights, r[2:], sum(fts.varints(r[1])), mean))
            for r in marked
        ]
        scored.sort(key=lambda hit: (-hit[1], hit[0]))
        return scored

    def _by_chance(self, terms: list[str]) -> float:
        """Papers that would hold every one of ``terms`` were the words independent."""
        return self._paper_count() * math.prod(self._shares(terms))

    def _index_totals(self) -> tuple[int, float]:
        """The index's papers and its mean tokens a paper, from its averages record
        (FTS5's own figures for BM25), kept until the next write."""
        if self._totals is None:
            row = self._read.execute("SELECT block FROM papers_fts_data WHERE id = 1").fetchone()
            counts = fts.varints(bytes(row[0])) if row else []
            papers = counts[0] if counts else 0
            self._totals = (papers, sum(counts[1:]) / papers if papers else 1.0)
        return self._totals

    def _ranked_most(self, terms: list[str], every: bool, limit: int) -> int | None:
        """How many of the newest matches :meth:`_match` ranks: :attr:`ranked_most`, or the
        results wanted if more (a caller that takes the whole ranking gets it); None when
        fewer papers hold the word, or any of the words, by their document frequencies.
        Papers with every one of several words are capped only past :attr:`bm25_reads`
        (:meth:`_match`; PostgreSQL caps them all): their number cannot be told from the
        words', and finding the newest of few matches reads FTS5's lists of them twice."""
        most = max(self.ranked_most, limit)
        if every and len(terms) > 1:
            return None
        return most if sum(self._document_frequency(t) for t in terms) > most else None

    def _document_frequency(self, term: str) -> int:
        """Papers containing a quoted word, from the index's vocabulary (0 for a phrase, or a
        word the tokenizer splits in two). The vocabulary is read whole on first use (seconds
        at a million papers: docs/benchmarks.md) and kept until the next write."""
        if self._vocabulary is None:
            self._vocabulary = dict(
                self._read.execute("SELECT term, doc FROM papers_fts_vocab").fetchall()
            )
        form = fts.index_term(term.strip('"'))
        return 0 if " " in form else int(self._vocabulary.get(form, 0))

    def load_vectors(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self._read.execute(
            "SELECT paper_id, vector, scale FROM embeddings WHERE model = ? ORDER BY paper_id",
            (model,),
        ).fetchall()
        return decode_vectors(rows)

    def vectors_for(self, model: str, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        rows = sorted(
            where_in(
                self._read,
                "SELECT paper_id, vector, scale FROM embeddings WHERE model = ? "
                "AND paper_id IN ({})",
                (model,),
                sorted(set(ids)),
            )
        )
        return decode_vectors(rows)


__all__ = ["SQLiteStore"]
