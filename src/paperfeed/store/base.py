"""The one interface every storage backend implements, so a second backend slots in unseen."""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.models import (
    Paper,
    PaperDraft,
    Profile,
    Rule,
    SearchFilters,
    User,
    Venue,
    VenueReviewer,
)

#: A venue's submission as kept: its id, the paper as JSON, its vector (model name, float32).
SubmissionRow = tuple[str, dict[str, Any], str | None, np.ndarray | None]
#: An assigned pair as kept: submission id, reviewer name, affinity, the reason shown.
AssignmentRow = tuple[str, str, float, str]


class Writer(ABC):
    """Writes inside one transaction: all of it is stored, or none of it.

    Every method works on a batch, so a backend can answer with a few round trips.
    """

    @abstractmethod
    def seen_papers(self, hashes: Sequence[str]) -> dict[str, int]:
        """For source-record content hashes stored before, the paper each became part of."""

    @abstractmethod
    def record_seen(self, rows: Iterable[tuple[str, int, str, str]]) -> None:
        """Remember source records as ``(hash, paper id, source, location)``."""

    @abstractmethod
    def find_by_ids(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """For each ``(kind, value)`` id a paper owns (arxiv, doi, s2, openalex), that paper."""

    @abstractmethod
    def find_by_keys(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[int]]:
        """For each ``(kind, hash)`` of a folded title or abstract, the papers that have it."""

    @abstractmethod
    def ids_of(self, paper_ids: Iterable[int]) -> dict[int, dict[str, str]]:
        """Stored papers' own ids (arxiv, doi, s2, openalex), without the rest of them."""

    @abstractmethod
    def load_drafts(self, paper_ids: Iterable[int]) -> dict[int, PaperDraft]:
        """Stored papers, in the form the merge works on."""

    @abstractmethod
    def save(self, drafts: Sequence[tuple[PaperDraft, Iterable[tuple[str, str]]]]) -> None:
        """Insert new drafts (``id`` None; their ids are set) and update stored ones, with
        their ids, match keys, authors and organizations."""

    @abstractmethod
    def ensure_profile(
        self, name: str, kind: str, description: str | None = None, owner_id: int | None = None
    ) -> int:
        """The id of the profile called ``name``, created if missing (owned by ``owner_id``,
        or shared when None)."""

    @abstractmethod
    def add_to_profile(self, profile_id: int, paper_ids: Iterable[int]) -> None:
        """Add papers to a profile as positives (adding one twice changes nothing)."""

    @abstractmethod
    def set_relation(self, profile_id: int, paper_ids: Iterable[int], relation: str) -> None:
        """Mark papers for a profile: ``positive`` (theirs or saved), ``up``, ``save``,
        ``down`` or ``hide``; the latest mark wins."""

    @abstractmethod
    def set_sync_state(self, key: str, value: str | None) -> None:
        """Keep (or, with None, forget) a value of the daily sync's: a watermark, a
        checkpoint, a step's outcome."""

    @abstractmethod
    def take_lease(self, name: str, holder: str, seconds: float, now: float) -> bool:
        """Hold ``name`` until ``now + seconds`` if it is free, expired or already
        ``holder``'s (renewing it); False when another holder has it."""

    @abstractmethod
    def release_lease(self, name: str, holder: str) -> None:
        """Give ``name`` up, if ``holder`` has it."""

    @abstractmethod
    def save_vectors(
        self, model: str, paper_ids: Sequence[int], hashes: Sequence[bytes], vectors: np.ndarray
    ) -> None:
        """Store (or replace) the vectors ``model`` made of these papers' texts, each with the
        hash of the text it was made from."""

    # -- accounts, profiles' settings, digests --------------------------------------------

    @abstractmethod
    def create_user(self, name: str, email: str, password_hash: str) -> int:
        """A new account; :class:`~paperfeed.errors.Conflict` if the name or email is taken."""

    @abstractmethod
    def start_session(self, token_hash: str, user_id: int, csrf: str, expires_at: str) -> None:
        """Remember a signed-in session by the hash of its cookie token."""

    @abstractmethod
    def end_session(self, token_hash: str) -> None:
        """Forget a session (sign-out); expired ones are dropped too."""

    @abstractmethod
    def save_profile_model(self, profile_id: int, key: bytes, model: bytes) -> None:
        """Keep a profile's fitted model (serialized) with the ``key`` of what it was fitted
        on; it replaces the one kept before."""

    @abstractmethod
    def set_feed_token(self, profile_id: int, token: str | None) -> None:
        """The secret in the profile's private Atom feed address (None revokes it)."""

    @abstractmethod
    def add_rule(self, profile_id: int, rule: Rule) -> None:
        """Add a rule to a profile (adding one twice changes nothing)."""

    @abstractmethod
    def remove_rule(self, profile_id: int, rule: Rule) -> None:
        """Drop a rule from a profile."""

    @abstractmethod
    def subscribe(self, profile_id: int, email: str | None, frequency: str = "daily") -> None:
        """Send the profile's digest to ``email`` daily or weekly; None unsubscribes."""

    @abstractmethod
    def claim_digest(
        self, profile_id: int, period: str, message_id: str, papers: int
    ) -> str | None:
        """Claim the digest of ``period`` before sending it: the Message-ID to send it with,
        or None when it went out already. A claim left by a crash mid-send is handed out
        again with its first Message-ID, so mail systems can tell the two copies apart."""

    @abstractmethod
    def finish_digest(self, profile_id: int, period: str, status: str = "sent") -> None:
        """Record that the claimed digest was sent (or had nothing to send: ``empty``)."""

    @abstractmethod
    def create_venue(
        self, name: str, owner_id: int | None, settings: dict[str, Any] | None = None
    ) -> int:
        """A new venue's id; :class:`~paperfeed.errors.Conflict` if the name is taken."""

    @abstractmethod
    def set_venue_settings(self, venue_id: int, settings: dict[str, Any]) -> None:
        """Replace the venue's settings (k, max_load, conflict_years, fair)."""

    @abstractmethod
    def save_submissions(self, venue_id: int, rows: Sequence[SubmissionRow]) -> None:
        """Add submissions, replacing those with the same id (kept in their place)."""

    @abstractmethod
    def save_reviewers(
        self, venue_id: int, reviewers: Sequence[tuple[str, dict[str, Any]]]
    ) -> None:
        """Add reviewers ``(name, details)``; one already in the pool has its details
        replaced and keeps its private link and chosen papers."""

    @abstractmethod
    def set_expertise(self, venue_id: int, name: str, papers: Sequence[int] | None) -> None:
        """The papers a reviewer chose to stand for them (None: the disambiguation's)."""

    @abstractmethod
    def save_assignment(
        self, venue_id: int, pairs: Sequence[AssignmentRow], report: dict[str, Any]
    ) -> None:
        """Replace the venue's assignment whole, with its report (summary, conflicts left
        out, weakest papers)."""


class Staged(ABC):
    """A long write that lands whole or not at all: see :meth:`Store.staged`."""

    @abstractmethod
    def writer(self) -> AbstractContextManager[Writer]:
        """A writer for the next part of the work."""


class _OneTransaction(Staged):
    def __init__(self, writer: Writer) -> None:
        self._writer = writer

    def writer(self) -> AbstractContextManager[Writer]:
        return nullcontext(self._writer)


@contextmanager
def _one_transaction(store: Store) -> Iterator[Staged]:
    with store.writer() as w:
        yield _OneTransaction(w)


class Store(ABC):
    """Papers, authors, organizations and profiles, whatever holds them."""

    location: str

    @abstractmethod
    def writer(self, wait: bool = True) -> AbstractContextManager[Writer]:
        """A transaction: commits when the block ends, rolls back if it raises. With
        ``wait=False`` it raises :class:`StoreBusy` at once where it would wait for another
        write (in this process or another), for work that may be skipped (keeping a cache)."""

    def staged(
        self, label: str, on_wait: Callable[[str], None] | None = None
    ) -> AbstractContextManager[Staged]:
        """A long write (an ingest), made of the parts each ``writer()`` writes: all of it
        is stored when the block ends, and none of it if the block raises or the process
        dies. Other writes need not wait for the whole of it; a second long write waits for
        the first (``on_wait`` is told so). This default is one transaction."""
        return _one_transaction(self)

    @abstractmethod
    def get_paper(self, ref: str) -> Paper:
        """A paper by any of its ids (arXiv id, DOI, ``s2:``, ``openalex:``, ``pf:N``)."""

    @abstractmethod
    def iter_papers(self, batch_size: int = 1000) -> Iterator[Paper]:
        """Every paper, in id order, read in batches."""

    @abstractmethod
    def stats(self) -> dict[str, Any]:
        """Counts of what the store holds."""

    @abstractmethod
    def profiles(self) -> list[Profile]:
        """Every profile with its paper count."""

    @abstractmethod
    def profile_papers(self, name: str) -> list[Paper]:
        """The papers of the profile called ``name``."""

    @abstractmethod
    def profile_relations(self, name: str) -> dict[int, str]:
        """Every paper marked for the profile called ``name``, with its mark."""

    @abstractmethod
    def profile(self, name: str) -> Profile:
        """The profile called ``name``; NotFound if there is none."""

    @abstractmethod
    def profiles_of(self, owner_id: int | None) -> list[Profile]:
        """The profiles a user owns, or the shared ones (owner None)."""

    @abstractmethod
    def profile_by_token(self, token: str) -> Profile:
        """The profile whose private feed address holds ``token``; NotFound otherwise."""

    @abstractmethod
    def rules(self, name: str) -> list[Rule]:
        """The rules of the profile called ``name``."""

    @abstractmethod
    def user(self, name_or_email: str) -> User | None:
        """The account with that name or email, if any."""

    @abstractmethod
    def session(self, token_hash: str) -> tuple[User, str] | None:
        """The user and CSRF secret of a live session."""

    @abstractmethod
    def subscriptions(self) -> list[tuple[Profile, str, str]]:
        """``(profile, email, frequency)`` for every digest subscription."""

    @abstractmethod
    def subscription(self, profile_id: int) -> tuple[str, str] | None:
        """``(email, frequency)`` of a profile's digest subscription, if it has one."""

    @abstractmethod
    def profile_model(self, profile_id: int, key: bytes) -> bytes | None:
        """The profile's kept model if it was fitted on ``key``, else None."""

    @abstractmethod
    def digest_status(self, profile_id: int, period: str) -> str | None:
        """``sending``, ``sent``, ``empty``, or None when that digest was never claimed."""

    @abstractmethod
    def author_ids(self, name: str) -> set[int]:
        """The author entities a name (any spelling of it) stands for."""

    @abstractmethod
    def signers(self, paper_ids: Collection[int]) -> dict[str, int]:
        """The name keys of these papers' authors, each with how many of them it signed."""

    @abstractmethod
    def author_counts(self, keys: Collection[str]) -> dict[str, int]:
        """For author name keys (``name_key``), how many papers each signed."""

    @abstractmethod
    def paper_count(self) -> int:
        """How many papers the store holds."""

    @abstractmethod
    def sync_state(self, prefix: str = "") -> dict[str, str]:
        """The daily sync's kept values whose keys start with ``prefix``."""

    @abstractmethod
    def lease_holder(self, name: str, now: float) -> str | None:
        """Who holds ``name`` now, if anyone."""

    @abstractmethod
    def stored_records(self, hashes: Sequence[str]) -> set[str]:
        """Which of these source-record content hashes are stored (read outside any write,
        so work on records already stored can be skipped before a write begins)."""

    @abstractmethod
    def latest_day(self) -> str | None:
        """The last day a paper was listed."""

    @abstractmethod
    def listing_days(self, limit: int = 30, until: str | None = None) -> list[tuple[str, int]]:
        """``(day, papers listed)``, newest first."""

    @abstractmethod
    def votes(self, ids: Sequence[int]) -> dict[int, int]:
        """For each paper, how many profiles rated it up or saved it (papers without votes
        are left out)."""

    @abstractmethod
    def vectors_for(self, model: str, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` of those papers that ``model`` has embedded, in id order."""

    @abstractmethod
    def papers(self, ids: Sequence[int], max_authors: int | None = None) -> list[Paper]:
        """Papers by internal id, in the order asked; ids that do not exist are left out.

        ``max_authors`` reads only the first authors of each paper, the rest counted in
        ``more_authors``: a list of papers need not read a collaboration's thousand names."""

    @abstractmethod
    def written_by(self, authors: Collection[int], papers: Collection[int]) -> set[int]:
        """Those of ``papers`` that any of the ``authors`` entities signed."""

    @abstractmethod
    def keyword_search(
        self, query: str, filters: SearchFilters, limit: int
    ) -> list[tuple[int, float]]:
        """``(paper id, score)``, best first, by BM25 over title > authors > abstract.

        Any text is a valid query: operators and punctuation are taken as plain words."""

    @abstractmethod
    def titled(self, query: str, filters: SearchFilters) -> list[int]:
        """The papers the filters let through whose title is ``query`` (folded, four words
        or more: a shorter title is no name), oldest first: an index look-up."""

    @abstractmethod
    def filter_ids(self, filters: SearchFilters) -> np.ndarray:
        """The ids of every paper the filters let through, sorted."""

    def filter_summary(self, filters: SearchFilters) -> tuple[int, int]:
        """How many papers the filters let through and the largest id among them (0 for
        none): enough to tell that a window's papers changed, without reading them."""
        ids = self.filter_ids(filters)
        return len(ids), int(ids[-1]) if len(ids) else 0

    @abstractmethod
    def embedding_inputs(
        self, model: str, batch_size: int = 5000
    ) -> Iterator[list[tuple[int, str | None, str | None, bytes | None]]]:
        """Every paper as ``(id, title, abstract, hash of the text its vector was made
        from, or None)`` for ``model``, in batches."""

    def lexical_inputs(
        self, batch_size: int = 5000
    ) -> Iterator[list[tuple[int, str | None, str | None, str | None, list[str]]]]:
        """Every paper as ``(id, title, abstract, comment, categories)``, in id order and in
        batches: what the lexical spaces are fitted on."""
        for batch in self.embedding_inputs("", batch_size):
            papers = self.papers([row[0] for row in batch], max_authors=0)
            yield [(p.id, p.title, p.abstract, p.comment, p.categories) for p in papers]

    @abstractmethod
    def load_vectors(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, vectors)`` for every paper ``model`` has embedded: int64 ids sorted, and
        float32 rows of unit length."""

    def ann_index(self, model: str) -> tuple[np.ndarray, int] | None:
        """The centre of ``model``'s vectors that the database's own nearest-neighbour index
        is built around and how many it was built on, or None when the database keeps none
        (SQLite: the search builds its index in a file beside the database, :meth:`sidecar`)."""
        return None

    def build_ann(self, model: str, min_vectors: int) -> bool:
        """Build the database's own nearest-neighbour index of ``model``'s vectors once
        there are ``min_vectors`` of them, or build it again when they grew much; True when
        the database has one (now or from before). SQLite keeps none: False."""
        return False

    def nearest(
        self, model: str, query: np.ndarray, k: int, among: Sequence[int] | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` papers closest to ``query`` (a unit vector centred on
        :meth:`ann_index`'s centre) by the database's own index, as ``(paper id, cosine)``,
        best first: approximate, as such an index is. With ``among``: exactly, over those
        papers alone."""
        raise NotImplementedError(f"{self.location}: keeps no nearest-neighbour index")

    @abstractmethod
    def sidecar(self, name: str) -> Path | None:
        """Where the store keeps a file of its own beside its data (``name``: ``lexical``, an
        ANN index), or None when it has no place for files (a store in memory)."""

    def kept(self, name: str) -> bytes | None:
        """What the store keeps for itself under ``name`` (a fitted model), or None. This
        default keeps it in a file beside the data (:meth:`sidecar`)."""
        path = self.sidecar(name)
        return path.read_bytes() if path is not None and path.exists() else None

    def keep(self, name: str, data: bytes) -> None:
        """Keep ``data`` under ``name`` for every process of the store, replacing it whole
        (a reader sees the old or the new, never a part)."""
        path = self.sidecar(name)
        if path is None:
            return
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)

    @abstractmethod
    def venue(self, name: str) -> Venue:
        """The venue called ``name``, with its counts; NotFound if there is none."""

    @abstractmethod
    def venues(self, owner_id: int | None = None) -> list[Venue]:
        """Every venue (or ``owner_id``'s), by name."""

    @abstractmethod
    def venue_submissions(self, venue_id: int, vectors: bool = True) -> list[SubmissionRow]:
        """The venue's submissions in the order they were imported (without their vectors,
        None, unless ``vectors``)."""

    @abstractmethod
    def venue_reviewers(self, venue_id: int) -> list[VenueReviewer]:
        """The venue's reviewers in the order they were imported."""

    @abstractmethod
    def venue_reviewer_by_token(self, token: str) -> tuple[Venue, VenueReviewer]:
        """The reviewer whose private link holds ``token``; NotFound if none does."""

    @abstractmethod
    def venue_report(self, venue_id: int) -> dict[str, Any] | None:
        """The last assignment's report, or None before the first."""

    @abstractmethod
    def venue_assignment(self, venue_id: int) -> list[AssignmentRow]:
        """The assignment last kept: submissions in order, each one's best pair first."""

    @abstractmethod
    def secret_key(self) -> str:
        """The key this instance signs links and forms with: made once and kept with the
        store (its file readable by its owner alone), so every process serving the store
        shares it."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
