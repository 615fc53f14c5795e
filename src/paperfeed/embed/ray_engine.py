"""Embedding on a Ray cluster (``paperfeed embed --engine ray``): one actor per CPU of the
cluster, each loading the model once and writing the vectors it makes straight to the
store, a chunk per transaction.

Writes are exactly once by content hash: a vector is stored under its paper and model with
the hash of the text it was made of, so a chunk done twice (a retried task) stores the
same rows again, and a run after a failure embeds only what is still missing. The store
must be one every node reaches: PostgreSQL (a SQLite file works only on one machine).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from paperfeed.embed.index import CHUNK, EmbedReport, pending
from paperfeed.errors import InputError


class _Embedding:
    """A Ray actor: the model, loaded once, and the store it writes to."""

    def __init__(self, location: str, settings: dict[str, Any], model: str) -> None:
        from paperfeed.embed import load_embedder
        from paperfeed.store import open_store

        self.embedder = load_embedder({**settings, "embed_threads": 1})  # a CPU per actor
        if self.embedder.name != model:
            raise InputError(f"the workers load {self.embedder.name}, not {model}")
        self.store = open_store(location)

    def embed(self, chunk: list[tuple[int, str, bytes]]) -> tuple[int, int]:
        vectors = self.embedder.embed([text for _, text, _ in chunk])
        with self.store.writer() as w:
            w.save_vectors(
                self.embedder.name, [i for i, _, _ in chunk], [h for *_, h in chunk], vectors
            )
        return len(chunk), os.getpid()


def _chunks(todo: list[tuple[int, str, bytes]]) -> Iterator[list[tuple[int, str, bytes]]]:
    for start in range(0, len(todo), CHUNK):
        yield todo[start : start + CHUNK]


def embed_with_ray(
    location: str,
    settings: dict[str, Any],
    model: str,
    address: str | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EmbedReport:
    """Embed what the store at ``location`` lacks for ``model`` on the Ray cluster at
    ``address`` (None: a Ray started on this machine for the run)."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as e:
        raise InputError(f"--engine ray needs Ray ({e}): pip install 'paperfeed[ray]'") from e
    from paperfeed.store import open_store

    if "://" not in location:
        location = str(Path(location).resolve())  # the workers' folder is not ours
    with open_store(location) as store:
        todo, report = pending(store, model, limit)
    if not todo:
        return report
    ray.init(address=address or None, log_to_driver=False, include_dashboard=False)
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        actor = ray.remote(num_cpus=1)(_Embedding)
        pool = ActorPool([actor.remote(location, settings, model) for _ in range(cpus)])
        pids = set()
        for done, pid in pool.map_unordered(
            lambda a, chunk: a.embed.remote(chunk), list(_chunks(todo))
        ):
            report.embedded += done
            pids.add(pid)
            if progress is not None:
                progress(report.embedded, len(todo))
        report.workers = len(pids)
    finally:
        ray.shutdown()
    return report
