"""Tf-idf over title + abstract, with arxiv-sanity-lite's settings (shared by every ranker that
uses lexical evidence, so the comparison with asl is like for like)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def tfidf_vectorizer() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        strip_accents="unicode",
        lowercase=True,
        analyzer="word",
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
        ngram_range=(1, 2),
        max_features=20_000,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=True,
        max_df=0.1,
        min_df=5,
        dtype=np.float64,
    )


def terms_vectorizer() -> Any:
    """paperfeed's own lexical space: every word and word pair seen twice, none common.

    A researcher is recognised by rare words (method and dataset names, acronyms): asl's
    20,000 most frequent features drop most of them. Hyphens stay inside words ("GPT-4",
    "x-ray")."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        strip_accents="unicode",
        lowercase=True,
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9\-]*[a-zA-Z0-9]\b",
        ngram_range=(1, 2),
        min_df=2,
        max_df=0.05,
        sublinear_tf=True,
        dtype=np.float32,
    )


def comments_vectorizer() -> Any:
    """The space of arXiv comments ("Accepted at ICLR 2026", "Project page: https://...",
    "12 pages, 5 figures"): where a group publishes, how it writes its comments, where its
    code lives. Dots stay inside tokens (host names, versions)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        strip_accents="unicode",
        lowercase=True,
        token_pattern=r"(?u)\b[a-zA-Z0-9][a-zA-Z0-9\-\.]*[a-zA-Z0-9]\b",
        ngram_range=(1, 2),
        min_df=2,
        sublinear_tf=True,
        dtype=np.float32,
    )


def terms_text(text: str, comment: str | None) -> str:
    """A paper's text in the rare-terms space: its title and abstract (``text``) and its
    comment, where a group names its venue, its project page and its code."""
    return f"{text}\n{comment}" if comment else text


def fit_tfidf(texts: Sequence[str], **overrides: Any) -> tuple[Any, Any]:
    """The fitted vectorizer and the CSR matrix of ``texts``."""
    vectorizer = tfidf_vectorizer().set_params(**overrides)
    return vectorizer, vectorizer.fit_transform(texts).tocsr()


def fit_terms(texts: Sequence[str], **overrides: Any) -> tuple[Any, Any]:
    vectorizer = terms_vectorizer().set_params(**overrides)
    return vectorizer, vectorizer.fit_transform(texts).tocsr()


def fit_comments(comments: Sequence[str], **overrides: Any) -> tuple[Any, Any]:
    """The fitted comments vectorizer and the CSR matrix of ``comments`` (None when no two
    papers share a comment token: a tiny store)."""
    vectorizer = comments_vectorizer().set_params(**overrides)
    try:
        return vectorizer, vectorizer.fit_transform(comments).tocsr()
    except ValueError:  # empty vocabulary
        return None, None
