"""Embed what is missing or changed: the vectors of a store kept in step with its papers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from paperfeed.embed.model import Embedder, content_hash, paper_text
from paperfeed.store import Store

#: Papers embedded, then committed, at a time: a kill loses at most one chunk of work.
CHUNK = 512


@dataclass(slots=True)
class EmbedReport:
    embedded: int = 0
    unchanged: int = 0
    empty: int = 0
    #: Processes that embedded (more than one on a Ray cluster).
    workers: int = 1


def pending(
    store: Store, model: str, limit: int | None = None
) -> tuple[list[tuple[int, str, bytes]], EmbedReport]:
    """The papers ``model`` has no vector of for their text now, as ``(id, text, hash)``,
    shortest text first (the model pads each batch to its longest); and the count of the
    others."""
    report = EmbedReport()
    todo: list[tuple[int, str, bytes]] = []
    for batch in store.embedding_inputs(model):
        for pid, title, abstract, stored in batch:
            text = paper_text(title, abstract)
            if not text:
                report.empty += 1
                continue
            h = content_hash(text)
            if h == stored:
                report.unchanged += 1
            else:
                todo.append((pid, text, h))
    if limit is not None:
        todo = todo[:limit]
    todo.sort(key=lambda t: len(t[1]))
    return todo, report


def embed_store(
    store: Store,
    embedder: Embedder,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EmbedReport:
    """Embed every paper whose text has no vector from ``embedder`` yet, or changed since.

    ``progress(done, total)`` is called as chunks are stored. Each chunk is its own
    transaction, so a killed run resumes where it stopped.
    """
    todo, report = pending(store, embedder.name, limit)
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start : start + CHUNK]
        vectors = embedder.embed([t[1] for t in chunk])
        with store.writer() as w:
            w.save_vectors(embedder.name, [t[0] for t in chunk], [t[2] for t in chunk], vectors)
        report.embedded += len(chunk)
        if progress is not None:
            progress(report.embedded, len(todo))
    return report
