"""How a paper is written and presented, as yes/no attributes: the house style of a group.

Content similarity finds papers on a researcher's topics, but on any day dozens of other
groups write on the same topics. What tells a group's paper apart from theirs is often its
habits: a title of the form "ACRONYM: What It Does" in title case, abstracts of a typical
length and sentence length, stock phrases ("To this end", "Extensive experiments", "e.g."),
British or American spelling, inline math, and how its arXiv comments read ("Accepted to" or
"Accepted by", "12 pages, 5 figures", a project page, code). Each attribute alone says little;
weighed for a profile as a naive-Bayes log-ratio (:func:`~paperfeed.recommend.rankers.
style_evidence`) they add up. This is stylometry's oldest idea (Mosteller & Wallace, 1964:
function words told Hamilton's Federalist papers from Madison's) applied to a paper's
surface.

The attributes were written down once, before measuring; on the daily-feed benchmark
(docs/benchmarks.md) they lift the feed's MRR.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

#: Words a title's case is not judged by.
_SMALL = frozenset("a an the of for and or in on to with via from by at as is are".split())

#: Stock phrases and spellings looked for in the abstract (lower-cased; substrings).
PHRASES = (
    "we propose", "this paper", "in this work", "in this paper", "state-of-the-art", "novel",
    "extensive experiments", "furthermore", "moreover", "to this end", "specifically",
    "however", "e.g.", "i.e.", "--", "(1)", "(i)", "%", "code is available", "code and",
    "project page", "our code", "github", "huggingface", "publicly available", "recent",
    "we introduce", "we present", "we show", "we demonstrate", "remarkable", "significantly",
    "outperforms", "achieves", "framework", "benchmark", "dataset", "modelling",
    "optimisation", "behaviour", "first", "comprehensive", "effectively", "notably",
    "additionally", "crucial", "paradigm", "leverag", "despite",
)  # fmt: skip

#: How arXiv comments read (lower-cased; substrings).
COMMENT_PHRASES = (
    "accepted by", "accepted to", "accepted at", "accepted in", "accepted for", "to appear",
    "under review", "preprint", "submitted to", "camera", "work in progress",
    "technical report", "pages", "figures", "tables", "appendix", "project page", "code",
    "version", "main conference", "findings", "workshop", "oral", "spotlight", "neurips",
    "iclr", "icml", "cvpr", "aaai", "acl", "emnlp", "ieee", "journal",
    "this work has been submitted",
)  # fmt: skip

_ABSTRACT_WORDS = ((0, 120), (120, 160), (160, 200), (200, 250), (250, None))
_TITLE_WORDS = ((0, 6), (6, 9), (9, 12), (12, 16), (16, None))
_ACRONYM_TITLE = re.compile(r"^[A-Z][A-Za-z0-9\-]*[A-Z][A-Za-z0-9\-]*:")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")

#: The attributes' names, in the order :func:`attributes` gives them.
NAMES: tuple[str, ...] = (
    "title: has a colon",
    "title: is a question",
    "title: starts with an acronym and a colon",
    "title: in title case",
    "title: in sentence case",
    *(f"title: {lo}{f'-{hi - 1}' if hi else '+'} words" for lo, hi in _TITLE_WORDS),
    *(f"abstract: {lo}{f'-{hi - 1}' if hi else '+'} words" for lo, hi in _ABSTRACT_WORDS),
    "abstract: sentences over 28 words on average",
    "abstract: sentences under 20 words on average",
    "abstract: inline math",
    *(f"abstract: {p!r}" for p in PHRASES),
    "has a comment",
    *(f"comment: {p!r}" for p in COMMENT_PHRASES),
    "in one category",
    "in three categories or more",
)


def _bins(n: int, bins: Sequence[tuple[int, int | None]]) -> list[bool]:
    return [lo <= n and (hi is None or n < hi) for lo, hi in bins]


def attributes(
    title: str | None, abstract: str | None, comment: str | None, categories: Sequence[str]
) -> list[bool]:
    """A paper's :data:`NAMES` attributes, each true or false."""
    title = title or ""
    abstract = " ".join((abstract or "").split())
    low = abstract.lower()
    remark = (comment or "").lower()
    words = title.split()
    counted = [w for w in words if w.lower() not in _SMALL]
    capitals = sum(w[:1].isupper() for w in counted) / len(counted) if counted else 0.0
    n_words = len(abstract.split())
    per_sentence = n_words / max(1, len(_SENTENCE_END.findall(abstract)))
    return [
        ":" in title,
        "?" in title,
        bool(_ACRONYM_TITLE.match(title)),
        capitals > 0.8,
        capitals < 0.4,
        *_bins(len(words), _TITLE_WORDS),
        *_bins(n_words, _ABSTRACT_WORDS),
        per_sentence > 28,
        per_sentence < 20,
        "$" in abstract,
        *(p in low for p in PHRASES),
        bool(remark),
        *(p in remark for p in COMMENT_PHRASES),
        len(categories) == 1,
        len(categories) >= 3,
    ]


def style_matrix(
    papers: Iterable[tuple[str | None, str | None, str | None, Sequence[str]]],
) -> np.ndarray:
    """A row of :func:`attributes` per ``(title, abstract, comment, categories)``, as uint8."""
    rows = [attributes(*p) for p in papers]
    return np.array(rows, dtype=np.uint8).reshape(len(rows), len(NAMES))


def style_prior(matrix: np.ndarray) -> np.ndarray:
    """Each attribute's share of these papers, kept off 0 and 1 (an attribute no paper has
    would make its log-ratios infinite)."""
    if not len(matrix):
        return np.full(len(NAMES), 0.5)
    return np.clip(matrix.mean(axis=0, dtype=np.float64), 1e-4, 1 - 1e-4)
