"""The built-in sources; each module registers itself on import."""

from paperfeed.ingest.sources import arxiv_jsonl  # noqa: F401
