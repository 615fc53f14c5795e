"""Shared fixtures: the shared data folder, a fresh store per test, the CLI."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from paperfeed.cli import main
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


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "paperfeed.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = open_store(str(db_path))
    yield s
    s.close()


@pytest.fixture
def cli(db_path: Path) -> Callable[..., Result]:
    """Run ``paperfeed --db <fresh db> ARGS``; stdout and stderr are kept apart."""

    def run(*args: str, expect: int | None = 0) -> Result:
        result = CliRunner().invoke(main, ["--db", str(db_path), *map(str, args)])
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
