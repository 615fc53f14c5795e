"""`paperfeed migrate-store`: a SQLite store into PostgreSQL and back, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import SEEDS, database_for
from paperfeed.cli import main
from paperfeed.embed.index import embed_store
from paperfeed.embed.model import HashingEmbedder
from paperfeed.ingest.pipeline import ingest_path
from paperfeed.models import Rule, SearchFilters
from paperfeed.recommend.lexical import LexicalModel
from paperfeed.store import Store, open_store
from paperfeed.store.transfer import content_digest
from webapp import corpus_rows


def _lived_in(store: Store, folder: Path) -> None:
    """A store as a few weeks of use leave it: papers, vectors, an account with a session,
    a profile with ratings, rules, a feed token, a subscription and a sent digest, a kept
    profile model, the sync's state and lease, the signing key and the lexical model."""
    rows = folder / "rows.jsonl"
    rows.write_text("".join(json.dumps(r) + "\n" for r in corpus_rows(400)))
    ingest_path(store, rows)
    ingest_path(store, sorted(SEEDS.iterdir())[0])
    embed_store(store, HashingEmbedder())
    LexicalModel.for_store(store)
    store.secret_key()
    with store.writer() as w:
        user = w.create_user("Ada", "ada@example.org", "$argon2id$hash")
        w.start_session("token-hash", user, "csrf-secret", "2999-01-01T00:00:00+00:00")
        profile = w.ensure_profile("ada/library", "reader", "mine", owner_id=user)
        w.add_to_profile(profile, [1, 2, 3])
        w.set_relation(profile, [4], "down")
        w.add_rule(profile, Rule("category", "cs.LG"))
        w.set_feed_token(profile, "feed-token")
        w.subscribe(profile, "ada@example.org", "weekly")
        w.claim_digest(profile, "2026-W48", "<m@paperfeed>", 5)
        w.finish_digest(profile, "2026-W48")
        w.save_profile_model(profile, b"key", b"\x00model bytes\xff")
        w.set_sync_state("oai:cs:arXivRaw:from", "2026-07-01")
        w.take_lease("sync", "host:1", 60.0, 1_000.0)
        venue = w.create_venue("Conf26", user, {"k": 2})
        vector = np.linspace(-1, 1, 8, dtype=np.float32)
        w.save_submissions(venue, [("s1", {"title": "A submission"}, "hashing", vector)])
        w.save_reviewers(venue, [("Ada", {"email": "ada@example.org"})])
        w.set_expertise(venue, "Ada", [1, 2])
        w.save_assignment(venue, [("s1", "Ada", 0.5, "wrote it")], {"summary": {}})


def _migrate(source: str, target: str, expect: int = 0) -> str:
    result = CliRunner().invoke(main, ["migrate-store", source, target, "--json"])
    assert result.exit_code == expect, (result.output, result.stderr, result.exception)
    return result.stdout if expect == 0 else result.stderr


def test_a_sqlite_store_goes_into_postgres_and_back_with_nothing_lost(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import paperfeed.search.vectors

    monkeypatch.setattr(paperfeed.search.vectors, "ANN_THRESHOLD", 1)
    first = str(tmp_path / "first.db")
    with open_store(first) as store:
        _lived_in(store, tmp_path)
        digest = content_digest(store)
        papers = store.paper_count()
        key = store.secret_key()
        found = store.keyword_search("neural networks", SearchFilters(), 20)
    shared = database_for(request, tmp_path, "postgres")
    copied = json.loads(_migrate(first, shared))
    assert copied["digest"] == digest and copied["copied"]["papers"] == papers
    back = str(tmp_path / "back.db")
    assert json.loads(_migrate(shared, back))["digest"] == digest

    with open_store(shared) as store:
        assert store.secret_key() == key  # links signed before still open
        assert store.profile_by_token("feed-token").name == "ada/library"
        session = store.session("token-hash")
        assert session is not None and session[0].name == "Ada"
        assert store.digest_status(store.profile("ada/library").id, "2026-W48") == "sent"
        assert store.lease_holder("sync", 1_001.0) == "host:1"
        venue = store.venue("Conf26")
        ((sid, doc, model, vector),) = store.venue_submissions(venue.id)
        assert (sid, doc["title"], model) == ("s1", "A submission", "hashing")
        assert vector.tolist() == np.linspace(-1, 1, 8, dtype=np.float32).tolist()
        ada = store.venue_reviewers(venue.id)[0]
        assert store.venue_reviewer_by_token(ada.token)[1].papers == [1, 2]
        assert store.venue_assignment(venue.id) == [("s1", "Ada", 0.5, "wrote it")]
        with store.writer() as w:
            assert w.create_venue("Other", None) > venue.id
        with store.writer() as w:  # ids go on after the copied ones
            w.ensure_profile("new", "reader")
        assert store.profile("new").id > store.profile("ada/library").id
        assert {pid for pid, _ in store.keyword_search("neural networks", SearchFilters(), 20)}
        models = store.stats()["embedded"]  # the copy built its own vector index
        assert models and all(store.ann_index(m) is not None for m in models)
    with open_store(back) as store:
        assert store.keyword_search("neural networks", SearchFilters(), 20) == found
        assert LexicalModel.for_store(store).size == papers  # the kept model, not fitted again


def test_a_store_is_copied_only_from_one_there_into_an_empty_one(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source = str(tmp_path / "source.db")
    with open_store(source) as store:
        ingest_path(store, sorted(SEEDS.iterdir())[0])
    target = database_for(request, tmp_path, "postgres")
    _migrate(source, target)
    said = _migrate(source, target, expect=1)
    assert "not empty" in said and "Traceback" not in said
    missing = str(tmp_path / "mistyped.db")
    said = _migrate(missing, str(tmp_path / "fresh.db"), expect=1)
    assert "no such store" in said and not Path(missing).exists()


def test_the_copy_knows_every_table_of_the_schema(store: Store) -> None:
    """A table added by a later migration and not copied would be lost without a word."""
    from paperfeed.store.transfer import unknown_tables

    assert unknown_tables(store) == set()
