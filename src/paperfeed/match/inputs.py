"""What a chair gives paperfeed: the reviewers' CSV and the submissions (a CSV, or any
format paperfeed reads), each refused whole, naming the file and line, when a record is
bad; and the institution an email address names."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from paperfeed.errors import InputError
from paperfeed.models import Paper


@dataclass
class Reviewer:
    name: str
    email: str = ""
    institution: str = ""
    max_load: int | None = None
    conflicts: set[str] = field(default_factory=set)  # submission ids declared
    bids: dict[str, float] = field(default_factory=dict)  # submission id -> -1..1
    refs: list[str] = field(default_factory=list)  # ids of papers they wrote, if given
    papers: list[Paper] = field(default_factory=list)  # their expertise, from the store


def read_reviewers(path: Path) -> list[Reviewer]:
    """A CSV with a ``name`` column and optional ``email``, ``institution``, ``max_load``,
    ``conflicts``, ``bids`` (``ID:VALUE``) and ``papers`` (ids of papers the reviewer
    wrote: arXiv ids, DOIs, ``s2:``/``openalex:`` ids), lists separated by ``;``."""
    try:
        return reviewers_from(path.read_bytes(), str(path))
    except OSError as e:
        raise InputError(f"{path}: cannot read it ({e})") from e


def reviewers_from(data: bytes, path: str) -> list[Reviewer]:
    """:func:`read_reviewers` of a file's bytes, named ``path`` in errors."""
    rows = _csv_rows(data, path, "name", "one reviewer a row")
    out = []
    for line, row in enumerate(rows, 2):
        name = (row.get("name") or "").strip()
        if not name:
            raise InputError(f"{path}:{line}: a reviewer without a name")
        load = (row.get("max_load") or "").strip()
        if load and not load.isdigit():
            raise InputError(f"{path}:{line}: max_load should be a whole number, not {load!r}")
        bids = {}
        for bid in filter(None, (b.strip() for b in (row.get("bids") or "").split(";"))):
            sub, _, value = bid.rpartition(":")
            try:
                bids[sub] = max(-1.0, min(1.0, float(value)))
            except ValueError as e:
                raise InputError(f"{path}:{line}: a bid is ID:VALUE, not {bid!r}") from e
        out.append(
            Reviewer(
                name=name,
                email=(row.get("email") or "").strip(),
                institution=(row.get("institution") or "").strip(),
                max_load=int(load) if load else None,
                conflicts={c.strip() for c in (row.get("conflicts") or "").split(";") if c.strip()},
                bids=bids,
                refs=_split(row.get("papers")),
            )
        )
    return out


def _csv_rows(data: bytes, path: str, needed: str, what: str) -> list[dict[str, str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e})") from e
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error as e:
        raise InputError(f"{path}: not readable as CSV ({e})") from e
    if not rows or needed not in rows[0]:
        raise InputError(f"{path}: a CSV with a {needed!r} column is needed ({what})")
    return rows


def read_submissions(
    data: bytes, name: str, fmt: str | None = None
) -> tuple[list[Paper], list[str], list[list[str]]]:
    """A submissions file's papers, ids and authors' emails: a CSV (``fmt`` "csv" or a
    ``.csv`` name: :func:`submissions_from_csv`) or any format paperfeed reads (detected
    unless ``fmt``; no emails), refused whole, naming the record, if any record is bad."""
    from paperfeed.ingest import registry

    if fmt == "csv" or (fmt is None and name.lower().endswith(".csv")):
        return submissions_from_csv(data, name)
    source = registry.get(fmt) if fmt else registry.detect(data[:65536], name)
    papers, ids = submissions_of(source.parse(io.BytesIO(data), name), name)
    return papers, ids, [[] for _ in papers]


def submissions_from_csv(data: bytes, name: str) -> tuple[list[Paper], list[str], list[list[str]]]:
    """A CSV of submissions: ``title`` and optional ``id``, ``abstract``, ``authors`` and
    ``emails`` (lists separated by ``;``, the emails in the authors' order)."""
    from paperfeed.models import Author

    rows = _csv_rows(data, name, "title", "one submission a row")
    papers, ids, emails = [], [], []
    seen: set[str] = set()
    for line, row in enumerate(rows, 2):
        title = (row.get("title") or "").strip()
        if not title:
            raise InputError(f"{name}:{line}: a submission without a title")
        sid = (row.get("id") or "").strip() or f"submission-{line - 1}"
        if sid in seen:
            raise InputError(f"{name}:{line}: the id {sid!r} is used twice")
        seen.add(sid)
        addresses = _split(row.get("emails"))
        bad = [a for a in addresses if not _registered_domain(a)]
        if bad:
            raise InputError(f"{name}:{line}: not an email address: {bad[0]!r}")
        paper = Paper.from_text((row.get("abstract") or "").strip())
        paper.id, paper.title = -(line - 1), title
        paper.abstract = paper.abstract or None
        paper.authors = [Author(0, a) for a in _split(row.get("authors"))]
        papers.append(paper)
        ids.append(sid)
        emails.append(addresses)
    return papers, ids, emails


#: Mail services anyone can sign up to: sharing one is no conflict.
FREE_MAIL = frozenset(
    "gmail.com googlemail.com outlook.com hotmail.com live.com msn.com yahoo.com icloud.com "
    "me.com aol.com proton.me protonmail.com gmx.de gmx.net web.de mail.ru yandex.ru qq.com "
    "163.com 126.com foxmail.com naver.com".split()
)
#: Second-level labels under a country code that name no institution (ox.ac.uk, unsw.edu.au).
_SECOND_LEVEL = frozenset({"ac", "edu", "co", "gov", "org", "com", "net", "or", "ne", "go"})


def email_domain(address: str) -> str:
    """The institution an address names, as its registered domain (``cs.cmu.edu`` and
    ``cmu.edu`` are one; ``ox.ac.uk`` keeps three labels); "" for a free mail service or
    something that is no address."""
    domain = _registered_domain(address)
    return "" if domain in FREE_MAIL else domain


def _registered_domain(address: str) -> str:
    user, at, host = address.strip().lower().rpartition("@")
    labels = [x for x in host.strip(".").split(".") if x]
    if not (user and at) or len(labels) < 2:
        return ""
    if not all(x.replace("-", "").isalnum() for x in labels):
        return ""
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


def _split(value: str | None) -> list[str]:
    return [x.strip() for x in (value or "").split(";") if x.strip()]


def submissions_of(items: Iterable[object], name: str) -> tuple[list[Paper], list[str]]:
    """Parsed records as papers (never stored), with the id each is known by; a file with a
    bad record is refused whole, naming it, as an ingest would be."""
    from paperfeed.errors import FileRejected, RecordError
    from paperfeed.ingest.merge import draft_from_record
    from paperfeed.models import Author, PaperRecord

    items = list(items)
    bad = [e for e in items if isinstance(e, RecordError)]
    if bad:
        raise FileRejected(name, bad)
    papers, ids = [], []
    for i, rec in enumerate(items):
        if not isinstance(rec, PaperRecord):
            continue
        draft, _ = draft_from_record(rec)
        sid = rec.arxiv_id or rec.doi or rec.s2_id or f"submission-{i + 1}"
        papers.append(
            Paper(
                id=-(i + 1),
                title=draft.title,
                abstract=draft.abstract,
                authors=[Author(0, a.name, a.affiliations) for a in draft.authors],
                ids=draft.ids,
                categories=draft.categories,
                published=draft.published,
                updated=draft.updated,
                listed=draft.listed,
                links=draft.links,
                comment=draft.comment,
                journal_ref=draft.journal_ref,
                license=draft.license,
                venue=draft.venue,
                year=draft.year,
                arxiv_version=draft.arxiv_version,
                versions=draft.versions,
                provenance=draft.provenance,
            )
        )
        ids.append(sid)
    if not papers:
        raise InputError(f"{name}: no submission found in it")
    return papers, ids
