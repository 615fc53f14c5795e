"""What every SQL backend reads the same way: the queries both SQLite and PostgreSQL run
as written (``?`` parameters), so that a backend adds only its connections, its full-text
search and its vectors."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import numpy as np
import orjson

from paperfeed.errors import NotFound
from paperfeed.models import Author, Paper, Profile, Rule, SearchFilters, User
from paperfeed.normalize import name_key, normalize_doi, parse_arxiv_id, title_key
from paperfeed.store.base import Store
from paperfeed.store.fts import fts_terms
from paperfeed.store.sql_rows import (
    SQLITE_CATEGORIES,
    Database,
    chunks,
    filter_sql,
    load_papers,
    now,
    where_in,
)
from paperfeed.store.sql_venues import VenueReads

#: Papers with a query's words that keyword search ranks at most: the newest this many.
#: Ranking reads every match (BM25 from FTS5's index on SQLite, ``ts_rank`` of each
#: paper's tsvector on PostgreSQL): at a million papers a query of common words has
#: hundreds of thousands of matches, a tenth of a second to seconds to rank.
RANKED_MOST = 1_000


def together(shares: Sequence[float]) -> float:
    """The share of papers guessed to hold every one of a query's words, from each word's:
    halfway, geometrically, between the words taken as independent and the rarest word's
    share. The words of one query are seldom independent: "neural network" is in 5 times
    the papers independence gives (docs/benchmarks.md)."""
    return math.sqrt(math.prod(shares) * min(shares))


class SQLStore(VenueReads, Store):
    """The reads of a store whose backend speaks SQL."""

    #: How the backend reads a paper's categories as rows (see :func:`filter_sql`).
    categories_sql = SQLITE_CATEGORIES
    #: Matches of a keyword query ranked at most, the newest (:data:`RANKED_MOST`).
    ranked_most = RANKED_MOST
    #: The number of papers, read once until the next write changes it.
    _papers_counted: int | None = None

    @property
    @abstractmethod
    def _read(self) -> Database:
        """This thread's connection for reading."""

    @abstractmethod
    def _match(
        self, terms: list[str], every: bool, filters: SearchFilters, limit: int
    ) -> list[tuple[int, float]]:
        """``(paper id, score)`` of the papers with every one (``every``) or any of the
        quoted ``terms`` (words or phrases), best first."""

    @abstractmethod
    def tables(self) -> set[str]:
        """The names of the tables in the store's schema."""

    @abstractmethod
    def _document_frequency(self, term: str) -> int:
        """How many papers hold a quoted word (0 when the backend cannot tell)."""

    def _papers_changed(self) -> None:
        self._papers_counted = None

    # -- reads ---------------------------------------------------------------------------

    def resolve(self, ref: str) -> int:
        """The internal id of a paper named by any of its ids."""
        ref = ref.strip()
        kind, _, value = ref.partition(":")
        db = self._read
        if kind == "pf" and value.isdigit():
            row = db.execute("SELECT id FROM papers WHERE id = ?", (int(value),)).fetchone()
            if row:
                return int(row[0])
        candidates: list[tuple[str, str]] = []
        if kind in ("s2", "openalex") and value:
            candidates.append((kind, value))
        if (doi := normalize_doi(ref)) is not None:
            candidates.append(("doi", doi))
        if (arxiv := parse_arxiv_id(ref)) is not None:
            candidates.append(("arxiv", arxiv[0]))
        for k, v in candidates:
            row = db.execute(
                "SELECT paper_id FROM paper_ids WHERE kind = ? AND value = ?", (k, v)
            ).fetchone()
            if row:
                return int(row[0])
        raise NotFound(f"no paper with id {ref!r}")

    def get_paper(self, ref: str) -> Paper:
        return self._papers([self.resolve(ref)])[0]

    def iter_papers(self, batch_size: int = 1000) -> Iterator[Paper]:
        last = 0
        while True:
            ids = [
                r[0]
                for r in self._read.execute(
                    "SELECT id FROM papers WHERE id > ? ORDER BY id LIMIT ?", (last, batch_size)
                )
            ]
            if not ids:
                return
            yield from self._papers(ids)
            last = ids[-1]

    def _papers(self, ids: Sequence[int], max_authors: int | None = None) -> list[Paper]:
        """Papers in the order asked, read in one pass; ids that do not exist are left out."""
        loaded = load_papers(self._read, ids, max_authors) if ids else {}
        return [
            Paper(
                id=i,
                authors=[Author(aid, name, orgs) for aid, name, orgs in loaded[i].authors],
                ids=loaded[i].ids,
                more_authors=loaded[i].more_authors,
                **loaded[i].fields,
            )
            for i in ids
            if i in loaded
        ]

    def stats(self) -> dict[str, Any]:
        db = self._read

        def count(table: str) -> int:
            return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

        listed = db.execute("SELECT min(listed), max(listed) FROM papers").fetchone()
        return {
            "papers": count("papers"),
            "authors": count("authors"),
            "organizations": count("organizations"),
            "profiles": count("profiles"),
            "source_records": count("source_records"),
            "with_arxiv_id": int(
                db.execute("SELECT count(*) FROM paper_ids WHERE kind = 'arxiv'").fetchone()[0]
            ),
            "listed_from": listed[0],
            "listed_to": listed[1],
            "embedded": dict(
                db.execute("SELECT model, count(*) FROM embeddings GROUP BY model").fetchall()
            ),
        }

    def profiles(self) -> list[Profile]:
        return self._profiles("TRUE", ())

    def _profiles(self, where: str, params: tuple[Any, ...]) -> list[Profile]:
        return [
            Profile(*row)
            for row in self._read.execute(
                "SELECT p.id, p.name, p.kind, p.description, count(pp.paper_id), p.owner_id, "
                "p.feed_token FROM profiles p LEFT JOIN profile_papers pp "
                "ON pp.profile_id = p.id AND pp.relation IN ('positive', 'up', 'save') "
                f"WHERE {where} GROUP BY p.id ORDER BY p.name",
                params,
            )
        ]

    def profile(self, name: str) -> Profile:
        found = self._profiles("p.name = ?", (name,))
        if not found:
            raise NotFound(f"no profile called {name!r}")
        return found[0]

    def profiles_of(self, owner_id: int | None) -> list[Profile]:
        if owner_id is None:
            return self._profiles("p.owner_id IS NULL", ())
        return self._profiles("p.owner_id = ?", (owner_id,))

    def profile_by_token(self, token: str) -> Profile:
        found = self._profiles("p.feed_token = ?", (token,)) if token else []
        if not found:
            raise NotFound("no feed at that address")
        return found[0]

    def rules(self, name: str) -> list[Rule]:
        return [
            Rule(kind, value)
            for kind, value in self._read.execute(
                "SELECT r.kind, r.value FROM profile_rules r JOIN profiles p "
                "ON p.id = r.profile_id WHERE p.name = ? ORDER BY r.kind, r.value",
                (name,),
            )
        ]

    def user(self, name_or_email: str) -> User | None:
        row = self._read.execute(
            "SELECT id, name, email, password_hash FROM users "
            "WHERE lower(name) = lower(?) OR lower(email) = lower(?)",
            (name_or_email.strip(), name_or_email.strip()),
        ).fetchone()
        return User(*row) if row else None

    def session(self, token_hash: str) -> tuple[User, str] | None:
        row = self._read.execute(
            "SELECT u.id, u.name, u.email, u.password_hash, s.csrf FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
            (token_hash, now()),
        ).fetchone()
        return (User(*row[:4]), row[4]) if row else None

    def subscriptions(self) -> list[tuple[Profile, str, str]]:
        subscribed = "p.id IN (SELECT profile_id FROM subscriptions)"
        profiles = {p.id: p for p in self._profiles(subscribed, ())}  # in name order
        rows = {
            pid: (email, frequency)
            for pid, email, frequency in self._read.execute(
                "SELECT profile_id, email, frequency FROM subscriptions"
            )
        }
        return [(p, *rows[pid]) for pid, p in profiles.items() if pid in rows]

    def subscription(self, profile_id: int) -> tuple[str, str] | None:
        row = self._read.execute(
            "SELECT email, frequency FROM subscriptions WHERE profile_id = ?", (profile_id,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def signers(self, paper_ids: Collection[int]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for key, n in where_in(
            self._read,
            "SELECT a.key, count(*) FROM paper_authors pa JOIN authors a ON a.id = pa.author_id "
            "WHERE pa.paper_id IN ({}) GROUP BY a.key",
            (),
            sorted(paper_ids),
        ):
            counts[key] = counts.get(key, 0) + int(n)  # summed over chunks of ids
        return counts

    def profile_model(self, profile_id: int, key: bytes) -> bytes | None:
        row = self._read.execute(
            "SELECT model FROM profile_models WHERE profile_id = ? AND key = ?",
            (profile_id, key),
        ).fetchone()
        return bytes(row[0]) if row else None

    def digest_status(self, profile_id: int, period: str) -> str | None:
        row = self._read.execute(
            "SELECT status FROM digests WHERE profile_id = ? AND period = ?",
            (profile_id, period),
        ).fetchone()
        return row[0] if row else None

    def author_ids(self, name: str) -> set[int]:
        return {
            int(r[0])
            for r in self._read.execute("SELECT id FROM authors WHERE key = ?", (name_key(name),))
        }

    def author_counts(self, keys: Collection[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for chunk in chunks(sorted(keys)):
            marks = ",".join("?" * len(chunk))
            counts.update(
                self._read.execute(
                    "SELECT a.key, count(*) FROM authors a JOIN paper_authors pa "
                    f"ON pa.author_id = a.id WHERE a.key IN ({marks}) GROUP BY a.key",
                    list(chunk),
                ).fetchall()
            )
        return counts

    def paper_count(self) -> int:
        return self._paper_count()

    def sync_state(self, prefix: str = "") -> dict[str, str]:
        rows = self._read.execute(
            "SELECT key, value FROM sync_state WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
        )
        return dict(rows.fetchall())

    def lease_holder(self, name: str, now: float) -> str | None:
        row = self._read.execute(
            "SELECT holder FROM leases WHERE name = ? AND expires_at > ?", (name, now)
        ).fetchone()
        return row[0] if row else None

    def stored_records(self, hashes: Sequence[str]) -> set[str]:
        return {
            row[0]
            for row in where_in(
                self._read, "SELECT hash FROM source_records WHERE hash IN ({})", (), hashes
            )
        }

    def latest_day(self) -> str | None:
        row = self._read.execute("SELECT max(listed) FROM papers").fetchone()
        return row[0][:10] if row and row[0] else None

    def listing_days(self, limit: int = 30, until: str | None = None) -> list[tuple[str, int]]:
        return [
            (day, int(n))
            for day, n in self._read.execute(
                "SELECT listed, count(*) FROM papers WHERE listed IS NOT NULL AND listed <= ? "
                "GROUP BY listed ORDER BY listed DESC LIMIT ?",
                (until or "9999", limit),
            )
        ]

    def votes(self, ids: Sequence[int]) -> dict[int, int]:
        counts: dict[int, int] = {}
        for chunk in chunks(list(ids)):
            marks = ",".join("?" * len(chunk))
            counts.update(
                self._read.execute(
                    "SELECT paper_id, count(*) FROM profile_papers "
                    f"WHERE relation IN ('up', 'save') AND paper_id IN ({marks}) "
                    "GROUP BY paper_id",
                    list(chunk),
                ).fetchall()
            )
        return counts

    def profile_papers(self, name: str) -> list[Paper]:
        row = self._read.execute("SELECT id FROM profiles WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no profile called {name!r}")
        ids = [
            r[0]
            for r in self._read.execute(
                "SELECT paper_id FROM profile_papers WHERE profile_id = ? "
                "AND relation IN ('positive', 'up', 'save') ORDER BY paper_id",
                row,
            )
        ]
        return self._papers(ids) if ids else []

    def papers(self, ids: Sequence[int], max_authors: int | None = None) -> list[Paper]:
        return self._papers(ids, max_authors)

    def written_by(self, authors: Collection[int], papers: Collection[int]) -> set[int]:
        if not authors or not papers:
            return set()
        marks = ",".join("?" * len(authors))
        return {
            int(row[0])
            for row in where_in(
                self._read,
                f"SELECT DISTINCT paper_id FROM paper_authors WHERE author_id IN ({marks}) "
                "AND paper_id IN ({})",
                tuple(authors),
                list(papers),
            )
        }

    # -- search ---------------------------------------------------------------------------

    def keyword_search(
        self, query: str, filters: SearchFilters, limit: int
    ) -> list[tuple[int, float]]:
        hits = self._ranked(query, filters, limit)
        # A paper whose title the query is goes first, even when its words are in so many
        # papers that only the newest were ranked (:attr:`ranked_most`).
        key = title_key(query)
        titled = self._titled(key, filters) if key and limit > 0 else []
        if not titled:
            return hits
        best, known = (hits[0][1] if hits else 0.0), set(titled)
        return ([(pid, best) for pid in titled] + [h for h in hits if h[0] not in known])[:limit]

    def _ranked(self, query: str, filters: SearchFilters, limit: int) -> list[tuple[int, float]]:
        terms = fts_terms(query)
        if not terms or limit <= 0:
            return []
        # Papers with every word first: a selective query, fast at any corpus size.
        hits = self._match(terms, True, filters, limit)
        if len(terms) == 1 or len(hits) >= limit:
            return hits
        # Then papers with some of the words. Words in many papers weigh little in BM25 yet
        # make the OR query score a large part of the corpus: they are left out.
        common = max(2000, self._paper_count() // 100)
        by_df = sorted(terms, key=self._document_frequency)
        selective = [t for t in by_df if 0 < self._document_frequency(t) <= common]
        if not selective:
            if hits:  # every word is common, and some papers have them all: enough
                return hits
            selective = by_df[:2]
        seen = {pid for pid, _ in hits}
        more = self._match(selective, False, filters, limit)
        return hits + [h for h in more if h[0] not in seen][: limit - len(hits)]

    def _rarest(self, terms: list[str], most: int) -> list[str] | None:
        """The rarest of three ``terms`` or more, as few as are guessed together to be in no
        more than ``most`` papers (:func:`together`); None when no fewer than all are, or for
        a phrase (whose share is not known). The papers with those few are fewer to test
        for the other words than the other words' lists are to read (:meth:`_match` of
        each backend)."""
        if len(terms) < 3 or any(" " in t for t in terms):
            return None
        papers = max(1, self._paper_count())
        rarest = sorted(terms, key=self._document_frequency)
        shares = self._shares(rarest)
        for k in range(1, len(rarest)):
            if papers * together(shares[:k]) <= most:
                return rarest[:k]
        return None

    def _shares(self, terms: list[str]) -> list[float]:
        """Each word's share of the papers, by its document frequency."""
        papers = max(1, self._paper_count())
        return [self._document_frequency(t) / papers for t in terms]

    def titled(self, query: str, filters: SearchFilters) -> list[int]:
        key = title_key(query)
        return self._titled(key, filters) if key else []

    def _titled(self, key: str, filters: SearchFilters) -> list[int]:
        """The papers whose title key is ``key`` that pass the filters, oldest first."""
        where, params = filter_sql(filters, self.categories_sql)
        sql = (
            "SELECT p.id FROM paper_keys k JOIN papers p ON p.id = k.paper_id "
            "WHERE k.kind = 'title' AND k.value = ? "
            + (f"AND {where} " if where else "")
            + "ORDER BY p.id"
        )
        return [int(r[0]) for r in self._read.execute(sql, (key, *params))]

    def _paper_count(self) -> int:
        if self._papers_counted is None:
            row = self._read.execute("SELECT count(*) FROM papers").fetchone()
            self._papers_counted = int(row[0])
        return self._papers_counted

    def filter_ids(self, filters: SearchFilters) -> np.ndarray:
        where, params = filter_sql(filters, self.categories_sql)
        sql = "SELECT p.id FROM papers p" + (f" WHERE {where}" if where else "") + " ORDER BY p.id"
        return np.fromiter((r[0] for r in self._read.execute(sql, params)), dtype=np.int64)

    def filter_summary(self, filters: SearchFilters) -> tuple[int, int]:
        where, params = filter_sql(filters, self.categories_sql)
        sql = "SELECT count(*), coalesce(max(p.id), 0) FROM papers p"
        count, last = self._read.execute(
            sql + (f" WHERE {where}" if where else ""), params
        ).fetchone()
        return int(count), int(last)

    # -- vectors --------------------------------------------------------------------------

    def embedding_inputs(
        self, model: str, batch_size: int = 5000
    ) -> Iterator[list[tuple[int, str | None, str | None, bytes | None]]]:
        last = 0
        while True:
            rows = self._read.execute(
                "SELECT p.id, p.title, p.abstract, e.content_hash FROM papers p "
                "LEFT JOIN embeddings e ON e.model = ? AND e.paper_id = p.id "
                "WHERE p.id > ? ORDER BY p.id LIMIT ?",
                (model, last, batch_size),
            ).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def lexical_inputs(
        self, batch_size: int = 5000
    ) -> Iterator[list[tuple[int, str | None, str | None, str | None, list[str]]]]:
        last = 0
        while True:
            rows = self._read.execute(
                "SELECT id, title, abstract, comment, categories FROM papers "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (last, batch_size),
            ).fetchall()
            if not rows:
                return
            yield [(i, t, a, c, orjson.loads(cats)) for i, t, a, c, cats in rows]
            last = rows[-1][0]

    def profile_relations(self, name: str) -> dict[int, str]:
        row = self._read.execute("SELECT id FROM profiles WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no profile called {name!r}")
        return dict(
            self._read.execute(
                "SELECT paper_id, relation FROM profile_papers WHERE profile_id = ?", row
            ).fetchall()
        )
