"""paperfeed as a person uses it: headless Chromium (Debian's) against a real server.

The first hour (visit, sign up, find yourself, tick your papers, rate, the first feed, an Atom
feed that opens, the digest through a local SMTP server, a BibTeX export read back) and a
researcher's morning (import a library, rate and see the feed change, search, open a paper,
unsubscribe from the digest). Screenshots of the pages are kept in ``test-artifacts/`` (or
``$PAPERFEED_ARTIFACTS``).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from conftest import BACKENDS, database_for
from paperfeed.digest import send_digests
from paperfeed.embed.model import HashingEmbedder
from paperfeed.recommend.service import Recommender
from paperfeed.store import open_store
from paperfeed.web.app import create_app
from webapp import (
    ARTIFACTS,
    CHROMIUM,
    HOSTILE_ID,
    Inbox,
    bibtex_of,
    build_store,
    free_port,
    require_chromium,
)

require_chromium()

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """A real server on each backend: a SQLite file, a database on the test's PostgreSQL."""
    folder = tmp_path_factory.mktemp("e2e")
    settings, rows = build_store(folder, n=1200, db=database_for(request, folder, request.param))
    port = free_port()
    settings = {**settings, "base_url": f"http://127.0.0.1:{port}"}
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    yield settings["base_url"], settings, rows
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_page(viewport={"width": 1200, "height": 1000})
        dialogs: list[str] = []
        context.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        yield context
        browser.close()
        assert dialogs == [], f"a script from a record ran: {dialogs}"


def deliver_digests(settings: dict[str, Any]) -> tuple[list[Any], Inbox]:
    """Send the due digests through a real SMTP server on localhost; what it received."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        store = open_store(settings["db"])
        mail = {**settings, "smtp_host": "127.0.0.1", "smtp_port": port}
        reports = send_digests(store, Recommender(store, HashingEmbedder()), mail)
        store.close()
    finally:
        controller.stop()
    return reports, inbox


def sign_up_as(page: Page, base: str, name: str) -> None:
    """Sign ``name`` up through the form, as a person would: the welcome page follows."""
    page.goto(base + "/signup")
    page.fill("input[name=name]", name)
    page.fill("input[name=email]", f"{name}@example.org")
    page.fill("input[name=password]", "a long passphrase")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("Welcome to paperfeed")


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def test_a_researcher_morning(server: Any, page: Page, tmp_path: Path) -> None:
    base, settings, rows = server
    page.context.clear_cookies()  # a session of the other backend's server
    last = max(r["listing_date"] for r in rows)
    library = [r for r in rows if r["listing_date"] < last and "cs.CL" in r["categories"]][:15]

    page.goto(base + "/")
    expect(page.locator("h1")).to_contain_text("New papers")
    shot(page, "home-visitor")

    # sign up
    page.click("text=Sign up")
    page.fill("input[name=name]", "rita")
    page.fill("input[name=email]", "rita@example.org")
    page.fill("input[name=password]", "a long passphrase")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_have_text("Welcome to paperfeed")
    page.goto(base + "/library")
    expect(page.locator("h1")).to_have_text("Your library")

    # import a BibTeX library
    bib = tmp_path / "rita.bib"
    bib.write_text(bibtex_of(library))
    page.set_input_files("main input[type=file]", str(bib))
    page.click("form[action='/library/import'] button")
    expect(page.locator(".notice")).to_contain_text("Imported 15 papers from rita.bib")
    shot(page, "library")

    # the feed, with reasons; a thumbs-down dims the paper and the next feed drops it
    page.click("text=Today's feed →")
    expect(page.locator("h1")).to_contain_text("For library")
    first = page.locator("main > article.paper").first
    title = first.locator("h3").inner_text()
    expect(first.locator(".why")).to_contain_text("close to your paper")
    shot(page, "feed")
    first.locator("button[value=down]").click()
    expect(first).to_have_class(re.compile("dimmed"))
    page.reload()
    expect(page.locator("main > article.paper h3").first).not_to_have_text(title)
    assert title not in page.locator("main").inner_text()

    # search from the header, then open a paper
    wanted = rows[5]
    page.fill("header input[name=q]", wanted["title"])
    page.press("header input[name=q]", "Enter")
    expect(page.locator("article.paper h3").first).to_contain_text(wanted["title"][:30])
    shot(page, "search")
    page.locator("article.paper h3 a").first.click()
    expect(page.locator("h1")).to_contain_text(wanted["title"][:30])
    shot(page, "paper")

    # a hostile record: its math renders with KaTeX, its markup stays text, no script runs
    page.goto(f"{base}/paper/{HOSTILE_ID}")
    expect(page.locator("h1 .katex").first).to_be_visible()
    expect(page.locator("h1")).to_contain_text("<script>alert('title')</script>")
    assert page.locator("main img").count() == 0
    shot(page, "paper-math")

    # subscribe to the daily digest, receive it, unsubscribe from its link
    page.goto(base + "/library")
    page.select_option("select[name=frequency]", "daily")
    page.click("form[action='/library/digest'] button")
    expect(page.locator(".notice")).to_contain_text("Digest: daily")
    reports, inbox = deliver_digests(settings)
    assert [r.status for r in reports] == ["sent"]
    body = inbox.messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"Unsubscribe: (\S+)", body).group(1)  # type: ignore[union-attr]
    page.goto(link)
    page.click("main button[type=submit]")
    expect(page.locator(".notice")).to_contain_text("You are unsubscribed")
    page.goto(base + "/library")
    expect(page.locator("select[name=frequency]")).to_have_value("off")

    # readable on a phone
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "feed-phone")


def test_the_first_hour(server: Any, page: Page, tmp_path: Path) -> None:
    import bibtexparser
    import feedparser
    import pybtex.database

    base, settings, rows = server
    last = max(r["listing_date"] for r in rows)
    counts: dict[str, int] = {}
    for r in rows:
        if r["listing_date"] < last:
            for a in r["authors"]:
                counts[a] = counts.get(a, 0) + 1
    me = max(sorted(counts), key=lambda a: counts[a])  # the most prolific author here

    # a visitor learns what paperfeed is
    page.context.clear_cookies()
    page.goto(base + "/")
    expect(page.locator("#intro")).to_contain_text("ranks each day's new papers for you")
    shot(page, "first-hour-1-visitor")

    # sign up: the welcome page
    sign_up_as(page, base, "fiona")
    shot(page, "first-hour-2-welcome")

    # find yourself by name and tick your papers
    page.fill("#find-yourself input[name=name]", me)
    page.click("#find-yourself button")
    page.locator("#find-yourself input[name=identity]").first.check()
    shot(page, "first-hour-3-find-yourself")
    page.click("text=These are my papers")
    expect(page.locator(".notice")).to_contain_text(f"papers of {me} in your profile")
    expect(page.locator("#rate h2")).to_contain_text("Teach")
    cards = page.locator("#rate article.paper")
    assert cards.count() >= 5
    shot(page, "first-hour-4-rate")

    # rate: the paper rated goes, the next one stays to be rated
    disliked = cards.nth(0).locator("h3").inner_text()
    with page.expect_response(lambda r: r.url.endswith("/api/rate")):  # stored before we look
        cards.nth(0).locator("button[value=down]").click()
    page.goto(page.url)
    assert disliked not in page.locator("#rate").inner_text()
    with page.expect_response(lambda r: r.url.endswith("/api/rate")):
        page.locator("#rate article.paper").first.locator("button[value=up]").click()

    # the first feed, with reasons; the disliked paper is not in it
    page.click("#first-feed")
    expect(page.locator("h1")).to_contain_text(me)
    expect(page.locator("main > article.paper .why").first).to_contain_text("close to")
    assert disliked not in page.locator("main").inner_text()
    shot(page, "first-hour-5-first-feed")

    # a private Atom feed whose address opens, and whose entries open
    profile = f"fiona/{me}"
    page.goto(f"{base}/library?profile={profile}")
    page.click("text=Make a private Atom feed")
    address = page.locator("a.feed-url").get_attribute("href") or ""
    assert address.startswith(base + "/feeds/")
    atom = page.request.get(address)
    assert atom.ok and "atom" in atom.headers["content-type"]
    entries = feedparser.parse(atom.text()).entries
    assert entries
    link = entries[0].link
    assert link.startswith(base + "/paper/") and page.request.get(link).ok
    shot(page, "first-hour-6-atom")

    # the digest arrives, its links point here, and a 👍 from it is taken
    page.select_option("select[name=frequency]", "daily")
    page.click("form[action='/library/digest'] button")
    expect(page.locator(".notice")).to_contain_text("Digest: daily")
    reports, inbox = deliver_digests(settings)
    mine = [m for m in inbox.messages if m["To"] == "fiona@example.org"]
    assert [r.status for r in reports if r.email == "fiona@example.org"] == ["sent"] and mine
    body = mine[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    up = re.search(rf"({re.escape(base)}/r/\S+/up/\S+)", body)
    assert up is not None, body[:500]
    page.goto(up.group(1))
    expect(page.locator(".notice")).to_contain_text("rated up")
    shot(page, "first-hour-7-digest-feedback")

    # export BibTeX and read it back with two readers
    page.goto(f"{base}/library?profile={profile}")
    with page.expect_download() as download:
        page.click("a[href*='format=bibtex']")
    text = Path(download.value.path()).read_text()
    entries = bibtexparser.parse_string(text).entries
    theirs = pybtex.database.parse_string(text, "bibtex").entries
    assert len(entries) == len(theirs) >= 3
    assert all(e.fields_dict["year"].value.isdigit() for e in entries if "eprint" in e.fields_dict)
    people = [len(e.persons.get("author", [])) for e in theirs.values()]
    assert max(people) > 1  # authors read back one by one, not as one name


def test_a_program_chair_assigns_and_a_reviewer_fixes_their_expertise(
    server: Any, page: Page
) -> None:
    import io
    import json
    from collections import Counter

    from conftest import authors_of, corpus_slice
    from paperfeed.ingest import registry
    from paperfeed.match.inputs import Reviewer, submissions_of
    from paperfeed.match.kept import import_reviewers, import_submissions

    base, settings, rows = server
    page.context.clear_cookies()
    sign_up_as(page, base, "chair")

    signed = Counter(a for r in rows for a in authors_of(r))
    pool = sorted(a for a, n in signed.items() if n >= 2)[:30]
    later = corpus_slice(20_000, 12)
    data = "".join(json.dumps(r) + "\n" for r in later).encode()
    subs, ids = submissions_of(registry.get("arxiv-jsonl").parse(io.BytesIO(data), "s"), "s")
    with open_store(settings["db"]) as store:
        chair = store.user("chair")
        assert chair is not None
        with store.writer() as w:
            w.create_venue("Workshop", chair.id, {"k": 2, "max_load": 3})
        venue = store.venue("Workshop")
        import_submissions(store, HashingEmbedder(), venue, subs, ids, [[] for _ in ids])
        import_reviewers(store, venue, [Reviewer(n) for n in pool])
        reviewer = max(store.venue_reviewers(venue.id), key=lambda r: signed[r.name])

    page.goto(base + "/venues")
    page.click("text=Workshop")
    page.click("text=Assign reviewers")
    expect(page.locator("[role=status]")).to_contain_text(f"{2 * len(ids)} pairs assigned")
    expect(page.locator("table.assignment tbody tr")).to_have_count(2 * len(ids))
    expect(page.locator("table.assignment")).to_contain_text("wrote ")
    shot(page, "venue-chair")

    page.context.clear_cookies()  # the reviewer has no account: the link is the key
    page.goto(f"{base}/expertise/{reviewer.token}")
    expect(page.locator("h1")).to_contain_text(reviewer.name)
    boxes = page.locator("input[name=paper]:checked")
    ticked = boxes.count()
    assert ticked >= 2
    boxes.first.uncheck()
    page.click("text=Keep the ticked papers")
    expect(page.locator("[role=status]")).to_contain_text(f"Kept: {ticked - 1} papers")
    expect(page.locator("input[name=paper]:checked")).to_have_count(ticked - 1)
    shot(page, "venue-reviewer")
