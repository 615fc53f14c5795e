"""Private Atom feeds: ``/feeds/{token}.atom`` for a profile, the token its only key."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response
from feedgen.feed import FeedGenerator

from paperfeed.normalize import xml_text
from paperfeed.recommend.rank import Recommendation
from paperfeed.web.services import base_url, services_of

router = APIRouter(tags=["feeds"])


@router.get("/feeds/{token}.atom", response_class=Response)
def atom(request: Request, token: str) -> Response:
    """A profile's latest ranked papers as Atom (RFC 4287), for any feed reader."""
    services = services_of(request)
    profile = services.store.profile_by_token(token)
    services.ranking_ready()
    base = base_url(request)
    recs = services.recommender.recommend(profile.name, limit=50)
    fg = FeedGenerator()
    fg.id(f"{base}/feeds/{profile.id}")  # stable, and not the secret
    fg.title(xml_text(f"paperfeed: {profile.label}"))
    fg.subtitle(xml_text(f"New papers ranked for {profile.label}"))
    fg.link(href=f"{base}/", rel="alternate")
    fg.link(href=f"{base}/feeds/{token}.atom", rel="self")
    fg.generator("paperfeed")
    fg.updated(_when(recs[0]) if recs else datetime.now(UTC))
    for rec in reversed(recs):  # feedgen prepends: add the best last
        entry = fg.add_entry()
        url = f"{base}/paper/{rec.paper.ref}"
        entry.id(url)
        entry.title(xml_text(rec.paper.display_title))
        # One link only: feedgen 1.0 writes entry links without their rel, and a second
        # one would make two "alternate" links, which Atom forbids.
        entry.link(href=url)
        for a in rec.paper.authors[:20]:
            entry.author(name=xml_text(a.name))
        entry.updated(_when(rec))
        why = "".join(f"• {w}\n" for w in rec.why)
        entry.summary(xml_text(f"{why}\n{rec.paper.abstract or ''}".strip()))
        for c in rec.paper.categories:
            entry.category(term=xml_text(c))
    return Response(fg.atom_str(pretty=True), media_type="application/atom+xml; charset=utf-8")


def _when(rec: Recommendation) -> datetime:
    day = rec.paper.listed or rec.paper.published or "1970-01-01"
    try:
        return datetime.fromisoformat(day[:10]).replace(tzinfo=UTC)
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=UTC)
