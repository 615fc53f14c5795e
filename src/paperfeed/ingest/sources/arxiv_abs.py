"""arXiv ``.abs`` metadata files, as arXiv's own site keeps them.

Layout: a dashed line, ``\\\\``, header lines ``Key: value`` (continued by indented lines,
with one ``Date:`` line per version), ``\\\\``, the abstract, ``\\\\``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from paperfeed.errors import RecordError
from paperfeed.ingest.registry import Item, Source, register
from paperfeed.ingest.sources._common import decode_text, iso_date
from paperfeed.models import AuthorRecord, PaperRecord
from paperfeed.normalize import parse_arxiv_id, split_author_list

_DATE = re.compile(r"^Date(?: \(revised (v\d+)\))?:\s*(.*?)\s*(?:\((\d+)kb\))?\s*$")
_ID = re.compile(r"^(?:arXiv|Paper(?: \(\*cross-listing\*\))?):\s*(\S+)", re.MULTILINE)


class ArxivAbs(Source):
    name = "arxiv-abs"
    priority = 85
    description = "arXiv .abs metadata files"

    def sniff(self, head: bytes, filename: str) -> int:
        start = head.lstrip()[:400]
        if (
            start.startswith(b"---")
            and b"\\\\" in start
            and (b"arXiv:" in start or b"Paper:" in start)
        ):
            return 95
        return 0

    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        text = decode_text(stream.read(), filename, lambda raw: raw.decode("latin-1"))
        parts = re.split(r"^\\\\\s*$", text, flags=re.MULTILINE)
        if len(parts) < 4:  # the abstract ends with a line of two backslashes too
            raise RecordError(
                filename,
                "not a whole .abs file: expected the header and the abstract each between "
                "'\\\\' lines (is it cut short?)",
            )
        header, abstract = parts[1], parts[2]
        m = _ID.search(header)
        parsed = parse_arxiv_id(m.group(1)) if m else None
        if parsed is None:
            raise RecordError(filename, "no 'arXiv:' or 'Paper:' id line")
        fields: dict[str, str] = {}
        versions: list[dict[str, Any]] = []
        key = None
        for line in header.splitlines():
            if not line.strip():
                continue
            dm = _DATE.match(line)
            if dm:
                number = int(dm.group(1)[1:]) if dm.group(1) else 1
                versions.append(
                    {
                        "version": number,
                        "date": iso_date(dm.group(2)),
                        "size_kb": int(dm.group(3)) if dm.group(3) else None,
                    }
                )
                key = None
                continue
            if line[:1].isspace() and key:
                fields[key] += " " + line.strip()
                continue
            k, sep, v = line.partition(":")
            if sep and k and " " not in k:
                key = k.strip()
                fields[key] = v.strip()
        title = fields.get("Title")
        if not title:
            raise RecordError(filename, f"{parsed[0]}: no 'Title:' line")
        yield PaperRecord(
            source=self.name,
            location=filename,
            arxiv_id=parsed[0],
            arxiv_version=max((v["version"] for v in versions), default=None),
            doi=fields.get("DOI"),
            title=title,
            abstract=abstract.strip() or None,
            authors=[AuthorRecord(n, a) for n, a in split_author_list(fields.get("Authors", ""))],
            categories=fields.get("Categories", "").split(),
            published=versions[0]["date"] if versions else None,
            updated=versions[-1]["date"] if versions else None,
            comment=fields.get("Comments"),
            journal_ref=fields.get("Journal-ref"),
            license=fields.get("License"),
            versions=versions,
            links={"abs": f"https://arxiv.org/abs/{parsed[0]}"},
        )


register(ArxivAbs())
