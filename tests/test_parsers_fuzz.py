"""Hostile input never crashes a parser: it yields records or clear record errors."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ABS_CS_FILE, ABS_FILE, ATOM_FILE, CORPUS, FIXTURES, RSS_FILE, SEEDS
from paperfeed.errors import RecordError
from paperfeed.ingest import registry
from paperfeed.models import PaperRecord, ProfileOwner
from paperfeed.normalize import (
    clean_text,
    display_name,
    name_key,
    parse_arxiv_id,
    split_author_list,
)

SAMPLES = {
    "arxiv-jsonl": (FIXTURES / "arxiv_db_metadata" / "arxiv_metadata_table.jsonl").read_bytes()[
        :3000
    ],
    "arxiv-atom": (
        FIXTURES / "arxiv_api_atom" / "arxiv.py" / "id_1605.08386_s0_m100_199195aa31ad.xml"
    ).read_bytes(),
    "arxiv-rss": (FIXTURES / "arxiv_rss" / "rss_arxiv_org_atom_cs.AI_2025-08-20.xml").read_bytes()[
        :4000
    ],
    "arxiv-abs": ABS_CS_FILE.read_bytes(),
    "oai-pmh": (FIXTURES / "oai_pmh" / "hepcrawl" / "sample_arxiv_record0.xml").read_bytes(),
    "semantic-scholar": (FIXTURES / "semantic_scholar_api" / "Paper.json").read_bytes(),
    "openalex": b'{"id": "https://openalex.org/W1", "title": "T", "authorships": [], "abstract_inverted_index": {"a": [0]}}',
    "bibtex": (FIXTURES / "bibtex" / "bibtexparser" / "v1_tests_data" / "traps.bib").read_bytes(),
    "csl-json": b'[{"type": "article", "title": "T", "author": [{"family": "F", "given": "G"}], "issued": {"date-parts": [[2020, 1]]}}]',
    "zotero-bbt": b'{"config": {}, "items": [{"itemType": "journalArticle", "title": "T", "creators": [{"lastName": "L"}], "extra": "arXiv: 2101.00001"}]}',
    "ris": b"TY  - JOUR\nAU  - Doe, J\nTI  - Title\nPY  - 2020\nER  - \n",
    "paper-list": (SEEDS / "003_f575ac601f474ca0.txt").read_bytes()[:3000],
}


def _run(source_name: str, data: bytes) -> None:
    source = registry.get(source_name)
    try:
        for item in source.parse(io.BytesIO(data), "fuzz"):
            assert isinstance(item, (PaperRecord, RecordError, ProfileOwner))
            if isinstance(item, RecordError):
                assert item.location.startswith("fuzz")
    except RecordError as e:
        assert e.location.startswith("fuzz")


@st.composite
def mutated(draw: st.DrawFn, sample: bytes) -> bytes:
    """The sample with a slice cut out, bytes changed, or garbage spliced in."""
    data = bytearray(sample)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["cut", "flip", "insert", "truncate"]))
        if action == "cut":
            del data[i : i + draw(st.integers(1, 200))]
        elif action == "flip":
            data[i] = draw(st.integers(0, 255))
        elif action == "insert":
            data[i:i] = draw(
                st.binary(max_size=40)
                | st.sampled_from(
                    [
                        b"<",
                        b"{",
                        b'"',
                        b"\\",
                        b"@article{",
                        b"Abstract:",
                        b"\x00",
                        b"\xff\xfe",
                        b"]]>",
                    ]
                )
            )
        else:
            del data[i:]
    return bytes(data)


@pytest.mark.parametrize("source_name", sorted(SAMPLES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_parsers_survive_mutated_real_input(source_name: str, data: st.DataObject):
    _run(source_name, data.draw(mutated(SAMPLES[source_name])))


@pytest.mark.parametrize("source_name", sorted(SAMPLES))
@settings(max_examples=30, deadline=None)
@given(blob=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_parsers_survive_random_bytes(source_name: str, blob: bytes):
    _run(source_name, blob)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_normalizers_never_raise(text: str):
    clean_text(text)
    display_name(text)
    name_key(text)
    parse_arxiv_id(text)
    split_author_list(text)
    for source in registry.sources().values():
        source.sniff(text.encode(), "x")


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_KEYS = {
    "arxiv-jsonl": [
        "id",
        "title",
        "summary",
        "authors",
        "categories",
        "listing_date",
        "abs",
        "pdf",
        "comment",
        "versions",
        "authors_parsed",
        "doi",
        "update_date",
        "paper_id",
        "abs_categories",
        "version",
        "created",
    ],
    "semantic-scholar": [
        "paperId",
        "externalIds",
        "title",
        "abstract",
        "authors",
        "year",
        "venue",
        "publicationDate",
        "journal",
        "url",
        "openAccessPdf",
        "fieldsOfStudy",
        "data",
    ],
    "openalex": [
        "id",
        "doi",
        "title",
        "display_name",
        "authorships",
        "abstract_inverted_index",
        "primary_location",
        "locations",
        "publication_date",
        "publication_year",
        "topics",
    ],
    "csl-json": [
        "type",
        "title",
        "author",
        "DOI",
        "URL",
        "issued",
        "container-title",
        "abstract",
        "note",
    ],
    "zotero-bbt": [
        "itemType",
        "title",
        "creators",
        "DOI",
        "url",
        "extra",
        "date",
        "abstractNote",
        "archiveID",
        "publicationTitle",
    ],
}


@pytest.mark.parametrize("source_name", sorted(_KEYS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_json_sources_survive_wrong_types(source_name: str, data: st.DataObject):
    import orjson

    keys = _KEYS[source_name]
    obj = data.draw(st.dictionaries(st.sampled_from(keys), _json_values, min_size=1))
    if source_name == "arxiv-jsonl":
        obj.setdefault("id", "2501.00001")
        obj.setdefault("summary", "s")
        blob = orjson.dumps(obj)
    elif source_name == "openalex":
        obj["id"] = "https://openalex.org/W1"
        blob = orjson.dumps(obj)
    elif source_name == "csl-json":
        blob = orjson.dumps([obj])
    elif source_name == "zotero-bbt":
        blob = orjson.dumps({"config": {}, "items": [obj]})
    else:
        blob = orjson.dumps(obj)
    _run(source_name, blob)


def test_the_author_page_parser_is_linear_in_a_lines_length() -> None:
    """A 200 KB line takes about twice as long as a 100 KB one (it took four times as
    long, 58 s, when every place in it was tried against the whole rest of the line)."""
    import time

    from paperfeed.ingest.sources.paper_list import split_title_authors

    def seconds(n: int) -> float:
        line = "aB" * (n // 2) + ", Xiao Wang"  # a place to split before every capital
        best = float("inf")
        for _ in range(5):  # the fastest of five: the other test worker shares the cores
            started = time.perf_counter()
            split_title_authors(line)
            best = min(best, time.perf_counter() - started)
        return best

    # long enough lines that a few milliseconds of noise cannot pass for a quadratic term
    small, large = seconds(400_000), seconds(800_000)
    assert large < 3.0 * small + 0.01 and large < 2.0


def test_every_file_read_as_another_format_is_refused_with_nothing_stored(tmp_path: Path) -> None:
    """One real file of each format, ingested with each other format forced (132 pairs):
    refused whole, nothing stored, except where one format truly reads another's file (an
    arXiv API Atom feed and arXiv's Atom listing feed are both Atom with arXiv entries; a
    Better BibTeX JSON export holds CSL items)."""
    import gzip
    import itertools

    from paperfeed.errors import InputError
    from paperfeed.ingest.pipeline import ingest_path
    from paperfeed.store import open_store

    with gzip.open(CORPUS, "rt") as f:
        (tmp_path / "c.jsonl").write_text(
            "".join(line for _, line in zip(range(20), f, strict=False))
        )
    (tmp_path / "x.ris").write_text("TY  - JOUR\nAU  - Doe, J\nTI  - A title here\nER  - \n")
    (tmp_path / "ids.txt").write_text("2501.00001\n2503.15672\n")
    samples = {
        "arxiv-atom": ATOM_FILE,
        "arxiv-rss": RSS_FILE,
        "arxiv-abs": ABS_FILE,
        "arxiv-jsonl": tmp_path / "c.jsonl",
        "bibtex": sorted((FIXTURES / "bibtex").glob("**/*.bib"))[0],
        "ris": tmp_path / "x.ris",
        "paper-list": SEEDS / "004_c6b95d2d55bdc632.txt",
        "id-list": tmp_path / "ids.txt",
        "zotero-bbt": sorted((FIXTURES / "zotero_bbt" / "export").glob("*.json"))[0],
        "csl-json": sorted((FIXTURES / "zotero_bbt").glob("**/*.csl.json"))[0],
        "oai-pmh": next(
            p
            for p in sorted((FIXTURES / "oai_pmh").glob("**/*.xml"))
            if b"<record" in p.read_bytes()
        ),
        "semantic-scholar": sorted((FIXTURES / "semantic_scholar_api").glob("**/*.json"))[0],
    }
    readable = {
        ("arxiv-atom", "arxiv-rss"),
        ("arxiv-rss", "arxiv-atom"),
        ("zotero-bbt", "csl-json"),
    }
    accepted = []
    for (real, path), forced in itertools.product(samples.items(), samples):
        if forced == real:
            continue
        store = open_store(":memory:")
        try:
            ingest_path(store, path, fmt=forced)
        except InputError:
            assert store.paper_count() == 0, (real, forced)
        else:
            accepted.append((real, forced))
        finally:
            store.close()
    assert set(accepted) <= readable, accepted
