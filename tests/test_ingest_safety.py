"""Bad input is refused whole with the file and record named; kills and re-runs are safe."""

from __future__ import annotations

import gzip
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import CORPUS, SEEDS, cli_json


def _sample(tmp_path: Path, n: int) -> list[bytes]:
    with gzip.open(CORPUS, "rb") as f:
        return list(itertools.islice(f, n))


def test_malformed_line_refuses_the_file_and_names_it(cli, tmp_path: Path):
    cli("ingest", SEEDS / "000_9798c6fd8fc50cfd.txt")
    before = cli("export").stdout
    lines = _sample(tmp_path, 50)
    lines[36] = b'{"id": "2503.99999", "title": "broken", "summary": \n'
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b"".join(lines))
    result = cli("ingest", path, expect=1)
    assert "broken.jsonl:37" in result.stderr and "refused" in result.stderr
    assert cli("export").stdout == before  # nothing from it stored, nothing lost


def test_skip_bad_stores_the_good_records_and_reports_the_bad(cli, tmp_path: Path):
    lines = _sample(tmp_path, 50)
    lines[9] = b"[1, 2]\n"
    lines[20] = b'{"id": "not-an-id", "title": "x", "summary": "y"}\n'
    path = tmp_path / "some-bad.jsonl"
    path.write_bytes(b"".join(lines))
    result = cli("ingest", path, "--skip-bad")
    assert "some-bad.jsonl:10" in result.stderr and "some-bad.jsonl:21" in result.stderr
    assert cli_json(cli("stats", "--json"))["papers"] == 48


def test_truncated_gzip_is_refused(cli, tmp_path: Path):
    data = CORPUS.read_bytes()[:200_000]
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data)
    result = cli("ingest", path, expect=1)
    assert "cut.jsonl.gz" in result.stderr
    assert cli_json(cli("stats", "--json"))["papers"] == 0


def test_unknown_format_and_missing_file(cli, tmp_path: Path):
    path = tmp_path / "notes.txt"
    path.write_text("just some notes\nnothing to see\n")
    assert "could not tell its format" in cli("ingest", path, expect=1).stderr
    assert "no such file" in cli("ingest", tmp_path / "nope.bib", expect=1).stderr
    assert "unknown format" in cli("ingest", path, "--format", "docx", expect=1).stderr


def _run(db: Path, path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "paperfeed", "--db", str(db), "ingest", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_killed_ingest_then_rerun_equals_one_clean_run(cli, tmp_path: Path, db_path: Path):
    path = tmp_path / "part.jsonl.gz"
    with gzip.open(path, "wb") as out:
        out.writelines(_sample(tmp_path, 6000))
    # A clean run for reference.
    clean = tmp_path / "clean.db"
    assert _run(clean, path).wait() == 0
    # Kill the same ingest at several moments, then finish it.
    for delay in (0.3, 0.8, 1.5):
        proc = _run(db_path, path)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if db_path.exists():  # a killed file is all there or not there at all
            assert cli_json(cli("stats", "--json"))["papers"] in (0, 6000)
    assert _run(db_path, path).wait() == 0

    def dump(db: Path) -> list[dict]:
        out = subprocess.run(
            [sys.executable, "-m", "paperfeed", "--db", str(db), "export"],
            capture_output=True,
            check=True,
        ).stdout
        rows = [__import__("orjson").loads(line) for line in out.splitlines()]
        return sorted(
            (r["id"], r["title"], r["abstract"], [a["name"] for a in r["authors"]]) for r in rows
        )

    assert dump(db_path) == dump(clean)
    assert len(dump(clean)) == 6000
