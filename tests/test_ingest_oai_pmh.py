"""arXiv OAI-PMH: recorded responses from files, and live harvesting through sickle."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import FIXTURES, Replay
from paperfeed import config
from paperfeed.errors import FileRejected
from paperfeed.ingest import pipeline
from paperfeed.ingest.sources import oai_pmh
from paperfeed.store import Store

OAI = FIXTURES / "oai_pmh"

ARXIV_RAW = """<?xml version="1.0" encoding="UTF-8"?>
<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">
<responseDate>2024-01-01T00:00:00Z</responseDate>
<request verb="GetRecord" metadataPrefix="arXivRaw">http://export.arxiv.org/oai2</request>
<GetRecord><record><header><identifier>oai:arXiv.org:1601.03238</identifier>
<datestamp>2016-01-14</datestamp></header><metadata>
<arXivRaw xmlns="http://arxiv.org/OAI/arXivRaw/">
<id>1601.03238</id><submitter>Jieci Wang</submitter>
<version version="v1"><date>Wed, 13 Jan 2016 13:46:06 GMT</date><size>321kb</size></version>
<version version="v2"><date>Thu, 14 Jan 2016 09:10:11 GMT</date><size>322kb</size></version>
<title>Irreversible degradation of quantum coherence under relativistic motion</title>
<authors>Jieci Wang, Zehua Tian, Jiliang Jing and Heng Fan</authors>
<categories>quant-ph gr-qc hep-th</categories>
<comments>6 pages, 4 figures</comments>
<doi>10.1103/PhysRevD.93.016005</doi>
<license>http://arxiv.org/licenses/nonexclusive-distrib/1.0/</license>
<abstract>We study the dynamics of quantum coherence under Unruh thermal noise.</abstract>
</arXivRaw></metadata></record></GetRecord></OAI-PMH>
"""


def test_list_records_file(store: Store):
    path = OAI / "hepcrawl" / "arxiv-physics-hep-th.xml"
    report = pipeline.ingest_path(store, path)
    identifiers = re.findall(r"<identifier>oai:arXiv.org:(\S+?)</identifier>", path.read_text())
    assert report.format == "oai-pmh"
    assert report.new == len(identifiers)
    p = store.get_paper("1412.8323")
    assert p.authors[0].name == "Philipp A Hoehn"
    assert p.published == "2014-12-29" and p.updated == "2017-12-13"
    assert "\n" not in p.title and p.title.startswith("Toolbox for reconstructing quantum theory")


def test_record_without_namespace_and_several_dois(store: Store):
    pipeline.ingest_path(store, OAI / "hepcrawl" / "sample_arxiv_record0.xml")
    p = store.get_paper("1601.03238")
    assert p.ids["doi"] == "10.1103/physrevd.93.016005"
    assert p.authors[0].name == "Planck Collaboration"
    assert p.authors[1].name == "Jieci Wang"
    assert p.journal_ref == "Phys.Rev. D93 (2015) 016005"


def test_arxiv_raw_keeps_version_history(store: Store, tmp_path: Path):
    path = tmp_path / "raw.xml"
    path.write_text(ARXIV_RAW)
    pipeline.ingest_path(store, path)
    p = store.get_paper("1601.03238")
    assert [(v["version"], v["date"]) for v in p.versions] == [(1, "2016-01-13"), (2, "2016-01-14")]
    assert p.arxiv_version == 2
    assert [a.name for a in p.authors] == ["Jieci Wang", "Zehua Tian", "Jiliang Jing", "Heng Fan"]
    # The same paper in the arXiv format merges into this record.
    pipeline.ingest_path(store, OAI / "hepcrawl" / "sample_arxiv_record0.xml")
    assert store.stats()["papers"] == 1


def test_oai_error_response_is_refused(store: Store, tmp_path: Path):
    path = tmp_path / "err.xml"
    path.write_text(
        '<?xml version="1.0"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        '<error code="badArgument">Illegal argument</error></OAI-PMH>'
    )
    with pytest.raises(FileRejected, match="badArgument"):
        pipeline.ingest_path(store, path)


def test_harvest_waits_out_503_and_follows_resumption_tokens(replay: Replay, monkeypatch):
    recorded = json.loads(
        (
            OAI / "paperhive_nock" / "oaipmh-listrecords---should-list-identifiers-from-arxiv.json"
        ).read_text()
    )
    busy, ok = recorded[0], recorded[1]
    assert busy["status"] == 503
    retry_after = dict(zip(busy["rawHeaders"][::2], busy["rawHeaders"][1::2], strict=True))[
        "Retry-After"
    ]
    # Second page: the real hep-th ListRecords response; the first page points to it.
    page2 = (OAI / "hepcrawl" / "arxiv-physics-hep-th.xml").read_bytes()
    page1 = ok["response"].replace(
        "</ListRecords>", '<resumptionToken cursor="0">tok123</resumptionToken></ListRecords>'
    )
    answers = [
        (503, {"Retry-After": retry_after}, busy["response"].encode()),
        (200, {"Content-Type": "text/xml"}, page1.encode()),
    ]

    def route(path: str):
        q = parse_qs(urlparse(path).query)
        if q.get("resumptionToken") == ["tok123"]:
            return 200, {"Content-Type": "text/xml"}, page2
        return answers.pop(0) if len(answers) > 1 else answers[0]

    replay.routes.append(route)
    slept = []
    monkeypatch.setattr("sickle.app.time.sleep", slept.append)
    settings = config.load(env={}, oai_pmh_url=replay.url + "/oai2")
    items = list(oai_pmh.harvest(settings, since="2015-01-01", until="2015-01-03"))
    assert slept == [int(retry_after)]
    ids = [i.arxiv_id for i in items]
    assert ids[0] == "1412.8544"
    assert "1412.8323" in ids
    assert len(replay.requests) == 3
    assert "resumptionToken=tok123" in replay.requests[-1]
