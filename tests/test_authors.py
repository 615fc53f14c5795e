"""Telling apart the people who share a name, and making a researcher profile of one."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import cli_json
from paperfeed import config
from paperfeed.embed.index import embed_store
from paperfeed.embed.model import HashingEmbedder
from paperfeed.ingest.pipeline import ingest_path
from paperfeed.recommend.authors import (
    COMMON_NAME,
    RARE_NAME,
    Signed,
    author_identities,
    bcubed,
    split_identities,
)
from paperfeed.store import open_store
from paperfeed.web.app import create_app
from webapp import corpus_rows, csrf_of, sign_up

SHARED_NAME = "Alex Homonym"


def paper(key: str, coauthors: list[str], text: str = "") -> Signed:
    return Signed(key=key, text=text, coauthors=coauthors)


def test_shared_coauthors_link_papers_by_how_rare_the_name_is() -> None:
    papers = [
        paper("a1", ["Rare Person", "Mid One"]),
        paper("a2", ["Rare Person"]),
        paper("b1", ["Mid One", "Mid Two"]),
        paper("b2", ["Mid One", "Mid Two"]),
        paper("c1", ["Everyone Else"]),
        paper("c2", ["Everyone Else"]),
    ]
    counts = {
        "person, rare": 3,
        "one, mid": RARE_NAME + 5,
        "two, mid": RARE_NAME + 5,
        "else, everyone": COMMON_NAME + 1,
    }
    groups = split_identities(papers, merge_at=1.01, counts=counts)
    named = sorted(sorted(papers[i].key for i in g) for g in groups)
    # a rare co-author links alone; two mid-frequency ones link together; a common one, never
    assert named == [["a1", "a2"], ["b1", "b2"], ["c1"], ["c2"]]
    # without counts every shared co-author links (and one of them chains a and b)
    loose = split_identities(papers, merge_at=1.01)
    assert sorted(len(g) for g in loose) == [2, 4]


def test_groups_merge_by_topic_when_no_coauthor_links_them() -> None:
    robots = "robot grasping manipulation policy learning gripper"
    proteins = "protein folding structure prediction amino acid"
    papers = [
        paper("r1", ["A"], robots),
        paper("r2", ["B"], robots + " tactile"),
        paper("p1", ["C"], proteins),
        paper("p2", ["D"], proteins + " docking"),
    ]
    groups = split_identities(papers, merge_at=0.3)
    assert sorted(sorted(papers[i].key for i in g) for g in groups) == [["p1", "p2"], ["r1", "r2"]]


def test_bcubed_matches_a_hand_count() -> None:
    # items 0,1,2 are person A, 3,4 person B; predicted {0,1}, {2,3,4}
    scores = bcubed([[0, 1], [2, 3, 4]], [0, 0, 0, 1, 1])
    precision = (1 + 1 + 1 / 3 + 2 / 3 + 2 / 3) / 5
    recall = (2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5
    assert scores["precision"] == pytest.approx(precision)
    assert scores["recall"] == pytest.approx(recall)
    assert scores["f1"] == pytest.approx(2 * precision * recall / (precision + recall))


def _two_people(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """Two real authors with 3+ papers, who never wrote together or shared a co-author."""
    counts = Counter(a for r in rows for a in r["authors"])
    frequent = [a for a, n in counts.items() if n >= 3]
    circle = {a: {c for r in rows if a in r["authors"] for c in r["authors"]} for a in frequent}
    for x in frequent:
        for y in frequent:
            if x < y and not circle[x] & circle[y]:
                return x, y
    raise AssertionError("no two separate authors in the sample")


@pytest.fixture(scope="module")
def homonyms(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, set[str]]]:
    """A store where two real people were given one name; who wrote what."""
    folder = tmp_path_factory.mktemp("authors")
    rows = corpus_rows(1500)
    first, second = _two_people(rows)
    truth: dict[str, set[str]] = {first: set(), second: set()}
    for r in rows:
        for who in (first, second):
            if who in r["authors"]:
                truth[who].add(r["id"])
                r["authors"] = [SHARED_NAME if a == who else a for a in r["authors"]]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = str(folder / "authors.db")
    store = open_store(db)
    ingest_path(store, folder / "corpus.jsonl")
    embed_store(store, HashingEmbedder())
    store.close()
    return db, truth


def test_the_store_tells_two_people_with_one_name_apart(homonyms: Any) -> None:
    db, truth = homonyms
    store = open_store(db)
    try:
        people = author_identities(store, SHARED_NAME)
    finally:
        store.close()
    found = [{s.key.ref for s in person.papers} for person in people]
    assert sum(len(f) for f in found) == sum(len(t) for t in truth.values())
    for group in found:  # no identity mixes the two people
        assert any(group <= t for t in truth.values()), group
    assert people[0].summary.startswith(f"{len(people[0].papers)} papers")


def test_author_command_and_a_profile_from_one_identity(homonyms: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from paperfeed.cli import main

    db, truth = homonyms
    env = {"PAPERFEED_EMBEDDER": "hashing"}
    run = CliRunner().invoke(main, ["--db", db, "author", SHARED_NAME, "--json"], env=env)
    assert run.exit_code == 0, run.output
    listed = cli_json(run)
    assert len(listed) >= 2  # type: ignore[arg-type]
    ambiguous = CliRunner().invoke(
        main, ["--db", db, "profile", "from-author", "me", SHARED_NAME], env=env
    )
    assert ambiguous.exit_code == 2 and "pick one with --identity" in ambiguous.output
    picked = CliRunner().invoke(
        main,
        ["--db", db, "profile", "from-author", "me", SHARED_NAME, "--identity", "1"],
        env=env,
    )
    assert picked.exit_code == 0, picked.output
    store = open_store(db)
    try:
        mine = {p.ref for p in store.profile_papers("me")}
    finally:
        store.close()
    assert mine == set(listed[0]["papers"])  # type: ignore[index]
    assert any(mine <= t for t in truth.values())


def test_this_is_me_on_the_author_page(homonyms: Any) -> None:
    db, truth = homonyms
    settings = config.load(env={}, db=db, embedder="hashing", secret_key="k")
    with TestClient(create_app(settings), follow_redirects=True) as client:
        sign_up(client, "alex", "p" * 10)
        author = client.get(f"/author/{SHARED_NAME}")
        assert "people sign “Alex Homonym”" in author.text
        made = client.post(
            "/library/from-author",
            data={"author": SHARED_NAME, "identity": ["1"], "csrf": csrf_of(author.text)},
        )
        assert made.status_code == 200 and "papers of Alex Homonym in your profile" in made.text
        feed = client.get("/api/feed", params={"profile": "alex/Alex Homonym"})
        assert feed.status_code == 200 and feed.json()
    store = open_store(db)
    try:
        mine = {p.ref for p in store.profile_papers("alex/Alex Homonym")}
    finally:
        store.close()
    assert mine and any(mine <= t for t in truth.values())  # one person's papers only
