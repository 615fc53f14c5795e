"""The benchmarks' metrics and harnesses: checked against references, and against bad input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, ndcg_score

from conftest import CORPUS, SHARED, cli_json
from paperfeed.embed.model import HashingEmbedder
from paperfeed.errors import InputError, RecordError
from paperfeed.evaluate import csfcube, daily_feed, reviewer_gold
from paperfeed.evaluate.metrics import average_precision, ndcg, reciprocal_rank


def test_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        gains = rng.integers(0, 4, 30).astype(float)
        scores = rng.normal(size=30)
        ranked = list(gains[np.argsort(-scores, kind="stable")])
        assert ndcg(ranked, 20, list(gains)) == pytest.approx(
            ndcg_score([gains], [scores], k=20), abs=1e-9
        )
        relevant = gains >= 2
        if relevant.any():
            assert average_precision([g >= 2 for g in ranked]) == pytest.approx(
                average_precision_score(relevant, scores), abs=1e-9
            )
    assert reciprocal_rank([False, False, True]) == pytest.approx(1 / 3)
    assert reciprocal_rank([False]) == 0.0


def _small_corpus(tmp_path: Path, n: int = 4000) -> Path:
    out = tmp_path / "small.jsonl.gz"
    with gzip.open(CORPUS, "rt") as f, gzip.open(out, "wt") as w:
        for _, line in zip(range(n), f, strict=False):
            w.write(line)
    return out


def test_built_cases_follow_the_rules(tmp_path: Path) -> None:
    corpus = daily_feed.load_corpus(_small_corpus(tmp_path))
    days = sorted(set(corpus.listed))
    cutoff = days[len(days) * 2 // 3]
    for parity in ("even", "odd"):
        cases = daily_feed.build_cases(corpus, parity, cutoff=cutoff)
        for case in cases:
            assert daily_feed.name_parity(case.author or "") == parity
            assert 8 <= len(case.profile) <= 60
            assert all(corpus.listed[corpus.row[p]] < cutoff for p in case.profile)
            assert set(case.relevant) <= set(case.candidates)
            assert {corpus.listed[corpus.row[c]] for c in case.candidates} == {case.day}
            assert all(case.author in corpus.authors[corpus.row[r]] for r in case.relevant)


def test_cases_until_a_day_leave_later_days_out(tmp_path: Path) -> None:
    corpus = daily_feed.load_corpus(_small_corpus(tmp_path))
    days = sorted(set(corpus.listed))
    cutoff, until = days[len(days) // 2], days[len(days) * 3 // 4]
    everything = daily_feed.build_cases(corpus, "even", cutoff=cutoff)
    bounded = daily_feed.build_cases(corpus, "even", cutoff=cutoff, until=until)
    assert bounded and len(bounded) < len(everything)
    assert all(cutoff <= (case.day or "") < until for case in bounded)
    # an author's papers on or after `until` neither make a case nor count towards the
    # two later papers the split asks for
    later = {(c.author, c.day) for c in everything if (c.day or "") < until}
    assert {(c.author, c.day) for c in bounded} <= later
    for author in {c.author for c in bounded}:
        mine = [
            d for names, d in zip(corpus.authors, corpus.listed, strict=True) if author in names
        ]
        assert sum(cutoff <= d < until for d in mine) >= 2


def test_daily_feed_end_to_end_on_a_cases_file(tmp_path: Path) -> None:
    """A day's real listing plus one paper that reworks a profile paper: every ranker
    should find it near the top, through a cases file."""
    small = _small_corpus(tmp_path)
    with gzip.open(small, "rt") as f:
        rows = [json.loads(line) for line in f]
    days = sorted({r["listing_date"] for r in rows})
    author = "Nicu Sebe"
    profile = [r for r in rows if author in r["authors"] and r["listing_date"] < days[-3]]
    assert len(profile) >= 5
    source = profile[0]
    day = days[-1]
    sequel = {
        "id": "2599.00001",
        "title": "Extending " + source["title"],
        "summary": source["summary"] + " We extend this work with new experiments.",
        "authors": [author],
        "categories": source["categories"],
        "listing_date": day,
    }
    corpus_path = tmp_path / "corpus.jsonl"
    corpus_path.write_text("".join(json.dumps(r) + "\n" for r in [*rows, sequel]))
    corpus = daily_feed.load_corpus(corpus_path)
    candidates = [r["id"] for r in rows if r["listing_date"] == day] + [sequel["id"]]
    cases_file = tmp_path / "cases.jsonl"
    case = {
        "profile": [r["id"] for r in profile],
        "candidates": candidates,
        "relevant": ["2599.00001"],
    }
    cases_file.write_text(json.dumps(case) + "\n")
    cases = daily_feed.read_cases(cases_file, corpus)
    result = daily_feed.evaluate(
        daily_feed.rankings(
            daily_feed.prepared(corpus, cases, HashingEmbedder(), cache_dir=tmp_path / "cache")
        )
    )
    assert result["cases"] == 1 and len(candidates) > 50
    assert set(result["rankers"]) == set(daily_feed.RANKERS)
    for metrics in result["rankers"].values():
        assert set(metrics) == {"mrr", "recall@10", "ndcg@10"}
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    # first or second of the day's listing (the test embedder is too crude for zad and centroid)
    assert result["rankers"]["asl"]["mrr"] >= 0.5
    assert result["rankers"]["paperfeed"]["mrr"] >= 0.5
    assert result["rankers"]["tfidf-nearest"]["mrr"] >= 0.5  # the day's paper shares its words
    assert (tmp_path / "cache" / "vectors-hashing-64.npz").exists()


def test_the_benchmark_ranks_as_paperfeed_recommend_does(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """One ranking path: the benchmark's order of a case's day is the order `paperfeed
    recommend` gives on a store holding the papers before the cutoff (its lexical model
    fitted there), the profile's papers and the case's day, and nothing else."""
    monkeypatch.setenv("PAPERFEED_EMBEDDER", "hashing")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = _small_corpus(tmp_path)
    with gzip.open(source, "rt") as f:
        rows = [json.loads(line) for line in f]
    corpus = daily_feed.load_corpus(source)
    days = sorted(set(corpus.listed))
    cutoff = days[-2]  # late enough that the day is under a tenth of the store
    cases = daily_feed.build_cases(corpus, "even", cutoff=cutoff)
    first = cases[0].day
    cases = [c for c in cases if c.day == first]  # the store holds one day past the cutoff
    assert len(cases) >= 2, "the test wants two authors ranking the same day"
    ranked = dict(
        (c.author, order["paperfeed"])
        for c, order in daily_feed.rankings(
            daily_feed.prepared(
                corpus, cases, HashingEmbedder(), ("paperfeed",), tmp_path / "cache"
            )
        )
    )

    def write(name: str, chosen: list[dict]) -> Path:  # type: ignore[type-arg]
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in chosen))
        return path

    cli("ingest", write("before.jsonl", [r for r in rows if r["listing_date"] < cutoff]))
    by_id = {r["id"]: r for r in rows}
    for n, case in enumerate(cases):
        profile = write(f"profile-{n}.jsonl", [by_id[x] for x in case.profile])
        cli("profile", "import", f"p{n}", profile, "--kind", "researcher")
    cli("embed")
    cli("recommend", "--profile", "p0")  # the lexical model is fitted on the store as it is
    day = [r for r in rows if r["listing_date"] == first]
    assert len(day) < 0.1 * sum(r["listing_date"] < cutoff for r in rows)  # it is kept after
    cli("ingest", write("day.jsonl", day))
    cli("embed")
    for n, case in enumerate(cases):
        got = cli_json(
            cli("recommend", "--profile", f"p{n}", "--day", first, "--limit", 1000, "--json")
        )
        assert [r["id"] for r in got] == ranked[case.author], case.author
        assert set(case.relevant) & {r["id"] for r in got[:100]}


def test_bad_cases_name_the_line(tmp_path: Path) -> None:
    corpus = daily_feed.load_corpus(_small_corpus(tmp_path, 50))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"profile": [], "candidates": [], "relevant": []}\nnot json\n')
    with pytest.raises(RecordError, match=r"bad.jsonl:1"):
        daily_feed.read_cases(bad, corpus)
    bad.write_text(json.dumps({"profile": ["9999.99999"], "candidates": [], "relevant": []}))
    with pytest.raises(RecordError, match=r"bad.jsonl:1: 1 id\(s\) not in the corpus"):
        daily_feed.read_cases(bad, corpus)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "1"}\n{oops\n')
    with pytest.raises(RecordError, match=r"broken.jsonl:2"):
        daily_feed.load_corpus(broken)


def test_csfcube_with_the_test_embedder() -> None:
    results = csfcube.evaluate(SHARED / "data" / "csfcube", HashingEmbedder())
    assert set(results) == {"background", "method", "result", "all"}
    assert results["all"]["bm25"]["queries"] == 50
    # BM25 on CSFCube is a known quantity: MAP around 0.3 (random ranking scores about 0.12)
    assert 0.25 < results["all"]["bm25"]["map"] < 0.45
    with pytest.raises(InputError, match="not found"):
        csfcube.evaluate(SHARED / "nothing-here", HashingEmbedder())


def test_reviewer_gold_reproduces_the_published_baselines() -> None:
    """The shipped predictions score as the paper reports them (Stelmakh et al. 2023, table
    of title+abstract results: TPMS 0.28, SPECTER 0.27, SPECTER+MFR 0.24 loss)."""
    root = SHARED / "data" / "reviewer-gold"
    ratings = reviewer_gold.load_ratings(root)
    assert len(ratings) == 58 and sum(len(r) for r in ratings.values()) == 477
    papers = set(
        json.loads((root / "evaluation_datasets" / "d_20_1" / "submissions.json").read_text())
    )
    got = {}
    for method in ("tpms", "specter", "specter_mfr"):
        predicted = json.loads((root / "predictions" / f"{method}_d_20_1_ta.json").read_text())
        got[method] = reviewer_gold.metrics(predicted, ratings, papers)
    assert round(got["tpms"]["loss"], 2) == 0.28
    assert round(got["specter"]["loss"], 2) == 0.27
    assert round(got["specter_mfr"]["loss"], 2) == 0.24
    # a perfect predictor loses nothing; its reverse loses everything
    assert reviewer_gold.metrics(ratings, ratings, papers)["loss"] == 0.0
    reverse = {r: {p: -v for p, v in d.items()} for r, d in ratings.items()}
    assert reviewer_gold.metrics(reverse, ratings, papers)["loss"] == 1.0


def test_reviewer_gold_cli_scores_paperfeed_beside_the_baselines(
    cli, monkeypatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PAPERFEED_EMBEDDER", "hashing")
    root = SHARED / "data" / "reviewer-gold"
    small = _small_corpus(tmp_path)
    runs = {
        "corpus": ("--corpus", small),
        "set alone": ("--no-corpus",),
    }
    got = {}
    for name, how in runs.items():
        out = json.loads(
            cli("eval", "reviewer-gold", root, "--set", "d_20_1", *how, "--json").stdout
        )
        methods = out["methods"]
        assert set(methods) == {"tpms", "specter", "specter_mfr", "paperfeed"}
        ours = got[name] = methods["paperfeed"]
        assert ours["sets"] == 1 and 0 <= ours["easy"] <= 1 and 0 <= ours["hard"] <= 1
        assert ours["loss"] < 0.4  # a random order loses 0.5
    assert got["corpus"] != got["set alone"]  # the background changed the terms' weights
    missing = cli("eval", "reviewer-gold", root, "--corpus", tmp_path / "none.jsonl", expect=2)
    assert "--no-corpus" in missing.stderr


def test_reviewer_gold_weighs_rare_terms_over_the_background() -> None:
    """Document frequencies come from the background and the sets together: a word a few of
    the set's papers use is a rare term, until the background shows it is common."""
    folder = SHARED / "data" / "reviewer-gold" / "evaluation_datasets" / "d_20_1"
    sets = [reviewer_gold.read_dataset(folder)]
    rare = [f"survey of topic{i}" for i in range(2000)]
    assert "sinkhorn" in reviewer_gold.rare_terms(rare, sets).vocabulary_
    common = rare + ["sinkhorn iterations for transport"] * 500
    vocabulary = reviewer_gold.rare_terms(common, sets).vocabulary_
    assert "sinkhorn" not in vocabulary and "survey" not in vocabulary
    assert "permutation" in vocabulary
