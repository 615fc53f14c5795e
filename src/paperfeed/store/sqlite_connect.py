"""SQLite connections: how the store opens its file, and how a write waits for another
process's."""

from __future__ import annotations

import sqlite3
import time

from paperfeed.errors import StoreBusy

#: How long a connection waits for another process's write before giving up.
BUSY_TIMEOUT_MS = 30_000


#: How often a write waiting for another process's tries again.
BUSY_POLL_SECONDS = 0.003


def begin_immediate(db: sqlite3.Connection, location: str, wait: bool) -> None:
    """``BEGIN IMMEDIATE``, trying every few milliseconds while another process writes
    (SQLite's own busy wait sleeps up to 100 ms between tries, and so misses the short gaps
    a long staged write leaves between its parts); ``wait=False``: try once."""
    deadline = time.monotonic() + (BUSY_TIMEOUT_MS / 1000 if wait else 0)
    db.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreBusy(
                        f"{location}: another process has been writing for over "
                        f"{BUSY_TIMEOUT_MS // 1000} s ({e})"
                        if wait
                        else f"{location}: another write is under way ({e})"
                    ) from e
            time.sleep(BUSY_POLL_SECONDS)
    finally:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


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
