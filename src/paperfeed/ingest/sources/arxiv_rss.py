"""arXiv's daily listings as RSS or Atom (rss.arxiv.org), read with feedparser.

The listing's date is the day the paper appeared; ``announce_type`` (new, cross, replace)
is kept with the record.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

import feedparser

from paperfeed.errors import RecordError
from paperfeed.ingest.registry import Item, Source, register
from paperfeed.ingest.sources._common import parse_xml
from paperfeed.models import AuthorRecord, PaperRecord
from paperfeed.normalize import parse_arxiv_id

_PREAMBLE = re.compile(r"^arXiv:\S+\s+Announce Type:\s*(\S+)\s*Abstract:\s*", re.DOTALL)


class ArxivRss(Source):
    name = "arxiv-rss"
    priority = 75
    description = "arXiv daily listing feeds (RSS 2.0 or Atom from rss.arxiv.org)"

    def sniff(self, head: bytes, filename: str) -> int:
        if b"announce_type" in head or b"rss.arxiv.org" in head:
            return 96
        return 0

    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        data = stream.read()
        parse_xml(data, filename)  # whole and well-formed, or refused whole
        try:
            feed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
        except (ValueError, LookupError) as err:  # feedparser trips over a broken encoding name
            raise RecordError(filename, f"not a readable feed: {err}") from err
        if feed.bozo and not feed.entries:
            raise RecordError(filename, f"not a readable feed: {feed.bozo_exception}")
        for i, e in enumerate(feed.entries, 1):
            where = f"{filename}#entry{i}"
            parsed = parse_arxiv_id(e.get("id")) or parse_arxiv_id(e.get("link"))
            if parsed is None:
                yield RecordError(where, f"entry has no arXiv id (id {e.get('id')!r})")
                continue
            summary = e.get("summary", "")
            announce = e.get("arxiv_announce_type")
            m = _PREAMBLE.match(summary)
            if m:
                announce = announce or m.group(1)
                summary = summary[m.end() :]
            creators = e.get("dc_creator") or e.get("author") or ""
            published = e.get("published_parsed") or e.get("updated_parsed")
            day = (
                f"{published.tm_year:04d}-{published.tm_mon:02d}-{published.tm_mday:02d}"
                if published
                else None
            )
            yield PaperRecord(
                source=self.name,
                location=where,
                arxiv_id=parsed[0],
                arxiv_version=parsed[1],
                title=e.get("title"),
                abstract=summary or None,
                authors=[AuthorRecord(n.strip()) for n in creators.split(",") if n.strip()],
                categories=[t["term"] for t in e.get("tags", []) if t.get("term")],
                listed=day,
                links={"abs": f"https://arxiv.org/abs/{parsed[0]}"},
                license=e.get("rights"),
                extra={"announce_type": announce} if announce else {},
            )


register(ArxivRss())
