"""The web app: ``create_app(settings)`` builds it; pages, API and feeds are routers over one
set of services (store, search, recommender) shared with the CLI's library code.

Errors from the library become HTTP statuses here and nowhere else: NotFound 404,
Forbidden 403, InputError 400.
"""

from __future__ import annotations

import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from paperfeed import __version__
from paperfeed.errors import Forbidden, InputError, NotFound, StoreBusy
from paperfeed.store import open_store
from paperfeed.web.services import Services, templates

log = logging.getLogger("paperfeed.web")
HERE = Path(__file__).parent
#: Worker threads for request handlers.
THREADS = 4


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
    schedule_sync: bool = False,
) -> FastAPI:
    """The web app over the store the settings name. With ``background``, the ranking
    vocabulary is fitted (and, with ``embed``, missing vectors embedded) in a thread after
    start; with ``schedule_sync``, the daily sync runs from the server (and sends the
    digests), else with ``schedule_digests`` due digests are sent from it."""
    store = open_store(settings["db"])
    settings = dict(settings, secret_key=settings.get("secret_key") or store.secret_key())
    services = Services(settings, store)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Page handlers are Python-bound: past a few threads they only fight over the GIL
        # (50 concurrent clients on 40 threads served a third of what 4 threads serve).
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        if background:
            services.background(embed=embed)
        if schedule_sync or schedule_digests:
            services.scheduler(sync=schedule_sync, digests=schedule_digests)
        yield
        services.stopping.set()
        services.store.close()

    app = FastAPI(
        title="paperfeed",
        version=__version__,
        description="Research papers ranked for you: search, feeds, similar papers, digests.",
        docs_url=None,  # served below from files in the package: no CDN, and under the CSP
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.services = services
    app.mount(
        "/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger"
    )  # mounted before /static, which would take its paths
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/api/docs", include_in_schema=False)
    def api_docs(request: Request) -> Response:
        return templates.TemplateResponse(request, "api_docs.html")

    from paperfeed.web import api, feeds, library, pages, render, venues

    app.include_router(api.router)
    app.include_router(feeds.router)
    app.include_router(pages.router)
    app.include_router(library.router)
    app.include_router(venues.router)
    app.include_router(venues.api)

    app.add_middleware(SecurityHeaders)

    def error(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith(("/api/", "/feeds/")):
            return JSONResponse({"error": message}, status_code=status)
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": status, "message": message, **render.base_context(request)},
            status_code=status,
        )

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return error(request, 404, str(exc))

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return error(request, 403, str(exc))

    @app.exception_handler(StoreBusy)
    async def busy(request: Request, exc: StoreBusy) -> Response:
        response = error(request, 503, "the store is busy with a long write: try again shortly")
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> Response:
        return error(request, 400, str(exc))

    @app.exception_handler(404)
    async def no_route(request: Request, exc: Exception) -> Response:
        return error(request, 404, "no such page")

    return app


#: Where ``paperfeed serve --workers N`` hands its worker processes what to serve.
SERVE_ENV = "PAPERFEED_SERVE"


def app_from_env() -> FastAPI:
    """The app a worker process of ``paperfeed serve --workers N`` serves: the settings and
    options the command was given, passed as JSON in :data:`SERVE_ENV`."""
    given = orjson.loads(os.environ[SERVE_ENV])
    return create_app(given["settings"], **given["options"])
