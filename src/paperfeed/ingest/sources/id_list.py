"""Plain lists of paper ids, one a line: arXiv ids in any spelling (``2501.01234``,
``arXiv:2501.01234v2``, an abs or PDF URL) and DOIs (``10.1145/...`` or a doi.org URL).
Blank lines and ``#`` comments are skipped.

Each line is a reference to a paper, not a description of one: the pipeline finds it in the
store and adds it to the profile; ids the store does not hold are reported (fetch them with
``paperfeed fetch arxiv --id``), never stored as empty papers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from paperfeed.errors import RecordError
from paperfeed.ingest.registry import Item, Source, lines, register
from paperfeed.models import REFERENCE, PaperRecord
from paperfeed.normalize import normalize_doi, parse_arxiv_id


def reference(line: str, where: str) -> PaperRecord | None:
    """The paper a line names, or None when it names none."""
    text = line.strip().rstrip(".,;")
    for prefix in ("https://arxiv.org/pdf/", "http://arxiv.org/pdf/"):
        if text.startswith(prefix):
            text = text.removesuffix(".pdf")
    arxiv = parse_arxiv_id(text)
    if arxiv:
        return PaperRecord("id-list", where, arxiv_id=arxiv[0], extra={REFERENCE: text})
    doi = normalize_doi(text) if ("10." in text and " " not in text) else None
    if doi:
        return PaperRecord("id-list", where, doi=doi, extra={REFERENCE: text})
    return None


def _lines(head: bytes) -> list[str]:
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if len(head) >= 65536 and lines:  # the head may end mid-line
        lines = lines[:-1]
    return [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]


class IdList(Source):
    name = "id-list"
    priority = 5  # it carries no field of its own
    description = "plain lists of arXiv ids, arXiv URLs or DOIs, one a line"
    streams_lines = True

    def sniff(self, head: bytes, filename: str) -> int:
        lines = _lines(head)
        if lines and all(reference(line, "") for line in lines):
            return 90
        return 0

    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        for n, raw in lines(stream, filename):
            if isinstance(raw, RecordError):
                yield raw
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield RecordError(f"{filename}:{n}", "not UTF-8 text")
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            found = reference(line, f"{filename}:{n}")
            if found is None:
                yield RecordError(
                    f"{filename}:{n}", f"not an arXiv id, arXiv URL or DOI: {line.strip()[:80]!r}"
                )
            else:
                yield found


register(IdList())
