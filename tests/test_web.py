"""The web app through HTTP: pages, accounts, safety between users, the API and Atom feeds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import feedparser
import pytest
from fastapi.testclient import TestClient

from conftest import BACKENDS, database_for
from paperfeed.web.app import create_app
from webapp import HOSTILE_ID, bibtex_of, build_store, csrf_of


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("web")
    return build_store(folder, db=database_for(request, folder, request.param))


@pytest.fixture
def app(site: tuple[dict[str, Any], list[dict[str, Any]]]) -> Iterator[Any]:
    settings, _ = site
    yield create_app(settings)


def client_for(app: Any) -> TestClient:
    return TestClient(app, follow_redirects=True)


def sign_up(client: TestClient, name: str, password: str = "correct horse") -> None:
    page = client.get("/signup")
    response = client.post(
        "/signup",
        data={
            "name": name,
            "email": f"{name}@example.org",
            "password": password,
            "csrf": csrf_of(page.text),
        },
    )
    assert response.status_code == 200, response.text
    assert f"Sign out ({name})" in response.text


def import_library(client: TestClient, profile: str, rows: list[dict[str, Any]]) -> str:
    page = client.get("/library", params={"profile": profile})
    response = client.post(
        "/library/import",
        data={"profile": profile, "csrf": csrf_of(page.text)},
        files={"file": ("library.bib", bibtex_of(rows).encode(), "application/x-bibtex")},
    )
    assert response.status_code == 200
    return response.text


def test_pages_render_for_visitors(app: Any, site: Any) -> None:
    _, rows = site
    with client_for(app) as client:
        home = client.get("/")
        assert home.status_code == 200
        last = max(r["listing_date"] for r in rows)
        # no votes yet: the day's new papers, under a line that says what paperfeed is
        assert "New papers" in home.text and f"on {last}" in home.text
        assert "ranks each day's new papers for you" in home.text
        listed = sum(r["listing_date"] == last for r in rows) + 1  # and the hostile record
        assert home.text.count('class="paper"') == 50
        assert f"1–50 of {listed} papers" in home.text
        pages = -(-listed // 50)
        final = client.get("/papers", params={"day": last, "page": pages})
        assert final.text.count('class="paper"') == listed - 50 * (pages - 1)
        assert "Next →" in home.text and "Next →" not in final.text
        for url in (
            "/papers?period=week",
            "/papers?period=month&category=cs.CV",
            f"/paper/{rows[0]['id']}",
            f"/author/{rows[0]['authors'][0]}",
            "/search?q=segmentation",
            "/topics",
            "/profile/Jack",
            "/signin",
        ):
            response = client.get(url)
            assert response.status_code == 200, url
        assert rows[0]["title"][:40] in client.get(f"/paper/{rows[0]['id']}").text
        assert client.get("/paper/2599.00404").status_code == 404
        assert client.get("/no/such/page").status_code == 404
        assert client.get("/papers?day=yesterday").status_code == 400


def test_hostile_records_are_escaped_everywhere(app: Any) -> None:
    with client_for(app) as client:
        pages = [
            client.get(f"/paper/{HOSTILE_ID}").text,
            client.get("/search", params={"q": "injection ampersands"}).text,
            client.get("/").text,
            client.get("/author/Yann LeCun").text,
        ]
        for html in pages:
            assert "<script>alert" not in html
            assert "<img src=x" not in html
            assert "<b>Mallory</b>" not in html
        assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in pages[0]
        assert not any(h.startswith("javascript:") for h in re.findall(r'href="([^"]*)"', pages[0]))
        # the browser is told to run no inline script at all
        csp = client.get("/").headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
        api = client.get(f"/api/papers/{HOSTILE_ID}").json()
        assert api["title"].startswith("<script>")  # JSON keeps the text; escaping is the page's


def test_sign_up_sign_in_and_the_guards(app: Any) -> None:
    with client_for(app) as client:
        # a form posted without its CSRF token is refused
        refused = client.post(
            "/signup", data={"name": "eve", "email": "e@example.org", "password": "x" * 10}
        )
        assert refused.status_code == 403
        sign_up(client, "alice")
        assert client.cookies.get("pf_session")
        # the session cookie is HttpOnly and SameSite
        other = client_for(app)
        page = other.get("/signup")
        made = other.post(
            "/signup",
            data={
                "name": "alice",
                "email": "x@example.org",
                "password": "y" * 10,
                "csrf": csrf_of(page.text),
            },
        )
        assert made.status_code == 400 and "that name is taken" in made.text
        short = other.post(
            "/signup",
            data={
                "name": "carol",
                "email": "c@example.org",
                "password": "short",
                "csrf": csrf_of(page.text),
            },
        )
        assert "at least 8 characters" in short.text
        library = client.get("/library")
        client.post("/signout", data={"csrf": csrf_of(library.text)})
        assert "Sign in" in client.get("/").text
        form = client.get("/signin")
        wrong = client.post(
            "/signin", data={"name": "alice", "password": "nope nope", "csrf": csrf_of(form.text)}
        )
        assert wrong.status_code == 400 and "wrong name or password" in wrong.text
        right = client.post(
            "/signin",
            data={
                "name": "alice@example.org",
                "password": "correct horse",
                "csrf": csrf_of(form.text),
            },
        )
        assert "Sign out (alice)" in right.text
        # sign-in attempts are limited per client and name
        fresh = client_for(app)
        form = fresh.get("/signin")
        codes = [
            fresh.post(
                "/signin",
                data={
                    "name": "bob-the-guesser",
                    "password": f"guess {i}",
                    "csrf": csrf_of(form.text),
                },
            ).status_code
            for i in range(7)
        ]
        assert codes[:5] == [400] * 5 and codes[5:] == [429, 429]


def test_session_cookie_flags(app: Any) -> None:
    with TestClient(app, follow_redirects=False) as client:
        page = client.get("/signup")
        response = client.post(
            "/signup",
            data={
                "name": "dora",
                "email": "dora@example.org",
                "password": "p" * 12,
                "csrf": csrf_of(page.text),
            },
        )
        cookie = response.headers["set-cookie"]
        assert "pf_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_library_feed_rating_and_export(app: Any, site: Any) -> None:
    _, rows = site
    last = max(r["listing_date"] for r in rows)
    mine = [r for r in rows if r["listing_date"] < last and "cs.CV" in r["categories"]][:12]
    with client_for(app) as client:
        sign_up(client, "erin")
        text = import_library(client, "erin/library", mine)
        assert "Imported 12 papers from library.bib" in text
        feed = client.get("/", params={"profile": "erin/library"})
        assert "For library" in feed.text and "close to your paper" in feed.text
        assert "Teach your feed" in feed.text  # the owner is asked for the most useful ratings
        near = client.get("/topics", params={"profile": "erin/library"})
        assert near.status_code == 200 and "near library, the month to" in near.text
        assert client.get("/topics", params={"profile": "someone/else"}).status_code == 404
        teach = client.get("/api/teach", params={"profile": "erin/library"}).json()
        assert len(teach) == 3 and teach[0]["id"] in feed.text
        first = re.findall(r'data-paper="([^"]+)"', feed.text)[0]  # the panel comes later
        assert feed.text.index(f'data-paper="{first}"') < feed.text.index("Teach your feed")
        api = client.get("/api/feed", params={"profile": "erin/library", "limit": 5}).json()
        assert api[0]["id"] == first and api[0]["why"]
        # a rating through the API needs the session's CSRF token in a header
        body = {"profile": "erin/library", "paper": first, "signal": "hide"}
        assert client.post("/api/rate", json=body).status_code == 403
        token = csrf_of(feed.text)
        rated = client.post("/api/rate", json=body, headers={"X-CSRF-Token": token})
        assert rated.status_code == 200
        after = client.get("/api/feed", params={"profile": "erin/library", "limit": 5}).json()
        assert first not in [r["id"] for r in after]  # the next feed changed at once
        exported = client.get(
            "/library/export", params={"profile": "erin/library", "format": "bibtex"}
        )
        assert exported.status_code == 200 and mine[0]["id"] in exported.text
        assert "attachment" in exported.headers["content-disposition"]
        jsonl = client.get("/library/export", params={"profile": "erin/library", "format": "jsonl"})
        # the 12 imported; the one hidden is left out, as `paperfeed export --profile` leaves it
        assert len(jsonl.text.splitlines()) == 12


def test_rules_and_a_described_profile(app: Any, site: Any) -> None:
    _, rows = site
    last = max(r["listing_date"] for r in rows)
    with client_for(app) as client:
        sign_up(client, "fred")
        page = client.get("/library")
        made = client.post(
            "/library/profiles",
            data={
                "label": "robots",
                "kind": "topic",
                "csrf": csrf_of(page.text),
                "description": "robot manipulation, grasping and legged locomotion",
            },
        )
        assert made.status_code == 200 and "robots" in made.text
        feed = client.get("/api/feed", params={"profile": "fred/robots", "limit": 10}).json()
        assert feed and all(f["listed"] == last for f in feed)
        assert "close to your description of your interests" in feed[0]["why"]
        author = next(r for r in rows if r["listing_date"] == last)["authors"][-1]
        client.post(
            "/library/rules",
            data={
                "profile": "fred/robots",
                "kind": "author",
                "value": author,
                "csrf": csrf_of(page.text),
            },
        )
        followed = client.get("/api/feed", params={"profile": "fred/robots"}).json()
        assert f"by {author}, whom you follow" in followed[0]["why"]
        client.post(
            "/library/rules",
            data={
                "profile": "fred/robots",
                "kind": "category",
                "value": "cs.RO",
                "csrf": csrf_of(page.text),
            },
        )
        only = client.get("/api/feed", params={"profile": "fred/robots"}).json()
        assert only and all("cs.RO" in f["categories"] for f in only)


def test_one_user_never_reaches_anothers_profiles(app: Any, site: Any) -> None:
    _, rows = site
    with client_for(app) as alice, client_for(app) as mallory:
        sign_up(alice, "gina")
        import_library(alice, "gina/library", rows[:10])
        page = alice.get("/library", params={"profile": "gina/library"})
        alice.post("/library/token", data={"profile": "gina/library", "csrf": csrf_of(page.text)})
        token_page = alice.get("/library", params={"profile": "gina/library"}).text
        token = re.search(r"/feeds/([A-Za-z0-9_-]+)\.atom", token_page).group(1)  # type: ignore[union-attr]
        sign_up(mallory, "mallory")
        csrf = csrf_of(mallory.get("/library").text)
        assert alice.get("/api/profiles/gina/library").json()["papers"]
        for response in (
            mallory.get("/", params={"profile": "gina/library"}),
            mallory.get("/api/feed", params={"profile": "gina/library"}),
            mallory.get("/profile/gina/library"),
            mallory.get("/api/profiles/gina/library"),
        ):
            assert response.status_code == 404  # not even told it exists
        for response in (
            mallory.get("/library", params={"profile": "gina/library"}),
            mallory.get("/library/export", params={"profile": "gina/library"}),
            mallory.post(
                "/api/rate",
                json={"profile": "gina/library", "paper": rows[20]["id"], "signal": "up"},
                headers={"X-CSRF-Token": csrf},
            ),
            mallory.post("/library/token", data={"profile": "gina/library", "csrf": csrf}),
            mallory.post(
                "/library/rules",
                data={"profile": "gina/library", "kind": "exclude", "value": "the", "csrf": csrf},
            ),
            mallory.post(
                "/library/digest",
                data={"profile": "gina/library", "frequency": "daily", "csrf": csrf},
            ),
        ):
            assert response.status_code == 403
        assert token not in mallory.get("/library").text
        # alice's CSRF token does not work in mallory's session
        stolen = csrf_of(alice.get("/library").text)
        assert (
            mallory.post("/library/profiles", data={"label": "x", "csrf": stolen}).status_code
            == 403
        )
        anonymous = client_for(alice.app)
        assert anonymous.get("/library").status_code == 403
        assert (
            anonymous.post(
                "/api/rate",
                json={"profile": "gina/library", "paper": rows[0]["id"], "signal": "up"},
            ).status_code
            == 403
        )


def test_api_and_openapi(app: Any, site: Any) -> None:
    _, rows = site
    with client_for(app) as client:
        paper = client.get(f"/api/papers/{rows[0]['id']}").json()
        assert paper["title"] == " ".join(rows[0]["title"].split())
        hits = client.get("/api/search", params={"q": rows[1]["title"], "mode": "keyword"}).json()
        assert hits[0]["id"] == rows[1]["id"]
        hybrid = client.get("/api/search", params={"q": rows[1]["title"]}).json()
        assert hybrid[0]["id"] == rows[1]["id"]
        similar = client.get(f"/api/papers/{rows[2]['id']}/similar", params={"limit": 5}).json()
        assert len(similar) == 5 and rows[2]["id"] not in [h["id"] for h in similar]
        shared = client.get("/api/feed", params={"profile": "Jack", "limit": 3}).json()
        assert len(shared) == 3 and all(s["why"] for s in shared)
        assert client.get("/api/feed", params={"profile": "nobody"}).status_code == 404
        assert client.get("/api/papers/2599.00404").json() == {
            "error": "no paper with id '2599.00404'"
        }
        author = client.get(f"/api/authors/{rows[0]['authors'][0]}").json()
        assert author["papers"] >= 1 and rows[0]["id"] in [p["id"] for p in author["recent"]]
        assert client.get("/api/trending", params={"period": "week"}).json()["papers"]
        spec = client.get("/openapi.json").json()
        for path in (
            "/api/papers/{ref}",
            "/api/search",
            "/api/papers/{ref}/similar",
            "/api/feed",
            "/api/rate",
        ):
            assert path in spec["paths"], path


def test_private_atom_feed(app: Any, site: Any) -> None:
    _, rows = site
    with client_for(app) as client:
        sign_up(client, "hank")
        import_library(client, "hank/library", rows[:15])
        page = client.get("/library", params={"profile": "hank/library"})
        client.post("/library/token", data={"profile": "hank/library", "csrf": csrf_of(page.text)})
        text = client.get("/library", params={"profile": "hank/library"}).text
        url = re.search(r'href="http://testserver(/feeds/[^"]+\.atom)"', text).group(1)  # type: ignore[union-attr]
        anonymous = client_for(app)  # a feed reader has no session: the token is the key
        response = anonymous.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/atom+xml")
        feed = feedparser.parse(response.content)
        assert not feed.bozo, feed.bozo_exception
        assert feed.version == "atom10"
        api = client.get("/api/feed", params={"profile": "hank/library"}).json()
        assert [e.link.rsplit("/paper/", 1)[1] for e in feed.entries] == [a["id"] for a in api]
        assert "close to your paper" in feed.entries[0].summary
        client.post(
            "/library/token", data={"profile": "hank/library", "revoke": "1", "csrf": csrf_of(text)}
        )
        assert anonymous.get(url).status_code == 404
        assert anonymous.get("/feeds/guessed-token.atom").status_code == 404


def test_public_read_only_instance(site: Any) -> None:
    settings, rows = site
    with client_for(create_app({**settings, "public": True})) as client:
        assert client.get("/").status_code == 200
        assert "Sign up" not in client.get("/").text
        assert client.get("/signup").status_code == 403
        assert client.get(f"/paper/{rows[0]['id']}").status_code == 200


def test_katex_is_served_by_the_app(app: Any) -> None:
    with client_for(app) as client:
        page = client.get("/").text
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
            assert client.get(asset).status_code == 200, asset
        css = client.get("/static/katex/katex.min.css").text
        font = re.search(r"url\((fonts/[^)]+\.woff2)\)", css).group(1)  # type: ignore[union-attr]
        assert client.get(f"/static/katex/{font}").status_code == 200


def test_the_store_keeps_one_secret_beside_the_database(tmp_path: Path) -> None:
    from paperfeed.store import open_store

    with open_store(str(tmp_path / "x.db")) as store:
        first = store.secret_key()
        assert first == store.secret_key() and len(first) > 30
    with open_store(str(tmp_path / "x.db")) as again:  # another process serving it
        assert again.secret_key() == first
    assert (tmp_path / "x.db.secret").stat().st_mode & 0o777 == 0o600


def test_feeds_say_when_the_ranking_is_still_warming_up(app: Any) -> None:
    app.state.services.status.warming = True  # as while a new store's vocabulary is fitted
    with client_for(app) as client:
        response = client.get("/api/feed", params={"profile": "Jack"})
        assert response.status_code == 503 and response.headers["retry-after"] == "60"
        page = client.get("/", params={"profile": "Jack"})
        assert page.status_code == 200 and "warming up" in page.text and "New papers" in page.text


def test_rating_forms_never_redirect_off_site(app: Any, site: Any) -> None:
    _, rows = site
    with client_for(app) as client:
        sign_up(client, "ivan")
        csrf = csrf_of(client.get("/library").text)
        client.follow_redirects = False
        for target, expected in (
            ("/paper/x", "/paper/x"),
            ("//evil.example/", "/"),
            ("/\\evil.example/", "/"),
            ("https://evil.example/", "/"),
        ):
            response = client.post(
                "/rate",
                data={
                    "profile": "ivan/library",
                    "paper": rows[0]["id"],
                    "signal": "up",
                    "next": target,
                    "csrf": csrf,
                },
            )
            assert response.status_code == 303 and response.headers["location"] == expected


# -- the first hour (issue: onboarding, links, titles, docs, bad parameters) -------------


def test_sign_up_lands_on_the_welcome_page_and_a_sentence_starts_a_feed(
    app: Any, site: Any
) -> None:
    with client_for(app) as client:
        page = client.get("/signup")
        response = client.post(
            "/signup",
            data={
                "name": "newcomer",
                "email": "newcomer@example.org",
                "password": "correct horse",
                "csrf": csrf_of(page.text),
            },
        )
        assert response.url.path == "/welcome" and "Find yourself" in response.text
        library = app.state.services.store.profile("newcomer/library")
        assert library.description is None  # no placeholder read as interests
        described = client.post(
            "/welcome/interests",
            data={
                "description": "retrieval-augmented generation for question answering",
                "csrf": csrf_of(response.text),
            },
        )
        assert described.url.path == "/welcome" and "Teach" in described.text
        assert described.text.count('class="paper"') >= 5  # papers to rate, at once
        feed = client.get("/", params={"profile": "newcomer/interests"})
        assert "close to your description of your interests" in feed.text
        found = client.get("/welcome", params={"name": "Yann LeCun"})
        assert "These are my papers" in found.text


def test_links_follow_the_address_people_use(site: Any) -> None:
    """Without a configured address, pages and Atom feeds link to the request's origin; a
    paper's card and page link to its arXiv abstract and PDF."""
    settings, rows = site
    app = create_app({**settings, "base_url": ""})
    with TestClient(app, base_url="http://papers.example:8123", follow_redirects=True) as client:
        sign_up(client, "linda")
        mine = [r for r in rows if "cs.CL" in r["categories"]][:5]
        import_library(client, "linda/library", mine)
        page = client.get("/library", params={"profile": "linda/library"})
        client.post("/library/token", data={"profile": "linda/library", "csrf": csrf_of(page.text)})
        page = client.get("/library", params={"profile": "linda/library"})
        feed_url = re.search(r'class="feed-url" href="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        assert feed_url.startswith("http://papers.example:8123/feeds/")
        atom = feedparser.parse(
            client.get(feed_url.removeprefix("http://papers.example:8123")).text
        )
        assert atom.entries and all(
            e.link.startswith("http://papers.example:8123/paper/") for e in atom.entries
        )
        paper = client.get(f"/paper/{mine[0]['id']}")
        assert f'href="https://arxiv.org/abs/{mine[0]["id"]}"' in paper.text
        home = client.get("/")
        assert 'href="https://arxiv.org/pdf/' in home.text  # cards carry abs/PDF links


def test_api_docs_are_served_from_the_package_under_the_csp(app: Any) -> None:
    with client_for(app) as client:
        docs = client.get("/api/docs")
        assert docs.status_code == 200
        assert "script-src 'self'" in docs.headers["content-security-policy"]
        scripts = re.findall(r'<script src="([^"]+)"', docs.text)
        assert scripts and all(s.startswith("/static/") for s in scripts)
        assert "<script>" not in docs.text  # no inline script: the CSP would block it
        for src in scripts + re.findall(r'rel="stylesheet" href="([^"]+)"', docs.text):
            assert client.get(src).status_code == 200, src
        assert "SwaggerUIBundle" in client.get("/static/swagger/swagger-ui-bundle.js").text


def test_untitled_papers_read_by_their_first_sentence_everywhere(app: Any) -> None:
    with client_for(app) as client:
        hits = client.get("/api/search", params={"q": "Gemma", "mode": "keyword"}).json()
        assert hits and all(h["title"] and h["snippet"] for h in hits)
        untitled = [h for h in hits if h["title"].endswith("[from the abstract]")]
        assert untitled, "the seeds' Abstract: lines give papers without titles"
        page = client.get(f"/paper/{untitled[0]['id']}")
        assert "(untitled)" not in page.text and "[from the abstract]" in page.text


def test_bad_days_are_a_400_with_a_message(app: Any) -> None:
    with client_for(app) as client:
        for path, params in (
            ("/api/feed", {"profile": "Jack", "day": "notaday"}),
            ("/api/trending", {"day": "0001-01-01", "period": "week"}),
            ("/papers", {"day": "0001-01-01", "period": "week"}),
            ("/api/topics", {"day": "0001-01-01"}),
            ("/api/feed", {"profile": "Jack", "since": "2026-13-40"}),
        ):
            response = client.get(path, params=params)
            assert response.status_code == 400, (path, params, response.text[:200])


# -- hardening: user input never reaches a 500 ---------------------------------------------


def test_forged_tokens_and_signatures_in_any_script_are_refused_not_crashed(app: Any) -> None:
    with client_for(app) as client:
        assert (
            client.post("/signin", data={"name": "x", "password": "y", "csrf": "é"}).status_code
            == 403
        )
        assert client.get("/unsubscribe/1", params={"s": "é"}).status_code == 403
        assert client.get("/r/1/up/2503.11731", params={"s": "é"}).status_code == 403
        body = {"profile": "x/library", "paper": "2503.11731", "signal": "up"}
        rated = client.post("/api/rate", json=body, headers={"X-CSRF-Token": "é".encode()})
        assert rated.status_code in (401, 403)


def test_sign_in_limits_hold_for_spaced_names_and_for_many_names(app: Any) -> None:
    with client_for(app) as client:
        page = client.get("/signin")
        token = csrf_of(page.text)
        codes = [
            client.post(
                "/signin", data={"name": " " * k + "Victim", "password": "no", "csrf": token}
            ).status_code
            for k in range(7)
        ]
        assert codes[:5] == [400] * 5 or 429 in codes
        assert codes[-1] == 429  # spaces do not make another name
        many = [
            client.post(
                "/signin", data={"name": f"made-up-{k}", "password": "no", "csrf": token}
            ).status_code
            for k in range(31)
        ]
        assert many[-1] == 429  # nor do made-up names, from one client


def test_uploads_named_dot_or_dotdot_and_bad_files_say_so_without_server_paths(
    app: Any,
) -> None:
    with client_for(app) as client:
        sign_up(client, "uma")
        page = client.get("/library", params={"profile": "uma/library"})
        for filename in (".", ".."):
            response = client.post(
                "/library/import",
                data={"profile": "uma/library", "csrf": csrf_of(page.text)},
                files={"file": (filename, b"@article{k, title = {T},", "application/x-bibtex")},
            )
            assert response.status_code == 200
            assert "Nothing imported" in response.text
            assert "/tmp" not in response.text and "--skip-bad" not in response.text


def test_atom_feeds_hold_no_character_xml_forbids(site: Any, tmp_path: Path) -> None:
    import json

    from paperfeed.ingest.pipeline import ingest_path
    from paperfeed.store import open_store

    settings, rows = site
    last = max(r["listing_date"] for r in rows)
    bad = {
        "id": "2599.77777",
        "title": "Control\u0007 characters\u0000 in a title",
        "summary": "An abstract with a bell \u0007 and an escape \u001b.",
        "authors": ["Bell\u0007 Person"],
        "categories": ["cs.CL"],
        "listing_date": last,
        "pdf": 12345,
    }
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(bad) + "\n")
    with open_store(settings["db"]) as store:
        ingest_path(store, path)
        paper = store.get_paper("2599.77777")
        assert paper.title == "Control characters in a title"
        assert paper.authors[0].name == "Bell Person"
    app = create_app(settings)
    with client_for(app) as client:
        sign_up(client, "vera")
        page = client.get("/library", params={"profile": "vera/library"})
        client.post(
            "/library/rules",
            data={
                "profile": "vera/library",
                "kind": "include",
                "value": "bell",
                "csrf": csrf_of(page.text),
            },
        )
        client.post("/library/token", data={"profile": "vera/library", "csrf": csrf_of(page.text)})
        page = client.get("/library", params={"profile": "vera/library"})
        feed_url = re.search(r'class="feed-url" href="http://testserver([^"]+)"', page.text).group(
            1
        )  # type: ignore[union-attr]
        atom = client.get(feed_url)
        assert atom.status_code == 200 and "Control characters in a title" in atom.text
        assert client.get("/paper/2599.77777").status_code == 200  # its pdf is not a string


FUZZ = [
    "",
    "é",
    "\x00",
    "a" * 5000,
    "-1",
    "0",
    "99999999999999999999",
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "%",
    "null",
    "NaN",
    "1e308",
    "\ud800",
]


def test_no_get_endpoint_answers_500_to_any_parameter(app: Any) -> None:
    """Every GET route, pages and API alike, with each fuzz value in each of its path and
    query parameters: a 4xx with a message or a page, never a 500, never a server path."""
    from fastapi.routing import APIRoute

    def walk(routes: list[Any]) -> Iterator[APIRoute]:  # included routers hold their own
        for r in routes:
            if isinstance(r, APIRoute):
                yield r
            elif hasattr(r, "original_router"):
                yield from walk(r.original_router.routes)

    routes = [r for r in walk(app.routes) if "GET" in r.methods]
    assert len(routes) > 20
    tried = 0
    with TestClient(app, raise_server_exceptions=False) as client:
        sign_up(client, "fuzzy")
        for route in routes:
            paths = [p.name for p in route.dependant.path_params]
            queries = [p.alias for p in route.dependant.query_params]
            for value in FUZZ:
                safe = value.encode("utf-8", "replace").decode()
                for target in [*paths, *queries] or [None]:
                    url = route.path
                    for name in paths:
                        url = url.replace(
                            "{" + name + (":path" if ":path}" in url else "") + "}",
                            quote((safe if name == target else "x") or "x", safe=""),
                        )
                    params = {target: safe} if target in queries else {}
                    response = client.get(url, params=params)
                    tried += 1
                    assert response.status_code < 500, (url, params, response.text[:300])
                    assert "/tmp/" not in response.text, (url, params)
    assert tried > 500


#: A valid value for each form field, so that a fuzzed field is the one a handler meets.
VALID = {
    "profile": "postie/library",
    "kind": "include",
    "value": "diffusion",
    "frequency": "daily",
    "author": "Yann LeCun",
    "identity": "1",
    "label": "ok",
    "paper": HOSTILE_ID,
    "signal": "up",
    "next": "/",
    "description": "graph neural networks",
    "name": "postie",
    "email": "postie2@example.org",
    "password": "correct horse",
}


def test_no_form_or_json_post_answers_500_to_any_value(app: Any) -> None:
    forms = {
        "/library/profiles": ("label", "description", "kind"),
        "/library/rules": ("profile", "kind", "value"),
        "/library/digest": ("profile", "frequency"),
        "/library/token": ("profile",),
        "/library/from-author": ("author", "identity"),
        "/rate": ("profile", "paper", "signal", "next"),
        "/welcome/interests": ("description",),
        "/signin": ("name", "password"),
        "/signup": ("name", "email", "password"),
    }
    with TestClient(app, raise_server_exceptions=False) as client:
        sign_up(client, "postie")
        token = csrf_of(client.get("/library").text)
        for path, fields in forms.items():
            for value in FUZZ:
                safe = value.encode("utf-8", "replace").decode()
                for field in fields:
                    data = {f: VALID.get(f, "x") for f in fields} | {field: safe, "csrf": token}
                    response = client.post(path, data=data)
                    assert response.status_code < 500, (path, field, value, response.text[:300])
        for value in [None, 1, [], {}, "é", "a" * 5000]:
            body = {"profile": value, "paper": value, "signal": value}
            response = client.post("/api/rate", json=body, headers={"X-CSRF-Token": token})
            assert response.status_code < 500 and response.json(), (value, response.text[:300])


def test_a_rating_while_another_process_writes_answers_503_not_500(
    site: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    import psycopg

    from paperfeed.store import is_postgres, sqlite_connect
    from paperfeed.store import postgres as store_postgres
    from paperfeed.store import sqlite as store_sqlite

    for module in (sqlite_connect, store_sqlite, store_postgres):
        monkeypatch.setattr(module, "BUSY_TIMEOUT_MS", 300)
    settings, rows = site
    app = create_app(settings)
    with client_for(app) as client:
        sign_up(client, "wendy")
        token = csrf_of(client.get("/library").text)
        # a long ingest in another process: SQLite's file, or Postgres's rows, locked
        if is_postgres(settings["db"]):
            holder: Any = psycopg.connect(settings["db"], autocommit=True)
            holder.execute("BEGIN")
            holder.execute("LOCK TABLE profile_papers IN EXCLUSIVE MODE")
        else:
            holder = sqlite3.connect(settings["db"], isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
        try:
            body = {"profile": "wendy/library", "paper": rows[0]["id"], "signal": "up"}
            busy = client.post("/api/rate", json=body, headers={"X-CSRF-Token": token})
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert busy.status_code == 503 and busy.headers["retry-after"]
        assert "busy" in busy.json()["error"]
        again = client.post("/api/rate", json=body, headers={"X-CSRF-Token": token})
        assert again.status_code == 200
