"""A profile's rules: must-have categories and excluded words drop papers; followed authors
and organizations, included words and saved queries pick papers to show first."""

from __future__ import annotations

import re

from paperfeed.models import Paper, Rule, SearchFilters
from paperfeed.normalize import name_key, org_key
from paperfeed.store import Store


def mentions(paper: Paper, word: str) -> bool:
    text = f"{paper.title or ''} {paper.abstract or ''}"
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE) is not None


#: Kinds of rule that drop papers (the others pick papers to show first).
FILTERS = ("category", "exclude")


def apply_filters(papers: list[Paper], rules: list[Rule]) -> list[Paper]:
    """Drop the papers a profile's must-have categories or excluded words rule out."""
    wanted = {r.value for r in rules if r.kind == "category"}
    excluded = [r.value for r in rules if r.kind == "exclude"]
    return [
        p
        for p in papers
        if (not wanted or wanted & set(p.categories)) and not any(mentions(p, w) for w in excluded)
    ]


def pinned(
    store: Store, papers: list[Paper], rules: list[Rule], window: SearchFilters
) -> dict[int, list[str]]:
    """Papers a rule always shows, with the rule's reason: followed authors and
    organizations, included words, saved queries."""
    reasons: dict[int, list[str]] = {}
    if not rules:
        return reasons
    authors = {name_key(r.value): r.value for r in rules if r.kind == "author"}
    orgs = {org_key(r.value): r.value for r in rules if r.kind == "organization"}
    ids = {p.id for p in papers}
    for p in papers:
        for a in p.authors:
            if name_key(a.name) in authors:
                reasons.setdefault(p.id, []).append(f"by {a.name}, whom you follow")
            for aff in a.affiliations:
                if org_key(aff) in orgs:
                    reasons.setdefault(p.id, []).append(f"from {aff}, which you follow")
        for r in rules:
            if r.kind == "include" and mentions(p, r.value):
                reasons.setdefault(p.id, []).append(f"mentions “{r.value}”")
    for r in rules:
        if r.kind == "query":
            for pid, _ in store.keyword_search(r.value, window, limit=len(ids) + 1):
                if pid in ids:
                    reasons.setdefault(pid, []).append(f"matches your alert “{r.value}”")
    return {pid: list(dict.fromkeys(why)) for pid, why in reasons.items()}
