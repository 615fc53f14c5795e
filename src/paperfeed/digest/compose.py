"""A digest as an email: plain text and HTML parts, one-click feedback and unsubscribe links.

Unsubscribing follows RFC 8058: a ``List-Unsubscribe`` header with a signed HTTPS link and
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``, so a mail client can unsubscribe with
one POST and no sign-in.
"""

from __future__ import annotations

from datetime import date, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape

from paperfeed.models import Profile
from paperfeed.normalize import xml_text
from paperfeed.recommend.rank import Recommendation
from paperfeed.signing import sign

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    # a digest never carries a character a mail client's XML or HTML parser chokes on
    finalize=lambda value: type(value)(xml_text(value)) if isinstance(value, str) else value,
    trim_blocks=True,
    lstrip_blocks=True,
)


def period_of(frequency: str, latest_day: str) -> tuple[str, str, str]:
    """``(period key, first day, last day)`` of the digest due for the latest listing day:
    that day for a daily digest, its ISO week (Monday to that day) for a weekly one."""
    day = date.fromisoformat(latest_day[:10])
    if frequency == "weekly":
        year, week, weekday = day.isocalendar()
        return f"{year}-W{week:02d}", (day - timedelta(days=weekday - 1)).isoformat(), str(day)
    return str(day), str(day), str(day)


def unsubscribe_message(profile_id: int) -> str:
    """What an unsubscribe link signs (the web app checks the same message)."""
    return f"unsubscribe:{profile_id}"


#: Where digest links point when no address is configured (``PAPERFEED_BASE_URL``, or the
#: address ``serve`` listens on).
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def rate_message(profile_id: int, signal: str, ref: str) -> str:
    """What a one-click feedback link signs (the web app checks the same message)."""
    return f"rate:{profile_id}:{signal}:{ref}"


def links(settings: dict[str, Any], profile: Profile) -> dict[str, Any]:
    """Signed one-click links for a profile: unsubscribe, and feedback per paper and signal."""
    # the configured address, else where ``serve`` listens (its scheduler sends them)
    base = settings.get("base_url") or settings.get("listen_url") or DEFAULT_BASE_URL
    base = str(base).rstrip("/")
    key = settings["secret_key"]
    unsubscribe = sign(key, unsubscribe_message(profile.id))
    return {
        "base": base,
        "unsubscribe": f"{base}/unsubscribe/{profile.id}?s={unsubscribe}",
        "rate": lambda ref, signal: (
            f"{base}/r/{profile.id}/{signal}/{quote(ref, safe='')}"
            f"?s={sign(key, rate_message(profile.id, signal, ref))}"
        ),
    }


def compose(
    settings: dict[str, Any],
    profile: Profile,
    to: str,
    recs: list[Recommendation],
    period: str,
    message_id: str,
) -> EmailMessage:
    link = links(settings, profile)
    context = {"profile": profile, "recs": recs, "period": period, "link": link}
    msg = EmailMessage()
    msg["Subject"] = f"paperfeed: {len(recs)} papers for {profile.label} ({period})"
    msg["From"] = settings["mail_from"]
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id
    msg["List-Unsubscribe"] = f"<{link['unsubscribe']}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["X-Paperfeed-Period"] = period
    msg.set_content(_templates.get_template("digest.txt").render(context))
    msg.add_alternative(_templates.get_template("digest.html").render(context), subtype="html")
    return msg
