"""Past one machine: several `paperfeed serve` processes on one PostgreSQL share sessions,
CSRF secrets and ratings, and one ingest at a time creates a paper."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from conftest import Postgres, database_for
from paperfeed.store import open_store
from webapp import corpus_rows, csrf_of, free_port


@pytest.fixture
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A PostgreSQL store holding a few hundred corpus papers."""
    db = database_for(request, tmp_path, "postgres")
    rows = tmp_path / "rows.jsonl"
    rows.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in corpus_rows(300)))
    subprocess.run([sys.executable, "-m", "paperfeed", "--db", db, "ingest", rows], check=True)
    return db


def _serve(db: str, port: int, *more: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "paperfeed", "--db", db, "serve", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--no-embed", "--no-digests", "--no-sync", *more],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_up(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/status").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered on port {port}")


@pytest.fixture
def two_servers(shared: str) -> Iterator[tuple[str, str]]:
    ports = free_port(), free_port()
    processes = [_serve(shared, port) for port in ports]
    try:
        for port, process in zip(ports, processes, strict=True):
            _wait_up(port, process)
        yield f"http://127.0.0.1:{ports[0]}", f"http://127.0.0.1:{ports[1]}"
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


def test_a_user_signs_in_on_one_server_and_rates_on_another(
    two_servers: tuple[str, str], shared: str
) -> None:
    one, other = two_servers
    with httpx.Client(follow_redirects=True) as browser:  # cookies go to both: same host
        page = browser.get(f"{one}/signup")
        form = {"name": "ines", "email": "ines@example.org", "password": "correct horse"}
        signed = browser.post(f"{one}/signup", data={**form, "csrf": csrf_of(page.text)})
        assert signed.status_code == 200 and "ines" in signed.text
        library = browser.get(f"{other}/library")  # the session is the database's
        assert library.status_code == 200 and "ines" in library.text
        token = csrf_of(library.text)  # made by the other process, valid on both
        with open_store(shared) as store:
            paper = store.papers([1])[0]
        body = {"profile": "ines/library", "paper": paper.ref, "signal": "up"}
        rated = browser.post(f"{other}/api/rate", json=body, headers={"X-CSRF-Token": token})
        assert rated.status_code == 200, rated.text
        shown = browser.get(f"{one}/api/profiles/ines/library").json()
        assert [(p["id"], p["mark"]) for p in shown["papers"]] == [(paper.ref, "up")]
        bad = browser.post(f"{one}/api/rate", json=body, headers={"X-CSRF-Token": "forged"})
        assert bad.status_code == 403


def test_serve_workers_answer_on_one_port(shared: str) -> None:
    port = free_port()
    process = _serve(shared, port, "--workers", "2")
    try:
        _wait_up(port, process)
        for _ in range(4):  # whichever worker answers, it serves the same store
            status = httpx.get(f"http://127.0.0.1:{port}/api/status")
            assert status.status_code == 200, status.text
    finally:
        process.terminate()
        process.wait(10)


def test_two_ingests_at_once_make_one_paper_of_each(
    postgres: Postgres, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Each ingest is one transaction that does not see the other's new papers; the lock on
    creating papers makes the second wait, then find the first's."""
    db = database_for(request, tmp_path, "postgres")
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in corpus_rows(400)))
    said: list[str] = []

    def ingest() -> None:
        from paperfeed.ingest.pipeline import ingest_path

        with open_store(db) as store:
            ingest_path(store, path, on_wait=said.append)

    threads = [threading.Thread(target=ingest) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    with open_store(db) as store:
        assert store.stats()["papers"] == 400
        assert store.stats()["source_records"] == 400
