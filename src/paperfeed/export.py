"""Taking one's papers out again: JSON lines (everything paperfeed knows) and BibTeX."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO

import bibtexparser
import orjson
from bibtexparser.model import Entry, Field

from paperfeed.models import Paper
from paperfeed.normalize import fold, split_name


def to_jsonl(papers: Iterable[Paper], out: IO[str]) -> None:
    for p in papers:
        out.write(orjson.dumps(p.to_dict()).decode())
        out.write("\n")


def _bibtex_escape(text: str) -> str:
    # A lone % or & would break LaTeX; the writer puts the braces around the value, so
    # braces inside must pair up: BibTeX readers cannot escape one, so a value whose braces
    # do not pair up (a cut LaTeX command) loses them all.
    text = text.replace("\\&", "&").replace("&", "\\&").replace("%", "\\%")
    depth = 0
    for c in text:
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            break
    if depth != 0:
        text = text.replace("{", "").replace("}", "")
    return text.rstrip("\\")  # a last backslash would escape the closing brace


def year_of(p: Paper) -> int | None:
    """A paper's year: given, else from its first publication or listing, else from its
    new-style arXiv id (``2507.01234`` was submitted in 2025)."""
    if p.year:
        return p.year
    for day in (p.published, p.listed):
        if day and day[:4].isdigit():
            return int(day[:4])
    arxiv = p.ids.get("arxiv", "")
    if len(arxiv) >= 4 and arxiv[:4].isdigit() and "." in arxiv:
        return 2000 + int(arxiv[:2])
    return None


def _citekey(p: Paper, used: set[str]) -> str:
    family = fold(split_name(p.authors[0].name)[1]).replace(" ", "") if p.authors else "anon"
    word = next((w for w in fold(p.title or "").split() if len(w) > 3), "paper")
    base = f"{family}{year_of(p) or ''}{word}" or f"paper{p.id}"
    key, n = base, 1
    while key in used:
        n += 1
        key = f"{base}{chr(ord('a') + n - 2)}" if n < 28 else f"{base}{n}"
    used.add(key)
    return key


def bibtex_entry(p: Paper, key: str) -> Entry:
    fields = []

    def add(name: str, value: object) -> None:
        if value:
            fields.append(Field(name, _bibtex_escape(str(value))))

    add("title", p.title)
    add(
        "author",
        " and ".join(", ".join(x for x in reversed(split_name(a.name)) if x) for a in p.authors),
    )
    add("year", year_of(p))
    add("abstract", p.abstract)
    add("doi", p.ids.get("doi"))
    if "arxiv" in p.ids:
        add("eprint", p.ids["arxiv"])
        add("archiveprefix", "arXiv")
        add("primaryclass", p.categories[0] if p.categories else None)
    add("journal", p.venue or p.journal_ref)
    add("url", p.links.get("abs") or p.links.get("url"))
    add("note", p.comment)
    entry_type = "article" if (p.venue or p.journal_ref) else "misc"
    return Entry(entry_type, key, fields)


def to_bibtex(papers: Iterable[Paper], out: IO[str]) -> None:
    used: set[str] = set()
    for p in papers:
        library = bibtexparser.Library([bibtex_entry(p, _citekey(p, used))])
        out.write(bibtexparser.write_string(library))
        out.write("\n")


EXPORTERS: dict[str, Callable[[Iterable[Paper], IO[str]], None]] = {
    "jsonl": to_jsonl,
    "bibtex": to_bibtex,
}
