"""One record per paper: what merges, what never merges, which fields win."""

from __future__ import annotations

from paperfeed.ingest.pipeline import ingest_items
from paperfeed.models import AuthorRecord, PaperRecord
from paperfeed.store import Store
from paperfeed.store.sql_writer import SQLWriter


def rec(source: str, **kw) -> PaperRecord:
    return PaperRecord(source=source, location=f"{source}-test", **kw)


def ingest(store: Store, *records: PaperRecord):
    return ingest_items(store, iter(records), "test", records[0].source)


def test_bibtex_entry_with_doi_merges_into_arxiv_paper_and_arxiv_text_wins(store: Store):
    ingest(
        store,
        rec(
            "arxiv-atom",
            arxiv_id="1706.03762",
            arxiv_version=5,
            doi="10.5555/3295222",
            title="Attention Is All You Need",
            abstract="The dominant sequence models.",
            authors=[AuthorRecord("Ashish Vaswani", ["Google Brain"])],
        ),
    )
    ingest(
        store,
        rec(
            "bibtex",
            doi="https://doi.org/10.5555/3295222",
            title="Attention is all you need",
            authors=[AuthorRecord("Vaswani, Ashish")],
            venue="NeurIPS",
            year=2017,
        ),
    )
    [p] = list(store.iter_papers())
    assert p.title == "Attention Is All You Need"  # the more trusted source keeps its field
    assert p.venue == "NeurIPS"  # a field only the library knew is added
    assert p.provenance["title"] == "arxiv-atom" and p.provenance["venue"] == "bibtex"
    assert p.authors[0].affiliations == ["Google Brain"]


def test_same_title_different_arxiv_ids_never_merge(store: Store):
    ingest(
        store,
        rec(
            "arxiv-jsonl",
            arxiv_id="2501.00001",
            title="A Survey of Large Language Models",
            authors=[AuthorRecord("A. One")],
        ),
        rec(
            "arxiv-jsonl",
            arxiv_id="2502.00002",
            title="A Survey of Large Language Models",
            authors=[AuthorRecord("A. One")],
        ),
    )
    assert store.stats()["papers"] == 2


def test_stored_papers_another_id_rules_out_are_not_loaded(store: Store, monkeypatch):
    title, author = "A Survey of Large Language Models", AuthorRecord("A. One")
    for n in (1, 2):
        ingest(store, rec("arxiv-jsonl", arxiv_id=f"2501.0000{n}", title=title, authors=[author]))
    loaded: list[int] = []
    load_drafts = SQLWriter.load_drafts

    def spy(self: SQLWriter, paper_ids):
        ids = list(paper_ids)
        loaded.extend(ids)
        return load_drafts(self, ids)

    monkeypatch.setattr(SQLWriter, "load_drafts", spy)
    ingest(store, rec("arxiv-jsonl", arxiv_id="2501.00003", title=title, authors=[author]))
    assert loaded == [] and store.stats()["papers"] == 3  # their arXiv ids are not its own
    ingest(store, rec("bibtex", title=title, authors=[author], venue="ACL"))
    assert len(loaded) == 3 and store.stats()["papers"] == 3  # no id: any could be it
    assert [p.venue for p in store.iter_papers()].count("ACL") == 1


def test_same_title_without_shared_author_never_merges(store: Store):
    ingest(
        store,
        rec(
            "bibtex",
            title="Deep learning for graph matching problems",
            authors=[AuthorRecord("Ann Lee")],
        ),
        rec(
            "bibtex",
            title="Deep Learning for Graph Matching Problems",
            authors=[AuthorRecord("Bo Chen")],
        ),
        rec(
            "bibtex",
            title="Deep learning for graph matching problems.",
            authors=[AuthorRecord("Lee, Ann")],
        ),
    )
    assert store.stats()["papers"] == 2


def test_short_titles_do_not_merge(store: Store):
    ingest(
        store,
        rec("bibtex", title="Introduction", authors=[AuthorRecord("A B")]),
        rec("bibtex", title="Introduction", authors=[AuthorRecord("A B")], doi="10.1/x"),
    )
    assert store.stats()["papers"] == 2


def test_newer_version_wins_and_history_accumulates(store: Store):
    ingest(
        store,
        rec(
            "oai-pmh",
            arxiv_id="2401.00001",
            arxiv_version=2,
            title="Final title",
            versions=[{"version": 2, "date": "2024-02-01"}],
        ),
    )
    ingest(
        store,
        rec(
            "oai-pmh",
            arxiv_id="2401.00001",
            arxiv_version=1,
            title="Draft title",
            versions=[{"version": 1, "date": "2024-01-01"}],
        ),
    )
    p = store.get_paper("2401.00001")
    assert p.title == "Final title"
    assert [v["version"] for v in p.versions] == [1, 2]


def test_latex_line_breaks_cleaned_original_kept(store: Store):
    ingest(
        store,
        rec(
            "arxiv-abs",
            arxiv_id="2401.00002",
            title="On $\\alpha$-stable\\\\ processes",
            abstract="First line\n  second   line",
        ),
    )
    p = store.get_paper("2401.00002")
    assert p.title == "On $\\alpha$-stable processes"
    assert p.title_raw == "On $\\alpha$-stable\\\\ processes"
    assert p.abstract == "First line second line"


def test_author_names_normalized_to_one_entity(store: Store):
    ingest(
        store,
        rec("bibtex", title="Paper number one here", authors=[AuthorRecord("Stańczyk, Piotr")]),
        rec("bibtex", title="Paper number two here", authors=[AuthorRecord("Piotr  Stańczyk")]),
    )
    assert store.stats()["authors"] == 1
    names = {a.name for p in store.iter_papers() for a in p.authors}
    assert names == {"Piotr Stańczyk"}
