"""Plain-text paper lists copied from web pages, in the three layouts of ``shared/seeds``.

1. ``Abstract:`` lines, one paper each, under an optional first line naming the owner
   (an institution or a person): the list becomes that owner's profile.
2. An author page: ``CVSep 14, 2022[Code]`` (category, date, code flag), then the title
   run straight into the author list (``...ModelXi Chen, Xiao Wang et al. · deepmind``),
   then the abstract.
3. A daily-papers listing: title, abstract, then optionally ``• N authors``, ``·`` and the
   date with the upvote count (``Oct 5, 2022 1``), blocks separated by blank lines.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from paperfeed.errors import RecordError
from paperfeed.ingest.registry import Item, Source, register
from paperfeed.ingest.sources._common import iso_date
from paperfeed.ingest.sources.bibtex import decode
from paperfeed.models import AuthorRecord, PaperRecord, ProfileOwner

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_AUTHOR_PAGE_META = re.compile(
    rf"^(?P<cat>[A-Z][A-Za-z\-]{{1,7}}(?:\.[A-Z]{{2}})?)"
    rf"(?P<date>{_MONTH} \d{{1,2}}, \d{{4}})(?P<code>Code)?$"
)
_AUTHORS_COUNT = re.compile(r"^•\s*(\d+)\s+authors?$")
_LISTING_DATE = re.compile(rf"^(?P<date>{_MONTH} \d{{1,2}}(?:, \d{{4}})?)(?: (?P<votes>\d+))?$")
_UPPER = "A-ZÀ-ÖØ-Þ\u0100-\u024f"
# One to five capitalised words, with lower-case particles between ("Jean de la Fontaine").
_NAME = re.compile(rf"^[{_UPPER}][\w.'’\-]*(?: (?:[a-z]{{1,3}} )*[{_UPPER}][\w.'’\-]*){{0,4}}$")
# "ReportMarco": a title's last word run into a first name; "McDonald", "LeCun" are names.
_CAMEL = re.compile(r"(?<!\bMc)(?<!\bMac)(?<!\bLe)(?<!\bDe)(?<!\bDi)(?<!\bLa)(?<!\bO')[a-z][A-Z]")
_NON_CS = {"ML": "stat.ML"}
_INSTITUTION_WORDS = re.compile(
    r"\b(universit\w*|institut\w*|inria|[eé]cole|school|college|lab\w*|laborato\w*|research|"
    r"centre|center|academy|cnrs|normale|sup[eé]rieure|inc\.?|ltd|gmbh|corp\w*|google|meta|"
    r"deepmind|microsoft|openai|department|faculty|group)\b",
    re.IGNORECASE,
)


def owner_kind(name: str) -> str:
    return "institution" if _INSTITUTION_WORDS.search(name) else "researcher"


#: The longest author name looked for: a split leaving more before the first comma is no name.
MAX_NAME = 120


def _is_name(text: str) -> bool:
    return bool(_NAME.match(text)) and not _CAMEL.search(text)


def split_title_authors(line: str) -> tuple[str, list[str], bool] | None:
    """Split "TitleFirst Author, Second Author et al." at the earliest place where the rest
    reads as an author list. Returns (title, names, truncated).

    Linear in the line's length: whether the names after each comma are all names is known
    once, from the end, and a place is tried only if the text from it to the next comma is
    short enough to be a name."""
    truncated = line.endswith(" et al.")
    body = line.removesuffix(" et al.")
    pieces = body.split(",")
    ends = list(itertools.accumulate(len(p) + 1 for p in pieces))  # past each piece's comma
    names_from = [False] * len(pieces) + [True]  # pieces k.. are all names
    for k in range(len(pieces) - 1, 0, -1):
        names_from[k] = names_from[k + 1] and _is_name(pieces[k].strip())
    for m in re.finditer(r"(?<=[a-z0-9)\]?!.'’\"])(?=[A-ZÀ-ÖØ-Þ\u0100-\u024f])", body):
        k = bisect.bisect_right(ends, m.start())  # the piece the place is in
        end = ends[k] - 1
        if end - m.start() > MAX_NAME or not names_from[k + 1]:
            continue
        first = body[m.start() : end].strip()
        if _is_name(first):
            return (
                body[: m.start()].strip(),
                [first] + [p.strip() for p in pieces[k + 1 :]],
                truncated,
            )
    return None


class PaperList(Source):
    name = "paper-list"
    priority = 20
    description = "plain-text paper lists (Abstract: lines, author pages, daily-papers pages)"

    def sniff(self, head: bytes, filename: str) -> int:
        text = head.decode("utf-8", errors="replace")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            return 0
        if sum(line.startswith("Abstract:") for line in lines[:5]) >= 1:
            return 60
        if any(_AUTHOR_PAGE_META.match(line) for line in lines[:3]):
            return 60
        if any(_AUTHORS_COUNT.match(line) for line in lines):
            return 60
        return 0

    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        lines = decode(stream.read(), filename).splitlines()
        nonblank = [line.strip() for line in lines if line.strip()]
        # A list becomes something to open: a profile named after the owner its first line
        # names, the page's own title, or else the file.
        unnamed = Path(filename).stem
        if any(line.startswith("Abstract:") for line in nonblank[:3]):
            items = list(self._abstract_lines(lines, filename))
            if not any(isinstance(i, ProfileOwner) for i in items):
                items.insert(0, ProfileOwner(unnamed, "reader"))
            yield from items
        elif nonblank and _AUTHOR_PAGE_META.match(nonblank[0]):
            yield ProfileOwner(unnamed, "researcher")  # one researcher's page, unnamed
            yield from self._author_page(lines, filename)
        elif any(_AUTHORS_COUNT.match(line) for line in nonblank):
            # a curated, dated list ("Daily Papers"): each paper keeps its listing day
            title = next((line for line in nonblank[:12] if line == "Daily Papers"), unnamed)
            yield ProfileOwner(title, "reader")
            yield from self._daily_listing(lines, filename)
        else:
            raise RecordError(
                filename,
                "not a paper list: no 'Abstract:' lines, author-page "
                "entries or daily-papers entries",
            )

    def _abstract_lines(self, lines: list[str], filename: str) -> Iterator[Item]:
        seen_entry = False
        for lineno, line in enumerate(lines, 1):
            s = line.strip()
            if not s:
                continue
            where = f"{filename}:{lineno}"
            if s.startswith("Abstract:"):
                seen_entry = True
                abstract = s.removeprefix("Abstract:").strip()
                if not abstract:
                    yield RecordError(where, "empty abstract")
                    continue
                yield PaperRecord(source=self.name, location=where, abstract=abstract)
            elif not seen_entry:
                yield ProfileOwner(s, owner_kind(s))
                seen_entry = True
            else:
                yield RecordError(where, "expected a line starting with 'Abstract:'")

    def _author_page(self, lines: list[str], filename: str) -> Iterator[Item]:
        numbered = [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]
        i = 0
        while i < len(numbered):
            lineno, meta = numbered[i]
            where = f"{filename}:{lineno}"
            m = _AUTHOR_PAGE_META.match(meta)
            if not m or i + 2 >= len(numbered):
                yield RecordError(
                    where, "expected 'CATEGORYMon D, YYYY' then a title line and an abstract line"
                )
                i += 1
                continue
            head, abstract = numbered[i + 1][1], numbered[i + 2][1]
            i += 3
            org = None
            if " · " in head:
                head, org = head.rsplit(" · ", 1)
            split = split_title_authors(head)
            if split is None:
                yield RecordError(
                    f"{filename}:{lineno + 1}", "cannot tell the title from the authors"
                )
                continue
            title, names, truncated = split
            cat = m.group("cat")
            yield PaperRecord(
                source=self.name,
                location=where,
                title=title,
                abstract=abstract,
                authors=[AuthorRecord(n, [org] if org else []) for n in names],
                categories=[cat if "." in cat else _NON_CS.get(cat, f"cs.{cat}")],
                published=iso_date(m.group("date")),
                extra={"authors_truncated": truncated, "has_code": bool(m.group("code"))},
            )

    def _daily_listing(self, lines: list[str], filename: str) -> Iterator[Item]:
        numbered = [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]
        i, started = 0, False
        while i < len(numbered):
            lineno, line = numbered[i]
            nxt = numbered[i + 1][1] if i + 1 < len(numbered) else ""
            is_meta = bool(_AUTHORS_COUNT.match(line) or line == "·" or _LISTING_DATE.match(line))
            if is_meta or not nxt or len(nxt) < 100 or _AUTHORS_COUNT.match(nxt):
                if started and not is_meta:
                    yield RecordError(
                        f"{filename}:{lineno}", "expected a title followed by an abstract"
                    )
                i += 1
                continue
            started = True
            record = PaperRecord(
                source=self.name, location=f"{filename}:{lineno}", title=line, abstract=nxt
            )
            i += 2
            while i < len(numbered):
                meta = numbered[i][1]
                if (c := _AUTHORS_COUNT.match(meta)) is not None:
                    record.extra["author_count"] = int(c.group(1))
                elif (d := _LISTING_DATE.match(meta)) is not None:
                    day = d.group("date")
                    if "," in day:
                        record.published = iso_date(day)
                    else:  # the page leaves out the current year; keep what it says
                        record.extra["date_text"] = day
                    if d.group("votes"):
                        record.extra["upvotes"] = int(d.group("votes"))
                elif meta != "·":
                    break
                i += 1
            yield record


register(PaperList())
