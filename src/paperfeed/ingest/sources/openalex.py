"""OpenAlex works JSON: one work, or a list response (``{"meta": ..., "results": [...]}``).

Abstracts come as an inverted index (word -> positions) and are rebuilt in order; an arXiv
id is taken from a location on arxiv.org.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from paperfeed.errors import RecordError
from paperfeed.ingest.registry import Item, Source, register
from paperfeed.ingest.sources._common import guarded, head_json_kind, iso_date, read_json, text
from paperfeed.models import AuthorRecord, PaperRecord
from paperfeed.normalize import find_arxiv_id


def abstract_from_inverted_index(index: Any) -> str | None:
    if not isinstance(index, dict) or not index:
        return None
    words: dict[int, str] = {}
    for word, positions in index.items():
        if isinstance(positions, list):
            for p in positions:
                if isinstance(p, int) and 0 <= p < 100_000:
                    words[p] = word
    return " ".join(words[p] for p in sorted(words)) or None


def work_record(w: Any, where: str) -> PaperRecord:
    if not isinstance(w, dict) or "openalex.org/W" not in str(w.get("id", "")):
        raise RecordError(where, "not an OpenAlex work (no 'id' like https://openalex.org/W...)")
    authors = []
    for a in w.get("authorships") or []:
        if not isinstance(a, dict):
            continue
        name = text((a.get("author") or {}).get("display_name")) or text(a.get("raw_author_name"))
        if not name:
            continue
        affs = [
            i["display_name"]
            for i in a.get("institutions") or []
            if isinstance(i, dict) and text(i.get("display_name"))
        ]
        if not affs:
            affs = [s for s in a.get("raw_affiliation_strings") or [] if text(s)]
        authors.append(AuthorRecord(name, affs))
    arxiv = None
    links: dict[str, str] = {}
    for loc in [w.get("primary_location") or {}, *(w.get("locations") or [])]:
        if not isinstance(loc, dict):
            continue
        for key in ("landing_page_url", "pdf_url"):
            url = text(loc.get(key))
            if url and "arxiv.org" in url and arxiv is None:
                arxiv = find_arxiv_id(url)
        if text(loc.get("landing_page_url")):
            links.setdefault("url", loc["landing_page_url"])
        if text(loc.get("pdf_url")):
            links.setdefault("pdf", loc["pdf_url"])
    primary = w.get("primary_location") or {}
    source = primary.get("source") if isinstance(primary, dict) else None
    topics = [
        t["display_name"]
        for t in w.get("topics") or w.get("concepts") or []
        if isinstance(t, dict) and text(t.get("display_name"))
    ][:5]
    return PaperRecord(
        source="openalex",
        location=where,
        openalex_id=str(w["id"]).rsplit("/", 1)[-1],
        arxiv_id=arxiv[0] if arxiv else None,
        doi=text(w.get("doi")),
        title=text(w.get("title")) or text(w.get("display_name")),
        abstract=abstract_from_inverted_index(w.get("abstract_inverted_index")),
        authors=authors,
        categories=topics,
        published=iso_date(w.get("publication_date")),
        year=w.get("publication_year") if isinstance(w.get("publication_year"), int) else None,
        venue=text(source.get("display_name")) if isinstance(source, dict) else None,
        links=links,
    )


class OpenAlex(Source):
    name = "openalex"
    priority = 60
    description = "OpenAlex works JSON"

    def sniff(self, head: bytes, filename: str) -> int:
        return 95 if head_json_kind(head) and b"openalex.org/W" in head else 0

    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        doc = read_json(stream, filename)
        works = (
            doc["results"]
            if isinstance(doc, dict) and isinstance(doc.get("results"), list)
            else doc
            if isinstance(doc, list)
            else [doc]
        )
        for i, w in enumerate(works, 1):
            yield guarded(work_record, w, f"{filename}#{i}")


register(OpenAlex())
