"""CSL-JSON (what Zotero, Mendeley and citeproc export) and Better BibTeX's JSON export."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from paperfeed.errors import RecordError
from paperfeed.ingest.registry import Item, Source, register
from paperfeed.ingest.sources._common import guarded, head_json_kind, iso_date, read_json, text
from paperfeed.models import AuthorRecord, PaperRecord
from paperfeed.normalize import find_arxiv_id


def _person(p: Any) -> str | None:
    if not isinstance(p, dict):
        return None
    if text(p.get("literal")):
        return str(p["literal"])
    family = " ".join(x for k in ("non-dropping-particle", "family") if (x := text(p.get(k))))
    given = " ".join(x for k in ("given", "dropping-particle") if (x := text(p.get(k))))
    if not family:
        return given or None
    return f"{family}, {given}" if given else family


def csl_record(item: Any, where: str) -> PaperRecord:
    if not isinstance(item, dict):
        raise RecordError(where, "a CSL-JSON item should be an object")
    issued = item.get("issued") or {}
    parts = issued.get("date-parts") if isinstance(issued, dict) else None
    date = None
    if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
        date = iso_date("-".join(str(x) for x in parts[0][:3]))
    elif isinstance(issued, dict):
        date = iso_date(issued.get("raw") or issued.get("literal"))
    arxiv = None
    for field in ("URL", "number", "note", "archive_location", "id"):
        value = item.get(field)
        if isinstance(value, str) and (arxiv := find_arxiv_id(value)):
            break
    return PaperRecord(
        source="csl-json",
        location=where,
        arxiv_id=arxiv[0] if arxiv else None,
        doi=text(item.get("DOI")),
        title=text(item.get("title")),
        abstract=text(item.get("abstract")),
        authors=[AuthorRecord(n) for p in item.get("author") or [] if (n := _person(p))],
        published=date,
        venue=text(item.get("container-title")),
        links={"url": item["URL"]} if text(item.get("URL")) else {},
        extra={"citekey": item.get("citation-key") or item.get("id")},
    )


def zotero_record(item: Any, where: str) -> PaperRecord:
    if not isinstance(item, dict):
        raise RecordError(where, "a Zotero item should be an object")
    authors = []
    for c in item.get("creators") or []:
        if not isinstance(c, dict) or c.get("creatorType", "author") not in ("author", "editor"):
            continue
        if text(c.get("name")):
            authors.append(AuthorRecord(str(c["name"])))
        elif text(c.get("lastName")):
            first = c.get("firstName") or ""
            authors.append(AuthorRecord(f"{c['lastName']}, {first}" if first else c["lastName"]))
    extra = item.get("extra")
    extra_text = (
        "\n".join(extra) if isinstance(extra, list) else extra if isinstance(extra, str) else ""
    )
    arxiv = None
    for value in (item.get("archiveID"), extra_text, item.get("url"), item.get("number")):
        if isinstance(value, str) and (arxiv := find_arxiv_id(value)):
            break
    doi = text(item.get("DOI"))
    if doi is None:
        for line in extra_text.splitlines():
            if line.lower().startswith("doi:"):
                doi = line[4:].strip()
    date = iso_date(item.get("date"))
    return PaperRecord(
        source="zotero-bbt",
        location=where,
        arxiv_id=arxiv[0] if arxiv else None,
        doi=doi,
        title=text(item.get("title")),
        abstract=text(item.get("abstractNote")),
        authors=authors,
        published=date,
        venue=text(item.get("publicationTitle")) or text(item.get("proceedingsTitle")),
        links={"url": item["url"]} if text(item.get("url")) else {},
        extra={"citekey": item.get("citationKey") or item.get("citekey")},
    )


def _emit(items: list[Any], make: Any, filename: str) -> Iterator[Item]:
    for i, item in enumerate(items, 1):
        where = f"{filename}#item{i}"
        record = guarded(make, item, where)
        if isinstance(record, RecordError):
            yield record
            continue
        if not (record.title or record.doi or record.arxiv_id):
            continue  # notes, attachments and the like: nothing to recommend
        yield record


class CslJson(Source):
    name = "csl-json"
    priority = 40
    description = "CSL-JSON bibliographies (Zotero, Mendeley, citeproc exports)"

    def sniff(self, head: bytes, filename: str) -> int:
        if (
            head_json_kind(head) == "array"
            and b'"type"' in head
            and (b'"issued"' in head or b'"author"' in head or b'"title"' in head)
        ):
            return 85
        return 0

    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        doc = read_json(stream, filename)
        if isinstance(doc, dict) and isinstance(doc.get("items"), list):
            doc = doc["items"]
        if not isinstance(doc, list):
            raise RecordError(filename, "CSL-JSON should be a list of items")
        yield from _emit(doc, csl_record, filename)


class ZoteroBbt(Source):
    name = "zotero-bbt"
    priority = 40
    description = "Zotero Better BibTeX JSON exports"

    def sniff(self, head: bytes, filename: str) -> int:
        if (
            head_json_kind(head) == "object"
            and b'"items"' in head
            and (b'"itemType"' in head or b'"config"' in head or b'"collections"' in head)
        ):
            return 95
        return 0

    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        doc = read_json(stream, filename)
        if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
            raise RecordError(filename, "a Better BibTeX export should have an 'items' list")
        yield from _emit(doc["items"], zotero_record, filename)


register(CslJson())
register(ZoteroBbt())
