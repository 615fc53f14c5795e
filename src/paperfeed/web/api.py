"""The JSON API: the twin of every page, documented at ``/openapi.json``.

Reads of shared things (papers, search, shared profiles' feeds) need no account. Writes need
a session cookie and the session's CSRF secret in the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, Field

from paperfeed.errors import Forbidden, InputError
from paperfeed.models import SearchFilters, User
from paperfeed.recommend.trending import trending
from paperfeed.search.engine import Mode
from paperfeed.signing import tokens_match
from paperfeed.web.services import PERIODS, current_user, people, rate, services_of, window

router = APIRouter(prefix="/api", tags=["api"])


class Rating(BaseModel):
    profile: str = Field(description="A profile you own, e.g. alice/library")
    paper: str = Field(description="Any id of the paper: arXiv id, DOI, s2:..., pf:N")
    signal: Literal["up", "save", "down", "hide"]


class HitOut(BaseModel):
    id: str
    title: str = Field(description="The title, or the abstract's first sentence, marked")
    snippet: str = Field("", description="The abstract's opening")
    score: float
    authors: list[str] = Field([], description="The first authors, in order")
    more_authors: int = Field(0, description="Authors after those listed")
    listed: str | None = None
    categories: list[str] = []


class FeedItem(HitOut):
    why: list[str]
    urls: dict[str, str] = Field({}, description="Abstract page, PDF, code, DOI")


@router.get("/status")
def status(request: Request) -> dict[str, Any]:
    """What the store holds, what background work (embedding) is doing, and the daily
    sync: each step's last outcome, the watermarks, the next scheduled run."""
    from paperfeed.sync import status as sync_status

    services = services_of(request)
    return {
        "store": services.store.stats(),
        "background": services.status.to_dict(),
        "sync": sync_status(services.store, services.settings),
    }


@router.get("/papers/{ref:path}/similar", response_model=list[HitOut])
def similar(request: Request, ref: str, limit: int = Query(20, ge=1, le=100)) -> Any:
    """Papers like this one, by their embeddings."""
    services = services_of(request)
    if not services.semantic_ready():
        raise InputError("similar papers need embeddings: they are still being computed")
    return [h.to_dict() for h in services.searcher.similar(ref, limit=limit)]


@router.get("/papers/{ref:path}")
def paper(request: Request, ref: str) -> dict[str, Any]:
    """One paper by any of its ids, with everything stored about it."""
    services = services_of(request)
    p = services.store.get_paper(ref)
    return {**p.to_dict(), "votes": services.store.votes([p.id]).get(p.id, 0)}


@router.get("/search", response_model=list[HitOut])
def search(
    request: Request,
    q: str = Query(..., min_length=1, description="Free text; operators are plain words"),
    mode: Mode = "hybrid",
    since: str | None = None,
    until: str | None = None,
    category: Annotated[list[str] | None, Query()] = None,
    author: str | None = None,
    organization: str | None = None,
    limit: int = Query(20, ge=1, le=100),
) -> Any:
    """Keyword (BM25), semantic (embeddings) or hybrid (rank fusion) search."""
    services = services_of(request)
    runs, _ = services.search_mode(mode)
    filters = SearchFilters(since, until, tuple(category or ()), author, organization)
    # the same for everyone who asks: kept a while (a query shared in a link is asked often)
    key = ("search", q, runs, filters, limit, services.store.paper_count(), services.status.key)
    body = services.pages.get(key)
    if body is None:
        body = orjson.dumps(
            [h.to_dict() for h in services.searcher.search(q, runs, filters, limit)]
        )
        services.pages.put(key, body)
    return Response(body, media_type="application/json")


@router.get("/feed", response_model=list[FeedItem])
async def feed(
    request: Request,
    profile: str,
    day: str | None = Query(None, description="YYYY-MM-DD [the latest listing day]"),
    since: str | None = None,
    limit: int = Query(50, ge=1, le=500),
) -> Any:
    """A day's new papers ranked for a profile (yours, or a shared one), each with why."""
    services = services_of(request)
    # A current cached ranking costs a few indexed reads: answered on the event loop. A
    # ranking to compute goes to a worker thread, so it never holds up other requests.
    chosen = services.visible(profile, current_user(request))
    services.ranking_ready()
    recs = services.recommender.cached(chosen.name, day, since, limit)
    if recs is None:
        recs = await run_in_threadpool(
            services.recommender.recommend, chosen.name, day, since, limit
        )
    return Response(orjson.dumps([r.to_dict() for r in recs]), media_type="application/json")


@router.get("/teach", response_model=list[FeedItem])
def teach(request: Request, profile: str, k: int = Query(3, ge=1, le=20)) -> Any:
    """The papers whose rating would teach a profile's feed most (its model is least sure)."""
    services = services_of(request)
    chosen = services.visible(profile, current_user(request))
    services.ranking_ready()
    return [r.to_dict() for r in services.recommender.to_rate(chosen.name, k)]


def _signed_in(request: Request, x_csrf_token: str | None) -> User:
    """The signed-in user of a write through the API, which must carry the session's CSRF
    token in its ``X-CSRF-Token`` header."""
    session = services_of(request).user_of(request)
    if session is None:
        raise Forbidden("sign in first")
    if not tokens_match(session[1], x_csrf_token):
        raise Forbidden("missing or wrong X-CSRF-Token header")
    return session[0]


@router.post("/rate")
def rate_paper(
    request: Request,
    rating: Rating,
    x_csrf_token: str | None = Header(None),
) -> dict[str, Any]:
    """Rate a paper for one of your profiles; the next feed reflects it."""
    services = services_of(request)
    user = _signed_in(request, x_csrf_token)
    p = rate(services, user, rating.profile, rating.paper, rating.signal)
    return {"profile": rating.profile, "paper": p.ref, "signal": rating.signal}


@router.get("/trending")
def trending_papers(
    request: Request,
    day: str | None = None,
    period: Literal["day", "week", "month"] = "day",
    category: str | None = None,
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """The period's papers by votes and saves, older votes counting less."""
    services = services_of(request)
    last, filters = window(day, period, category, services)
    trends, total = trending(services.store, filters, limit)
    return {
        "day": last,
        "period": period,
        "days": PERIODS[period],
        "total": total,
        "papers": [
            {"id": t.paper.ref, "title": t.paper.display_title, "votes": t.votes, "score": t.score}
            for t in trends
        ],
    }


def _people(request: Request, filters: SearchFilters, name: str, kind: str) -> dict[str, Any]:
    about = people(services_of(request), filters, name, kind)
    return {
        "name": name,
        "papers": about["total"],
        "recent": [
            {"id": p.ref, "title": p.display_title, "listed": p.listed} for p in about["papers"]
        ],
        "topics": dict(about["topics"]),
        "coauthors": dict(about["coauthors"]),
        "organizations": dict(about["orgs"]),
    }


@router.get("/authors/{name:path}")
def author(request: Request, name: str) -> dict[str, Any]:
    """An author's papers, topics and most frequent co-authors."""
    return _people(request, SearchFilters(author=name), name, "author")


@router.get("/orgs/{name:path}")
def organization(request: Request, name: str) -> dict[str, Any]:
    """An organization's papers, topics and most frequent authors."""
    return _people(request, SearchFilters(organization=name), name, "organization")


@router.get("/profiles")
def profiles(request: Request) -> dict[str, Any]:
    """Your profiles and the shared ones."""
    services = services_of(request)
    user = current_user(request)
    mine = services.store.profiles_of(user.id) if user else []
    return {
        "mine": [{"name": p.name, "kind": p.kind, "papers": p.papers} for p in mine],
        "shared": [
            {"name": p.name, "kind": p.kind, "papers": p.papers}
            for p in services.store.profiles_of(None)
        ],
    }


@router.get("/profiles/{name:path}")
def profile(request: Request, name: str) -> dict[str, Any]:
    """A profile (yours, or a shared one): its papers with their marks, and its rules."""
    services = services_of(request)
    chosen = services.visible(name, current_user(request))
    marks = services.store.profile_relations(chosen.name)
    papers = services.store.papers(sorted(marks))
    return {
        "name": chosen.name,
        "kind": chosen.kind,
        "description": chosen.description,
        "papers": [{"id": p.ref, "title": p.display_title, "mark": marks[p.id]} for p in papers],
        "rules": [{"kind": r.kind, "value": r.value} for r in services.store.rules(chosen.name)],
    }


@router.get("/topics")
def topics(request: Request, day: str | None = None) -> dict[str, Any]:
    """The month's papers in clusters, each labelled by its most telling terms."""
    from paperfeed.search.topics import topic_map

    services = services_of(request)
    if not services.semantic_ready():
        raise InputError("the topic map needs embeddings: they are still being computed")
    _, filters = window(day, "month", None, services)
    return topic_map(services.store, services.embedder.name, filters).to_dict()


#: The most a submissions or reviewers file sent to ``/api/assign`` may hold.
MAX_MATCH_UPLOAD = 50 * 2**20


async def _upload(file: UploadFile, what: str) -> tuple[bytes, str]:
    """An uploaded file's bytes and a name for errors (its own, never a server path)."""
    data = await file.read(MAX_MATCH_UPLOAD + 1)
    name = Path(file.filename or "").name
    if name in ("", ".", "..") or not name.isprintable():
        name = what
    if len(data) > MAX_MATCH_UPLOAD:
        raise InputError(f"{name}: over {MAX_MATCH_UPLOAD // 2**20} MB")
    return data, name


@router.post("/assign")
async def assign_reviewers(
    request: Request,
    submissions: Annotated[UploadFile, File(description="Any format paperfeed reads")],
    reviewers: Annotated[UploadFile, File(description="CSV: name, email, institution, ...")],
    k: Annotated[int, Form(ge=1, le=20)] = 3,
    max_load: Annotated[int, Form(ge=1, le=1000)] = 6,
    fair: Annotated[bool, Form()] = False,
    conflict_years: Annotated[int, Form(ge=0, le=50)] = 3,
    x_csrf_token: str | None = Header(None),
) -> dict[str, Any]:
    """Reviewers for a conference's submissions by expertise, never a conflicted one
    (``paperfeed assign``): the edges, the conflicts left out with their reasons, a summary.
    The submissions are read, not stored. 400 says which papers or capacity block it."""
    from paperfeed.match.inputs import read_submissions, reviewers_from
    from paperfeed.match.venue import match

    services = services_of(request)
    _signed_in(request, x_csrf_token)
    papers, ids, emails = read_submissions(*await _upload(submissions, "submissions"))
    pool = reviewers_from(*await _upload(reviewers, "reviewers"))
    lexical = await run_in_threadpool(services.vocabulary)
    result = await run_in_threadpool(
        partial(match, emails=emails),
        services.store,
        services.embedder,
        lexical,
        papers,
        ids,
        pool,
        k,
        max_load,
        fair,
        conflict_years,
    )
    found = result.to_dict()
    if found["problems"]:
        raise InputError("cannot assign: " + "; ".join(found["problems"]))
    return {key: value for key, value in found.items() if key != "problems"}
