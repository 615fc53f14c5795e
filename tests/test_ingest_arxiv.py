"""arXiv sources on recorded real data: JSON lines, API Atom (file and live), RSS, .abs files."""

from __future__ import annotations

import gzip
import itertools
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import ABS_CS_FILE, CORPUS, FIXTURES, Replay, cli_json
from paperfeed import config
from paperfeed.errors import FileRejected, SourceError
from paperfeed.ingest import pipeline
from paperfeed.ingest.sources import arxiv_atom
from paperfeed.store import Store

API = FIXTURES / "arxiv_api_atom" / "arxiv.py"


@pytest.fixture
def corpus_sample(tmp_path: Path) -> Path:
    path = tmp_path / "sample.jsonl.gz"
    with gzip.open(CORPUS, "rb") as src, gzip.open(path, "wb") as out:
        out.writelines(itertools.islice(src, 300))
    return path


def test_corpus_lines_keep_listing_date_authors_and_categories(store: Store, corpus_sample: Path):
    report = pipeline.ingest_path(store, corpus_sample)
    assert (report.format, report.records, report.new) == ("arxiv-jsonl", 300, 300)
    with gzip.open(corpus_sample) as f:
        first = json.loads(f.readline())
    paper = store.get_paper(first["id"])
    assert paper.listed == first["listing_date"]
    assert [a.name for a in paper.authors] == first["authors"]
    assert paper.categories == first["categories"]
    assert paper.links["pdf"] == first["pdf"]
    # Display text has the hard line wraps removed; the original is kept.
    assert "\n" not in paper.abstract
    assert paper.abstract_raw == first["summary"]
    assert paper.provenance["abstract"] == "arxiv-jsonl"


def test_metadata_table_rows_become_one_paper_with_its_version_history(store: Store):
    path = FIXTURES / "arxiv_db_metadata" / "arxiv_metadata_table.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    pipeline.ingest_path(store, path)
    ids = {r["paper_id"] for r in rows}
    assert store.stats()["papers"] == len(ids)
    row = rows[0]
    paper = store.get_paper(row["paper_id"])
    versions = sorted(r["version"] for r in rows if r["paper_id"] == row["paper_id"])
    assert [v["version"] for v in paper.versions] == versions
    assert paper.arxiv_version == max(versions)
    current = next(
        r for r in rows if r["paper_id"] == row["paper_id"] and r["version"] == max(versions)
    )
    assert paper.title == " ".join(current["title"].split())


def test_bulk_snapshot_dialect(store: Store, tmp_path: Path):
    line = {
        "id": "0704.0001",
        "submitter": "Pavel Nadolsky",
        "authors": "C. Bal\\'azs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan",
        "title": "Calculation of prompt diphoton production cross sections at Tevatron and\n  LHC energies",
        "comments": "37 pages, 15 figures",
        "journal-ref": "Phys.Rev.D76:013009,2007",
        "doi": "10.1103/PhysRevD.76.013009",
        "report-no": "ANL-HEP-PR-07-12",
        "categories": "hep-ph",
        "license": None,
        "abstract": "  A fully differential calculation in perturbative quantum chromodynamics is\npresented.",
        "versions": [
            {"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"},
            {"version": "v2", "created": "Tue, 24 Jul 2007 20:10:27 GMT"},
        ],
        "update_date": "2008-11-13",
        "authors_parsed": [
            ["Balázs", "C.", ""],
            ["Berger", "E. L.", ""],
            ["Nadolsky", "P. M.", ""],
            ["Yuan", "C. -P.", ""],
        ],
    }
    path = tmp_path / "snapshot.json"
    path.write_text(json.dumps(line) + "\n")
    pipeline.ingest_path(store, path)
    p = store.get_paper("arXiv:0704.0001v2")
    assert [a.name for a in p.authors] == [
        "C. Balázs",
        "E. L. Berger",
        "P. M. Nadolsky",
        "C. -P. Yuan",
    ]
    assert p.published == "2007-04-02" and p.arxiv_version == 2
    assert p.ids["doi"] == "10.1103/physrevd.76.013009"
    assert store.get_paper("10.1103/PhysRevD.76.013009").id == p.id


def test_api_atom_file_with_affiliations_and_versions(store: Store):
    report = pipeline.ingest_path(store, API / "id_1707.08567_s0_m100_6a1afebfc6a3.xml")
    assert report.format == "arxiv-atom"
    p = store.get_paper("1707.08567")
    assert p.title and p.authors and p.published
    assert p.links["abs"] == "https://arxiv.org/abs/1707.08567"


def test_api_error_feed_is_refused_with_its_message(store: Store):
    with pytest.raises(FileRejected, match="incorrect id format for abc"):
        pipeline.ingest_path(store, API / "id_abc_s0_m100_b79c8dcf6bc3.xml")
    assert store.stats()["papers"] == 0


def _query_key(url: str) -> tuple[str, ...]:
    q = parse_qs(urlparse(url).query, keep_blank_values=True)
    return tuple(q.get(k, [""])[0] for k in ("search_query", "id_list", "start", "max_results"))


def _serve_arxiv_fixtures(replay: Replay) -> None:
    """Answer API queries with the recorded response for the same query, start and size."""
    recordings = {}
    for f in API.glob("*.json"):
        rec = json.loads(f.read_text())
        recordings[_query_key(rec["url"])] = (
            rec["status_code"],
            {"Content-Type": "application/atom+xml"},
            rec["body"].encode(),
        )
    replay.routes.append(lambda path: recordings.get(_query_key(path)))


def _settings(**kw: object) -> dict:
    return config.load(env={}, arxiv_delay=0.0, backoff=0.0, **kw)


def test_live_search_pages_through_results(replay: Replay, store: Store):
    _serve_arxiv_fixtures(replay)
    settings = _settings(arxiv_api_url=replay.url + "/api/query")
    items = list(arxiv_atom.search(settings, "testing", max_results=60, page_size=10))
    assert len(items) == 60
    assert len({i.arxiv_id for i in items}) == 60
    starts = [parse_qs(urlparse(p).query)["start"][0] for p in replay.requests]
    assert starts == ["0", "10", "20", "30", "40", "50"]
    report = pipeline.ingest_items(store, iter(items), replay.url, "arxiv-atom")
    assert report.new == 60


def test_live_id_lookup_and_error(replay: Replay):
    _serve_arxiv_fixtures(replay)
    settings = _settings(arxiv_api_url=replay.url + "/api/query")
    [rec] = arxiv_atom.search(settings, ids=["1605.08386"])
    assert rec.title == "Heat-bath random walks with Markov bases"
    assert [a.name for a in rec.authors] == ["Caprice Stanley", "Tobias Windisch"]
    with pytest.raises(SourceError, match="HTTP 400"):
        list(arxiv_atom.search(settings, ids=["abc"]))


def test_live_search_retries_server_errors_with_backoff(replay: Replay):
    body = json.loads((API / "id_1605.08386_s0_m100_199195aa31ad.json").read_text())["body"]
    replay.sequence(
        (503, {"Retry-After": "0"}, b"busy"), (500, {}, b"oops"), (200, {}, body.encode())
    )
    settings = _settings(arxiv_api_url=replay.url + "/api/query")
    [rec] = arxiv_atom.search(settings, ids=["1605.08386"])
    assert rec.arxiv_id == "1605.08386"
    assert len(replay.requests) == 3


def test_live_search_gives_up_after_retries(replay: Replay):
    replay.sequence((503, {}, b"busy"))
    settings = _settings(arxiv_api_url=replay.url + "/api/query", retries=2)
    with pytest.raises(SourceError, match="503"):
        list(arxiv_atom.search(settings, ids=["1605.08386"]))
    assert len(replay.requests) == 3


def test_fetch_command(replay: Replay, cli, monkeypatch):
    _serve_arxiv_fixtures(replay)
    monkeypatch.setenv("PAPERFEED_ARXIV_API_URL", replay.url + "/api/query")
    monkeypatch.setenv("PAPERFEED_ARXIV_DELAY", "0")
    report = cli_json(cli("fetch", "arxiv", "--id", "0808.05394", "--id", "1707.08567", "--json"))
    assert report["new"] == 1  # arXiv has no 0808.05394: the recorded answer holds one entry
    assert cli_json(cli("show", "1707.08567", "--json"))["ids"]["arxiv"] == "1707.08567"
    result = cli("fetch", "arxiv", "--id", "abc", expect=1)
    assert "HTTP 400" in result.stderr


def test_rss_listing_gives_listing_day_and_announce_type(store: Store):
    path = FIXTURES / "arxiv_rss" / "rss_arxiv_org_atom_cs.AI_2025-08-20.xml"
    report = pipeline.ingest_path(store, path)
    assert (report.format, report.new) == ("arxiv-rss", 7)
    p = store.get_paper("2508.13426")
    assert p.listed == "2025-08-20"
    assert p.abstract.startswith("As large language models")
    assert [a.name for a in p.authors] == ["Chunhua Liu", "Kabir Manandhar Shrestha", "Sukai Huang"]
    assert p.license == "http://creativecommons.org/licenses/by-nc-sa/4.0/"


def test_abs_file_with_revisions(store: Store):
    path = ABS_CS_FILE
    pipeline.ingest_path(store, path)
    p = store.get_paper("cs/0011004")
    assert p.title == "Anonymous Oblivious Transfer"
    assert [a.name for a in p.authors] == ["J. Mueller-Quade", "H. Imai"]
    assert [v["version"] for v in p.versions] == [1, 2]
    assert (p.published, p.updated) == ("2000-11-04", "2000-12-03")
    assert (
        p.comment
        == "6 pages, some things clearified, especially that a broadcast channel is not necessary"
    )
    assert p.abstract.startswith("In this short note")


def test_all_abs_files_ingest(cli):
    root = FIXTURES / "arxiv_abs_files" / "abs_files"
    files = [f for f in sorted(root.rglob("*.abs")) if f.stat().st_size][:300]
    ids = {
        re.search(
            r"^(?:arXiv|Paper):\s*(\S+?)(?:v\d+)?$", f.read_text(errors="replace"), re.MULTILINE
        ).group(1)
        for f in files
    }
    cli("ingest", *files)
    assert cli_json(cli("stats", "--json"))["papers"] == len(ids)


def test_fetch_of_a_category_asks_for_its_newest_submissions(replay: Replay, cli, monkeypatch):
    body = json.loads((API / "id_1605.08386_s0_m100_199195aa31ad.json").read_text())["body"]
    replay.sequence((200, {}, body.encode()))
    monkeypatch.setenv("PAPERFEED_ARXIV_API_URL", replay.url + "/api/query")
    monkeypatch.setenv("PAPERFEED_ARXIV_DELAY", "0")
    cli("fetch", "arxiv", "--category", "math.CO", "--max", "1", "--json")
    asked = replay.requests[0]
    assert "cat%3Amath.CO" in asked or "cat:math.CO" in asked
    assert "sortBy=submittedDate" in asked and "sortOrder=descending" in asked
