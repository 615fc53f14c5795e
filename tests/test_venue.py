"""A venue kept in the store: its submissions (never among the papers), its pool with each
reviewer's private expertise page, the assignment and the chair's page, on both backends."""

from __future__ import annotations

import csv
import re
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import cli_json
from paperfeed import config
from paperfeed.embed.index import embed_store
from paperfeed.embed.model import HashingEmbedder
from paperfeed.ingest.pipeline import ingest_path
from paperfeed.match.inputs import read_reviewers, read_submissions
from paperfeed.match.kept import import_reviewers, import_submissions, reviewer_of
from paperfeed.store import open_store
from paperfeed.web.app import create_app
from webapp import csrf_of, sign_up


def _links(output: str) -> dict[str, str]:
    rows = list(csv.DictReader(output.splitlines()))
    return {r["name"]: r["link"] for r in rows}


def test_a_kept_venue_is_assigned_from_the_cli_and_its_submissions_stay_private(
    conference, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PAPERFEED_EMBEDDER", "hashing")
    folder, pool, subs = conference["folder"], conference["pool"], conference["submissions"]
    cli("ingest", folder / "store.jsonl")
    cli("embed")
    cli("venue", "create", "Conf26", "--k", "2", "--max-load", "4")
    assert "exists already" in cli("venue", "create", "Conf26", expect=1).stderr
    assert "import them first" in cli("assign", "--venue", "Conf26", expect=1).stderr
    said = cli("venue", "import", "Conf26", folder / "submissions.jsonl").stdout
    assert f"{len(subs)} submissions" in said
    cli("reviewers", "import", "Conf26", folder / "reviewers.csv")
    links = _links(cli("venue", "links", "Conf26", "--base-url", "https://pf.example").stdout)
    assert set(links) == set(pool)
    assert all(re.fullmatch(r"https://pf\.example/expertise/[\w-]{20,}", u) for u in links.values())
    assert len(set(links.values())) == len(pool)

    result = cli_json(cli("assign", "--venue", "Conf26", "--json"))
    pairs = {(e["submission"], e["reviewer"]) for e in result["edges"]}
    assert len(pairs) == 2 * len(subs)  # the venue's k
    assert not pairs & conference["banned"]
    assert len(result["weakest"]) == 10
    shown = cli_json(cli("venue", "show", "Conf26", "--json"))
    assert {(e["submission"], e["reviewer"]) for e in shown["assignment"]} == pairs

    # the submissions are nobody's papers: no search finds them
    title = subs[0]["title"]
    found = cli_json(cli("search", title, "--json"))
    assert all(hit["title"] != title for hit in found)

    # importing the pool again keeps every reviewer's link; a bad file stores nothing
    cli("reviewers", "import", "Conf26", folder / "reviewers.csv")
    assert _links(cli("venue", "links", "Conf26").stdout).keys() == links.keys()
    again = _links(cli("venue", "links", "Conf26", "--base-url", "https://pf.example").stdout)
    assert again == links
    broken = tmp_path / "more.jsonl"
    lines = (folder / "submissions.jsonl").read_text().splitlines(keepends=True)
    broken.write_text("".join([*lines[:2], '{"id": "2601.1", "title": \n']))
    said = cli("venue", "import", "Conf26", broken, expect=1).stderr
    assert "more.jsonl:3" in said and "Traceback" not in said
    assert cli_json(cli("venue", "show", "Conf26", "--json"))["submissions"] == len(subs)
    twice = tmp_path / "twice.csv"
    twice.write_text(f"name\n{pool[0]}\n{pool[0]}\n")
    assert "listed twice" in cli("reviewers", "import", "Conf26", twice, expect=1).stderr
    # the plain files still work beside it; a venue and files together are refused
    assert (
        "no files with it"
        in cli("assign", "--venue", "Conf26", folder / "submissions.jsonl", expect=2).stderr
    )


def test_a_reviewer_fixes_their_expertise_on_their_page_and_the_chair_assigns_on_theirs(
    conference, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paperfeed.web import venues

    folder, pool = conference["folder"], conference["pool"]
    settings = config.load(
        {}, db=db, embedder="hashing", secret_key="test-secret", base_url="http://testserver"
    )
    with open_store(db) as store:
        ingest_path(store, folder / "store.jsonl")
        embed_store(store, HashingEmbedder())
    with ExitStack() as stack:
        client = stack.enter_context(TestClient(create_app(settings), follow_redirects=True))
        sign_up(client, "chair", "a long phrase")
        with open_store(db) as store:
            chair = store.user("chair")
            assert chair is not None
            with store.writer() as w:
                w.create_venue("Conf26", chair.id, {"k": 2, "max_load": 4})
            venue = store.venue("Conf26")
            papers, ids, emails = read_submissions(
                (folder / "submissions.jsonl").read_bytes(), "submissions.jsonl"
            )
            import_submissions(store, HashingEmbedder(), venue, papers, ids, emails)
            import_reviewers(store, venue, read_reviewers(folder / "reviewers.csv"))
            kept = {r.name: r for r in store.venue_reviewers(venue.id)}
            # the reviewer with most papers in the store
            name = max(pool, key=lambda n: len(reviewer_of(store, kept[n]).papers))
        # the chair's page: run the assignment, see each pair's reason and the conflicts
        page = client.get("/venues/Conf26")
        assert page.status_code == 200 and "Assign reviewers" in page.text
        done = client.post("/venues/Conf26/assign", data={"csrf": csrf_of(page.text)})
        assert done.status_code == 200, done.text
        assert f"{2 * len(ids)} pairs assigned" in done.text
        assert "wrote " in done.text and "conflicts left out" in done.text
        assert "Weakest covered papers" in done.text
        assert "declared by the reviewer" in done.text
        download = client.get("/venues/Conf26/assignment.csv")
        assert download.headers["content-type"].startswith("text/csv")
        table = list(csv.DictReader(download.text.splitlines()))
        assert len(table) == 2 * len(ids) and {r["submission"] for r in table} == set(ids)
        monkeypatch.setattr(venues, "PER_PAGE", 7)  # 30 submissions: five pages
        last = client.get("/venues/Conf26", params={"page": 5}).text
        assert "Page 5 of 5" in last and last.count("<tr><td rowspan=") == 2
        assert client.get("/venues/Conf26", params={"page": 0}).status_code in (400, 422)
        kept_json = client.get("/api/venues/Conf26").json()
        assert len(kept_json["assignment"]) == 2 * len(ids)
        assert kept_json["settings"]["k"] == 2 and kept_json["report"]["weakest"]
        forged = client.post("/venues/Conf26/assign", data={"csrf": "forged"})
        assert forged.status_code == 403

        # a reviewer's page, by their private link alone (no account)
        token = kept[name].token
        reader = stack.enter_context(TestClient(create_app(settings), follow_redirects=True))
        mine = reader.get(f"/expertise/{token}")
        assert mine.status_code == 200 and name in mine.text
        ticked = re.findall(r'name="paper" value="(\d+)" checked', mine.text)
        assert len(ticked) >= 3
        keep = [int(i) for i in ticked[:2]]
        saved = reader.post(
            f"/expertise/{token}",
            data={"csrf": csrf_of(mine.text), "paper": [*map(str, keep), "999999999"]},
        )
        assert saved.status_code == 200 and "Kept: 2 papers" in saved.text
        with open_store(db) as store:
            now = {r.name: r for r in store.venue_reviewers(venue.id)}[name]
            assert now.papers == sorted(keep)  # a paper not signed by the name is not kept
            assert sorted(p.id for p in reviewer_of(store, now).papers) == sorted(keep)
        assert reader.get("/expertise/not-a-token").status_code == 403
        assert reader.post(f"/expertise/{token}", data={"csrf": "x"}).status_code == 403
        none = reader.post(f"/expertise/{token}", data={"csrf": csrf_of(mine.text)})
        assert none.status_code == 400 and "tick at least one paper" in none.text
        reset = reader.post(f"/expertise/{token}", data={"csrf": csrf_of(mine.text), "reset": "1"})
        assert "found from your name again" in reset.text
        with open_store(db) as store:
            assert {r.name: r for r in store.venue_reviewers(venue.id)}[name].papers is None

        # another account sees no venue of the chair's
        other = stack.enter_context(TestClient(create_app(settings), follow_redirects=True))
        sign_up(other, "someone", "another long phrase")
        assert other.get("/venues/Conf26").status_code == 404
        assert other.get("/api/venues/Conf26").status_code == 404
        assert "Conf26" not in other.get("/venues").text
        assert "Conf26" in client.get("/venues").text


def test_a_reviewer_named_by_their_papers_is_matched_by_those_papers(conference, store) -> None:
    from paperfeed.match.venue import expertise_of

    folder = conference["folder"]
    ingest_path(store, folder / "store.jsonl")
    rows = conference["store_rows"]
    mine = [rows[3]["id"], rows[7]["id"], "2401.99999"]  # the last one is not in the store
    pool_csv = folder / "named.csv"
    pool_csv.write_text(f"name,papers\nA. Nobody,{';'.join(mine)}\n")
    (reviewer,) = read_reviewers(pool_csv)
    assert reviewer.refs == mine
    found = expertise_of(store, reviewer)
    assert sorted(p.ids.get("arxiv") for p in found) == sorted(mine[:2])
    with store.writer() as w:
        w.create_venue("Named", None)
    venue = store.venue("Named")
    import_reviewers(store, venue, [reviewer])
    (kept,) = store.venue_reviewers(venue.id)
    assert {p.id for p in reviewer_of(store, kept).papers} == {p.id for p in found}
