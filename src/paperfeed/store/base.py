"""The one interface every storage backend implements, so a second backend slots in unseen."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from paperfeed.models import Paper, PaperDraft, Profile


class Writer(ABC):
    """Writes inside one transaction: all of it is stored, or none of it."""

    @abstractmethod
    def seen_paper(self, record_hash: str) -> int | None:
        """The paper a source record with this content hash was stored as, if it was."""

    @abstractmethod
    def record_seen(self, record_hash: str, paper_id: int, source: str, location: str) -> None:
        """Remember that this source record is stored as part of ``paper_id``."""

    @abstractmethod
    def find_by_ids(self, ids: dict[str, str]) -> dict[str, int]:
        """For each ``kind: value`` id that a paper already owns, that paper's id."""

    @abstractmethod
    def find_by_key(self, kind: str, value: str) -> list[int]:
        """Papers whose folded title or abstract (``kind``) hashes to ``value``."""

    @abstractmethod
    def load_draft(self, paper_id: int) -> PaperDraft:
        """The stored paper, in the form the merge works on."""

    @abstractmethod
    def save(self, draft: PaperDraft, keys: dict[str, str]) -> int:
        """Insert or update a paper with its ids, match keys, authors and organizations."""

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
