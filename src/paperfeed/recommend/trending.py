"""Trending: the papers people rate up and save, with older votes counting less.

Score = votes / (age in days + 2) ^ 1.5, Hacker News' gravity ranking (Salihefendic, "How
Hacker News ranking algorithm works", 2010), with the age measured from the day the paper was
listed to the end of the period shown. Within a single day every paper has the same age, so
votes alone order it; ties fall back to the listing order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from paperfeed.models import Paper, SearchFilters
from paperfeed.store import Store

GRAVITY = 1.5


@dataclass
class Trend:
    paper: Paper
    votes: int
    score: float


def trending(
    store: Store, filters: SearchFilters, limit: int = 50, offset: int = 0
) -> tuple[list[Trend], int]:
    """The papers the filters let through, by trending score: ``limit`` of them from
    ``offset``, and how many there are in all."""
    ids = [int(i) for i in store.filter_ids(filters)]
    votes = store.votes(ids)
    end = filters.until or store.latest_day() or date.today().isoformat()

    def age(listed: str | None) -> int:
        try:
            return max(0, (date.fromisoformat(end) - date.fromisoformat((listed or end)[:10])).days)
        except ValueError:
            return 0

    # Rank ids first and load only the papers shown.
    ranked = sorted(ids, key=lambda i: (-votes.get(i, 0), -i))
    if any(votes.values()):
        listed = {p.id: p.listed for p in store.papers([i for i in ids if i in votes])}
        scored = {i: votes[i] / (age(listed.get(i)) + 2) ** GRAVITY for i in votes}
        ranked = sorted(ids, key=lambda i: (-scored.get(i, 0.0), -i))
    shown = store.papers(ranked[offset : offset + limit])
    trends = [
        Trend(
            p,
            votes.get(p.id, 0),
            votes.get(p.id, 0) / (age(p.listed) + 2) ** GRAVITY,
        )
        for p in shown
    ]
    return trends, len(ids)
