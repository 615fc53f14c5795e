"""A long ingest lands whole or not at all without holding the write lock throughout: other
writes go on between its parts, and a failure or a kill takes back every part."""

from __future__ import annotations

import gzip
import io
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import paperfeed.store.sqlite_staging as staging
from conftest import CORPUS
from paperfeed.errors import FileRejected, RecordError
from paperfeed.ingest import registry
from paperfeed.ingest.pipeline import ingest_items
from paperfeed.models import SearchFilters
from paperfeed.store import Store, open_store


def _records(n: int, skip: int = 0) -> list[registry.Item]:
    with gzip.open(CORPUS, "rb") as f:
        data = b"".join(itertools.islice(f, skip, skip + n))
    return list(registry.get("arxiv-jsonl").parse(io.BytesIO(data), "corpus.jsonl"))


def _rows(store: Store) -> tuple[int, int]:
    """(papers, undo statements kept)."""
    db = store._write  # type: ignore[attr-defined]
    return (
        db.execute("SELECT count(*) FROM papers").fetchone()[0],
        db.execute("SELECT count(*) FROM staged_undo").fetchone()[0],
    )


@pytest.fixture
def every_part_committed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each batch of an ingest in a transaction of its own, so tests need not race a clock."""
    monkeypatch.setattr(staging, "CHUNK_SECONDS", 0.0)


def _pausing(
    items: list[registry.Item], at: int, paused: threading.Event, go_on: threading.Event
) -> Iterator[registry.Item]:
    """The items, pausing before item ``at`` until told to go on (a slow source)."""
    for i, item in enumerate(items):
        if i == at:
            paused.set()
            assert go_on.wait(30)
        yield item


def test_a_rating_goes_through_while_a_long_ingest_runs(
    store: Store, db_path: Path, every_part_committed: None
) -> None:
    first = _records(200)
    ingest_items(store, first, "first.jsonl", "arxiv-jsonl")
    rated = store.resolve(first[0].arxiv_id)  # type: ignore[union-attr,arg-type]
    other = open_store(str(db_path))  # another process: its own connection
    other._write.execute("PRAGMA busy_timeout = 3000")  # type: ignore[attr-defined]
    paused, go_on = threading.Event(), threading.Event()
    items = _records(3000, skip=200)
    done: list[object] = []
    ingest = threading.Thread(
        target=lambda: done.append(
            ingest_items(store, _pausing(items, 2000, paused, go_on), "long.jsonl", "arxiv-jsonl")
        )
    )
    ingest.start()
    try:
        assert paused.wait(60)
        # two of its parts are stored and its lock is free: a rating need not wait
        with other.writer() as w:
            pid = w.ensure_profile("reader", "reader")
            w.set_relation(pid, [rated], "up")
        assert other.profile_relations("reader") == {rated: "up"}
        assert not done  # the ingest is still under way
    finally:
        go_on.set()
        ingest.join(60)
        other.close()
    assert done and _rows(store) == (3200, 0)
    assert store.profile_relations("reader") == {rated: "up"}


def test_a_file_refused_after_parts_were_stored_leaves_nothing_of_it(
    store: Store, db_path: Path, every_part_committed: None
) -> None:
    before = _records(300)
    ingest_items(store, before, "before.jsonl", "arxiv-jsonl")
    exported = [p.to_dict() for p in store.iter_papers()]
    found = store.keyword_search("qzxrevised", SearchFilters(), 10)
    assert found == []
    # new papers, then the same 300 again in a changed form (merged), then a bad record
    changed = _records(300)
    for rec in changed:
        rec.title = f"{rec.title} (qzxrevised)"  # type: ignore[union-attr]
    items = [*_records(2500, skip=300), *changed, RecordError("long.jsonl:3101", "broken")]
    with pytest.raises(FileRejected, match=r"long\.jsonl:3101"):
        ingest_items(store, items, "long.jsonl", "arxiv-jsonl")
    assert _rows(store) == (300, 0)
    assert [p.to_dict() for p in store.iter_papers()] == exported
    # the full-text index is taken back too
    assert store.keyword_search("qzxrevised", SearchFilters(), 10) == []
    title = exported[0]["title"]
    assert [i for i, _ in store.keyword_search(f'"{title}"', SearchFilters(), 10)][:1] == [1]
    again = ingest_items(store, before, "before.jsonl", "arxiv-jsonl")
    assert again.unchanged == 300  # what it knew of the first file is as it was


def _ingest(db: Path, path: Path, stderr: Path | None = None) -> subprocess.Popen:
    with open(stderr or os.devnull, "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "paperfeed", "--db", str(db), "ingest", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _papers_seen(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db, timeout=30) as con:
        try:
            return int(con.execute("SELECT count(*) FROM papers").fetchone()[0])
        except sqlite3.OperationalError:  # not made yet
            return 0


def _big_file(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "big.jsonl.gz"
    with gzip.open(CORPUS, "rb") as f, gzip.open(path, "wb") as out:
        out.writelines(itertools.islice(f, n))
    return path


def test_an_ingest_killed_after_parts_were_stored_is_taken_back_on_the_next_open(
    tmp_path: Path, db_path: Path
) -> None:
    path = _big_file(tmp_path, 8000)
    proc = _ingest(db_path, path)
    deadline = time.monotonic() + 120
    while _papers_seen(db_path) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < _papers_seen(db_path) < 8000, "killed before a part or after the end"
    with open_store(str(db_path)) as store:
        assert _rows(store) == (0, 0)
    assert _ingest(db_path, path).wait() == 0
    assert _papers_seen(db_path) == 8000


def test_a_second_ingest_waits_for_the_first_and_says_so(tmp_path: Path, db_path: Path) -> None:
    path = _big_file(tmp_path, 8000)
    first = _ingest(db_path, path)
    while _papers_seen(db_path) == 0 and first.poll() is None:
        time.sleep(0.02)
    small = tmp_path / "small.jsonl"
    with gzip.open(CORPUS, "rb") as f:
        small.write_bytes(b"".join(itertools.islice(f, 9000, 9010)))
    second = _ingest(db_path, small, stderr=tmp_path / "said")
    assert second.wait(120) == 0 and first.wait(120) == 0
    assert "Waiting: another long write (process" in (tmp_path / "said").read_text()
    assert _papers_seen(db_path) == 8010
