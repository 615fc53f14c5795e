"""The source plugin protocol and the registry the built-in sources and third parties share.

A source turns one input (a file's bytes, or a remote service's responses) into
``PaperRecord``s. File sources also say how sure they are that some bytes are theirs
(``sniff``), so formats are detected from content. Third-party sources register through the
``paperfeed.sources`` entry-point group, exactly as the built-in ones register here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import BinaryIO

from paperfeed.errors import FormatError, RecordError
from paperfeed.models import PaperRecord, ProfileOwner

Item = PaperRecord | RecordError | ProfileOwner


class Source(ABC):
    """A format or service that yields paper records."""

    #: short unique name, used by ``--format`` and recorded as provenance
    name: str
    #: how much to trust its fields when records of one paper disagree (higher wins)
    priority: int = 50
    #: one line for ``--help`` and the docs
    description: str = ""
    #: whether ``parse`` reads its input line by line (JSON lines, id lists), holding one
    #: record at a time, rather than as one document held whole in memory
    streams_lines: bool = False

    def sniff(self, head: bytes, filename: str) -> int:
        """How sure (0-100) this source is that a file starting with ``head`` is its format."""
        return 0

    @abstractmethod
    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        """Yield records, a ``RecordError`` for each bad record, and an owner if the input
        names one. Raise ``RecordError`` when the input as a whole is unreadable."""


#: The longest line a line-by-line source reads; a longer one is a bad record, skipped
#: without being held (a gzip file can hold a line of gigabytes).
MAX_LINE_BYTES = 16 * 2**20
#: Blank lines in a row a line-by-line source reads through before it calls the file bad.
MAX_BLANK_LINES = 100_000


#: The UTF-8 byte order mark some editors and Windows exports begin a file with.
BOM = b"\xef\xbb\xbf"


def lines(stream: BinaryIO, filename: str) -> Iterator[tuple[int, bytes | RecordError]]:
    """``(line number, line)`` of a stream, or a RecordError in place of a line over
    :data:`MAX_LINE_BYTES`, read past in pieces rather than held."""
    n = blank = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        n += 1
        if n == 1:
            line = line.removeprefix(BOM)  # a text editor's mark that the file is UTF-8
        blank = blank + 1 if not line.strip() else 0
        if blank > MAX_BLANK_LINES:  # a flood of nothing: stop reading it
            yield (
                n,
                RecordError(f"{filename}:{n}", f"over {MAX_BLANK_LINES:,} blank lines in a row"),
            )
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := stream.readline(2**20)) and not rest.endswith(b"\n"):
                pass
            yield n, RecordError(f"{filename}:{n}", f"a line over {MAX_LINE_BYTES:,} bytes")
            continue
        yield n, line


_SOURCES: dict[str, Source] = {}
_loaded = False


def register(source: Source) -> Source:
    """Add a source; a later one with the same name replaces the earlier."""
    _SOURCES[source.name] = source
    return source


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import paperfeed.ingest.sources  # noqa: F401  (registers the built-in sources)

    for ep in entry_points(group="paperfeed.sources"):
        register(ep.load()())


def sources() -> dict[str, Source]:
    _load()
    return dict(_SOURCES)


def get(name: str) -> Source:
    _load()
    try:
        return _SOURCES[name]
    except KeyError:
        known = ", ".join(sorted(_SOURCES))
        raise FormatError(f"unknown format {name!r}; known formats: {known}") from None


def priority(name: str) -> int:
    _load()
    source = _SOURCES.get(name)
    return source.priority if source else 0


def detect(head: bytes, filename: str) -> Source:
    """The source most sure that these bytes are its format."""
    _load()
    head = head.removeprefix(BOM)
    best, score = None, 0
    for source in _SOURCES.values():
        s = source.sniff(head, filename)
        if s > score:
            best, score = source, s
    if best is None:
        raise FormatError(
            f"{filename}: could not tell its format from its content; give it with --format "
            f"({', '.join(sorted(_SOURCES))})"
        )
    return best
