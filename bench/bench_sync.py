"""A day's ``paperfeed sync`` end to end, with the time of each step: prints, never passes.

The store holds the corpus's papers of the ``--days`` listing days before the last one, with
vectors, and ``--profiles`` profiles (real authors of those papers, copied round when there
are fewer), each subscribed to a daily digest and ranked once before (their models kept: the
evening before). A local server then answers as arXiv's listing feed with the corpus's last
day (300 papers), and the sync runs: harvest (off: the listing is the day's source here),
announce, embed, refresh, rank every profile and compose and send every digest (two workers,
as ``--workers 2``; digests go to a counter rather than an SMTP server). Goal (issue 18):
the whole sync within 60 s on 2 cores.

Beside it, as the baseline, the same day done by hand as before ``sync`` existed, one
command's work after another in this process: ingest the day's file, embed, rank every
profile, send the digests; on a second copy of the same store.

    python bench/bench_sync.py --corpus ../shared/data/arxiv-cs-daily/papers.jsonl.gz
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from arxiv_days import days_after, listing, rows_by_day
from paperfeed import config
from paperfeed.digest import send_digests
from paperfeed.embed import load_embedder
from paperfeed.embed.index import embed_store
from paperfeed.ingest.pipeline import ingest_path
from paperfeed.recommend.service import Recommender
from paperfeed.store import open_store
from paperfeed.sync import Sync


def _serve(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/atom+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _setup(corpus: Path, db: Path, days: list[str], profiles: int, settings: dict) -> None:
    """The store the evening before: papers, vectors, profiles ranked once, subscriptions."""
    rows = rows_by_day(corpus, days)
    with tempfile.TemporaryDirectory() as tmp, open_store(str(db)) as store:
        for day in days:
            path = Path(tmp) / f"{day}.xml"
            path.write_bytes(listing(rows[day], day))
            ingest_path(store, path)
        started = time.perf_counter()
        embedder = load_embedder(settings)
        embed_store(store, embedder)
        took = time.perf_counter() - started
        print(f"set-up: {store.paper_count():,} papers embedded in {took:.0f} s")
        by_author: dict[str, list[int]] = {}
        for paper in store.iter_papers():
            for a in paper.authors:
                by_author.setdefault(a.name, []).append(paper.id)
        authors = sorted((a for a, ids in by_author.items() if len(ids) >= 2), key=str)
        if not authors:
            sys.exit("no author with two papers in the window: give more --days")
        with store.writer() as w:
            for i, name in zip(range(profiles), itertools.cycle(authors), strict=False):
                pid = w.ensure_profile(f"{name} #{i}", "researcher")
                w.add_to_profile(pid, by_author[name])
                w.subscribe(pid, f"reader{i}@example.org", "daily")
        recommender = Recommender(store, embedder)
        recommender.warm()
        names = [p.name for p in store.profiles()]
        started = time.perf_counter()
        for _ in recommender.recommend_many(names, days[-1], days[-1], 50, workers=2):
            pass
        print(
            f"set-up: {len(names):,} profiles of {len(authors):,} authors ranked once "
            f"(models kept) in {time.perf_counter() - started:.0f} s"
        )


def _by_hand(db: Path, day_file: Path, settings: dict, sent: Counter) -> dict[str, float]:
    """The same day, one command's work after another, as a cron job did it before sync."""
    times: dict[str, float] = {}
    with open_store(str(db)) as store:
        embedder = load_embedder(settings)
        started = time.perf_counter()
        ingest_path(store, day_file)
        times["announce"] = time.perf_counter() - started
        started = time.perf_counter()
        embed_store(store, embedder)
        times["embed"] = time.perf_counter() - started
        started = time.perf_counter()
        recommender = Recommender(store, embedder)
        recommender.warm()
        day = store.latest_day()
        names = [p.name for p in store.profiles()]
        for _ in recommender.recommend_many(names, day, day, 50, workers=2):
            pass
        times["rank"] = time.perf_counter() - started
        started = time.perf_counter()
        send_digests(store, recommender, settings, send=_count(sent), workers=2)
        times["send"] = time.perf_counter() - started
    return times


def _count(sent: Counter):  # type: ignore[no-untyped-def]
    def send(message) -> None:  # type: ignore[no-untyped-def]
        sent[message["To"]] += 1

    return send


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--days", type=int, default=20, help="listing days in the store before")
    parser.add_argument("--profiles", type=int, default=1000)
    args = parser.parse_args()
    all_days = list(days_after(args.corpus, "2000-01-01", 10**6))
    before, day = all_days[-1 - args.days : -1], all_days[-1]
    new_rows = rows_by_day(args.corpus, [day])[day]
    body = listing(new_rows, day)
    server = _serve(body)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "sync.db"
        settings = config.load(
            db=str(db),
            arxiv_rss_url=f"http://127.0.0.1:{server.server_address[1]}",
            sync_categories="cs",
            sync_oai_set="",
            arxiv_delay=0.0,
            mail_from="paperfeed <paperfeed@localhost>",
        )
        _setup(args.corpus, db, before, args.profiles, settings)
        copy = Path(tmp) / "by-hand.db"
        for suffix in ("", ".lexical", ".secret"):
            if Path(f"{db}{suffix}").exists():
                shutil.copy(f"{db}{suffix}", f"{copy}{suffix}")
        sent: Counter = Counter()
        with open_store(str(db)) as store:
            started = time.perf_counter()
            outcome = Sync(store, settings, send=_count(sent), today=day, workers=2).run()
            total = time.perf_counter() - started
        day_file = Path(tmp) / f"{day}.xml"
        day_file.write_bytes(body)
        hand_sent: Counter = Counter()
        hand = _by_hand(copy, day_file, dict(settings, db=str(copy)), hand_sent)
    server.shutdown()
    print(
        f"day {day}: {len(new_rows)} papers; store before: {args.days} days; "
        f"{args.profiles:,} profiles; cores: {os.cpu_count()}"
    )
    print(f"{'step':10} {'sync s':>8} {'by hand s':>10}  what the sync step did")
    for step, result in outcome["steps"].items():
        detail = result.get("detail", result.get("error"))
        print(f"{step:10} {result['seconds']:8.1f} {hand.get(step, 0.0):10.1f}  {detail}")
    hand_total = sum(hand.values())
    print(
        f"{'total':10} {total:8.1f} {hand_total:10.1f}  ({total / hand_total:.2f}x by hand; "
        f"goal 60 s: {'met' if total <= 60 else 'NOT met'})"
    )
    print(f"digests sent: sync {sum(sent.values()):,}, by hand {sum(hand_sent.values()):,}")


if __name__ == "__main__":
    main()
