"""Email digests: each subscribed profile's ranked papers, sent once per period."""

from paperfeed.digest.compose import compose, period_of
from paperfeed.digest.send import DigestReport, send_digests

__all__ = ["DigestReport", "compose", "period_of", "send_digests"]
