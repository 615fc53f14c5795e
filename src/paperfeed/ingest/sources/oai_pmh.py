"""arXiv OAI-PMH: ``arXiv`` and ``arXivRaw`` metadata, from response files or harvested live.

Live harvesting uses ``sickle``, which follows resumption tokens and waits out
``503 Retry-After`` answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from lxml import etree

from paperfeed.errors import RecordError, SourceError
from paperfeed.ingest.registry import Item, Source, register
from paperfeed.ingest.sources._common import iso_date, read_xml
from paperfeed.models import AuthorRecord, PaperRecord
from paperfeed.normalize import parse_arxiv_id, split_author_list

OAI = "{http://www.openarchives.org/OAI/2.0/}"


def _t(el: etree._Element | None, tag: str) -> str | None:
    if el is None:
        return None
    found = el.find(tag)
    if found is None or found.text is None or not found.text.strip():
        return None
    return str(found.text)


def metadata_record(meta: etree._Element, where: str) -> PaperRecord:
    """An ``<arXiv>`` or ``<arXivRaw>`` metadata element as a record."""
    qname = etree.QName(meta)
    if qname.localname not in ("arXiv", "arXivRaw"):
        raise RecordError(where, f"unsupported metadata format <{qname.localname}>")
    # Some harvesters drop the namespace; read the elements in whichever the record uses.
    ns = f"{{{qname.namespace}}}" if qname.namespace else ""
    raw_id = _t(meta, f"{ns}id")
    parsed = parse_arxiv_id(raw_id)
    if parsed is None:
        raise RecordError(where, f"<id> is not an arXiv id: {raw_id!r}")
    title = _t(meta, f"{ns}title")
    if title is None:
        raise RecordError(where, f"{parsed[0]}: no <title>")
    doi_text = _t(meta, f"{ns}doi")
    rec = PaperRecord(
        source="oai-pmh",
        location=where,
        arxiv_id=parsed[0],
        doi=doi_text.replace(";", ",").split(",")[0].strip() if doi_text else None,
        title=title,
        abstract=_t(meta, f"{ns}abstract"),
        categories=(_t(meta, f"{ns}categories") or "").split(),
        comment=_t(meta, f"{ns}comments"),
        journal_ref=_t(meta, f"{ns}journal-ref"),
        license=_t(meta, f"{ns}license"),
        links={"abs": f"https://arxiv.org/abs/{parsed[0]}"},
    )
    if qname.localname == "arXiv":
        for a in meta.iterfind(f"{ns}authors/{ns}author"):
            family = _t(a, f"{ns}keyname") or ""
            given = _t(a, f"{ns}forenames") or ""
            suffix = _t(a, f"{ns}suffix")
            name = f"{family}, {given}" if given else family
            if suffix:
                name = f"{family}, {suffix}, {given}"
            affs = [
                x.text.strip() for x in a.iterfind(f"{ns}affiliation") if x.text and x.text.strip()
            ]
            if name.strip(", "):
                rec.authors.append(AuthorRecord(name, affs))
        rec.published = iso_date(_t(meta, f"{ns}created"))
        rec.updated = iso_date(_t(meta, f"{ns}updated")) or rec.published
    else:
        rec.authors = [
            AuthorRecord(n, a) for n, a in split_author_list(_t(meta, f"{ns}authors") or "")
        ]
        for v in meta.iterfind(f"{ns}version"):
            number = parse_arxiv_id(f"{parsed[0]}{v.get('version', '')}")
            size = _t(v, f"{ns}size")
            rec.versions.append(
                {
                    "version": number[1] if number else None,
                    "date": iso_date(_t(v, f"{ns}date")),
                    "size": size,
                }
            )
        dated = [v for v in rec.versions if v["date"]]
        if dated:
            rec.published = dated[0]["date"]
            rec.updated = dated[-1]["date"]
        rec.arxiv_version = max((v["version"] or 0 for v in rec.versions), default=0) or None
    return rec


def _records(root: etree._Element, filename: str) -> Iterator[Item]:
    error = root.find(f"{OAI}error")
    if error is not None:
        code = error.get("code", "")
        if code == "noRecordsMatch":
            return
        raise RecordError(filename, f"OAI-PMH error {code}: {(error.text or '').strip()}")
    for i, record in enumerate(root.iter(f"{OAI}record"), 1):
        header = record.find(f"{OAI}header")
        ident = _t(header, f"{OAI}identifier") or f"record {i}"
        where = f"{filename}#{ident}"
        if header is not None and header.get("status") == "deleted":
            continue
        yield record_item(record, where)


def record_item(record: etree._Element, where: str) -> Item:
    """One OAI-PMH ``<record>`` as a paper record, or the reason it is not one."""
    meta = record.find(f"{OAI}metadata")
    if meta is None or len(meta) == 0:
        return RecordError(where, "record has no <metadata>")
    try:
        return metadata_record(meta[0], where)
    except RecordError as e:
        return e


class OaiPmh(Source):
    name = "oai-pmh"
    priority = 90
    description = "arXiv OAI-PMH responses (metadataPrefix arXiv or arXivRaw)"

    def sniff(self, head: bytes, filename: str) -> int:
        start = head.lstrip()[:100]
        if (start.startswith(b"<?xml") or start.startswith(b"<OAI-PMH")) and b"<OAI-PMH" in head:
            return 95
        return 0

    def parse(self, stream: BinaryIO, filename: str) -> Iterator[Item]:
        root = read_xml(stream, filename)
        if etree.QName(root).localname != "OAI-PMH":
            raise RecordError(filename, "not an OAI-PMH response")
        yield from _records(root, filename)


def harvest(
    settings: dict[str, Any],
    metadata_prefix: str = "arXiv",
    set_spec: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Iterator[Item]:
    """Records harvested live with ``sickle``, following resumption tokens."""
    import requests
    from sickle import Sickle
    from sickle.oaiexceptions import NoRecordsMatch, OAIError

    harvester = Sickle(
        settings["oai_pmh_url"],
        max_retries=settings["retries"],
        retry_status_codes=(429, 500, 502, 503),
        default_retry_after=settings["oai_retry_after"],
        timeout=60,
    )
    args = {"metadataPrefix": metadata_prefix, "ignore_deleted": True}
    if set_spec:
        args["set"] = set_spec
    if since:
        args["from"] = since
    if until:
        args["until"] = until
    try:
        for record in harvester.ListRecords(**args):
            yield record_item(record.xml, f"{settings['oai_pmh_url']}#{record.header.identifier}")
    except NoRecordsMatch:
        return
    except OAIError as e:
        raise SourceError(f"OAI-PMH error: {e}") from e
    except requests.RequestException as e:
        raise SourceError(f"OAI-PMH endpoint failed: {e}") from e


register(OaiPmh())
