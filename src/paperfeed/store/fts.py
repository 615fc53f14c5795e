"""Free text as FTS5 terms: the same folding and stemming as the index, and no operator
from a user's text ever reaching the query."""

from __future__ import annotations

import re
import unicodedata

import snowballstemmer

# Words that match nearly every paper: in an OR query they cost time and rank nothing.
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was "
    "were which with we our via".split()
)
_PHRASE_OR_WORD = re.compile(r'"([^"]+)"|(\w+)')
_MAX_TERMS = 64


_STEMMER = snowballstemmer.stemmer("porter")


def index_term(word: str) -> str:
    """A word as the index stores it: unicode61 (lower case, no diacritics), then Porter."""
    folded = unicodedata.normalize("NFKD", word.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return str(_STEMMER.stemWord(folded))


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
