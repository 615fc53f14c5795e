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
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def reachable(location: str) -> str:
    """A store's location as workers elsewhere open it (a file path made absolute: the
    workers' folder is not ours)."""
    from paperfeed.store import is_postgres

    return location if is_postgres(location) else str(Path(location).resolve())


@contextmanager
def actor_pool(address: str | None, actor: type, *args: Any) -> Iterator[Any]:
    """A ``ray.util.ActorPool`` of one ``actor(*args)`` per CPU of the Ray cluster at
    ``address`` (None: a Ray started on this machine), shut down after."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as e:
        raise InputError(f"--engine ray needs Ray ({e}): pip install 'paperfeed[ray]'") from e
    if address:
        _answers(address)
    ray.init(address=address or None, log_to_driver=False, include_dashboard=False)
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote: Any = ray.remote(num_cpus=1)(actor)
        yield ActorPool([remote.remote(*args) for _ in range(cpus)])
    finally:
        ray.shutdown()


def _answers(address: str) -> None:
    """Refuse a ``host:port`` nothing listens on (Ray itself retries it for minutes)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():  # "auto", or a form Ray resolves itself
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise InputError(
            f"no Ray cluster answers at {address} ({e}): start one (ray start --head) or "
            "correct the ray_address setting"
        ) from e


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
    from paperfeed.store import open_store

    location = reachable(location)
    with open_store(location) as store:
        todo, report = pending(store, model, limit)
    if not todo:
        return report
    with actor_pool(address, _Embedding, location, settings, model) as pool:
        pids = set()
        chunks = list(_chunks(todo))
        for done, pid in pool.map_unordered(lambda a, chunk: a.embed.remote(chunk), chunks):
            report.embedded += done
            pids.add(pid)
            if progress is not None:
                progress(report.embedded, len(todo))
        report.workers = len(pids)
    return report
