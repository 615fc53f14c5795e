"""A venue kept in the store (``paperfeed venue``): its submissions with their vectors,
embedded once at import; its reviewer pool, each reviewer with a private link to the page
where they see and fix the papers that stand for their expertise; the assignment last made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from paperfeed.embed import Embedder
from paperfeed.embed.model import paper_text
from paperfeed.errors import InputError
from paperfeed.match.inputs import Reviewer
from paperfeed.match.venue import Matching, expertise_of, match
from paperfeed.models import Author, Paper, Venue, VenueReviewer
from paperfeed.recommend.authors import Identity, author_identities
from paperfeed.recommend.lexical import LexicalModel
from paperfeed.store import Store

#: Submissions embedded and written at a time on import.
BATCH = 2000
#: Conflicts kept with an assignment's report, for the chair's page (all are counted; a
#: conference drawn from a whole field finds millions, ``assign --json`` lists them all).
CONFLICTS_KEPT = 10_000
#: What ``paperfeed assign`` uses unless the venue or the command says otherwise.
DEFAULTS: dict[str, Any] = {"k": 3, "max_load": 6, "conflict_years": 3, "fair": False}


def _doc(paper: Paper, emails: list[str]) -> dict[str, Any]:
    return {
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": [{"name": a.name, "affiliations": list(a.affiliations)} for a in paper.authors],
        "emails": emails,
        "categories": list(paper.categories),
        "published": paper.published,
        "listed": paper.listed,
    }


def _paper(row: int, doc: dict[str, Any]) -> Paper:
    paper = Paper.from_text(doc.get("abstract") or "")
    paper.id, paper.title, paper.abstract = -(row + 1), doc["title"], doc.get("abstract")
    paper.authors = [Author(0, a["name"], a.get("affiliations") or []) for a in doc["authors"]]
    paper.categories = doc.get("categories") or []
    paper.published, paper.listed = doc.get("published"), doc.get("listed")
    return paper


def import_submissions(
    store: Store,
    embedder: Embedder,
    venue: Venue,
    papers: list[Paper],
    ids: list[str],
    emails: list[list[str]],
) -> int:
    """Keep the submissions (a submission already there by id is replaced), each embedded
    once here so that assigning never waits for it; returns how many."""
    for start in range(0, len(papers), BATCH):
        part = papers[start : start + BATCH]
        vectors = embedder.embed([paper_text(p.title, p.abstract) for p in part])
        with store.writer() as w:
            w.save_submissions(
                venue.id,
                [
                    (ids[start + i], _doc(p, emails[start + i]), embedder.name, vectors[i])
                    for i, p in enumerate(part)
                ],
            )
    return len(papers)


def import_reviewers(store: Store, venue: Venue, reviewers: list[Reviewer]) -> int:
    """Add reviewers to the venue's pool (one already in it has their details replaced)."""
    seen: set[str] = set()
    for r in reviewers:
        if r.name in seen:
            raise InputError(f"the reviewer {r.name!r} is listed twice")
        seen.add(r.name)
    with store.writer() as w:
        w.save_reviewers(
            venue.id,
            [
                (
                    r.name,
                    {
                        "email": r.email,
                        "institution": r.institution,
                        "max_load": r.max_load,
                        "conflicts": sorted(r.conflicts),
                        "bids": r.bids,
                        "papers": r.refs,
                    },
                )
                for r in reviewers
            ],
        )
    return len(reviewers)


def reviewer_of(store: Store, kept: VenueReviewer) -> Reviewer:
    """A kept reviewer with their expertise: the papers they chose, or else the ones the
    chair's file names or the author disambiguation finds."""
    reviewer = _details(kept)
    if kept.papers is not None:
        reviewer.papers = store.papers(kept.papers)
    else:
        reviewer.papers = expertise_of(store, reviewer)
    return reviewer


def _details(kept: VenueReviewer) -> Reviewer:
    """A kept reviewer as the chair's file gave them, without their papers."""
    d = kept.details
    return Reviewer(
        name=kept.name,
        email=d.get("email") or "",
        institution=d.get("institution") or "",
        max_load=d.get("max_load"),
        conflicts=set(d.get("conflicts") or []),
        bids={str(k): float(v) for k, v in (d.get("bids") or {}).items()},
        refs=list(d.get("papers") or []),
    )


@dataclass
class Loaded:
    """A venue's submissions and pool, as :func:`~paperfeed.match.venue.match` takes them."""

    submissions: list[Paper]
    ids: list[str]
    emails: list[list[str]]
    vectors: np.ndarray | None  # None when some were embedded by another model
    reviewers: list[Reviewer]


def load(store: Store, embedder: Embedder, venue: Venue) -> Loaded:
    rows = store.venue_submissions(venue.id)
    if not rows:
        raise InputError(f"the venue {venue.name!r} has no submissions: import them first")
    pool = store.venue_reviewers(venue.id)
    if not pool:
        raise InputError(f"the venue {venue.name!r} has no reviewers: import them first")
    vectors = [v for _, _, model, v in rows if model == embedder.name and v is not None]
    return Loaded(
        submissions=[_paper(i, doc) for i, (_, doc, _, _) in enumerate(rows)],
        ids=[sid for sid, _, _, _ in rows],
        emails=[list(doc.get("emails") or []) for _, doc, _, _ in rows],
        vectors=np.stack(vectors) if len(vectors) == len(rows) else None,
        reviewers=[reviewer_of(store, r) for r in pool],
    )


def settings_of(venue: Venue | None, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The venue's settings (if a venue), the defaults under them and what a command gives
    over them (None: not given)."""
    over = {k: v for k, v in (given or {}).items() if v is not None}
    return {**DEFAULTS, **(venue.settings if venue is not None else {}), **over}


def assign_venue(
    store: Store,
    embedder: Embedder,
    lexical: LexicalModel,
    venue: Venue,
    given: dict[str, Any] | None = None,
    today: date | None = None,
) -> Matching:
    """Match the venue's submissions and pool with its settings (``given`` over them) and
    keep the assignment when there is one."""
    s = settings_of(venue, given)
    loaded = load(store, embedder, venue)
    result = match(
        store,
        embedder,
        lexical,
        loaded.submissions,
        loaded.ids,
        loaded.reviewers,
        int(s["k"]),
        int(s["max_load"]),
        bool(s["fair"]),
        int(s["conflict_years"]),
        today,
        emails=loaded.emails,
        vectors=loaded.vectors,
    )
    if not result.assignment.problems:
        found = result.to_dict(most_conflicts=CONFLICTS_KEPT)
        pairs = [(e["submission"], e["reviewer"], e["affinity"], e["why"]) for e in found["edges"]]
        report = {key: found[key] for key in ("summary", "weakest", "conflicts")}
        report["settings"] = s
        with store.writer() as w:
            w.save_assignment(venue.id, pairs, report)
    return result


def identities_of(
    store: Store, kept: VenueReviewer
) -> tuple[list[Identity], list[Paper], set[int]]:
    """The people signing the reviewer's name (as "This is me" shows them), the papers the
    chair's file named for the reviewer that none of them signs, and the ids of the papers
    standing for the reviewer now."""
    people = author_identities(store, kept.name)
    signed = {s.key.id for i in people for s in i.papers}
    named = expertise_of(store, _details(kept), people)  # what stands when nothing is chosen
    listed = [p for p in named if p.id not in signed]
    chosen = set(kept.papers) if kept.papers is not None else {p.id for p in named}
    return people, listed, chosen


def choose_papers(store: Store, kept: VenueReviewer, chosen: list[int]) -> int:
    """Keep the papers the reviewer chose; only papers the reviewer's name signs (or the
    chair's file named for them) count. Returns how many were kept."""
    people = author_identities(store, kept.name)
    signed = {s.key.id for i in people for s in i.papers}
    signed |= {p.id for p in expertise_of(store, _details(kept), people)}
    mine = sorted(set(chosen) & signed)
    with store.writer() as w:
        w.set_expertise(kept.venue_id, kept.name, mine)
    return len(mine)
