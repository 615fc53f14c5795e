"""`paperfeed embed --engine ray`: the corpus embedded on a two-node Ray cluster, straight
into PostgreSQL, the same vectors as on this process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from ray.cluster_utils import Cluster

from conftest import SEEDS, database_for
from paperfeed.cli import main
from paperfeed.store import open_store
from webapp import corpus_rows, free_port


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A head and a second node, one CPU each (Ray's own test cluster: two raylets)."""
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    yield nodes.address
    nodes.shutdown()


def _run(db: str, *args: str, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(main, ["--db", db, *args], env=env)
    assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return json.loads(result.stdout) if "--json" in args else {}


def _shared_store(
    request: pytest.FixtureRequest, folder: Path, n: int
) -> tuple[str, Path, list[dict]]:  # type: ignore[type-arg]
    """A Postgres store holding the corpus's first ``n`` rows, the rows' file and the rows."""
    rows = corpus_rows(n)
    path = folder / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    shared = database_for(request, folder, "postgres")
    _run(shared, "ingest", str(path))
    return shared, path, rows


def test_embedding_on_a_ray_cluster_equals_embedding_here(
    cluster: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    shared, rows, _ = _shared_store(request, tmp_path, 1200)
    here = str(tmp_path / "here.db")
    _run(here, "ingest", str(rows))
    env = {"PAPERFEED_EMBEDDER": "hashing", "PAPERFEED_RAY_ADDRESS": cluster}
    report = _run(shared, "embed", "--engine", "ray", "--json", env=env)
    assert report["embedded"] == 1200 and report["workers"] == 2  # both nodes embedded
    _run(here, "embed", env=env)
    again = _run(shared, "embed", "--engine", "ray", "--json", env=env)
    assert again["embedded"] == 0 and again["unchanged"] == 1200  # nothing done twice
    with open_store(shared) as a, open_store(here) as b:
        model = "hashing-64"
        ids_a, vectors_a = a.load_vectors(model)
        ids_b, vectors_b = b.load_vectors(model)
        assert np.array_equal(ids_a, ids_b)
        assert np.allclose(vectors_a, vectors_b, atol=1e-6)
        assert a.stats()["embedded"] == {model: 1200}


def test_ranking_every_profile_on_a_ray_cluster_equals_ranking_here(
    cluster: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    shared, _, rows = _shared_store(request, tmp_path, 1200)
    env = {"PAPERFEED_EMBEDDER": "hashing", "PAPERFEED_RAY_ADDRESS": cluster}
    last = max(r["listing_date"] for r in rows)
    earlier = [r for r in rows if r["listing_date"] < last]
    for n in range(20):  # readers of a few earlier papers each
        profile = tmp_path / f"p{n}.jsonl"
        profile.write_text("".join(json.dumps(r) + "\n" for r in earlier[n * 7 : n * 7 + 5]))
        _run(shared, "profile", "import", f"reader-{n}", str(profile))
    _run(shared, "embed", env=env)
    _run(shared, "recommend", "--profile", "reader-0", env=env)  # the lexical model kept
    here = _run(shared, "recommend", "--all", "--json", env=env)
    on_ray = _run(shared, "recommend", "--all", "--engine", "ray", "--json", env=env)
    assert list(on_ray) == list(here) and len(here) == 20
    assert all(len(ranked) == 20 for ranked in here.values())
    assert on_ray == here  # the same papers, scores and reasons
    # A paper is read once and shared by every ranking that holds it, across batches (the
    # sync keeps the subscribers' rankings until it sends them).
    from paperfeed.recommend.ray_engine import BATCH, recommend_with_ray

    with open_store(shared) as store:
        ranked = recommend_with_ray(
            store, {"embedder": "hashing"}, list(here), limit=20, address=cluster
        )
        papers = [r.paper for _, recs in ranked for r in recs]  # type: ignore[union-attr]
    assert len(here) > BATCH and len(papers) == 20 * len(here)
    assert len({id(p) for p in papers}) == len({p.id for p in papers})


def test_the_syncs_embed_step_runs_on_the_cluster_when_one_is_set(
    cluster: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    shared, _, _ = _shared_store(request, tmp_path, 600)
    env = {"PAPERFEED_EMBEDDER": "hashing", "PAPERFEED_RAY_ADDRESS": cluster}
    done = _run(shared, "sync", "--step", "embed", "--json", env=env)
    assert done["steps"]["embed"]["detail"] == {
        "embedded": 600,
        "unchanged": 0,
        "empty": 0,
        "workers": 2,
    }


def test_the_syncs_rank_step_ranks_every_profile_on_the_cluster_when_one_is_set(
    cluster: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    shared, _, rows = _shared_store(request, tmp_path, 800)
    last = max(r["listing_date"] for r in rows)
    earlier = [r for r in rows if r["listing_date"] < last]
    for n in range(6):
        profile = tmp_path / f"p{n}.jsonl"
        profile.write_text("".join(json.dumps(r) + "\n" for r in earlier[n * 7 : n * 7 + 5]))
        _run(shared, "profile", "import", f"reader-{n}", str(profile))
    local = {"PAPERFEED_EMBEDDER": "hashing"}
    _run(shared, "embed", env=local)
    here = _run(shared, "sync", "--step", "rank", "--json", env=local)["steps"]["rank"]
    env = {**local, "PAPERFEED_RAY_ADDRESS": cluster}
    there = _run(shared, "sync", "--step", "rank", "--json", env=env)["steps"]["rank"]
    assert here["detail"] == {"day": last, "profiles": 6, "not_ranked": 0, "engine": "local"}
    assert there["detail"] == {**here["detail"], "engine": "ray"}


def test_the_syncs_digests_are_ranked_on_the_cluster_as_they_would_be_here(
    cluster: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from paperfeed import config
    from paperfeed.digest.compose import period_of
    from paperfeed.digest.send import PAPERS_PER_DIGEST
    from paperfeed.embed.model import HashingEmbedder
    from paperfeed.recommend.service import Recommender
    from paperfeed.sync.run import Sync

    shared, _, rows = _shared_store(request, tmp_path, 800)
    earlier = [r for r in rows if r["listing_date"] < max(r["listing_date"] for r in rows)]
    for n in range(4):
        profile = tmp_path / f"p{n}.jsonl"
        profile.write_text("".join(json.dumps(r) + "\n" for r in earlier[n * 9 : n * 9 + 5]))
        _run(shared, "profile", "import", f"reader-{n}", str(profile))
    _run(shared, "embed", env={"PAPERFEED_EMBEDDER": "hashing"})
    settings = config.load(
        {}, db=shared, embedder="hashing", ray_address=cluster, base_url="https://pf.example"
    )
    sent: list = []
    with open_store(shared) as store:
        with store.writer() as w:
            for p in store.profiles():
                w.subscribe(p.id, f"{p.name}@example.org", "daily")

        class NotHere:  # the ranking must not happen in this process
            def recommend_many(self, *args: object, **kwargs: object) -> None:
                raise AssertionError("ranked here, not on the cluster")

        outcome = Sync(store, settings, recommender=NotHere(), send=sent.append).run(("send",))
        assert outcome["steps"]["send"]["detail"] == {"sent": 4}, outcome
        _, first, last = period_of("daily", store.latest_day())
        names = [p.name for p in store.profiles()]
        here = Recommender(store, HashingEmbedder()).recommend_many(
            names, last, first, PAPERS_PER_DIGEST
        )
        for name, recs in here:
            (message,) = [m for m in sent if m["To"] == f"{name}@example.org"]
            text = message.get_body(("plain",)).get_content()
            links = [line.strip() for line in text.splitlines() if "/paper/" in line]
            assert links == [f"https://pf.example/paper/{r.paper.ref}" for r in recs]


def test_a_ray_address_nothing_answers_at_is_a_clear_error(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    _run(db, "ingest", str(sorted(SEEDS.iterdir())[0]))
    address = f"127.0.0.1:{free_port()}"
    env = {"PAPERFEED_EMBEDDER": "hashing", "PAPERFEED_RAY_ADDRESS": address}
    result = CliRunner().invoke(main, ["--db", db, "embed", "--engine", "ray"], env=env)
    assert result.exit_code == 1 and f"no Ray cluster answers at {address}" in result.stderr
