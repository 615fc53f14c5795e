"""Keyword, semantic and hybrid search, filters, similar papers, and the vector index."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from conftest import CORPUS, SEEDS, cli_json
from paperfeed.embed.index import embed_store
from paperfeed.embed.model import HashingEmbedder
from paperfeed.errors import InputError, NotFound
from paperfeed.ingest.pipeline import ingest_items, ingest_path
from paperfeed.models import AuthorRecord, Paper, PaperRecord, SearchFilters
from paperfeed.search.engine import Searcher, fuse
from paperfeed.search.vectors import VectorIndex
from paperfeed.store import Store, open_store
from paperfeed.store.fts import fts_terms, index_term

N = 3000


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The first papers of the shared corpus and the seed lists, embedded by the test embedder."""
    tmp = tmp_path_factory.mktemp("search")
    head = tmp / "head.jsonl"
    with gzip.open(CORPUS, "rt") as f, head.open("w") as w:
        for _, line in zip(range(N), f, strict=False):
            w.write(line)
    s = open_store(str(tmp / "search.db"))
    ingest_path(s, head)
    for seed in sorted(SEEDS.iterdir()):
        ingest_path(s, seed)
    embed_store(s, HashingEmbedder())
    yield s
    s.close()


@pytest.fixture(scope="module")
def searcher(corpus: Store) -> Searcher:
    return Searcher(corpus, HashingEmbedder())


def _papers(corpus: Store, n: int = 400) -> list[Paper]:
    return [p for _, p in zip(range(n), corpus.iter_papers(), strict=False)]


def test_exact_title_comes_first_in_every_mode(corpus: Store, searcher: Searcher) -> None:
    for paper in _papers(corpus, 40)[::8]:
        for mode in ("keyword", "semantic", "hybrid"):
            hits = searcher.search(paper.title or "", mode=mode, limit=5)  # type: ignore[arg-type]
            if mode == "semantic":
                assert paper.id in [h.paper.id for h in hits]
            else:
                assert hits[0].paper.id == paper.id, (mode, paper.title)


def test_semantic_search_looks_a_title_up_without_ranking_its_words(
    corpus: Store, searcher: Searcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long title's words can be in most papers (ranking them costs the keyword search's
    tail); semantic search only needs the papers with that title, an index look-up."""
    paper = next(p for p in _papers(corpus, 40) if len((p.title or "").split()) >= 4)
    ranked = []
    real = corpus.keyword_search
    monkeypatch.setattr(corpus, "keyword_search", lambda *a: ranked.append(a) or real(*a))
    hits = searcher.search(paper.title.upper() + " ", mode="semantic", limit=5)  # type: ignore[union-attr]
    assert paper.id in [h.paper.id for h in hits] and not ranked
    assert corpus.titled(paper.title or "", SearchFilters(until="1990-01-01")) == []
    short = "Attention networks"  # too short to name a paper: looked for by its words
    searcher.search(short, mode="semantic", limit=5)
    assert ranked == [(short, SearchFilters(), 3)]


def test_author_name_finds_their_papers(corpus: Store, searcher: Searcher) -> None:
    paper = _papers(corpus)[17]
    name = paper.authors[0].name
    hits = searcher.search(name, mode="hybrid", limit=10)
    assert hits and all(name in [a.name for a in h.paper.authors] for h in hits[:1])
    assert paper.id in [h.paper.id for h in hits]


def test_title_weighs_more_than_abstract(corpus: Store) -> None:
    # "splatting" in a title should beat papers that only mention it in the abstract.
    hits = corpus.keyword_search("splatting", SearchFilters(), 30)
    papers = {p.id: p for p in corpus.papers([h[0] for h in hits])}
    in_title = [("splatting" in (papers[pid].title or "").lower()) for pid, _ in hits]
    assert in_title[0] and any(in_title) and not all(in_title)
    first_abstract_only = in_title.index(False)
    assert all(in_title[:first_abstract_only])


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced',
        "a*",
        "NEAR(foo bar)",
        "((graph",
        "title:attention",
        "AND OR NOT",
        "x -y ^z",
        "大型语言模型",
        "Ωmega ∑ ≥",
        "x" * 20_000,
        "word " * 5000,
        "l'attention",
    ],
)
def test_any_text_is_a_valid_query(searcher: Searcher, query: str) -> None:
    for mode in ("keyword", "semantic", "hybrid"):
        hits = searcher.search(query, mode=mode, limit=5)  # type: ignore[arg-type]
        assert isinstance(hits, list)


@pytest.mark.parametrize("query", ["", "   ", "!!! ??? ***", '"" ()', '"', "-", "^"])
def test_empty_query_gets_a_clear_message(searcher: Searcher, query: str) -> None:
    with pytest.raises(InputError, match="empty"):
        searcher.search(query)


def test_fts_terms_quotes_every_term() -> None:
    assert fts_terms('graph NEAR(neural) "exact phrase" nets*') == [
        '"graph"',
        '"NEAR"',
        '"neural"',
        '"exact phrase"',
        '"nets"',
    ]
    assert fts_terms("the of and") == []


def test_keyword_search_puts_papers_with_every_word_first(corpus: Store) -> None:
    hits = corpus.keyword_search("gaussian splatting robot", SearchFilters(), 100)
    papers = corpus.papers([pid for pid, _ in hits])
    has_all = [
        all(w in f"{p.title} {p.abstract}".lower() for w in ("gaussian", "splat", "robot"))
        for p in papers
    ]
    assert any(has_all) and not all(has_all)
    assert has_all == sorted(has_all, reverse=True)


def test_words_take_the_form_the_index_gives_them(corpus: Store) -> None:
    """FTS5's Porter is not Snowball's and leaves short words be: "ecology" is "ecolog"
    there, "ES" is "es"; every word of a stored title has papers under its form."""
    assert [index_term(w) for w in ("ecology", "ES", "Configurations", "naïve", "GPT_4")] == [
        "ecolog",
        "es",
        "configur",
        "naiv",
        "gpt 4",
    ]
    words = {w for p in _papers(corpus, 300) for w in re.findall(r"[^\W_]+", p.title or "")}
    unknown = [w for w in words if corpus._document_frequency(f'"{w}"') == 0]  # type: ignore[attr-defined]
    assert len(words) > 1000 and unknown == []


def _title_words(corpus: Store, fewest: int) -> Iterator[list[str]]:
    """Single words of the first 150 titles, ``fewest`` to ``fewest`` + 4 of them a title."""
    for n, paper in enumerate(_papers(corpus, 150)):
        words = [t for t in fts_terms(paper.title or "") if " " not in t][: fewest + n % 5]
        if len(words) >= fewest:
            yield words


def test_papers_with_common_words_are_ranked_as_bm25_ranks_them(
    corpus: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``bm25_reads`` entries of the index for a query's words, SQLite ranks few papers
    with every word itself, from the vocabulary, and more in bm25() capped to the newest:
    the same papers, order and scores as bm25() over them all while no more than
    ``ranked_most`` match; past that, the newest, either way."""
    in_cv = SearchFilters(categories=("cs.CV",))
    ways = {"bm25": (10**12, 1), "here": (0, 1), "bm25, capped": (0, 10**12)}

    def ranked(way: str, terms: list[str], filters: SearchFilters, limit: int = 20) -> list:
        reads, a_paper = ways[way]
        monkeypatch.setattr(corpus, "bm25_reads", reads)
        monkeypatch.setattr(corpus, "reads_a_paper", a_paper)
        monkeypatch.setattr(corpus, "tested_most", -1)  # never among the rarest words' papers
        return corpus._match(terms, True, filters, limit)  # type: ignore[attr-defined,no-any-return]

    compared = 0
    for terms in _title_words(corpus, 2):
        for filters in (SearchFilters(), in_cv):
            by_bm25 = ranked("bm25", terms, filters)
            for way in ("here", "bm25, capped"):
                other = ranked(way, terms, filters)
                assert [pid for pid, _ in other] == [pid for pid, _ in by_bm25], (way, terms)
                scores = [s for _, s in other], [s for _, s in by_bm25]
                assert np.allclose(*scores, rtol=1e-9), (way, terms)
            compared += bool(by_bm25)
    assert compared > 150
    # more matches than are ranked: the newest of them, in bm25()'s order, either way
    common = ['"learning"', '"models"']
    everything = ranked("bm25", common, SearchFilters(), 1000)
    assert len(everything) > 100
    monkeypatch.setattr(corpus, "ranked_most", 40)
    newest = set(sorted(pid for pid, _ in everything)[-40:])
    expected = [pid for pid, _ in everything if pid in newest][:10]
    for way in ("here", "bm25, capped"):
        assert [pid for pid, _ in ranked(way, common, SearchFilters(), 10)] == expected, way


def test_sqlite_finds_a_long_querys_papers_among_those_with_its_rarest_words(
    corpus: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For three words or more, SQLite may find the papers with every word among those
    with the rarest few, indexed again in memory: the same papers, order and scores as
    bm25() over them all, with a filter and without."""
    in_cv = SearchFilters(categories=("cs.CV",))
    tested: list[list[str]] = []
    real = corpus._tested  # type: ignore[attr-defined]

    def spy(terms: list[str], *rest: object) -> object:
        found = real(terms, *rest)
        if found is not None:
            tested.append(terms)
        return found

    monkeypatch.setattr(corpus, "_tested", spy)
    compared = 0
    for terms in _title_words(corpus, 3):
        for filters in (SearchFilters(), in_cv):
            monkeypatch.setattr(corpus, "bm25_reads", 10**12)  # bm25() over every match
            by_bm25 = corpus._match(terms, True, filters, 20)  # type: ignore[attr-defined]
            monkeypatch.setattr(corpus, "bm25_reads", 0)
            found = corpus._match(terms, True, filters, 20)  # type: ignore[attr-defined]
            assert [pid for pid, _ in found] == [pid for pid, _ in by_bm25], terms
            assert np.allclose([s for _, s in found], [s for _, s in by_bm25], rtol=1e-9)
            compared += bool(by_bm25)
    assert compared > 100 and len(tested) > 100
    # a phrase's share is not known: such a query is left to FTS5
    assert corpus._rarest(['"gaussian splatting"', '"robot"', '"learning"'], 10**9) is None  # type: ignore[attr-defined]


def test_sqlite_marks_no_papers_it_would_not_rank_itself(
    corpus: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When even chance (the words taken as independent) puts more papers under a query's
    words than SQLite would rank itself, it goes to bm25() without marking any of them
    first; when chance puts fewer, it tries. The same results either way."""
    words = ['"learning"', '"models"']
    expected = corpus._match(words, True, SearchFilters(), 20)  # type: ignore[attr-defined]
    chance = corpus._by_chance(words)  # type: ignore[attr-defined]
    reads = sum(corpus._document_frequency(w) for w in words)  # type: ignore[attr-defined]
    assert 10 < chance < len(corpus.keyword_search("learning models", SearchFilters(), 10**6))
    tried = []
    real = corpus._ranked_here  # type: ignore[attr-defined]
    monkeypatch.setattr(corpus, "_ranked_here", lambda *a: tried.append(a[-1]) or real(*a))
    monkeypatch.setattr(corpus, "bm25_reads", 0)
    for few in (int(chance) // 2, int(chance) + 1):  # below chance, then above it
        monkeypatch.setattr(corpus, "reads_a_paper", reads // few)
        assert corpus._match(words, True, SearchFilters(), 20) == expected  # type: ignore[attr-defined]
    assert len(tried) == 1 and tried[0] > chance


def test_filters(corpus: Store, searcher: Searcher) -> None:
    everything = searcher.search("learning", mode="hybrid", limit=200)
    days = sorted({h.paper.listed for h in everything if h.paper.listed})
    cut = days[len(days) // 2]
    for mode in ("keyword", "semantic", "hybrid"):
        since = searcher.search("learning", mode, SearchFilters(since=cut), 50)  # type: ignore[arg-type]
        assert since and all((h.paper.listed or "") >= cut for h in since)
        until = searcher.search("learning", mode, SearchFilters(until=cut), 50)  # type: ignore[arg-type]
        assert until and all((h.paper.listed or "") <= cut for h in until)
        cat = searcher.search("learning", mode, SearchFilters(categories=("cs.RO",)), 30)  # type: ignore[arg-type]
        assert cat and all("cs.RO" in h.paper.categories for h in cat)

    author = _papers(corpus)[3].authors[0].name
    by = searcher.search("learning", "semantic", SearchFilters(author=author), 10)
    assert by and all(author in [a.name for a in h.paper.authors] for h in by)

    profile = corpus.profiles()[0]
    members = {p.id for p in corpus.profile_papers(profile.name)}
    got = searcher.search("model", "hybrid", SearchFilters(profile=profile.name), 50)
    assert got and {h.paper.id for h in got} <= members


def test_organization_filter(tmp_path: Path) -> None:
    s = open_store(str(tmp_path / "o.db"))
    records = [
        PaperRecord(
            "t",
            "t:1",
            arxiv_id="2501.00001",
            title="Graph learning at INRIA",
            authors=[AuthorRecord("Ann Smith", ["INRIA Paris"])],
        ),
        PaperRecord(
            "t",
            "t:2",
            arxiv_id="2501.00002",
            title="Graph learning elsewhere",
            authors=[AuthorRecord("Bob Jones", ["MIT"])],
        ),
    ]
    ingest_items(s, records, "t", "t")
    hits = s.keyword_search("graph learning", SearchFilters(organization="inria paris"), 10)
    assert [p.title for p in s.papers([h[0] for h in hits])] == ["Graph learning at INRIA"]
    assert len(s.keyword_search("graph learning", SearchFilters(), 10)) == 2
    s.close()


def test_similar_leaves_the_paper_out_and_takes_filters(corpus: Store, searcher: Searcher) -> None:
    paper = _papers(corpus)[5]
    hits = searcher.similar(paper.ref, limit=10)
    assert len(hits) == 10 and paper.id not in [h.paper.id for h in hits]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    cat = searcher.similar(paper.ref, SearchFilters(categories=("cs.CV",)), limit=5)
    assert all("cs.CV" in h.paper.categories for h in cat)
    with pytest.raises(NotFound):
        searcher.similar("2199.99999")


def test_rank_fusion_matches_the_formula() -> None:
    fused = fuse({"keyword": [(1, 9.0), (2, 5.0)], "semantic": [(2, 0.9), (3, 0.8)]})
    assert [pid for pid, _, _ in fused] == [2, 1, 3]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[0][2] == {"keyword": 2, "semantic": 1}


def _clustered(n: int, dim: int = 48, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(64, dim))
    return (centres[rng.integers(0, 64, n)] + 0.6 * rng.normal(size=(n, dim))).astype(np.float32)


def test_exact_index_agrees_with_brute_force() -> None:
    vectors = _clustered(2000)
    ids = np.arange(10, 2010, dtype=np.int64)[::-1].copy()  # unsorted on purpose
    index = VectorIndex(ids, vectors)
    q = index.query_vector(vectors[0])
    centred = vectors - vectors.mean(axis=0)
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    expected = ids[np.argsort(-(centred @ q))[:10]]
    assert [pid for pid, _ in index.search(q, 10)] == list(expected)
    allowed = np.sort(ids[::3])
    got = index.search(q, 10, allowed=allowed)
    assert {pid for pid, _ in got} <= set(allowed.tolist()) and len(got) == 10
    assert ids[0] not in [pid for pid, _ in index.search(q, 10, exclude=int(ids[0]))]


def _recall(ann: VectorIndex, exact: VectorIndex, vectors: np.ndarray, rows: range) -> float:
    """Mean recall@10 of ``ann`` against ``exact``, querying with the vectors of ``rows``."""
    found = []
    for i in rows:
        q = exact.query_vector(vectors[i])
        truth = {pid for pid, _ in exact.search(q, 10)}
        found.append(len(truth & {pid for pid, _ in ann.search(q, 10)}) / 10)
    return float(np.mean(found))


def test_ann_index_recall_and_reuse(tmp_path: Path) -> None:
    vectors = _clustered(20_000)
    ids = np.arange(20_000, dtype=np.int64)
    path = tmp_path / "v.usearch"
    ann = VectorIndex(ids, vectors, ann_threshold=1000, ann_path=path)
    exact = VectorIndex(ids, vectors, ann_threshold=10**9)
    assert ann.uses_ann and not exact.uses_ann and path.exists()
    assert _recall(ann, exact, vectors, range(0, 20_000, 400)) >= 0.95
    again = VectorIndex(ids, vectors, ann_threshold=1000, ann_path=path, build_ann=False)
    assert again.uses_ann
    for i in range(0, 20_000, 400):  # searched as broadly as when built, not usearch's default
        q = exact.query_vector(vectors[i])
        assert again.search(q, 10) == ann.search(q, 10)
    assert again._ann.expansion_search == ann._ann.expansion_search
    # vectors changed: the saved index is stale, and a query-time load will not rebuild it
    changed = vectors.copy()
    changed[::100] *= -1
    stale = VectorIndex(ids, changed, ann_threshold=1000, ann_path=path, build_ann=False)
    assert not stale.uses_ann


def test_ann_index_loads_before_the_embedding_model(tmp_path: Path) -> None:
    """usearch imported before onnxruntime kills the process in onnxruntime's import: an
    HNSW index built before the model is loaded must not."""
    script = (
        "import numpy as np\n"
        "from paperfeed.search.vectors import VectorIndex\n"
        "v = np.random.default_rng(1).normal(size=(300, 16)).astype(np.float32)\n"
        "assert VectorIndex(np.arange(300), v, ann_threshold=100).uses_ann\n"
        "import onnxruntime\n"
        "print('alive')\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "alive", run.stderr[-2000:]


def test_search_and_similar_cli(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PAPERFEED_EMBEDDER", "hashing")
    head = tmp_path / "h.jsonl"
    with gzip.open(CORPUS, "rt") as f, head.open("w") as w:
        for _, line in zip(range(300), f, strict=False):
            w.write(line)
    cli("ingest", head)
    cli("embed")
    first = json.loads(head.read_text().splitlines()[0])
    hits = cli_json(cli("search", first["title"], "--json"))
    assert isinstance(hits, list) and hits[0]["id"] == first["id"]
    assert set(hits[0]) >= {"id", "title", "score"}
    hits = cli_json(cli("search", "robot", "--mode", "keyword", "--limit", "3", "--json"))
    assert len(hits) == 3  # type: ignore[arg-type]
    similar = cli_json(cli("similar", first["id"], "--json", "--limit", "5"))
    assert len(similar) == 5 and first["id"] not in [h["id"] for h in similar]  # type: ignore[union-attr,arg-type]
    assert "empty" in cli("search", "***", expect=1).stderr
    assert cli("similar", "2199.00001", expect=3).exit_code == 3


def test_hits_read_the_first_authors_of_a_collaboration(tmp_path: Path) -> None:
    """A thousand-author paper costs a search the first names only; its page shows all, and
    a name far down the list still finds it first."""
    crowd = [AuthorRecord(f"Member{i:03d} Collab", []) for i in range(120)]
    records = [
        PaperRecord("t", "t:1", arxiv_id="2501.00001", title="A detector upgrade", authors=crowd),
        PaperRecord(
            "t",
            "t:2",
            arxiv_id="2501.00002",
            title="Member100 Collab detector notes by others",
            authors=[AuthorRecord("Ann Smith", [])],
        ),
    ]
    s = open_store(str(tmp_path / "c.db"))
    ingest_items(s, records, "t", "t")
    hits = Searcher(s).search("Member100 Collab", "keyword", limit=5)
    assert hits[0].paper.ref == "2501.00001"
    assert len(hits[0].paper.authors) == 50 and hits[0].paper.more_authors == 70
    assert hits[0].to_dict()["more_authors"] == 70
    full = s.get_paper("2501.00001")
    assert len(full.authors) == 120 and full.more_authors == 0
    assert full.authors[100].name == "Member100 Collab"
    s.close()


def test_the_stores_light_reads_agree_with_the_interfaces_defaults(corpus: Store) -> None:
    """SQLite overrides two reads that the base Store builds from its other methods (what a
    second backend gets for free); both must give the same answers."""
    base = Store
    fast = list(corpus.lexical_inputs(batch_size=700))
    default = list(base.lexical_inputs(corpus, batch_size=700))
    assert fast == default
    rows = [row for batch in fast for row in batch]
    assert len(rows) == corpus.paper_count() and [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert any(r[3] for r in rows) and all(isinstance(r[4], list) for r in rows)
    for window in (
        SearchFilters(),
        SearchFilters(categories=("cs.RO",)),
        SearchFilters(since="2999"),
    ):
        assert corpus.filter_summary(window) == base.filter_summary(corpus, window)


def test_search_before_any_vector_runs_on_keywords_with_a_note(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PAPERFEED_EMBEDDER", "hashing")
    cli("ingest", SEEDS)
    out = cli("search", "Gemma", "--json")  # hybrid, the default, with nothing embedded
    assert "keyword results" in out.stderr and "Traceback" not in out.output
    assert cli_json(out)
    cli("embed")
    again = cli("search", "Gemma", "--json")
    assert "keyword results" not in again.stderr


def test_the_topic_map_is_drawn_again_once_more_papers_are_embedded(store: Store) -> None:
    from paperfeed.search.topics import topic_map

    with gzip.open(CORPUS, "rt") as f:
        rows = [json.loads(line) for _, line in zip(range(600), f, strict=False)]
    items = [
        PaperRecord(
            "arxiv-jsonl",
            f"r:{i}",
            arxiv_id=r["id"],
            title=r["title"],
            abstract=r["summary"],
            listed=r["listing_date"],
        )
        for i, r in enumerate(rows)
    ]
    ingest_items(store, items, "rows", "arxiv-jsonl")
    embed_store(store, HashingEmbedder(), limit=200)
    window = SearchFilters(since=min(r["listing_date"] for r in rows))
    first = topic_map(store, "hashing-64", window)
    embed_store(store, HashingEmbedder())
    second = topic_map(store, "hashing-64", window)
    assert first.papers == 200 and second.papers == 600


def test_ann_index_takes_the_new_papers_in_without_a_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import usearch.index

    vectors = _clustered(20_000)
    ids = np.arange(20_000, dtype=np.int64)
    path = tmp_path / "v.usearch"
    VectorIndex(ids[:19_000], vectors[:19_000], ann_threshold=1000, ann_path=path)
    added: list[tuple[int, int]] = []
    real_add = usearch.index.Index.add

    def add(self, keys, vectors, **kw):  # type: ignore[no-untyped-def]
        added.append((int(keys[0]), len(keys)))
        return real_add(self, keys, vectors, **kw)

    monkeypatch.setattr(usearch.index.Index, "add", add)
    grown = VectorIndex(ids, vectors, ann_threshold=1000, ann_path=path)  # a day later
    assert added == [(19_000, 1_000)]  # only the new papers went in
    exact = VectorIndex(ids, vectors, ann_threshold=10**9)
    assert _recall(grown, exact, vectors, range(19_000, 20_000, 50)) >= 0.95
    again = VectorIndex(ids, vectors, ann_threshold=1000, ann_path=path, build_ann=False)
    assert again.uses_ann and len(added) == 1  # saved whole: loaded, nothing added


def _postgres_with_600_papers(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    from conftest import database_for

    store = open_store(database_for(request, tmp_path, "postgres"))
    request.addfinalizer(store.close)
    rows = tmp_path / "rows.jsonl"
    with gzip.open(CORPUS, "rt") as f, rows.open("w") as w:
        w.writelines(line for _, line in zip(range(600), f, strict=False))
    ingest_path(store, rows)
    return store


def test_postgres_reads_the_newest_papers_for_common_words_beside_its_stop_words(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's stop words ("what", "can"; not paperfeed's) match nothing and
    constrain nothing, so "what learning" is as common as "learning", and its matches are
    found by reading the newest papers, not every match through the index."""
    store = _postgres_with_600_papers(request, tmp_path)
    monkeypatch.setattr(store, "ranked_most", 2)
    seen: list[tuple[list[str], bool]] = []
    path = store._path  # type: ignore[attr-defined]

    def spy(terms: list[str], every: bool, most: int, filtered: bool) -> tuple[bool, int | None]:
        chosen: tuple[bool, int | None] = path(terms, every, most, filtered)
        seen.append((terms, chosen[0]))
        return chosen

    monkeypatch.setattr(store, "_path", spy)
    alone = store.keyword_search("learning", SearchFilters(), 20)
    assert len(alone) == 20 and seen == [(['"learning"'], True)]
    seen.clear()
    assert store.keyword_search("what learning can", SearchFilters(), 20) == alone
    assert seen == [(['"learning"'], True)]
    # two words each in many papers but seldom together are read through the index
    seen.clear()
    store.keyword_search("learning graph", SearchFilters(), 5)
    assert seen[0] == (['"learning"', '"graph"'], False)
    assert store.keyword_search("what can", SearchFilters(), 20) == []


def test_postgres_asks_its_index_among_the_newest_papers_first(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Words common enough that the newest papers hold the matches to rank are looked up
    among those first, then among the papers below them while too few are found: the same
    papers, order and scores as looking among all."""
    import paperfeed.store.postgres as pg

    store = _postgres_with_600_papers(request, tmp_path)
    monkeypatch.setattr(store, "ranked_most", 5)
    words = {w.lower() for p in store.papers(range(1, 601)) for w in (p.title or "").split()}
    path = store._path  # type: ignore[attr-defined]
    indexed = store._indexed  # type: ignore[attr-defined]
    windowed = [
        w
        for w in sorted(words)
        if fts_terms(w) == [f'"{w}"']
        and indexed([f'"{w}"'])
        and path([f'"{w}"'], True, 5, False)[1]
    ]
    assert len(windowed) >= 5, windowed
    queries = windowed + [f"{a} {b}" for a, b in pairwise(windowed)]
    top = store._top_id  # type: ignore[attr-defined]
    windows: list[str] = []

    def spy() -> int:
        windows.append(query)
        return top()  # type: ignore[no-any-return]

    monkeypatch.setattr(store, "_top_id", spy)
    for slack in (pg.WINDOW_SLACK, 0.05):  # a window too narrow is followed by the papers below it
        monkeypatch.setattr(pg, "WINDOW_SLACK", slack)
        windows.clear()
        for query in queries:
            monkeypatch.setattr(store, "_path", path)
            got = store.keyword_search(query, SearchFilters(), 5)
            monkeypatch.setattr(store, "_path", lambda *a: (False, None))
            assert got == store.keyword_search(query, SearchFilters(), 5), (query, slack)
        assert set(windowed) <= set(windows)
        widened = len(windows) - len(set(windows))
        assert widened > 0 if slack < 1 else widened < len(windows) / 2


def test_postgres_looks_up_a_long_querys_rarest_words_and_tests_the_others(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For three words or more, PostgreSQL asks its GIN index for the papers with the
    rarest few only and tests the other words paper by paper: the same papers, order and
    scores as asking the index for every word, with filters or without."""
    import paperfeed.store.postgres as pg

    store = _postgres_with_600_papers(request, tmp_path)
    rarest = store._rarest  # type: ignore[attr-defined]
    titles = [store._indexed(fts_terms(p.title or "")) for p in store.papers(range(1, 151))]  # type: ignore[attr-defined]
    fewer = compared = 0
    for terms in (t[:n] for t in titles if len(t) >= 3 for n in (3, len(t))):
        fewer += rarest(terms, pg.TESTED_MOST) is not None
        for filters in (SearchFilters(), SearchFilters(categories=("cs.CV",))):
            got = store._match(terms, True, filters, 20)  # type: ignore[attr-defined]
            monkeypatch.setattr(store, "_rarest", lambda *_: None)
            assert got == store._match(terms, True, filters, 20), (terms, filters)  # type: ignore[attr-defined]
            monkeypatch.setattr(store, "_rarest", rarest)
            compared += bool(got)
    assert fewer > 150 and compared > 150


def test_the_database_keeps_its_own_index_and_answers_as_the_exact_scan(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL, semantic search goes through pgvector's HNSW index over the centred
    vectors, built in the database: nothing is loaded into the searching process."""
    import paperfeed.search.engine as engine
    import paperfeed.store.postgres_ann as ann
    from conftest import database_for
    from paperfeed.search.vectors import StoredIndex

    store = open_store(database_for(request, tmp_path, "postgres"))
    request.addfinalizer(store.close)
    rows = tmp_path / "rows.jsonl"
    with gzip.open(CORPUS, "rt") as f, rows.open("w") as w:
        for _, line in zip(range(3000), f, strict=False):
            w.write(line)
    ingest_path(store, rows)
    ids = np.arange(1, store.paper_count() + 1, dtype=np.int64)
    vectors = _clustered(len(ids))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    first = 2400
    with store.writer() as w:
        w.save_vectors("test-48", ids[:first].tolist(), [b"h"] * first, vectors[:first])
    monkeypatch.setattr(engine, "ANN_THRESHOLD", 1000)
    index = engine.load_index(store, "test-48", build_ann=True)
    assert isinstance(index, StoredIndex) and index.uses_ann and len(index) == first
    kept = store.load_vectors("test-48")
    exact = VectorIndex(*kept, ann_threshold=10**9)
    assert np.allclose(index.mean, exact.mean, atol=1e-3)  # centred as the exact scan is
    read = index.vectors_of([1, 2, 10**9])  # a paper's vector, as the exact scan has it
    assert set(read) == {1, 2} and np.allclose(read[2], exact.vector_of(2), atol=1e-2)
    assert index.vector_of(10**9) is None
    assert _recall(index, exact, kept[1], range(0, first, 60)) >= 0.95  # type: ignore[arg-type]
    q = exact.query_vector(kept[1][7])
    by_index, by_scan = dict(index.search(q, 10)), dict(exact.search(q, 10))
    assert all(abs(by_index[i] - by_scan[i]) < 0.01 for i in set(by_index) & set(by_scan))
    # the index can answer the search's statement (its expression is the index's); at
    # 2,400 rows the planner may still rather read them all and sort, so those paths are
    # closed here (at a million papers it takes the index: docs/benchmarks.md)
    meta = ann.index_meta(store._read, "test-48")  # type: ignore[attr-defined]
    for path in ("seqscan", "bitmapscan", "sort"):
        store._read.execute(f"SET enable_{path} = off")  # type: ignore[attr-defined]
    plan = store._read.execute(  # type: ignore[attr-defined]
        "EXPLAIN " + ann.query_sql("test-48", meta), ("[0]", "[0]", 10)
    ).fetchall()
    assert meta["name"] in " ".join(r[0] for r in plan)
    for path in ("seqscan", "bitmapscan", "sort"):
        store._read.execute(f"RESET enable_{path}")  # type: ignore[attr-defined]

    # a search looks through as many neighbours as its index was built to need; one built
    # before the index kept that, with pgvector's default graph, through more
    def breadth() -> int:
        return int(store._read.execute("SHOW hnsw.ef_search").fetchone()[0])  # type: ignore[attr-defined]

    assert meta["ef_search"] == ann.MIN_EF_SEARCH < ann.FORMER_EF_SEARCH
    index.search(q, 10)
    assert breadth() == ann.MIN_EF_SEARCH
    former = {k: v for k, v in meta.items() if k != "ef_search"}
    through_more = ann.nearest(store._read, "test-48", former, q, 10)  # type: ignore[attr-defined]
    assert breadth() == ann.FORMER_EF_SEARCH
    assert len(through_more) == 10
    # a few allowed papers are scored exactly; the paper asked about is left out
    few = np.arange(100, 140, dtype=np.int64)
    got, want = index.search(q, 5, allowed=few, exclude=8), exact.search(q, 5, few, exclude=8)
    assert [i for i, _ in got] == [i for i, _ in want]
    assert np.allclose([s for _, s in got], [s for _, s in want], atol=2e-3)  # half precision
    assert 8 not in dict(index.search(q, 10, exclude=8))
    # many allowed papers, all far from the query: the index's candidates hold too few of
    # them, and they are scored exactly instead
    far = np.sort(kept[0][np.argsort(exact.matrix @ q)[:300]])
    exactly: list[bool] = []
    real = store.nearest
    monkeypatch.setattr(
        store, "nearest", lambda *a, **kw: exactly.append("among" in kw) or real(*a, **kw)
    )
    got, want = index.search(q, 5, allowed=far), exact.search(q, 5, far)
    assert [i for i, _ in got] == [i for i, _ in want] and exactly == [False, True]
    monkeypatch.setattr(store, "nearest", real)
    # papers embedded later are found at once; past a tenth more, a new centre and index
    with store.writer() as w:
        w.save_vectors(
            "test-48", ids[first:].tolist(), [b"h"] * (len(ids) - first), vectors[first:]
        )
    new = int(ids[-1])
    assert index.search(index.query_vector(vectors[-1]), 1)[0][0] == new
    again = engine.load_index(store, "test-48", build_ann=True)
    rebuilt = ann.index_meta(store._read, "test-48")  # type: ignore[attr-defined]
    assert rebuilt["name"] != meta["name"] and len(again) == len(ids)
    names = store._read.execute(  # type: ignore[attr-defined]
        "SELECT indexname FROM pg_indexes WHERE tablename = 'embeddings'"
    ).fetchall()
    assert meta["name"] not in {r[0] for r in names}  # the old index is gone


def test_no_vectors_no_index_in_the_database(store: Store) -> None:
    assert not store.build_ann("unknown-model", 0) and store.ann_index("unknown-model") is None


def test_only_the_newest_matches_of_a_common_query_are_ranked_and_an_exact_title_found(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = tmp_path / "rows.jsonl"
    with gzip.open(CORPUS, "rt") as f, rows.open("w") as w:
        lines = [json.loads(line) for _, line in zip(range(600), f, strict=False)]
        # the oldest paper has a title of words hundreds of later papers hold
        lines[0] |= {"id": "3001.00001", "title": "Deep Learning with Language Models"}
        w.writelines(json.dumps(row) + "\n" for row in lines)
    ingest_path(store, rows)
    everything = store.keyword_search("learning", SearchFilters(), 1000)
    assert len(everything) > 50
    in_cv = SearchFilters(categories=("cs.CV",))
    passing = store.keyword_search("learning", in_cv, 1000)
    assert 20 < len(passing) < len(everything)
    monkeypatch.setattr(store, "ranked_most", 20)
    capped = store.keyword_search("learning", SearchFilters(), 20)
    newest = sorted((pid for pid, _ in everything), reverse=True)[:20]
    assert sorted(pid for pid, _ in capped) == sorted(newest)  # the newest 20, ranked
    assert [pid for pid, _ in capped] == [pid for pid, _ in everything if pid in set(newest)]
    # the same with a filter: the newest 20 of the matches that pass it
    capped = store.keyword_search("learning", in_cv, 20)
    assert sorted(pid for pid, _ in capped) == sorted(pid for pid, _ in passing)[-20:]
    # a caller that wants more results than that (a ranking within a pool) gets them all
    assert store.keyword_search("learning", SearchFilters(), 1000) == everything
    # the oldest paper, not among the newest ranked: found by its title all the same
    monkeypatch.setattr(store, "ranked_most", 2)
    (old,) = store.papers([store.get_paper("3001.00001").id])
    assert old.id not in {pid for pid, _ in store._match(['"learning"'], True, SearchFilters(), 10)}  # type: ignore[attr-defined]
    assert (
        store.keyword_search("deep learning with language models", SearchFilters(), 10)[0][0]
        == old.id
    )
