"""Small helpers the source modules share: reading JSON and XML safely, dates."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO

import orjson
from lxml import etree

from paperfeed.errors import RecordError
from paperfeed.models import PaperRecord

_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}


def read_json(stream: BinaryIO, filename: str) -> Any:
    try:
        return orjson.loads(stream.read().removeprefix(b"\xef\xbb\xbf"))
    except orjson.JSONDecodeError as e:
        raise RecordError(filename, f"not valid JSON: {e}") from e


#: A well-formed UTF-8 sequence of two to four bytes.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


_HIGH_BYTES = bytes(range(0x80, 0x100))
#: Control characters of Latin-1's upper half: a file decoded into them was not Latin-1 text.
_C1 = re.compile("[\x80-\x9f]")


def decode_text(data: bytes, filename: str, legacy: Callable[[bytes], str | None]) -> str:
    """A text file's text: UTF-8 (with or without a BOM); else, when its non-ASCII bytes are
    mostly not UTF-8 sequences, a legacy encoding that ``legacy`` decodes (Latin-1 for arXiv's
    old ``.abs`` files, a detected one for libraries). A UTF-8 file with a bad byte in it is
    refused, naming its line: decoding it all in another encoding would garble every
    accented name in it (``--encoding`` says what it is when that is wrong)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        high = len(data) - len(data.translate(None, _HIGH_BYTES))
        in_sequences = sum(len(m) for m in _UTF8_SEQUENCE.findall(data))
        if in_sequences >= 0.5 * high:  # UTF-8 but for a few bytes: not another encoding
            line = data[: e.start].count(b"\n") + 1
            raise RecordError(
                f"{filename}:{line}",
                f"not UTF-8 at byte {e.start}, though the file is UTF-8 elsewhere "
                "(give its encoding with --encoding if it is another)",
            ) from e
        text = legacy(data)
        if text is None:
            raise RecordError(filename, "cannot tell the text encoding of this file") from e
        if (control := _C1.search(text)) is not None:  # not text in that encoding either
            raise RecordError(
                f"{filename}:{text[: control.start()].count(chr(10)) + 1}",
                f"not UTF-8 at byte {e.start}, nor text in another encoding "
                "(give its encoding with --encoding)",
            ) from e
        return text


def read_xml(stream: BinaryIO, filename: str) -> etree._Element:
    return parse_xml(stream.read(), filename)


def parse_xml(data: bytes, filename: str) -> etree._Element:
    """A whole, well-formed XML document, or RecordError: a truncated file, a byte its
    encoding does not allow or an entity declaration (which would cut a field where it is
    used, or reach out) refuses the file whole rather than store what parsed before it."""
    # No network, no entity expansion: hostile XML must not reach out or blow up.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        raise RecordError(f"{filename}:{e.lineno}", f"not well-formed XML: {e.msg}") from e
    except (ValueError, LookupError) as e:  # e.g. an unknown encoding in the declaration
        raise RecordError(filename, f"not readable XML: {e}") from e
    if root is None:
        raise RecordError(filename, "not readable XML: no document")
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and list(dtd.iterentities()):
        raise RecordError(filename, "XML with entity declarations is not read (they can hide text)")
    return root


def head_json_kind(head: bytes) -> str:
    """'object', 'array' or '' for the first non-space byte of a JSON document."""
    s = head.lstrip()[:1]
    return {b"{": "object", b"[": "array"}.get(s, "")


def iso_date(value: Any) -> str | None:
    """``YYYY-MM-DD`` (or shorter, if only year or month is known) from common date forms."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return str(int(value)) if 1000 < value < 3000 else None
    if not isinstance(value, str):
        return None
    s = value.strip()
    m = re.match(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?", s)
    if m:
        y, mo, d = m.groups()
        if mo and not (1 <= int(mo) <= 12):
            return y
        if d and not (1 <= int(d) <= 31):
            return f"{y}-{int(mo):02d}"
        return "-".join(p for p in (y, mo and f"{int(mo):02d}", d and f"{int(d):02d}") if p)
    m = re.match(r"([A-Za-z]{3})[a-z]*\.? (\d{1,2}),? (\d{4})", s)
    if m and m.group(1).lower() in _MONTHS:
        return f"{m.group(3)}-{_MONTHS[m.group(1).lower()]:02d}-{int(m.group(2)):02d}"
    m = re.match(r"(\d{1,2})[- ]([A-Za-z]{3})[a-z]*[- ](\d{4})", s)
    if m and m.group(2).lower() in _MONTHS:
        return f"{m.group(3)}-{_MONTHS[m.group(2).lower()]:02d}-{int(m.group(1)):02d}"
    try:  # RFC 2822, as arXiv writes version dates: "Wed, 13 Jan 2016 13:46:06 GMT"
        return parsedate_to_datetime(s).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return None


def text(value: Any) -> str | None:
    """A string field, or None for missing/empty/non-string values."""
    if isinstance(value, str) and value.strip():
        return value
    return None


def guarded(
    make: Callable[[Any, str], PaperRecord], item: Any, where: str
) -> PaperRecord | RecordError:
    """``make(item, where)``, with a record whose fields have the wrong types reported as a bad
    record instead of crashing the ingest."""
    try:
        return make(item, where)
    except RecordError as e:
        return e
    except (TypeError, AttributeError, ValueError, KeyError, IndexError) as e:
        return RecordError(where, f"unexpected field values ({type(e).__name__}: {e})")
