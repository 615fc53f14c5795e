"""What a venue keeps, read and written the same way on every SQL backend: its submissions
(apart from the papers, so that they reach no feed or search), its reviewers with the
expertise they chose, and the assignment last made."""

from __future__ import annotations

import secrets
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from paperfeed.errors import Conflict, NotFound
from paperfeed.models import Venue, VenueReviewer
from paperfeed.store.base import AssignmentRow, SubmissionRow
from paperfeed.store.sql_rows import Database, now

_VENUE = (
    "SELECT v.id, v.name, v.owner_id, v.settings, v.created_at, "
    "(SELECT count(*) FROM venue_submissions s WHERE s.venue_id = v.id), "
    "(SELECT count(*) FROM venue_reviewers r WHERE r.venue_id = v.id), "
    "(SELECT count(*) FROM venue_assignments a WHERE a.venue_id = v.id) FROM venues v"
)


def _venue(row: Sequence[Any]) -> Venue:
    return Venue(
        int(row[0]),
        row[1],
        row[2],
        orjson.loads(row[3]),
        row[4],
        int(row[5]),
        int(row[6]),
        int(row[7]),
    )


def _reviewer(row: Sequence[Any]) -> VenueReviewer:
    papers = orjson.loads(row[4]) if row[4] is not None else None
    return VenueReviewer(int(row[0]), row[1], orjson.loads(row[2]), row[3], papers)


class VenueReads:
    """The reads: mixed into :class:`~paperfeed.store.sql.SQLStore`."""

    @property
    @abstractmethod
    def _read(self) -> Database:
        """This thread's connection for reading."""

    def venue(self, name: str) -> Venue:
        row = self._read.execute(_VENUE + " WHERE v.name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no venue called {name!r}")
        return _venue(row)

    def venues(self, owner_id: int | None = None) -> list[Venue]:
        if owner_id is None:
            rows = self._read.execute(_VENUE + " ORDER BY v.name").fetchall()
        else:
            rows = self._read.execute(
                _VENUE + " WHERE v.owner_id = ? ORDER BY v.name", (owner_id,)
            ).fetchall()
        return [_venue(r) for r in rows]

    def venue_submissions(self, venue_id: int, vectors: bool = True) -> list[SubmissionRow]:
        vector = "vector" if vectors else "NULL"
        return [
            (
                sid,
                orjson.loads(paper),
                model,
                np.frombuffer(bytes(vector), dtype=np.float32) if vector is not None else None,
            )
            for sid, paper, model, vector in self._read.execute(
                f"SELECT sid, paper, model, {vector} FROM venue_submissions "
                "WHERE venue_id = ? ORDER BY position",
                (venue_id,),
            )
        ]

    def venue_reviewers(self, venue_id: int) -> list[VenueReviewer]:
        return [
            _reviewer(r)
            for r in self._read.execute(
                "SELECT venue_id, name, details, token, papers FROM venue_reviewers "
                "WHERE venue_id = ? ORDER BY position",
                (venue_id,),
            )
        ]

    def venue_reviewer_by_token(self, token: str) -> tuple[Venue, VenueReviewer]:
        row = (
            self._read.execute(
                "SELECT venue_id, name, details, token, papers FROM venue_reviewers "
                "WHERE token = ?",
                (token,),
            ).fetchone()
            if token
            else None
        )
        if row is None:
            raise NotFound("no reviewer at that address")
        reviewer = _reviewer(row)
        venue = self._read.execute(_VENUE + " WHERE v.id = ?", (reviewer.venue_id,)).fetchone()
        return _venue(venue), reviewer

    def venue_report(self, venue_id: int) -> dict[str, Any] | None:
        row = self._read.execute("SELECT report FROM venues WHERE id = ?", (venue_id,)).fetchone()
        return orjson.loads(row[0]) if row and row[0] is not None else None

    def venue_assignment(self, venue_id: int) -> list[AssignmentRow]:
        return [
            (sid, reviewer, float(affinity), why)
            for sid, reviewer, affinity, why in self._read.execute(
                "SELECT a.sid, a.reviewer, a.affinity, a.why FROM venue_assignments a "
                "JOIN venue_submissions s ON s.venue_id = a.venue_id AND s.sid = a.sid "
                "WHERE a.venue_id = ? ORDER BY s.position, a.affinity DESC",
                (venue_id,),
            )
        ]


class VenueWrites:
    """The writes: mixed into :class:`~paperfeed.store.sql_writer.SQLWriter`."""

    db: Database

    def create_venue(
        self, name: str, owner_id: int | None, settings: dict[str, Any] | None = None
    ) -> int:
        if self.db.execute("SELECT 1 FROM venues WHERE name = ?", (name,)).fetchone():
            raise Conflict(f"a venue called {name!r} exists already")
        row = self.db.execute(
            "INSERT INTO venues (name, owner_id, settings, created_at) VALUES (?, ?, ?, ?) "
            "RETURNING id",
            (name, owner_id, orjson.dumps(settings or {}).decode(), now()),
        ).fetchone()
        return int(row[0])

    def set_venue_settings(self, venue_id: int, settings: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE venues SET settings = ? WHERE id = ?",
            (orjson.dumps(settings).decode(), venue_id),
        )

    def _last_position(self, table: str, venue_id: int) -> int:
        """The place of the last row ``table`` holds for the venue (0 when none)."""
        row = self.db.execute(
            f"SELECT coalesce(max(position), 0) FROM {table} WHERE venue_id = ?", (venue_id,)
        ).fetchone()
        return int(row[0])

    def save_submissions(self, venue_id: int, rows: Sequence[SubmissionRow]) -> None:
        """Add submissions, replacing those with the same id (kept in their place)."""
        start = self._last_position("venue_submissions", venue_id)
        self.db.executemany(
            "INSERT INTO venue_submissions (venue_id, sid, position, paper, model, vector) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (venue_id, sid) DO UPDATE SET "
            "paper = excluded.paper, model = excluded.model, vector = excluded.vector",
            [
                (
                    venue_id,
                    sid,
                    start + i + 1,
                    orjson.dumps(paper).decode(),
                    model,
                    None if vector is None else np.asarray(vector, dtype=np.float32).tobytes(),
                )
                for i, (sid, paper, model, vector) in enumerate(rows)
            ],
        )

    def save_reviewers(
        self, venue_id: int, reviewers: Sequence[tuple[str, dict[str, Any]]]
    ) -> None:
        """Add reviewers ``(name, details)``, replacing the details of those already in the
        pool; a reviewer's private link and chosen papers stay."""
        start = self._last_position("venue_reviewers", venue_id)
        stamp = now()
        self.db.executemany(
            "INSERT INTO venue_reviewers (venue_id, name, position, details, token, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (venue_id, name) DO UPDATE SET "
            "details = excluded.details, updated_at = excluded.updated_at",
            [
                (
                    venue_id,
                    name,
                    start + i + 1,
                    orjson.dumps(details).decode(),
                    secrets.token_urlsafe(24),
                    stamp,
                )
                for i, (name, details) in enumerate(reviewers)
            ],
        )

    def set_expertise(self, venue_id: int, name: str, papers: Sequence[int] | None) -> None:
        """The papers a reviewer chose to stand for their expertise (None: found again by
        the author disambiguation)."""
        self.db.execute(
            "UPDATE venue_reviewers SET papers = ?, updated_at = ? WHERE venue_id = ? AND name = ?",
            (
                None if papers is None else orjson.dumps(sorted(set(papers))).decode(),
                now(),
                venue_id,
                name,
            ),
        )

    def save_assignment(
        self, venue_id: int, pairs: Sequence[AssignmentRow], report: dict[str, Any]
    ) -> None:
        """Replace the venue's assignment whole, with its report."""
        self.db.execute(
            "UPDATE venues SET report = ? WHERE id = ?", (orjson.dumps(report).decode(), venue_id)
        )
        self.db.execute("DELETE FROM venue_assignments WHERE venue_id = ?", (venue_id,))
        self.db.executemany(
            "INSERT INTO venue_assignments (venue_id, sid, reviewer, affinity, why) "
            "VALUES (?, ?, ?, ?, ?)",
            [(venue_id, sid, r, float(a), why) for sid, r, a, why in pairs],
        )
