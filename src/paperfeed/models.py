"""The records that flow from sources into the store, and what the store gives back."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class AuthorRecord:
    """An author as a source gives it: a name and, where known, affiliations."""

    name: str
    affiliations: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PaperRecord:
    """One paper as one source record describes it, before merging.

    Text fields keep the source's original text; the ingest pipeline cleans them.
    Dates are ISO-8601 strings (``YYYY-MM-DD``).
    """

    source: str
    location: str
    arxiv_id: str | None = None
    arxiv_version: int | None = None
    doi: str | None = None
    s2_id: str | None = None
    openalex_id: str | None = None
    title: str | None = None
    abstract: str | None = None
    authors: list[AuthorRecord] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    published: str | None = None
    updated: str | None = None
    listed: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    comment: str | None = None
    journal_ref: str | None = None
    license: str | None = None
    venue: str | None = None
    year: int | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)
    # Facts about the record that are not about the paper, e.g. upvotes in a listing.
    extra: dict[str, Any] = field(default_factory=dict)


#: The key of ``PaperRecord.extra`` that marks a record naming a paper rather than describing
#: it (a line of an id list): it is found in the store, never stored as an empty paper.
REFERENCE = "reference"


@dataclass(slots=True)
class ProfileOwner:
    """A list's first line naming who its papers belong to."""

    name: str
    kind: str  # "institution" | "researcher"


@dataclass(slots=True)
class Author:
    """An author entity as stored."""

    id: int
    name: str
    affiliations: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Paper:
    """One clean, merged paper as the store holds it."""

    id: int
    title: str | None
    abstract: str | None
    authors: list[Author]
    ids: dict[str, str]
    categories: list[str]
    published: str | None
    updated: str | None
    listed: str | None
    links: dict[str, str]
    comment: str | None
    journal_ref: str | None
    license: str | None
    venue: str | None
    year: int | None
    arxiv_version: int | None
    versions: list[dict[str, Any]]
    provenance: dict[str, str]
    title_raw: str | None = None
    abstract_raw: str | None = None
    #: Authors not loaded: lists of papers read only the first few of a long author list.
    more_authors: int = 0

    @classmethod
    def from_text(cls, text: str) -> Paper:
        """A stand-in paper (id 0) whose abstract is a person's description of a topic."""
        return cls(
            id=0,
            title=None,
            abstract=text,
            authors=[],
            ids={},
            categories=[],
            published=None,
            updated=None,
            listed=None,
            links={},
            comment=None,
            journal_ref=None,
            license=None,
            venue=None,
            year=None,
            arxiv_version=None,
            versions=[],
            provenance={},
        )

    @property
    def ref(self) -> str:
        """The public id: the arXiv id where there is one, else a prefixed other id."""
        return paper_ref(self.id, self.ids)

    @property
    def display_title(self) -> str:
        """How a person recognises the paper: its title, else its abstract's first sentence
        (cut to 20 words) marked with ``[from the abstract]``, else its id. Some lists (the
        seeds' ``Abstract:`` lines) give no titles."""
        if self.title:
            return self.title
        if self.abstract:
            return f"{first_sentence(self.abstract)} [from the abstract]"
        return self.ref

    @property
    def snippet(self) -> str:
        """The abstract's opening, to read beside the title in a list (40 words at most)."""
        words = (self.abstract or "").split()
        return " ".join(words[:40]) + ("…" if len(words) > 40 else "")

    @property
    def urls(self) -> dict[str, str]:
        """Where to read the paper: its abstract page, PDF, code and DOI, the http(s) ones
        only, arXiv's made from the id where a source gave none."""
        arxiv = self.ids.get("arxiv")
        found = {
            "abstract": self.links.get("abs")
            or self.links.get("url")
            or self.links.get("abstract"),
            "pdf": self.links.get("pdf"),
            "code": self.links.get("code") or code_link(self.comment, self.abstract),
            "doi": f"https://doi.org/{self.ids['doi']}" if "doi" in self.ids else None,
        }
        if arxiv:
            found["abstract"] = found["abstract"] or f"https://arxiv.org/abs/{arxiv}"
            found["pdf"] = found["pdf"] or f"https://arxiv.org/pdf/{arxiv}"
        return {
            kind: url
            for kind, url in found.items()
            if isinstance(url, str) and url.startswith(("https://", "http://"))
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.ref,
            "pid": self.id,
            "display_title": self.display_title,
            "urls": self.urls,
            "ids": self.ids,
            "title": self.title,
            "abstract": self.abstract,
            "authors": [{"name": a.name, "affiliations": a.affiliations} for a in self.authors],
            "more_authors": self.more_authors,
            "categories": self.categories,
            "published": self.published,
            "updated": self.updated,
            "listed": self.listed,
            "links": self.links,
            "comment": self.comment,
            "journal_ref": self.journal_ref,
            "license": self.license,
            "venue": self.venue,
            "year": self.year,
            "arxiv_version": self.arxiv_version,
            "versions": self.versions,
            "provenance": self.provenance,
            "original": {"title": self.title_raw, "abstract": self.abstract_raw},
        }


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
_CODE_URL = re.compile(
    r"https?://(?:www\.)?(?:github\.com|gitlab\.com|huggingface\.co|bitbucket\.org|"
    r"codeberg\.org)/[\w.\-]+/[\w.\-]+",
    re.IGNORECASE,
)


def first_sentence(text: str, words: int = 20) -> str:
    """The first sentence of ``text``, cut to ``words`` words (with an ellipsis)."""
    sentence = _SENTENCE_END.split(text.strip(), maxsplit=1)[0]
    cut = sentence.split()
    return " ".join(cut[:words]) + ("…" if len(cut) > words else "")


def code_link(*texts: str | None) -> str | None:
    """The first code repository address (GitHub, GitLab, Hugging Face...) in ``texts``."""
    for text in texts:
        found = _CODE_URL.search(text or "")
        if found:
            return found.group(0).rstrip(".")
    return None


def paper_ref(pid: int, ids: dict[str, str]) -> str:
    if "arxiv" in ids:
        return ids["arxiv"]
    for kind in ("doi", "s2", "openalex"):
        if kind in ids:
            return f"{kind}:{ids[kind]}"
    return f"pf:{pid}"


@dataclass(slots=True)
class Venue:
    """A conference or journal a chair matches reviewers for (``paperfeed venue``)."""

    id: int
    name: str
    owner_id: int | None
    settings: dict[str, Any]  # k, max_load, conflict_years, fair
    created_at: str
    submissions: int = 0
    reviewers: int = 0
    assigned: int = 0  # pairs in the kept assignment


@dataclass(slots=True)
class VenueReviewer:
    """A reviewer as a venue keeps them: ``details`` as the chair's file gave them (email,
    institution, max_load, conflicts, bids), ``papers`` the expertise they chose (None:
    found by the author disambiguation), ``token`` their private page's key."""

    venue_id: int
    name: str
    details: dict[str, Any]
    token: str
    papers: list[int] | None


@dataclass(slots=True)
class Profile:
    """A named set of papers that stands for a researcher, reader, lab or topic."""

    id: int
    name: str
    kind: str
    description: str | None
    papers: int
    owner_id: int | None = None
    feed_token: str | None = None

    @property
    def label(self) -> str:
        """The name without its owner's prefix (``alice/ml`` reads ``ml``)."""
        return self.name.split("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class User:
    """A person with an account on the web app."""

    id: int
    name: str
    email: str
    password_hash: str


#: Marks a paper can carry in a profile: its own or saved papers, then feedback.
RELATIONS = ("positive", "up", "save", "down", "hide")
#: The marks a person gives (``positive`` comes from the profile's own papers).
RATINGS = RELATIONS[1:]


#: Kinds of profile: who or what its papers stand for.
PROFILE_KINDS = ("researcher", "reader", "institution", "lab", "topic")


#: Kinds of profile rule: words a paper must (not) mention, categories it must be in,
#: authors and organizations followed (always shown), saved queries (alerts).
RULE_KINDS = ("include", "exclude", "category", "author", "organization", "query")


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    value: str


@dataclass(slots=True)
class PaperDraft:
    """A paper being merged on the write path: the stored state plus what a new record adds."""

    id: int | None = None
    ids: dict[str, str] = field(default_factory=dict)
    title: str | None = None
    title_raw: str | None = None
    abstract: str | None = None
    abstract_raw: str | None = None
    authors: list[AuthorRecord] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    published: str | None = None
    updated: str | None = None
    listed: str | None = None
    links: dict[str, str] = field(default_factory=dict)
    comment: str | None = None
    journal_ref: str | None = None
    license: str | None = None
    venue: str | None = None
    year: int | None = None
    arxiv_version: int | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """What a search may return. Dates are ISO ``YYYY-MM-DD``, compared with the day a paper
    was listed (or else published); every filter given must hold."""

    since: str | None = None
    until: str | None = None
    categories: tuple[str, ...] = ()
    author: str | None = None
    organization: str | None = None
    profile: str | None = None

    def __bool__(self) -> bool:
        return any(
            (self.since, self.until, self.categories, self.author, self.organization, self.profile)
        )


@dataclass(slots=True)
class Hit:
    """One search result: the paper, its score, and the rank each method gave it."""

    paper: Paper
    score: float
    ranks: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.paper.ref,
            "title": self.paper.display_title,
            "snippet": self.paper.snippet,
            "score": round(self.score, 6),
            "ranks": self.ranks,
            "authors": [a.name for a in self.paper.authors],
            "more_authors": self.paper.more_authors,
            "listed": self.paper.listed,
            "categories": self.paper.categories,
        }
