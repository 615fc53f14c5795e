"""Semantic Scholar Graph API paper JSON: one paper, a list (batch), or a page of ``data``.

Also a small live client (``paper``, ``author_papers``) over httpx, whose transport can be
injected, following ``next`` offsets and retrying 429/5xx with backoff.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, BinaryIO

import httpx

from paperfeed.errors import RecordError, SourceError
from paperfeed.ingest.registry import Item, Source, register
from paperfeed.ingest.sources._common import guarded, head_json_kind, iso_date, read_json, text
from paperfeed.models import AuthorRecord, PaperRecord
from paperfeed.normalize import parse_arxiv_id

FIELDS = (
    "paperId,externalIds,title,abstract,authors,year,venue,publicationDate,journal,url,"
    "openAccessPdf,fieldsOfStudy"
)


#: What enriching an arXiv paper asks for: where its authors work, its venue, its open PDF.
ENRICH_FIELDS = (
    "paperId,externalIds,title,venue,year,publicationDate,journal,url,openAccessPdf,"
    "authors.name,authors.affiliations"
)
#: Ids per batch request (the API's limit).
BATCH = 500


def paper_record(p: Any, where: str) -> PaperRecord:
    if not isinstance(p, dict) or not text(p.get("paperId")):
        raise RecordError(where, "not a Semantic Scholar paper (no 'paperId')")
    ext = p.get("externalIds") or {}
    if not isinstance(ext, dict):
        raise RecordError(where, "'externalIds' should be an object")
    arxiv = parse_arxiv_id(str(ext["ArXiv"])) if ext.get("ArXiv") else None
    authors = []
    for a in p.get("authors") or []:
        if isinstance(a, dict) and text(a.get("name")):
            affs = [x for x in a.get("affiliations") or [] if isinstance(x, str)]
            authors.append(AuthorRecord(a["name"], affs))
    journal = p["journal"] if isinstance(p.get("journal"), dict) else {}
    pdf = p["openAccessPdf"] if isinstance(p.get("openAccessPdf"), dict) else {}
    links = {"s2": text(p.get("url")) or "", "pdf": text(pdf.get("url")) or ""}
    year = p.get("year") if isinstance(p.get("year"), int) else None
    return PaperRecord(
        source="semantic-scholar",
        location=where,
        s2_id=p["paperId"],
        arxiv_id=arxiv[0] if arxiv else None,
        doi=text(ext.get("DOI")),
        title=text(p.get("title")),
        abstract=text(p.get("abstract")),
        authors=authors,
        categories=[f for f in p.get("fieldsOfStudy") or [] if isinstance(f, str)],
        published=iso_date(p.get("publicationDate")),
        year=year,
        venue=text(p.get("venue")) or text(journal.get("name")),
        links={k: v for k, v in links.items() if v},
    )


def _papers(doc: Any, filename: str) -> Iterator[Item]:
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        items = doc["data"]
    elif isinstance(doc, dict) and "authorId" in doc and isinstance(doc.get("papers"), list):
        items = doc["papers"]  # an author with their papers
    elif isinstance(doc, list):
        items = doc
    else:
        items = [doc]
    for i, p in enumerate(items, 1):
        if p is None:  # batch look-ups answer null for unknown ids
            continue
        if isinstance(p, dict) and "citedPaper" in p:
            p = p["citedPaper"]
        elif isinstance(p, dict) and "citingPaper" in p:
            p = p["citingPaper"]
        yield guarded(paper_record, p, f"{filename}#{i}")


class SemanticScholar(Source):
    name = "semantic-scholar"
    priority = 60
    description = "Semantic Scholar Graph API paper JSON"

    def sniff(self, head: bytes, filename: str) -> int:
        return 90 if head_json_kind(head) and b'"paperId"' in head else 0

    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        yield from _papers(read_json(stream, filename), filename)


class Client:
    """A polite Semantic Scholar Graph API client."""

    def __init__(self, settings: dict[str, Any], transport: httpx.BaseTransport | None = None):
        headers = {"x-api-key": settings["s2_api_key"]} if settings.get("s2_api_key") else {}
        self.http = httpx.Client(
            base_url=settings["s2_api_url"], headers=headers, transport=transport, timeout=30
        )
        self.retries = settings["retries"]
        self.backoff = settings["backoff"]

    def _get(self, path: str, params: dict[str, Any], body: Any = None) -> Any:
        """GET ``path``, or POST ``body`` (JSON) to it, retrying 429 and 5xx answers."""
        for attempt in range(self.retries + 1):
            try:
                if body is None:
                    r = self.http.get(path, params=params)
                else:
                    r = self.http.post(path, params=params, json=body)
            except httpx.HTTPError as e:
                if attempt == self.retries:
                    raise SourceError(f"Semantic Scholar unreachable: {e}") from e
            else:
                if r.status_code == 404:
                    raise SourceError(f"Semantic Scholar: not found: {path}")
                if r.status_code not in (429, 500, 502, 503, 504):
                    if r.status_code >= 400:
                        raise SourceError(
                            f"Semantic Scholar answered {r.status_code}: {r.text[:200]}"
                        )
                    return r.json()
                if attempt == self.retries:
                    raise SourceError(f"Semantic Scholar answered {r.status_code} after retries")
                wait = r.headers.get("retry-after")
                if wait and wait.isdigit():
                    time.sleep(float(wait))
                    continue
            time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")

    def paper(self, paper_id: str) -> Iterator[Item]:
        yield from _papers(self._get(f"/paper/{paper_id}", {"fields": FIELDS}), f"s2:{paper_id}")

    def batch(self, ids: list[str], fields: str = FIELDS) -> Iterator[Item]:
        """Papers by id (``ARXIV:2501.00001``, ``DOI:...``), up to 500 per request; ids
        Semantic Scholar does not know are left out."""
        for at in range(0, len(ids), BATCH):
            chunk = ids[at : at + BATCH]
            found = self._get("/paper/batch", {"fields": fields}, {"ids": chunk})
            if not isinstance(found, list):
                raise SourceError("Semantic Scholar: a batch answer should be a list")
            for paper_id, paper in zip(chunk, found, strict=False):
                if paper is not None:
                    yield from _papers(paper, f"s2:{paper_id}")

    def author_papers(self, author_id: str, limit: int = 100) -> Iterator[Item]:
        offset: int | None = 0
        while offset is not None:
            page = self._get(
                f"/author/{author_id}/papers", {"fields": FIELDS, "offset": offset, "limit": limit}
            )
            yield from _papers(page, f"s2:author/{author_id}?offset={offset}")
            offset = page.get("next") if isinstance(page, dict) else None


register(SemanticScholar())
