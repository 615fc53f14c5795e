"""The recommender as a long-running process keeps it: one lexical model, bounded caches of
rankings, listings and profile states, and forked workers for the daily job."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Any

from paperfeed.embed.model import Embedder
from paperfeed.errors import InputError
from paperfeed.models import Paper, SearchFilters
from paperfeed.recommend.feed import listing_of, recommend, to_rate
from paperfeed.recommend.lexical import LexicalModel
from paperfeed.recommend.rank import Recommendation
from paperfeed.store import Store


class LRU(MutableMapping[Any, Any]):
    """A thread-safe mapping that forgets its least recently used entries past ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __getitem__(self, key: Any) -> Any:
        with self._lock:
            self._data.move_to_end(key)
            return self._data[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __delitem__(self, key: Any) -> None:
        with self._lock:
            del self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)


class Recommender:
    """``recommend`` for a long-running process: the lexical model loaded once, each
    ranking cached until the profile, its rules or the day's papers change (so a rating
    shows in the very next request, and repeated requests cost a dictionary lookup), and
    the parts that outlive a ranking (a day's prepared papers, a profile's fitted model)
    kept for the next one."""

    CACHED = 512
    #: Prepared listings (a day's: ~30 MB with its background products) and profiles (their
    #: papers and fitted model: see bench/bench_recommend.py for their size) kept.
    PARTS = 1024

    def __init__(self, store: Store, embedder: Embedder, lexical: LexicalModel | None = None):
        self.store = store
        self.embedder = embedder
        self.lexical = lexical
        self._cache = LRU(self.CACHED)  # rankings, by what they depend on
        self._parts = LRU(self.PARTS)
        self._warming = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.lexical is not None

    def warm(self) -> None:
        """Load (or fit) the lexical model: minutes for a large store the first time."""
        with self._warming:  # one fit, however many requests arrive meanwhile
            if self.lexical is None:
                self.lexical = LexicalModel.for_store(self.store)
                self.lexical.names  # noqa: B018 (built now rather than on a request)

    def _state(
        self, profile: str, day: str | None, since: str | None, limit: int
    ) -> tuple[Any, ...]:
        """What a ranking depends on: change any of it and the cached ranking is not used."""
        day = day or (None if since else self.store.latest_day())
        return (
            profile,
            day,
            since,
            limit,
            tuple(sorted(self.store.profile_relations(profile).items())),
            tuple(self.store.rules(profile)),
            self.store.profile(profile).description,
            self.store.paper_count(),
        )

    def to_rate(self, profile: str, k: int = 3) -> list[Recommendation]:
        """:func:`to_rate` with this process's models and prepared listings, kept like a
        ranking until the profile or the store changes (a feed page asks on every view)."""
        self.warm()
        state = ("to rate", *self._state(profile, None, None, k))
        found = self._lookup(state)
        if found is not None:
            return found
        asked = to_rate(self.store, profile, self.embedder, self.lexical, self._parts, k)
        self._keep(state, asked)
        return asked

    def cached(
        self, profile: str, day: str | None = None, since: str | None = None, limit: int = 50
    ) -> list[Recommendation] | None:
        """The ranking if it is cached and still current (a few indexed reads), else None."""
        return self._lookup(self._state(profile, day, since, limit))

    def _lookup(self, state: tuple[Any, ...]) -> list[Recommendation] | None:
        found: list[Recommendation] | None = self._cache.get(state)
        return found

    def recommend(
        self, profile: str, day: str | None = None, since: str | None = None, limit: int = 50
    ) -> list[Recommendation]:
        self.warm()
        state = self._state(profile, day, since, limit)
        found = self._lookup(state)
        if found is not None:
            return found
        recs = recommend(
            self.store, profile, self.embedder, state[1], since, limit, self.lexical, self._parts
        )
        self._keep(state, recs)
        return recs

    def _keep(self, state: tuple[Any, ...], recs: list[Recommendation]) -> None:
        self._cache[state] = recs

    def recommend_many(
        self,
        profiles: list[str],
        day: str | None = None,
        since: str | None = None,
        limit: int = 50,
        workers: int = 1,
    ) -> Iterator[tuple[str, list[Recommendation] | InputError]]:
        """Every profile's ranking of one window, in order: the daily job behind digests.

        The window's papers are prepared once here (their products with the background
        sample included); with ``workers`` > 1, forked processes share them and rank the
        profiles between them, each with its own store connection. A profile that cannot be
        ranked (no papers yet) yields its :class:`InputError`."""
        self.warm()
        if workers <= 1 or len(profiles) < 2 * workers or not _can_fork():
            with _one_blas_thread():
                for name in profiles:
                    try:
                        recs = self.recommend(name, day, since, limit)
                    except InputError as e:
                        yield name, e
                    else:
                        yield name, recs
            return
        day = day or (None if since else self.store.latest_day())
        window = SearchFilters(since=since or day, until=day)
        assert self.lexical is not None
        listing = listing_of(self.store, self.embedder, self.lexical, window, self._parts)
        listing.kept_background(self.lexical)  # computed before the fork, shared by the workers
        listing.centred()
        by_id = {p.id: p for p in listing.papers}
        global _FORKED
        _FORKED = (self.store.location, self.embedder, self.lexical, dict(self._parts.items()))
        import multiprocessing

        try:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                jobs = [(name, day, since, limit) for name in profiles]
                for name, ranked in pool.imap(_rank_in_worker, jobs, chunksize=16):
                    yield name, from_ids(ranked, by_id)
        finally:
            _FORKED = None


#: What forked ranking workers inherit: the store's location, the embedder, the lexical
#: model and the prepared parts (set just before the fork, cleared after).
_FORKED: tuple[str, Embedder, LexicalModel, dict[Any, Any]] | None = None
_WORKER: Recommender | None = None


#: A profile's ranking as another process sends it back: ``(paper id, score, reasons)``
#: best first, or the reason it could not be ranked.
Ranked = list[tuple[int, float, list[str]]] | str


def as_ids(
    recommender: Recommender, name: str, day: str | None, since: str | None, limit: int
) -> Ranked:
    """``name``'s ranking with papers as ids (the process that asked has the papers)."""
    try:
        recs = recommender.recommend(name, day, since, limit)
    except InputError as e:
        return str(e)
    return [(r.paper.id, r.score, r.why) for r in recs]


def from_ids(ranked: Ranked, papers: dict[int, Paper]) -> list[Recommendation] | InputError:
    """A ranking sent back by :func:`as_ids`, with its papers again."""
    if isinstance(ranked, str):
        return InputError(ranked)
    return [Recommendation(papers[pid], score, why) for pid, score, why in ranked]


def _one_blas_thread() -> Any:
    """Numpy's BLAS on one thread (a context manager, or for good if not used as one): a
    ranking's products are small, and BLAS threads spinning between them take the CPU that
    other rankings need."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _rank_in_worker(job: tuple[str, str | None, str | None, int]) -> tuple[str, Ranked]:
    """Rank one profile in a forked worker; the papers go back as ids (the parent has them)."""
    global _WORKER
    if _WORKER is None:
        from paperfeed.store import open_store

        assert _FORKED is not None
        location, embedder, lexical, parts = _FORKED
        forked = getattr(embedder, "forked", None)  # its thread pool stayed in the parent
        _WORKER = Recommender(open_store(location), forked() if forked else embedder, lexical)
        _one_blas_thread()  # for the worker's life: two workers x two BLAS threads thrash
        _WORKER._parts.size = max(_WORKER._parts.size, len(parts) + Recommender.PARTS)
        for key, value in parts.items():
            _WORKER._parts[key] = value
    name, day, since, limit = job
    return name, as_ids(_WORKER, name, day, since, limit)
