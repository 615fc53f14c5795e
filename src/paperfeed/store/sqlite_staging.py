"""Long writes in short transactions that still land whole or not at all.

A long ingest holding SQLite's single write lock for minutes would make every rating and
sign-in wait for it. So a staged write commits every fraction of a second, and each commit
also keeps, in ``staged_undo``, the statements that would take its changes back: triggers on
the tables an ingest writes log them, but only while this connection's ``temp.staging``
names a run, so other writes on the same connection (a rating between two chunks) are not
logged. When the run ends its log is dropped in its last transaction (published); when it
fails the log is played backwards (undone); when its process was killed, the next process
to open the store plays it backwards. A lock file held for the run tells a dead run from a
live one, and makes a second long write wait for the first.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from paperfeed.store.base import Staged
from paperfeed.store.sql_rows import now
from paperfeed.store.sql_writer import SQLWriter
from paperfeed.store.sqlite_connect import begin_immediate

#: The tables a staged write may change (an ingest's), each with the column that names its
#: paper or itself, and the table that column's ids come from. Rows added past the run's first
#: ids (new papers, authors, organizations) are taken back by one range delete each (with
#: what cascades from a paper), so only changes to rows that were there before are logged.
STAGED_TABLES: dict[str, tuple[str, str] | None] = {
    "papers": ("id", "papers"),
    "authors": ("id", "authors"),
    "organizations": ("id", "organizations"),
    "paper_ids": ("paper_id", "papers"),
    "paper_keys": ("paper_id", "papers"),
    "paper_authors": ("paper_id", "papers"),
    "paper_author_orgs": ("paper_id", "papers"),
    "source_records": ("paper_id", "papers"),
    "profile_papers": ("paper_id", "papers"),
    "profiles": None,
}
#: New ids, taken back last-to-first: papers (and what cascades) before the authors they name.
NEW_ROWS = ("organizations", "authors", "papers")
#: How long one transaction of a staged write may hold the write lock before it commits.
CHUNK_SECONDS = 0.25
#: Undo statements played back per transaction.
UNDO_BATCH = 5_000


def _key(db: sqlite3.Connection, table: str) -> tuple[list[str], list[str]]:
    """(all columns, the columns that name a row) of ``table``."""
    info = db.execute(f"PRAGMA table_info({table})").fetchall()
    columns = [row[1] for row in info]
    key = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5] > 0]
    return columns, key or ["rowid"]


def _quoted(prefix: str, columns: list[str], sep: str) -> str:
    """SQL that builds ``col=<quoted value>`` pairs from a trigger's old/new row."""
    return f" || '{sep}' || ".join(f"'{c}=' || quote({prefix}.{c})" for c in columns)


def create_triggers(db: sqlite3.Connection) -> None:
    """Temporary triggers (this connection only) logging how to undo each change."""
    db.execute(
        "CREATE TEMP TABLE IF NOT EXISTS staging (run INTEGER NOT NULL, "
        + ", ".join(f"{t} INTEGER NOT NULL" for t in NEW_ROWS)
        + ")"
    )
    for table, owner in STAGED_TABLES.items():
        columns, key = _key(db, table)
        names = ", ".join(columns)
        values = " || ', ' || ".join(f"quote(old.{c})" for c in columns)
        bodies = {
            "INSERT": f"'DELETE FROM {table} WHERE ' || {_quoted('new', key, ' AND ')}",
            "UPDATE": f"'UPDATE {table} SET ' || {_quoted('old', columns, ', ')} "
            f"|| ' WHERE ' || {_quoted('old', key, ' AND ')}",
            "DELETE": f"'INSERT INTO {table} ({names}) VALUES (' || {values} || ')'",
        }
        for event, body in bodies.items():
            row = "new" if event == "INSERT" else "old"
            if owner is None:
                when = "EXISTS (SELECT 1 FROM temp.staging)"
            elif table == owner[1] and event == "INSERT":
                continue  # a new paper, author, organization: one range delete takes it back
            else:
                when = f"{row}.{owner[0]} <= (SELECT {owner[1]} FROM temp.staging)"
            db.execute(
                f"CREATE TEMP TRIGGER IF NOT EXISTS staged_{table}_{event.lower()} "
                f"AFTER {event} ON main.{table} WHEN {when} BEGIN "
                f"INSERT INTO staged_undo (run, statement) SELECT run, {body} FROM temp.staging; "
                "END"
            )


def start_run(db: sqlite3.Connection, label: str) -> tuple[int, ...]:
    """Register a run (inside its first transaction); returns (run, first ids...)."""
    run = db.execute(
        "INSERT INTO staged_runs (label, started_at) VALUES (?, ?)", (label, now())
    ).lastrowid
    floors = [db.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0] for t in NEW_ROWS]
    db.executemany(
        "INSERT INTO staged_undo (run, statement) VALUES (?, ?)",
        [(run, f"DELETE FROM {t} WHERE id > {n}") for t, n in zip(NEW_ROWS, floors, strict=True)],
    )
    return (int(run or 0), *map(int, floors))


def pending_runs(db: sqlite3.Connection) -> list[int]:
    return [r[0] for r in db.execute("SELECT id FROM staged_runs ORDER BY id")]


def undo(db: sqlite3.Connection, run: int, lock: threading.Lock, begin: Callable[[], None]) -> None:
    """Play ``run``'s log backwards, a batch per transaction (each opened by ``begin``), and
    forget the run. Each batch deletes the statements it played, so an undo that is itself
    killed goes on next time."""
    while True:
        with lock:
            begin()
            try:
                rows = db.execute(
                    "SELECT seq, statement FROM staged_undo WHERE run = ? "
                    "ORDER BY seq DESC LIMIT ?",
                    (run, UNDO_BATCH),
                ).fetchall()
                for _, statement in rows:
                    db.execute(statement)
                if rows:
                    db.execute(
                        "DELETE FROM staged_undo WHERE run = ? AND seq >= ?", (run, rows[-1][0])
                    )
                else:
                    db.execute("DELETE FROM staged_runs WHERE id = ?", (run,))
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        if not rows:
            return


class RunLock:
    """An exclusive lock on a file beside the store, held for a staged run: the kernel frees
    it when its holder dies, so a run whose lock is free is a dead one. ``local`` is the
    store's own lock, for the runs of this process (and of a store without files)."""

    def __init__(self, path: Path | None, local: threading.Lock) -> None:
        self.path, self.local = path, local
        self._file: IO[bytes] | None = None

    def acquire(self, blocking: bool = True) -> bool:
        if not self.local.acquire(blocking=blocking):
            return False
        if self.path is None:
            return True
        f = open(self.path, "ab")  # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            f.close()
            self.local.release()
            return False
        f.truncate(0)
        f.write(f"{os.getpid()}\n".encode())
        f.flush()
        self._file = f
        return True

    def holder(self) -> str:
        try:
            return f"process {self.path.read_text().strip()}" if self.path else "this process"
        except OSError:
            return "another process"

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        self.local.release()


class Run:
    """One staged write's transactions: each is committed once it has held the lock for
    ``CHUNK_SECONDS``; the store publishes or undoes the whole."""

    def __init__(
        self,
        db: sqlite3.Connection,
        lock: threading.Lock,
        begin: Callable[[], None],
        label: str,
    ) -> None:
        self.db, self.lock, self._begin, self.id = db, lock, begin, 0
        self.label = label
        self.marks: tuple[int, ...] = (0,)  # (run, first new ids) once started
        self.started: float | None = None  # when the open transaction began, if one is open

    def open_transaction(self) -> None:
        self.lock.acquire()
        try:
            self._begin()
            if not self.id:
                create_triggers(self.db)
                self.marks = start_run(self.db, self.label)
                self.id = self.marks[0]
            self.db.execute(
                f"INSERT INTO temp.staging VALUES ({', '.join('?' * len(self.marks))})",
                self.marks,
            )
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self.lock.release()
            raise
        self.started = time.monotonic()

    def close_transaction(self, publish: bool = False) -> None:
        """Commit the open transaction; with ``publish``, the run's log goes with it."""
        try:
            self.db.execute("DELETE FROM temp.staging")
            if publish:
                self.db.execute("DELETE FROM staged_undo WHERE run = ?", (self.id,))
                self.db.execute("DELETE FROM staged_runs WHERE id = ?", (self.id,))
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # a commit that failed may leave it open
                self.db.execute("ROLLBACK")
            raise
        finally:
            self.started = None
            self.lock.release()

    def rollback(self) -> None:
        """Take back the open transaction, if one is open."""
        if self.started is None:
            return
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self.db.execute("DELETE FROM temp.staging")
        finally:
            self.started = None
            self.lock.release()

    def due(self) -> bool:
        return self.started is not None and time.monotonic() - self.started >= CHUNK_SECONDS


class SQLiteStaged(Staged):
    """What a staged write's caller holds: a writer per part, committed when due."""

    def __init__(self, db: sqlite3.Connection, run: Run, committed: Callable[[], None]) -> None:
        self.db, self.run, self.committed = db, run, committed

    @contextmanager
    def writer(self) -> Iterator[SQLWriter]:
        if self.run.started is None:
            self.run.open_transaction()
        yield SQLWriter(self.db)
        if self.run.due():  # commit what is written, with how to take it back
            self.run.close_transaction()
            self.committed()


@contextmanager
def waiting(lock: RunLock, on_wait: Callable[[str], None] | None) -> Iterator[None]:
    if not lock.acquire(blocking=False):
        if on_wait is not None:
            on_wait(f"another long write ({lock.holder()}) is under way; waiting for it")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


class Stager:
    """A store's staged writes: one at a time (``lock_path``, across processes), each
    published or undone whole, and the runs of dead processes undone."""

    def __init__(
        self,
        db: sqlite3.Connection,
        write_lock: threading.Lock,
        location: str,
        lock_path: Path | None,
        changed: Callable[[], None],
    ) -> None:
        self.db, self.write_lock, self.location = db, write_lock, location
        self.lock_path, self.changed = lock_path, changed
        self.local = threading.Lock()

    def begin(self) -> None:
        begin_immediate(self.db, self.location, True)

    def undo_dead_runs_if_idle(self) -> None:
        """Undo what runs killed mid-way wrote, unless a run is under way (at open)."""
        if not pending_runs(self.db):
            return
        lock = RunLock(self.lock_path, self.local)
        if lock.acquire(blocking=False):
            try:
                self.undo_dead_runs()
            finally:
                lock.release()

    def undo_dead_runs(self) -> None:
        """Undo what runs killed mid-way wrote (the caller holds the run lock)."""
        for run in pending_runs(self.db):
            undo(self.db, run, self.write_lock, self.begin)
            self.changed()

    @contextmanager
    def run(self, label: str, on_wait: Callable[[str], None] | None) -> Iterator[Staged]:
        with waiting(RunLock(self.lock_path, self.local), on_wait):
            self.undo_dead_runs()
            run = Run(self.db, self.write_lock, self.begin, label)
            try:
                yield SQLiteStaged(self.db, run, self.changed)
            except BaseException:
                run.rollback()
                if run.id:
                    undo(self.db, run.id, self.write_lock, self.begin)
                    self.changed()
                raise
            if run.id:
                if run.started is None:
                    run.open_transaction()
                run.close_transaction(publish=True)
                self.changed()
