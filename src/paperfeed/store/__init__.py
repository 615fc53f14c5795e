"""The store: the only code that talks to a database.

Callers use the ``Store`` interface from ``paperfeed.store.base``; ``open_store`` picks the
backend from the location (a file path means SQLite).
"""

from __future__ import annotations

from paperfeed.store.base import Store, Writer


def open_store(location: str) -> Store:
    """Open (creating and migrating if needed) the store at ``location``."""
    from paperfeed.store.sqlite import SQLiteStore

    return SQLiteStore(location)


__all__ = ["Store", "Writer", "open_store"]
