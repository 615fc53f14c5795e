"""Reviewer matching on a conference made from the corpus: prints, never passes or fails.

The store holds the corpus's papers listed in ``--since``..``--until`` (embedded with the
bundled model; vectors cached in ~/.cache/paperfeed between runs). Submissions: ``--papers``
papers listed after ``--until`` (seeded sample). The pool: ``--reviewers`` authors with at
least ``--min-papers`` (5) papers in the store. The product's stages run once
(``paperfeed.match.venue.allowed_pairs``: expertise, affinity, conflicts; then ``decide``,
plain and fair, k = 3, at most 6 papers a reviewer), beside two baselines on the same
allowed pairs: greedy (papers in turn take their best reviewers with load left) and random
(random allowed reviewers with load left). Printed: each stage's time, conflicts found and
conflicted pairs assigned, mean and least per-paper affinity, peak memory.

The submissions' vectors come from the cache: a kept venue embeds them once, at import
(``paperfeed venue import``), at the model's rate (bench_embed.py).

    python bench/bench_match.py --corpus ../shared/data/arxiv-cs-daily/papers.jsonl.gz
    python bench/bench_match.py --corpus ... --since 2025-03-01 --until 2025-12-31 \
        --papers 15000 --reviewers 20000 --min-papers 3      # the issue's scale
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import logging
import random
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed import config
from paperfeed.embed import load_embedder
from paperfeed.embed.model import content_hash, default_cache_dir, paper_text
from paperfeed.evaluate.daily_feed import embed_cached
from paperfeed.ingest import registry
from paperfeed.ingest.pipeline import ingest_path
from paperfeed.match.inputs import Reviewer, submissions_of
from paperfeed.match.venue import allowed_pairs, decide
from paperfeed.normalize import name_key
from paperfeed.recommend.lexical import LexicalModel
from paperfeed.store import open_store


def _authors(row: dict) -> list[str]:
    value = row["authors"]
    return value if isinstance(value, list) else ast.literal_eval(value)


def _baseline(scores: Any, k: int, load: int, rng: random.Random | None) -> np.ndarray:
    """Per-paper affinity of greedy (``rng`` None) or random assignment of allowed pairs."""
    left: Counter[int] = Counter()  # reviews given
    totals = np.zeros(scores.shape[0])
    for row in range(scores.shape[0]):
        start, end = scores.indptr[row], scores.indptr[row + 1]
        cols, vals = scores.indices[start:end], scores.data[start:end]
        order = list(np.argsort(-vals)) if rng is None else rng.sample(range(len(cols)), len(cols))
        taken = 0
        for o in order:
            if taken == k:
                break
            if left[cols[o]] < load:
                left[cols[o]] += 1
                totals[row] += vals[o]
                taken += 1
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--since", default="2025-11-01")
    parser.add_argument("--until", default="2025-12-31")
    parser.add_argument("--papers", type=int, default=300)
    parser.add_argument("--reviewers", type=int, default=800)
    parser.add_argument("--min-papers", type=int, default=5, help="of a reviewer in the store")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  %(message)s")
    logging.getLogger("paperfeed.match").setLevel(logging.INFO)  # each stage's time
    rng = random.Random(21)
    window, later = [], []
    with gzip.open(args.corpus, "rt") as f:
        for line in f:
            row = json.loads(line)
            if args.since <= row["listing_date"] <= args.until:
                window.append(row)
            elif row["listing_date"] > args.until:
                later.append(row)
    submissions_rows = rng.sample(later, args.papers)
    counts = Counter(name_key(a) for r in window for a in _authors(r))
    names = sorted(
        {a for r in window for a in _authors(r) if counts[name_key(a)] >= args.min_papers}
    )
    pool = rng.sample(names, min(args.reviewers, len(names)))
    with tempfile.TemporaryDirectory() as tmp:
        settings = config.load(db=str(Path(tmp) / "match.db"))
        path = Path(tmp) / "window.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in window))
        subs_path = Path(tmp) / "submissions.jsonl"
        subs_path.write_text("".join(json.dumps(r) + "\n" for r in submissions_rows))
        with open_store(settings["db"]) as store:
            ingest_path(store, path)
            embedder = load_embedder(settings)
            papers = list(store.iter_papers())
            texts = [paper_text(p.title, p.abstract) for p in papers]
            vectors = embed_cached(embedder, texts, default_cache_dir(), print)
            with store.writer() as w:
                w.save_vectors(
                    embedder.name, [p.id for p in papers], [content_hash(t) for t in texts], vectors
                )
            lexical = LexicalModel.for_store(store)
            source = registry.get("arxiv-jsonl")
            with subs_path.open("rb") as f:
                subs, ids = submissions_of(source.parse(f, str(subs_path)), str(subs_path))
            sub_vectors = embed_cached(
                embedder,
                [paper_text(p.title, p.abstract) for p in subs],
                default_cache_dir(),
                print,
            )
            reviewers = [Reviewer(n) for n in pool]
            before = _peak()
            print(
                f"store: {len(window):,} papers ({args.since}..{args.until}); {len(subs):,} "
                f"submissions after it; {len(pool):,} reviewers with >= {args.min_papers} "
                "papers; k = 3, at most 6 a reviewer"
            )
            started = time.perf_counter()
            allowed, conflicts = allowed_pairs(
                store, embedder, lexical, subs, ids, reviewers, vectors=sub_vectors
            )
            prepared = time.perf_counter() - started
            runs = {}
            for name, fair in (("plain", False), ("fair", True)):
                started = time.perf_counter()
                runs[name] = (
                    decide(allowed, conflicts, subs, ids, reviewers, 3, 6, fair),
                    prepared + time.perf_counter() - started,
                )
            greedy = _baseline(allowed, 3, 6, None)
            randomly = _baseline(allowed, 3, 6, random.Random(7))
            col_of: dict[str, list[int]] = {}
            for col, r in enumerate(pool):
                col_of.setdefault(name_key(r), []).append(col)
            truth = {  # (submission, reviewer) where the reviewer signs the submission
                (row, col)
                for row, s in enumerate(submissions_rows)
                for key in {name_key(a) for a in _authors(s)}
                for col in col_of.get(key, [])
            }
    print(f"conflicts found: {len(conflicts):,} (reviewers who wrote a submission: {len(truth)})")
    for name, (result, _) in runs.items():
        bad = set(result.assignment.pairs) & set(result.conflicts)
        own = len(set(result.assignment.pairs) & truth)
        print(f"{name}: conflicted pairs assigned {len(bad)}; authors given their own paper {own}")
    print(f"{'assignment':12} {'mean':>7} {'least':>7} {'seconds, end to end':>20}")
    for name, (result, seconds) in runs.items():
        per = result.assignment.per_paper
        if result.assignment.problems:
            print(f"{name:12} cannot assign: {result.assignment.problems[0]}")
            continue
        print(f"{name:12} {per.mean():7.3f} {per.min():7.3f} {seconds:20.1f}")
    print(f"{'greedy':12} {greedy.mean():7.3f} {greedy.min():7.3f}")
    print(f"{'random':12} {randomly.mean():7.3f} {randomly.min():7.3f}")
    print(
        f"peak memory: {before:.0f} MB with the store built, {_peak():.0f} MB after matching; "
        f"reviewers without papers in the store: {sum(not r.papers for r in reviewers)}"
    )


def _peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
