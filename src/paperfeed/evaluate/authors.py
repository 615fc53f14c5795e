"""Author disambiguation, measured with pseudo-homonyms.

Real authors with distinct names are given one shared name, their papers pooled, and each
method must split the pool back into people; B-cubed precision, recall and F1 are averaged
over pools (the synthetic-homonym protocol of the author-disambiguation literature, e.g.
Han et al., JCDL 2004, on merged names). Authors are taken from the corpus with 8 to 60
papers (names with more than 80 are left out: they are already several people), by SHA-1
parity: even names to tune, odd names to verify. Papers two pooled authors wrote together
are left out (they would belong to both).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from paperfeed.evaluate.daily_feed import Corpus, name_parity
from paperfeed.normalize import name_key
from paperfeed.recommend.authors import (
    MERGE_AT,
    Signed,
    bcubed,
    split_identities,
)

METHODS: dict[str, dict[str, Any]] = {
    # what a name search gives: one person per name
    "one-per-name": {"merge_at": -1.0, "link_by_coauthors": True},
    "coauthors-only": {"merge_at": 1.01, "link_by_coauthors": True},
    "coauthors-any": {"merge_at": 1.01, "link_by_coauthors": True, "counts": None},
    "topic-only": {"merge_at": MERGE_AT, "link_by_coauthors": False},
    "paperfeed": {"merge_at": MERGE_AT, "link_by_coauthors": True},
}


@dataclass
class Pool:
    names: list[str]
    papers: list[Signed]
    truth: list[int]


def pools(
    corpus: Corpus, parity: str = "even", count: int = 150, size: int = 3, seed: int = 0
) -> list[Pool]:
    """``count`` pools of ``size`` real authors each, under one name."""
    rows: dict[str, list[int]] = defaultdict(list)
    for i, names in enumerate(corpus.authors):
        for name in names:
            rows[name].append(i)
    eligible = sorted(n for n, r in rows.items() if 8 <= len(r) <= 60 and name_parity(n) == parity)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        names = [eligible[i] for i in rng.choice(len(eligible), size, replace=False)]
        owner: dict[int, list[int]] = defaultdict(list)
        for k, name in enumerate(names):
            for r in rows[name]:
                owner[r].append(k)
        papers, truth = [], []
        for r, ks in sorted(owner.items()):
            if len(ks) != 1:  # written together: ambiguous by construction
                continue
            k = ks[0]
            papers.append(
                Signed(
                    key=corpus.ids[r],
                    text=corpus.texts[r],
                    coauthors=[a for a in corpus.authors[r] if a != names[k]],
                    categories=corpus.categories[r],
                    listed=corpus.listed[r],
                )
            )
            truth.append(k)
        out.append(Pool(names, papers, truth))
    return out


def evaluate(
    corpus: Corpus,
    parity: str = "even",
    count: int = 150,
    size: int = 3,
    methods: dict[str, dict[str, Any]] | None = None,
    vectors: Callable[[list[int]], np.ndarray] | None = None,
) -> dict[str, Any]:
    """B-cubed P/R/F1 per method, averaged over pools; also for single authors alone (a
    method that splits one person into several loses recall there). ``vectors`` gives the
    embeddings of corpus rows (centred here on their mean); without it, topics are tf-idf."""
    chosen: dict[str, dict[str, Any]] = methods or METHODS
    result: dict[str, Any] = {"parity": parity, "pools": count, "size": size, "methods": {}}
    pooled = pools(corpus, parity, count, size)
    alone = pools(corpus, parity, count, 1, seed=1)
    if vectors is not None:
        papers = [s for pool in pooled + alone for s in pool.papers]
        rows = sorted({corpus.row[s.key] for s in papers})
        found = vectors(rows)
        centred = dict(zip(rows, found - found.mean(axis=0), strict=True))
        for s in papers:
            s.vector = centred[corpus.row[s.key]]
    result["topics"] = "embeddings" if vectors is not None else "tf-idf"
    counts: Counter[str] = Counter(name_key(a) for names in corpus.authors for a in names)
    for name, given in chosen.items():
        params = {"counts": counts, **given}
        scores = [bcubed(split_identities(p.papers, **params), p.truth) for p in pooled]
        single = [bcubed(split_identities(p.papers, **params), p.truth) for p in alone]
        result["methods"][name] = {
            "precision": float(np.mean([s["precision"] for s in scores])),
            "recall": float(np.mean([s["recall"] for s in scores])),
            "f1": float(np.mean([s["f1"] for s in scores])),
            "single_author_recall": float(np.mean([s["recall"] for s in single])),
        }
    return result
