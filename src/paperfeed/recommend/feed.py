"""``recommend``: a day's new papers ranked for a profile of the store, with reasons.

The store's face of :func:`~paperfeed.recommend.rank.rank`: it reads the window's papers, the
profile's marks, rules and description from the store, keeps the profile's fitted model
there, and ranks. Feedback is read on every call: a thumbs-down or a save changes the next
ranking at once.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from datetime import date, timedelta
from typing import Any

import numpy as np

from paperfeed.embed.model import Embedder, paper_text
from paperfeed.errors import InputError, StoreBusy
from paperfeed.models import Paper, Profile, SearchFilters
from paperfeed.normalize import check_day
from paperfeed.recommend.lexical import LexicalModel
from paperfeed.recommend.listing import Listing, mean_sample, store_mean
from paperfeed.recommend.model import (
    LIKED,
    ProfileState,
    coauthor_counts,
    marked,
    model_bytes,
    model_key,
    profile_state,
)
from paperfeed.recommend.rank import Recommendation, rank, unsure
from paperfeed.recommend.rules import FILTERS, apply_filters, pinned
from paperfeed.store import Store

log = logging.getLogger(__name__)


def recommend(
    store: Store,
    profile: str,
    embedder: Embedder,
    day: str | None = None,
    since: str | None = None,
    limit: int | None = 50,
    lexical: LexicalModel | None = None,
    cache: MutableMapping[Any, Any] | None = None,
) -> list[Recommendation]:
    """The papers listed on ``day`` (default: the latest day in the store), or since a day,
    best first for ``profile``; papers the profile already holds or rated are left out.

    The profile's rules apply first: papers outside its must-have categories or mentioning
    an excluded word are dropped; papers by followed authors or organizations, mentioning an
    included word or matching a saved query come first. The learned ranking orders the rest
    (and, within the first group, those too). A profile with no papers yet ranks by its
    description, so a line of text is enough to start.

    ``cache`` (any mapping; :class:`~paperfeed.recommend.service.Recommender` keeps a bounded
    one) keeps what does not change between calls: a window's listing, shared by every
    profile, and each profile's state, until the profile changes."""
    cache = {} if cache is None else cache
    day, since = check_day(day), check_day(since, "since day")
    marks = store.profile_relations(profile)
    rules = store.rules(profile)
    positives, _ = marked(marks)
    about = store.profile(profile)
    description = interests(about, bool(positives))
    if not positives and not description and not rules:
        raise InputError(
            f"profile {profile!r} has no papers yet: import some (paperfeed profile import), "
            "rate papers up, follow an author or describe your interests"
        )
    if day is None and since is None:
        day = store.latest_day()
    window = SearchFilters(since=since or day, until=day)
    lexical = lexical or LexicalModel.for_store(store)
    listing = listing_of(store, embedder, lexical, window, cache)
    rows = [i for i, p in enumerate(listing.papers) if p.id not in marks]
    if any(r.kind in FILTERS for r in rules):
        allowed = {p.id for p in apply_filters([listing.papers[i] for i in rows], rules)}
        rows = [i for i in rows if listing.papers[i].id in allowed]
    if not rows:
        return []
    new = [listing.papers[i] for i in rows]
    picked = pinned(store, new, rules, window)
    if not positives and not description:  # rules alone: what they pick, newest first
        chosen = sorted(new, key=lambda p: (p.id not in picked, -p.id))[:limit]
        return [Recommendation(p, 0.0, picked.get(p.id, [])) for p in chosen]
    state = state_of(store, embedder, lexical, cache, about.id, marks, description)
    return rank(listing, state, lexical, rows, picked, limit)


def to_rate(
    store: Store,
    profile: str,
    embedder: Embedder,
    lexical: LexicalModel | None = None,
    cache: MutableMapping[Any, Any] | None = None,
    k: int = 3,
    days: int = 7,
) -> list[Recommendation]:
    """The ``k`` papers of the last ``days`` days whose rating would teach the profile's
    model most (:func:`~paperfeed.recommend.rank.unsure`)."""
    cache = {} if cache is None else cache
    marks = store.profile_relations(profile)
    positives, _ = marked(marks)
    about = store.profile(profile)
    description = interests(about, bool(positives))
    last = store.latest_day()
    if last is None or (not positives and not description):
        return []
    since = (date.fromisoformat(last[:10]) - timedelta(days=days - 1)).isoformat()
    lexical = lexical or LexicalModel.for_store(store)
    listing = listing_of(store, embedder, lexical, SearchFilters(since=since, until=last), cache)
    rows = [i for i, p in enumerate(listing.papers) if p.id not in marks]
    if not rows:
        return []
    state = state_of(store, embedder, lexical, cache, about.id, marks, description)
    return unsure(listing, state, lexical, rows, k)


#: Kinds of profile a description says the interests of, whatever papers it holds; for the
#: others (a researcher, a lab, an institution) the papers say it and a description only
#: stands in until there are some.
DESCRIBED_KINDS = ("topic", "reader")


#: How many of a profile's papers its description counts as, for each paper it holds: a
#: described topic stays on topic after a few ratings (docs/benchmarks.md); and at most
#: (a reader's large library is heard beside it, and is not copied over).
DESCRIPTION_WEIGHT = 2
DESCRIPTION_MOST = 20


def interests(profile: Profile, has_papers: bool) -> str | None:
    """The text that counts as the profile's interests beside its papers: a topic's or a
    reader's description always (one thumbs-up does not erase it), another kind's only
    while it has no papers."""
    if profile.kind in DESCRIBED_KINDS or not has_papers:
        return profile.description or None
    return None


def state_of(
    store: Store,
    embedder: Embedder,
    lexical: LexicalModel,
    cache: MutableMapping[Any, Any],
    profile_id: int,
    marks: dict[int, str],
    description: str | None,
) -> ProfileState:
    """The profile's :class:`~paperfeed.recommend.model.ProfileState`, kept in ``cache``
    under a key that changes with its marks and description. A model fitted before on the
    same marks is read back from the store rather than fitted again, and a model fitted now
    is kept there."""
    positives, negatives = marked(marks)
    key = ("profile", profile_id, tuple(positives), tuple(negatives), description, lexical.size)
    state = cache.get(key)
    if state is not None:
        return state
    fitted_on = model_key(lexical, marks, description)
    # no author lists: co-authors are counted by the store (a collaboration signs hundreds)
    loaded = {p.id: p for p in store.papers(positives + negatives, max_authors=0)}
    mine = [loaded[i] for i in positives if i in loaded]
    coauthors = coauthor_counts(store.signers([p.id for p in mine]), len(mine))
    if description:  # what the profile is about outweighs the papers rated into it
        copies = min(max(1, DESCRIPTION_WEIGHT * len(mine)), DESCRIPTION_MOST)
        mine = [*mine, *[Paper.from_text(description)] * copies]
    liked = frozenset(p for p, mark in marks.items() if mark in LIKED)
    disliked = [loaded[i] for i in negatives if i in loaded]
    kept = store.profile_model(profile_id, fitted_on)
    state = profile_state(
        lexical,
        mine,
        vectors_of(store, embedder, mine),
        disliked,
        vectors_of(store, embedder, disliked),
        coauthors,
        kept,
        liked,
    )
    if kept is None:
        # a ranking is a read: it never waits for another write (an ingest may hold the
        # store for minutes), and a model not kept is fitted again next time
        try:
            with store.writer(wait=False) as w:
                w.save_profile_model(
                    profile_id, fitted_on, model_bytes(state.model, state.against_coef)
                )
        except StoreBusy as e:
            log.info("did not keep the fitted model of profile %s: %s", profile_id, e)
        except Exception as e:  # read-only, say
            log.warning("could not keep the fitted model of profile %s: %s", profile_id, e)
    cache[key] = state
    return state


def vectors_of(store: Store, embedder: Embedder, papers: list[Paper]) -> np.ndarray:
    """Stored vectors of these papers; the ones the batch job has not reached are embedded now."""
    if not papers:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    found, vectors = store.vectors_for(embedder.name, [p.id for p in papers])
    vector_of = dict(zip(found.tolist(), vectors, strict=True))
    # each paper once: a profile's description stands in as several papers, all id 0
    missing = list({p.id: p for p in papers if p.id not in vector_of}.values())
    if missing:
        fresh = embedder.embed([paper_text(p.title, p.abstract) for p in missing])
        vector_of.update(zip((p.id for p in missing), fresh, strict=True))
    return np.stack([vector_of[p.id] for p in papers]).astype(np.float32)


def listing_of(
    store: Store,
    embedder: Embedder,
    lexical: LexicalModel,
    window: SearchFilters,
    cache: MutableMapping[Any, Any],
) -> Listing:
    """The store's papers in ``window`` as a :class:`~paperfeed.recommend.listing.Listing`,
    kept in ``cache`` until the window's papers change."""
    key = ("listing", window, *store.filter_summary(window), lexical.size)
    listing = cache.get(key)
    if listing is None:
        papers = store.papers([int(i) for i in store.filter_ids(window)])
        sample = mean_sample(lexical)
        _, sampled = store.vectors_for(embedder.name, sample)
        mean = store_mean(sampled, len(sample))
        listing = cache[key] = Listing.of(
            papers, vectors_of(store, embedder, papers), lexical, mean
        )
    return listing
