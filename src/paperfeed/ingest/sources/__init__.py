"""The built-in sources; each module registers itself on import."""

from paperfeed.ingest.sources import (  # noqa: F401
    arxiv_abs,
    arxiv_atom,
    arxiv_jsonl,
    arxiv_rss,
    bibtex,
    csl_json,
    id_list,
    oai_pmh,
    openalex,
    paper_list,
    ris,
    semantic_scholar,
)
