"""The five seed lists: three plain-text layouts, owners becoming profiles, duplicates merged."""

from __future__ import annotations

from conftest import SEEDS, cli_json
from paperfeed.ingest import pipeline
from paperfeed.store import Store


def test_seeds_give_102_papers_from_104_entries_and_two_owner_profiles(cli):
    reports = cli_json(cli("ingest", SEEDS, "--json"))
    assert sum(r["records"] for r in reports) == 104
    assert {r["format"] for r in reports} == {"paper-list"}
    stats = cli_json(cli("stats", "--json"))
    assert stats["papers"] == 102
    profiles = {p["name"]: p for p in cli_json(cli("profiles", "--json"))}
    assert profiles["INRIA - Ecole Normale Superieure"]["kind"] == "institution"
    assert profiles["INRIA - Ecole Normale Superieure"]["papers"] == 10
    assert profiles["Jack"]["kind"] == "researcher"
    assert profiles["Jack"]["papers"] == 10
    assert len(profiles) == 5  # every seed file: see the test below


def test_reingesting_the_seeds_changes_nothing(cli):
    cli("ingest", SEEDS)
    before = cli("export", "--format", "jsonl").stdout
    reports = cli_json(cli("ingest", SEEDS, "--json"))
    assert all(r["new"] == 0 and r["merged"] == 0 for r in reports)
    assert cli("export", "--format", "jsonl").stdout == before


def test_author_page_splits_title_from_authors(store: Store):
    pipeline.ingest_path(store, SEEDS / "002_c2507baaf109fce8.txt")
    papers = {p.title: p for p in store.iter_papers()}
    pali = papers["PaLI: A Jointly-Scaled Multilingual Language-Image Model"]
    assert [a.name for a in pali.authors] == ["Xi Chen", "Xiao Wang", "Soravit Changpinyo"]
    assert pali.authors[0].affiliations == ["deepmind"]
    assert pali.categories == ["cs.CV"]
    assert pali.published == "2022-09-14"
    stable = papers["Stable LM 2 1.6B Technical Report"]
    assert stable.authors[0].name == "Marco Bellagente"
    assert "Stable LM 2 1.6B Technical Report" in papers
    assert len(papers) == 25


def test_daily_listing_keeps_dates_and_entries_without_trailer(store: Store):
    report = pipeline.ingest_path(store, SEEDS / "003_f575ac601f474ca0.txt")
    assert report.records == 51
    papers = {p.title: p for p in store.iter_papers()}
    glm = papers["GLM-130B: An Open Bilingual Pre-trained Model"]
    assert glm.published == "2022-10-05"
    assert glm.abstract.startswith("We introduce GLM-130B")
    # An entry with only a title and an abstract is still a paper.
    assert (
        "B-cosification: Transforming Deep Neural Networks to be Inherently Interpretable" in papers
    )


def test_gemma2_abstract_in_two_seeds_is_one_paper(store: Store):
    pipeline.ingest_path(store, SEEDS / "000_9798c6fd8fc50cfd.txt")
    pipeline.ingest_path(store, SEEDS / "001_7ebe8454b86e320b.txt")
    gemma = [p for p in store.iter_papers() if p.abstract and "we introduce Gemma 2" in p.abstract]
    assert len(gemma) == 1
    assert store.stats()["papers"] == 10 + 8 - 1


def test_every_seed_becomes_a_profile_named_after_its_owner_or_its_file(cli) -> None:
    cli("ingest", SEEDS)
    found = {p["name"]: p for p in cli_json(cli("profiles", "--json"))}  # type: ignore[union-attr]
    assert set(found) == {
        "INRIA - Ecole Normale Superieure",  # 000 names its institution
        "001_7ebe8454b86e320b",  # an unnamed list: after its file
        "002_c2507baaf109fce8",  # one researcher's page that does not name them
        "Daily Papers",  # 003 names itself
        "Jack",  # 004 names its researcher
    }
    assert found["002_c2507baaf109fce8"]["kind"] == "researcher"
    assert all(p["papers"] >= 8 for p in found.values())
    daily = cli_json(cli("profile", "show", "Daily Papers", "--json"))["papers"]  # type: ignore[index]
    dated = [cli_json(cli("show", p["id"], "--json"))["published"] for p in daily[:5]]  # type: ignore[index]
    assert all(dated), "the daily list keeps each paper's day"


def test_papers_known_by_their_abstract_read_by_its_first_sentence_in_the_cli(cli) -> None:
    cli("ingest", SEEDS / "001_7ebe8454b86e320b.txt")
    hits = cli_json(cli("search", "Gemma", "--mode", "keyword", "--json"))
    assert hits and all(h["title"] and h["snippet"] for h in hits)  # type: ignore[union-attr]
    shown = cli("show", hits[0]["id"]).stdout  # type: ignore[index]
    assert "[from the abstract]" in shown.splitlines()[0] and "None" not in shown.splitlines()[0]
    listed = cli("search", "Gemma", "--mode", "keyword").stdout
    assert "None" not in listed and "[from the abstract]" in listed
