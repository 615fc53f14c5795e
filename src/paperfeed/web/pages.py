"""The HTML pages. Each calls the same library functions as its JSON twin in ``api.py``."""

from __future__ import annotations

import io
import secrets
import tempfile
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed import export
from paperfeed.digest.compose import rate_message, unsubscribe_message
from paperfeed.errors import Conflict, Forbidden, InputError, NotFound
from paperfeed.ingest import pipeline
from paperfeed.models import RATINGS, RULE_KINDS, Paper, Rule, SearchFilters, User
from paperfeed.recommend.trending import trending
from paperfeed.search.engine import MODES
from paperfeed.web import accounts
from paperfeed.web.app import SESSION_COOKIE, Services, services_of, templates

router = APIRouter(include_in_schema=False)
CSRF_COOKIE = "pf_csrf"
PERIODS = {"day": 1, "week": 7, "month": 30}
#: Largest library file accepted on the web (the CLI takes any size).
MAX_UPLOAD = 50 * 2**20


# -- shared by every page ----------------------------------------------------------------


def _session(request: Request) -> tuple[User, str] | None:
    if not hasattr(request.state, "session"):
        request.state.session = services_of(request).user_of(request)
    return request.state.session


def current_user(request: Request) -> User | None:
    found = _session(request)
    return found[0] if found else None


def csrf_token(request: Request) -> str:
    """The session's CSRF secret; before sign-in, a double-submit cookie's value."""
    found = _session(request)
    if found:
        return found[1]
    if not hasattr(request.state, "anon_csrf"):
        request.state.anon_csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    return request.state.anon_csrf


def check_csrf(request: Request, given: str | None) -> None:
    found = _session(request)
    expected = found[1] if found else request.cookies.get(CSRF_COOKIE)
    if not expected or not accounts.csrf_matches(expected, given):
        raise Forbidden("this form has expired or came from another site: reload and retry")


def base_context(request: Request) -> dict[str, Any]:
    services = services_of(request)
    user = current_user(request)
    return {
        "user": user,
        "csrf": csrf_token(request),
        "public": services.settings["public"],
        "work": services.status,
        "my_profiles": services.store.profiles_of(user.id) if user else [],
        "request": request,
    }


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    response = templates.TemplateResponse(
        request, template, {**base_context(request), **context}, status_code=status_code
    )
    _keep_csrf_cookie(request, response)
    return response


def _keep_csrf_cookie(request: Request, response: Response) -> None:
    if _session(request) is None and request.cookies.get(CSRF_COOKIE) != csrf_token(request):
        response.set_cookie(
            CSRF_COOKIE, csrf_token(request), httponly=True, samesite="lax", secure=_secure(request)
        )


def _secure(request: Request) -> bool:
    return str(services_of(request).settings["base_url"]).startswith("https://")


def back(url: str, **params: Any) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(f"{url}?{query}" if query else url, status_code=303)


def _require_user(request: Request) -> User:
    user = current_user(request)
    if user is None:
        raise Forbidden("sign in first")
    return user


def _filters(
    day: str | None, period: str, category: str | None, services: Services
) -> tuple[str, SearchFilters]:
    last = day or services.store.latest_day() or date.today().isoformat()
    try:
        first = date.fromisoformat(last) - timedelta(days=PERIODS.get(period, 1) - 1)
    except ValueError as e:
        raise InputError(f"not a day: {last!r} (use YYYY-MM-DD)") from e
    categories = (category,) if category else ()
    return last, SearchFilters(since=first.isoformat(), until=last, categories=categories)


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
                votes = services.store.votes([r.paper.id for r in recs])
                owner = user is not None and chosen.owner_id == user.id
                return render(
                    request,
                    "feed.html",
                    profile=chosen,
                    recs=recs,
                    teach=services.recommender.to_rate(chosen.name) if owner else [],
                    votes=votes,
                    day=day or services.store.latest_day(),
                    rated=services.store.profile_relations(chosen.name) if owner else {},
                    shared=services.store.profiles_of(None),
                )
    else:
        notice = ""
    return _trending_page(request, day, "day", category, page, notice)


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
    last, filters = _filters(day, period, category, services)
    trends, total = trending(services.store, filters, PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "trending.html",
        trends=trends,
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


def people(services: Services, filters: SearchFilters, name: str, kind: str) -> dict[str, Any]:
    """An author's or organization's papers (``total``, the latest 200 loaded) with
    :func:`_about` them; NotFound when there are none. The page and the API show this."""
    ids = [int(i) for i in services.store.filter_ids(filters)][::-1]
    if not ids:
        raise NotFound(f"no {kind} called {name!r}")
    return {"total": len(ids), **_about(services.store.papers(ids[:200]), name)}


def _people_page(
    request: Request, filters: SearchFilters, title: str, kind: str, **extra: Any
) -> Response:
    found = people(services_of(request), filters, title, kind)
    return render(request, "people.html", kind=kind, title=title, **found, **extra)


def _about(papers: list[Paper], name: str) -> dict[str, Any]:
    """Topics (categories) and the most frequent co-authors of a set of papers."""
    topics = Counter(c for p in papers for c in p.categories).most_common(8)
    people = Counter(
        a.name for p in papers for a in p.authors if a.name.casefold() != name.casefold()
    ).most_common(12)
    orgs = Counter(aff for p in papers for a in p.authors for aff in a.affiliations)
    return {"papers": papers, "topics": topics, "coauthors": people, "orgs": orgs.most_common(8)}


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
        **_about(papers[:300], profile.label),
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
    last, filters = _filters(day, "month", None, services)
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


# -- accounts ----------------------------------------------------------------------------


def _no_accounts(request: Request) -> None:
    if services_of(request).settings["public"]:
        raise Forbidden("this is a public read-only instance: accounts are turned off")


@router.get("/signup", response_class=HTMLResponse)
def signup_form(request: Request) -> Response:
    _no_accounts(request)
    return render(request, "account.html", action="signup", error="")


@router.post("/signup", response_class=HTMLResponse)
def signup(
    request: Request,
    name: Annotated[str, Form()],
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    _no_accounts(request)
    check_csrf(request, csrf)
    services = services_of(request)
    try:
        user = accounts.sign_up(services.store, name, email, password)
    except (Conflict, InputError) as e:
        return render(request, "account.html", 400, action="signup", error=str(e))
    with services.store.writer() as w:  # everyone starts with one profile to fill
        w.ensure_profile(f"{user.name}/library", "reader", "My library", owner_id=user.id)
    return _signed_in(request, user, "/library")


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request) -> Response:
    _no_accounts(request)
    return render(request, "account.html", action="signin", error="")


@router.post("/signin", response_class=HTMLResponse)
def signin(
    request: Request,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    _no_accounts(request)
    check_csrf(request, csrf)
    services = services_of(request)
    client = request.client.host if request.client else "?"
    if not services.sign_in_limit.allow(f"{client}:{name.casefold()}"):
        message = "too many sign-in attempts: wait a minute and try again"
        return render(request, "account.html", 429, action="signin", error=message)
    user = accounts.check_password(services.store, name, password)
    if user is None:
        return render(request, "account.html", 400, action="signin", error="wrong name or password")
    return _signed_in(request, user, "/")


def _signed_in(request: Request, user: User, to: str) -> Response:
    token = accounts.start_session(services_of(request).store, user)
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=accounts.SESSION_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.post("/signout")
def signout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        accounts.end_session(services_of(request).store, token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- the library: profiles, imports, rules, digests, feeds -------------------------------


@router.get("/library", response_class=HTMLResponse)
def library(request: Request, profile: str | None = None, message: str = "") -> Response:
    services = services_of(request)
    user = _require_user(request)
    mine = services.store.profiles_of(user.id)
    chosen = services.owned(profile, user) if profile else (mine[0] if mine else None)
    marks: list[tuple[Paper, str]] = []
    rules: list[Rule] = []
    subscription = None
    if chosen:
        relations = services.store.profile_relations(chosen.name)
        papers = {p.id: p for p in services.store.papers(sorted(relations))}
        marks = [(papers[i], m) for i, m in sorted(relations.items(), reverse=True) if i in papers]
        rules = services.store.rules(chosen.name)
        subscription = services.store.subscription(chosen.id)
    return render(
        request,
        "library.html",
        profiles=mine,
        chosen=chosen,
        marks=marks,
        rules=rules,
        rule_kinds=RULE_KINDS,
        subscription=subscription,
        message=message,
        base_url=services.settings["base_url"].rstrip("/"),
    )


@router.post("/library/profiles")
def create_profile(
    request: Request,
    label: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "topic",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    user = _require_user(request)
    label = " ".join(label.split())[:60]
    if not label or "/" in label:
        raise InputError("a profile name is 1–60 characters, without '/'")
    name = f"{user.name}/{label}"
    services = services_of(request)
    with services.store.writer() as w:
        w.ensure_profile(name, kind, description.strip() or None, owner_id=user.id)
    return back("/library", profile=name)


@router.post("/library/from-author")
def profile_from_author(
    request: Request,
    author: Annotated[str, Form()],
    identity: Annotated[list[int], Form()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """ "This is me": a researcher profile from the chosen identities of an author name."""
    check_csrf(request, csrf)
    user = _require_user(request)
    services = services_of(request)
    people = services.identities(author)
    chosen = [people[i - 1] for i in sorted(set(identity)) if 1 <= i <= len(people)]
    if not chosen:
        raise InputError("pick at least one of the people listed")
    label = " ".join(author.split())[:60].replace("/", " ")
    name = f"{user.name}/{label}"
    with services.store.writer() as w:
        pid = w.ensure_profile(name, "researcher", f"Papers of {label}", owner_id=user.id)
        w.add_to_profile(pid, [s.key.id for i in chosen for s in i.papers])
    n = sum(len(i.papers) for i in chosen)
    return back("/library", profile=name, message=f"{n} papers of {label} in your profile.")


@router.post("/library/import")
async def import_library(
    request: Request,
    profile: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    services = services_of(request)
    chosen = services.owned(profile, _require_user(request))
    data = await file.read(MAX_UPLOAD + 1)
    name = Path(file.filename or "upload").name
    if len(data) > MAX_UPLOAD:
        message = f"Nothing imported: {name} is over {MAX_UPLOAD // 2**20} MB"
        return back("/library", profile=chosen.name, message=message)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            report = pipeline.ingest_path(services.store, path, profile=chosen.name)
        except InputError as e:
            return back("/library", profile=chosen.name, message=f"Nothing imported: {e}")
    n = len(set(report.paper_ids))
    return back("/library", profile=chosen.name, message=f"Imported {n} papers from {name}.")


@router.post("/library/rules")
def edit_rule(
    request: Request,
    profile: Annotated[str, Form()],
    kind: Annotated[str, Form()],
    value: Annotated[str, Form()],
    remove: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    services = services_of(request)
    chosen = services.owned(profile, _require_user(request))
    value = " ".join(value.split())[:200]
    if kind not in RULE_KINDS or not value:
        raise InputError(f"a rule is one of {', '.join(RULE_KINDS)} with a value")
    with services.store.writer() as w:
        if remove:
            w.remove_rule(chosen.id, Rule(kind, value))
        else:
            w.add_rule(chosen.id, Rule(kind, value))
    return back("/library", profile=chosen.name)


@router.post("/library/digest")
def digest_settings(
    request: Request,
    profile: Annotated[str, Form()],
    frequency: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    services = services_of(request)
    user = _require_user(request)
    chosen = services.owned(profile, user)
    if frequency not in ("daily", "weekly", "off"):
        raise InputError("a digest is daily, weekly or off")
    with services.store.writer() as w:
        w.subscribe(chosen.id, None if frequency == "off" else user.email, frequency)
    return back("/library", profile=chosen.name, message=f"Digest: {frequency}.")


@router.post("/library/token")
def feed_token(
    request: Request,
    profile: Annotated[str, Form()],
    revoke: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    services = services_of(request)
    chosen = services.owned(profile, _require_user(request))
    with services.store.writer() as w:
        w.set_feed_token(chosen.id, None if revoke else secrets.token_urlsafe(24))
    return back("/library", profile=chosen.name)


@router.get("/library/export")
def export_library(
    request: Request, profile: str, format: str = Query("bibtex", pattern="^(bibtex|jsonl)$")
) -> Response:
    services = services_of(request)
    chosen = services.owned(profile, _require_user(request))
    relations = services.store.profile_relations(chosen.name)
    papers = services.store.papers(sorted(relations))
    out = io.StringIO()
    if format == "bibtex":
        export.to_bibtex(papers, out)
        media, ext = "application/x-bibtex", "bib"
    else:
        export.to_jsonl(papers, out)
        media, ext = "application/x-ndjson", "jsonl"
    body = out.getvalue()
    filename = f"{chosen.label}.{ext}".replace('"', "")
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )


# -- feedback ----------------------------------------------------------------------------


@router.post("/rate")
def rate_form(
    request: Request,
    profile: Annotated[str, Form()],
    paper: Annotated[str, Form()],
    signal: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf)
    rate(services_of(request), _require_user(request), profile, paper, signal)
    return RedirectResponse(_local(next), status_code=303)


def _local(url: str) -> str:
    """``url`` if it stays on this site, else the home page (no open redirect: browsers
    read "//host" and "/\\host" as another site)."""
    return url if url.startswith("/") and not url.startswith(("//", "/\\")) else "/"


def rate(services: Services, user: User | None, profile: str, ref: str, signal: str) -> Paper:
    """Record a rating for a profile the user owns (the one place the web writes ratings)."""
    if signal not in RATINGS:
        raise InputError(f"a rating is one of {', '.join(RATINGS)}")
    chosen = services.owned(profile, user)
    paper = services.store.get_paper(ref)
    with services.store.writer() as w:
        w.set_relation(chosen.id, [paper.id], signal)
    return paper


@router.get("/r/{profile_id}/{signal}/{ref:path}", response_class=HTMLResponse)
def rate_from_email(
    request: Request, profile_id: int, signal: str, ref: str, s: str = ""
) -> Response:
    """One-click feedback from a digest: the link is signed, so it needs no sign-in."""
    services = services_of(request)
    key = services.settings["secret_key"]
    if signal not in ("up", "down") or not accounts.signature_ok(
        key, rate_message(profile_id, signal, ref), s
    ):
        raise Forbidden("this feedback link is not valid")
    profile = next((p for p in services.store.profiles() if p.id == profile_id), None)
    if profile is None:
        raise Forbidden("this feedback link is not valid")
    paper = services.store.get_paper(ref)
    with services.store.writer() as w:
        w.set_relation(profile.id, [paper.id], signal)
    return render(request, "done.html", message=f"Thanks: “{paper.title}” rated {signal}.")


def _unsubscribe_ok(request: Request, profile_id: int, s: str) -> bool:
    key = services_of(request).settings["secret_key"]
    return accounts.signature_ok(key, unsubscribe_message(profile_id), s)


@router.get("/unsubscribe/{profile_id}", response_class=HTMLResponse)
def unsubscribe_form(request: Request, profile_id: int, s: str = "") -> Response:
    if not _unsubscribe_ok(request, profile_id, s):
        raise Forbidden("this unsubscribe link is not valid")
    return render(request, "unsubscribe.html", profile_id=profile_id, s=s)


@router.post("/unsubscribe/{profile_id}", response_class=HTMLResponse)
def unsubscribe(request: Request, profile_id: int, s: str = "") -> Response:
    """RFC 8058 one-click: a POST to the link itself (the signature is the proof)."""
    if not _unsubscribe_ok(request, profile_id, s):
        raise Forbidden("this unsubscribe link is not valid")
    services = services_of(request)
    with services.store.writer() as w:
        w.subscribe(profile_id, None)
    return render(request, "done.html", message="You are unsubscribed: no more digests.")
