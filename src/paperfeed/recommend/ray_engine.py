"""Ranking a day for every profile on a Ray cluster (``paperfeed recommend --all --engine
ray``): an actor per CPU, each with the product's :class:`Recommender` over its own store
connection (the lexical model the store keeps, the vectors it holds), ranking batches of
profiles; the rankings come back as paper ids, in the profiles' order."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from paperfeed.embed.ray_engine import actor_pool, reachable
from paperfeed.errors import InputError
from paperfeed.models import Paper
from paperfeed.recommend.rank import Recommendation
from paperfeed.recommend.service import Ranked, Recommender, _one_blas_thread, as_ids, from_ids
from paperfeed.store import Store

#: Profiles an actor ranks per task.
BATCH = 16


class _Ranking:
    def __init__(self, location: str, settings: dict[str, Any]) -> None:
        from paperfeed.embed import load_embedder
        from paperfeed.store import open_store

        embedder = load_embedder({**settings, "embed_threads": 1})
        self.recommender = Recommender(open_store(location), embedder)
        _one_blas_thread()  # a CPU per actor

    def rank(
        self, names: list[str], day: str | None, since: str | None, limit: int
    ) -> tuple[list[tuple[str, Ranked]], int]:
        ranked = [(name, as_ids(self.recommender, name, day, since, limit)) for name in names]
        return ranked, os.getpid()


def recommend_with_ray(
    store: Store,
    settings: dict[str, Any],
    profiles: list[str],
    day: str | None = None,
    since: str | None = None,
    limit: int = 50,
    address: str | None = None,
) -> Iterator[tuple[str, list[Recommendation] | InputError]]:
    """What :meth:`Recommender.recommend_many` yields, ranked on the Ray cluster at
    ``address`` (None: a Ray started on this machine)."""
    day = day or (None if since else store.latest_day())  # one day for every actor
    batches = [profiles[i : i + BATCH] for i in range(0, len(profiles), BATCH)]
    # The window's papers, each read once and shared by every ranking that holds it, as
    # the local engine's are: the sync keeps the subscribers' rankings until it sends.
    papers: dict[int, Paper] = {}
    with actor_pool(address, _Ranking, reachable(store.location), settings) as pool:
        for ranked, _ in pool.map(
            lambda a, names: a.rank.remote(names, day, since, limit), batches
        ):
            ids = {pid for _, recs in ranked if not isinstance(recs, str) for pid, _, _ in recs}
            papers.update((p.id, p) for p in store.papers(sorted(ids - papers.keys())))
            for name, recs in ranked:
                yield name, from_ids(recs, papers)
