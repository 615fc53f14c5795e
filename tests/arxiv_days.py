"""Days of arXiv announcements made from the shared corpus, in the format of arXiv's own
listing feed (``rss.arxiv.org/atom/CATEGORY``, as recorded in ``fixtures/arxiv_rss``): what a
replay server answers for days no recording covers, so a sync can be run day after day."""

from __future__ import annotations

import ast
import gzip
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from xml.sax.saxutils import escape

FEED = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" \
xmlns="http://www.w3.org/2005/Atom" xml:lang="en-us">
  <id>http://rss.arxiv.org/atom/{category}</id>
  <title>{category} updates on arXiv.org</title>
  <updated>{day}T04:00:19.866337+00:00</updated>
  <link href="http://rss.arxiv.org/atom/{category}" rel="self" type="application/atom+xml"/>
  <subtitle>{category} updates on the arXiv.org e-print archive.</subtitle>
{entries}</feed>
"""
ENTRY = """  <entry>
    <id>oai:arXiv.org:{id}v1</id>
    <title>{title}</title>
    <updated>{day}T04:00:19.899254+00:00</updated>
    <link href="https://arxiv.org/abs/{id}" rel="alternate" type="text/html"/>
    <summary>arXiv:{id}v1 Announce Type: new
Abstract: {abstract}</summary>
{categories}    <published>{day}T00:00:00-04:00</published>
    <arxiv:announce_type>new</arxiv:announce_type>
    <rights>http://creativecommons.org/licenses/by/4.0/</rights>
    <dc:creator>{authors}</dc:creator>
  </entry>
"""


def _listed(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        found = ast.literal_eval(str(value))
    except (ValueError, SyntaxError):
        return []
    return [str(v) for v in found] if isinstance(found, list) else []


def rows_by_day(corpus: Path, days: Iterable[str]) -> dict[str, list[dict]]:
    """The corpus rows listed on each of ``days``."""
    import orjson

    wanted: dict[str, list[dict]] = {d: [] for d in days}
    with gzip.open(corpus, "rb") as f:
        for line in f:
            row = orjson.loads(line)
            if row["listing_date"] in wanted:
                wanted[row["listing_date"]].append(row)
    return wanted


def listing(rows: list[dict], day: str, category: str = "cs") -> bytes:
    """The day's listing feed announcing ``rows`` as new submissions."""
    entries = "".join(
        ENTRY.format(
            id=row["id"],
            title=escape(" ".join(row["title"].split())),
            abstract=escape(" ".join(row["summary"].split())),
            day=day,
            categories="".join(
                f'    <category term="{escape(c)}"/>\n' for c in _listed(row["categories"])
            ),
            authors=escape(", ".join(_listed(row["authors"]))),
        )
        for row in rows
    )
    return FEED.format(category=category, day=day, entries=entries).encode()


def days_after(corpus: Path, first: str, n: int) -> Iterator[str]:
    """The first ``n`` listing days of the corpus from ``first`` on."""
    import orjson

    with gzip.open(corpus, "rb") as f:
        days = sorted({orjson.loads(line)["listing_date"] for line in f})
    return itertools.islice((d for d in days if d >= first), n)
