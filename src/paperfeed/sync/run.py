"""``paperfeed sync``: a day's work in order, each step idempotent and resumable.

harvest (OAI-PMH since the watermark) -> announce (the day's listings) -> enrich (where the
day's authors work, venues, from Semantic Scholar: optional) -> embed (what is new) ->
refresh (the lexical model, once the store has grown) -> rank (every profile, for the newest
day; models kept) -> send (due digests, each once).

One sync runs at a time across processes: a lease in the store, renewed before each step,
that another process may take once it has expired (its holder died). Each step's outcome is
kept in the store for ``paperfeed sync status``, ``/api/status`` and the web app.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson

from paperfeed.errors import InputError, PaperfeedError
from paperfeed.models import SearchFilters
from paperfeed.store import Store
from paperfeed.sync.harvest import announcements, harvest_oai
from paperfeed.sync.http import Fetcher

log = logging.getLogger("paperfeed.sync")

STEPS = ("harvest", "announce", "enrich", "embed", "refresh", "rank", "send")
LEASE = "sync"
#: How long a lease lasts without renewal: past it, a dead holder's sync may be taken over.
LEASE_SECONDS = 30 * 60


class SyncBusy(PaperfeedError):
    """Another process is syncing this store."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def next_run(settings: dict[str, Any], now: datetime | None = None) -> str:
    """When the server's schedule runs the sync next (``sync_hour``, UTC)."""
    now = now or datetime.now(UTC)
    at = now.replace(hour=int(settings["sync_hour"]), minute=0, second=0, microsecond=0)
    if at <= now:
        at += timedelta(days=1)
    return at.isoformat(timespec="seconds")


#: How long after a failed run the schedule tries again.
RETRY_SECONDS = 3600


def due(store: Store, settings: dict[str, Any], now: datetime | None = None) -> bool:
    """Whether the schedule should sync now: past ``sync_hour`` (UTC) and no run today that
    went well (a failed one is tried again after an hour)."""
    now = now or datetime.now(UTC)
    if now.hour < int(settings["sync_hour"]):
        return False
    kept = store.sync_state("run").get("run")
    if kept is None:
        return True
    last = orjson.loads(kept)
    started = datetime.fromisoformat(last["started"])
    if started.date() != now.date() or started > now:  # another day, or a clock gone back
        return True
    return not last.get("ok") and (now - started).total_seconds() >= RETRY_SECONDS


def summary(store: Store) -> str:
    """One line on how current the store is, for the web app's pages."""
    kept = store.sync_state("run").get("run")
    latest = store.latest_day()
    papers = f"Papers up to {latest}" if latest else "No papers yet"
    if kept is None:
        return f"{papers}; no sync has run (paperfeed sync)."
    last = orjson.loads(kept)
    failed = [s for s, r in last.get("steps", {}).items() if r["outcome"] != "ok"]
    when = last["started"].replace("T", " ")[:16]
    if failed:
        return f"{papers}; the sync of {when} UTC failed at {', '.join(failed)}."
    return f"{papers}; synced {when} UTC."


def status(store: Store, settings: dict[str, Any]) -> dict[str, Any]:
    """Each step's last outcome, the watermarks, who syncs now and when the next run is."""
    kept = store.sync_state()
    steps = {s: orjson.loads(kept[f"step:{s}"]) for s in STEPS if f"step:{s}" in kept}
    marks = {k: v for k, v in kept.items() if k.endswith((":from", ":day", ":token"))}
    return {
        "steps": steps,
        "last_run": orjson.loads(kept["run"]) if "run" in kept else None,
        "watermarks": marks,
        "running": store.lease_holder(LEASE, time.time()),
        "next_run": next_run(settings),
    }


def _dead_here(holder: str) -> bool:
    """Whether ``holder`` (host:pid:...) was a process of this machine that is gone."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


class Sync:
    """One run of the steps against a store; what each step needs is built on first use."""

    def __init__(
        self,
        store: Store,
        settings: dict[str, Any],
        fetcher: Fetcher | None = None,
        recommender: Any = None,
        send: Callable[[Any], None] | None = None,
        today: str | None = None,
        workers: int = 1,
        s2_transport: Any = None,
    ) -> None:
        self.s2_transport = s2_transport  # an httpx transport: tests answer for the API
        self.store, self.settings, self.workers = store, settings, workers
        self.fetcher = fetcher or Fetcher(settings)
        self._recommender, self.send = recommender, send
        self._ranked: dict[Any, Any] = {}  # the rank step's rankings the send step uses
        self.today = today or datetime.now(UTC).date().isoformat()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"

    @property
    def recommender(self) -> Any:
        if self._recommender is None:
            from paperfeed.embed import load_embedder
            from paperfeed.recommend.service import Recommender

            self._recommender = Recommender(self.store, load_embedder(self.settings))
        return self._recommender

    def _lease(self) -> None:
        with self.store.writer() as w:
            if w.take_lease(LEASE, self.holder, LEASE_SECONDS, time.time()):
                return
            holder = self.store.lease_holder(LEASE, time.time()) or ""
            if _dead_here(holder):  # killed on this machine: no need to wait out its lease
                w.release_lease(LEASE, holder)
                if w.take_lease(LEASE, self.holder, LEASE_SECONDS, time.time()):
                    return
        raise SyncBusy(f"another sync is running ({holder}); try again later")

    def run(self, steps: tuple[str, ...] = STEPS) -> dict[str, Any]:
        """Run ``steps`` in order; a failing step is recorded and the next ones still run
        (digests go out on what is there), and the run's outcome says which failed."""
        self._lease()
        outcome: dict[str, Any] = {"started": _now(), "steps": {}}
        try:
            for step in steps:
                self._lease()  # renewed: a long step keeps it
                began = time.monotonic()
                try:
                    detail = _plain(getattr(self, f"_{step}")())
                    result = {"outcome": "ok", "detail": detail}
                except PaperfeedError as e:
                    log.error("sync %s failed: %s", step, e)
                    result = {"outcome": "failed", "error": str(e)}
                result |= {"finished": _now(), "seconds": round(time.monotonic() - began, 2)}
                outcome["steps"][step] = result
                with self.store.writer() as w:
                    w.set_sync_state(f"step:{step}", orjson.dumps(result).decode())
            outcome["finished"] = _now()
            outcome["ok"] = all(r["outcome"] == "ok" for r in outcome["steps"].values())
            with self.store.writer() as w:
                w.set_sync_state("run", orjson.dumps(outcome).decode())
        finally:
            with self.store.writer() as w:
                w.release_lease(LEASE, self.holder)
        return outcome

    # -- the steps -------------------------------------------------------------------------

    def _harvest(self) -> Any:
        if not self.settings["oai_pmh_url"] or not self.settings["sync_oai_set"]:
            return "off (no sync_oai_set)"
        return harvest_oai(self.store, self.fetcher, self.settings, self.today)

    def _announce(self) -> Any:
        if not self.settings["sync_categories"]:
            return "off (no sync_categories)"
        return announcements(self.store, self.fetcher, self.settings)

    def _enrich(self) -> Any:
        if self.settings["sync_enrich"] != "s2":
            return "off (sync_enrich is not s2)"
        from paperfeed.ingest.pipeline import ingest_items
        from paperfeed.ingest.sources.semantic_scholar import ENRICH_FIELDS, Client

        day = self.store.latest_day()
        if day is None or self.store.sync_state("s2:day").get("s2:day") == day:
            return {"day": day, "papers": 0}
        listed = self.store.filter_ids(SearchFilters(since=day, until=day))
        papers = self.store.papers([int(i) for i in listed])
        ids = [f"ARXIV:{p.ids['arxiv']}" for p in papers if "arxiv" in p.ids]
        client = Client(self.settings, self.s2_transport)
        items = list(client.batch(ids, ENRICH_FIELDS))
        report = ingest_items(
            self.store, items, "Semantic Scholar", "semantic-scholar", skip_bad=True
        )
        with self.store.writer() as w:
            w.set_sync_state("s2:day", day)
        return {"day": day, "asked": len(ids), "found": report.records, "bad": len(report.bad)}

    def _embed(self) -> Any:
        from paperfeed.embed.index import embed_store
        from paperfeed.search.vectors import ANN_THRESHOLD

        address = self.settings.get("ray_address")
        model = self.recommender.embedder.name
        if address:  # the corpus-scale job on the cluster; the store is what they share
            from paperfeed.embed.ray_engine import embed_with_ray

            report = embed_with_ray(self.store.location, self.settings, model, address)
        else:
            report = embed_store(self.store, self.recommender.embedder)
        # a database that keeps its own vector index (PostgreSQL) has it built again once
        # the vectors grew enough (SQLite's is the search's, built by the server)
        self.store.build_ann(model, ANN_THRESHOLD)
        return report

    def _refresh(self) -> Any:
        from paperfeed.recommend.lexical import LexicalModel

        try:
            model = LexicalModel.for_store(self.store)  # refitted once the store grew enough
        except InputError as e:  # a new store: nothing to refresh yet
            return {"skipped": str(e)}
        if self._recommender is not None:
            self._recommender.lexical = model
        return {"lexical_papers": model.size, "store_papers": self.store.paper_count()}

    def _rank(self) -> Any:
        try:
            self.recommender.warm()
        except InputError as e:  # too few papers to rank by yet (see refresh)
            return {"skipped": str(e)}
        day = self.store.latest_day()
        names = [p.name for p in self.store.profiles()]
        on_ray = self._on_ray()
        if on_ray is not None:  # every profile ranked on the cluster; their models kept
            results = on_ray(names, day, day, 50)
        else:
            results = self.recommender.recommend_many(names, day, day, 50, self.workers)
        # the day's rankings of profiles with a subscription are kept for the send step: a
        # daily digest is the top of the same ranking (made moments before), not made again
        from paperfeed.digest import period_of
        from paperfeed.digest.send import PAPERS_PER_DIGEST

        self._ranked = {}
        subscribed = {profile.name for profile, _, _ in self.store.subscriptions()}
        window = period_of("daily", day)[1:] if day else None
        ranked = failed = 0
        for name, result in results:
            if isinstance(result, PaperfeedError):
                failed += 1
                continue
            ranked += 1
            if name in subscribed and window:
                self._ranked[(name, window)] = result[:PAPERS_PER_DIGEST]
        engine = "local" if on_ray is None else "ray"
        return {"day": day, "profiles": ranked, "not_ranked": failed, "engine": engine}

    def _on_ray(self) -> Any:
        """Many profiles' rankings on the Ray cluster at ``ray_address`` (a callable taking
        ``(names, day, since, limit)``, as ``recommend_many`` does), or None without one."""
        address = self.settings.get("ray_address")
        if not address:
            return None
        from paperfeed.recommend.ray_engine import recommend_with_ray

        return partial(recommend_with_ray, self.store, self.settings, address=address)

    def _send(self) -> Any:
        from paperfeed.digest import send_digests

        reports = send_digests(
            self.store,
            self.recommender,
            self.settings,
            send=self.send,
            workers=self.workers,
            rank_many=self._on_ray(),
            ranked=self._ranked,
        )
        counts: dict[str, int] = {}
        for r in reports:
            counts[r.status] = counts.get(r.status, 0) + 1
        return counts
