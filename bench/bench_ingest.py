"""Ingest throughput and memory on the shared corpus: prints numbers, never passes or fails.

Each phase runs in its own child process so its peak memory is its own:

- baseline: decompress and parse the corpus into records (no store) — the floor any ingest
  pays, measured in the same run;
- first load: ingest into a fresh database, FTS index included;
- no-op re-ingest: the same file again (every record already stored).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


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
        rows = [
            ("baseline: parse only", *_phase("baseline", _baseline, args.corpus)),
            ("first load (FTS included)", *_phase("first load", _ingest, args.corpus, db)),
            ("no-op re-ingest", *_phase("re-ingest", _ingest, args.corpus, db)),
        ]
        size = db.stat().st_size / 2**20
    base = rows[0][2] / rows[0][1]
    print(f"corpus: {args.corpus} ({rows[0][2]:,} papers), cores: {os.cpu_count()}")
    print(f"{'phase':28} {'seconds':>8} {'papers/s':>10} {'peak MB':>8} {'vs baseline':>12}")
    for name, seconds, n, peak in rows:
        rate = n / seconds
        print(f"{name:28} {seconds:8.1f} {rate:10,.0f} {peak:8.0f} {rate / base:11.2f}x")
    print(f"database size: {size:.0f} MB")


if __name__ == "__main__":
    main()
