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

import pytest

from conftest import ABS_FILE, ATOM_FILE, CORPUS, RSS_FILE, SEEDS, cli_json


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


def _bomb(path: Path, piece: bytes, times: int, head: bytes = b"") -> Path:
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(head)
        for _ in range(times):
            f.write(piece)
    return path


@pytest.mark.parametrize(
    ("name", "piece", "times", "head", "args", "said"),
    [  # each about 1 GiB once unpacked, a few MB packed
        (
            "titles.jsonl.gz",
            b'{"id": "2501.00001", "summary": "S", "title": "' + b"A" * 2**20 + b'"}\n',
            1024,
            b"",
            (),
            "title is over 4,000 characters",
        ),
        (
            "line.jsonl.gz",
            b"A" * 2**20,
            1024,
            b'{"id": "2501.00001", "summary": "',
            ("--format", "arxiv-jsonl"),
            "a line over",
        ),
        (
            "blank.jsonl.gz",
            b"\n" * 2**20,
            1024,
            b"",
            ("--format", "arxiv-jsonl"),
            "blank lines in a row",
        ),
        (
            "library.bib.gz",
            b"A" * 2**20,
            1024,
            b"@article{k, title = {",
            ("--format", "bibtex"),
            "max_document_bytes",
        ),
    ],
)
def test_a_gzip_bomb_is_refused_while_it_is_read_with_nothing_stored(
    cli,
    tmp_path: Path,
    db_path: Path,
    name: str,
    piece: bytes,
    times: int,
    head: bytes,
    args: tuple[str, ...],
    said: str,
) -> None:  # type: ignore[no-untyped-def]
    """With the default limits, a gzip file that unpacks to a gigabyte is refused, naming
    the limit, in a process that never holds much of it; the store is as it was."""
    bomb = _bomb(tmp_path / name, piece, times, head)
    assert bomb.stat().st_size < 8 * 2**20
    command = [sys.executable, "-m", "paperfeed", "--db", str(db_path), "ingest", str(bomb)]
    # Started from a small launcher: a process forked from this one (grown by the tests
    # before) starts its peak-memory count at this one's size.
    launcher = (
        "import os, subprocess, sys; child = subprocess.Popen(sys.argv[1:]); "
        "_, status, usage = os.wait4(child.pid, 0); "
        "print(usage.ru_maxrss, file=sys.stderr); sys.exit(os.waitstatus_to_exitcode(status))"
    )
    run = subprocess.run(
        [sys.executable, "-c", launcher, *command, *args], stderr=subprocess.PIPE, text=True
    )
    stderr, _, peak = run.stderr.rstrip("\n").rpartition("\n")
    assert run.returncode == 1, stderr
    assert said in stderr, stderr
    assert int(peak) < 500 * 1024  # KiB: the process peaked under 500 MB
    assert cli_json(cli("stats", "--json"))["papers"] == 0  # type: ignore[index]


def test_max_input_bytes_refuses_a_large_file_of_any_format(
    cli, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    bomb = _bomb(tmp_path / "ids.txt.gz", b"2501.00001\n", 2**20)  # 11 MB of ids
    monkeypatch.setenv("PAPERFEED_MAX_INPUT_BYTES", str(2**20))
    refused = cli("ingest", bomb, expect=1)
    assert "over 1,048,576 bytes once decompressed" in refused.stderr
    assert "max_input_bytes" in refused.stderr


def test_a_json_lines_file_whose_first_line_is_long_is_still_recognised(
    cli, tmp_path: Path
) -> None:
    import json

    row = {
        "id": "2501.00001",
        "title": "Long",
        "authors": [f"Author {i}" for i in range(8000)],
        "summary": "S",
    }
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(row) + "\n")
    assert len(path.read_bytes()) > 65536
    report = cli_json(cli("ingest", path, "--json"))
    assert report[0]["format"] == "arxiv-jsonl" and report[0]["new"] == 1  # type: ignore[index]


def _cut(path: Path, share: float) -> bytes:
    data = path.read_bytes()
    return data[: int(len(data) * share)]


@pytest.mark.parametrize(
    ("name", "content", "args", "said"),
    [
        ("cut.atom.xml", lambda: _cut(ATOM_FILE, 0.7), (), "not well-formed XML"),
        (
            "cut.rss.xml",
            lambda: _cut(RSS_FILE, 0.6),
            ("--format", "arxiv-rss"),
            "not well-formed XML",
        ),
        ("cut.abs", lambda: _cut(ABS_FILE, 0.8), ("--format", "arxiv-abs"), "cut short"),
        (
            "entity.xml",
            lambda: (
                ATOM_FILE.read_bytes()
                .replace(b"<feed", b'<!DOCTYPE feed [<!ENTITY x "hidden">]>\n<feed', 1)
                .replace(b"<title>", b"<title>&x;", 1)
            ),
            ("--format", "arxiv-atom"),
            "entity declarations",
        ),
        (
            "bad-byte.ris",
            lambda: "TY  - JOUR\nAU  - Müller, Jürgen\nTI  - Zürich\nER  - \n".encode().replace(
                "ü".encode(), b"\xfc", 1
            ),
            (),
            "not UTF-8 at byte",
        ),
        (
            "bad-byte.txt",
            lambda: "Müller Lab Zürich\nAbstract: Über große Modelle.\n".encode().replace(
                "ü".encode(), b"\xfc", 1
            ),
            ("--format", "paper-list"),
            "not UTF-8 at byte",
        ),
        ("empty.bib", lambda: b"", ("--format", "bibtex"), "no bibtex record"),
        ("atom-as-bibtex.xml", ATOM_FILE.read_bytes, ("--format", "bibtex"), "no bibtex record"),
        ("no-end.ris", lambda: b"TY  - JOUR\nTI  - No end\n", (), "no ER line"),
        ("null.json", lambda: b"null", ("--format", "semantic-scholar"), "no semantic-scholar"),
    ],
)
def test_a_malformed_or_empty_file_is_refused_whole_saying_why(
    cli, tmp_path: Path, name: str, content, args: tuple[str, ...], said: str
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(content())
    refused = cli("ingest", path, *args, expect=1)
    assert said in refused.stderr and name in refused.stderr
    assert cli_json(cli("stats", "--json"))["papers"] == 0  # type: ignore[index]


def test_a_latin_1_abs_file_from_arxivs_archive_still_reads() -> None:
    """Old arXiv .abs files are Latin-1 throughout: no UTF-8 in them, so no bad byte."""
    from paperfeed.ingest.sources._common import decode_text

    latin = "Journal-ref: Épijournal de Géométrie Algébrique\n".encode("latin-1")
    assert decode_text(latin, "x.abs", lambda raw: raw.decode("latin-1")).startswith(
        "Journal-ref: Ép"
    )


def test_a_second_writer_waits_for_the_first_saying_so(
    cli, db_path: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Another process holds the store's write lock past the busy timeout: ingest waits
    for it with a message and then stores the file, rather than die with 'database is
    locked'."""
    import sqlite3
    import threading

    from paperfeed.store import sqlite as store_sqlite
    from paperfeed.store import sqlite_connect

    monkeypatch.setattr(sqlite_connect, "BUSY_TIMEOUT_MS", 300)
    monkeypatch.setattr(store_sqlite, "BUSY_TIMEOUT_MS", 300)
    cli("stats")  # the store exists, migrated
    holder = sqlite3.connect(str(db_path), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process's long write
    threading.Timer(2.0, lambda: holder.execute("COMMIT")).start()
    result = cli("ingest", SEEDS / "004_c6b95d2d55bdc632.txt")
    holder.close()
    assert "Waiting: " in result.stderr and "another process has been writing" in result.stderr
    assert "Traceback" not in result.output
    assert cli_json(cli("stats", "--json"))["papers"] == 10  # type: ignore[index]
