"""Search latency on the shared corpus, and the ANN index at a million vectors.

Prints numbers, never passes or fails.

- On the 74,728-paper corpus (ingested and embedded once into --db, reused after): keyword,
  semantic and hybrid search latency, p50 and p99, warm, for queries made from the corpus
  (title fragments, author names, topic phrases), and similar-papers latency.
- At 1M synthetic vectors made from the corpus' real embeddings (each a mix of two real
  papers plus noise, so neighbourhoods look like real ones): exact numpy search as the
  baseline, then the HNSW index: build time, memory, p50/p99 latency and recall@10 against
  exact.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from pathlib import Path

import numpy as np


def _percentiles(samples: list[float]) -> str:
    ms = np.array(samples) * 1000
    return f"p50 {np.percentile(ms, 50):6.2f} ms  p99 {np.percentile(ms, 99):6.2f} ms"


def _prepare(db: Path, corpus: Path) -> None:
    from paperfeed.embed import load_embedder
    from paperfeed.embed.index import embed_store
    from paperfeed.ingest.pipeline import ingest_path
    from paperfeed.search.engine import load_index
    from paperfeed.store import open_store

    with open_store(str(db)) as store:
        if store.stats()["papers"] < 70_000:
            print("ingesting the corpus ...", flush=True)
            ingest_path(store, corpus)
        embedder = load_embedder({})
        start = time.perf_counter()
        report = embed_store(store, embedder)
        took = time.perf_counter() - start
        start = time.perf_counter()
        index = load_index(store, embedder.name, build_ann=True)
        print(
            f"vector index ready in {time.perf_counter() - start:.1f} s (HNSW: {index.uses_ann})",
            flush=True,
        )
        if report.embedded:
            print(
                f"embedded {report.embedded} papers in {took:.0f} s "
                f"({report.embedded / took:.1f}/s)",
                flush=True,
            )


def _queries(store, n: int, seed: int = 1) -> list[str]:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    from paperfeed.models import SearchFilters

    ids = [int(i) for i in store.filter_ids(SearchFilters())]
    papers = store.papers(rng.sample(ids, n))
    out = []
    for i, p in enumerate(papers):
        words = (p.title or "").split()
        if i % 3 == 0:
            out.append(" ".join(words[: rng.randint(2, 6)]))
        elif i % 3 == 1 and p.authors:
            out.append(p.authors[0].name)
        else:
            out.append(p.title or "graph neural networks")
    return out


def timed_searches(searcher, queries: list[str], mode: str, warm: int = 20) -> list[float]:  # type: ignore[no-untyped-def]
    """Seconds each of ``queries`` takes to search for its top 20, after ``warm`` of them
    were searched once untimed."""
    for q in queries[:warm]:
        searcher.search(q, mode, limit=20)
    times = []
    for q in queries:
        t = time.perf_counter()
        searcher.search(q, mode, limit=20)
        times.append(time.perf_counter() - t)
    return times


def bench_corpus(db: Path, n: int) -> None:
    from paperfeed.embed import load_embedder
    from paperfeed.search.engine import Searcher
    from paperfeed.search.vectors import VectorIndex
    from paperfeed.store import open_store

    with open_store(str(db)) as store:
        searcher = Searcher(store, load_embedder({}))
        start = time.perf_counter()
        index = searcher.index
        print(
            f"corpus: {len(index)} vectors loaded and indexed in "
            f"{time.perf_counter() - start:.2f} s (ANN: {index.uses_ann})"
        )
        queries = _queries(store, n)
        # the baseline, in the same run: the same searches over an exact scan of the vectors
        ids, vectors = store.load_vectors(searcher.embedder.name)  # type: ignore[union-attr]
        exact = VectorIndex(ids, vectors, ann_threshold=10**12)
        baseline = Searcher(store, searcher.embedder, index=exact)
        used = "HNSW" if index.uses_ann else "exact scan"
        for mode in ("keyword", "semantic", "hybrid"):
            for label, s in ((used, searcher), ("exact scan", baseline)):
                if mode == "keyword" and s is baseline:
                    continue
                times = timed_searches(s, queries, mode)
                print(f"  search {mode:<8} {label:<10} {len(times)} queries  {_percentiles(times)}")
        # the vector search alone: the index searches use against the exact scan, and recall
        times, ann_times, recall, recall100 = [], [], [], []
        for q in queries:
            v = searcher.embed_query(q)
            t = time.perf_counter()
            truth = [pid for pid, _ in exact.search(v, 100)]
            times.append(time.perf_counter() - t)
            t = time.perf_counter()
            got = [pid for pid, _ in index.search(v, 100)]
            ann_times.append(time.perf_counter() - t)
            recall.append(len(set(truth[:10]) & set(got[:10])) / 10)
            recall100.append(len(set(truth) & set(got)) / 100)
        print(f"  vectors, exact scan, top 100 (baseline)  {_percentiles(times)}")
        print(
            f"  vectors, {used}, top 100 (used here)  {_percentiles(ann_times)}; "
            f"recall@10 {np.mean(recall):.3f}, recall@100 {np.mean(recall100):.3f}"
        )
        refs = [p.ref for p in store.papers([int(i) for i in index.ids[:: len(index) // n]])]
        times = []
        for ref in refs:
            t = time.perf_counter()
            searcher.similar(ref, limit=20)
            times.append(time.perf_counter() - t)
        print(f"  similar papers  {len(refs)} papers   {_percentiles(times)}")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_million(db: Path, size: int, n: int) -> None:
    from paperfeed.embed import load_embedder
    from paperfeed.embed.model import normalize
    from paperfeed.search.vectors import VectorIndex
    from paperfeed.store import open_store

    with open_store(str(db)) as store:
        _, real = store.load_vectors(load_embedder({}).name)
    rng = np.random.default_rng(0)

    def synthetic(count: int) -> np.ndarray:
        a = real[rng.integers(0, len(real), count)]
        b = real[rng.integers(0, len(real), count)]
        mix = rng.uniform(0.3, 1.0, size=(count, 1)).astype(np.float32)
        noise = rng.normal(0, 0.03, a.shape).astype(np.float32)
        return normalize(mix * a + (1 - mix) * b + noise)

    vectors = synthetic(size)
    ids = np.arange(size, dtype=np.int64)
    print(f"{size:,} synthetic vectors, 384-d (queries: {n} more, not in the index)")
    exact = VectorIndex(ids, vectors, ann_threshold=10**12)
    queries = [exact.query_vector(v) for v in synthetic(n)]
    truth, times = [], []
    for q in queries:
        t = time.perf_counter()
        truth.append({pid for pid, _ in exact.search(q, 10)})
        times.append(time.perf_counter() - t)
    print(f"  exact (numpy float32, baseline)  {_percentiles(times)}")
    start = time.perf_counter()
    ann = VectorIndex(ids, vectors, ann_threshold=1)
    build = time.perf_counter() - start
    graph_mb = ann._ann.memory_usage / 2**20  # the HNSW graph itself
    print(
        f"  HNSW build {build:.0f} s; HNSW graph {graph_mb:,.0f} MB + float32 vectors "
        f"{ann.matrix.nbytes / 2**20:,.0f} MB; process peak {_rss_mb():,.0f} MB"
    )
    del exact
    times, recall = [], []
    for q, want in zip(queries, truth, strict=True):
        t = time.perf_counter()
        got = {pid for pid, _ in ann.search(q, 10)}
        times.append(time.perf_counter() - t)
        recall.append(len(got & want) / 10)
    print(
        f"  HNSW (usearch int8 + float32 rescoring)  {_percentiles(times)}  "
        f"recall@10 {np.mean(recall):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", type=Path, default=Path("../shared/data/arxiv-cs-daily/papers.jsonl.gz")
    )
    parser.add_argument("--db", type=Path, default=Path("bench-search.db"))
    parser.add_argument("-n", type=int, default=200, help="queries timed")
    parser.add_argument("--million", type=int, default=1_000_000, help="ANN size (0: skip)")
    args = parser.parse_args()
    _prepare(args.db, args.corpus)
    bench_corpus(args.db, args.n)
    if args.million:
        bench_million(args.db, args.million, args.n)


if __name__ == "__main__":
    main()
