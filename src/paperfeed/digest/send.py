"""Sending digests so that none goes out twice and none is skipped.

Each (profile, period) is claimed in the store before the SMTP call and marked sent after
it. A run that finds a digest already sent skips it; a claim left behind by a crash between
the two steps is sent again with the same Message-ID, which receiving systems use to drop
the duplicate. A failed SMTP call leaves the claim, so the next run retries it.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from functools import partial
from typing import Any

from paperfeed.digest.compose import compose, period_of
from paperfeed.errors import InputError, SourceError
from paperfeed.recommend.rank import Recommendation
from paperfeed.recommend.service import Recommender
from paperfeed.store import Store

PAPERS_PER_DIGEST = 20

Send = Callable[[EmailMessage], None]
#: Rankings of many profiles for one window: ``(names, day, since, limit)`` -> each name
#: with its ranking or the reason it has none (:meth:`Recommender.recommend_many`).
RankMany = Callable[
    [list[str], str | None, str | None, int],
    Iterable[tuple[str, list[Recommendation] | InputError]],
]
#: A profile's name and a digest's window: its first and last day.
Window = tuple[str, tuple[str, str]]


@dataclass
class DigestReport:
    profile: str
    email: str
    period: str
    status: str  # sent, already-sent, empty, dry-run, failed, skipped
    papers: int = 0
    detail: str = ""
    message: EmailMessage | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "email": self.email,
            "period": self.period,
            "status": self.status,
            "papers": self.papers,
            "detail": self.detail,
        }


def smtp_sender(settings: dict[str, Any]) -> Send:
    """Send through the configured SMTP server (plain, STARTTLS or SSL; login if set)."""

    def send(message: EmailMessage) -> None:
        host, port = settings["smtp_host"], int(settings["smtp_port"])
        security = settings["smtp_security"]
        if security not in ("none", "starttls", "ssl"):
            raise InputError(f"smtp_security is {security!r}: use none, starttls or ssl")
        tls = ssl.create_default_context(cafile=settings.get("smtp_ca_file") or None)
        try:
            if security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=30, context=tls)
            else:
                client = smtplib.SMTP(host, port, timeout=30)
            with client:
                if security == "starttls":
                    client.starttls(context=tls)
                if settings["smtp_user"]:
                    client.login(settings["smtp_user"], settings["smtp_password"])
                client.send_message(message)
        except (OSError, smtplib.SMTPException) as e:
            raise SourceError(f"SMTP {host}:{port}: {e}") from e

    return send


def send_digests(
    store: Store,
    recommender: Recommender,
    settings: dict[str, Any],
    dry_run: bool = False,
    send: Send | None = None,
    workers: int = 1,
    rank_many: RankMany | None = None,
    ranked: Mapping[Window, list[Recommendation] | InputError] | None = None,
) -> list[DigestReport]:
    """Send every subscription's digest that is due and not sent yet. The due profiles are
    ranked first, all of a window's at once (``workers`` processes: see
    :meth:`Recommender.recommend_many`; or ``rank_many``, which takes the names, the day,
    the window's first day and how many, as ``recommend_many`` does: the sync ranks on a
    Ray cluster so), then composed and sent one by one. ``ranked``: rankings already made,
    by profile name and window (first day, last day), of at least
    :data:`PAPERS_PER_DIGEST` papers, used instead of ranking those profiles again (the
    sync's rank step made its day's)."""
    if rank_many is None:
        rank_many = partial(recommender.recommend_many, workers=workers)
    send = send or smtp_sender(settings)
    latest = store.latest_day()
    reports: list[DigestReport] = []
    if latest is None:
        return reports
    due = []
    for profile, email, frequency in store.subscriptions():
        period, first, last = period_of(frequency, latest)
        report = DigestReport(profile.name, email, period, "sent")
        reports.append(report)
        if store.digest_status(profile.id, period) in ("sent", "empty"):
            report.status = "already-sent"
            continue
        due.append((profile, email, period, (first, last), report))
    windows: dict[tuple[str, str], list[str]] = {}
    for profile, _, _, window, _ in due:
        windows.setdefault(window, []).append(profile.name)
    known = dict(ranked or {})
    for window, names in windows.items():
        todo = [name for name in dict.fromkeys(names) if (name, window) not in known]
        if todo:
            for name, result in rank_many(todo, window[1], window[0], PAPERS_PER_DIGEST):
                known[(name, window)] = result
    for profile, email, period, window, report in due:
        recs = known[(profile.name, window)]
        if isinstance(recs, InputError):  # a profile with nothing to rank by yet
            report.status, report.detail = "skipped", str(recs)
            continue
        recs = recs[:PAPERS_PER_DIGEST]
        report.papers = len(recs)
        if dry_run:
            report.status = "dry-run"
            report.message = compose(settings, profile, email, recs, period, make_msgid("digest"))
            continue
        with store.writer() as w:
            message_id = w.claim_digest(profile.id, period, make_msgid("digest"), len(recs))
            if message_id is not None and not recs:
                w.finish_digest(profile.id, period, "empty")
        if message_id is None:
            report.status = "already-sent"
            continue
        if not recs:
            report.status = "empty"
            continue
        message = compose(settings, profile, email, recs, period, message_id)
        try:
            send(message)
        except SourceError as e:
            report.status, report.detail = "failed", str(e)
            continue
        with store.writer() as w:
            w.finish_digest(profile.id, period, "sent")
        report.message = message
    return reports
