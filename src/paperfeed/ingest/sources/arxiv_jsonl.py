"""arXiv metadata as JSON lines, in the three dialects found in the wild.

- the daily-listing corpus (``id``, ``summary``, ``authors`` list, ``listing_date``), as
  collected by daily-arXiv-ai-enhanced;
- the public bulk snapshot (Kaggle ``arxiv-metadata-oai-snapshot.json``: ``authors_parsed``,
  ``versions`` with RFC 2822 dates, ``update_date``);
- rows of arXiv's own metadata table (one row per version: ``paper_id``, ``version``,
  ``abs_categories``), which carry a paper's version history.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

from paperfeed.errors import RecordError
from paperfeed.ingest.registry import Item, Source, lines, register
from paperfeed.ingest.sources._common import guarded, iso_date
from paperfeed.models import AuthorRecord, PaperRecord
from paperfeed.normalize import parse_arxiv_id, split_author_list


def _str(d: dict[str, Any], key: str) -> str | None:
    v = d.get(key)
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise ValueError(f"field {key!r} should be text, not {type(v).__name__}")
    return v


#: A key of a JSON object, read from text that may not be whole.
_KEY = re.compile(rb'[{,]\s*"(\w+)"\s*:')


class ArxivJsonl(Source):
    name = "arxiv-jsonl"
    priority = 80
    description = "arXiv metadata JSON lines (daily corpus, bulk snapshot, metadata table rows)"
    streams_lines = True

    def sniff(self, head: bytes, filename: str) -> int:
        line = head.lstrip().split(b"\n", 1)[0]
        if not line.startswith(b"{"):
            return 0
        try:
            first = orjson.loads(line)
        except orjson.JSONDecodeError:
            if b"\n" not in head.lstrip():  # a first line longer than the head: read its keys
                keys = set(_KEY.findall(line))
                arxiv = {b"summary", b"title", b"authors", b"categories", b"authors_parsed"}
                if (b"id" in keys and keys & arxiv) or {b"paper_id", b"abs_categories"} <= keys:
                    return 60
            return 0
        if not isinstance(first, dict):
            return 0
        if ("id" in first and ("summary" in first or "authors_parsed" in first)) or (
            "paper_id" in first and "abs_categories" in first
        ):
            return 90
        return 0

    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        for lineno, line in lines(stream, filename):
            if isinstance(line, RecordError):
                yield line
                continue
            if not line.strip():
                continue
            where = f"{filename}:{lineno}"
            try:
                d = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                yield RecordError(where, f"not valid JSON: {e}")
                continue
            if not isinstance(d, dict):
                yield RecordError(where, "a line should hold one JSON object")
                continue
            yield guarded(self.record, d, where)

    def record(self, d: dict[str, Any], where: str) -> PaperRecord:
        if "paper_id" in d:
            return self._table_row(d, where)
        raw_id = _str(d, "id")
        parsed = parse_arxiv_id(raw_id)
        if parsed is None:
            raise ValueError(f"'id' is not an arXiv id: {raw_id!r}")
        arxiv_id, version = parsed
        if "summary" in d:  # the daily corpus
            authors = d.get("authors") or []
            if not isinstance(authors, list) or not all(isinstance(a, str) for a in authors):
                raise ValueError("'authors' should be a list of names")
            categories = d.get("categories") or []
            if not isinstance(categories, list):
                raise ValueError("'categories' should be a list")
            title = _str(d, "title")
            if title is None:
                raise ValueError("missing 'title'")
            return PaperRecord(
                source=self.name,
                location=where,
                arxiv_id=arxiv_id,
                arxiv_version=version,
                title=title,
                abstract=_str(d, "summary"),
                authors=[AuthorRecord(a) for a in authors],
                categories=[str(c) for c in categories],
                listed=iso_date(d.get("listing_date")),
                links={"abs": d.get("abs") or "", "pdf": d.get("pdf") or ""},
                comment=_str(d, "comment"),
            )
        # the bulk snapshot
        versions: list[dict[str, Any]] = []
        for v in d.get("versions") or []:
            n = parse_arxiv_id(f"{arxiv_id}{v.get('version', '')}")
            versions.append({"version": n[1] if n else None, "date": iso_date(v.get("created"))})
        if d.get("authors_parsed"):
            authors = [
                AuthorRecord(", ".join(p for p in (a[0], a[1]) if p) + (f" {a[2]}" if a[2] else ""))
                for a in d["authors_parsed"]
            ]
        else:
            authors = [
                AuthorRecord(n, affs) for n, affs in split_author_list(_str(d, "authors") or "")
            ]
        title = _str(d, "title")
        if title is None:
            raise ValueError("missing 'title'")
        return PaperRecord(
            source=self.name,
            location=where,
            arxiv_id=arxiv_id,
            arxiv_version=max((v["version"] or 0 for v in versions), default=None) or version,
            doi=_str(d, "doi"),
            title=title,
            abstract=_str(d, "abstract"),
            authors=authors,
            categories=(_str(d, "categories") or "").split(),
            published=versions[0]["date"] if versions else None,
            updated=iso_date(d.get("update_date")),
            comment=_str(d, "comments"),
            journal_ref=_str(d, "journal-ref"),
            license=_str(d, "license"),
            versions=versions,
            links={"abs": f"https://arxiv.org/abs/{arxiv_id}"},
        )

    def _table_row(self, d: dict[str, Any], where: str) -> PaperRecord:
        parsed = parse_arxiv_id(_str(d, "paper_id"))
        if parsed is None:
            raise ValueError(f"'paper_id' is not an arXiv id: {d.get('paper_id')!r}")
        version = d.get("version")
        if not isinstance(version, int):
            raise ValueError("'version' should be a number")
        title = _str(d, "title")
        if title is None:
            raise ValueError("missing 'title'")
        created = iso_date(d.get("created"))
        return PaperRecord(
            source=self.name,
            location=where,
            arxiv_id=parsed[0],
            arxiv_version=version,
            doi=_str(d, "doi"),
            title=title,
            abstract=_str(d, "abstract"),
            authors=[AuthorRecord(n, a) for n, a in split_author_list(_str(d, "authors") or "")],
            categories=(_str(d, "abs_categories") or "").split(),
            published=created if version == 1 else None,
            updated=created,
            comment=_str(d, "comments"),
            journal_ref=_str(d, "journal_ref"),
            license=_str(d, "license"),
            versions=[{"version": version, "date": created, "size": d.get("source_size")}],
            links={"abs": f"https://arxiv.org/abs/{parsed[0]}"},
        )


register(ArxivJsonl())
