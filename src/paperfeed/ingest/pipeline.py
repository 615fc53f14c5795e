"""Ingesting inputs into the store: detect, parse, merge, write; whole or not at all.

A file is stored whole or not at all (:meth:`Store.staged`), so a malformed record (without
``skip_bad``) or a kill leaves the store as it was before the file, while ratings and
sign-ins need not wait for a long file to end.
Every source record is remembered by its content hash, so re-ingesting changes nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from paperfeed.errors import FileRejected, FormatError, InputError, RecordError
from paperfeed.ingest import registry
from paperfeed.ingest.merge import Resolver, draft_from_record, merge, worth_loading
from paperfeed.models import REFERENCE, PaperDraft, PaperRecord, ProfileOwner
from paperfeed.store.base import Store, Writer

#: Parsing stops and the file is refused once this many bad records were seen.
MAX_ERRORS = 50
#: Records looked up and written together.
BATCH = 1000
_HEAD = 65536

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass
class IngestReport:
    """What ingesting one input did."""

    path: str
    format: str
    records: int = 0
    new: int = 0
    merged: int = 0
    unchanged: int = 0
    bad: list[RecordError] = field(default_factory=list)
    profile: str | None = None
    #: every record's paper, 8 bytes each (a list of ints takes 36: 36 MB a million records)
    paper_ids: array[int] = field(default_factory=lambda: array("q"), repr=False)
    #: ids a list named that the store does not hold (nothing is stored for them)
    unresolved: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "format": self.format,
            "records": self.records,
            "new": self.new,
            "merged": self.merged,
            "unchanged": self.unchanged,
            "bad": [str(e) for e in self.bad],
            "profile": self.profile,
            "unresolved": self.unresolved,
        }


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, and the files inside folders named (sorted, hidden ones left out)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        elif p.exists():
            out.append(p)
        else:
            raise InputError(f"{p}: no such file or folder")
    return out


class _Bounded(io.RawIOBase):
    """A stream that refuses to give more than ``limit`` bytes: a small gzip file can hold
    gigabytes, and the limit is checked while reading, before they are held anywhere."""

    def __init__(self, stream: BinaryIO, limit: int, name: str) -> None:
        self.stream, self.limit, self.name, self.given = stream, limit, name, 0
        self.setting = "max_input_bytes"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.stream.readinto(buffer)  # type: ignore[attr-defined]
        self.given += n
        if self.given > self.limit:
            raise InputError(
                f"{self.name}: over {self.limit:,} bytes once decompressed; nothing was stored "
                f"(the limit is the {self.setting} setting)"
            )
        return int(n)


def _open(path: Path, limit: int | None = None) -> tuple[BinaryIO, BinaryIO, _Bounded | None]:
    """(raw file for progress, decompressed stream of at most ``limit`` bytes, the bound on
    it when the file is compressed)."""
    _check_size(path, path.stat().st_size, limit)
    raw = open(path, "rb", buffering=_HEAD)  # noqa: SIM115 - closed by the caller
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        unpacked: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        bounded = _Bounded(unpacked, limit if limit is not None else 2**62, str(path))
        return raw, io.BufferedReader(bounded, buffer_size=_HEAD), bounded
    return raw, raw, None


def _check_size(path: Path, size: int, limit: int | None, what: str = "max_input_bytes") -> None:
    if limit is not None and size > limit:
        raise InputError(
            f"{path}: over {limit:,} bytes; nothing was stored (the limit is the {what} setting)"
        )


def _head(stream: Any) -> bytes:
    """The first bytes of a stream, left unread for the parser."""
    if isinstance(stream, io.BytesIO):
        return stream.getvalue()[:_HEAD]
    return bytes(stream.peek(_HEAD)[:_HEAD])


def ingest_path(
    store: Store,
    path: Path,
    fmt: str | None = None,
    profile: str | None = None,
    profile_kind: str = "reader",
    skip_bad: bool = False,
    progress: Progress | None = None,
    encoding: str | None = None,
    max_bytes: int | None = None,
    max_document_bytes: int | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> IngestReport:
    """Ingest one file, whole or not at all. ``encoding`` names a text file's encoding when it
    is not UTF-8 and detection guesses wrong. A file over ``max_bytes`` once decompressed is
    refused whole, and so is one over ``max_document_bytes`` in a format read as one
    document (all but line-by-line ones), while it is read."""
    name = str(path)
    raw, stream, bounded = _open(path, max_bytes)
    if encoding:
        try:
            stream = io.BytesIO(stream.read().decode(encoding).encode())
        except (LookupError, UnicodeDecodeError) as e:
            raw.close()
            raise InputError(f"{name}: cannot decode as {encoding}: {e}") from e
    with raw:
        try:
            head = _head(stream)
        except (OSError, EOFError) as e:
            raise InputError(f"{name}: cannot read it ({e})") from e
        if not head and not fmt:
            raise FormatError(f"{name}: empty file, nothing to ingest")
        source = registry.get(fmt) if fmt else registry.detect(head, path.name)
        if not source.streams_lines and max_document_bytes is not None:
            if bounded is None:
                _check_size(path, path.stat().st_size, max_document_bytes, "max_document_bytes")
            elif max_document_bytes < bounded.limit:
                bounded.limit, bounded.setting = max_document_bytes, "max_document_bytes"
        total = path.stat().st_size
        items = _guarded(source.parse(stream, name), name)
        return ingest_items(
            store,
            items,
            name,
            source.name,
            profile,
            profile_kind,
            skip_bad,
            progress and (lambda: progress(raw.tell(), total)),
            require_records=True,
            on_wait=on_wait,
        )


def _guarded(items: Iterator[registry.Item], name: str) -> Iterator[registry.Item]:
    """A file that cannot be read on (bad compression, encoding, structure) ends as a bad
    record, so it is refused like any other file with bad records."""
    try:
        yield from items
    except RecordError as e:
        yield e
    except (OSError, EOFError, UnicodeDecodeError) as e:
        yield RecordError(name, f"cannot read it: {e}")


def ingest_items(
    store: Store,
    items: Iterable[registry.Item],
    name: str,
    source_name: str,
    profile: str | None = None,
    profile_kind: str = "reader",
    skip_bad: bool = False,
    tick: Callable[[], None] | None = None,
    require_records: bool = False,
    on_wait: Callable[[str], None] | None = None,
) -> IngestReport:
    """Merge records into the store, whole or not at all (:meth:`Store.staged`: other
    writes go on meanwhile; ``on_wait`` hears of another ingest this one waits for); the
    file-independent core of ingest.
    With ``require_records`` (a file), finding no record at all is an error: an empty file,
    or a format named with ``--format`` that is not the file's, stores nothing and says so
    (a day a live source announced nothing is not an error)."""
    report = IngestReport(path=name, format=source_name, profile=profile)
    owner: ProfileOwner | None = None
    batch: list[PaperRecord] = []
    with store.staged(name, on_wait) as stage:
        for item in items:
            if isinstance(item, RecordError):
                report.bad.append(item)
                if not skip_bad and len(report.bad) >= MAX_ERRORS:
                    break
            elif isinstance(item, ProfileOwner):
                owner = item
            elif (oversized := too_large(item)) is not None:
                report.bad.append(oversized)
                if not skip_bad and len(report.bad) >= MAX_ERRORS:
                    break
            elif not report.bad or skip_bad:  # after a bad record only errors are collected
                batch.append(item)
                if len(batch) == BATCH:
                    prepared = _prepare(store, batch)
                    with stage.writer() as w:
                        _store_batch(w, prepared, report)
                    batch = []
                    if tick is not None:
                        tick()
        if report.bad and not skip_bad:
            raise FileRejected(name, report.bad)
        if require_records and not batch and not report.records and not report.bad:
            raise FormatError(f"{name}: no {source_name} record in it; nothing was stored")
        prepared = _prepare(store, batch)
        with stage.writer() as w:
            _store_batch(w, prepared, report)
            if owner is not None and profile is None:
                report.profile = owner.name
                profile_kind = owner.kind
            if report.profile:
                # a list's owner (a researcher, an institution) is described by where its
                # papers came from; a profile of the user's is described by the user, if at all
                about = f"papers from {Path(name).name}" if owner is not None else None
                pid = w.ensure_profile(report.profile, profile_kind, about)
                w.add_to_profile(pid, dict.fromkeys(report.paper_ids))
    if tick is not None:
        tick()
    return report


#: The most a field of one record may hold, in characters, and the most authors it may list
#: (a physics collaboration signs about 3,000): a record past them is a bad record, so a
#: file of huge fields cannot fill memory a batch at a time.
MAX_FIELD_CHARS = {"title": 4_000, "abstract": 200_000, "comment": 20_000, "journal_ref": 4_000}
MAX_AUTHORS = 20_000
MAX_AUTHOR_CHARS = 1_000


def too_large(rec: PaperRecord) -> RecordError | None:
    """A RecordError naming the field of ``rec`` over its limit, or None."""
    for name, most in MAX_FIELD_CHARS.items():
        value = getattr(rec, name)
        if value is not None and len(value) > most:
            return RecordError(rec.location, f"its {name} is over {most:,} characters")
    if len(rec.authors) > MAX_AUTHORS:
        return RecordError(rec.location, f"it lists over {MAX_AUTHORS:,} authors")
    if any(len(a.name) > MAX_AUTHOR_CHARS for a in rec.authors):
        return RecordError(
            rec.location, f"an author's name is over {MAX_AUTHOR_CHARS:,} characters"
        )
    return None


def record_hash(rec: PaperRecord) -> str:
    """Content hash of a record, independent of where it was read from."""
    location, rec.location = rec.location, ""
    try:
        data = orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)
    finally:
        rec.location = location
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass
class _Batch:
    """Records with their hashes and drafts, made before the write lock is taken."""

    references: list[PaperRecord]
    #: (record, hash, draft, keys); no draft for a record found stored already
    records: list[tuple[PaperRecord, str, PaperDraft | None, dict[str, str] | None]]


def _prepare(store: Store, records: list[PaperRecord]) -> _Batch:
    """Hashes, and drafts of the records not stored before (the writer looks again)."""
    references = [r for r in records if REFERENCE in r.extra]
    hashed = [(r, record_hash(r)) for r in records if REFERENCE not in r.extra]
    stored = store.stored_records([h for _, h in hashed])
    return _Batch(
        references,
        [(r, h, *((None, None) if h in stored else draft_from_record(r))) for r, h in hashed],
    )


def _store_batch(w: Writer, batch: _Batch, report: IngestReport) -> None:
    report.records += len(batch.references) + len(batch.records)
    if batch.references:  # a list of ids: found in the store, or reported, never stored empty
        found = w.find_by_ids(
            pair for r in batch.references for pair in draft_from_record(r)[0].ids.items()
        )
        for r in batch.references:
            ids = draft_from_record(r)[0].ids.items()
            pid = next((found[pair] for pair in ids if pair in found), None)
            if pid is None:
                report.unresolved.append(str(r.extra[REFERENCE]))
            else:
                report.unchanged += 1
                report.paper_ids.append(pid)
    if not batch.records:
        return
    seen = w.seen_papers([h for _, h, _, _ in batch.records])
    todo = []
    for rec, h, draft, keys in batch.records:
        if h in seen:
            report.unchanged += 1
            report.paper_ids.append(seen[h])
            continue
        if draft is None or keys is None:
            draft, keys = draft_from_record(rec)
        if draft.title or draft.abstract or draft.ids:
            todo.append((rec, h, draft, keys))
    if not todo:
        return
    by_id = w.find_by_ids(pair for _, _, d, _ in todo for pair in d.ids.items())
    by_key = w.find_by_keys(pair for _, _, _, keys in todo for pair in keys.items())
    if by_key:
        their_ids = w.ids_of(p for ps in by_key.values() for p in ps)
        by_key = worth_loading(by_key, their_ids, ((d.ids, keys) for _, _, d, keys in todo))
    stored = w.load_drafts([*by_id.values(), *(p for ps in by_key.values() for p in ps)])
    resolver = Resolver(by_id, by_key, stored)
    targets: dict[int, tuple[PaperDraft, dict[tuple[str, str], None]]] = {}
    placed = []
    for rec, h, draft, keys in todo:
        old = resolver.match(draft, keys)
        if old is None:
            target = draft
            report.new += 1
        else:
            target = merge(old, draft)
            report.merged += 1
        resolver.add(target, keys)
        entry = targets.setdefault(id(target), (target, {}))
        entry[1].update(dict.fromkeys(keys.items()))
        placed.append((h, target, rec))
    w.save([(t, list(keys)) for t, keys in targets.values()])
    w.record_seen((h, t.id or 0, rec.source, rec.location) for h, t, rec in placed)
    report.paper_ids.extend(t.id or 0 for _, t, _ in placed)
