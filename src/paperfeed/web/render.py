"""Rendering a page and checking its forms: the context every template gets, CSRF
secrets (per session, or a double-submit cookie before sign-in), redirects back."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperfeed.errors import Forbidden
from paperfeed.models import User
from paperfeed.signing import tokens_match
from paperfeed.web.services import _session, base_url, current_user, services_of, templates

CSRF_COOKIE = "pf_csrf"


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
    if not expected or not tokens_match(expected, given):
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


def for_visitors(request: Request, key: Any, make: Callable[[], Response]) -> Response:
    """The page ``make`` renders; for a visitor (no one signed in) it is every visitor's, so
    it is kept a while under ``key`` (what it shows depends on) and sent again."""
    if current_user(request) is not None:
        return make()
    pages = services_of(request).pages
    body = pages.get(key)
    if body is not None:
        response: Response = HTMLResponse(body)
        _keep_csrf_cookie(request, response)
        return response
    response = make()
    if response.status_code == 200:
        pages.put(key, bytes(response.body))
    return response


def _keep_csrf_cookie(request: Request, response: Response) -> None:
    if _session(request) is None and request.cookies.get(CSRF_COOKIE) != csrf_token(request):
        response.set_cookie(
            CSRF_COOKIE, csrf_token(request), httponly=True, samesite="lax", secure=secure(request)
        )


def secure(request: Request) -> bool:
    return base_url(request).startswith("https://")


def back(url: str, **params: Any) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(f"{url}?{query}" if query else url, status_code=303)


def require_user(request: Request) -> User:
    user = current_user(request)
    if user is None:
        raise Forbidden("sign in first")
    return user
