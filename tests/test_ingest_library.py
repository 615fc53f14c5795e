"""A reader's library: BibTeX/BibLaTeX, Better BibTeX JSON, CSL-JSON and RIS, on real exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import FIXTURES, cli_json
from paperfeed.errors import FileRejected, FormatError
from paperfeed.ingest import pipeline
from paperfeed.store import Store

BIB = FIXTURES / "bibtex" / "bibtexparser"
BBT = FIXTURES / "zotero_bbt" / "export"
PREPRINTS = "Citation key add `_preprint` if URL contains `arxiv.org` #2163"


def test_biblatex_eprint_gives_arxiv_id_and_decoded_latex(store: Store):
    report = pipeline.ingest_path(store, BBT / f"{PREPRINTS}.biblatex")
    assert report.format == "bibtex" and not report.bad
    p = store.get_paper("1502.01852")
    assert p.title == (
        "Delving Deep into Rectifiers: Surpassing Human-Level Performance on "
        "ImageNet Classification"
    )
    assert [a.name for a in p.authors] == [
        "Kaiming He",
        "Xiangyu Zhang",
        "Shaoqing Ren",
        "Jian Sun",
    ]
    assert "4.94% top-5" in p.abstract
    assert p.published == "2015-02-06"


def test_the_same_library_as_bbt_json_merges_into_the_same_papers(store: Store):
    pipeline.ingest_path(store, BBT / f"{PREPRINTS}.biblatex")
    n = store.stats()["papers"]
    report = pipeline.ingest_path(store, BBT / f"{PREPRINTS}.json")
    assert report.format == "zotero-bbt"
    assert report.new == 0 and report.merged == report.records
    assert store.stats()["papers"] == n


def test_non_utf8_bibtex_with_its_encoding_named(store: Store):
    pipeline.ingest_path(store, BIB / "tests_resources_gbk_test.bib", encoding="gbk")
    [p] = list(store.iter_papers())
    assert p.authors[0].name == "凯撒" and p.venue == "测试期刊"


def test_undeclared_encoding_is_detected_not_refused(store: Store, tmp_path: Path):
    path = tmp_path / "latin1.bib"
    path.write_bytes(
        "@article{k, title={Étude des réseaux de neurones profonds}, author={Müller, Jürgen}, year={2020}}".encode(
            "latin-1"
        )
    )
    pipeline.ingest_path(store, path)
    [p] = list(store.iter_papers())
    assert p.title == "Étude des réseaux de neurones profonds"
    assert p.authors[0].name == "Jürgen Müller"


def test_awkward_bibtex_files_parse(store: Store):
    for name in (
        "traps.bib",
        "article_comma_first.bib",
        "string.bib",
        "features.bib",
        "article_with_protection_braces.bib",
    ):
        pipeline.ingest_path(store, BIB / "v1_tests_data" / name)
    with pytest.raises(FormatError, match="no bibtex record"):  # comments alone: said so
        pipeline.ingest_path(store, BIB / "v1_tests_data" / "multiline_comments.bib")
    titles = {p.title for p in store.iter_papers()}
    assert "An amazing title" in titles
    traps = next(p for p in store.iter_papers() if p.title == "An amazing title")
    # "Jean Laid{\'e},\n Ben Loaeb" is one BibTeX name in "Last, First" form.
    assert [a.name for a in traps.authors] == ["Ben Loaeb Jean Laidé"]


def test_entries_without_title_doi_or_arxiv_id_refuse_the_file(store: Store):
    with pytest.raises(FileRejected) as err:
        pipeline.ingest_path(store, BIB / "v1_tests_data" / "wrong.bib")
    assert "wrong.bib:3 (foo)" in str(err.value)
    assert store.stats()["papers"] == 0


def test_csl_json_export(store: Store):
    path = next(BBT.glob("Page, issue and volume range sign in CSL JSON*.csl.json"))
    items = json.loads(path.read_text())
    report = pipeline.ingest_path(store, path)
    assert report.format == "csl-json"
    first = items[0]
    p = store.get_paper(first["DOI"])
    assert p.authors[0].name == f"{first['author'][0]['given']} {first['author'][0]['family']}"
    assert p.venue == first["container-title"]


def test_whole_bbt_export_folder_ingests(store: Store):
    ok = empty = 0
    for path in sorted(BBT.glob("*.json"))[:120]:
        try:
            pipeline.ingest_path(store, path)
            ok += 1
        except FileRejected as e:
            pytest.fail(f"real export refused: {e}")
        except FormatError as e:  # an export of notes alone: nothing to recommend, and said so
            assert "no zotero-bbt record" in str(e) or "no csl-json record" in str(e), e
            empty += 1
    assert ok + empty == 120 and ok > 100 and store.stats()["papers"] > 100


RIS = """TY  - JOUR
AU  - Vaswani, Ashish
AU  - Shazeer, Noam
TI  - Attention is all you need
T2  - Advances in Neural Information Processing Systems
PY  - 2017
DO  - 10.48550/arXiv.1706.03762
UR  - https://arxiv.org/abs/1706.03762
AB  - The dominant sequence transduction models are based on complex recurrent networks.
ER  -

TY  - CONF
AU  - Devlin, Jacob
TI  - BERT: Pre-training of Deep Bidirectional Transformers
PY  - 2019
ER  -
"""


def test_ris(store: Store, tmp_path: Path):
    path = tmp_path / "lib.ris"
    path.write_text(RIS)
    report = pipeline.ingest_path(store, path)
    assert (report.format, report.new) == ("ris", 2)
    p = store.get_paper("1706.03762")
    assert p.title == "Attention is all you need"
    assert [a.name for a in p.authors] == ["Ashish Vaswani", "Noam Shazeer"]
    assert p.year == 2017


def test_a_plain_list_of_ids_fills_a_profile_from_the_store(cli, tmp_path: Path) -> None:
    """arXiv ids in any spelling, arXiv URLs and DOIs, one a line, are found in the store;
    ids it does not hold are named, and no empty paper is stored for them."""
    row = {"id": "2503.15672", "title": "GASP", "summary": "S", "authors": ["A B"]}
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({**row, "categories": []}) + "\n")
    library = tmp_path / "library.bib"
    library.write_text(
        "@inproceedings{k, title = {Heterogeneous Graph Attention}, author = {Doe, Jane},"
        " doi = {10.1145/3292500.3330701}, year = {2019}}\n"
    )
    cli("ingest", corpus, library)
    ids = tmp_path / "reading-list.txt"
    ids.write_text(
        "# my reading list\n"
        "arXiv:2503.15672v2\n"
        "https://arxiv.org/abs/2503.15672\n"
        "\n"
        "https://doi.org/10.1145/3292500.3330701\n"
        "2599.99999\n"
    )
    before = cli_json(cli("stats", "--json"))["papers"]  # type: ignore[index]
    out = cli("profile", "import", "reading", ids)
    assert "2 papers in profile 'reading'" in out.stdout
    assert "1 ids are not in the store" in out.stderr and "2599.99999" in out.stderr
    shown = cli_json(cli("profile", "show", "reading", "--json"))
    assert sorted(p["id"] for p in shown["papers"]) == [  # type: ignore[index]
        "2503.15672",
        "doi:10.1145/3292500.3330701",
    ]
    assert cli_json(cli("stats", "--json"))["papers"] == before  # type: ignore[index]
    report = cli_json(cli("ingest", ids, "--json"))
    assert report[0]["format"] == "id-list"  # type: ignore[index]
    bad = tmp_path / "not-ids.txt"
    bad.write_text("2503.15672\nnot an id at all\n")
    refused = cli("ingest", bad, "--format", "id-list", expect=1)
    assert "not-ids.txt:2" in refused.stderr
