"""The arXiv API's Atom responses, from a file or fetched live with the ``arxiv`` client.

The live client pages through results politely (arXiv asks for 3 s between requests),
retries failed requests with exponential backoff and honours ``Retry-After``; arXiv's error
feeds (an entry whose id is under ``/api/errors``) become a clear error.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, BinaryIO

import arxiv
import requests
from arxiv import _feed as arxiv_feed
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from paperfeed.errors import RecordError, SourceError
from paperfeed.ingest.registry import Item, Source, register
from paperfeed.ingest.sources._common import parse_xml, read_xml
from paperfeed.models import AuthorRecord, PaperRecord
from paperfeed.normalize import parse_arxiv_id

ERROR_ID = "/api/errors"


def result_record(r: arxiv.Result, source: str, where: str) -> PaperRecord:
    """One ``arxiv.Result`` as a record."""
    parsed = parse_arxiv_id(r.entry_id)
    if parsed is None:
        raise RecordError(where, f"entry id is not an arXiv id: {r.entry_id!r}")
    categories = [r.primary_category] if r.primary_category else []
    categories += [c for c in r.categories if c not in categories]
    links = {"abs": f"https://arxiv.org/abs/{parsed[0]}"}
    if r.pdf_url:
        links["pdf"] = r.pdf_url
    return PaperRecord(
        source=source,
        location=where,
        arxiv_id=parsed[0],
        arxiv_version=parsed[1],
        doi=r.doi,
        title=r.title,
        abstract=r.summary,
        authors=[AuthorRecord(a.name, list(a.affiliation)) for a in r.authors],
        categories=categories,
        published=r.published.date().isoformat() if r.published else None,
        updated=r.updated.date().isoformat() if r.updated else None,
        links=links,
        comment=r.comment,
        journal_ref=r.journal_ref,
        versions=[{"version": parsed[1], "date": r.updated.date().isoformat()}]
        if parsed[1] and r.updated
        else [],
    )


def _records(results: list[arxiv.Result], source: str, where: str) -> Iterator[Item]:
    for i, r in enumerate(results, 1):
        at = f"{where}#entry{i}"
        if ERROR_ID in r.entry_id:
            yield RecordError(at, f"arXiv API error: {r.summary}")
            continue
        try:
            yield result_record(r, source, at)
        except RecordError as e:
            yield e


def _error_message(data: bytes) -> str:
    """The summary of an arXiv API error feed's entry."""
    root = read_xml(io.BytesIO(data), "feed")
    summary = root.find("{http://www.w3.org/2005/Atom}entry/{http://www.w3.org/2005/Atom}summary")
    return (summary.text or "").strip() if summary is not None else "unknown error"


class ArxivAtom(Source):
    name = "arxiv-atom"
    priority = 90
    description = "arXiv API Atom responses (export.arxiv.org/api/query)"

    def sniff(self, head: bytes, filename: str) -> int:
        start = head.lstrip()[:200]
        if not (start.startswith(b"<?xml") or start.startswith(b"<feed")):
            return 0
        if b"<feed" in head and b"arxiv.org/schemas/atom" in head and b"opensearch" in head:
            return 95
        return 0

    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        data = stream.read()
        if ERROR_ID.encode() in data:
            raise RecordError(filename, f"arXiv API error feed: {_error_message(data)}")
        parse_xml(data, filename)  # whole and well-formed, or refused whole
        try:
            feed = arxiv_feed.parse(data)
        except (ValueError, LookupError) as e:
            raise RecordError(filename, f"not a readable Atom feed: {e}") from e
        if feed.malformed:
            raise RecordError(filename, f"not a readable Atom feed: {feed.error}")
        yield from _records(feed.results, self.name, filename)


def client(settings: dict[str, Any], page_size: int = 100) -> arxiv.Client:
    """An ``arxiv.Client`` aimed at the configured endpoint, retrying with backoff."""
    c = arxiv.Client(page_size=page_size, delay_seconds=settings["arxiv_delay"], num_retries=0)
    c.query_url_format = settings["arxiv_api_url"] + "?{}"
    retry = Retry(
        total=settings["retries"],
        backoff_factor=settings["backoff"],
        status_forcelist=(429, 500, 502, 503, 504),
        respect_retry_after_header=True,
        allowed_methods=("GET",),
        raise_on_status=False,
    )
    session: requests.Session = c._session
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return c


def search(
    settings: dict[str, Any],
    query: str = "",
    ids: list[str] | None = None,
    max_results: int | None = None,
    since: str | None = None,
    page_size: int = 100,
    newest: bool = False,
) -> Iterator[Item]:
    """Records from a live arXiv API query: with ``newest`` or ``since``, newest submissions
    first (stopping at ``since``), else by relevance."""
    c = client(settings, page_size)
    s = arxiv.Search(
        query=query,
        id_list=ids or [],
        max_results=max_results,
        sort_by=(
            arxiv.SortCriterion.SubmittedDate if since or newest else arxiv.SortCriterion.Relevance
        ),
    )
    where = settings["arxiv_api_url"]
    try:
        for i, r in enumerate(c.results(s), 1):
            if ERROR_ID in r.entry_id:
                raise SourceError(f"arXiv API error: {r.summary}")
            rec = result_record(r, "arxiv-atom", f"{where}#{i}")
            if since and rec.published and rec.published < since:
                return
            yield rec
    except arxiv.HTTPError as e:
        raise SourceError(f"arXiv API answered HTTP {e.status} for {e.url}") from e
    except arxiv.UnexpectedEmptyPageError as e:
        raise SourceError(f"arXiv API returned an empty page for {e.url}") from e
    except requests.RequestException as e:
        raise SourceError(f"arXiv API unreachable: {e}") from e


register(ArxivAtom())
