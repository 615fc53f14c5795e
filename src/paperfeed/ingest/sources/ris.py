"""RIS (EndNote, Zotero, Mendeley, publishers' "cite this" downloads), read with rispy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import rispy

from paperfeed.errors import RecordError
from paperfeed.ingest.registry import Item, Source, register
from paperfeed.ingest.sources._common import iso_date, text
from paperfeed.ingest.sources.bibtex import decode
from paperfeed.models import AuthorRecord, PaperRecord
from paperfeed.normalize import find_arxiv_id

_TY = re.compile(rb"^\s*TY  - ", re.MULTILINE)
_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(?: |$)")


def structure_errors(text_: str, filename: str) -> Iterator[RecordError]:
    """Records that do not open with ``TY`` and close with ``ER``: a cut or hand-edited file,
    where rispy would merge two records or drop one without a word."""
    opened = 0  # the line of the open record's TY, or 0
    for n, line in enumerate(text_.splitlines(), 1):
        tag = _TAG.match(line.lstrip())
        if tag is None:
            if line.strip() and not opened:
                yield RecordError(f"{filename}:{n}", "text outside a record (before its TY)")
            continue
        if tag[1] == "TY":
            if opened:
                yield RecordError(
                    f"{filename}:{opened}", f"the record has no ER line before line {n}"
                )
            opened = n
        elif not opened:
            yield RecordError(f"{filename}:{n}", f"a {tag[1]} tag outside a record (no TY)")
        elif tag[1] == "ER":
            opened = 0
    if opened:
        yield RecordError(f"{filename}:{opened}", "the record has no ER line: is the file cut?")


def _first(entry: dict[str, Any], *keys: str) -> str | None:
    for k in keys:
        v = entry.get(k)
        if isinstance(v, list):
            v = v[0] if v else None
        if text(v):
            return str(v)
    return None


class Ris(Source):
    name = "ris"
    priority = 40
    description = "RIS bibliographies"

    def sniff(self, head: bytes, filename: str) -> int:
        return 95 if _TY.search(head) else 0

    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        text_ = decode(stream.read(), filename)
        broken = list(structure_errors(text_, filename))
        if broken:
            yield from broken
            return
        try:
            entries = rispy.loads(text_, skip_unknown_tags=True)
        except (OSError, ValueError, KeyError) as e:
            raise RecordError(filename, f"not readable as RIS: {e}") from e
        for i, entry in enumerate(entries, 1):
            where = f"{filename}#record{i}"
            urls = entry.get("urls") or []
            arxiv = None
            for u in [*urls, _first(entry, "notes", "note"), _first(entry, "number")]:
                if isinstance(u, str) and (arxiv := find_arxiv_id(u)):
                    break
            date = iso_date(_first(entry, "date", "year", "publication_year"))
            title = _first(entry, "title", "primary_title", "translated_title")
            record = PaperRecord(
                source=self.name,
                location=where,
                arxiv_id=arxiv[0] if arxiv else None,
                doi=_first(entry, "doi"),
                title=title,
                abstract=_first(entry, "abstract", "notes_abstract"),
                authors=[
                    AuthorRecord(a)
                    for a in (entry.get("authors") or entry.get("first_authors") or [])
                    if isinstance(a, str) and a.strip()
                ],
                published=date,
                venue=_first(entry, "journal_name", "secondary_title", "alternate_title3"),
                links={"url": urls[0]} if urls and isinstance(urls[0], str) else {},
            )
            if not (record.title or record.doi or record.arxiv_id):
                yield RecordError(where, "record has no title, DOI or arXiv id")
                continue
            yield record


register(Ris())
