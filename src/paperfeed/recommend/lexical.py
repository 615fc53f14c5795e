"""The lexical model: the tf-idf spaces fitted on a store's papers, and a background sample.

Three spaces: tf-idf over title + abstract with arxiv-sanity-lite's settings (so the
comparison with asl is like for like), paperfeed's rare terms, and the arXiv comments. The
model is fitted once on the store and kept beside its database; papers that arrive later are
transformed with it.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from paperfeed.embed.model import paper_text
from paperfeed.errors import InputError
from paperfeed.models import Paper
from paperfeed.recommend.evidence import Papers, category_prior, term_shares
from paperfeed.recommend.style import style_matrix, style_prior
from paperfeed.store import Store


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


#: Background papers sampled from the store: the negatives of every profile's model, the
#: reference its papers' crowding is measured against and the sample its mean embedding is
#: taken over.
BACKGROUND = 20_000
#: Rebuild the lexical model once the store has grown by this fraction.
STALE_GROWTH = 0.10
#: How many of the rare-terms space's most used words count as common (never a reason).
COMMON_WORDS = 1_000
#: Bumped when :class:`LexicalModel` changes shape: older cached models are refitted.
LEXICAL_VERSION = 5

#: A paper as the lexical model is fitted on it: id, title, abstract, comment, categories.
LexicalInput = tuple[int, str | None, str | None, str | None, list[str]]


@dataclass
class LexicalModel:
    """The tf-idf spaces fitted on a store's papers, with a background sample in them, and
    every fitted paper's rows (a profile's papers are read, not transformed again: the
    vectorizers cost ~0.5 ms a paper)."""

    tfidf: Any
    terms: Any
    background_ids: np.ndarray
    background_terms: Any
    size: int  # papers in the store when fitted
    ids: np.ndarray  # the papers fitted on, sorted
    tfidf_rows: Any  # CSR float32, a row per paper of ``ids``
    terms_rows: Any
    comments: Any = None  # the comments' vectorizer (None: no comment token seen twice)
    comment_rows: Any = None
    category_prior: dict[str, float] = field(default_factory=dict)
    term_shares: np.ndarray | None = None  # each rare term's share of the papers using it
    style_rows: np.ndarray | None = None  # uint8, each fitted paper's style attributes
    style_prior: np.ndarray | None = None  # each style attribute's share of the papers
    version: int = LEXICAL_VERSION

    @classmethod
    def fit(cls, batches: Iterable[list[LexicalInput]], seed: int = 0) -> LexicalModel:
        """Fit on papers given as ``(id, title, abstract, comment, categories)`` in id order,
        batch by batch (a store's :meth:`~paperfeed.store.Store.lexical_inputs`, or the
        daily-feed benchmark's corpus as a store would hold it)."""
        ids, texts, comments, categories, styles = [], [], [], [], []
        for batch in batches:
            for pid, title, abstract, comment, cats in batch:
                text = paper_text(title, abstract)
                if text:
                    ids.append(pid)
                    texts.append(text)
                    comments.append(comment or "")
                    categories.append(cats)
                    styles.append((title, abstract, comment, cats))
        if len(texts) < 10:
            raise InputError("too few papers in the store to learn a vocabulary from")
        # Rare and common words are cut by document counts: a small store keeps them all.
        loose = {"min_df": 1, "max_df": 1.0} if len(texts) < 200 else {}
        tfidf, tfidf_rows = fit_tfidf(texts, **loose)
        terms, matrix = fit_terms(
            [terms_text(t, c) for t, c in zip(texts, comments, strict=True)], **loose
        )
        comments_space, comment_rows = fit_comments(comments, **({"min_df": 1} if loose else {}))
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(len(ids), min(BACKGROUND, len(ids)), replace=False))
        style_rows = style_matrix(styles)
        return cls(
            tfidf,
            terms,
            np.asarray(ids)[rows],
            matrix[rows],
            len(ids),
            np.asarray(ids, dtype=np.int64),
            tfidf_rows.astype(np.float32),
            matrix.astype(np.float32),
            comments_space,
            comment_rows,
            category_prior(categories),
            term_shares(matrix),
            style_rows,
            style_prior(style_rows),
        )

    @classmethod
    def for_store(cls, store: Store) -> LexicalModel:
        """The cached model beside the database, rebuilt when the store has grown."""
        count = store.paper_count()
        kept = store.kept("lexical")
        if kept is not None:
            model = pickle.loads(kept)
            if (
                isinstance(model, cls)
                and model.__dict__.get("version") == LEXICAL_VERSION  # not the class default
                and count <= model.size * (1 + STALE_GROWTH)
            ):
                return model
        model = cls.fit(store.lexical_inputs(batch_size=20_000))
        store.keep("lexical", pickle.dumps(model))
        return model

    @property
    def fingerprint(self) -> bytes:
        """Names this model's background sample: kept profile models refer to its rows."""
        found = self.__dict__.get("_fingerprint")
        if found is None:
            h = hashlib.blake2b(self.background_ids.tobytes(), digest_size=16)
            h.update(str((self.size, self.background_terms.shape, self.version)).encode())
            found = self.__dict__["_fingerprint"] = h.digest()
        return found

    @property
    def names(self) -> np.ndarray:
        """Term of each rare-terms column (built once per process: ~1M strings)."""
        names = self.__dict__.get("_names")
        if names is None:
            names = self.__dict__["_names"] = self.terms.get_feature_names_out()
        return names

    @property
    def common_words(self) -> frozenset[str]:
        """The :data:`COMMON_WORDS` words most of the store's papers use among those the
        rare-terms space keeps (the commonest of all are not in it: stop words, and words
        in over 5% of papers): words a reason should not cite."""
        found = self.__dict__.get("_common")
        if found is None:
            names, shares = self.names, self.term_shares
            if shares is None:
                found = frozenset()
            else:
                single = np.flatnonzero(
                    np.fromiter((" " not in n for n in names), dtype=bool, count=len(names))
                )
                top = single[np.argsort(-shares[single], kind="stable")[:COMMON_WORDS]]
                found = frozenset(str(w) for w in names[top])
            self.__dict__["_common"] = found
        return found

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_names", "_common")}

    def papers(self, items: list[Paper], vectors: np.ndarray) -> Papers:
        """``items`` as the ranking sees them: fitted papers' rows are read, others transformed."""
        wanted = np.array([p.id for p in items], dtype=np.int64)
        at = np.searchsorted(self.ids, wanted).clip(0, max(len(self.ids) - 1, 0))
        known = self.ids[at] == wanted if len(self.ids) else np.zeros(len(items), dtype=bool)
        categories = [p.categories for p in items]
        listed = [p.listed for p in items]
        if known.all():  # every row fitted (the usual case): read in the items' order
            return Papers(
                self.tfidf_rows[at],
                self.terms_rows[at],
                vectors,
                categories,
                listed,
                None if self.comment_rows is None else self.comment_rows[at],
                style=None if self.style_rows is None else self.style_rows[at],
            )
        new = [p for p, k in zip(items, known.tolist(), strict=True) if not k]
        fresh = [paper_text(p.title, p.abstract) for p in new]
        # the known rows, then the fresh ones, put back in the items' order
        order = np.empty(len(items), dtype=np.int64)
        order[known] = np.arange(int(known.sum()))
        order[~known] = int(known.sum()) + np.arange(len(fresh))
        tfidf = [self.tfidf_rows[at[known]]]
        terms = [self.terms_rows[at[known]]]
        comments = None if self.comment_rows is None else [self.comment_rows[at[known]]]
        if fresh:
            tfidf.append(self.tfidf.transform(fresh))
            terms.append(
                self.terms.transform(
                    [terms_text(t, p.comment) for t, p in zip(fresh, new, strict=True)]
                )
            )
            if comments is not None:
                comments.append(self.comments.transform([p.comment or "" for p in new]))
        style = None
        if self.style_rows is not None:
            fresh_style = style_matrix((p.title, p.abstract, p.comment, p.categories) for p in new)
            style = np.vstack([self.style_rows[at[known]], fresh_style])[order]
        return Papers(
            sparse.vstack(tfidf, format="csr")[order],
            sparse.vstack(terms, format="csr")[order],
            vectors,
            categories,
            listed,
            None if comments is None else sparse.vstack(comments, format="csr")[order],
            style=style,
        )
