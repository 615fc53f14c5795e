"""What every command shares: the settings, the store and the embedder (opened on first
use), and how a command prints JSON."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import click
import orjson

from paperfeed.embed import Embedder, load_embedder
from paperfeed.store import Store, open_store


def engine_option(here: str) -> Any:
    """``--engine local|ray``: ``here`` says what local does."""
    return click.option(
        "--engine",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help=f"{here}, or on a Ray cluster (the ray_address setting; every node must reach "
        "the store: PostgreSQL).",
    )


def print_json(value: object) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def print_json_object(items: Iterable[tuple[str, object]]) -> None:
    """Print ``items`` as :func:`print_json` prints the dict of them, each as it comes: a
    daily job over 100,000 profiles holds one profile's ranking at a time, not all of them."""
    first = True
    for key, value in items:
        member = orjson.dumps({key: value}, option=orjson.OPT_INDENT_2).decode()
        sys.stdout.write(("{\n" if first else ",\n") + member[2:-2])
        sys.stdout.flush()
        first = False
    sys.stdout.write("{}\n" if first else "\n}\n")


class Context:
    """What every command shares: settings and the store, opened on first use."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self._store: Store | None = None
        self._embedder: Embedder | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings["db"])
        return self._store

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = load_embedder(self.settings)
        return self._embedder

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
