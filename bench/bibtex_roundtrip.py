"""BibTeX export read back by two readers over a whole store (the demo store: 74,828 papers).

Exports every paper with ``paperfeed.export.to_bibtex``, parses the text with bibtexparser and
pybtex, and counts entries that fail, entries whose author count differs between the writer and
pybtex, and arXiv papers without a year.

    python bench/bibtex_roundtrip.py --db paperfeed.db
"""

from __future__ import annotations

import argparse
import io
import time

import bibtexparser
import pybtex.database

from paperfeed.export import to_bibtex
from paperfeed.store import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="paperfeed.db")
    args = parser.parse_args()
    started = time.perf_counter()
    with open_store(args.db) as store:
        papers = list(store.iter_papers())
    out = io.StringIO()
    to_bibtex(papers, out)
    text = out.getvalue()
    exported = time.perf_counter()
    ours = bibtexparser.parse_string(text)
    theirs = pybtex.database.parse_string(text, "bibtex")
    parsed = time.perf_counter()
    written = {e.key: e.fields_dict for e in ours.entries}
    mismatched = sum(
        len(e.persons.get("author", []))
        != (len(written[k]["author"].value.split(" and ")) if "author" in written[k] else 0)
        for k, e in theirs.entries.items()
    )
    no_year = sum(1 for f in written.values() if "eprint" in f and "year" not in f)
    print(
        f"{len(papers)} papers: bibtexparser {len(ours.entries)} entries "
        f"({len(ours.failed_blocks)} failed), pybtex {len(theirs.entries)}; "
        f"author counts that differ {mismatched}; arXiv papers without a year {no_year}; "
        f"export {exported - started:.0f} s, both parses {parsed - exported:.0f} s"
    )


if __name__ == "__main__":
    main()
