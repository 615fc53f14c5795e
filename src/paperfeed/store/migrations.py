"""Numbered schema migrations for the SQLite store.

Each is applied in one transaction together with its row in ``_migrations``. Never edit a
released migration: add the next number.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from paperfeed.errors import StoreError

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[int, str, Migration]] = []


def migration(number: int, name: str) -> Callable[[Migration], Migration]:
    def register(fn: Migration) -> Migration:
        MIGRATIONS.append((number, name, fn))
        return fn

    return register


@migration(1, "papers, authors, organizations, profiles, full-text index")
def m001_core(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        CREATE TABLE papers (
            id INTEGER PRIMARY KEY,
            title TEXT,
            title_raw TEXT,
            abstract TEXT,
            abstract_raw TEXT,
            authors_text TEXT,
            categories TEXT NOT NULL DEFAULT '[]',
            published TEXT,
            updated TEXT,
            listed TEXT,
            links TEXT NOT NULL DEFAULT '{}',
            comment TEXT,
            journal_ref TEXT,
            license TEXT,
            venue TEXT,
            year INTEGER,
            arxiv_version INTEGER,
            versions TEXT NOT NULL DEFAULT '[]',
            provenance TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            modified_at TEXT NOT NULL
        );
        CREATE INDEX papers_listed ON papers(listed);
        CREATE INDEX papers_published ON papers(published);

        -- Ids that name exactly one paper: arxiv, doi, s2, openalex.
        CREATE TABLE paper_ids (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            paper_id INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            PRIMARY KEY (kind, value)
        ) WITHOUT ROWID;
        CREATE INDEX paper_ids_paper ON paper_ids(paper_id);

        -- Hashes of folded titles and abstracts: candidates for a match, never proof.
        CREATE TABLE paper_keys (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            paper_id INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            PRIMARY KEY (kind, value, paper_id)
        ) WITHOUT ROWID;

        CREATE TABLE authors (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            key TEXT NOT NULL UNIQUE
        );
        CREATE TABLE organizations (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            key TEXT NOT NULL UNIQUE
        );
        CREATE TABLE paper_authors (
            paper_id INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            author_id INTEGER NOT NULL REFERENCES authors(id),
            name TEXT NOT NULL,
            PRIMARY KEY (paper_id, position)
        ) WITHOUT ROWID;
        CREATE INDEX paper_authors_author ON paper_authors(author_id);
        CREATE TABLE paper_author_orgs (
            paper_id INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            org_id INTEGER NOT NULL REFERENCES organizations(id),
            PRIMARY KEY (paper_id, position, org_id)
        ) WITHOUT ROWID;
        CREATE INDEX paper_author_orgs_org ON paper_author_orgs(org_id);

        -- Every source record stored, by content hash: re-ingesting it changes nothing.
        CREATE TABLE source_records (
            hash TEXT PRIMARY KEY,
            paper_id INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            location TEXT NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE profiles (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            description TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE profile_papers (
            profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
            paper_id INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            relation TEXT NOT NULL DEFAULT 'positive',
            added_at TEXT NOT NULL,
            PRIMARY KEY (profile_id, paper_id)
        ) WITHOUT ROWID;

        CREATE VIRTUAL TABLE papers_fts USING fts5(
            title, authors_text, abstract,
            content='papers', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        -- New rows are indexed by the writer in bulk (twice as fast as a trigger per row);
        -- updates and deletes keep the index in step through triggers.
        CREATE TRIGGER papers_fts_delete AFTER DELETE ON papers BEGIN
            INSERT INTO papers_fts(papers_fts, rowid, title, authors_text, abstract)
            VALUES ('delete', old.id, old.title, old.authors_text, old.abstract);
        END;
        CREATE TRIGGER papers_fts_update AFTER UPDATE ON papers
        WHEN old.title IS NOT new.title OR old.authors_text IS NOT new.authors_text
             OR old.abstract IS NOT new.abstract
        BEGIN
            INSERT INTO papers_fts(papers_fts, rowid, title, authors_text, abstract)
            VALUES ('delete', old.id, old.title, old.authors_text, old.abstract);
            INSERT INTO papers_fts(rowid, title, authors_text, abstract)
            VALUES (new.id, new.title, new.authors_text, new.abstract);
        END;
        """,
    )


@migration(2, "paper embeddings, one row per model and paper")
def m002_embeddings(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        -- vector = int8 values * scale; content_hash says which text it was made from.
        CREATE TABLE embeddings (
            model TEXT NOT NULL,
            paper_id INTEGER NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            content_hash BLOB NOT NULL,
            vector BLOB NOT NULL,
            scale REAL NOT NULL,
            PRIMARY KEY (model, paper_id)
        ) WITHOUT ROWID;
        CREATE INDEX embeddings_paper ON embeddings(paper_id);
        """,
    )


@migration(3, "full-text vocabulary, for document frequencies")
def m003_fts_vocabulary(db: sqlite3.Connection) -> None:
    db.execute("CREATE VIRTUAL TABLE papers_fts_vocab USING fts5vocab(papers_fts, 'row')")


@migration(4, "accounts, sessions, profile owners and rules, feed tokens, digests")
def m004_accounts(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        -- Only a hash of the cookie's token is kept: a stolen database opens no session.
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            csrf TEXT NOT NULL,
            expires_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX sessions_user ON sessions(user_id);
        -- No owner: a shared profile (an institution's, a seed's), read-only on the web.
        ALTER TABLE profiles ADD COLUMN owner_id INTEGER REFERENCES users(id) ON DELETE CASCADE;
        ALTER TABLE profiles ADD COLUMN feed_token TEXT;
        CREATE UNIQUE INDEX profiles_feed_token ON profiles(feed_token);
        CREATE INDEX profiles_owner ON profiles(owner_id);
        CREATE TABLE profile_rules (
            profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN
                ('include', 'exclude', 'category', 'author', 'organization', 'query')),
            value TEXT NOT NULL,
            PRIMARY KEY (profile_id, kind, value)
        ) WITHOUT ROWID;
        CREATE TABLE subscriptions (
            profile_id INTEGER PRIMARY KEY REFERENCES profiles(id) ON DELETE CASCADE,
            email TEXT NOT NULL,
            frequency TEXT NOT NULL CHECK (frequency IN ('daily', 'weekly')),
            created_at TEXT NOT NULL
        );
        -- One row per digest: claimed ('sending') before the SMTP call, 'sent' after it.
        CREATE TABLE digests (
            profile_id INTEGER NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
            period TEXT NOT NULL,
            message_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'empty')),
            papers INTEGER NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (profile_id, period)
        ) WITHOUT ROWID;
        CREATE INDEX profile_papers_votes ON profile_papers(relation, paper_id);
        """,
    )


@migration(5, "profile models")
def m005_profile_models(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        -- A profile's fitted ranking model, kept so that a new process (a cron digest run)
        -- need not fit it again; ``key`` names what it was fitted on.
        CREATE TABLE profile_models (
            profile_id INTEGER PRIMARY KEY REFERENCES profiles(id) ON DELETE CASCADE,
            key BLOB NOT NULL,
            model BLOB NOT NULL,
            fitted_at TEXT NOT NULL
        );
        """,
    )


@migration(6, "staged writes: long writes in short transactions, and how to undo them")
def m006_staged_writes(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        -- A long write (an ingest) under way or killed; its changes are undone unless it ends.
        CREATE TABLE staged_runs (
            id INTEGER PRIMARY KEY,
            label TEXT NOT NULL,
            started_at TEXT NOT NULL
        );
        -- Statements that take a run's changes back, played from the last one.
        CREATE TABLE staged_undo (
            seq INTEGER PRIMARY KEY,
            run INTEGER NOT NULL,
            statement TEXT NOT NULL
        );
        """,
    )


@migration(7, "sync: watermarks, checkpoints and step outcomes; the lease one sync holds")
def m007_sync(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        -- What the daily sync keeps: a source's watermark, a harvest's resumption token,
        -- each step's last outcome (JSON).
        CREATE TABLE sync_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID;
        -- One holder at a time; a lease not renewed by its expiry is free again.
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires_at REAL NOT NULL
        ) WITHOUT ROWID;
        """,
    )


@migration(8, "venues: a conference's submissions, reviewers, their expertise, the assignment")
def m008_venues(db: sqlite3.Connection) -> None:
    run_script(
        db,
        """
        -- A conference or journal a chair matches reviewers for; ``settings`` (JSON): k,
        -- max_load, conflict_years, fair; ``report`` (JSON): the last assignment's summary,
        -- the conflicts it left out and its weakest papers.
        CREATE TABLE venues (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            settings TEXT NOT NULL DEFAULT '{}',
            report TEXT,
            created_at TEXT NOT NULL
        );
        -- Submissions are kept here, never among the papers: they are confidential and
        -- must not reach anyone's feed or search. ``paper``: JSON (title, abstract,
        -- authors with affiliations, emails); the vector of ``model``, float32.
        CREATE TABLE venue_submissions (
            venue_id INTEGER NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
            sid TEXT NOT NULL,
            position INTEGER NOT NULL,
            paper TEXT NOT NULL,
            model TEXT,
            vector BLOB,
            PRIMARY KEY (venue_id, sid)
        );
        -- ``details``: JSON (email, institution, max_load, conflicts, bids); ``token``
        -- opens the reviewer's own expertise page; ``papers``: JSON paper ids the
        -- reviewer chose (NULL: found by the author disambiguation).
        CREATE TABLE venue_reviewers (
            venue_id INTEGER NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            position INTEGER NOT NULL,
            details TEXT NOT NULL,
            token TEXT NOT NULL UNIQUE,
            papers TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (venue_id, name)
        );
        CREATE TABLE venue_assignments (
            venue_id INTEGER NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
            sid TEXT NOT NULL,
            reviewer TEXT NOT NULL,
            affinity REAL NOT NULL,
            why TEXT NOT NULL,
            PRIMARY KEY (venue_id, sid, reviewer)
        );
        """,
    )


def apply(db: sqlite3.Connection) -> list[int]:
    """Apply every migration not yet applied; returns the numbers applied."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations "
        "(id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in db.execute("SELECT id FROM _migrations")}
    known = {number for number, _, _ in MIGRATIONS}
    if done - known:
        raise StoreError(
            f"database has migrations {sorted(done - known)} that this paperfeed does not know: "
            "it was written by a newer version"
        )
    applied = []
    for number, name, fn in sorted(MIGRATIONS, key=lambda m: m[0]):
        if number in done:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            fn(db)
            db.execute(
                "INSERT INTO _migrations (id, name, applied_at) VALUES (?, ?, ?)",
                (number, name, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        applied.append(number)
    return applied


def run_script(db: sqlite3.Connection, script: str) -> None:
    """Run several statements without ``executescript``'s implicit COMMIT."""
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            db.execute(current)
            current = ""
    if current.strip():
        db.execute(current)
