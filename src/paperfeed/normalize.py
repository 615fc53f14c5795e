"""Cleaning text, ids and names, and the keys that tell whether two records are one paper."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date
from functools import lru_cache

from paperfeed.errors import InputError

_WS = re.compile(r"\s+")
# LaTeX line breaks that sources leave in titles and abstracts: \\ , \newline, \linebreak
_LATEX_BREAK = re.compile(r"\\\\(?:\[[^\]]*\])?|\\newline\b|\\linebreak\b")
_NON_WORD = re.compile(r"[^\w]+")
_ASCII_PUNCT = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~_"})
_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_ARXIV_NEW = re.compile(r"(\d{4}\.\d{4,5})(?:v(\d+))?")
_ARXIV_OLD = re.compile(r"([a-z\-]+(?:\.[A-Za-z\-]{2})?/\d{7})(?:v(\d+))?")
_ARXIV_PREFIX = re.compile(
    r"^(?:https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/|oai:arxiv\.org:|arxiv:)",
    re.IGNORECASE,
)
_ARXIV_MENTION = re.compile(
    r"arxiv(?:\.org/(?:abs|pdf)/|\s*[:/]?\s*)"
    r"(\d{4}\.\d{4,5}(?:v\d+)?|[a-z\-]+(?:\.[A-Za-z\-]{2})?/\d{7}(?:v\d+)?)",
    re.IGNORECASE,
)
_DOI = re.compile(r"10\.\d{4,9}/\S+")
_PARTICLES = frozenset(
    "van von der den de del della di da dos du la le ten ter zu bin al el st. st".split()
)
_SUFFIXES = frozenset(["jr", "jr.", "sr", "sr.", "ii", "iii", "iv"])


#: Characters no XML document may hold (XML 1.0 § 2.2) and that no title or name needs:
#: control characters other than white space, lone surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` without the characters an XML document cannot hold (Atom, digests)."""
    return _NOT_XML.sub("", text)


def clean_text(text: str | None) -> str | None:
    """Text for display: Unicode NFC, LaTeX line breaks and hard wraps removed, spaces
    folded, control characters dropped."""
    if text is None:
        return None
    text = _NOT_XML.sub("", text)
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if "\\" in text:
        text = _LATEX_BREAK.sub(" ", text)
    return " ".join(text.split()) or None


def fold(text: str) -> str:
    """Lower-case ASCII-ish form for matching: accents stripped, punctuation to spaces."""
    if text.isascii():
        return " ".join(text.casefold().translate(_ASCII_PUNCT).split())
    text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return " ".join(_NON_WORD.sub(" ", text.casefold()).replace("_", " ").split())


def text_key(text: str | None, min_words: int) -> str | None:
    """A hash of the folded text, or None when the text is too short to identify a paper."""
    if not text:
        return None
    folded = fold(text)
    if folded.count(" ") + 1 < min_words:
        return None
    return hashlib.blake2b(folded.encode(), digest_size=12).hexdigest()


def title_key(title: str | None) -> str | None:
    # Short titles ("Introduction", "Editorial") name many papers: too weak to merge on.
    return text_key(title, min_words=4)


def abstract_key(abstract: str | None) -> str | None:
    return text_key(abstract, min_words=20)


def parse_arxiv_id(value: str | None) -> tuple[str, int | None] | None:
    """``(base id, version)`` from any spelling of an arXiv id or URL, else None."""
    if not value:
        return None
    value = _ARXIV_PREFIX.sub("", value.strip())
    m = _ARXIV_NEW.fullmatch(value) or _ARXIV_OLD.fullmatch(value)
    if not m:
        return None
    return m.group(1), int(m.group(2)) if m.group(2) else None


def find_arxiv_id(text: str | None) -> tuple[str, int | None] | None:
    """An arXiv id mentioned anywhere in free text ("arXiv: 1903.11114", an abs URL, ...)."""
    if not text:
        return None
    m = _ARXIV_MENTION.search(text)
    if not m:
        return None
    return parse_arxiv_id(m.group(1))


def normalize_doi(value: str | None) -> str | None:
    """A DOI lower-cased without its resolver prefix, or None if it is not a DOI."""
    if not value:
        return None
    m = _DOI.search(value.strip())
    if not m:
        return None
    return m.group(0).rstrip(".,;").lower()


#: Names whose parts and keys are kept at hand. A frequent author's name recurs within a
#: load; a cache as big as a corpus's names held 50 MB of small strings through a long
#: ingest and made it no faster (docs/benchmarks.md).
NAMES_KEPT = 1 << 14


@lru_cache(maxsize=NAMES_KEPT)
def split_name(name: str) -> tuple[str, str]:
    """``(given, family)`` from "First Last", "Last, First" or "Last, Jr., First"."""
    if not name.isascii():
        name = unicodedata.normalize("NFC", name)
    name = " ".join(name.split()).strip(",")
    if "," in name:
        parts = [p.strip() for p in name.split(",")]
        family = parts[0]
        given = parts[-1] if len(parts) > 1 else ""
        if len(parts) == 3:  # "Last, Jr., First"
            family = f"{parts[0]} {parts[1]}"
        return given, family
    tokens = name.split(" ")
    if len(tokens) == 1:
        return "", tokens[0]
    suffix = ""
    if tokens[-1].lower() in _SUFFIXES and len(tokens) > 2:
        suffix = " " + tokens.pop()
    i = len(tokens) - 1
    while i > 1 and tokens[i - 1].lower() in _PARTICLES:
        i -= 1
    return " ".join(tokens[:i]), " ".join(tokens[i:]) + suffix


def display_name(name: str) -> str:
    """An author name as people write it: "First Last"."""
    if "," not in name:
        return " ".join(name.split())
    given, family = split_name(name)
    return f"{given} {family}".strip()


@lru_cache(maxsize=NAMES_KEPT)
def name_key(name: str) -> str:
    """The key one author entity is stored under: folded "family, given"."""
    given, family = split_name(name)
    return f"{fold(family)}, {fold(given)}".strip(", ")


def org_key(name: str) -> str:
    return fold(name)


def split_author_list(text: str) -> list[tuple[str, list[str]]]:
    """arXiv's author string ("A. One (MIT), B. Two and C. Three") as (name, affiliations)."""
    text = _WS.sub(" ", text).strip()
    out: list[tuple[str, list[str]]] = []
    depth, current, aff = 0, "", ""
    affs: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "(":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif c == ")" and depth:
            depth -= 1
            if depth == 0:
                affs.extend(a.strip() for a in aff.split(";") if a.strip())
                aff = ""
                i += 1
                continue
        if depth:
            aff += c
        elif c == "," or text.startswith(" and ", i):
            if current.strip():
                out.append((current.strip(), affs))
            current, affs = "", []
            i += 5 if c == " " else 1
            continue
        else:
            current += c
        i += 1
    if current.strip():
        out.append((current.strip(), affs))
    # "A, Jr." style leftovers and a leading "and" are not names.
    return [(n.removeprefix("and "), a) for n, a in out if n.lower() not in ("jr", "jr.", "et al.")]


def check_day(text: str | None, what: str = "day") -> str | None:
    """``text`` if it is a day written YYYY-MM-DD (None stays None), else InputError."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    raise InputError(f"not a {what}: {text[:40]!r} (use YYYY-MM-DD)")
