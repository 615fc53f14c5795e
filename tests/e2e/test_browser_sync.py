"""A running server keeps itself current: headless Chromium (Debian's) watches the pages of
a ``paperfeed serve`` whose daily sync fetches the next day from a replay server, and sees
the new day's papers without a restart. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import gzip
import itertools
import threading
import time
from pathlib import Path

import uvicorn

from arxiv_days import days_after, listing, rows_by_day
from conftest import CORPUS, Replay
from paperfeed import config
from paperfeed.ingest.pipeline import ingest_path
from paperfeed.store import open_store
from paperfeed.web.app import create_app
from webapp import ARTIFACTS, CHROMIUM, free_port, require_chromium

require_chromium()

from playwright.sync_api import expect, sync_playwright  # noqa: E402


def test_the_server_shows_the_next_days_papers_once_its_sync_ran(
    replay: Replay, tmp_path: Path
) -> None:
    today, tomorrow = list(days_after(CORPUS, "2025-03-18", 2))
    new = rows_by_day(CORPUS, [tomorrow])[tomorrow]
    head = tmp_path / "head.jsonl"
    with gzip.open(CORPUS, "rb") as f:
        head.write_bytes(b"".join(itertools.takewhile(lambda b: today.encode() in b, f)))
    arxiv_announced = threading.Event()  # the listing is answered once the test says so

    def announce(path: str):  # type: ignore[no-untyped-def]
        if path != "/rss/cs":
            return None
        arxiv_announced.wait(60)
        return 200, {"Content-Type": "application/atom+xml"}, listing(new, tomorrow)

    replay.routes.append(announce)
    port = free_port()
    settings = config.load(
        {},
        db=str(tmp_path / "live.db"),
        embedder="hashing",
        arxiv_rss_url=f"{replay.url}/rss",
        sync_categories="cs",
        sync_oai_set="",
        sync_hour=0,
        arxiv_delay=0.0,
        base_url=f"http://127.0.0.1:{port}",
    )
    with open_store(settings["db"]) as store:
        ingest_path(store, head)
    app = create_app(settings, schedule_sync=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            base = settings["base_url"]
            page.goto(f"{base}/papers?day={tomorrow}")
            expect(page.locator("footer")).to_contain_text(f"Papers up to {today}")
            expect(page.get_by_text(f"of {len(new)} papers")).to_have_count(0)
            arxiv_announced.set()  # arXiv announces the next day; the server's sync reads it
            deadline = time.monotonic() + 60
            while f"Papers up to {tomorrow}; synced" not in page.inner_text("footer"):
                assert time.monotonic() < deadline, page.inner_text("footer")
                time.sleep(0.5)
                page.reload()
            page.screenshot(path=str(ARTIFACTS / "sync-next-day.png"), full_page=False)
            expect(page.get_by_text(f"1–50 of {len(new)} papers")).to_be_visible()
            browser.close()
    finally:
        arxiv_announced.set()
        server.should_exit = True
        thread.join(10)
