"""The web app: ``create_app(settings)`` builds it; pages, API and feeds are routers over one
set of services (store, search, recommender) shared with the CLI's library code.

Errors from the library become HTTP statuses here and nowhere else: NotFound 404,
Forbidden 403, InputError 400.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.to_thread
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from paperfeed import __version__
from paperfeed.embed import Embedder, load_embedder
from paperfeed.embed.index import embed_store
from paperfeed.errors import Forbidden, InputError, NotFound, PaperfeedError
from paperfeed.models import Profile, User
from paperfeed.recommend.authors import Identity, author_identities
from paperfeed.recommend.service import Recommender
from paperfeed.search.engine import MODES, Mode, Searcher
from paperfeed.store import Store, open_store
from paperfeed.web.accounts import RateLimiter, hash_token

log = logging.getLogger("paperfeed.web")
HERE = Path(__file__).parent
SESSION_COOKIE = "pf_session"
#: Worker threads for request handlers.
THREADS = 4


@dataclass
class Status:
    """What the background work is doing, shown on every page while it runs."""

    warming: bool = False  # the ranking's vocabulary is being fitted in the background
    embedding: str = ""
    embedded: int = 0
    to_embed: int = 0
    ranking_ready: bool = False
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "warming": self.warming,
            "embedding": self.embedding,
            "embedded": self.embedded,
            "to_embed": self.to_embed,
            "ranking_ready": self.ranking_ready,
            "errors": self.errors,
        }


class Services:
    """The library objects a web process holds for its lifetime."""

    def __init__(self, settings: dict[str, Any], store: Store | None = None) -> None:
        self.settings = settings
        self.store = store or open_store(settings["db"])
        self._embedder: Embedder | None = None
        self._searcher: Searcher | None = None
        self._recommender: Recommender | None = None
        self.status = Status()
        self.sign_in_limit = RateLimiter(limit=5, window=60.0)
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
        return cast(Mode, mode), ""

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

    def scheduler(self, every: float = 900.0) -> threading.Thread:
        """Send due digests from ``digest_hour`` (UTC) on, checking every ``every`` seconds;
        sending is idempotent, so checking often never sends twice."""
        from paperfeed.digest import send_digests

        def loop() -> None:
            while not self.stopping.wait(0 if self._first_check else every):
                self._first_check = False
                if datetime.now(UTC).hour < int(self.settings["digest_hour"]):
                    continue
                try:
                    for report in send_digests(self.store, self.recommender, self.settings):
                        if report.status in ("sent", "failed"):
                            log.info("digest %s", report.to_dict())
                except PaperfeedError as e:
                    log.error("digests failed: %s", e)

        thread = threading.Thread(target=loop, name="paperfeed-digests", daemon=True)
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


def secret_key(settings: dict[str, Any]) -> str:
    """The configured key, or one made once and kept beside the database (mode 0600)."""
    if settings.get("secret_key"):
        return str(settings["secret_key"])
    if settings["db"] in ("", ":memory:"):
        return secrets.token_urlsafe(32)
    path = Path(f"{settings['db']}.secret")
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


templates = Jinja2Templates(directory=str(HERE / "templates"))

SECURITY_HEADERS = {
    # KaTeX sets inline styles on the math it renders; no inline or foreign script runs.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response (plain ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    settings: dict[str, Any],
    background: bool = False,
    embed: bool = True,
    schedule_digests: bool = False,
) -> FastAPI:
    """The web app over the store the settings name. With ``background``, the ranking
    vocabulary is fitted (and, with ``embed``, missing vectors embedded) in a thread after
    start; with ``schedule_digests``, due digests are sent from the server."""
    settings = dict(settings, secret_key=secret_key(settings))
    services = Services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Page handlers are Python-bound: past a few threads they only fight over the GIL
        # (50 concurrent clients on 40 threads served a third of what 4 threads serve).
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        if background:
            services.background(embed=embed)
        if schedule_digests:
            services.scheduler()
        yield
        services.stopping.set()
        services.store.close()

    app = FastAPI(
        title="paperfeed",
        version=__version__,
        description="Research papers ranked for you: search, feeds, similar papers, digests.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.services = services
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    from paperfeed.web import api, feeds, pages

    app.include_router(api.router)
    app.include_router(feeds.router)
    app.include_router(pages.router)

    app.add_middleware(SecurityHeaders)

    def error(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith(("/api/", "/feeds/")):
            return JSONResponse({"error": message}, status_code=status)
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": status, "message": message, **pages.base_context(request)},
            status_code=status,
        )

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return error(request, 404, str(exc))

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return error(request, 403, str(exc))

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> Response:
        return error(request, 400, str(exc))

    @app.exception_handler(404)
    async def no_route(request: Request, exc: Exception) -> Response:
        return error(request, 404, "no such page")

    return app


def services_of(request: Request) -> Services:
    return request.app.state.services


__all__ = ["HTMLResponse", "Services", "create_app", "services_of", "templates"]
