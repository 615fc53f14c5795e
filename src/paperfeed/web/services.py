"""What the web app's routers share: the services a web process holds for its lifetime
(store, search, recommender, background work), the templates, and the reading of a request
(who is asking, which window of days it asks for). Routers import this, never the app."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.templating import Jinja2Templates

from paperfeed import profiles
from paperfeed.embed import Embedder, load_embedder
from paperfeed.embed.index import embed_store
from paperfeed.errors import Forbidden, InputError, NotFound, PaperfeedError
from paperfeed.models import Paper, Profile, SearchFilters, User
from paperfeed.normalize import check_day
from paperfeed.recommend.authors import Identity, author_identities
from paperfeed.recommend.lexical import LexicalModel
from paperfeed.recommend.service import LRU, Recommender
from paperfeed.search.engine import MODES, Mode, Searcher
from paperfeed.signing import hash_token
from paperfeed.store import Store, open_store
from paperfeed.web.accounts import RateLimiter

log = logging.getLogger("paperfeed.web")
HERE = Path(__file__).parent
SESSION_COOKIE = "pf_session"
#: Windows of days a listing page or API call can ask for.
PERIODS = {"day": 1, "week": 7, "month": 30}


@dataclass
class Status:
    """What the background work is doing, shown on every page while it runs."""

    warming: bool = False  # the ranking's vocabulary is being fitted in the background
    embedding: str = ""
    embedded: int = 0
    to_embed: int = 0
    ranking_ready: bool = False
    synced: str = ""  # how current the store is (the daily sync)
    errors: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Changes whenever what a page shows of the background work changes."""
        return repr(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "warming": self.warming,
            "embedding": self.embedding,
            "embedded": self.embedded,
            "to_embed": self.to_embed,
            "ranking_ready": self.ranking_ready,
            "synced": self.synced,
            "errors": self.errors,
        }


class PageCache:
    """Rendered pages that are the same for every visitor, each kept ``ttl`` seconds (a vote
    shows on them after at most that long), at most ``size`` of them."""

    def __init__(self, ttl: float = 30.0, size: int = 256) -> None:
        self.ttl = ttl
        self._pages = LRU(size)  # key: (expiry, body)

    def get(self, key: Any) -> bytes | None:
        found = self._pages.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return bytes(found[1])

    def put(self, key: Any, body: bytes) -> None:
        self._pages[key] = (time.monotonic() + self.ttl, body)


class Services:
    """The library objects a web process holds for its lifetime."""

    def __init__(self, settings: dict[str, Any], store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or open_store(settings["db"])
        self._embedder: Embedder | None = None
        self._searcher: Searcher | None = None
        self._recommender: Recommender | None = None
        self.status = Status()
        self.pages = PageCache()
        self.sign_in_limit = RateLimiter(limit=5, window=60.0)  # per client and name
        self.client_sign_in_limit = RateLimiter(limit=30, window=60.0)  # per client
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._semantic = False
        self._first_check = True

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = load_embedder(self.settings)
            return self._embedder

    @property
    def searcher(self) -> Searcher:
        if self._searcher is None:
            self._searcher = Searcher(self.store, self.embedder)
        return self._searcher

    @property
    def recommender(self) -> Recommender:
        if self._recommender is None:
            self._recommender = Recommender(self.store, self.embedder)
        return self._recommender

    def semantic_ready(self) -> bool:
        """Semantic search needs vectors; until the first are stored, search is keyword-only
        (once there are some, there always are: the answer is kept)."""
        if not self._semantic:
            self._semantic = bool(self.store.stats()["embedded"].get(self.embedder.name))
        return self._semantic

    def search_mode(self, mode: str) -> tuple[Mode, str]:
        """The mode a search can run in now, and why it differs from the one asked."""
        if mode not in MODES:
            raise InputError(f"unknown search mode {mode!r}: use one of {', '.join(MODES)}")
        if mode != "keyword" and not self.semantic_ready():
            return "keyword", "Semantic search starts once the first papers are embedded."
        return self.searcher.usable_mode(mode)

    def background(self, embed: bool = True) -> threading.Thread:
        """Fit the ranking's vocabulary, then embed what is missing, in a daemon thread."""

        self.status.warming = True

        def work() -> None:
            try:
                self.recommender.warm()
                # The vocabularies are millions of long-lived objects: out of the collector's
                # sight, a full collection no longer pauses every request for ~100 ms.
                gc.freeze()
                self.status.warming = False
                self.status.ranking_ready = True
                for profile in self.store.profiles_of(None):  # the shared feeds, ready to read
                    try:
                        self.recommender.recommend(profile.name)
                    except InputError:  # a shared profile with nothing to rank by yet
                        continue
                if embed:
                    self.status.embedding = "running"

                    def progress(done: int, total: int) -> None:
                        self.status.embedded, self.status.to_embed = done, total

                    embed_store(self.store, self.embedder, progress=progress)
                    self.searcher.reload()
                    self.status.embedding = "indexing"
                    self.searcher.reload(build_ann=True)
                    self.status.embedding = "done"
            except PaperfeedError as e:  # shown on the status line, not lost in a thread
                self.status.errors.append(str(e))
                log.error("background work failed: %s", e)

        thread = threading.Thread(target=work, name="paperfeed-background", daemon=True)
        thread.start()
        return thread

    def scheduler(
        self, every: float = 900.0, sync: bool = True, digests: bool = True
    ) -> threading.Thread:
        """Every ``every`` seconds: with ``sync``, run the daily sync when it is due (with
        ``digests``, its last step sends them); without, send due digests from
        ``digest_hour`` (UTC) on. Both are idempotent: checking often never sends twice."""
        from paperfeed.digest import send_digests
        from paperfeed.sync import STEPS, Sync, SyncBusy, due, summary

        steps = STEPS if digests else tuple(s for s in STEPS if s != "send")
        self.status.synced = summary(self.store)

        def loop() -> None:
            while not self.stopping.wait(0 if self._first_check else every):
                self._first_check = False
                try:
                    if sync:
                        if due(self.store, self.settings):
                            Sync(self.store, self.settings, recommender=self.recommender).run(steps)
                            self.searcher.reload(build_ann=True)  # the new papers' vectors
                            self.status.synced = summary(self.store)
                        continue
                    if datetime.now(UTC).hour < int(self.settings["digest_hour"]):
                        continue
                    for report in send_digests(self.store, self.recommender, self.settings):
                        if report.status in ("sent", "failed"):
                            log.info("digest %s", report.to_dict())
                except SyncBusy as e:
                    log.info("%s", e)
                except PaperfeedError as e:
                    log.error("the scheduled %s failed: %s", "sync" if sync else "digests", e)

        thread = threading.Thread(target=loop, name="paperfeed-schedule", daemon=True)
        thread.start()
        return thread

    def ranking_ready(self) -> None:
        """Raise 503 while the background fit of the ranking's vocabulary runs (minutes on a
        new store), rather than hold a request that long."""
        if self.status.warming:
            raise HTTPException(
                503,
                "the ranking is warming up (fitting its vocabulary): try again in a minute",
                headers={"Retry-After": "60"},
            )

    def vocabulary(self) -> LexicalModel:
        """The ranking's fitted vocabulary (its rare terms), which reviewer matching scores
        with: 503 while the background fit runs; fitted now when it has not run (call it in
        a worker thread)."""
        self.ranking_ready()
        self.recommender.warm()
        if self.recommender.lexical is None:  # warm() fits it or fails with a reason
            raise InputError("the ranking's vocabulary is not ready")
        return self.recommender.lexical

    def identities(self, name: str) -> list[Identity]:
        """The people who signed ``name``, told apart with embeddings once there are any."""
        index = self.searcher.index if self.semantic_ready() else None
        return author_identities(self.store, name, index)

    # -- who is asking, and what they may touch -------------------------------------------

    def user_of(self, request: Request) -> tuple[User, str] | None:
        token = request.cookies.get(SESSION_COOKIE)
        return self.store.session(hash_token(token)) if token else None

    def readable(self, profile: Profile, user: User | None) -> bool:
        return profile.owner_id is None or (user is not None and profile.owner_id == user.id)

    def owned(self, name: str, user: User | None) -> Profile:
        """The profile, if ``user`` owns it; Forbidden (or NotFound) otherwise."""
        profile = self.store.profile(name)
        if user is None or profile.owner_id != user.id:
            raise Forbidden("that profile is not yours")
        return profile

    def visible(self, name: str, user: User | None) -> Profile:
        profile = self.store.profile(name)
        if not self.readable(profile, user):
            # the same answer as a missing profile: names of others' profiles stay private
            raise NotFound(f"no profile called {name!r}")
        return profile


templates = Jinja2Templates(directory=str(HERE / "templates"))


def services_of(request: Request) -> Services:
    return request.app.state.services


def _session(request: Request) -> tuple[User, str] | None:
    if not hasattr(request.state, "session"):
        request.state.session = services_of(request).user_of(request)
    return request.state.session


def current_user(request: Request) -> User | None:
    found = _session(request)
    return found[0] if found else None


def window(
    day: str | None, period: str, category: str | None, services: Services
) -> tuple[str, SearchFilters]:
    """The last day asked for (default: the store's latest) and the filters of the
    ``period`` ending on it."""
    last = check_day(day) or services.store.latest_day() or date.today().isoformat()
    try:
        first = date.fromisoformat(last) - timedelta(days=PERIODS.get(period, 1) - 1)
    except (ValueError, OverflowError) as e:
        raise InputError(f"no {period} ends on {last!r}") from e
    categories = (category,) if category else ()
    return last, SearchFilters(since=first.isoformat(), until=last, categories=categories)


def rate(services: Services, user: User | None, profile: str, ref: str, signal: str) -> Paper:
    """Record a rating for a profile the user owns."""
    return profiles.rate(services.store, services.owned(profile, user), ref, signal)


def people(services: Services, filters: SearchFilters, name: str, kind: str) -> dict[str, Any]:
    """An author's or organization's papers (``total``, the latest 200 loaded) with
    :func:`about` them; NotFound when there are none. The page and the API show this."""
    ids = [int(i) for i in services.store.filter_ids(filters)][::-1]
    if not ids:
        raise NotFound(f"no {kind} called {name!r}")
    return {"total": len(ids), **about(services.store.papers(ids[:200]), name)}


def about(papers: list[Paper], name: str) -> dict[str, Any]:
    """Topics (categories) and the most frequent co-authors of a set of papers."""
    topics = Counter(c for p in papers for c in p.categories).most_common(8)
    people = Counter(
        a.name for p in papers for a in p.authors if a.name.casefold() != name.casefold()
    ).most_common(12)
    orgs = Counter(aff for p in papers for a in p.authors for aff in a.affiliations)
    return {"papers": papers, "topics": topics, "coauthors": people, "orgs": orgs.most_common(8)}


def base_url(request: Request) -> str:
    """Where links in feeds and pages point: the configured address, else the one this
    request came to (so an instance on another host or port links to itself)."""
    configured = str(services_of(request).settings.get("base_url") or "")
    return (configured or str(request.base_url)).rstrip("/")
