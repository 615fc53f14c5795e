"""Text embeddings: the bundled model, and keeping a store's vectors up to date."""

from __future__ import annotations

from typing import Any

from paperfeed.embed.model import Embedder, HashingEmbedder, MiniLM
from paperfeed.embed.static import StaticModel
from paperfeed.errors import InputError


def load_embedder(settings: dict[str, Any]) -> Embedder:
    """The embedder the settings name."""
    name = settings.get("embedder", "minilm")
    if name == "minilm":
        return MiniLM(
            cache_dir=settings.get("cache_dir") or None,
            max_length=int(settings.get("embed_max_tokens", 128)),
            threads=int(settings.get("embed_threads", 0)) or None,
        )
    if name == "static":
        return StaticModel()
    if name == "hashing":
        return HashingEmbedder()
    raise InputError(f"unknown embedder {name!r}: use static, minilm or hashing")


__all__ = ["Embedder", "load_embedder"]
