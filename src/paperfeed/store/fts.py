"""Free text as FTS5 terms: the same folding and stemming as the index, and no operator
from a user's text ever reaching the query."""

from __future__ import annotations

import functools
import math
import re
import sqlite3
import threading
from collections.abc import Sequence

# Words that match nearly every paper: in an OR query they cost time and rank nothing.
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was "
    "were which with we our via".split()
)
_PHRASE_OR_WORD = re.compile(r'"([^"]+)"|(\w+)')
_MAX_TERMS = 64

#: The index's tokenizer, as migration 1 made ``papers_fts`` with it.
TOKENIZE = "porter unicode61 remove_diacritics 2"


class _Tokenizer:
    """SQLite's own FTS5 tokenizer, on a table in memory: a text's words as the index holds
    them, exactly (FTS5's Porter is not Snowball's: "ecology" is "ecolog" there, and words
    under three letters are left as they are)."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._db.execute(f"CREATE VIRTUAL TABLE words USING fts5(w, tokenize='{TOKENIZE}')")
        self._db.execute("CREATE VIRTUAL TABLE forms USING fts5vocab(words, 'instance')")
        self._lock = threading.Lock()

    def __call__(self, text: str) -> list[str]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute("INSERT INTO words(rowid, w) VALUES (1, ?)", (text,))
                rows = self._db.execute("SELECT term FROM forms ORDER BY offset").fetchall()
            finally:
                self._db.execute("ROLLBACK")
        return [str(r[0]) for r in rows]


class Scratch:
    """An index in memory made as the store's is (the same columns and tokenizer), one a
    thread, for testing a few papers against a whole query: FTS5 reads the lists of all of
    a query's words to find the papers with every one, which for common words costs more
    than indexing the few papers the rarest words find and asking them again."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(":memory:", isolation_level=None)
            db.execute(
                "CREATE VIRTUAL TABLE rows USING fts5(title, authors_text, abstract, "
                f"tokenize='{TOKENIZE}')"
            )
            self._local.db = db
        return db

    def marked(
        self, rows: Sequence[tuple[int, str | None, str | None, str | None]], match: str
    ) -> list[tuple[int, bytes, str | None, str | None, str | None]]:
        """Of ``rows`` (id, title, authors, abstract), those that ``match`` matches, newest
        first, with their tokens a column (an FTS5 record) and their columns as highlight()
        marks the query's words (:data:`OPEN`, :data:`CLOSE`)."""
        db = self._db()
        marks = ", ".join(f"highlight(rows, {c}, '{OPEN}', '{CLOSE}')" for c in range(3))
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT INTO rows(rowid, title, authors_text, abstract) VALUES (?, ?, ?, ?)", rows
            )
            return db.execute(
                f"SELECT r.rowid, d.sz, {marks} FROM rows r JOIN rows_docsize d ON d.id = r.rowid "
                "WHERE rows MATCH ? ORDER BY r.rowid DESC",
                (match,),
            ).fetchall()
        finally:
            db.execute("ROLLBACK")


@functools.cache
def _tokenizer() -> _Tokenizer:
    """The one tokenizer, made on first use (a PostgreSQL store never asks for it)."""
    return _Tokenizer()


@functools.lru_cache(maxsize=100_000)
def index_term(word: str) -> str:
    """A word as the index stores it (folded and stemmed by FTS5 itself); the forms of its
    parts joined by a space when the tokenizer splits it ("GPT_4")."""
    return " ".join(_tokenizer()(word))


def fts_terms(text: str) -> list[str]:
    """FTS5 terms from free text: quoted phrases stay phrases, other words are words.

    Every term is quoted, so FTS5 syntax in the text (``*``, ``NEAR``, ``AND``, ``:``,
    parentheses, a lone quote) is read as words, never as operators. Empty when nothing
    searchable remains.
    """
    terms: list[str] = []
    seen: set[str] = set()
    for phrase, word in _PHRASE_OR_WORD.findall(text[:10_000]):
        if phrase:
            words = re.findall(r"\w+", phrase)
            term = " ".join(words)
        else:
            words = [word]
            term = word
            if word.casefold() in _STOPWORDS:
                continue
        if not words or term.casefold() in seen:
            continue
        seen.add(term.casefold())
        terms.append('"' + term + '"')
        if len(terms) == _MAX_TERMS:
            break
    return terms


# -- BM25 as FTS5 computes it, for rows read without it -----------------------------------

#: BM25's constants in FTS5, and the columns' weights the store asks bm25() for: title,
#: authors, abstract.
K1, B = 1.2, 0.75
WEIGHTS = (10.0, 4.0, 1.0)
#: What highlight() is asked to put around each of a query's words in a column.
OPEN, CLOSE = "\x02", "\x03"
_TOKEN = re.compile(r"[^\W_]+")


def varints(blob: bytes) -> list[int]:
    """The integers of an FTS5 record (SQLite's varints: 7 bits a byte, high bit set on all
    but the last; a ninth byte gives all its 8)."""
    if blob.isascii():  # every integer under 128: a byte each
        return list(blob)
    out, i = [], 0
    while i < len(blob):
        value = 0
        for k in range(9):
            byte = blob[i]
            i += 1
            if k == 8:
                value = (value << 8) | byte
                break
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        out.append(value)
    return out


def idf(rows: int, hits: int) -> float:
    """FTS5's inverse document frequency of a word in ``hits`` of ``rows`` rows."""
    value = math.log((rows - hits + 0.5) / (hits + 0.5))
    return value if value > 0.0 else 1e-6


def bm25(
    words: Sequence[str],
    idfs: Sequence[float],
    marked: Sequence[str | None],
    size: float,
    mean: float,
) -> float:
    """``-bm25(papers_fts, *WEIGHTS)`` of one row, as FTS5 computes it, without reading
    every paper that holds each word: ``words`` in their index forms with their
    :func:`idf`, the row's columns as highlight() marked the words in them (:data:`OPEN`,
    :data:`CLOSE`), ``size`` its tokens in all columns and ``mean`` the index's tokens a row."""
    frequency = dict.fromkeys(words, 0.0)
    for weight, text in zip(WEIGHTS, marked, strict=True):
        if not text or OPEN not in text:
            continue
        spans = " ".join(part.partition(CLOSE)[0] for part in text.split(OPEN)[1:])
        for token in _TOKEN.findall(spans):
            if (form := index_term(token)) in frequency:
                frequency[form] += weight
    score = 0.0
    for word, weight in zip(words, idfs, strict=True):
        f = frequency[word]
        score += weight * ((f * (K1 + 1.0)) / (f + K1 * (1 - B + B * size / mean)))
    return score
