"""Exports that other tools read back: BibTeX through bibtexparser and pybtex, the same from
the CLI and the web."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import bibtexparser
import pybtex.database

from conftest import CORPUS, SEEDS
from paperfeed.export import to_bibtex, year_of
from paperfeed.ingest.pipeline import ingest_path
from paperfeed.normalize import name_key
from paperfeed.store import Store


def _store_with_the_seeds_and_corpus(store: Store, tmp_path: Path, n: int = 2000) -> None:
    with gzip.open(CORPUS, "rt") as f:
        rows = [line for _, line in zip(range(n), f, strict=False)]
    corpus = tmp_path / "head.jsonl"
    corpus.write_text("".join(rows))
    ingest_path(store, corpus)
    for seed in sorted(SEEDS.iterdir()):
        ingest_path(store, seed)


def test_bibtex_reads_back_with_its_authors_and_year_in_two_readers(
    store: Store, tmp_path: Path
) -> None:
    _store_with_the_seeds_and_corpus(store, tmp_path)
    papers = list(store.iter_papers())
    out = io.StringIO()
    to_bibtex(papers, out)
    text = out.getvalue()
    ours = bibtexparser.parse_string(text)
    assert not ours.failed_blocks and len(ours.entries) == len(papers)
    theirs = pybtex.database.parse_string(text, "bibtex")
    assert len(theirs.entries) == len(papers)
    by_key = {e.key: e for e in ours.entries}
    checked = 0
    for key, entry in theirs.entries.items():
        fields = by_key[key].fields_dict
        people = entry.persons.get("author", [])
        written = fields["author"].value.split(" and ") if "author" in fields else []
        assert len(people) == len(written), key  # one person per author, in both readers
        if "eprint" in fields:  # an arXiv paper always has its year
            assert fields["year"].value.isdigit() and entry.fields["year"] == fields["year"].value
            checked += 1
        assert not fields["title"].value.startswith("{") if "title" in fields else True
    assert checked > 1000
    # authors come back as the store has them, family name and all
    first = next(p for p in papers if len(p.authors) >= 3 and "arxiv" in p.ids)
    entry = next(e for e in theirs.entries.values() if e.fields.get("eprint") == first.ids["arxiv"])
    got = [
        " ".join([*p.first_names, *p.middle_names, *p.prelast_names, *p.last_names])
        for p in entry.persons["author"]
    ]
    assert [name_key(n) for n in got] == [name_key(a.name) for a in first.authors]


def test_a_papers_year_comes_from_its_dates_or_its_arxiv_id(store: Store, tmp_path: Path) -> None:
    row = {"id": "2507.01234", "title": "T", "summary": "S", "authors": ["A B"], "categories": []}
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(row) + "\n")
    ingest_path(store, path)
    paper = store.get_paper("2507.01234")
    assert paper.year is None and paper.published is None
    assert year_of(paper) == 2025


def test_a_value_with_a_cut_latex_command_still_reads_back(store: Store, tmp_path: Path) -> None:
    """A comment ending in a stray backslash or with braces that do not pair up (both are in
    the corpus) would swallow the entry's closing brace: the export stays readable."""
    rows = [
        {
            "id": "2507.07079",
            "title": "T {one",
            "summary": "see \\href{https://x.org",
            "authors": ["A B"],
            "categories": ["cs.CV"],
            "comment": "Project page: site [https://x.org/L-VQAScore/\\}",
        },
        {"id": "2507.07080", "title": "Next", "summary": "S", "authors": ["C D"], "categories": []},
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ingest_path(store, path)
    out = io.StringIO()
    to_bibtex(list(store.iter_papers()), out)
    ours = bibtexparser.parse_string(out.getvalue())
    assert not ours.failed_blocks and len(ours.entries) == 2
    assert len(pybtex.database.parse_string(out.getvalue(), "bibtex").entries) == 2
