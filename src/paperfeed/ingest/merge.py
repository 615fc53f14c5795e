"""Merging records of one paper: which stored paper a record belongs to, and which fields win.

Rules:
- Ids (arXiv, DOI, Semantic Scholar, OpenAlex) identify a paper; a record joins the paper that
  owns one of its ids unless their arXiv ids disagree.
- A record without a shared id joins a paper whose folded title or abstract is the same, only
  when no id of the same kind disagrees and, where both list authors, a family name is shared.
  Two different papers are never merged on a guess.
- A field takes the value of the most trusted source (``Source.priority``); among equally
  trusted sources the later record wins unless it is an older arXiv version.
"""

from __future__ import annotations

from collections.abc import Iterable

from paperfeed.ingest import registry
from paperfeed.models import AuthorRecord, PaperDraft, PaperRecord
from paperfeed.normalize import (
    abstract_key,
    clean_text,
    display_name,
    fold,
    normalize_doi,
    split_name,
    title_key,
)

_SCALARS = ("comment", "journal_ref", "license", "venue", "year")
_ID_ORDER = ("arxiv", "doi", "s2", "openalex")
#: Fields whose source is recorded (provenance).
_TRACED = (
    "title",
    "abstract",
    "authors",
    "categories",
    "published",
    "updated",
    "listed",
    "links",
    "versions",
    *_SCALARS,
)


def draft_from_record(rec: PaperRecord) -> tuple[PaperDraft, dict[str, str]]:
    """The record as a clean draft with provenance, and its title/abstract match keys."""
    ids = {}
    if rec.arxiv_id:
        ids["arxiv"] = rec.arxiv_id
    if doi := normalize_doi(rec.doi):
        ids["doi"] = doi
    if rec.s2_id:
        ids["s2"] = rec.s2_id
    if rec.openalex_id:
        ids["openalex"] = rec.openalex_id
    title = clean_text(rec.title)
    abstract = clean_text(rec.abstract)
    authors = []
    for a in rec.authors:
        name = clean_text(a.name)
        if name:
            affiliations = [c for aff in a.affiliations if (c := clean_text(aff))]
            authors.append(AuthorRecord(display_name(name), affiliations))
    draft = PaperDraft(
        ids=ids,
        title=title,
        title_raw=rec.title if rec.title != title else None,
        abstract=abstract,
        abstract_raw=rec.abstract if rec.abstract != abstract else None,
        authors=authors,
        categories=list(dict.fromkeys(rec.categories)),
        published=rec.published,
        updated=rec.updated,
        listed=rec.listed,
        links={k: v for k, v in rec.links.items() if v},
        comment=clean_text(rec.comment),
        journal_ref=clean_text(rec.journal_ref),
        license=clean_text(rec.license),
        venue=clean_text(rec.venue),
        year=rec.year or _year(rec.published),
        arxiv_version=rec.arxiv_version,
        versions=rec.versions,
    )
    draft.provenance = {f: rec.source for f in _TRACED if getattr(draft, f)}
    keys = {}
    if k := title_key(title):
        keys["title"] = k
    if k := abstract_key(abstract):
        keys["abstract"] = k
    return draft, keys


def _year(date: str | None) -> int | None:
    if date and len(date) >= 4 and date[:4].isdigit():
        return int(date[:4])
    return None


class Resolver:
    """Finds the paper a record belongs to among stored papers and those of the same batch.

    Built from batched look-ups (``Writer.find_by_ids`` / ``find_by_keys`` / ``load_drafts``);
    drafts added during the batch are found too, so one file may hold a paper twice.
    """

    def __init__(
        self,
        by_id: dict[tuple[str, str], int],
        by_key: dict[tuple[str, str], list[int]],
        stored: dict[int, PaperDraft],
    ) -> None:
        self.ids: dict[tuple[str, str], PaperDraft] = {k: stored[p] for k, p in by_id.items()}
        self.keys: dict[tuple[str, str], list[PaperDraft]] = {
            k: [stored[p] for p in ps] for k, ps in by_key.items()
        }

    def match(self, new: PaperDraft, keys: dict[str, str]) -> PaperDraft | None:
        for kind in _ID_ORDER:
            old = self.ids.get((kind, new.ids[kind])) if kind in new.ids else None
            if old is not None and (kind == "arxiv" or not _disagree(old.ids, new.ids, ("arxiv",))):
                return old
        for kind in ("title", "abstract"):
            if kind not in keys:
                continue
            for old in self.keys.get((kind, keys[kind]), ()):
                if not _disagree(old.ids, new.ids, _ID_ORDER) and _authors_agree(old, new):
                    return old
        return None

    def add(self, draft: PaperDraft, keys: dict[str, str]) -> None:
        """Make a draft of this batch findable by its ids and keys."""
        for kind, value in draft.ids.items():
            self.ids.setdefault((kind, value), draft)
        for kind, value in keys.items():
            bucket = self.keys.setdefault((kind, value), [])
            if not any(d is draft for d in bucket):
                bucket.append(draft)


def worth_loading(
    by_key: dict[tuple[str, str], list[int]],
    stored_ids: dict[int, dict[str, str]],
    records: Iterable[tuple[dict[str, str], dict[str, str]]],
) -> dict[tuple[str, str], list[int]]:
    """``by_key`` (stored papers by title or abstract key) less the papers that no record
    (its ids, its keys) with that key could merge into: those whose ids disagree with each
    such record's, as :meth:`Resolver.match` would find before reading their authors.
    Same-titled papers pile up (every copy of a synthetic corpus, a venue's "Editorial"),
    and each was loaded whole for every new one."""
    wanting: dict[tuple[str, str], list[dict[str, str]]] = {}
    for ids, keys in records:
        for pair in keys.items():
            wanting.setdefault(pair, []).append(ids)
    kept = {
        key: [
            p
            for p in papers
            if any(
                not _disagree(stored_ids.get(p, {}), ids, _ID_ORDER) for ids in wanting.get(key, ())
            )
        ]
        for key, papers in by_key.items()
    }
    return {key: papers for key, papers in kept.items() if papers}


def _disagree(a: dict[str, str], b: dict[str, str], kinds: tuple[str, ...]) -> bool:
    return any(k in a and k in b and a[k] != b[k] for k in kinds)


def _families(draft: PaperDraft) -> set[str]:
    return {fold(split_name(a.name)[1]) for a in draft.authors}


def _authors_agree(a: PaperDraft, b: PaperDraft) -> bool:
    if not a.authors or not b.authors:
        return True
    return bool(_families(a) & _families(b))


def _with_affiliations(
    authors: list[AuthorRecord], other: list[AuthorRecord]
) -> list[AuthorRecord]:
    """``authors`` with the affiliations a less trusted list (Semantic Scholar's, OpenAlex's)
    gives them: by name, else by position when both lists are as long and the family names
    agree there. Names and order stay the trusted source's."""
    by_name = {fold(a.name): a.affiliations for a in other if a.affiliations}
    same_length = len(authors) == len(other)
    out = []
    for i, a in enumerate(authors):
        found = by_name.get(fold(a.name), [])
        family = fold(split_name(a.name)[1])
        if not found and same_length and family == fold(split_name(other[i].name)[1]):
            found = other[i].affiliations
        out.append(a if a.affiliations or not found else AuthorRecord(a.name, list(found)))
    return out


def merge(old: PaperDraft, new: PaperDraft) -> PaperDraft:
    """``old`` updated in place with what ``new`` knows better; returns ``old``."""
    for kind, value in new.ids.items():
        old.ids.setdefault(kind, value)
    for f, raw in (("title", "title_raw"), ("abstract", "abstract_raw")):
        if _wins(old, new, f):
            setattr(old, f, getattr(new, f))
            setattr(old, raw, getattr(new, raw))
            old.provenance[f] = new.provenance[f]
    if _wins(old, new, "authors"):
        affiliations = {fold(a.name): a.affiliations for a in old.authors}
        old.authors = [
            a if a.affiliations else AuthorRecord(a.name, affiliations.get(fold(a.name), []))
            for a in new.authors
        ]
        old.provenance["authors"] = new.provenance["authors"]
    elif any(a.affiliations for a in new.authors):
        old.authors = _with_affiliations(old.authors, new.authors)
    for f in ("categories", *_SCALARS):
        if _wins(old, new, f):
            setattr(old, f, getattr(new, f))
            old.provenance[f] = new.provenance[f]
    for link, url in new.links.items():
        if link not in old.links or _wins(old, new, "links"):
            old.links[link] = url
    if new.links:
        old.provenance.setdefault("links", new.provenance["links"])
    # Dates: first publication and listing, latest update; a full date beats its own year.
    for f, pick in (("published", min), ("listed", min), ("updated", max)):
        a, b = getattr(old, f), getattr(new, f)
        if not b or a == b:
            continue
        if not a or (
            b.startswith(a) if len(b) > len(a) else not a.startswith(b) and pick(a, b) == b
        ):
            setattr(old, f, b)
            old.provenance[f] = new.provenance[f]
    if new.arxiv_version and (old.arxiv_version or 0) < new.arxiv_version:
        old.arxiv_version = new.arxiv_version
    if new.versions:
        by_number = {v.get("version"): v for v in old.versions}
        for v in new.versions:
            by_number[v.get("version")] = {**by_number.get(v.get("version"), {}), **v}
        old.versions = sorted(by_number.values(), key=lambda v: v.get("version") or 0)
        old.provenance.setdefault("versions", new.provenance["versions"])
    return old


def _wins(old: PaperDraft, new: PaperDraft, f: str) -> bool:
    if not getattr(new, f):
        return False
    if not getattr(old, f):
        return True
    p_old = registry.priority(old.provenance.get(f, ""))
    p_new = registry.priority(new.provenance[f])
    if p_new != p_old:
        return p_new > p_old
    return not (new.arxiv_version and old.arxiv_version and new.arxiv_version < old.arxiv_version)
