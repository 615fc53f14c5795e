"""Settings, declared once: name, default, help; read from ``PAPERFEED_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    help: str
    cast: Callable[[str], Any] = str

    @property
    def env(self) -> str:
        return "PAPERFEED_" + self.name.upper()


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


SETTINGS = [
    Setting("db", "paperfeed.db", "the store: a SQLite file, or postgresql://... (shared)"),
    Setting("arxiv_api_url", "https://export.arxiv.org/api/query", "arXiv API query endpoint"),
    Setting("oai_pmh_url", "https://oaipmh.arxiv.org/oai", "arXiv OAI-PMH endpoint"),
    Setting(
        "max_input_bytes",
        4 * 2**30,
        "largest input file ingested, once decompressed (a small gzip file can hold gigabytes)",
        int,
    ),
    Setting(
        "max_document_bytes",
        256 * 2**20,
        "largest file of a format read whole (BibTeX, RIS, JSON, XML, paper lists), once "
        "decompressed; line-by-line formats are held a line at a time",
        int,
    ),
    Setting("arxiv_delay", 3.0, "seconds between arXiv requests (arXiv asks for 3)", float),
    Setting("retries", 4, "retries of a failing remote request, with backoff", int),
    Setting("backoff", 1.0, "seconds before the first retry, doubled after each", float),
    Setting("oai_retry_after", 20, "seconds to wait on an OAI-PMH 503 without Retry-After", int),
    Setting("s2_api_url", "https://api.semanticscholar.org/graph/v1", "Semantic Scholar Graph API"),
    Setting("s2_api_key", "", "Semantic Scholar API key (optional)"),
    Setting(
        "cache_dir", "", "folder for derived files such as the prepared model [~/.cache/paperfeed]"
    ),
    Setting(
        "embedder",
        "minilm",
        "embedding model: minilm (bundled), static (bundled, trained on authorship: 30x "
        "faster, better for the feed, worse for search and expertise) or hashing (tests only)",
    ),
    Setting("embed_max_tokens", 128, "tokens of title + abstract MiniLM reads", int),
    Setting("embed_threads", 0, "CPU threads for MiniLM (0: up to 4)", int),
    Setting(
        "ray_address",
        "",
        "the Ray cluster `--engine ray` runs on, as `ray start` printed it "
        "[a Ray started on this machine for the run]",
    ),
    Setting(
        "base_url",
        "",
        "address people reach the web app at, for links in feeds and digests "
        "[the address a request came to; for digests, the address serve listens on]",
    ),
    Setting("secret_key", "", "signs unsubscribe links [a random key kept in DB.secret if unset]"),
    Setting("public", False, "a public read-only instance: no sign-up, no sign-in", _flag),
    Setting("smtp_host", "localhost", "SMTP server for digests"),
    Setting("smtp_port", 25, "SMTP port (587 for STARTTLS, 465 for SSL)", int),
    Setting("smtp_security", "none", "none, starttls or ssl"),
    Setting("smtp_user", "", "SMTP user name (empty: no login)"),
    Setting("smtp_password", "", "SMTP password"),
    Setting("smtp_ca_file", "", "CA certificates to verify the SMTP server by [the system's]"),
    Setting("mail_from", "paperfeed <paperfeed@localhost>", "From address of digests"),
    Setting("digest_hour", 7, "hour (UTC) the server's scheduler sends digests", int),
    Setting(
        "sync_hour",
        1,
        "hour (UTC) serve runs the daily sync (arXiv announces at 00:00 UTC, Sunday-Thursday)",
        int,
    ),
    Setting("sync_oai_set", "cs", "OAI-PMH set the sync harvests (empty: no harvest)"),
    Setting("sync_oai_format", "arXivRaw", "OAI-PMH metadata format (arXivRaw keeps versions)"),
    Setting(
        "sync_categories",
        "cs.AI,cs.CL,cs.CV,cs.LG,cs.IR",
        "arXiv categories whose daily announcements the sync reads (empty: none)",
    ),
    Setting("arxiv_rss_url", "https://rss.arxiv.org/atom", "arXiv announcement feeds"),
    Setting(
        "sync_enrich",
        "",
        "s2: the sync asks Semantic Scholar where the day's authors work, and for venues and "
        "open PDFs (s2_api_key raises its rate limit); empty: off",
    ),
    Setting(
        "sync_since",
        "",
        "first day the first harvest asks for (YYYY-MM-DD) [the day it runs]; later harvests "
        "go on from the last one",
    ),
    Setting(
        "sync_longest_wait",
        600.0,
        "longest Retry-After the sync waits out before giving up a step, in seconds",
        float,
    ),
]


def load(env: Mapping[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    """Settings from defaults, then the environment, then explicit overrides."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for s in SETTINGS:
        raw = env.get(s.env)
        values[s.name] = s.cast(raw) if raw not in (None, "") else s.default
    values.update({k: v for k, v in overrides.items() if v is not None})
    return values
