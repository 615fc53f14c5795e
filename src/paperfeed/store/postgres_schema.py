"""The store's schema in PostgreSQL's dialect: the SQLite migrations' tables, with a weighted
``tsvector`` column for keyword search and pgvector for the embeddings.

Numbered as the SQLite migrations are and applied the same way (each in one transaction
with its row in ``_migrations``), under an advisory lock so that several processes starting
at once migrate once. Never edit a released migration: add the next number.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from paperfeed.errors import StoreError

#: The advisory lock migrations are applied under (any number no other code uses).
MIGRATION_LOCK = 0x70617065  # "pape"

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "papers, authors, organizations, profiles, full-text index",
        """
        CREATE TABLE papers (
            id BIGSERIAL PRIMARY KEY,
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
            modified_at TEXT NOT NULL,
            -- Keyword search: title (A) > authors (B) > abstract (C), English stems.
            search tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('english', coalesce(title, '')), 'A')
                || setweight(to_tsvector('english', coalesce(authors_text, '')), 'B')
                || setweight(to_tsvector('english', coalesce(abstract, '')), 'C')
            ) STORED
        );
        CREATE INDEX papers_listed ON papers(listed);
        CREATE INDEX papers_published ON papers(published);
        CREATE INDEX papers_search ON papers USING gin(search);
        CREATE TABLE paper_ids (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            paper_id BIGINT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            PRIMARY KEY (kind, value)
        );
        CREATE INDEX paper_ids_paper ON paper_ids(paper_id);
        CREATE TABLE paper_keys (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            paper_id BIGINT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            PRIMARY KEY (kind, value, paper_id)
        );
        CREATE TABLE authors (
            id BIGSERIAL PRIMARY KEY,
            name TEXT NOT NULL,
            key TEXT NOT NULL UNIQUE
        );
        CREATE TABLE organizations (
            id BIGSERIAL PRIMARY KEY,
            name TEXT NOT NULL,
            key TEXT NOT NULL UNIQUE
        );
        CREATE TABLE paper_authors (
            paper_id BIGINT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            author_id BIGINT NOT NULL REFERENCES authors(id),
            name TEXT NOT NULL,
            PRIMARY KEY (paper_id, position)
        );
        CREATE INDEX paper_authors_author ON paper_authors(author_id);
        CREATE TABLE paper_author_orgs (
            paper_id BIGINT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            org_id BIGINT NOT NULL REFERENCES organizations(id),
            PRIMARY KEY (paper_id, position, org_id)
        );
        CREATE INDEX paper_author_orgs_org ON paper_author_orgs(org_id);
        CREATE TABLE source_records (
            hash TEXT PRIMARY KEY,
            paper_id BIGINT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            location TEXT NOT NULL
        );
        CREATE TABLE profiles (
            id BIGSERIAL PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            description TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE profile_papers (
            profile_id BIGINT NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
            paper_id BIGINT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            relation TEXT NOT NULL DEFAULT 'positive',
            added_at TEXT NOT NULL,
            PRIMARY KEY (profile_id, paper_id)
        );
        """,
    ),
    (
        2,
        "paper embeddings, one row per model and paper",
        """
        CREATE EXTENSION IF NOT EXISTS vector;
        -- The vector as SQLite gives it back (int8 values times a scale, made unit again),
        -- so both backends rank with the same numbers; content_hash: the text it was made of.
        CREATE TABLE embeddings (
            model TEXT NOT NULL,
            paper_id BIGINT NOT NULL REFERENCES papers(id) ON DELETE CASCADE,
            content_hash BYTEA NOT NULL,
            vector vector NOT NULL,
            PRIMARY KEY (model, paper_id)
        );
        CREATE INDEX embeddings_paper ON embeddings(paper_id);
        """,
    ),
    # SQLite keeps a vocabulary table for document frequencies; the GIN index answers them.
    (3, "full-text vocabulary, for document frequencies", ""),
    (
        4,
        "accounts, sessions, profile owners and rules, feed tokens, digests",
        """
        CREATE TABLE users (
            id BIGSERIAL PRIMARY KEY,
            name TEXT NOT NULL,
            email TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX users_name ON users (lower(name));
        CREATE UNIQUE INDEX users_email ON users (lower(email));
        CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            csrf TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE INDEX sessions_user ON sessions(user_id);
        ALTER TABLE profiles ADD COLUMN owner_id BIGINT REFERENCES users(id) ON DELETE CASCADE;
        ALTER TABLE profiles ADD COLUMN feed_token TEXT;
        CREATE UNIQUE INDEX profiles_feed_token ON profiles(feed_token);
        CREATE INDEX profiles_owner ON profiles(owner_id);
        CREATE TABLE profile_rules (
            profile_id BIGINT NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN
                ('include', 'exclude', 'category', 'author', 'organization', 'query')),
            value TEXT NOT NULL,
            PRIMARY KEY (profile_id, kind, value)
        );
        CREATE TABLE subscriptions (
            profile_id BIGINT PRIMARY KEY REFERENCES profiles(id) ON DELETE CASCADE,
            email TEXT NOT NULL,
            frequency TEXT NOT NULL CHECK (frequency IN ('daily', 'weekly')),
            created_at TEXT NOT NULL
        );
        CREATE TABLE digests (
            profile_id BIGINT NOT NULL REFERENCES profiles(id) ON DELETE CASCADE,
            period TEXT NOT NULL,
            message_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'empty')),
            papers INTEGER NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (profile_id, period)
        );
        CREATE INDEX profile_papers_votes ON profile_papers(relation, paper_id);
        """,
    ),
    (
        5,
        "profile models",
        """
        CREATE TABLE profile_models (
            profile_id BIGINT PRIMARY KEY REFERENCES profiles(id) ON DELETE CASCADE,
            key BYTEA NOT NULL,
            model BYTEA NOT NULL,
            fitted_at TEXT NOT NULL
        );
        """,
    ),
    # A long write is one transaction here: other writers pass it (MVCC) and a killed one
    # is rolled back by the server, so there is nothing to keep for undoing it.
    (6, "staged writes: long writes in short transactions, and how to undo them", ""),
    (
        7,
        "sync: watermarks, checkpoints and step outcomes; the lease one sync holds",
        """
        CREATE TABLE sync_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        );
        """,
    ),
    (
        8,
        "what SQLite keeps in files beside the database: the signing secret, fitted models",
        """
        CREATE TABLE kept (
            name TEXT PRIMARY KEY,
            value BYTEA NOT NULL,
            kept_at TEXT NOT NULL
        );
        """,
    ),
    (
        9,
        "venues: a conference's submissions, reviewers, their expertise, the assignment",
        """
        CREATE TABLE venues (
            id BIGSERIAL PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            owner_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
            settings TEXT NOT NULL DEFAULT '{}',
            report TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE venue_submissions (
            venue_id BIGINT NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
            sid TEXT NOT NULL,
            position INTEGER NOT NULL,
            paper TEXT NOT NULL,
            model TEXT,
            vector BYTEA,
            PRIMARY KEY (venue_id, sid)
        );
        CREATE TABLE venue_reviewers (
            venue_id BIGINT NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            position INTEGER NOT NULL,
            details TEXT NOT NULL,
            token TEXT NOT NULL UNIQUE,
            papers TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (venue_id, name)
        );
        CREATE TABLE venue_assignments (
            venue_id BIGINT NOT NULL REFERENCES venues(id) ON DELETE CASCADE,
            sid TEXT NOT NULL,
            reviewer TEXT NOT NULL,
            affinity DOUBLE PRECISION NOT NULL,
            why TEXT NOT NULL,
            PRIMARY KEY (venue_id, sid, reviewer)
        );
        """,
    ),
    (
        10,
        "keyword search's word statistics: the 10,000 commonest words of the papers' text",
        # ANALYZE keeps each tsvector column's commonest words with their share of rows:
        # the planner's estimate of a query's matches, and keyword search's document
        # frequencies. The default (1,000 words) stops at words in ~2% of papers.
        "ALTER TABLE papers ALTER COLUMN search SET STATISTICS 1000; ANALYZE papers;",
    ),
]


def apply(db: psycopg.Connection) -> list[int]:
    """Apply every migration not yet applied; returns the numbers applied."""
    db.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations "
            "(id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in db.execute("SELECT id FROM _migrations")}
        known = {number for number, _, _ in MIGRATIONS}
        if done - known:
            raise StoreError(
                f"database has migrations {sorted(done - known)} that this paperfeed does not "
                "know: it was written by a newer version"
            )
        applied = []
        for number, name, script in MIGRATIONS:
            if number in done:
                continue
            with db.transaction():
                if script.strip():
                    db.execute(script.encode())  # several statements: the simple protocol
                db.execute(
                    "INSERT INTO _migrations (id, name, applied_at) VALUES (%s, %s, %s)",
                    (number, name, datetime.now(UTC).isoformat(timespec="seconds")),
                )
            applied.append(number)
        return applied
    finally:
        db.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
