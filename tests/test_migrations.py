"""A store written by an older paperfeed opens and upgrades, keeping what it holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from conftest import ATOM_FILE
from paperfeed.errors import StoreError
from paperfeed.ingest.pipeline import ingest_path
from paperfeed.models import SearchFilters
from paperfeed.store import Store, migrations, open_store
from paperfeed.store.sqlite import SQLiteStore
from paperfeed.store.sqlite_staging import Stager


def test_a_store_of_the_first_migration_upgrades_and_keeps_its_papers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = str(tmp_path / "old.db")
    first = [m for m in migrations.MIGRATIONS if m[0] == 1]
    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", first)  # the paperfeed that shipped migration 1
        m.setattr(SQLiteStore, "staged", Store.staged)  # which wrote in one transaction
        m.setattr(Stager, "undo_dead_runs_if_idle", lambda self: None)
        with open_store(db) as old:
            ingest_path(old, ATOM_FILE)
            assert old.paper_count() == 1
    with sqlite3.connect(db) as raw:
        assert [r[0] for r in raw.execute("SELECT id FROM _migrations")] == [1]
    with open_store(db) as store:  # today's paperfeed
        paper = store.get_paper("1605.08386")
        assert paper.authors[0].name == "Caprice Stanley"
        hits = store.keyword_search("Caprice Stanley", SearchFilters(), limit=5)
        assert [pid for pid, _ in hits] == [paper.id]
        with store.writer() as w:  # the later migrations' tables work
            pid = w.ensure_profile("me", "reader")
            w.set_relation(pid, [paper.id], "up")
            w.save_profile_model(pid, b"key", b"model")
        assert store.profile_relations("me") == {paper.id: "up"}
        assert store.profile_model(pid, b"key") == b"model"
    with sqlite3.connect(db) as raw:
        done = [r[0] for r in raw.execute("SELECT id FROM _migrations ORDER BY id")]
    assert done == sorted(n for n, _, _ in migrations.MIGRATIONS)


def test_a_store_from_a_newer_paperfeed_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "new.db")
    open_store(db).close()
    with sqlite3.connect(db) as raw:
        raw.execute("INSERT INTO _migrations (id, name, applied_at) VALUES (999, 'future', '')")
    with pytest.raises(StoreError, match="newer version"):
        open_store(db)
