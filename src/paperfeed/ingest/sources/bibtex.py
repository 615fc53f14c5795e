"""BibTeX and BibLaTeX libraries, read with bibtexparser (v2).

LaTeX accents are decoded to Unicode; an arXiv id is taken from ``eprint`` (with
``archivePrefix = arXiv``), ``arxivid``, or an arxiv.org URL. Files not in UTF-8 are decoded
with their detected encoding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

import bibtexparser
from bibtexparser import middlewares
from bibtexparser.model import Entry
from pylatexenc.latex2text import LatexNodes2Text

from paperfeed.errors import RecordError
from paperfeed.ingest.registry import Item, Source, register
from paperfeed.ingest.sources._common import decode_text, iso_date
from paperfeed.models import AuthorRecord, PaperRecord
from paperfeed.normalize import find_arxiv_id, parse_arxiv_id

_ENTRY = re.compile(rb"^\s*@\s*[A-Za-z]+\s*[{(]", re.MULTILINE)
_BRACES = re.compile(r"[{}]")


def decode(data: bytes, filename: str) -> str:
    """Text of a file in UTF-8 (with or without BOM) or, if it is no UTF-8 at all, its
    detected encoding (:func:`~paperfeed.ingest.sources._common.decode_text`)."""

    def detected(raw: bytes) -> str | None:
        from charset_normalizer import from_bytes

        best = from_bytes(raw).best()
        return None if best is None else str(best)

    return decode_text(data, filename, detected)


_LATEX = LatexNodes2Text(math_mode="verbatim", strict_latex_spaces=True)


def latex_to_text(value: str) -> str:
    """Accents and commands as Unicode; math kept as written; odd LaTeX left as it is."""
    if "\\" not in value and "{" not in value:
        return value
    try:
        return str(_LATEX.latex_to_text(value))
    except Exception:  # pylatexenc fails on some unbalanced input; the raw text is still useful
        return _BRACES.sub("", value)


def _field(entry: Entry, *names: str) -> str | None:
    fields = {k.lower(): f for k, f in entry.fields_dict.items()}
    for name in names:
        f = fields.get(name)
        if f is not None and isinstance(f.value, str) and f.value.strip():
            return latex_to_text(f.value).strip()
    return None


def entry_record(entry: Entry, where: str) -> PaperRecord:
    fields = {k.lower(): f for k, f in entry.fields_dict.items()}
    authors_field = fields.get("author") or fields.get("editor")
    names = authors_field.value if authors_field is not None else []
    if isinstance(names, str):
        names = [names]
    authors = [AuthorRecord(latex_to_text(n)) for n in names if isinstance(n, str) and n.strip()]
    arxiv = None
    eprint = _field(entry, "eprint", "arxivid", "arxiv")
    prefix = (_field(entry, "archiveprefix", "eprinttype") or "").lower()
    if eprint and (prefix in ("arxiv", "") or parse_arxiv_id(eprint)):
        arxiv = parse_arxiv_id(eprint)
    url = _field(entry, "url")
    if arxiv is None:
        arxiv = find_arxiv_id(url) or find_arxiv_id(
            _field(entry, "journal", "note", "howpublished")
        )
    year_text = _field(entry, "year")
    year = int(year_text[:4]) if year_text and year_text[:4].isdigit() else None
    return PaperRecord(
        source="bibtex",
        location=where,
        arxiv_id=arxiv[0] if arxiv else None,
        arxiv_version=arxiv[1] if arxiv else None,
        doi=_field(entry, "doi"),
        title=_field(entry, "title"),
        abstract=_field(entry, "abstract"),
        authors=authors,
        published=iso_date(_field(entry, "date")),
        year=year,
        venue=_field(entry, "journal", "journaltitle", "booktitle"),
        links={"url": url} if url else {},
        extra={"citekey": entry.key, "type": entry.entry_type},
    )


class Bibtex(Source):
    name = "bibtex"
    priority = 40
    description = "BibTeX / BibLaTeX files"

    def sniff(self, head: bytes, filename: str) -> int:
        if _ENTRY.search(head):
            return 80
        return 0

    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        text = decode(stream.read(), filename)
        library = bibtexparser.parse_string(
            text, append_middleware=[middlewares.SeparateCoAuthors()]
        )
        entries = list(library.entries)
        for block in library.failed_blocks:
            # A repeated citation key or field is a sloppy library, not a broken entry: keep it.
            salvaged = getattr(block, "ignore_error_block", None)
            if isinstance(salvaged, Entry):
                entries.append(salvaged)
                continue
            line = (block.start_line or 0) + 1
            error = str(getattr(block, "error", "") or "").strip() or "could not parse this block"
            yield RecordError(f"{filename}:{line}", f"bad BibTeX: {error}")
        for entry in sorted(entries, key=lambda e: e.start_line or 0):
            where = f"{filename}:{(entry.start_line or 0) + 1} ({entry.key})"
            record = entry_record(entry, where)
            if not (record.title or record.arxiv_id or record.doi):
                yield RecordError(where, "entry has no title, DOI or arXiv id")
                continue
            yield record


register(Bibtex())
