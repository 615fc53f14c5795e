"""The reading pages: today's papers, a paper, an author, a profile, search, the topic map.
Each calls the same library functions as its JSON twin in ``api.py``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from paperfeed.errors import InputError
from paperfeed.models import Profile, SearchFilters
from paperfeed.recommend.rank import Recommendation
from paperfeed.recommend.trending import trending
from paperfeed.search.engine import MODES
from paperfeed.web.render import (
    for_visitors,
    render,
)
from paperfeed.web.services import (
    about,
    current_user,
    people,
    services_of,
    window,
)

router = APIRouter(include_in_schema=False)


# -- reading ----------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(
    request: Request,
    profile: str | None = None,
    day: str | None = None,
    category: str | None = None,
    page: int = Query(1, ge=1),
) -> Response:
    services = services_of(request)
    user = current_user(request)
    mine = services.store.profiles_of(user.id) if user else []
    if profile is None and mine:
        profile = mine[0].name
    if profile:
        chosen = services.visible(profile, user)
        if services.status.warming:
            notice = "Your ranking is warming up; showing trending papers meanwhile."
        else:
            try:
                recs = services.recommender.recommend(chosen.name, day=day, limit=50)
            except InputError as e:
                recs, notice = [], str(e)
            else:
                shown = tuple(r.paper.id for r in recs)
                key = ("feed", chosen.name, day, shown, services.status.key)
                return for_visitors(request, key, lambda: _feed(request, chosen, recs, day))
    else:
        notice = ""
    return _trending_page(request, day, "day", category, page, notice)


def _feed(
    request: Request, chosen: Profile, recs: list[Recommendation], day: str | None
) -> Response:
    services = services_of(request)
    user = current_user(request)
    owner = user is not None and chosen.owner_id == user.id
    return render(
        request,
        "feed.html",
        profile=chosen,
        recs=recs,
        teach=services.recommender.to_rate(chosen.name) if owner else [],
        votes=services.store.votes([r.paper.id for r in recs]),
        day=day or services.store.latest_day(),
        rated=services.store.profile_relations(chosen.name) if owner else {},
        shared=services.store.profiles_of(None),
    )


@router.get("/papers", response_class=HTMLResponse)
def archive(
    request: Request,
    day: str | None = None,
    period: str = Query("day", pattern="^(day|week|month)$"),
    category: str | None = None,
    page: int = Query(1, ge=1),
) -> Response:
    return _trending_page(request, day, period, category, page, "")


PAGE_SIZE = 50


def _trending_page(
    request: Request, day: str | None, period: str, category: str | None, page: int, notice: str
) -> Response:
    services = services_of(request)
    last, filters = window(day, period, category, services)
    listing = services.store.filter_summary(filters)
    key = ("listing", last, period, category, page, notice, listing, services.status.key)
    return for_visitors(
        request, key, lambda: _trending(request, last, filters, period, category, page, notice)
    )


def _trending(
    request: Request,
    last: str,
    filters: SearchFilters,
    period: str,
    category: str | None,
    page: int,
    notice: str,
) -> Response:
    services = services_of(request)
    trends, total = trending(services.store, filters, PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "trending.html",
        trends=trends,
        voted=any(t.votes for t in trends),
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        start=(page - 1) * PAGE_SIZE,
        day=last,
        period=period,
        category=category,
        notice=notice,
        shared=services.store.profiles_of(None),
        days=services.store.listing_days(14, until=last),
    )


@router.get("/paper/{ref:path}", response_class=HTMLResponse)
def paper_page(request: Request, ref: str) -> Response:
    services = services_of(request)
    key = ("paper", ref, services.store.paper_count(), services.status.key)
    return for_visitors(request, key, lambda: _paper(request, ref))


def _paper(request: Request, ref: str) -> Response:
    services = services_of(request)
    paper = services.store.get_paper(ref)
    similar = []
    if services.semantic_ready():
        similar = services.searcher.similar(paper.ref, limit=10)
    return render(
        request,
        "paper.html",
        paper=paper,
        similar=similar,
        votes=services.store.votes([paper.id]).get(paper.id, 0),
    )


def _people_page(
    request: Request, filters: SearchFilters, title: str, kind: str, **extra: Any
) -> Response:
    found = people(services_of(request), filters, title, kind)
    return render(request, "people.html", kind=kind, title=title, **found, **extra)


@router.get("/author/{name:path}", response_class=HTMLResponse)
def author_page(request: Request, name: str) -> Response:
    services = services_of(request)
    people = services.identities(name)
    return _people_page(request, SearchFilters(author=name), name, "author", identities=people)


@router.get("/org/{name:path}", response_class=HTMLResponse)
def org_page(request: Request, name: str) -> Response:
    return _people_page(request, SearchFilters(organization=name), name, "organization")


@router.get("/profile/{name:path}", response_class=HTMLResponse)
def profile_page(request: Request, name: str) -> Response:
    services = services_of(request)
    user = current_user(request)
    profile = services.visible(name, user)
    papers = services.store.profile_papers(profile.name)[::-1]
    return render(
        request,
        "people.html",
        kind=profile.kind,
        title=profile.label,
        total=len(papers),
        profile=profile,
        **about(papers[:300], profile.label),
    )


@router.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    q: str = "",
    mode: str = "hybrid",
    since: str | None = None,
    until: str | None = None,
    category: str | None = None,
) -> Response:
    services = services_of(request)
    hits = []
    mode, notice = services.search_mode(mode)
    if q.strip():
        filters = SearchFilters(
            since=since or None, until=until or None, categories=(category,) if category else ()
        )
        try:
            hits = services.searcher.search(q, mode, filters, limit=30)
        except InputError as e:
            notice = str(e)
    return render(
        request,
        "search.html",
        q=q,
        mode=mode,
        modes=MODES,
        since=since,
        until=until,
        category=category,
        hits=hits,
        notice=notice,
    )


#: Papers of the month nearest a profile that its topic map is drawn from.
NEIGHBOURHOOD = 600


@router.get("/topics", response_class=HTMLResponse)
def topics_page(
    request: Request,
    day: str | None = None,
    topic: int | None = None,
    profile: str | None = None,
) -> Response:
    from paperfeed.search.topics import topic_map

    services = services_of(request)
    last, filters = window(day, "month", None, services)
    chosen_profile = services.visible(profile, current_user(request)) if profile else None
    context: dict[str, Any] = {"day": last, "profile": chosen_profile}
    if not services.semantic_ready():
        return render(request, "topics.html", topics=None, chosen=None, **context)
    within = None
    if chosen_profile is not None:  # the month's papers nearest the profile, mapped
        services.ranking_ready()
        recs = services.recommender.recommend(
            chosen_profile.name, day=last, since=filters.since, limit=NEIGHBOURHOOD
        )
        within = [r.paper.id for r in recs]
    tmap = topic_map(services.store, services.embedder.name, filters, within=within)
    chosen = tmap.topics[topic] if topic is not None and 0 <= topic < len(tmap.topics) else None
    return render(request, "topics.html", topics=tmap, chosen=chosen, **context)
