"""Reviewer matching on a conference made from the corpus: reviewers are authors of the
store's papers, submissions later papers (some by reviewers); no conflicted pair is ever
assigned, every paper gets k reviewers, no reviewer more than their load."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from conftest import authors_of as _authors
from conftest import cli_json
from paperfeed.match.assign import assign, bottleneck


def test_assign_never_uses_a_conflicted_pair_and_meets_every_load(
    conference, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPERFEED_EMBEDDER", "hashing")
    folder = conference["folder"]
    cli("ingest", folder / "store.jsonl")
    cli("embed")

    def assign(*more: str, expect: int = 0):  # type: ignore[no-untyped-def]
        reviewers = ("--reviewers", folder / "reviewers.csv")
        return cli("assign", folder / "submissions.jsonl", *reviewers, *more, expect=expect)

    edges_file = folder / "edges.jsonl"
    result = cli_json(
        assign("--k", "2", "--max-load", "4", "--json", "--openreview", str(edges_file))
    )
    edges = result["edges"]
    pairs = {(e["submission"], e["reviewer"]) for e in edges}
    assert len(pairs) == len(edges) == 2 * len(conference["submissions"])
    assert not pairs & conference["banned"]
    per_paper = Counter(s for s, _ in pairs)
    assert set(per_paper.values()) == {2}
    load = Counter(r for _, r in pairs)
    pool = conference["pool"]
    assert all(load[r] <= (2 if i % 10 == 0 else 4) for i, r in enumerate(pool))
    reasons = {(c["submission"], c["reviewer"]): c["why"] for c in result["conflicts"]}
    assert reasons[(conference["submissions"][-1]["id"], pool[1])] == "declared by the reviewer"
    assert any(w == "an author of it" for w in reasons.values())
    assert any(w.startswith("co-authored") for w in reasons.values())
    assert all(e["why"].startswith("wrote ") for e in edges)
    openreview = [json.loads(line) for line in edges_file.read_text().splitlines()]
    assert {(e["head"], e["tail"]) for e in openreview} == pairs
    assert {e["invitation"] for e in openreview} == {"Venue/-/Proposed_Assignment"}
    fair = cli_json(assign("--k", "2", "--max-load", "4", "--fair", "--json"))
    assert not {(e["submission"], e["reviewer"]) for e in fair["edges"]} & conference["banned"]
    assert fair["summary"]["least_affinity"] >= result["summary"]["least_affinity"] - 1e-6
    assert fair["summary"]["mean_affinity"] <= result["summary"]["mean_affinity"] + 1e-6
    refused = assign("--k", "3", "--max-load", "1", expect=1)
    assert "Cannot assign: the reviewers can take" in refused.stderr
    broken = folder / "broken.jsonl"
    lines = (folder / "submissions.jsonl").read_text().splitlines(keepends=True)
    broken.write_text("".join([*lines[:3], '{"id": "2601.00001", "title": \n', *lines[3:]]))
    said = cli("assign", broken, "--reviewers", folder / "reviewers.csv", expect=1).stderr
    assert "broken.jsonl:4" in said and "Traceback" not in said


def test_the_assignment_is_the_best_total_and_fair_raises_the_worst_paper() -> None:
    # two papers, three reviewers: greedy would give paper 0 both good reviewers
    scores = sparse.csr_matrix(np.array([[0.9, 0.8, 0.1], [0.85, 0.2, 0.0001]]))
    plain = assign(scores, 1, np.array([1, 1, 1]))
    assert sorted(plain.pairs) == [(0, 1), (1, 0)]  # 0.8 + 0.85 beats 0.9 + 0.2
    # a pair without an entry is not allowed (a conflict): paper 1 can only have reviewer 0
    forced = assign(sparse.csr_matrix(np.array([[1.0, 0.9], [0.5, 0.0]])), 1, np.array([1, 1]))
    assert sorted(forced.pairs) == [(0, 1), (1, 0)]
    unfair = assign(sparse.csr_matrix(np.array([[1.0, 0.1], [0.95, 0.9]])), 1, np.array([1, 1]))
    raised = assign(
        sparse.csr_matrix(np.array([[1.0, 0.1], [0.95, 0.9]])), 1, np.array([1, 1]), fair=True
    )
    assert raised.per_paper.min() >= unfair.per_paper.min()
    # the weakest pair any paper gets, as high as it goes: 0.7 (0.9 + 0.7), not 0.1 (0.1 + 0.8)
    coo = sparse.coo_matrix(np.array([[0.9, 0.1, 0.05], [0.8, 0.7, 0.6]]))
    assert bottleneck(coo.row, coo.col, coo.data, (2, 3), 1, np.array([1, 1, 1])) == 0.7
    assert bottleneck(coo.row, coo.col, coo.data, (2, 3), 2, np.array([1, 1, 1])) is None
    # two reviewers a paper: paper 1 can only have r1 and r2 (0.6, 0.5), so the floor is 0.5
    coo = sparse.coo_matrix(np.array([[0.9, 0.8, 0.55], [0.0, 0.6, 0.5]]))
    assert bottleneck(coo.row, coo.col, coo.data, (2, 3), 2, np.array([1, 2, 2])) == 0.5
    rng = np.random.default_rng(3)
    for _ in range(20):  # fair never leaves the worst-off paper lower than plain does
        scores = sparse.random(8, 6, density=0.7, random_state=rng, format="csr")
        scores.data -= 0.5
        loads = np.full(6, 4)
        plain_one, fair_one = assign(scores, 2, loads), assign(scores, 2, loads, fair=True)
        if plain_one.problems:
            assert fair_one.problems
            continue
        assert fair_one.per_paper.min() >= plain_one.per_paper.min() - 1e-9
        assert fair_one.per_paper.sum() <= plain_one.per_paper.sum() + 1e-9
    blocked = assign(sparse.csr_matrix(np.array([[1.0, 0.0], [0.0, 0.0]])), 1, np.array([1, 1]))
    assert blocked.pairs == [] and "paper 1 has 0 allowed reviewers" in blocked.problems[0]


def test_the_api_assigns_for_a_signed_in_chair_and_refuses_bad_input_with_a_reason(
    conference, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from paperfeed import config
    from paperfeed.embed.index import embed_store
    from paperfeed.embed.model import HashingEmbedder
    from paperfeed.ingest.pipeline import ingest_path
    from paperfeed.store import open_store
    from paperfeed.web.app import create_app
    from webapp import csrf_of, sign_up

    folder = conference["folder"]
    settings = config.load(
        {}, db=str(tmp_path / "chair.db"), embedder="hashing", secret_key="test-secret"
    )
    with open_store(settings["db"]) as store:
        ingest_path(store, folder / "store.jsonl")
        embed_store(store, HashingEmbedder())
    files = {
        "submissions": ("subs.jsonl", (folder / "submissions.jsonl").read_bytes()),
        "reviewers": ("pc.csv", (folder / "reviewers.csv").read_bytes()),
    }
    with TestClient(create_app(settings)) as client:
        assert client.post("/api/assign", files=files).status_code == 403  # signed out
        sign_up(client, "chair", "a long phrase")
        token = csrf_of(client.get("/library").text)
        assert client.post("/api/assign", files=files).status_code == 403  # no CSRF header
        answer = client.post(
            "/api/assign",
            files=files,
            data={"k": "2", "max_load": "4"},
            headers={"X-CSRF-Token": token},
        )
        assert answer.status_code == 200, answer.text
        pairs = {(e["submission"], e["reviewer"]) for e in answer.json()["edges"]}
        assert len(pairs) == 2 * len(conference["submissions"])
        assert not pairs & conference["banned"]
        head = b"".join((folder / "submissions.jsonl").read_bytes().splitlines(keepends=True)[:2])
        broken = {**files, "submissions": ("subs.jsonl", head + b'{"id": "2601.1", "title": \n')}
        refused = client.post("/api/assign", files=broken, headers={"X-CSRF-Token": token})
        assert refused.status_code == 400 and "subs.jsonl:3" in refused.text
        assert str(tmp_path) not in refused.text
        blocked = client.post(
            "/api/assign",
            files=files,
            data={"k": "3", "max_load": "1"},
            headers={"X-CSRF-Token": token},
        )
        assert blocked.status_code == 400 and "cannot assign" in blocked.text


def test_a_csv_of_submissions_with_emails_gives_email_domain_conflicts() -> None:
    from datetime import date

    from paperfeed.errors import InputError
    from paperfeed.match.inputs import Reviewer, email_domain, read_submissions
    from paperfeed.match.venue import Conflicts

    data = (
        b"id,title,abstract,authors,emails\n"
        b"s1,Graph networks,We pass messages.,Ada One;Bo Two,ada@cs.cmu.edu;bo@gmail.com\n"
        b"s2,Soil bacteria,,Cy Three,cy@biology.ox.ac.uk\n"
        b",Untitled ids,,Di Four,\n"
    )
    papers, ids, emails = read_submissions(data, "subs.csv")
    assert ids == ["s1", "s2", "submission-3"]
    assert [a.name for a in papers[0].authors] == ["Ada One", "Bo Two"]
    assert papers[0].abstract == "We pass messages." and papers[1].abstract is None
    assert emails[0] == ["ada@cs.cmu.edu", "bo@gmail.com"]

    assert email_domain("Someone@CS.CMU.edu") == "cmu.edu"
    assert email_domain("x@ox.ac.uk") == email_domain("y@eng.ox.ac.uk") == "ox.ac.uk"
    assert email_domain("x@gmail.com") == "" and email_domain("no address") == ""

    known = Conflicts(papers, ids, emails)
    today = date(2026, 12, 2)
    colleague = Reviewer("Eve Five", email="eve@ml.cmu.edu")
    assert known.of(colleague, 3, today) == {0: "same email domain (cmu.edu)"}
    oxford = Reviewer("Fay Six", email="fay@ox.ac.uk")
    assert known.of(oxford, 3, today) == {1: "same email domain (ox.ac.uk)"}
    stranger = Reviewer("Gus Seven", email="gus@gmail.com")  # shares Bo's mail service only
    assert known.of(stranger, 3, today) == {}

    with pytest.raises(InputError, match=r"subs\.csv:3: not an email address: 'nobody'"):
        read_submissions(b"title,authors,emails\nA,X,x@a.org\nB,Y,nobody\n", "subs.csv")
    with pytest.raises(InputError, match=r"subs\.csv:3: the id 'a' is used twice"):
        read_submissions(b"id,title\na,A\na,B\n", "subs.csv")
    with pytest.raises(InputError, match=r"subs\.csv: a CSV with a 'title' column"):
        read_submissions(b"name\nA\n", "subs.csv")


def test_assign_reads_a_csv_of_submissions_and_never_assigns_a_shared_email_domain(
    conference, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPERFEED_EMBEDDER", "hashing")
    folder, pool = conference["folder"], conference["pool"]
    cli("ingest", folder / "store.jsonl")
    cli("embed")
    subs = conference["submissions"]
    with (folder / "subs.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "title", "abstract", "authors", "emails"])
        for i, s in enumerate(subs):
            email = "someone@lab.uni.edu" if i < 5 else ""
            writer.writerow([s["id"], s["title"], s["summary"], ";".join(_authors(s)), email])
    with (folder / "pool.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "email"])
        for i, name in enumerate(pool):
            writer.writerow([name, "me@uni.edu" if i < 3 else ""])
    result = cli_json(
        cli(
            "assign",
            folder / "subs.csv",
            "--reviewers",
            folder / "pool.csv",
            "--k",
            "2",
            "--max-load",
            "4",
            "--json",
        )
    )
    pairs = {(e["submission"], e["reviewer"]) for e in result["edges"]}
    domain = {(s["id"], r) for s in subs[:5] for r in pool[:3]}
    assert not pairs & domain and not pairs & conference["banned"]
    reasons = {(c["submission"], c["reviewer"]): c["why"] for c in result["conflicts"]}
    assert domain <= set(reasons)  # each left out, with its reason
    assert "same email domain (uni.edu)" in reasons.values()


def test_many_reviewers_at_once_score_as_each_alone_would() -> None:
    from paperfeed.match.expertise import EXPERTISE_TERMS, expertise_matrix, expertise_scores
    from paperfeed.recommend.evidence import Papers, zscore

    rng = np.random.default_rng(5)

    def papers(n: int) -> Papers:
        v = rng.normal(size=(n, 16)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        terms = sparse.random(n, 40, density=0.2, random_state=rng, format="csr")
        return Papers(None, terms, v, [[] for _ in range(n)])

    candidates = papers(30)
    sizes = [5, 1, 0, 2, 7]
    everyone = papers(sum(sizes))
    everyone.vectors[3] = everyone.vectors[1]  # a tie within the first reviewer's papers
    bounds = np.cumsum([0, *sizes])
    together = expertise_matrix(everyone, bounds, candidates)
    for j, size in enumerate(sizes):
        mine = everyone.take(np.arange(bounds[j], bounds[j + 1]))
        if not size:
            assert not together[:, j].any()
            continue
        k = min(3, size)  # the reference: each cosine matrix sorted, the best k averaged
        sem = np.sort(candidates.vectors @ mine.vectors.T, axis=1)[:, -k:].mean(axis=1)
        rare = np.sort((candidates.terms @ mine.terms.T).toarray(), axis=1)[:, -k:].mean(axis=1)
        expected = zscore(sem) + EXPERTISE_TERMS * zscore(rare)
        np.testing.assert_allclose(together[:, j], expected, atol=1e-5)
        np.testing.assert_allclose(expertise_scores(mine, candidates), expected, atol=1e-5)


def _conference_in(store, conference):  # type: ignore[no-untyped-def]
    """The conference's papers in ``store`` with hashed vectors: the embedder, the lexical
    model, the submissions, their ids and the reviewers."""
    from paperfeed.embed.index import embed_store
    from paperfeed.embed.model import HashingEmbedder
    from paperfeed.ingest.pipeline import ingest_path
    from paperfeed.match import inputs
    from paperfeed.recommend.lexical import LexicalModel

    folder = conference["folder"]
    ingest_path(store, folder / "store.jsonl")
    embedder = HashingEmbedder()
    embed_store(store, embedder)
    subs, ids = inputs.read_submissions(
        (folder / "submissions.jsonl").read_bytes(), "submissions.jsonl"
    )[:2]
    pool = inputs.read_reviewers(folder / "reviewers.csv")
    return embedder, LexicalModel.for_store(store), subs, ids, pool


def test_reviewers_scored_in_small_blocks_get_the_candidates_one_block_would(
    conference, store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paperfeed.match import venue

    embedder, lexical, subs, _, pool = _conference_in(store, conference)
    for r in pool:
        r.papers = venue.expertise_of(store, r)
    whole = venue.affinity(store, embedder, lexical, pool, subs, candidates=10)
    monkeypatch.setattr(venue, "BLOCK", 7)
    assert len(list(venue._blocks(pool))) > 10
    blocked = venue.affinity(store, embedder, lexical, pool, subs, candidates=10)
    assert whole.nnz == blocked.nnz == 10 * len(subs)
    # each submission's ten best scores (reviewers tied at the tenth place may change places)
    for row in range(len(subs)):
        np.testing.assert_allclose(
            np.sort(whole.getrow(row).data), np.sort(blocked.getrow(row).data), atol=1e-5
        )
    same = (whole != 0).multiply(blocked != 0).nnz
    assert same >= 0.99 * whole.nnz


def test_conflicted_reviewers_never_take_a_submissions_candidate_places(conference, store) -> None:
    from paperfeed.match import venue

    embedder, lexical, subs, ids, pool = _conference_in(store, conference)
    allowed, conflicts = venue.allowed_pairs(
        store, embedder, lexical, subs, ids, pool, candidates=2
    )
    # a paper's closest reviewers are often its authors and their co-authors: with only two
    # places each, every paper still has two, none of them conflicted
    assert (np.diff(allowed.indptr) == 2).all()
    coo = allowed.tocoo()
    pairs = {(ids[r], pool[c].name) for r, c in zip(coo.row, coo.col, strict=True)}
    assert not pairs & conference["banned"]
    assert not set(conflicts) & set(zip(coo.row.tolist(), coo.col.tolist(), strict=True))


def test_bids_in_the_reviewers_csv_move_their_pairs_and_a_bad_bid_names_its_line(
    conference, store, tmp_path: Path
) -> None:
    from paperfeed.errors import InputError
    from paperfeed.match import inputs, venue

    folder = conference["folder"]
    embedder, lexical, subs, ids, pool = _conference_in(store, conference)

    def allowed(reviewers: list[inputs.Reviewer]) -> sparse.csr_matrix:
        return venue.allowed_pairs(store, embedder, lexical, subs, ids, reviewers)[0]

    plain = allowed(pool).tocoo()
    (up_row, up_col), (down_row, down_col) = list(zip(plain.row, plain.col, strict=True))[:2]
    rows = list(csv.DictReader((folder / "reviewers.csv").read_text().splitlines()))
    bids = {up_col: f"{ids[up_row]}:1", down_col: f"{ids[down_row]}:-0.5"}
    if up_col == down_col:
        bids = {up_col: f"{ids[up_row]}:1;{ids[down_row]}:-0.5"}
    written = tmp_path / "reviewers.csv"
    with written.open("w", newline="") as f:
        writer = csv.DictWriter(f, [*rows[0], "bids"])
        writer.writeheader()
        writer.writerows({**row, "bids": bids.get(i, "")} for i, row in enumerate(rows))
    bidding = inputs.read_reviewers(written)
    moved = (allowed(bidding) - allowed(pool)).tocoo()
    change = {(r, c): v for r, c, v in zip(moved.row, moved.col, moved.data, strict=True)}
    assert change == pytest.approx(
        {(up_row, up_col): venue.BID_WEIGHT, (down_row, down_col): -0.5 * venue.BID_WEIGHT}
    )

    lines = written.read_text().splitlines()
    lines[3] = lines[3] + f";{ids[0]}:lots"
    written.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"reviewers\.csv:4: a bid is ID:VALUE"):
        inputs.read_reviewers(written)
