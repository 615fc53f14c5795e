"""The write side of a SQL store: one transaction, in the SQL both backends speak."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from paperfeed.errors import Conflict, InputError
from paperfeed.models import RELATIONS, AuthorRecord, PaperDraft, Rule
from paperfeed.normalize import name_key, org_key
from paperfeed.store.base import Writer
from paperfeed.store.codec import quantize
from paperfeed.store.sql_rows import (
    PAPER_COLUMNS,
    PAPER_TABLE,
    Database,
    authors_text,
    load_ids,
    load_papers,
    now,
    paper_row,
    where_in,
)
from paperfeed.store.sql_venues import VenueWrites


class SQLWriter(VenueWrites, Writer):
    """The write side of one transaction on a connection.

    It hands out row ids itself (SQLite: as the only writer, after the largest id), so whole
    batches go in with ``executemany``; a backend with concurrent writers allocates them
    from a sequence (:meth:`_new_ids`).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.papers_changed = False
        self._next: dict[str, int] = {}
        self._entities: dict[str, dict[str, int]] = {"authors": {}, "organizations": {}}

    def _new_ids(self, table: str, n: int) -> Sequence[int]:
        if table not in self._next:
            row = self.db.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()
            self._next[table] = int(row[0]) + 1
        first = self._next[table]
        self._next[table] = first + n
        return range(first, first + n)

    def _insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        or_ignore: bool = False,
    ) -> None:
        """Insert rows (``or_ignore``: leaving out those whose key is there already)."""
        self.db.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})"
            + (" ON CONFLICT DO NOTHING" if or_ignore else ""),
            rows,
        )

    def copied(self) -> None:
        """Rows were copied in whole (:mod:`paperfeed.store.transfer`): bring the full-text
        index up to them."""
        self.papers_changed = True
        self.db.execute("INSERT INTO papers_fts (papers_fts) VALUES ('rebuild')")

    def _index_new(self, new: Sequence[PaperDraft]) -> None:
        """Add new papers to the full-text index (SQLite's FTS5 table; Postgres indexes a
        column of the row itself)."""
        self.db.executemany(
            "INSERT INTO papers_fts (rowid, title, authors_text, abstract) VALUES (?, ?, ?, ?)",
            [(d.id, d.title, authors_text(d), d.abstract) for d in new],
        )

    def _where_in(self, sql: str, head: tuple[Any, ...], values: Sequence[Any]) -> Iterator[Any]:
        return where_in(self.db, sql, head, values)

    def seen_papers(self, hashes: Sequence[str]) -> dict[str, int]:
        return dict(
            self._where_in(
                "SELECT hash, paper_id FROM source_records WHERE hash IN ({})", (), hashes
            )
        )

    def record_seen(self, rows: Iterable[tuple[str, int, str, str]]) -> None:
        self._insert("source_records", ("hash", "paper_id", "source", "location"), rows, True)

    def _lookup(
        self, table: str, pairs: Iterable[tuple[str, str]]
    ) -> Iterator[tuple[str, str, int]]:
        by_kind: dict[str, list[str]] = {}
        for kind, value in pairs:
            by_kind.setdefault(kind, []).append(value)
        for kind, values in by_kind.items():
            sql = f"SELECT ?, value, paper_id FROM {table} WHERE kind = ? AND value IN ({{}})"
            yield from self._where_in(sql, (kind, kind), list(dict.fromkeys(values)))

    def find_by_ids(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        return {(k, v): pid for k, v, pid in self._lookup("paper_ids", pairs)}

    def find_by_keys(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[int]]:
        found: dict[tuple[str, str], list[int]] = {}
        for k, v, pid in self._lookup("paper_keys", pairs):
            found.setdefault((k, v), []).append(pid)
        return found

    def ids_of(self, paper_ids: Iterable[int]) -> dict[int, dict[str, str]]:
        return load_ids(self.db, list(dict.fromkeys(paper_ids)))

    def load_drafts(self, paper_ids: Iterable[int]) -> dict[int, PaperDraft]:
        ids = list(dict.fromkeys(paper_ids))
        return {
            i: PaperDraft(
                id=i,
                authors=[AuthorRecord(name, orgs) for _, name, orgs in p.authors],
                ids=p.ids,
                **p.fields,
            )
            for i, p in load_papers(self.db, ids).items()
        }

    def save(self, drafts: Sequence[tuple[PaperDraft, Iterable[tuple[str, str]]]]) -> None:
        self.papers_changed = True
        stamp = now()
        new = [d for d, _ in drafts if d.id is None]
        old = [d for d, _ in drafts if d.id is not None]
        for d, pid in zip(new, self._new_ids("papers", len(new)), strict=True):
            d.id = pid
        db = self.db
        self._insert("papers", PAPER_TABLE, [(d.id, *paper_row(d), stamp, stamp) for d in new])
        self._index_new(new)
        if old:
            sets = ", ".join(f"{c.strip()} = ?" for c in PAPER_COLUMNS.split(","))
            db.executemany(
                f"UPDATE papers SET {sets}, modified_at = ? WHERE id = ?",
                [(*paper_row(d), stamp, d.id) for d in old],
            )
            db.executemany("DELETE FROM paper_authors WHERE paper_id = ?", [(d.id,) for d in old])
            db.executemany(
                "DELETE FROM paper_author_orgs WHERE paper_id = ?", [(d.id,) for d in old]
            )
        kind_value = ("kind", "value", "paper_id")
        ids = [(k, v, d.id) for d, _ in drafts for k, v in d.ids.items()]
        self._insert("paper_ids", kind_value, ids, True)
        keys = [(k, v, d.id) for d, keys in drafts for k, v in keys]
        self._insert("paper_keys", kind_value, keys, True)
        named = [
            (d.id, pos, name_key(a.name), a.name)
            for d, _ in drafts
            for pos, a in enumerate(d.authors)
        ]
        authors = self._entity_ids("authors", [(key, name) for _, _, key, name in named])
        orgs = self._entity_ids(
            "organizations",
            [(org_key(o), o) for d, _ in drafts for a in d.authors for o in a.affiliations],
        )
        self._insert(
            "paper_authors",
            ("paper_id", "position", "author_id", "name"),
            [(pid, pos, authors[key], name) for pid, pos, key, name in named],
        )
        affiliations = [
            (d.id, pos, orgs[org_key(o)])
            for d, _ in drafts
            for pos, a in enumerate(d.authors)
            for o in a.affiliations
        ]
        self._insert("paper_author_orgs", ("paper_id", "position", "org_id"), affiliations, True)

    def _entity_ids(self, table: str, named: list[tuple[str, str]]) -> dict[str, int]:
        """Ids of authors or organizations by key, creating the missing ones."""
        cache = self._entities[table]
        missing = list({key: name for key, name in named if key not in cache}.items())
        if missing:
            keys = [k for k, _ in missing]
            cache.update(
                self._where_in(f"SELECT key, id FROM {table} WHERE key IN ({{}})", (), keys)
            )
            create = [(k, n) for k, n in missing if k not in cache]
            rows = [
                (i, n, k)
                for (k, n), i in zip(create, self._new_ids(table, len(create)), strict=True)
            ]
            # Only a writer saving papers makes authors and organizations, and one at a time
            # (SQLite's one writer, Postgres's lock on saving papers): none is made twice.
            self._insert(table, ("id", "name", "key"), rows)
            cache.update((k, i) for i, _, k in rows)
        if len(cache) > 1 << 20:  # bound memory on huge ingests; the database still has them
            kept = {k: cache[k] for k, _ in named}
            cache.clear()
            cache.update(kept)
        return cache

    def ensure_profile(
        self, name: str, kind: str, description: str | None = None, owner_id: int | None = None
    ) -> int:
        row = self.db.execute(
            "INSERT INTO profiles (name, kind, description, created_at, owner_id) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING id",
            (name, kind, description, now(), owner_id),
        ).fetchone()
        if row is None:  # there already
            row = self.db.execute("SELECT id FROM profiles WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    def set_relation(self, profile_id: int, paper_ids: Iterable[int], relation: str) -> None:
        if relation not in RELATIONS:
            raise InputError(f"a paper's mark is one of {', '.join(RELATIONS)}, not {relation!r}")
        stamp = now()
        self.db.executemany(
            "INSERT INTO profile_papers (profile_id, paper_id, relation, added_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (profile_id, paper_id) "
            "DO UPDATE SET relation = excluded.relation, added_at = excluded.added_at",
            [(profile_id, pid, relation, stamp) for pid in paper_ids],
        )

    def add_to_profile(self, profile_id: int, paper_ids: Iterable[int]) -> None:
        stamp = now()
        self.db.executemany(
            "INSERT INTO profile_papers (profile_id, paper_id, added_at) "
            "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [(profile_id, pid, stamp) for pid in paper_ids],
        )

    def create_user(self, name: str, email: str, password_hash: str) -> int:
        taken = self.db.execute(
            "SELECT lower(name) = lower(?) FROM users "
            "WHERE lower(name) = lower(?) OR lower(email) = lower(?)",
            (name, name, email),
        ).fetchone()
        if taken:
            raise Conflict("that name is taken" if taken[0] else "that email has an account")
        row = self.db.execute(
            "INSERT INTO users (name, email, password_hash, created_at) VALUES (?, ?, ?, ?) "
            "RETURNING id",
            (name, email, password_hash, now()),
        ).fetchone()
        return int(row[0])

    def start_session(self, token_hash: str, user_id: int, csrf: str, expires_at: str) -> None:
        self.db.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires_at) VALUES (?, ?, ?, ?)",
            (token_hash, user_id, csrf, expires_at),
        )

    def end_session(self, token_hash: str) -> None:
        self.db.execute(
            "DELETE FROM sessions WHERE token_hash = ? OR expires_at <= ?", (token_hash, now())
        )

    def set_feed_token(self, profile_id: int, token: str | None) -> None:
        self.db.execute("UPDATE profiles SET feed_token = ? WHERE id = ?", (token, profile_id))

    def add_rule(self, profile_id: int, rule: Rule) -> None:
        self.db.execute(
            "INSERT INTO profile_rules (profile_id, kind, value) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (profile_id, rule.kind, rule.value),
        )

    def remove_rule(self, profile_id: int, rule: Rule) -> None:
        self.db.execute(
            "DELETE FROM profile_rules WHERE profile_id = ? AND kind = ? AND value = ?",
            (profile_id, rule.kind, rule.value),
        )

    def subscribe(self, profile_id: int, email: str | None, frequency: str = "daily") -> None:
        if email is None:
            self.db.execute("DELETE FROM subscriptions WHERE profile_id = ?", (profile_id,))
            return
        self.db.execute(
            "INSERT INTO subscriptions (profile_id, email, frequency, created_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (profile_id) "
            "DO UPDATE SET email = excluded.email, frequency = excluded.frequency",
            (profile_id, email, frequency, now()),
        )

    def claim_digest(
        self, profile_id: int, period: str, message_id: str, papers: int
    ) -> str | None:
        claimed = self.db.execute(
            "INSERT INTO digests (profile_id, period, message_id, status, papers, updated_at) "
            "VALUES (?, ?, ?, 'sending', ?, ?) ON CONFLICT (profile_id, period) DO NOTHING "
            "RETURNING message_id",
            (profile_id, period, message_id, papers, now()),
        ).fetchone()
        if claimed is not None:
            return message_id
        row = self.db.execute(
            "SELECT status, message_id FROM digests WHERE profile_id = ? AND period = ?",
            (profile_id, period),
        ).fetchone()
        return str(row[1]) if row[0] == "sending" else None

    def save_profile_model(self, profile_id: int, key: bytes, model: bytes) -> None:
        self.db.execute(
            "INSERT INTO profile_models (profile_id, key, model, fitted_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (profile_id) DO UPDATE SET key = excluded.key, model = excluded.model, "
            "fitted_at = excluded.fitted_at",
            (profile_id, key, model, now()),
        )

    def finish_digest(self, profile_id: int, period: str, status: str = "sent") -> None:
        self.db.execute(
            "UPDATE digests SET status = ?, updated_at = ? WHERE profile_id = ? AND period = ?",
            (status, now(), profile_id, period),
        )

    def set_sync_state(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM sync_state WHERE key = ?", (key,))
            return
        self.db.execute(
            "INSERT INTO sync_state (key, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "updated_at = excluded.updated_at",
            (key, value, now()),
        )

    def take_lease(self, name: str, holder: str, seconds: float, now: float) -> bool:
        self.db.execute(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "expires_at = excluded.expires_at "
            "WHERE leases.holder = excluded.holder OR leases.expires_at <= ?",
            (name, holder, now + seconds, now),
        )
        row = self.db.execute("SELECT holder FROM leases WHERE name = ?", (name,)).fetchone()
        return bool(row and row[0] == holder)

    def release_lease(self, name: str, holder: str) -> None:
        self.db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    def save_vectors(
        self, model: str, paper_ids: Sequence[int], hashes: Sequence[bytes], vectors: np.ndarray
    ) -> None:
        quantized, scales = quantize(vectors)
        self.db.executemany(
            "INSERT INTO embeddings (model, paper_id, content_hash, vector, scale) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (model, paper_id) DO UPDATE SET "
            "content_hash = excluded.content_hash, vector = excluded.vector, "
            "scale = excluded.scale",
            (
                (model, int(pid), h, q.tobytes(), float(sc))
                for pid, h, q, sc in zip(paper_ids, hashes, quantized, scales, strict=True)
            ),
        )


__all__ = ["SQLWriter"]
