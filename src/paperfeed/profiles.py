"""What people do with profiles: create them, fill them from an author's papers or a library
file, rate papers, edit rules. The CLI, the web pages and the API all call these, so a name,
a kind, a rating or a rule is checked in one place.

Who may do it is the face's business (the web checks that the signed-in user owns the
profile); what is done, and whether the input makes sense, is decided here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from paperfeed.errors import InputError, NotFound
from paperfeed.ingest import pipeline
from paperfeed.models import PROFILE_KINDS, RATINGS, RULE_KINDS, Paper, Profile, Rule, User
from paperfeed.recommend.authors import Identity
from paperfeed.store import Store

#: The longest profile label (the name without its owner's prefix) and rule value.
MAX_LABEL = 60
MAX_RULE = 200
MAX_DESCRIPTION = 500


def label_of(text: str) -> str:
    """A profile label from what a person typed: spaces folded; 1 to :data:`MAX_LABEL`
    characters, no '/' (it separates an owner's name from the label) and no control
    characters, else :class:`InputError`."""
    label = " ".join(text.split())
    if not label or len(label) > MAX_LABEL or "/" in label:
        raise InputError(f"a profile name is 1–{MAX_LABEL} characters, without '/': {text!r}")
    if any(not c.isprintable() for c in label):
        raise InputError(f"a profile name cannot hold control characters: {text!r}")
    return label


def name_for(label: str, owner: User | None) -> str:
    """The profile name of ``label`` for its ``owner`` (``alice/ml``), or the label alone for
    a profile of the instance (made from the CLI)."""
    label = label_of(label)
    return f"{owner.name}/{label}" if owner else label


def check_kind(kind: str) -> str:
    if kind not in PROFILE_KINDS:
        raise InputError(f"a profile kind is one of {', '.join(PROFILE_KINDS)}, not {kind!r}")
    return kind


def create(
    store: Store,
    label: str,
    kind: str = "reader",
    description: str | None = None,
    owner: User | None = None,
) -> Profile:
    """The profile ``label`` of ``owner``, created if it does not exist (creating one that
    exists changes nothing)."""
    name = name_for(label, owner)
    check_kind(kind)
    about = " ".join((description or "").split())[:MAX_DESCRIPTION] or None
    with store.writer() as w:
        w.ensure_profile(name, kind, about, owner_id=owner.id if owner else None)
    return store.profile(name)


def from_author(
    store: Store, label: str, author: str, chosen: list[Identity], owner: User | None = None
) -> tuple[Profile, int]:
    """ "This is me": a researcher profile holding the papers of the ``chosen`` people among
    those signing ``author``; with how many papers it received."""
    if not chosen:
        raise InputError(f"pick at least one of the people who sign {author!r}")
    summary = "; ".join(i.summary for i in chosen)
    profile = create(store, label, "researcher", f"Papers of {author}: {summary}", owner)
    papers = [s.key.id for i in chosen for s in i.papers]
    with store.writer() as w:
        w.add_to_profile(profile.id, papers)
    return store.profile(profile.name), len(set(papers))


def import_files(
    store: Store,
    profile: str,
    paths: Iterable[Path],
    kind: str = "reader",
    max_bytes: int | None = None,
    max_document_bytes: int | None = None,
) -> tuple[int, list[str]]:
    """Add the papers of library files (BibTeX, Zotero, CSL-JSON, RIS, lists, arXiv...) to a
    profile, creating it (a new name is a label: :func:`label_of`); each file is stored whole
    or not at all. How many papers it received, and the ids a list named that the store
    does not hold (nothing is stored for them)."""
    check_kind(kind)
    try:
        store.profile(profile)
    except NotFound:
        profile = label_of(profile)
    ids: set[int] = set()
    missing: list[str] = []
    for path in pipeline.expand(tuple(paths)):
        report = pipeline.ingest_path(
            store,
            path,
            profile=profile,
            profile_kind=kind,
            max_bytes=max_bytes,
            max_document_bytes=max_document_bytes,
        )
        ids.update(report.paper_ids)
        missing += report.unresolved
    return len(ids), missing


def rate(store: Store, profile: Profile, ref: str, signal: str) -> Paper:
    """Rate a paper for a profile: up, save, down or hide. The next ranking uses it."""
    if signal not in RATINGS:
        raise InputError(f"a rating is one of {', '.join(RATINGS)}, not {signal!r}")
    paper = store.get_paper(ref)
    with store.writer() as w:
        w.set_relation(profile.id, [paper.id], signal)
    return paper


def edit_rule(store: Store, profile: Profile, kind: str, value: str, add: bool = True) -> Rule:
    """Add (or remove) a rule: words to include or exclude, a must-have category, an author or
    organization to follow, a saved query."""
    text = " ".join(value.split())
    if kind not in RULE_KINDS or not text or len(text) > MAX_RULE:
        raise InputError(
            f"a rule is one of {', '.join(RULE_KINDS)} with a value of 1–{MAX_RULE} characters"
        )
    rule = Rule(kind, text)
    with store.writer() as w:
        (w.add_rule if add else w.remove_rule)(profile.id, rule)
    return rule
