"""The pages of a signed-in reader: sign-up and sign-in, the library (profiles, imports,
rules, digests, feed tokens, exports) and feedback, from the site or from a digest."""

from __future__ import annotations

import io
import secrets
import tempfile
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed import export, profiles
from paperfeed.digest.compose import rate_message, unsubscribe_message
from paperfeed.errors import Conflict, Forbidden, InputError
from paperfeed.models import RULE_KINDS, Paper, Rule, User
from paperfeed.signing import signature_ok
from paperfeed.web import accounts
from paperfeed.web.render import (
    CSRF_COOKIE,
    back,
    check_csrf,
    render,
    require_user,
    secure,
)
from paperfeed.web.services import (
    SESSION_COOKIE,
    base_url,
    rate,
    services_of,
)

router = APIRouter(include_in_schema=False)
#: Largest library file accepted on the web, before and after decompression.
MAX_UPLOAD = 50 * 2**20


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
    profiles.create(services.store, "library", "reader", owner=user)  # filled at /welcome
    return _signed_in(request, user, "/welcome")


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
    # per name as the lookup reads it (spaces and case do not make another name), and per
    # client: a flood of made-up names cannot make argon2 slow every other request
    person = " ".join(name.split()).casefold()
    if not (
        services.sign_in_limit.allow(f"{client}:{person}")
        and services.client_sign_in_limit.allow(client)
    ):
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
        secure=secure(request),
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


# -- the first visit ---------------------------------------------------------------------

#: Papers a new profile is asked to rate on the welcome page.
FIRST_RATINGS = 10


@router.get("/welcome", response_class=HTMLResponse)
def welcome(
    request: Request, name: str = "", profile: str | None = None, message: str = ""
) -> Response:
    """One page to start from: find yourself by name and tick your papers, import a library,
    or describe your interests in a sentence; then rate the papers the feed is least sure
    of, and open the first feed."""
    services = services_of(request)
    user = require_user(request)
    chosen = services.owned(profile, user) if profile else None
    people = services.identities(name) if name.strip() else []
    to_rate = []
    if chosen is not None:
        services.ranking_ready()
        to_rate = services.recommender.to_rate(chosen.name, k=FIRST_RATINGS)
    return render(
        request,
        "welcome.html",
        name=name,
        people=people,
        chosen=chosen,
        to_rate=to_rate,
        library=profiles.name_for("library", user),
        message=message,
    )


@router.post("/welcome/interests")
def describe_interests(
    request: Request,
    description: Annotated[str, Form()],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    """A topic profile from a sentence: enough for a first feed."""
    check_csrf(request, csrf)
    user = require_user(request)
    if not description.strip():
        raise InputError("describe your interests in a sentence or two")
    made = profiles.create(services_of(request).store, "interests", "topic", description, user)
    return back("/welcome", profile=made.name)


# -- the library: profiles, imports, rules, digests, feeds -------------------------------


@router.get("/library", response_class=HTMLResponse)
def library(request: Request, profile: str | None = None, message: str = "") -> Response:
    services = services_of(request)
    user = require_user(request)
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
        base_url=base_url(request),
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
    user = require_user(request)
    made = profiles.create(services_of(request).store, label, kind, description, owner=user)
    return back("/library", profile=made.name)


@router.post("/library/from-author")
def profile_from_author(
    request: Request,
    author: Annotated[str, Form()],
    identity: Annotated[list[int], Form()],
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/library",
) -> Response:
    """ "This is me": a researcher profile from the chosen identities of an author name."""
    check_csrf(request, csrf)
    user = require_user(request)
    services = services_of(request)
    people = services.identities(author)
    chosen = [people[i - 1] for i in sorted(set(identity)) if 1 <= i <= len(people)]
    label = " ".join(author.split())[: profiles.MAX_LABEL].replace("/", " ")
    made, n = profiles.from_author(services.store, label, author, chosen, owner=user)
    message = f"{n} papers of {label} in your profile."
    return back(_local(next), profile=made.name, message=message)


@router.post("/library/import")
async def import_library(
    request: Request,
    profile: Annotated[str, Form()],
    file: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/library",
) -> Response:
    check_csrf(request, csrf)
    services = services_of(request)
    chosen = services.owned(profile, require_user(request))
    to = _local(next)
    data = await file.read(MAX_UPLOAD + 1)
    name = Path(file.filename or "").name
    if name in ("", ".", "..") or not name.isprintable():
        name = "upload"
    if len(data) > MAX_UPLOAD:
        message = f"Nothing imported: {name} is over {MAX_UPLOAD // 2**20} MB"
        return back(to, profile=chosen.name, message=message)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            n, missing = profiles.import_files(
                services.store, chosen.name, [path], max_bytes=MAX_UPLOAD
            )
        except InputError as e:  # named by the upload's name, not the server's folder
            said = str(e).replace(str(path), name).replace(folder, "")
            return back(to, profile=chosen.name, message=f"Nothing imported: {said}")
    if missing:
        shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
        message = f"Imported {n} papers from {name}; {len(missing)} not known here: {shown}."
        return back(to, profile=chosen.name, message=message)
    return back(to, profile=chosen.name, message=f"Imported {n} papers from {name}.")


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
    chosen = services.owned(profile, require_user(request))
    profiles.edit_rule(services.store, chosen, kind, value, add=not remove)
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
    user = require_user(request)
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
    chosen = services.owned(profile, require_user(request))
    with services.store.writer() as w:
        w.set_feed_token(chosen.id, None if revoke else secrets.token_urlsafe(24))
    return back("/library", profile=chosen.name)


@router.get("/library/export")
def export_library(
    request: Request, profile: str, format: str = Query("bibtex", pattern="^(bibtex|jsonl)$")
) -> Response:
    services = services_of(request)
    chosen = services.owned(profile, require_user(request))
    papers = services.store.profile_papers(chosen.name)  # as the CLI exports: no dislikes
    out = io.StringIO()
    export.EXPORTERS[format](papers, out)
    media, ext = {
        "bibtex": ("application/x-bibtex", "bib"),
        "jsonl": ("application/x-ndjson", "jsonl"),
    }[format]
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
    rate(services_of(request), require_user(request), profile, paper, signal)
    return RedirectResponse(_local(next), status_code=303)


def _local(url: str) -> str:
    """``url`` if it stays on this site, else the home page (no open redirect: browsers
    read "//host" and "/\\host" as another site)."""
    return url if url.startswith("/") and not url.startswith(("//", "/\\")) else "/"


@router.get("/r/{profile_id}/{signal}/{ref:path}", response_class=HTMLResponse)
def rate_from_email(
    request: Request, profile_id: int, signal: str, ref: str, s: str = ""
) -> Response:
    """One-click feedback from a digest: the link is signed, so it needs no sign-in."""
    services = services_of(request)
    key = services.settings["secret_key"]
    if signal not in ("up", "down") or not signature_ok(
        key, rate_message(profile_id, signal, ref), s
    ):
        raise Forbidden("this feedback link is not valid")
    profile = next((p for p in services.store.profiles() if p.id == profile_id), None)
    if profile is None:
        raise Forbidden("this feedback link is not valid")
    paper = profiles.rate(services.store, profile, ref, signal)
    return render(request, "done.html", message=f"Thanks: “{paper.display_title}” rated {signal}.")


def _unsubscribe_ok(request: Request, profile_id: int, s: str) -> bool:
    key = services_of(request).settings["secret_key"]
    return signature_ok(key, unsubscribe_message(profile_id), s)


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
