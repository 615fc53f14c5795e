"""The sync's harvest steps: arXiv OAI-PMH since the watermark, and the day's announcements.

Both keep their place in the store (``Store.sync_state``), not in a file beside it:

- OAI-PMH: ``oai:SET:PREFIX:from`` is the watermark (the ``responseDate`` day of the last
  complete harvest, which only moves forward), ``...:token`` the resumption token of the
  next page, saved after each page is stored: a killed harvest resumes at that page. An
  expired token (``badResumptionToken``) starts again from the watermark; what was stored
  stays stored (records are kept by content hash, so a page read twice changes nothing).
- announcements: each category's Atom listing gives the day its papers were announced
  (``listed``); a replacement keeps its first day (the merge keeps the earliest listing).

A bad record in a harvested page is reported by identifier and the rest of the page is
stored: the live path skips and reports, where a user's file is refused whole.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from paperfeed.errors import SourceError
from paperfeed.ingest import registry
from paperfeed.ingest.pipeline import ingest_items
from paperfeed.ingest.sources._common import parse_xml
from paperfeed.models import PaperRecord
from paperfeed.store import Store
from paperfeed.sync.http import Fetcher

OAI = "{http://www.openarchives.org/OAI/2.0/}"
#: Restarts from the watermark after expired tokens before the harvest gives up.
MOST_RESTARTS = 2


@dataclass
class HarvestReport:
    pages: int = 0
    records: int = 0
    new: int = 0
    merged: int = 0
    bad: list[str] = field(default_factory=list)
    restarts: int = 0
    watermark: str | None = None

    def add(self, report: Any) -> None:
        self.records += report.records
        self.new += report.new
        self.merged += report.merged
        self.bad += [str(e) for e in report.bad]


def _checked(body: bytes, url: str) -> None:
    parse_xml(body, url)


def harvest_oai(
    store: Store, fetcher: Fetcher, settings: dict[str, Any], today: str
) -> HarvestReport:
    """Harvest ``sync_oai_set`` in ``sync_oai_format`` from the watermark, page by page."""
    url, prefix, set_spec = (
        settings["oai_pmh_url"],
        settings["sync_oai_format"],
        settings["sync_oai_set"],
    )
    key = f"oai:{set_spec or '*'}:{prefix}"
    state = store.sync_state(key)
    report = HarvestReport(watermark=state.get(f"{key}:from"))
    since = report.watermark or settings["sync_since"] or today
    token = state.get(f"{key}:token")
    started = state.get(f"{key}:started")  # the day this harvest began, once it has
    source = registry.get("oai-pmh")
    while True:
        if token:
            params = {"verb": "ListRecords", "resumptionToken": token}
        else:
            params = {"verb": "ListRecords", "metadataPrefix": prefix, "from": since}
            if set_spec:
                params["set"] = set_spec
        body = fetcher.get(url, params, check=_checked)
        root = parse_xml(body, url)
        error = root.find(f"{OAI}error")
        code = error.get("code") if error is not None else None
        if code == "badResumptionToken" and token and report.restarts < MOST_RESTARTS:
            report.restarts += 1
            token = None
            with store.writer() as w:
                w.set_sync_state(f"{key}:token", None)
            continue
        if code not in (None, "noRecordsMatch"):
            text = (error.text or "").strip() if error is not None else ""
            raise SourceError(f"{url}: OAI-PMH error {code}: {text}")
        if started is None:
            started = (root.findtext(f"{OAI}responseDate") or today)[:10]
        report.pages += 1
        if code is None:
            where = f"{url} page {report.pages}"
            items = list(source.parse(io.BytesIO(body), where))
            report.add(ingest_items(store, items, where, "oai-pmh", skip_bad=True))
        found = root.find(f".//{OAI}resumptionToken")
        token = (found.text or "").strip() if found is not None else ""
        with store.writer() as w:  # the page is stored: remember where the next one starts
            w.set_sync_state(f"{key}:token", token or None)
            w.set_sync_state(f"{key}:started", None if not token else started)
            if not token:
                # the watermark only moves forward, whatever a clock says
                mark = max(report.watermark or "", started)
                w.set_sync_state(f"{key}:from", mark)
                report.watermark = mark
        if not token:
            return report


def announcements(store: Store, fetcher: Fetcher, settings: dict[str, Any]) -> HarvestReport:
    """Each ``sync_categories`` category's announcement listing, stored with its day."""
    report = HarvestReport()
    source = registry.get("arxiv-rss")
    for category in filter(None, (c.strip() for c in settings["sync_categories"].split(","))):
        url = f"{settings['arxiv_rss_url'].rstrip('/')}/{category}"
        body = fetcher.get(url, check=_checked)
        report.pages += 1
        items = list(source.parse(io.BytesIO(body), url))
        report.add(ingest_items(store, items, url, "arxiv-rss", skip_bad=True))
        days = sorted({i.listed for i in items if isinstance(i, PaperRecord) and i.listed})
        if days:
            with store.writer() as w:
                w.set_sync_state(f"rss:{category}:day", days[-1])
            report.watermark = max(report.watermark or "", days[-1])
    return report
