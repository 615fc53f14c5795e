"""The one interface every storage backend implements, so a second backend slots in unseen."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from paperfeed.models import Paper, PaperDraft, Profile


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
    def load_drafts(self, paper_ids: Iterable[int]) -> dict[int, PaperDraft]:
        """Stored papers, in the form the merge works on."""

    @abstractmethod
    def save(self, drafts: Sequence[tuple[PaperDraft, Iterable[tuple[str, str]]]]) -> None:
        """Insert new drafts (``id`` None; their ids are set) and update stored ones, with
        their ids, match keys, authors and organizations."""

    @abstractmethod
    def ensure_profile(self, name: str, kind: str, description: str | None = None) -> int:
        """The id of the profile called ``name``, created if missing."""

    @abstractmethod
    def add_to_profile(self, profile_id: int, paper_ids: Iterable[int]) -> None:
        """Add papers to a profile as positives (adding one twice changes nothing)."""


class Store(ABC):
    """Papers, authors, organizations and profiles, whatever holds them."""

    location: str

    @abstractmethod
    def writer(self) -> AbstractContextManager[Writer]:
        """A transaction: commits when the block ends, rolls back if it raises."""

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
    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
