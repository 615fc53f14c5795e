"""Ingest throughput and memory on the shared corpus: prints numbers, never passes or fails.

Each phase runs in its own child process so its peak memory is its own:

- baseline: decompress and parse the corpus into records (no store) — the floor any ingest
  pays, measured in the same run;
- first load: ingest into a fresh database, FTS index included;
- no-op re-ingest: the same file again (every record already stored);
- other writes meanwhile: while the first load runs, another process signs a user in (one
  short write) every 0.2 s, and the time each waits for the write lock is printed;
- floor: the stored papers' text put into a bare FTS5 table with the store's tokenizer, in
  one transaction, and nothing else (timed from the first insert to the commit) — what the
  full-text index alone costs on this machine, whatever paperfeed does around it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from paperfeed.store import open_store


def _baseline(corpus: Path) -> int:
    import gzip

    from paperfeed.ingest.sources.arxiv_jsonl import ArxivJsonl

    with gzip.open(corpus, "rb") as f:
        return sum(1 for _ in ArxivJsonl().parse(f, str(corpus)))  # type: ignore[arg-type]


def _ingest(corpus: Path, db: Path) -> int:
    from paperfeed.ingest import pipeline
    from paperfeed.store import open_store

    with open_store(str(db)) as store:
        return pipeline.ingest_path(store, corpus).records


def _sign_ins(db: Path, stop: Any, waits: Any) -> None:
    """Sign a user in every 0.2 s until told to stop; put each write's seconds in ``waits``."""
    import secrets

    from paperfeed.errors import StoreBusy

    with open_store(str(db)) as store:
        with store.writer() as w:
            user = w.create_user("bench", "bench@example.org", "not a hash")
        while not stop.is_set():
            started = time.perf_counter()
            try:
                with store.writer() as w:
                    w.start_session(secrets.token_hex(16), user, "csrf", "9999-01-01")
            except StoreBusy:
                waits.put(None)  # refused after the busy timeout
            else:
                waits.put(time.perf_counter() - started)
            stop.wait(0.2)


def _fts_floor(db: Path) -> tuple[float, int]:
    """Seconds to index the stored papers' title, authors and abstract in a bare FTS5 table."""
    import sqlite3

    from paperfeed.store import open_store

    with open_store(str(db)) as store:
        rows = [
            (p.id, p.title, "; ".join(a.name for a in p.authors), p.abstract)
            for p in store.iter_papers()
        ]
    bare = sqlite3.connect(db.with_name("fts-floor.db"), isolation_level=None)
    bare.execute("PRAGMA journal_mode = WAL")
    bare.execute("PRAGMA synchronous = NORMAL")
    bare.execute(
        "CREATE VIRTUAL TABLE f USING fts5(title, authors_text, abstract, content='', "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    start = time.perf_counter()
    bare.execute("BEGIN")
    for at in range(0, len(rows), 1000):
        bare.executemany(
            "INSERT INTO f (rowid, title, authors_text, abstract) VALUES (?, ?, ?, ?)",
            rows[at : at + 1000],
        )
    bare.execute("COMMIT")
    took = time.perf_counter() - start
    bare.close()
    return took, len(rows)


def _phase(name: str, fn, *args) -> tuple[float, int, float]:
    """(seconds, records, peak RSS in MB) of ``fn(*args)`` run in a child process."""
    read, write = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        n = fn(*args)
        os.write(write, str(n).encode())
        os._exit(0)
    os.close(write)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    n = int(os.read(read, 64) or 0)
    os.close(read)
    if status != 0:
        sys.exit(f"{name} failed")
    return seconds, n, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        open_store(str(db)).close()  # the schema, before two processes open it
        baseline = ("baseline: parse only", *_phase("baseline", _baseline, args.corpus))
        stop, waits = multiprocessing.Event(), multiprocessing.Queue()
        signing_in = multiprocessing.Process(target=_sign_ins, args=(db, stop, waits))
        signing_in.start()
        first = ("first load (FTS included)", *_phase("first load", _ingest, args.corpus, db))
        stop.set()
        signing_in.join()
        outcomes = [waits.get() for _ in range(waits.qsize())]
        waited = sorted(w for w in outcomes if w is not None)
        refused = len(outcomes) - len(waited)
        rows = [
            baseline,
            first,
            ("no-op re-ingest", *_phase("re-ingest", _ingest, args.corpus, db)),
        ]
        size = db.stat().st_size / 2**20
        floor, indexed = _fts_floor(db)
    base = rows[0][2] / rows[0][1]
    print(f"corpus: {args.corpus} ({rows[0][2]:,} papers), cores: {os.cpu_count()}")
    print(f"{'phase':28} {'seconds':>8} {'papers/s':>10} {'peak MB':>8} {'vs baseline':>12}")
    for name, seconds, n, peak in rows:
        rate = n / seconds
        print(f"{name:28} {seconds:8.1f} {rate:10,.0f} {peak:8.0f} {rate / base:11.2f}x")
    print(f"database size: {size:.0f} MB")
    if waited:
        print(
            f"sign-ins during the first load: {len(waited)} stored, {refused} refused as busy; "
            "waiting for the write lock "
            f"median {waited[len(waited) // 2] * 1000:.0f} ms, "
            f"p99 {waited[int(len(waited) * 0.99)] * 1000:.0f} ms, max {waited[-1] * 1000:.0f} ms"
        )
    print(
        f"floor: the FTS5 index alone (bare table, same tokenizer) takes {floor:.1f} s for "
        f"{indexed:,} papers ({indexed / floor:,.0f} papers/s)"
    )


if __name__ == "__main__":
    main()
