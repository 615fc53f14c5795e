"""Ranking speed: one day's listing ranked for many profiles, and one profile's page.

Profiles are real authors of the corpus (8-60 papers listed before the store's last day), made
in a copy of the database. Each is ranked for the last day from nothing first: its model is
fitted (what happens once each time a profile changes) and kept in the store. Then the daily
job as a new process runs it: ``Recommender.recommend_many`` over ``--copies`` copies of every
profile (distinct profiles with the same papers, each with its own kept model), models read
back from the store, on one worker and on two. The baseline, in the same run:
arxiv-sanity-lite's method (a tf-idf LinearSVC fitted per profile, every time) on the same
day, for the first 100 profiles.

Goal (issue 4): one day (~300 papers) for 10,000 profiles in under 60 s on 2 cores; a single
profile's page in under 50 ms.

    python bench/bench_recommend.py --db bench-search.db --corpus ../shared/data/.../papers.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import pickle
import random
import shutil
import sqlite3
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from paperfeed import config
from paperfeed.embed import load_embedder
from paperfeed.embed.model import paper_text
from paperfeed.errors import NotFound
from paperfeed.evaluate.baselines import Context, asl_scores
from paperfeed.models import SearchFilters
from paperfeed.recommend.lexical import LexicalModel
from paperfeed.recommend.model import model_key
from paperfeed.recommend.service import Recommender
from paperfeed.store import open_store


def authors_before(corpus: Path, day: str) -> dict[str, list[str]]:
    papers: dict[str, list[str]] = defaultdict(list)
    with gzip.open(corpus, "rt") as f:
        for line in f:
            row = json.loads(line)
            if row["listing_date"] < day:
                for a in row["authors"]:
                    papers[a].append(row["id"])
    return {a: ids for a, ids in papers.items() if 8 <= len(ids) <= 60}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="bench-search.db")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--profiles", type=int, default=500)
    parser.add_argument("--copies", type=int, default=20, help="of each profile, for the job")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench-recommend.db")
        with sqlite3.connect(args.db) as source, sqlite3.connect(db) as target:
            source.backup(target)
        for extra in Path(args.db).parent.glob(Path(args.db).name + ".lexical"):
            shutil.copy(extra, db + ".lexical")
        store = open_store(db)
        day = store.latest_day() or ""
        listed = len(store.filter_ids(SearchFilters(since=day, until=day)))
        pool = sorted(authors_before(args.corpus, day).items())
        chosen = random.Random(0).sample(pool, min(args.profiles, len(pool)))
        names = []
        with store.writer() as w:
            for author, refs in chosen:
                ids = []
                for ref in refs:
                    try:
                        ids.append(store.get_paper(ref).id)
                    except NotFound:
                        continue
                name = f"bench/{author}"
                w.add_to_profile(w.ensure_profile(name, "researcher"), ids)
                names.append(name)
        embedder = load_embedder(config.load())
        t = time.perf_counter()
        lexical = LexicalModel.for_store(store)
        lexical.names  # noqa: B018
        print(f"lexical model loaded in {time.perf_counter() - t:.1f} s")
        recommender = Recommender(store, embedder, lexical)
        print(f"{len(names)} profiles, day {day}: {listed} papers listed\n")

        t = time.perf_counter()
        recommender.recommend(names[0], limit=50)
        print(
            f"first ranking of the day (prepares the day's papers): {time.perf_counter() - t:.2f} s"
        )
        fits = []
        for name in names[1:]:
            t = time.perf_counter()
            recommender.recommend(name, limit=50)
            fits.append(time.perf_counter() - t)
        print(
            f"ranking, model fitted now (and kept in the store): mean {np.mean(fits) * 1000:.0f} "
            f"ms, p50 {pct(fits, 50):.0f} ms, p99 {pct(fits, 99):.0f} ms per profile"
        )
        states = [v for k, v in recommender._parts._data.items() if k[0] == "profile"]
        kept = {}  # each profile's model as the store keeps it
        for name in names:
            profile = store.profile(name)
            marks = store.profile_relations(name)
            key = model_key(lexical, marks, None)
            kept[name] = (key, store.profile_model(profile.id, key))
        sizes = [len(model) for _, model in kept.values() if model is not None]
        print(
            f"a kept profile (papers, rows, model), pickled: "
            f"{np.mean([len(pickle.dumps(s)) for s in states]) / 1024:.0f} KB on average; "
            f"its model in the store: {np.mean(sizes) / 1024:.0f} KB ({len(sizes)} kept)"
        )
        pages = []
        for name in names[:200]:
            recommender._cache.clear()
            t = time.perf_counter()
            recommender.recommend(name, limit=50)
            pages.append(time.perf_counter() - t)
        print(
            f"a profile's page (50 papers with reasons, model kept): p50 {pct(pages, 50):.1f} ms, "
            f"p99 {pct(pages, 99):.1f} ms"
        )

        # the daily job: copies of every profile, each with its own kept model
        everyone = list(names)
        with store.writer() as w:
            for copy in range(1, args.copies):
                for name in names:
                    twin = w.ensure_profile(f"{name} #{copy}", "researcher")
                    w.add_to_profile(twin, [p.id for p in store.profile_papers(name)])
                    key, model = kept[name]
                    if model is not None:  # the same papers: the same model, kept for the twin
                        w.save_profile_model(twin, key, model)
                    everyone.append(f"{name} #{copy}")
        print(f"\ndaily job over {len(everyone)} profiles, as a new process (models in the store):")
        rates = {}
        for workers, count in ((1, min(len(everyone), 1000)), (2, len(everyone))):
            job = Recommender(store, embedder, lexical)
            t = time.perf_counter()
            ranked = sum(
                1
                for _, recs in job.recommend_many(everyone[:count], limit=20, workers=workers)
                if isinstance(recs, list) and recs
            )
            took = time.perf_counter() - t
            rates[workers] = took / count
            print(
                f"  {workers} worker{'s' if workers > 1 else ''}: {count} profiles in {took:.1f} s "
                f"({took / count * 1000:.1f} ms each, {ranked} ranked); "
                f"10,000 at this rate: {took / count * 10_000:.0f} s"
            )
        print(f"  two workers are {rates[1] / rates[2]:.2f}x one")

        # baseline: arxiv-sanity-lite fits its SVM per profile every time
        listing = next(v for k, v in recommender._parts._data.items() if k[0] == "listing")
        sample = store.papers([int(i) for i in lexical.background_ids[:5000]])
        background = lexical.tfidf.transform([paper_text(p.title, p.abstract) for p in sample])
        asl = []
        for name in names[:100]:
            mine = store.profile_papers(name)
            prof = lexical.papers(mine, np.zeros((len(mine), embedder.dim), np.float32))
            t = time.perf_counter()
            asl_scores(prof, listing.prepared, Context(background))
            asl.append(time.perf_counter() - t)
        print(
            f"\nbaseline, arxiv-sanity-lite (fit per profile, 5,000 negatives): "
            f"mean {np.mean(asl) * 1000:.0f} ms per profile; "
            f"paperfeed's daily job is {np.mean(asl) / rates[2]:.1f}x faster per profile"
        )
        store.close()


if __name__ == "__main__":
    main()
