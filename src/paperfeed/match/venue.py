"""A conference's reviewer matching: reviewers' expertise from their papers in the store,
sparse affinity to the submissions, conflicts with their reasons, and the assignment.

Submissions are read from the chair's file and never stored: they are confidential, and a
stored paper would appear in everyone's feeds and searches.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from scipy import sparse

from paperfeed.embed import Embedder
from paperfeed.errors import NotFound
from paperfeed.match.assign import Assignment, assign
from paperfeed.match.expertise import expertise_matrix
from paperfeed.match.inputs import Reviewer, email_domain
from paperfeed.models import Paper
from paperfeed.normalize import name_key, org_key
from paperfeed.recommend.authors import Identity, author_identities
from paperfeed.recommend.feed import vectors_of
from paperfeed.recommend.lexical import LexicalModel
from paperfeed.recommend.sparse import Rows
from paperfeed.store import Store

log = logging.getLogger(__name__)

#: Candidates kept per paper: the rest of the affinity matrix is never held.
CANDIDATES = 50
#: The papers with the least affinity a chair is shown, to find reviewers for by hand.
WEAKEST = 10
#: Affinity added for a bid of 1 (bids are -1 to 1), in the scorer's standard deviations.
BID_WEIGHT = 0.5


@dataclass
class Matching:
    submissions: list[Paper]
    reviewers: list[Reviewer]
    conflicts: dict[tuple[int, int], str]  # (submission row, reviewer row) -> why
    assignment: Assignment
    reasons: dict[tuple[int, int], str]  # an assigned pair's closest paper of the reviewer
    ids: list[str]  # each submission's id

    def to_dict(self, most_conflicts: int | None = None) -> dict[str, Any]:
        """The assignment as edges, the conflicts left out (the first ``most_conflicts`` of
        them, or all), a summary, and why it could not be made (``problems``), for the
        CLI's JSON, the API and a kept venue's report."""
        found = (
            sorted(self.conflicts.items())
            if most_conflicts is None
            else heapq.nsmallest(most_conflicts, self.conflicts.items())
        )
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
                for (row, col), why in found
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


def expertise_of(
    store: Store, reviewer: Reviewer, people: list[Identity] | None = None
) -> list[Paper]:
    """The reviewer's papers: the ones the chair's file names (``refs``) found in the store,
    or else the person with most papers among those signing the name (``people``, where
    the caller has told them apart already)."""
    if reviewer.refs:
        found = {}
        for ref in reviewer.refs:
            try:
                paper = store.get_paper(ref)
            except NotFound:
                continue
            found[paper.id] = paper
        return list(found.values())
    if people is None:
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
    banned: dict[int, list[int]] | None = None,
) -> sparse.csr_matrix:
    """Submissions x reviewers, the ``candidates`` best reviewers of each submission by the
    expertise scorer (the one ``eval reviewer-gold`` measures), leaving out the submission
    rows ``banned`` holds for a reviewer's column (their conflicts: a paper's closest
    reviewers are often its authors' co-authors, who must not take its places);
    ``vectors``: the submissions' embeddings where they were made before (a kept venue's).
    Reviewers are scored a block at a time (:data:`BLOCK` of their papers in all), and only
    each submission's best are kept between blocks."""
    banned = banned or {}
    if vectors is None:
        vectors = vectors_of(store, embedder, submissions)
    subs = lexical.papers(submissions, vectors)
    subs.terms = Rows(subs.terms)  # cut to the submissions' terms once, for every block
    n = len(submissions)
    keep = min(candidates, len(reviewers))
    best = np.full((n, keep), -np.inf, dtype=np.float32)
    who = np.full((n, keep), -1, dtype=np.int64)
    for cols in _blocks(reviewers):
        papers = [p for c in cols for p in reviewers[c].papers]
        mine = lexical.papers(papers, vectors_of(store, embedder, papers))
        bounds = np.cumsum([0, *(len(reviewers[c].papers) for c in cols)])
        score = expertise_matrix(mine, bounds, subs).astype(np.float32)
        for j, col in enumerate(cols):
            score[banned.get(col, []), j] = -np.inf
        pooled = np.hstack([best, score])
        ids = np.hstack([who, np.broadcast_to(np.asarray(cols), (n, len(cols)))])
        top = np.argpartition(-pooled, keep - 1, axis=1)[:, :keep]
        best = np.take_along_axis(pooled, top, axis=1)
        who = np.take_along_axis(ids, top, axis=1)
    rows, slots = np.nonzero((who >= 0) & np.isfinite(best))
    return sparse.csr_matrix(
        (best[rows, slots], (rows, who[rows, slots])), shape=(n, len(reviewers))
    )


#: Reviewers' papers scored against every submission at once (the block's memory is about
#: submissions x BLOCK x 8 bytes, a few times over).
BLOCK = 2048


def _blocks(reviewers: list[Reviewer]) -> Iterator[list[int]]:
    """Reviewers with papers, in runs of at most :data:`BLOCK` papers in all (one with more
    alone)."""
    block: list[int] = []
    size = 0
    for col, r in enumerate(reviewers):
        if not r.papers:
            continue
        if block and size + len(r.papers) > BLOCK:
            yield block
            block, size = [], 0
        block.append(col)
        size += len(r.papers)
    if block:
        yield block


def allowed_pairs(
    store: Store,
    embedder: Embedder,
    lexical: LexicalModel,
    submissions: list[Paper],
    ids: list[str],
    reviewers: list[Reviewer],
    years: int = 3,
    today: date | None = None,
    candidates: int = CANDIDATES,
    emails: Sequence[Sequence[str]] = (),
    vectors: np.ndarray | None = None,
) -> tuple[sparse.csr_matrix, dict[tuple[int, int], str]]:
    """Expertise, affinity and conflicts: the pairs an assignment may use (each submission's
    ``candidates`` best reviewers, conflicts left out, bids added) and the conflicts found
    with their reasons. Each stage's time is logged."""
    today = today or date.today()
    started = time.perf_counter()
    for r in reviewers:
        r.papers = r.papers or expertise_of(store, r)
    log.info("expertise of %d reviewers: %.1f s", len(reviewers), _since(started))
    started = time.perf_counter()
    conflicts: dict[tuple[int, int], str] = {}
    banned: dict[int, list[int]] = {}
    known = Conflicts(submissions, ids, emails)
    for col, r in enumerate(reviewers):
        for row, why in known.of(r, years, today).items():
            conflicts[(row, col)] = why
            banned.setdefault(col, []).append(row)
    log.info("conflicts: %d found, %.1f s", len(conflicts), _since(started))
    started = time.perf_counter()
    scores = affinity(
        store, embedder, lexical, reviewers, submissions, candidates, vectors, banned
    ).tocoo()
    log.info("affinity of %d submissions: %.1f s", len(submissions), _since(started))
    rows_of: dict[str, list[int]] = {}
    for row, sid in enumerate(ids):
        rows_of.setdefault(sid, []).append(row)
    bids = {
        (row, col): bid
        for col, r in enumerate(reviewers)
        for sid, bid in r.bids.items()  # the reviewer's bids, not every submission
        for row in rows_of.get(sid, [])
    }
    if bids:  # added where the pair is a candidate of the submission
        at = zip(scores.row.tolist(), scores.col.tolist(), strict=True)
        scores.data += BID_WEIGHT * np.array([bids.get(pair, 0.0) for pair in at])
    return scores.tocsr(), conflicts


def _since(started: float) -> float:
    return time.perf_counter() - started


def decide(
    allowed: sparse.csr_matrix,
    conflicts: dict[tuple[int, int], str],
    submissions: list[Paper],
    ids: list[str],
    reviewers: list[Reviewer],
    k: int,
    max_load: int,
    fair: bool = False,
) -> Matching:
    """The assignment over the allowed pairs (:func:`allowed_pairs`), with its reasons."""
    started = time.perf_counter()
    load = np.array([r.max_load or max_load for r in reviewers])
    result = assign(allowed, k, load, fair)
    log.info("assignment (%s): %.1f s", "fair" if fair else "plain", _since(started))
    reasons = _reasons(result, reviewers, submissions)
    return Matching(submissions, reviewers, conflicts, result, reasons, ids)


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
    allowed, conflicts = allowed_pairs(
        store,
        embedder,
        lexical,
        submissions,
        ids,
        reviewers,
        years,
        today,
        candidates,
        emails,
        vectors,
    )
    return decide(allowed, conflicts, submissions, ids, reviewers, k, max_load, fair)


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
