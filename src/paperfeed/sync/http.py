"""Polite, patient GETs for the daily sync: one request every ``arxiv_delay`` seconds,
``Retry-After`` honoured on 503/429, retries with backoff on resets and cut bodies.

The transport is a ``requests.Session`` (tests point it at a local replay server); the clock
and the sleep are injectable so tests need not wait out a Retry-After.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from paperfeed.errors import RecordError, SourceError

#: Answers worth trying again: the server is busy or briefly down.
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date), if it says."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


class Fetcher:
    """GETs with arXiv's politeness and patience; ``check`` (a parser) makes a cut or
    garbled body a failure worth retrying, like a reset connection."""

    def __init__(
        self,
        settings: dict[str, Any],
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session or requests.Session()
        self.session.headers.setdefault("User-Agent", "paperfeed (self-hosted paper feed)")
        self.delay = float(settings["arxiv_delay"])
        self.retries = int(settings["retries"])
        self.backoff = float(settings["backoff"])
        self.longest_wait = float(settings["sync_longest_wait"])
        self.sleep, self.clock = sleep, clock
        self._last = float("-inf")
        self.requests = 0
        self.waited = 0.0

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.waited += seconds
            self.sleep(seconds)

    def get(
        self,
        url: str,
        params: dict[str, str] | None = None,
        check: Callable[[bytes, str], object] | None = None,
    ) -> bytes:
        problem = ""
        for attempt in range(self.retries + 1):
            self._wait(self._last + self.delay - self.clock())
            self._last = self.clock()
            self.requests += 1
            pause = self.backoff * 2**attempt
            try:
                answer = self.session.get(url, params=params, timeout=60)
                body = answer.content  # a reset mid-body raises here
            except requests.RequestException as e:
                problem = f"{type(e).__name__}: {e}"
                self._wait(pause)
                continue
            if answer.status_code in RETRY_STATUS:
                asked = retry_after(answer.headers.get("Retry-After"), self.clock())
                problem = f"HTTP {answer.status_code}"
                if asked is not None and asked > self.longest_wait:
                    raise SourceError(
                        f"{answer.url}: asked to retry after {asked:.0f} s, longer than the "
                        f"sync_longest_wait setting ({self.longest_wait:.0f} s)"
                    )
                self._wait(pause if asked is None else asked)
                continue
            if answer.status_code >= 400:
                raise SourceError(f"{answer.url} answered HTTP {answer.status_code}")
            if check is not None:
                try:
                    check(body, answer.url)
                except RecordError as e:  # cut short or garbled on the way: ask again
                    problem = str(e)
                    self._wait(pause)
                    continue
            return body
        raise SourceError(f"{url}: no usable answer after {self.retries + 1} tries ({problem})")
