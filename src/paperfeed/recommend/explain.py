"""Reasons a person can check: which of their papers (or their description) a paper is
close to, the terms they share, a shared category, a co-author.

A shared term is shown only if a researcher would recognise it as content: it stands, word
for word, in both papers' titles or abstracts (not a fragment left where stop words were
dropped, nor a comment's "accepted at" or "project page"), it holds a word that is not among
the store's most common words, and none from citations or stock phrases.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np

from paperfeed.models import Paper
from paperfeed.recommend.evidence import Papers
from paperfeed.recommend.lexical import LexicalModel
from paperfeed.recommend.listing import Listing

#: Words that make a term boilerplate however rare they are: citations, stock phrases.
BOILERPLATE = frozenset(
    "et al etc eg ie vs via paper papers work works propose proposed proposes approach "
    "approaches method methods using use used based novel new study studies result results "
    "gained traction recent recently years state art existing".split()
)
#: Reasons name at most this many shared terms.
SHOWN_TERMS = 4
#: Every word, one letter long or more: a term's words stand together only if nothing at all
#: stood between them ("play a significant role" has no "play significant").
_WORD = re.compile(r"(?u)\w[\w\-]*")


def coauthored(coauthors: Counter[str], listing: Listing, rows: list[int]) -> dict[int, list[str]]:
    """Papers among the listing's ``rows`` written with someone who wrote the profile's
    papers (``coauthors``, from :func:`~paperfeed.recommend.model.coauthor_counts`), with
    that reason."""
    wanted = set(rows)
    found = sorted({r for k in coauthors for r in listing.signed(k) if r in wanted})
    reasons: dict[int, list[str]] = {}
    for r in found:
        paper, keys = listing.papers[r], listing.author_keys[r]
        names = [a.name for a, k in zip(paper.authors, keys, strict=True) if k in coauthors]
        reasons[paper.id] = [f"with {', '.join(names[:2])}, an author of your papers"]
    return reasons


def explain(
    i: int,
    candidate: Paper,
    profile: Papers,
    candidates: Papers,
    mine: list[Paper],
    lexical: LexicalModel,
    counts: Counter[str],
    sims: np.ndarray,
    liked: frozenset[int] = frozenset(),
) -> list[str]:
    """Reasons for candidate ``i`` (the row of ``candidate`` in ``candidates``): the closest
    of the profile's papers (``sims``: its rare-terms cosine to each), saying whether it is
    the profile's own paper, one it ``liked`` or its description; the content terms they
    share; a shared category."""
    why = []
    if sims.size and sims.max() > 0:
        j = int(sims.argmax())
        if mine[j].id == 0:
            why.append("close to your description of your interests")
        elif mine[j].id in liked:
            why.append(f"close to a paper you liked, “{mine[j].display_title}”")
        else:
            why.append(f"close to your paper “{mine[j].display_title}”")
        terms = readable_terms(
            lexical, shared_terms(candidates.terms, i, profile.terms, j, 20), candidate, mine[j]
        )
        if terms:
            why.append("shares the terms " + ", ".join(f"“{t}”" for t in terms[:SHOWN_TERMS]))
    best = max(candidates.categories[i], key=lambda c: counts.get(c, 0), default=None)
    if best and counts.get(best):
        papers = sum(p.id != 0 for p in mine)
        why.append(f"in {best}, like {counts[best]} of your {papers} papers")
    return why


def shared_terms(a: Any, i: int, b: Any, j: int, n: int) -> np.ndarray:
    """The ``n`` columns that weigh most in row ``i`` of ``a`` times row ``j`` of ``b`` (CSR,
    no repeated columns), read straight from the arrays: per-row scipy objects cost more."""
    ai = a.indices[a.indptr[i] : a.indptr[i + 1]]
    av = a.data[a.indptr[i] : a.indptr[i + 1]]
    bj = b.indices[b.indptr[j] : b.indptr[j + 1]]
    bv = b.data[b.indptr[j] : b.indptr[j + 1]]
    if not ai.size or not bj.size:
        return bj[:0]
    if not a.has_sorted_indices:  # found by binary search below
        order = np.argsort(ai, kind="stable")
        ai, av = ai[order], av[order]
    at = np.minimum(np.searchsorted(ai, bj), ai.size - 1)
    shared = ai[at] == bj
    weight = av[at[shared]] * bv[shared]
    common = bj[shared]
    return common[np.lexsort((common, -weight))[:n]]


def readable_terms(lexical: LexicalModel, columns: np.ndarray, *papers: Paper) -> list[str]:
    """The terms of rare-terms ``columns`` (best first) that a researcher reads as content:
    standing word for word in the title or abstract of each of ``papers``, with a word that is
    not among the store's most common ones (:meth:`LexicalModel.common_words`, and those too
    common to be terms at all) and none of :data:`BOILERPLATE`."""
    common, vocabulary = lexical.common_words, lexical.terms.vocabulary_
    texts = [f" {' '.join(_words(lexical, p))} " for p in papers]
    out = []
    for column in columns:
        term = str(lexical.names[column])
        words = term.split()
        # a word of a pair that is no term itself is in over 5% of papers: too common; a pair
        # of common words ("significantly improves") says nothing, one with a rare word
        # ("reinforcement learning") does
        if any(w in BOILERPLATE or w.isdigit() for w in words) or all(
            w in common or w not in vocabulary for w in words
        ):
            continue
        if all(f" {term} " in text for text in texts):
            out.append(term)
    return out


def _words(lexical: LexicalModel, paper: Paper) -> list[str]:
    """A paper's title and abstract as words, lower-cased and unaccented as the rare-terms
    space reads them."""
    text = lexical.terms.build_preprocessor()(f"{paper.title or ''} {paper.abstract or ''}")
    return _WORD.findall(text)
