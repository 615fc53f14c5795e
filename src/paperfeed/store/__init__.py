"""The store: the only code that talks to a database.

Callers use the ``Store`` interface from ``paperfeed.store.base``; ``open_store`` picks the
backend from the location: ``postgresql://...`` means PostgreSQL, a file path SQLite.
"""

from __future__ import annotations

from paperfeed.errors import StoreError
from paperfeed.store.base import Store, Writer


def is_postgres(location: str) -> bool:
    """Whether ``location`` names a PostgreSQL database (else it is a SQLite file)."""
    return location.startswith(("postgresql://", "postgres://"))


def open_store(location: str) -> Store:
    """Open (creating and migrating if needed) the store at ``location``."""
    if is_postgres(location):
        try:
            from paperfeed.store.postgres import PostgresStore
        except ImportError as e:
            raise StoreError(
                f"a PostgreSQL store needs psycopg and pgvector ({e}): "
                "pip install 'paperfeed[postgres]'"
            ) from e
        return PostgresStore(location)
    from paperfeed.store.sqlite import SQLiteStore

    return SQLiteStore(location)


__all__ = ["Store", "Writer", "is_postgres", "open_store"]
