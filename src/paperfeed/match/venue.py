"""A conference's reviewer matching: reviewers' expertise from their papers in the store,
sparse affinity to the submissions, conflicts with their reasons, and the assignment.

Submissions are read from the chair's file and never stored: they are confidential, and a
stored paper would appear in everyone's feeds and searches.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from paperfeed.embed import Embedder
from paperfeed.errors import InputError
from paperfeed.match.assign import Assignment, assign
from paperfeed.match.expertise import expertise_scores
from paperfeed.models import Paper
from paperfeed.normalize import name_key, org_key
from paperfeed.recommend.authors import author_identities
from paperfeed.recommend.feed import vectors_of
from paperfeed.recommend.lexical import LexicalModel
from paperfeed.recommend.sparse import Rows
from paperfeed.store import Store

#: Candidates kept per paper: the rest of the affinity matrix is never held.
CANDIDATES = 50
#: The papers with the least affinity a chair is shown, to find reviewers for by hand.
WEAKEST = 10
#: Affinity added for a bid of 1 (bids are -1 to 1), in the scorer's standard deviations.
BID_WEIGHT = 0.5


@dataclass
class Reviewer:
    name: str
    email: str = ""
    institution: str = ""
    max_load: int | None = None
    conflicts: set[str] = field(default_factory=set)  # submission ids declared
    bids: dict[str, float] = field(default_factory=dict)  # submission id -> -1..1
    papers: list[Paper] = field(default_factory=list)  # their expertise, from the store


@dataclass
class Matching:
    submissions: list[Paper]
    reviewers: list[Reviewer]
    conflicts: dict[tuple[int, int], str]  # (submission row, reviewer row) -> why
    assignment: Assignment
    reasons: dict[tuple[int, int], str]  # an assigned pair's closest paper of the reviewer
    ids: list[str]  # each submission's id

    def to_dict(self) -> dict[str, Any]:
        """The assignment as edges, the conflicts left out, a summary, and why it could
        not be made (``problems``), for the CLI's JSON and the API."""
        per = self.assignment.per_paper
        return {
            "summary": {
                "submissions": len(self.submissions),
                "reviewers": len(self.reviewers),
                "without_papers": [r.name for r in self.reviewers if not r.papers],
                "conflicts": len(self.conflicts),
                "mean_affinity": float(per.mean()) if len(per) else 0.0,
                "least_affinity": float(per.min()) if len(per) else 0.0,
            },
            "edges": [
                {
                    "submission": self.ids[row],
                    "title": self.submissions[row].title,
                    "reviewer": self.reviewers[col].name,
                    "affinity": round(float(a), 4),
                    "why": self.reasons[(row, col)],
                }
                for (row, col), a in zip(
                    self.assignment.pairs, self.assignment.affinity, strict=True
                )
            ],
            "conflicts": [
                {"submission": self.ids[row], "reviewer": self.reviewers[col].name, "why": why}
                for (row, col), why in sorted(self.conflicts.items())
            ],
            "weakest": [
                {
                    "submission": self.ids[row],
                    "title": self.submissions[row].title,
                    "affinity": round(float(per[row]), 4),
                }
                for row in np.argsort(per, kind="stable")[:WEAKEST].tolist()
            ]
            if len(per) and self.assignment.pairs
            else [],
            "problems": self.assignment.problems,
        }


def read_reviewers(path: Path) -> list[Reviewer]:
    """A CSV with a ``name`` column and optional ``email``, ``institution``, ``max_load``,
    ``conflicts`` and ``bids`` (``ID:VALUE``), lists separated by ``;``."""
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


def expertise_of(store: Store, reviewer: Reviewer) -> list[Paper]:
    """The reviewer's papers: the person with most papers among those signing the name."""
    people = author_identities(store, reviewer.name)
    if not people:
        return []
    best = max(people, key=lambda i: len(i.papers))
    return [s.key for s in best.papers]


class Conflicts:
    """Who may not review what: submissions indexed by their authors' name keys and
    institutions once, so each reviewer is checked against the few submissions their own
    name, co-authors and institutions reach, not against every submission."""

    def __init__(
        self, submissions: list[Paper], ids: list[str], emails: Sequence[Sequence[str]] = ()
    ) -> None:
        self.submissions, self.row_of = submissions, {sid: r for r, sid in enumerate(ids)}
        self.by_author: dict[str, list[int]] = {}
        self.by_org: dict[str, list[int]] = {}
        self.by_domain: dict[str, list[int]] = {}
        for row, addresses in enumerate(emails):
            for domain in sorted({d for a in addresses if (d := email_domain(a))}):
                self.by_domain.setdefault(domain, []).append(row)
        for row, sub in enumerate(submissions):
            for a in sub.authors:
                self.by_author.setdefault(name_key(a.name), []).append(row)
                for f in a.affiliations:
                    if key := org_key(f):
                        self.by_org.setdefault(key, []).append(row)

    def of(self, reviewer: Reviewer, years: int, today: date) -> dict[int, str]:
        """Submission rows ``reviewer`` may not review, each with its reason (declared, an
        author of it, co-authorship within ``years``, the same institution or email
        domain)."""
        own = name_key(reviewer.name)
        since = f"{today.year - years:04d}-{today.month:02d}-{today.day:02d}"
        found: dict[int, str] = {}
        orgs = {org_key(reviewer.institution)} if reviewer.institution else set()
        coauthors: dict[str, tuple[Paper, str]] = {}
        for p in reviewer.papers:
            if (p.published or p.listed or "") < since:
                continue
            for a in p.authors:
                key = name_key(a.name)
                if key == own:
                    orgs.update(org_key(f) for f in a.affiliations)
                else:
                    coauthors.setdefault(key, (p, a.name))
        for key in sorted(orgs - {""}):
            for row in self.by_org.get(key, []):
                found.setdefault(row, f"same institution ({key})")
        if domain := email_domain(reviewer.email):
            for row in self.by_domain.get(domain, []):
                found.setdefault(row, f"same email domain ({domain})")
        for key in sorted(coauthors, reverse=True):  # the first name in order wins, as below
            p, name = coauthors[key]
            year = (p.published or p.listed or "")[:4]
            for row in self.by_author.get(key, []):
                found[row] = f"co-authored {p.title!r} ({year}) with {name}"
        for row in self.by_author.get(own, []):
            found[row] = "an author of it"
        for sid in reviewer.conflicts:
            if sid in self.row_of:
                found[self.row_of[sid]] = "declared by the reviewer"
        return found


def affinity(
    store: Store,
    embedder: Embedder,
    lexical: LexicalModel,
    reviewers: list[Reviewer],
    submissions: list[Paper],
    candidates: int = CANDIDATES,
    vectors: np.ndarray | None = None,
) -> sparse.csr_matrix:
    """Submissions x reviewers, the ``candidates`` best reviewers of each submission by the
    expertise scorer (the one ``eval reviewer-gold`` measures); ``vectors``: the
    submissions' embeddings where they were made before (a kept venue's)."""
    if vectors is None:
        vectors = vectors_of(store, embedder, submissions)
    subs = lexical.papers(submissions, vectors)
    subs.terms = Rows(subs.terms)  # cut to the submissions' terms once, for every reviewer
    n = len(submissions)
    keep = min(candidates, len(reviewers))
    best = np.full((n, keep), -np.inf, dtype=np.float32)
    who = np.full((n, keep), -1, dtype=np.int64)
    for col, r in enumerate(reviewers):
        if not r.papers:
            continue
        mine = lexical.papers(r.papers, vectors_of(store, embedder, r.papers))
        score = expertise_scores(mine, subs).astype(np.float32)
        weakest = best.argmin(axis=1)
        better = score > best[np.arange(n), weakest]
        best[better, weakest[better]] = score[better]
        who[better, weakest[better]] = col
    rows, slots = np.nonzero(who >= 0)
    return sparse.csr_matrix(
        (best[rows, slots], (rows, who[rows, slots])), shape=(n, len(reviewers))
    )


def match(
    store: Store,
    embedder: Embedder,
    lexical: LexicalModel,
    submissions: list[Paper],
    ids: list[str],
    reviewers: list[Reviewer],
    k: int,
    max_load: int,
    fair: bool = False,
    years: int = 3,
    today: date | None = None,
    candidates: int = CANDIDATES,
    emails: Sequence[Sequence[str]] = (),
    vectors: np.ndarray | None = None,
) -> Matching:
    """Expertise, affinity, conflicts and the assignment of a whole venue; ``emails`` are the
    submissions' authors' addresses, where the chair's file gives them; ``vectors`` their
    embeddings, where made before."""
    today = today or date.today()
    for r in reviewers:
        r.papers = r.papers or expertise_of(store, r)
    scores = affinity(store, embedder, lexical, reviewers, submissions, candidates, vectors).tolil()
    conflicts: dict[tuple[int, int], str] = {}
    known = Conflicts(submissions, ids, emails)
    rows_of: dict[str, list[int]] = {}
    for row, sid in enumerate(ids):
        rows_of.setdefault(sid, []).append(row)
    for col, r in enumerate(reviewers):
        for row, why in known.of(r, years, today).items():
            conflicts[(row, col)] = why
            scores[row, col] = 0
        for sid, bid in r.bids.items():  # the reviewer's bids, not every submission
            for row in rows_of.get(sid, []):
                if (row, col) not in conflicts and scores[row, col] != 0:
                    scores[row, col] = scores[row, col] + BID_WEIGHT * bid
    allowed = scores.tocsr()
    allowed.eliminate_zeros()
    load = np.array([r.max_load or max_load for r in reviewers])
    result = assign(allowed, k, load, fair)
    reasons = _reasons(result, reviewers, submissions)
    return Matching(submissions, reviewers, conflicts, result, reasons, ids)


def _reasons(
    result: Assignment, reviewers: list[Reviewer], submissions: list[Paper]
) -> dict[tuple[int, int], str]:
    """Each assigned pair's reason: the reviewer's paper closest to the submission by title
    words, and the words of the submission's title the reviewer's titles share (a reader
    checks it in a second)."""
    out = {}
    for row, col in result.pairs:
        words = _words(submissions[row].title)
        papers = reviewers[col].papers
        best = max(papers, key=lambda p: len(words & _words(p.title)), default=None)
        if best is None:
            out[(row, col)] = ""
            continue
        shared = sorted(words & set().union(*(_words(p.title) for p in papers)))
        out[(row, col)] = f"wrote {best.title!r}" + (
            f"; shares {', '.join(shared[:6])}" if shared else ""
        )
    return out


#: Words too common in titles to say why a reviewer fits.
_COMMON = frozenset(
    "with from that this these their using based via into over under towards toward "
    "through what when which while learning model models approach method methods data "
    "study analysis paper new novel".split()
)


def _words(title: str | None) -> set[str]:
    return {
        w
        for w in "".join(c if c.isalnum() else " " for c in (title or "").lower()).split()
        if len(w) > 3 and w not in _COMMON
    }


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
