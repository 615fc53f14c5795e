"""A small real store for the web tests: corpus papers, a hostile record, the seeds."""

from __future__ import annotations

import email
import email.policy
import gzip
import json
import os
import re
import shutil
import socket
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.handlers import Message

from conftest import CORPUS, SEEDS
from paperfeed import config
from paperfeed.embed.index import embed_store
from paperfeed.embed.model import HashingEmbedder
from paperfeed.ingest.pipeline import ingest_path
from paperfeed.store import open_store

#: Debian's chromium, which the browser tests drive (a Playwright download fails here).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Where the browser tests keep their screenshots.
ARTIFACTS = Path(
    os.environ.get("PAPERFEED_ARTIFACTS", Path(__file__).parents[1] / "test-artifacts")
)


def require_chromium() -> None:
    """Skip a browser test module where chromium is missing; in CI, fail."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise RuntimeError("Debian's chromium is missing: `make install` installs it")
        pytest.skip(
            "Debian's chromium is not installed (make install does it)", allow_module_level=True
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)


HOSTILE_ID = "2599.66666"
HOSTILE = {
    "id": HOSTILE_ID,
    "title": "<script>alert('title')</script> Attacks on $\\alpha < \\beta$ & friends",
    "summary": (
        "We study <img src=x onerror=alert(1)> injection with broken LaTeX $\\frac{a$ and "
        "$\\href{javascript:alert(2)}{click}$ links & ampersands."
    ),
    "authors": ["<b>Mallory</b> O'Hacker", "Yann LeCun"],
    "categories": ["cs.CR"],
}


def corpus_rows(n: int = 1500) -> list[dict[str, Any]]:
    with gzip.open(CORPUS, "rt") as f:
        return [json.loads(line) for _, line in zip(range(n), f, strict=False)]


def build_store(
    folder: Path, n: int = 1500, db: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A store (in ``folder``, or at ``db``) and the settings to serve it with; the rows it
    holds."""
    rows = corpus_rows(n)
    last = max(r["listing_date"] for r in rows)
    path = folder / "corpus.jsonl"
    path.write_text(
        "".join(json.dumps(r) + "\n" for r in [*rows, {**HOSTILE, "listing_date": last}])
    )
    settings = config.load(
        env={},
        db=db or str(folder / "web.db"),
        embedder="hashing",
        base_url="http://testserver",
        secret_key="test-secret",
    )
    store = open_store(settings["db"])
    try:
        ingest_path(store, path)
        for seed in sorted(SEEDS.iterdir()):
            ingest_path(store, seed)
        embed_store(store, HashingEmbedder())
    finally:
        store.close()
    return settings, rows


def sign_up(client: Any, name: str, password: str = "correct horse") -> Any:
    """Sign ``name`` up through the form (``client``: a TestClient); the answer."""
    page = client.get("/signup")
    data = {"name": name, "email": f"{name}@example.org", "password": password}
    return client.post("/signup", data={**data, "csrf": csrf_of(page.text)})


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def bibtex_of(rows: list[dict[str, Any]]) -> str:
    """A user's BibTeX library holding these corpus papers, as Zotero would export it."""
    return "\n".join(
        f"@article{{key{i},\n  title = {{{r['title']}}},\n  author = "
        f"{{{' and '.join(r['authors'][:3])}}},\n  eprint = {{{r['id']}}},\n"
        f"  archivePrefix = {{arXiv}},\n  year = {{2025}}\n}}\n"
        for i, r in enumerate(rows)
    )


class Inbox(Message):
    """Keeps every message the server accepts."""

    def __init__(self) -> None:
        super().__init__(email.message.EmailMessage)
        self.messages: list[EmailMessage] = []

    def handle_message(self, message: Any) -> None:
        self.messages.append(
            email.message_from_bytes(message.as_bytes(), policy=email.policy.default)  # type: ignore[arg-type]
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
