"""A venue's pages: the chair's (the assignment, each pair's reason, the conflicts left out,
the weakest papers; run the assignment again) and each reviewer's private page, opened by
the link ``paperfeed venue links`` prints, where they see and fix the papers that stand for
their expertise."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from paperfeed.errors import Forbidden, InputError, NotFound
from paperfeed.match.kept import assign_venue, choose_papers, identities_of, settings_of
from paperfeed.models import User, Venue
from paperfeed.store import Store
from paperfeed.web.render import back, check_csrf, render, require_user
from paperfeed.web.services import base_url, services_of

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["api"])


def _chairs(request: Request, name: str) -> tuple[User, Venue]:
    """The signed-in user and their venue ``name`` (another's venue is not found)."""
    user = require_user(request)
    store = services_of(request).store
    try:
        venue = store.venue(name)
    except NotFound:
        venue = None
    if venue is None or venue.owner_id != user.id:
        raise NotFound(f"you have no venue called {name!r}")
    return user, venue


def _titles(store: Store, venue: Venue) -> dict[str, str]:
    """Each submission's title by its id (their vectors are not read)."""
    return {sid: doc["title"] for sid, doc, _, _ in store.venue_submissions(venue.id, False)}


@router.get("/venues", response_class=HTMLResponse)
def venues_page(request: Request) -> Response:
    user = require_user(request)
    return render(request, "venues.html", venues=services_of(request).store.venues(user.id))


#: Submissions a page of the chair's assignment table shows.
PER_PAGE = 200


@router.get("/venues/{name}", response_class=HTMLResponse)
def venue_page(
    request: Request,
    name: str,
    message: str = "",
    error: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    _, venue = _chairs(request, name)
    store = services_of(request).store
    by_submission: dict[str, list[tuple[str, float, str]]] = {}
    for sid, reviewer, affinity, why in store.venue_assignment(venue.id):
        by_submission.setdefault(sid, []).append((reviewer, affinity, why))
    shown = list(by_submission.items())[(page - 1) * PER_PAGE : page * PER_PAGE]
    titles = _titles(store, venue)
    return render(
        request,
        "venue.html",
        venue=venue,
        settings=settings_of(venue),
        report=store.venue_report(venue.id),
        assignment=[(sid, titles.get(sid, ""), pairs) for sid, pairs in shown],
        page=page,
        pages=max(1, -(-len(by_submission) // PER_PAGE)),
        reviewers=store.venue_reviewers(venue.id),
        base=base_url(request),
        message=message,
        error=error,
    )


@router.get("/venues/{name}/assignment.csv")
def venue_csv(request: Request, name: str) -> Response:
    """The kept assignment whole, a pair a row: submission, title, reviewer, affinity, why."""
    _, venue = _chairs(request, name)
    store = services_of(request).store
    titles = _titles(store, venue)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["submission", "title", "reviewer", "affinity", "why"])
    for sid, reviewer, affinity, why in store.venue_assignment(venue.id):
        writer.writerow([sid, titles.get(sid, ""), reviewer, f"{affinity:.4f}", why])
    filename = "".join(c if c.isalnum() or c in "-_" else "_" for c in venue.name)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}-assignment.csv"'},
    )


@api.get("/venues/{name}")
def venue_json(request: Request, name: str) -> dict[str, Any]:
    """A venue of yours (signed in as its owner): its settings and counts, the assignment
    last kept (each pair's affinity and reason) and its report (summary, the ten weakest
    papers, conflicts left out)."""
    _, venue = _chairs(request, name)
    store = services_of(request).store
    return {
        "name": venue.name,
        "settings": settings_of(venue),
        "submissions": venue.submissions,
        "reviewers": venue.reviewers,
        "assignment": [
            {"submission": sid, "reviewer": r, "affinity": a, "why": why}
            for sid, r, a, why in store.venue_assignment(venue.id)
        ],
        "report": store.venue_report(venue.id),
    }


@router.post("/venues/{name}/assign", response_class=HTMLResponse)
async def venue_assign(request: Request, name: str, csrf: Annotated[str, Form()] = "") -> Response:
    """Run the venue's assignment with its settings and keep it."""
    check_csrf(request, csrf)
    _, venue = _chairs(request, name)
    services = services_of(request)
    lexical = await run_in_threadpool(services.vocabulary)
    try:
        result = await run_in_threadpool(
            assign_venue, services.store, services.embedder, lexical, venue
        )
    except InputError as e:
        return back(f"/venues/{name}", error=str(e))
    problems = result.assignment.problems
    if problems:
        return back(f"/venues/{name}", error="cannot assign: " + "; ".join(problems))
    return back(f"/venues/{name}", message=f"{len(result.assignment.pairs)} pairs assigned")


@router.get("/expertise/{token}", response_class=HTMLResponse)
def expertise_page(request: Request, token: str, saved: str = "") -> Response:
    store = services_of(request).store
    try:
        venue, reviewer = store.venue_reviewer_by_token(token)
    except NotFound:
        raise Forbidden("this expertise link is not valid (ask the chair for yours)") from None
    people, listed, chosen = identities_of(store, reviewer)
    return render(
        request,
        "expertise.html",
        venue=venue,
        reviewer=reviewer,
        people=people,
        listed=listed,
        chosen=chosen,
        token=token,
        saved=saved,
    )


@router.post("/expertise/{token}", response_class=HTMLResponse)
async def expertise_save(request: Request, token: str) -> Response:
    """Keep the ticked papers as the reviewer's expertise; ``reset`` hands it back to the
    author disambiguation."""
    form = await request.form()
    check_csrf(request, str(form.get("csrf") or ""))
    store = services_of(request).store
    try:
        _, reviewer = store.venue_reviewer_by_token(token)
    except NotFound:
        raise Forbidden("this expertise link is not valid (ask the chair for yours)") from None
    if form.get("reset"):
        with store.writer() as w:
            w.set_expertise(reviewer.venue_id, reviewer.name, None)
        return back(f"/expertise/{token}", saved="reset")
    try:
        ids = [int(str(v)) for v in form.getlist("paper")]
    except ValueError:
        raise InputError("a paper to keep is given by its number") from None
    if not ids:
        raise InputError("tick at least one paper: a reviewer is matched by their papers")
    kept = await run_in_threadpool(choose_papers, store, reviewer, ids)
    return back(f"/expertise/{token}", saved=str(kept))
