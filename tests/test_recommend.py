"""Recommendations for a profile: ranking, reasons, feedback, and the CLI around them."""

from __future__ import annotations

import gzip
import json
import pickle
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS, SEEDS, cli_json
from paperfeed.embed.index import embed_store
from paperfeed.embed.model import HashingEmbedder
from paperfeed.errors import InputError, NotFound, StoreBusy, StoreError
from paperfeed.ingest.pipeline import ingest_path
from paperfeed.models import Paper
from paperfeed.normalize import name_key
from paperfeed.recommend.feed import listing_of, recommend
from paperfeed.recommend.lexical import LexicalModel
from paperfeed.recommend.style import NAMES, attributes, style_matrix, style_prior
from paperfeed.store import Store, open_store

AUTHOR = "Nicu Sebe"


def _build(store: Store, tmp_path: Path) -> tuple[list[dict], dict]:
    """The first 3,000 corpus papers, plus, on the last day, a sequel to one of AUTHOR's."""
    with gzip.open(CORPUS, "rt") as f:
        rows = [json.loads(line) for _, line in zip(range(3000), f, strict=False)]
    last = max(r["listing_date"] for r in rows)
    mine = [r for r in rows if AUTHOR in r["authors"] and r["listing_date"] < last]
    sequel = {
        "id": "2599.00001",
        "title": "Extending " + mine[0]["title"],
        "summary": mine[0]["summary"] + " We extend this work with new experiments.",
        "authors": ["Someone Else"],
        "categories": mine[0]["categories"],
        "listing_date": last,
    }
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [*rows, sequel]))
    ingest_path(store, path)
    embed_store(store, HashingEmbedder())
    with store.writer() as w:
        pid = w.ensure_profile("me", "researcher")
        w.add_to_profile(pid, [store.get_paper(r["id"]).id for r in mine])
    return mine, sequel


Corpus = tuple[Store, list[dict], dict]  # type: ignore[type-arg]


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict], dict]:  # type: ignore[type-arg]
    """The 3,000-paper store with its lexical model fitted, built once per session."""
    folder = tmp_path_factory.mktemp("template")
    with open_store(str(folder / "template.db")) as store:
        mine, sequel = _build(store, folder)
        LexicalModel.for_store(store)
    return folder / "template.db", mine, sequel


@pytest.fixture
def corpus(_template: tuple[Path, list[dict], dict], db_path: Path) -> Iterator[Corpus]:  # type: ignore[type-arg]
    """A copy of the template store for one test, with AUTHOR's papers and the sequel."""
    template, mine, sequel = _template
    shutil.copyfile(template, db_path)
    shutil.copyfile(f"{template}.lexical", f"{db_path}.lexical")
    with open_store(str(db_path)) as store:
        yield store, mine, sequel


def test_a_sequel_to_my_paper_comes_first_with_reasons(corpus: Corpus, tmp_path: Path) -> None:
    store, mine, sequel = corpus
    recs = recommend(store, "me", HashingEmbedder(), limit=20)
    assert recs[0].paper.ref == sequel["id"]
    assert any(mine[0]["title"][:30] in reason for reason in recs[0].why)
    assert any(reason.startswith("shares the terms") for reason in recs[0].why)
    last = sequel["listing_date"]
    assert all(r.paper.listed == last for r in recs)
    # best first; only the top 30 is re-ordered for diversity, never from outside it
    everything = recommend(store, "me", HashingEmbedder(), limit=1000)
    cut = sorted((r.score for r in everything), reverse=True)[29]
    assert all(r.score >= cut for r in recs)
    rest = [r.score for r in everything[30:]]
    assert rest == sorted(rest, reverse=True) and max(rest) <= cut
    assert not {r.paper.ref for r in recs} & {m["id"] for m in mine}
    # co-authors are counted by the store as from the papers' author lists
    ids = [store.get_paper(m["id"]).id for m in mine]
    listed = Counter(name_key(a.name) for p in store.papers(ids) for a in p.authors)
    assert store.signers(ids) == dict(listed) and max(listed.values()) == len(mine)
    # a paper known only by its abstract (some lists give no titles) is named by its opening
    untitled = replace(recs[0].paper, title=None)
    assert untitled.display_title.startswith(" ".join(untitled.abstract.split()[:5]))  # type: ignore[union-attr]
    assert untitled.display_title.endswith("[from the abstract]")
    assert replace(untitled, abstract=None).display_title == untitled.ref


def test_large_windows_rank_as_a_day_does(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past KEEP_BACKGROUND_PRODUCTS papers, each profile's support rows are multiplied
    instead of the whole background sample kept: the same ranking."""
    from paperfeed.recommend import listing

    store = corpus[0]
    lexical = LexicalModel.for_store(store)
    kept = recommend(store, "me", HashingEmbedder(), limit=20, lexical=lexical)
    monkeypatch.setattr(listing, "KEEP_BACKGROUND_PRODUCTS", 0)
    again = recommend(store, "me", HashingEmbedder(), limit=20, lexical=lexical)
    assert [r.paper.id for r in again] == [r.paper.id for r in kept]
    np.testing.assert_allclose([r.score for r in again], [r.score for r in kept], atol=1e-5)


def test_feedback_changes_the_next_ranking(corpus: Corpus, tmp_path: Path) -> None:
    store = corpus[0]
    lexical = LexicalModel.for_store(store)
    first = recommend(store, "me", HashingEmbedder(), limit=30, lexical=lexical)
    top, second = first[0].paper, first[1].paper
    with store.writer() as w:
        pid = w.ensure_profile("me", "researcher")
        w.set_relation(pid, [top.id], "down")
        w.set_relation(pid, [second.id], "save")
    after = recommend(store, "me", HashingEmbedder(), limit=30, lexical=lexical)
    refs = [r.paper.ref for r in after]
    assert top.ref not in refs and second.ref not in refs  # rated papers are not offered again
    assert store.profile_relations("me")[second.id] == "save"
    assert second.id in {p.id for p in store.profile_papers("me")}  # a save is a positive


def test_a_fitted_model_is_kept_for_the_next_process(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new process (a cron digest run) reads the profile's model back instead of fitting
    it again, and ranks the same; a rating makes the kept model stale, so it is refitted."""
    from paperfeed.recommend import model

    store = corpus[0]
    lexical = LexicalModel.for_store(store)
    fits: list[int] = []
    real_fit = model.fit
    monkeypatch.setattr(model, "fit", lambda *a: fits.append(1) or real_fit(*a))
    first = recommend(store, "me", HashingEmbedder(), limit=20, lexical=lexical)
    again = recommend(store, "me", HashingEmbedder(), limit=20, lexical=lexical)  # a new cache
    assert len(fits) == 1
    assert [r.paper.id for r in again] == [r.paper.id for r in first]
    np.testing.assert_allclose([r.score for r in again], [r.score for r in first], atol=1e-5)
    with store.writer() as w:
        w.set_relation(store.profile("me").id, [first[0].paper.id], "down")
    recommend(store, "me", HashingEmbedder(), limit=20, lexical=lexical)
    assert len(fits) == 2

    with store.writer() as w:  # a profile changed while another process writes (an ingest)
        w.set_relation(store.profile("me").id, [first[1].paper.id], "down")
    other = open_store(store.location)
    try:
        with other.writer():
            started = time.perf_counter()
            assert recommend(store, "me", HashingEmbedder(), limit=20, lexical=lexical)
            assert time.perf_counter() - started < 20  # did not wait out the 30 s busy timeout
            assert len(fits) == 3
    finally:
        other.close()
    recommend(store, "me", HashingEmbedder(), limit=20, lexical=lexical)
    assert len(fits) == 4  # the model was not kept: fitted again, and kept now
    recommend(store, "me", HashingEmbedder(), limit=20, lexical=lexical)
    assert len(fits) == 4

    def read_only(wait: bool = True) -> None:
        raise StoreError("attempt to write a readonly database")

    with store.writer() as w:
        w.set_relation(store.profile("me").id, [first[2].paper.id], "down")
    monkeypatch.setattr(store, "writer", read_only)
    assert recommend(store, "me", HashingEmbedder(), limit=20, lexical=lexical)
    assert len(fits) == 5


def test_a_writer_that_may_not_wait_fails_at_once_when_another_write_is_under_way(
    store: Store,
) -> None:
    with store.writer() as w:
        w.ensure_profile("held", "reader")
    other = open_store(store.location)
    try:
        with other.writer() as w:  # another process's transaction, holding the profile's row
            w.subscribe(store.profile("held").id, "held@example.org")
            started = time.perf_counter()
            with pytest.raises(StoreBusy), store.writer(wait=False) as mine:
                # SQLite waits for the whole file; Postgres for the rows another holds
                mine.subscribe(store.profile("held").id, "mine@example.org")
            assert time.perf_counter() - started < 5
        with store.writer(wait=False) as w:  # free again; and the busy timeout is back
            w.ensure_profile("after", "reader")
        assert store.profile("after").name == "after"
        with store.writer():  # this process's own writer, held by another thread
            outcome: list[BaseException] = []

            def try_write() -> None:
                try:
                    with store.writer(wait=False):
                        pass
                except StoreBusy as e:
                    outcome.append(e)

            thread = threading.Thread(target=try_write)
            thread.start()
            thread.join(5)
            assert len(outcome) == 1
    finally:
        other.close()


def test_many_profiles_ranked_by_forked_workers_as_one_by_one(
    corpus: Corpus, tmp_path: Path
) -> None:
    from paperfeed.recommend.service import Recommender

    store, mine, _ = corpus
    with store.writer() as w:
        w.add_to_profile(w.ensure_profile("half", "reader"), [store.get_paper(mine[0]["id"]).id])
        w.ensure_profile("empty", "reader")
        w.ensure_profile("topic", "topic", description="graph neural networks for molecules")
    names = ["me", "half", "empty", "topic", "me"]
    one = list(Recommender(store, HashingEmbedder()).recommend_many(names, limit=10))
    two = list(Recommender(store, HashingEmbedder()).recommend_many(names, limit=10, workers=2))
    assert [n for n, _ in two] == names
    for (_, a), (_, b) in zip(one, two, strict=True):
        if isinstance(a, InputError):
            assert isinstance(b, InputError) and str(a) == str(b)
            continue
        assert not isinstance(b, InputError)
        assert [(r.paper.id, r.why) for r in a] == [(r.paper.id, r.why) for r in b]
        np.testing.assert_allclose([r.score for r in a], [r.score for r in b])
    assert isinstance(two[2][1], InputError) and len(two[0][1]) == 10  # type: ignore[arg-type]


def test_lexical_model_is_cached_beside_the_database(corpus: Corpus, tmp_path: Path) -> None:
    store = corpus[0]
    cached = Path(store.location + ".lexical")
    cached.unlink()  # the template's
    LexicalModel.for_store(store)
    assert cached.exists()
    mtime = cached.stat().st_mtime_ns
    LexicalModel.for_store(store)
    assert cached.stat().st_mtime_ns == mtime
    # a model cached by an older paperfeed (no version, fewer fields) is fitted again
    old = LexicalModel.for_store(store)
    del old.__dict__["version"], old.__dict__["terms_rows"]
    cached.write_bytes(pickle.dumps(old))
    assert LexicalModel.for_store(store).terms_rows is not None


def test_profiles_without_papers_or_unknown(corpus: Corpus, tmp_path: Path) -> None:
    store = corpus[0]
    with store.writer() as w:
        w.ensure_profile("empty", "reader")
    with pytest.raises(InputError, match="no papers yet"):
        recommend(store, "empty", HashingEmbedder())
    with pytest.raises(NotFound):
        recommend(store, "nobody", HashingEmbedder())


def test_recommend_rate_and_profile_cli(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PAPERFEED_EMBEDDER", "hashing")
    with gzip.open(CORPUS, "rt") as f:
        rows = [json.loads(line) for _, line in zip(range(800), f, strict=False)]
    head = tmp_path / "head.jsonl"
    head.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cli("ingest", head)
    cli("embed")
    cli("profile", "create", "lab", "--kind", "lab")
    seed = next(p for p in sorted(SEEDS.iterdir()))
    assert "papers in profile 'lab'" in cli("profile", "import", "lab", seed).stdout
    early = [r["id"] for r in rows[:5]]
    for ref in early:
        cli("rate", ref, "save", "--profile", "lab")
    shown = cli_json(cli("profile", "show", "lab", "--json"))
    assert {p["id"] for p in shown["papers"] if p["mark"] == "save"} == set(early)  # type: ignore[index]
    recs = cli_json(cli("recommend", "--profile", "lab", "--limit", "5", "--json"))
    assert len(recs) == 5  # type: ignore[arg-type]
    assert all(set(r) >= {"id", "title", "score", "why"} for r in recs)  # type: ignore[union-attr]
    cli("rate", recs[0]["id"], "hide", "--profile", "lab")  # type: ignore[index]
    again = cli_json(cli("recommend", "--profile", "lab", "--limit", "5", "--json"))
    assert recs[0]["id"] not in [r["id"] for r in again]  # type: ignore[index,union-attr]
    assert cli("recommend", "--profile", "nobody", expect=3).exit_code == 3
    every = cli_json(cli("recommend", "--all", "--limit", "5", "--json"))
    assert [r["id"] for r in every["lab"]] == [r["id"] for r in again]  # type: ignore[index,call-overload]
    assert cli("recommend", "--all", "--profile", "lab", expect=2).exit_code == 2
    assert cli("rate", "2501.99999", "up", "--profile", "lab", expect=3).exit_code == 3


def test_the_dual_profile_model_decides_as_the_fitted_svm() -> None:
    """The coefficients recovered from LinearSVC's margins rebuild its weights: the kept
    model ranks candidates as the SVM does, from products with the rows it leans on."""
    from scipy import sparse, stats
    from sklearn.svm import LinearSVC

    from paperfeed.recommend.model import DualSvm

    positives = sparse.random(12, 5000, density=0.02, random_state=1, format="csr")
    negatives = sparse.random(600, 5000, density=0.01, random_state=2, format="csr")
    model = DualSvm.fit(positives, negatives)
    assert 0 < model.rows.size < 600 and np.all(model.coef < 0) and np.all(model.own >= 0)
    x = sparse.vstack([positives, negatives]).tocsr()
    y = np.r_[np.ones(12), np.zeros(600)]
    svm = LinearSVC(C=1.0, class_weight="balanced", max_iter=5000).fit(x, y)
    probe = sparse.random(80, 5000, density=0.02, random_state=3, format="csr")
    decided = model.decide(
        (probe @ positives.T).toarray(), (probe @ negatives[model.rows].T).toarray()
    )
    kept = svm.decision_function(probe)
    assert stats.spearmanr(decided, kept).statistic > 0.999
    np.testing.assert_allclose(decided - decided.mean(), kept - kept.mean(), atol=0.02)


def test_cosines_match_the_plain_sparse_product() -> None:
    from scipy import sparse

    from paperfeed.recommend.sparse import Rows, cosines

    c = sparse.random(40, 100_000, density=0.0005, random_state=3, format="csr")
    p = sparse.random(7, 100_000, density=0.0008, random_state=4, format="csr")
    p = sparse.vstack([p, c[5], sparse.csr_matrix((1, 100_000))]).tocsr()  # an overlap, a blank
    np.testing.assert_allclose(cosines(c, p), (c @ p.T).toarray())
    assert cosines(c, p)[5, 7] > 0
    dense = np.random.default_rng(0).random((5, 8))
    np.testing.assert_allclose(cosines(dense, dense[:2]), dense @ dense[:2].T)
    assert Rows(c).dense is None and Rows(c, dense_limit=10**9).dense is not None
    for rows in (Rows(c), Rows(c, dense_limit=10**9)):  # cut once, then many products
        for other in (p, c, sparse.csr_matrix((2, 100_000))):
            np.testing.assert_allclose(rows.dot(other), (c @ other.T).toarray())
    # float32 rows (the feed's) times a float64 side: computed in float32, same values
    rows32 = Rows(c.astype(np.float32), dense_limit=10**9)
    got = rows32.dot(p)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, (c @ p.T).toarray(), rtol=1e-5)


def test_diversity_keeps_near_duplicates_apart() -> None:
    from paperfeed.recommend.diversity import diversify

    base = np.eye(4, 16, dtype=np.float32)
    # papers 0 and 1 say the same thing; 2 is another topic, scored a little lower
    vectors = np.vstack([base[0], base[0] + 0.01 * base[1], base[2], base[3]])
    scores = np.array([3.0, 2.95, 2.9, 2.5])
    order = diversify(np.arange(4), scores, vectors, np.zeros(16, np.float32))
    assert list(order) == [0, 2, 1, 3]
    # without redundancy the order is the scores'
    spread = np.eye(4, 16, dtype=np.float32)
    assert list(diversify(np.arange(4), scores, spread, np.zeros(16, np.float32))) == [0, 1, 2, 3]


def test_teach_offers_unsure_papers_and_moves_on_once_rated(corpus: Corpus, tmp_path: Path) -> None:
    from paperfeed.recommend.feed import to_rate

    store, mine, _ = corpus
    asked = to_rate(store, "me", HashingEmbedder(), k=3)
    assert len(asked) == 3 and len({r.paper.id for r in asked}) == 3
    assert all("teaches it most" in r.why[0] for r in asked)
    assert not {r.paper.ref for r in asked} & {m["id"] for m in mine}
    with store.writer() as w:
        w.set_relation(store.profile("me").id, [asked[0].paper.id], "down")
    again = to_rate(store, "me", HashingEmbedder(), k=3)
    assert asked[0].paper.id not in {r.paper.id for r in again}


def test_papers_with_a_profiles_coauthors_say_so() -> None:
    from collections import Counter

    from paperfeed.models import Author, Paper
    from paperfeed.normalize import name_key
    from paperfeed.recommend.explain import coauthored
    from paperfeed.recommend.listing import Listing
    from paperfeed.recommend.model import coauthor_counts

    def paper(pid: int, *names: str) -> Paper:
        p = Paper.from_text("text")
        p.id = pid
        p.authors = [Author(0, n) for n in names]
        return p

    mine = [
        paper(1, "Ada Lovelace", "Charles Babbage"),
        paper(2, "Ada Lovelace", "Mary Somerville"),
    ]
    new = [paper(10, "Charles Babbage", "X"), paper(11, "Ada Lovelace"), paper(12, "Y")]
    keys = [[name_key(a.name) for a in p.authors] for p in new]
    listing = Listing(new, None, None, None, keys)  # type: ignore[arg-type]
    signed = Counter(name_key(a.name) for p in mine for a in p.authors)
    found = coauthored(coauthor_counts(signed, len(mine)), listing, [0, 1, 2])
    # Babbage wrote with the owner; the owner's own name (on every paper) is not a co-author
    assert found == {10: ["with Charles Babbage, an author of your papers"]}
    assert coauthored(coauthor_counts(signed, 2), listing, [1, 2]) == {}  # only the rows asked


def test_fitted_papers_rows_are_read_as_the_vectorizers_make_them(
    corpus: Corpus, tmp_path: Path
) -> None:
    from paperfeed.embed.model import paper_text
    from paperfeed.recommend.lexical import terms_text

    store = corpus[0]
    lexical = LexicalModel.for_store(store)
    first = store.papers([int(i) for i in lexical.ids[:100]])
    noted = [p for p in first if p.comment]  # "Accepted at ...": the comments space reads them
    items = [noted[3], first[0], noted[0]]
    items.insert(1, replace(items[0], id=0, title="A description, never fitted"))
    got = lexical.papers(items, np.zeros((4, 8), np.float32))
    texts = [paper_text(p.title, p.abstract) for p in items]
    with_comments = [terms_text(t, p.comment) for t, p in zip(texts, items, strict=True)]
    comments = [p.comment or "" for p in items]
    for space, vectorizer, inputs in (
        ("tfidf", lexical.tfidf, texts),
        ("terms", lexical.terms, with_comments),
        ("comments", lexical.comments, comments),
    ):
        made = vectorizer.transform(inputs).toarray()
        np.testing.assert_allclose(getattr(got, space).toarray(), made, atol=1e-6)
    assert any(comments), "the test papers should carry a comment"
    styles = style_matrix((p.title, p.abstract, p.comment, p.categories) for p in items)
    np.testing.assert_array_equal(got.style, styles)  # fitted ones read, the new one made
    assert not np.array_equal(styles[0], styles[1])  # the retitled copy reads differently


def test_category_evidence_is_a_smoothed_log_ratio_summed_over_a_papers_categories() -> None:
    from collections import Counter

    from paperfeed.models import Paper
    from paperfeed.recommend.listing import Listing

    cats = [["cs.CV", "cs.LG"], [], ["cs.CL"], ["math.OC", "cs.LG"], [], ["q-bio.NC"]]
    papers = []
    for i, c in enumerate(cats):
        p = Paper.from_text("text")
        p.id, p.categories = i + 1, c
        papers.append(p)
    listing = Listing(papers, None, None, None, [[] for _ in papers])  # type: ignore[arg-type]
    prior = {"cs.LG": 0.4, "cs.CV": 0.3, "cs.CL": 0.2, "math.OC": 0.01}
    counts = Counter({"cs.LG": 3, "cs.CV": 1, "cs.CL": 2, "stat.ML": 4})

    def weight(c: str) -> float:  # log(p(c | profile) / p(c)), smoothed with 2 papers
        return float(np.log((counts.get(c, 0) + 2 * prior[c]) / (6 * prior[c])))

    missing = np.log(2 / 6)  # a category the profile never used
    expected = [
        weight("cs.CV") + weight("cs.LG"),
        0.0,
        weight("cs.CL"),
        missing + weight("cs.LG"),
        0.0,
        missing,
    ]
    np.testing.assert_allclose(listing.category_evidence(counts, 4, prior), expected)
    assert weight("cs.CL") > 0 > weight("cs.CV")  # 2 of 4 papers vs 1 in 5; 1 of 4 vs 3 in 10
    # a profile with no categories (a description) has no category evidence
    assert not listing.category_evidence(Counter(), 1, prior).any()


def test_a_comment_like_the_profiles_lifts_a_paper_and_no_comment_space_is_no_evidence() -> None:
    from paperfeed.recommend.evidence import comment_similarity
    from paperfeed.recommend.lexical import fit_comments

    comments = [
        "Accepted at CoRL 2025. Project page: https://tidy-lab.github.io/grasp",
        "Accepted at CoRL 2025. Code: https://github.com/tidy-lab/reach",
        "",
        "12 pages, 5 figures",
        "Accepted at CoRL 2026. Code: https://github.com/tidy-lab/place",
        "Accepted to ACL 2026",
        "12 pages, 5 figures",
    ]
    _, rows = fit_comments(comments, min_df=1)
    profile, candidates = rows[:3], rows[3:]
    got = comment_similarity(candidates, profile, 4)
    assert got.argmax() == 1  # the lab's next paper: same venue, same code host
    assert got[1] > got[2] > got[3] == 0.0  # "Accepted" alone counts a little; no comment: 0
    assert not comment_similarity(None, None, 4).any()
    assert fit_comments(["", ""]) == (None, None)  # no comment token: no space at all


def test_term_evidence_weighs_the_words_a_profile_uses_most_and_others_use_least() -> None:
    from scipy import sparse

    from paperfeed.recommend.evidence import term_evidence, term_shares, term_weights
    from paperfeed.recommend.sparse import Rows

    # columns: 0 "splatting" (in 2 of 3 profile papers, 1% of papers), 1 "transformer" (in
    # all 3, 30% of papers), 2 "gaussian" (in 1, 1%), 3 "protein" (not in the profile)
    profile = sparse.csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 0, 0]], float))
    shares = np.array([0.01, 0.3, 0.01, 0.02], np.float32)
    got = term_weights(profile, shares).toarray().ravel()

    def weight(n: int, p: float) -> float:  # log(p(t | profile) / p(t)), smoothed with 2 papers
        return float(np.log((n + 2 * p) / (5 * p)))

    np.testing.assert_allclose(
        got, [weight(2, 0.01), weight(3, 0.3), weight(1, 0.01), 0.0], rtol=1e-6
    )
    assert got[0] > got[2] > got[1] > 0  # used often and rarely elsewhere weighs most
    candidates = sparse.csr_matrix(np.array([[0.6, 0.8, 0, 0], [0, 0.8, 0, 0.6], [0, 0, 0, 1]]))
    evidence = term_evidence(Rows(candidates), profile, shares)
    np.testing.assert_allclose(evidence, candidates @ got, rtol=1e-6)
    assert evidence[0] > evidence[1] > evidence[2] == 0.0
    assert not term_evidence(Rows(candidates), profile, None).any()  # no shares: no evidence
    # a term the shares never saw counts as the rarest one seen, not as a division by zero
    unseen = term_weights(profile, np.array([0.0, 0.3, 0.01, 0.02], np.float32))
    np.testing.assert_allclose(unseen.toarray().ravel()[0], weight(2, 0.01), rtol=1e-6)
    # shares are taken over the papers' rows: the share of rows using each column
    rows = sparse.csr_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]], float))
    np.testing.assert_allclose(term_shares(rows), [0.75, 0.25, 0.0])


def test_crowding_is_the_mean_of_each_papers_nearest_references_over_blocks() -> None:
    from paperfeed.recommend.evidence import crowding

    products = np.random.default_rng(0).random((7, 53)).astype(np.float32)
    blocks = [products[:, at : at + 10] for at in range(0, 53, 10)]
    expected = np.sort(products, axis=1)[:, -20:].mean(axis=1)
    np.testing.assert_allclose(crowding(iter(blocks), 7), expected, rtol=1e-6)
    np.testing.assert_allclose(crowding(iter(blocks), 7, k=3), np.sort(products)[:, -3:].mean(1))
    # fewer references than k: the mean over all of them; none at all: zeros
    np.testing.assert_allclose(crowding(iter([products[:, :4]]), 7), products[:, :4].mean(1))
    assert not crowding(iter([]), 7).any()


def test_a_listings_crowding_leaves_out_each_paper_itself(corpus: Corpus, tmp_path: Path) -> None:
    from paperfeed.models import SearchFilters
    from paperfeed.recommend.evidence import CROWD

    store = corpus[0]
    lexical = LexicalModel.for_store(store)  # 3,001 papers: all of them are its sample
    day = store.latest_day()
    listing = listing_of(store, HashingEmbedder(), lexical, SearchFilters(since=day, until=day), {})
    got = listing.crowding(lexical)
    products = listing.rare.dot(lexical.background_terms)  # listed papers x sample
    ids = np.array([p.id for p in listing.papers])
    itself = lexical.background_ids[None, :] == ids[:, None]
    assert itself.any(axis=1).all(), "every listed paper should be in the sample here"
    kept = np.where(itself, 0.0, products)
    np.testing.assert_allclose(got, np.sort(kept, axis=1)[:, -CROWD:].mean(axis=1), rtol=1e-5)
    with_itself = np.sort(products, axis=1)[:, -CROWD:].mean(axis=1)
    assert (with_itself > got + 0.5 / CROWD).all()  # its own cosine, 1, would count


def test_a_listings_embeddings_are_centred_on_the_stores_mean(
    corpus: Corpus, tmp_path: Path
) -> None:
    """Not on the day's own mean, which leans towards the day's topics; until the store's
    papers are embedded, the day's mean is all there is."""
    from paperfeed.models import SearchFilters

    store = corpus[0]
    lexical = LexicalModel.for_store(store)
    embedder = HashingEmbedder()
    day = SearchFilters(since=store.latest_day(), until=store.latest_day())
    listing = listing_of(store, embedder, lexical, day, {})
    mean, centred = listing.centred()
    _, stored = store.vectors_for(embedder.name, lexical.background_ids.tolist())
    np.testing.assert_allclose(mean, stored.mean(axis=0), atol=1e-6)
    own = listing.prepared.vectors.mean(axis=0)
    assert np.linalg.norm(mean - own) > 1e-3  # the day is not the store
    np.testing.assert_allclose(np.linalg.norm(centred, axis=1), 1, rtol=1e-5)
    # a store whose papers have no vectors yet: the listing's own mean
    bare = listing_of(store, HashingEmbedder(dim=embedder.dim + 8), lexical, day, {})
    np.testing.assert_allclose(bare.centred()[0], bare.prepared.vectors.mean(axis=0), atol=1e-6)


def test_style_attributes_read_a_papers_title_abstract_and_comment() -> None:
    def has(*args: object) -> set[str]:
        return {n for n, v in zip(NAMES, attributes(*args), strict=True) if v}  # type: ignore[arg-type]

    got = has(
        "SAGE: Sparse Attention for Graph Embeddings",
        "We propose SAGE. To this end, we use $O(n)$ memory, e.g. on graphs. " * 4,
        "Accepted to ICLR 2026. 12 pages, 5 figures",
        ["cs.LG"],
    )
    assert {
        "title: has a colon",
        "title: starts with an acronym and a colon",
        "title: in title case",
        "title: 6-8 words",
        "abstract: inline math",
        "abstract: 'to this end'",
        "abstract: 'e.g.'",
        "abstract: 'we propose'",
        "has a comment",
        "comment: 'accepted to'",
        "comment: 'pages'",
        "comment: 'iclr'",
        "in one category",
    } <= got
    assert "comment: 'accepted by'" not in got and "title: in sentence case" not in got
    plain = has("a study of graph embeddings in practice", "Short.", None, ["cs.LG", "cs.AI", "x"])
    assert {
        "title: in sentence case",
        "abstract: 0-119 words",
        "in three categories or more",
    } <= plain
    assert "has a comment" not in plain and "title: has a colon" not in plain
    assert style_matrix([]).shape == (0, len(NAMES))


def test_style_evidence_is_a_bernoulli_naive_bayes_log_ratio() -> None:
    """Having an attribute the profile's papers have lifts a paper; having one they avoid
    costs; each weighs log p(x | profile) / p(x) - log p(not x | profile) / p(not x)."""
    from paperfeed.recommend.evidence import style_evidence, style_weights

    profile = np.array([[1, 0, 1], [1, 0, 0], [1, 0, 1], [1, 1, 0]], np.uint8)
    prior = style_prior(np.array([[1, 0, 0], [0, 1, 0], [0, 1, 1], [0, 0, 0]], np.uint8))
    np.testing.assert_allclose(prior, [0.25, 0.5, 0.25])
    weights = style_weights(profile, prior)

    def nb(k: int, p: float) -> float:  # k of the 4 papers have it; smoothed with 2 papers
        return float(np.log((k + 2 * p) / (6 * p)) - np.log((4 - k + 2 * (1 - p)) / (6 * (1 - p))))

    np.testing.assert_allclose(weights, [nb(4, 0.25), nb(1, 0.5), nb(2, 0.25)])
    assert weights[0] > weights[2] > 0 > weights[1]
    candidates = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]], np.uint8)
    evidence = style_evidence(candidates, profile, prior)
    assert evidence[0] > evidence[2] > evidence[1]
    np.testing.assert_allclose(evidence, candidates @ weights)
    assert not style_evidence(candidates, None, prior).any()  # a description: no style
    assert not style_evidence(candidates, profile[:0], prior).any()


def _mentions(paper: Paper, word: str) -> bool:
    return word in f"{paper.title} {paper.abstract}".lower()


def test_a_described_topic_stays_on_topic_after_an_up_and_a_save(corpus: Corpus) -> None:
    """The description counts beside the papers rated into a topic profile: one 👍 and one
    save of robotics papers do not turn "Diffusion models" into a robotics feed."""
    from paperfeed import profiles

    store = corpus[0]
    days = [d for d, _ in store.listing_days(limit=5)]
    since, embedder = min(days[:3]), HashingEmbedder()
    topic = profiles.create(
        store,
        "Diffusion models",
        "topic",
        "Diffusion models: denoising diffusion probabilistic models and score-based "
        "generative models for image and video synthesis",
    )
    first = recommend(store, topic.name, embedder, since=since, limit=10)
    assert sum(_mentions(r.paper, "diffusion") for r in first) >= 8
    robots = [
        p
        for p in store.iter_papers()
        if (p.listed or "") < since
        and "robot" in (p.title or "").lower()
        and not _mentions(p, "diffusion")
    ]
    profiles.rate(store, topic, robots[0].ref, "up")
    profiles.rate(store, topic, robots[1].ref, "save")
    after = recommend(store, topic.name, embedder, since=since, limit=10)
    assert sum(_mentions(r.paper, "diffusion") for r in after) >= 5  # still the topic
    assert any(r.why[0].startswith("close to a paper you liked") for r in after)
    assert any(r.why[0] == "close to your description of your interests" for r in after)


def test_a_thumbs_down_removes_the_paper_and_demotes_its_near_duplicates(
    corpus: Corpus, tmp_path: Path
) -> None:
    store = corpus[0]
    embedder = HashingEmbedder()
    first = recommend(store, "me", embedder, limit=1000)
    target = first[5].paper
    twin = {
        "id": "2599.00002",
        "title": target.title + " (extended version)",
        "summary": target.abstract,
        "authors": ["Someone Else"],
        "categories": target.categories,
        "listing_date": target.listed,
    }
    path = tmp_path / "twin.jsonl"
    path.write_text(json.dumps(twin) + "\n")
    ingest_path(store, path)
    before = [r.paper.ref for r in recommend(store, "me", embedder, limit=1000)]
    with store.writer() as w:
        w.set_relation(store.profile("me").id, [target.id], "down")
    after = [r.paper.ref for r in recommend(store, "me", embedder, limit=1000)]
    assert target.ref not in after
    assert after.index(twin["id"]) > before.index(twin["id"]) + 20


def test_reasons_cite_content_a_researcher_recognises_in_50_real_feeds(corpus: Corpus) -> None:
    """No shared term in a reason is among the corpus's 500 most common words, made of them
    alone, a citation or comment fragment, or a pair of words that does not stand together
    in the paper."""
    import re

    from paperfeed.recommend.explain import BOILERPLATE

    store = corpus[0]
    last = store.latest_day()
    papers = list(store.iter_papers())
    frequency: Counter[str] = Counter()  # document frequency, counted here independently
    for p in papers:
        frequency.update(set(re.findall(r"[a-z0-9]+", f"{p.title} {p.abstract}".lower())))
    common = {w for w, _ in frequency.most_common(500)}
    by_author: dict[str, list[int]] = {}
    for p in papers:
        if (p.listed or "") < (last or ""):
            for a in p.authors:
                by_author.setdefault(a.name, []).append(p.id)
    authors = sorted((a for a, ids in by_author.items() if len(ids) >= 3), key=len)[:50]
    assert len(authors) == 50
    with store.writer() as w:
        for n, name in enumerate(authors):
            w.add_to_profile(w.ensure_profile(f"reasons {n}", "researcher"), by_author[name])
    lexical = LexicalModel.for_store(store)
    seen = 0
    for n in range(50):
        for rec in recommend(store, f"reasons {n}", HashingEmbedder(), limit=20, lexical=lexical):
            text = " ".join(
                re.findall(r"[a-z0-9\-]+", f"{rec.paper.title} {rec.paper.abstract}".lower())
            )
            for reason in rec.why:
                if reason.startswith("shares the terms"):
                    for term in re.findall(r"“([^”]+)”", reason):
                        seen += 1
                        assert term not in common, (term, reason)
                        assert not set(term.split()) & BOILERPLATE, (term, reason)
                        assert set(term.split()) - common, (term, reason)
                        assert f" {term} " in f" {text} ", (term, rec.paper.title)
    assert seen > 200  # reasons still name terms
