"""``paperfeed sync`` against a local server replaying recorded arXiv responses, with the
faults a daily job meets: 503 with Retry-After, a reset mid-body, a cut page, an expired
resumption token, an empty day, the same records twice, a clock that goes back, kills."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import CUT, FIXTURES, RSS_FILE, Answer, Replay
from paperfeed import config
from paperfeed.ingest.pipeline import ingest_path
from paperfeed.store import Store, open_store
from paperfeed.sync import STEPS, Sync, SyncBusy, status
from paperfeed.sync.harvest import harvest_oai
from paperfeed.sync.http import Fetcher

HEPCRAWL = FIXTURES / "oai_pmh" / "hepcrawl"
PAPERHIVE = FIXTURES / "oai_pmh" / "paperhive_nock"
#: Three recorded ListRecords pages, chained by resumption tokens as arXiv pages a harvest.
PAGES = [
    HEPCRAWL / "arxiv-physics-hep-th.xml",
    HEPCRAWL / "arxiv-physics-hep-ex.xml",
    PAPERHIVE / "oaipmh-listrecords---should-list-identifiers-from-arxiv.1.xml",
]
XML = {"Content-Type": "text/xml; charset=utf-8"}


def _page(n: int) -> bytes:
    """Recorded page ``n``, with the token of the next page where there is one."""
    body = PAGES[n].read_bytes()
    token = f"<resumptionToken>page-{n + 1}</resumptionToken>" if n + 1 < len(PAGES) else ""
    return body.replace(b"</ListRecords>", token.encode() + b"</ListRecords>")


def _oai_error(code: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<OAI-PMH xmlns="http://www.openarchives.org/'
        'OAI/2.0/"><responseDate>2026-12-02T01:00:00Z</responseDate><request verb="ListRecords"'
        f'>x</request><error code="{code}">recorded fault</error></OAI-PMH>'
    ).encode()


class Oai:
    """Routes OAI-PMH requests to the recorded pages; ``faults[key]`` answers first, in turn
    (key: ``start`` or a token)."""

    def __init__(self, faults: dict[str, list[Answer]] | None = None) -> None:
        self.faults = faults or {}
        self.asked: list[dict[str, str]] = []

    def __call__(self, path: str) -> Answer | None:
        parts = urlsplit(path)
        if parts.path != "/oai":
            return None
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.asked.append(query)
        key = query.get("resumptionToken", "start")
        if self.faults.get(key):
            return self.faults[key].pop(0)
        n = 0 if key == "start" else int(key.split("-")[1])
        return 200, XML, _page(n)


def _settings(replay: Replay, db: str, **more: object) -> dict:
    chosen: dict[str, object] = {
        "db": db,
        "oai_pmh_url": f"{replay.url}/oai",
        "arxiv_rss_url": f"{replay.url}/rss",
        "sync_categories": "",
        "sync_since": "2017-12-01",
        "arxiv_delay": 0.0,
        "backoff": 0.01,
        "embedder": "hashing",
    }
    return config.load({}, **(chosen | more))


def _fetcher(settings: dict, waits: list[float]) -> Fetcher:
    return Fetcher(settings, sleep=waits.append)


def _direct(tmp_path: Path) -> list[tuple]:
    """The papers a store holds after ingesting the recorded pages as files."""
    with open_store(str(tmp_path / "direct.db")) as store:
        for n in range(len(PAGES)):
            path = tmp_path / f"page{n}.xml"
            path.write_bytes(_page(n))
            ingest_path(store, path)
        return _papers(store)


def _papers(store: Store) -> list[tuple]:
    return sorted(
        (p.ids.get("arxiv"), p.title, p.abstract, tuple(a.name for a in p.authors), str(p.versions))
        for p in store.iter_papers()
    )


def test_a_harvest_gets_every_page_through_every_fault(
    db: str, replay: Replay, tmp_path: Path
) -> None:
    cut_page = _page(0)[: len(_page(0)) // 2]
    oai = Oai(
        {
            "start": [
                (503, {"Retry-After": "7"}, b"<html>Retry after 7 seconds</html>"),
                (200, XML, cut_page),  # a page cut short, but whole as HTTP goes
            ],
            "page-1": [(200, {**XML, CUT: "1"}, _page(1))],  # reset mid-body
            "page-2": [(200, XML, _oai_error("badResumptionToken"))],  # expired
        }
    )
    replay.routes.append(oai)
    settings = _settings(replay, db)
    waits: list[float] = []
    with open_store(settings["db"]) as store:
        report = harvest_oai(store, _fetcher(settings, waits), settings, "2026-12-02")
        assert report.restarts == 1 and report.bad == []
        assert 7.0 in waits  # the Retry-After was honoured
        assert _papers(store) == _direct(tmp_path)  # same as the pages ingested as files
        assert len(_papers(store)) == 8  # each once, though pages came twice
        kept = store.sync_state("oai:")
    assert kept == {"oai:cs:arXivRaw:from": "2017-12-14"}  # no token left: the harvest ended
    assert oai.asked[0] == {
        "verb": "ListRecords",
        "metadataPrefix": "arXivRaw",
        "from": "2017-12-01",
        "set": "cs",
    }


def test_the_next_harvest_asks_from_the_watermark_and_an_empty_day_is_no_error(
    db: str, replay: Replay, tmp_path: Path
) -> None:
    oai = Oai({"start": [(200, XML, _page(0)), (200, XML, _oai_error("noRecordsMatch"))]})
    oai.faults["page-1"] = [(200, XML, _oai_error("noRecordsMatch"))]  # the rest: nothing
    replay.routes.append(oai)
    settings = _settings(replay, db)
    with open_store(settings["db"]) as store:
        first = harvest_oai(store, _fetcher(settings, []), settings, "2026-12-02")
        second = harvest_oai(store, _fetcher(settings, []), settings, "2026-12-03")
    assert first.records == 3 and second.records == 0 and second.pages == 1
    assert oai.asked[-1]["from"] == "2017-12-14"


def test_the_watermark_never_moves_back_when_a_clock_does(
    db: str, replay: Replay, tmp_path: Path
) -> None:
    replay.routes.append(Oai())
    settings = _settings(replay, db)
    with open_store(settings["db"]) as store:
        with store.writer() as w:
            w.set_sync_state("oai:cs:arXivRaw:from", "2018-01-05")  # later than the pages say
        harvest_oai(store, _fetcher(settings, []), settings, "2026-12-02")
        assert store.sync_state("oai:cs:arXivRaw:from") == {"oai:cs:arXivRaw:from": "2018-01-05"}


def test_a_bad_record_in_a_harvested_page_is_reported_and_the_rest_stored(
    db: str, replay: Replay, tmp_path: Path
) -> None:
    broken = _page(2).replace(b"<id>1412.8544</id>", b"<id>not an id</id>", 1)
    replay.routes.append(Oai({"start": [(200, XML, _page(2).replace(b"<resumptionToken>", b""))]}))
    replay.routes.insert(0, lambda p: (200, XML, broken) if p.startswith("/oai") else None)
    settings = _settings(replay, db)
    with open_store(settings["db"]) as store:
        report = harvest_oai(store, _fetcher(settings, []), settings, "2026-12-02")
        assert len(report.bad) == 1 and "1412.8544" in report.bad[0]
        assert [p.ids.get("arxiv") for p in store.iter_papers()] == ["hep-th/9504118"]


def test_a_source_that_keeps_failing_fails_the_step_not_the_sync(
    db: str, replay: Replay, tmp_path: Path
) -> None:
    replay.routes.append(lambda p: (503, {"Retry-After": "2"}, b"busy"))
    settings = _settings(replay, db, sync_categories="cs.AI")
    sent: list = []
    with open_store(settings["db"]) as store:
        outcome = Sync(store, settings, _fetcher(settings, []), send=sent.append).run()
        assert not outcome["ok"]
        assert outcome["steps"]["harvest"]["outcome"] == "failed"
        assert "no usable answer after 5 tries (HTTP 503)" in outcome["steps"]["harvest"]["error"]
        assert [s for s, r in outcome["steps"].items() if r["outcome"] == "ok"] == [
            "enrich",
            "embed",
            "refresh",
            "rank",
            "send",
        ]
        assert status(store, settings)["steps"]["harvest"]["outcome"] == "failed"


def test_a_sync_stores_the_days_announcements_and_runs_every_step(
    db: str, replay: Replay, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import paperfeed.search.vectors

    monkeypatch.setattr(paperfeed.search.vectors, "ANN_THRESHOLD", 1)
    replay.routes.append(Oai())
    replay.routes.append(lambda p: (200, XML, RSS_FILE.read_bytes()) if p == "/rss/cs.AI" else None)
    settings = _settings(replay, db, sync_categories="cs.AI")
    with open_store(settings["db"]) as store:
        outcome = Sync(store, settings, _fetcher(settings, [])).run()
        assert outcome["ok"], outcome
        assert store.latest_day() == "2025-08-20"
        listed = store.listing_days(5)
        assert listed[0] == ("2025-08-20", 7)  # the recorded listing's seven entries
        found = status(store, settings)
        assert found["watermarks"]["rss:cs.AI:day"] == "2025-08-20"
        assert found["steps"]["embed"]["detail"]["embedded"] == store.paper_count()
        assert found["running"] is None
        # PostgreSQL keeps the vector index in itself, and the embed step built it
        (model,) = store.stats()["embedded"]
        assert (store.ann_index(model) is not None) == db.startswith("postgresql")


def test_only_one_sync_runs_at_a_time_and_a_dead_ones_lease_expires(
    db: str, replay: Replay, tmp_path: Path
) -> None:
    replay.routes.append(Oai())
    settings = _settings(replay, db)
    with open_store(settings["db"]) as store:
        with store.writer() as w:
            assert w.take_lease("sync", "host:1:dead", 60, time.time())
        with pytest.raises(SyncBusy, match="host:1:dead"):
            Sync(store, settings, _fetcher(settings, [])).run(("harvest",))
        with store.writer() as w:  # its holder died: the lease ran out
            w.take_lease("sync", "host:1:dead", -1, time.time())
        assert Sync(store, settings, _fetcher(settings, [])).run(("harvest",))["ok"]
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        with store.writer() as w:  # a holder on this machine that is gone: taken over now
            assert w.take_lease("sync", f"{socket.gethostname()}:{gone.pid}:1", 60, time.time())
        assert Sync(store, settings, _fetcher(settings, [])).run(("harvest",))["ok"]


def _sync_process(replay: Replay, db: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PAPERFEED_DB": str(db),
        "PAPERFEED_OAI_PMH_URL": f"{replay.url}/oai",
        "PAPERFEED_SYNC_CATEGORIES": "",
        "PAPERFEED_SYNC_SINCE": "2017-12-01",
        "PAPERFEED_ARXIV_DELAY": "0.05",
        "PAPERFEED_EMBEDDER": "hashing",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "paperfeed", "sync", "--step", "harvest", "--step", "embed"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_sync_killed_anywhere_then_rerun_ends_as_one_clean_run(
    replay: Replay, tmp_path: Path
) -> None:
    replay.routes.append(Oai())
    clean = tmp_path / "clean.db"
    started = time.monotonic()
    assert _sync_process(replay, clean).wait() == 0
    took = time.monotonic() - started
    db = tmp_path / "killed.db"
    rng = random.Random(18)
    kills = int(os.environ.get("PAPERFEED_SYNC_KILLS", "50"))
    for _ in range(kills):
        proc = _sync_process(replay, db)
        time.sleep(rng.uniform(0, took))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _sync_process(replay, db).wait() == 0

    def kept(path: Path) -> tuple[list[tuple], dict[str, str], int]:
        with open_store(str(path)) as store:
            vectors = len(store.load_vectors("hashing-64")[0])
            return _papers(store), store.sync_state("oai:"), vectors

    assert kept(db) == kept(clean)
    assert len(kept(clean)[0]) == 8


def test_serve_syncs_on_schedule_and_shows_the_new_papers_without_a_restart(
    db: str, replay: Replay, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from paperfeed.web.app import create_app

    replay.routes.append(Oai())
    replay.routes.append(lambda p: (200, XML, RSS_FILE.read_bytes()) if p == "/rss/cs.AI" else None)
    settings = _settings(replay, db, sync_categories="cs.AI", sync_hour=0)
    app = create_app(settings, background=False, schedule_sync=True, schedule_digests=True)
    with TestClient(app) as client:
        assert "No papers yet" in client.get("/").text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = client.get("/api/status").json()["sync"]
            if found["last_run"] and not found["running"]:
                break
            time.sleep(0.2)
        assert found["last_run"]["ok"], found
        assert set(found["steps"]) == set(STEPS)
        assert "Papers up to 2025-08-20; synced" in client.get("/").text
        listed = client.get("/papers?day=2025-08-20").text
        rss_titles = [t for t in _titles(RSS_FILE.read_bytes())][:3]
        assert all(t in listed for t in rss_titles), rss_titles


def _titles(feed: bytes) -> list[str]:
    from lxml import etree

    root = etree.fromstring(feed)
    return [
        " ".join((e.text or "").split()) for e in root.iter("{http://www.w3.org/2005/Atom}title")
    ][1:]


def test_three_days_of_sync_hold_what_ingesting_the_three_days_files_holds(
    db: str, replay: Replay, tmp_path: Path
) -> None:
    import gzip
    import itertools

    from arxiv_days import days_after, listing, rows_by_day
    from conftest import CORPUS

    first, *days = list(days_after(CORPUS, "2025-03-18", 4))
    by_day = rows_by_day(CORPUS, days)
    head = tmp_path / "head.jsonl"
    with gzip.open(CORPUS, "rb") as f:
        head.write_bytes(b"".join(itertools.takewhile(lambda b: first.encode() in b, f)))
    today = {"day": ""}
    replay.routes.append(
        lambda p: (
            (200, XML, listing(by_day[today["day"]], today["day"])) if p == "/rss/cs" else None
        )
    )
    settings = _settings(replay, db, sync_categories="cs", sync_oai_set="")
    direct = tmp_path / "direct.db"
    with open_store(settings["db"]) as synced, open_store(str(direct)) as by_hand:
        ingest_path(synced, head)
        ingest_path(by_hand, head)
        for day in days:
            today["day"] = day
            outcome = Sync(synced, settings, _fetcher(settings, []), today=day).run()
            assert outcome["ok"], outcome
            assert synced.latest_day() == day  # the day's papers are today's
            path = tmp_path / f"{day}.xml"
            path.write_bytes(listing(by_day[day], day))
            ingest_path(by_hand, path)
        assert _papers(synced) == _papers(by_hand)
        assert synced.listing_days(10) == by_hand.listing_days(10)
        assert [d for d, _ in synced.listing_days(10)] == [*days[::-1], first]


def test_enrichment_gives_the_days_authors_their_affiliations_and_keeps_arxivs_record(
    db: str, replay: Replay, tmp_path: Path
) -> None:
    """Semantic Scholar's batch answer (its recorded format; affiliations of the day's first
    paper's authors) adds where they work, and an open PDF, and changes nothing arXiv said."""
    import httpx
    import orjson

    replay.routes.append(lambda p: (200, XML, RSS_FILE.read_bytes()) if p == "/rss/cs.AI" else None)
    settings = _settings(replay, db, sync_categories="cs.AI", sync_enrich="s2")
    asked: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        asked.append({"fields": request.url.params["fields"], "ids": body["ids"]})
        papers = []
        for i, ref in enumerate(body["ids"]):
            arxiv_id = ref.removeprefix("ARXIV:")
            paper = store.get_paper(arxiv_id)
            papers.append(
                None  # a paper Semantic Scholar does not know yet
                if i == 1
                else {
                    "paperId": f"s2-{i}",
                    "externalIds": {"ArXiv": arxiv_id, "CorpusId": 1000 + i},
                    "title": paper.title.upper() if paper.title else None,
                    "venue": "",
                    "openAccessPdf": {"url": f"https://example.org/{arxiv_id}.pdf"},
                    "authors": [
                        {"authorId": str(n), "name": a.name, "affiliations": [f"Lab {n}"]}
                        for n, a in enumerate(paper.authors)
                    ],
                }
            )
        return httpx.Response(200, json=papers)

    with open_store(settings["db"]) as store:
        sync = Sync(
            store, settings, _fetcher(settings, []), s2_transport=httpx.MockTransport(answer)
        )
        outcome = sync.run(("announce", "enrich"))
        assert outcome["ok"], outcome
        assert outcome["steps"]["enrich"]["detail"] == {
            "day": "2025-08-20",
            "asked": 7,
            "found": 6,
            "bad": 0,
        }
        assert asked[0]["fields"].endswith("authors.name,authors.affiliations")
        first = store.get_paper(asked[0]["ids"][0].removeprefix("ARXIV:"))
        assert first.authors[0].affiliations == ["Lab 0"]
        assert first.title and not first.title.isupper()  # arXiv's title stays
        unknown = store.get_paper(asked[0]["ids"][1].removeprefix("ARXIV:"))
        assert all(not a.affiliations for a in unknown.authors)
        again = Sync(
            store, settings, _fetcher(settings, []), s2_transport=httpx.MockTransport(answer)
        )
        assert again.run(("enrich",))["steps"]["enrich"]["detail"]["papers"] == 0  # done today
        assert len(asked) == 1


def test_a_replaced_or_withdrawn_version_updates_the_paper_and_keeps_its_first_day(
    db: str, replay: Replay, tmp_path: Path
) -> None:
    from arxiv_days import days_after, listing, rows_by_day
    from conftest import CORPUS

    first, second = list(days_after(CORPUS, "2025-03-18", 2))
    rows = rows_by_day(CORPUS, [first, second])
    replaced = rows[first][0]
    today = {"feed": listing(rows[first], first)}
    replay.routes.append(lambda p: (200, XML, today["feed"]) if p == "/rss/cs" else None)
    settings = _settings(replay, db, sync_categories="cs", sync_oai_set="")
    with open_store(settings["db"]) as store:
        assert Sync(store, settings, _fetcher(settings, []), today=first).run(("announce",))["ok"]
        withdrawn = dict(replaced, summary="This paper has been withdrawn by the authors.")
        again = listing([withdrawn], second).replace(b"Type: new", b"Type: replace")
        again = again.replace(b"<arxiv:announce_type>new<", b"<arxiv:announce_type>replace<")
        again = again.replace(f"{replaced['id']}v1".encode(), f"{replaced['id']}v2".encode())
        today["feed"] = (
            listing(rows[second], second)[: -len(b"</feed>\n")] + again[again.index(b"<entry>") :]
        )
        assert Sync(store, settings, _fetcher(settings, []), today=second).run(("announce",))["ok"]
        paper = store.get_paper(replaced["id"])
        assert paper.listed == first  # not new again
        assert (paper.arxiv_version, paper.abstract) == (2, withdrawn["summary"])  # updated
        assert dict(store.listing_days(2)) == {first: len(rows[first]), second: len(rows[second])}
