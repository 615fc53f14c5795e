"""Semantic Scholar and OpenAlex records: files, and the live client over recorded responses."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import yaml

from conftest import FIXTURES
from paperfeed import config
from paperfeed.errors import SourceError
from paperfeed.ingest import pipeline
from paperfeed.ingest.sources import semantic_scholar
from paperfeed.store import Store

S2 = FIXTURES / "semantic_scholar_api"


def _cassette(name: str) -> list[tuple[httpx.URL, int, bytes]]:
    """The (url, status, body) interactions of a recorded vcrpy cassette."""
    out = []
    for i in yaml.safe_load((S2 / name).read_text())["interactions"]:
        resp = i["response"]
        body = resp.get("content") or resp.get("body", {}).get("string", "")
        status = resp["status"]["code"] if "status" in resp else resp["status_code"]
        out.append((httpx.URL(i["request"]["uri"]), status, body.encode()))
    return out


def _transport(name: str) -> httpx.MockTransport:
    recorded = _cassette(name)

    def handler(request: httpx.Request) -> httpx.Response:
        for url, status, body in recorded:
            same_offset = parse_qs(url.query.decode()).get("offset") == parse_qs(
                request.url.query.decode()
            ).get("offset")
            if url.path == request.url.path and same_offset:
                return httpx.Response(status, content=body)
        return httpx.Response(404, content=b'{"error": "not recorded"}')

    return httpx.MockTransport(handler)


def test_paper_json_file(store: Store):
    report = pipeline.ingest_path(store, S2 / "Paper.json")
    assert report.format == "semantic-scholar"
    p = store.get_paper("s2:2d5673caa9e6af3a7b82a43f19ee920992db07ad")
    assert p.title == "Computing Machinery and Intelligence"
    assert p.ids["doi"] == "10.1093/mind/lix.236.433"
    assert store.get_paper("10.1093/MIND/LIX.236.433").id == p.id


def test_null_values_are_tolerated(store: Store):
    report = pipeline.ingest_path(store, S2 / "PaperWithNullValues.json")
    assert report.new == 1 and not report.bad


def test_author_json_with_papers(store: Store):
    data = json.loads((S2 / "Author.json").read_text())
    report = pipeline.ingest_path(store, S2 / "Author.json")
    assert report.records == len(data["papers"])


def test_client_follows_next_offsets_through_an_authors_papers(store: Store):
    settings = config.load(env={}, s2_api_url="https://api.semanticscholar.org/graph/v1")
    client = semantic_scholar.Client(settings, transport=_transport("test_get_author_papers.yaml"))
    items = list(client.author_papers("1723755"))
    recorded = sum(
        len(json.loads(b)["data"]) for _, _, b in _cassette("test_get_author_papers.yaml")
    )
    assert len(items) == recorded > 800
    report = pipeline.ingest_items(store, iter(items), "s2", "semantic-scholar")
    assert report.new == len({i.s2_id for i in items})


def test_client_reports_not_found_and_retries_rate_limits():
    settings = config.load(env={}, backoff=0.0)
    client = semantic_scholar.Client(settings, transport=_transport("test_not_found.yaml"))
    with pytest.raises(SourceError, match="not found"):
        list(client.paper("0"))
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(429, headers={"retry-after": "0"})
        return httpx.Response(200, json={"paperId": "abc", "title": "A paper"})

    client = semantic_scholar.Client(settings, transport=httpx.MockTransport(flaky))
    [rec] = client.paper("abc")
    assert rec.title == "A paper" and len(calls) == 3


# A work as documented at docs.openalex.org (Work object), trimmed.
OPENALEX_WORK = {
    "id": "https://openalex.org/W2741809807",
    "doi": "https://doi.org/10.7717/peerj.4375",
    "title": "The state of OA: a large-scale analysis of the prevalence and impact of Open Access articles",
    "display_name": "The state of OA: a large-scale analysis of the prevalence and impact of Open Access articles",
    "publication_year": 2018,
    "publication_date": "2018-02-13",
    "ids": {
        "openalex": "https://openalex.org/W2741809807",
        "doi": "https://doi.org/10.7717/peerj.4375",
    },
    "primary_location": {
        "is_oa": True,
        "landing_page_url": "https://doi.org/10.7717/peerj.4375",
        "pdf_url": "https://peerj.com/articles/4375.pdf",
        "source": {"id": "https://openalex.org/S1983995261", "display_name": "PeerJ"},
    },
    "locations": [{"landing_page_url": "https://arxiv.org/abs/1709.01234v2", "pdf_url": None}],
    "authorships": [
        {
            "author_position": "first",
            "author": {"id": "https://openalex.org/A5023888391", "display_name": "Heather Piwowar"},
            "institutions": [
                {"id": "https://openalex.org/I4200000001", "display_name": "Impactstory"}
            ],
            "raw_affiliation_strings": ["Impactstory, Sanford, NC, USA"],
        },
        {
            "author_position": "last",
            "author": {
                "id": "https://openalex.org/A5079224231",
                "display_name": "Stefanie Haustein",
            },
            "institutions": [],
            "raw_affiliation_strings": ["University of Ottawa"],
        },
    ],
    "abstract_inverted_index": {
        "Despite": [0],
        "growing": [1],
        "interest": [2],
        "in": [3],
        "Open": [4],
        "Access": [5],
    },
}


def test_openalex_work_and_list_response(store: Store, tmp_path: Path):
    path = tmp_path / "works.json"
    path.write_text(json.dumps({"meta": {"count": 1}, "results": [OPENALEX_WORK]}))
    report = pipeline.ingest_path(store, path)
    assert report.format == "openalex"
    p = store.get_paper("openalex:W2741809807")
    assert p.abstract == "Despite growing interest in Open Access"
    assert p.ids["arxiv"] == "1709.01234" and p.ids["doi"] == "10.7717/peerj.4375"
    assert [a.affiliations for a in p.authors] == [["Impactstory"], ["University of Ottawa"]]
    assert p.venue == "PeerJ" and p.year == 2018
