"""Who is who: one author name's papers split into the people who wrote them.

"Yang Liu" signs hundreds of papers in a year of arXiv CS, written by many people. Building a
researcher's profile from a name must keep to one of them. The papers of a name are split in
two steps, in the spirit of the classic two-stage author disambiguation (a high-precision
linking of papers by shared co-authors, then a merge of the groups by topic; see Ferreira,
Gonçalves & Laender, "A brief survey of automatic methods for author name disambiguation",
SIGMOD Record 2012):

1. papers that share a co-author (other than the name itself) or an affiliation of the name
   are one person's;
2. groups are merged, most similar first, while the cosine of their centroids (centred
   embeddings, or tf-idf when some paper has no vector) stays above a threshold.

Each resulting identity is described by its co-authors, categories, affiliations and years,
so a person can tell which one is them. :func:`evaluate_pseudo_homonyms` measures the
splitting on real authors given one shared name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import DisjointSet
from sklearn.feature_extraction.text import TfidfVectorizer

from paperfeed.embed.model import paper_text
from paperfeed.models import SearchFilters
from paperfeed.normalize import name_key
from paperfeed.search.vectors import StoredIndex, VectorIndex
from paperfeed.store import Store

#: Cosine of two groups' centroids (centred embeddings) above which they are taken for one
#: person; chosen on pseudo-homonyms of even-SHA-1 authors (``paperfeed eval authors``).
MERGE_AT = 0.4
#: A co-author name with more papers than this is taken to be several people, and links
#: nothing (the daily benchmark leaves such names out for the same reason).
COMMON_NAME = 80
#: A co-author name with at most this many papers is taken to be one person: sharing it
#: links two papers on its own.
RARE_NAME = 40


@dataclass
class Signed:
    """One paper as disambiguation sees it."""

    key: Any  # the caller's handle on the paper
    text: str
    coauthors: list[str]  # names of the other authors
    affiliations: list[str] = field(default_factory=list)  # of the name, on this paper
    categories: list[str] = field(default_factory=list)
    listed: str | None = None
    vector: np.ndarray | None = None  # the paper's embedding, centred on the corpus mean


@dataclass
class Identity:
    """One person behind a name: their papers and what tells them apart."""

    papers: list[Signed]
    coauthors: list[tuple[str, int]]
    categories: list[tuple[str, int]]
    affiliations: list[tuple[str, int]]
    first: str | None
    last: str | None

    @property
    def summary(self) -> str:
        parts = [f"{len(self.papers)} papers"]
        if self.categories:
            parts.append(", ".join(c for c, _ in self.categories[:3]))
        if self.coauthors:
            parts.append("with " + ", ".join(a for a, _ in self.coauthors[:3]))
        if self.affiliations:
            parts.append(self.affiliations[0][0])
        if self.first:
            parts.append(f"{self.first[:7]} to {(self.last or self.first)[:7]}")
        return " · ".join(parts)


def split_identities(
    papers: Sequence[Signed],
    merge_at: float = MERGE_AT,
    link_by_coauthors: bool = True,
    counts: Mapping[str, int] | None = None,
) -> list[list[int]]:
    """Positions of ``papers`` grouped by the person who wrote them, largest group first.

    ``counts`` (papers per co-author name key, over the whole store) says how much a shared
    co-author proves: one shared name with at most :data:`RARE_NAME` papers links two
    papers, a more frequent one needs a second shared co-author, and one with more than
    :data:`COMMON_NAME` (several people) counts for nothing. Without counts, every shared
    co-author links."""
    n = len(papers)
    if n == 0:
        return []
    groups = DisjointSet(range(n))
    if link_by_coauthors:
        holders: dict[str, list[int]] = {}
        for i, p in enumerate(papers):
            keys = {f"a:{name_key(c)}" for c in p.coauthors}
            keys |= {f"o:{a.casefold()}" for a in p.affiliations}
            for k in keys:
                holders.setdefault(k, []).append(i)
        shared: Counter[tuple[int, int]] = Counter()
        for k, members in holders.items():
            seen = 0 if counts is None or k.startswith("o:") else counts.get(k[2:], 0)
            if seen > COMMON_NAME or len(members) < 2:
                continue
            if seen <= RARE_NAME:
                for j in members[1:]:
                    groups.merge(members[0], j)
            else:
                shared.update((a, b) for x, a in enumerate(members) for b in members[x + 1 :])
        for (a, b), together in shared.items():
            if together >= 2:
                groups.merge(a, b)
    clusters = sorted(sorted(group) for group in groups.subsets())
    if len(clusters) > 1 and merge_at < 1.0:
        clusters = _merge_by_topic(papers, clusters, merge_at)
    return sorted(clusters, key=lambda c: (-len(c), c[0]))


def _merge_by_topic(
    papers: Sequence[Signed], clusters: list[list[int]], merge_at: float
) -> list[list[int]]:
    """Merge groups while the most similar pair's topic similarity is at least ``merge_at``:
    the cosine of their centroids, over embeddings when every paper has one, else tf-idf."""
    if all(p.vector is not None for p in papers):
        x = np.stack([p.vector for p in papers]).astype(np.float64)  # type: ignore[misc]
    else:
        try:
            x = (
                TfidfVectorizer(sublinear_tf=True, stop_words="english")
                .fit_transform([p.text or "" for p in papers])
                .toarray()
            )
        except ValueError:  # no words at all
            return clusters
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    clusters = [list(c) for c in clusters]
    sums = [x[c].sum(axis=0) for c in clusters]
    while len(clusters) > 1:
        centres = np.stack(sums)
        centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
        sims = centres @ centres.T
        np.fill_diagonal(sims, -np.inf)
        a, b = np.unravel_index(int(np.argmax(sims)), sims.shape)
        if sims[a, b] < merge_at:
            break
        a, b = min(a, b), max(a, b)
        clusters[a] += clusters.pop(b)
        sums[a] = sums[a] + sums.pop(b)
    return clusters


def identities(
    papers: Sequence[Signed],
    merge_at: float = MERGE_AT,
    counts: Mapping[str, int] | None = None,
) -> list[Identity]:
    """The people behind a name, each described so a person can recognise themselves."""
    found = []
    for group in split_identities(papers, merge_at, counts=counts):
        mine = [papers[i] for i in group]
        days = sorted(p.listed for p in mine if p.listed)
        found.append(
            Identity(
                mine,
                Counter(c for p in mine for c in p.coauthors).most_common(8),
                Counter(c for p in mine for c in p.categories).most_common(5),
                Counter(a for p in mine for a in p.affiliations).most_common(3),
                days[0] if days else None,
                days[-1] if days else None,
            )
        )
    return found


def bcubed(predicted: Sequence[Sequence[int]], truth: Sequence[int]) -> dict[str, float]:
    """B-cubed precision, recall and F1 of a clustering against true labels (Bagga &
    Baldwin 1998), averaged over items."""
    cluster_of = {i: c for c, members in enumerate(predicted) for i in members}
    items = sorted(cluster_of)
    precision = recall = 0.0
    for i in items:
        same_cluster = [j for j in predicted[cluster_of[i]]]
        same_truth = [j for j in items if truth[j] == truth[i]]
        correct = sum(truth[j] == truth[i] for j in same_cluster)
        precision += correct / len(same_cluster)
        recall += correct / len(same_truth)
    p, r = precision / len(items), recall / len(items)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def author_identities(
    store: Store, name: str, index: VectorIndex | StoredIndex | None = None
) -> list[Identity]:
    """The people who signed ``name`` in the store; each identity's ``papers`` hold the
    store's :class:`Paper` objects as their ``key``. With the vector ``index`` (centred on
    the corpus mean), groups are compared by embeddings."""
    key = name_key(name)
    papers = store.papers([int(i) for i in store.filter_ids(SearchFilters(author=name))])
    vectors = index.vectors_of([p.id for p in papers]) if index is not None else {}
    complete = len(vectors) == len(papers)
    signed = [
        Signed(
            key=p,
            text=paper_text(p.title, p.abstract),
            coauthors=[a.name for a in p.authors if name_key(a.name) != key],
            affiliations=[f for a in p.authors if name_key(a.name) == key for f in a.affiliations],
            categories=p.categories,
            listed=p.listed,
            vector=vectors.get(p.id) if complete else None,
        )
        for p in papers
    ]
    counts = store.author_counts({name_key(c) for s in signed for c in s.coauthors})
    return identities(signed, counts=counts)
