"""The daily-feed benchmark: would this researcher want this paper?

A case is an author on one listing day: the profile is their papers listed before a cutoff,
the candidates are that whole day's listing, and the relevant papers are their own papers of
the day. The product's ranking is scored as it ships (:func:`prepared`, :func:`rankings`),
the baselines as their projects run them, blind to authors (the product reads them only for
its co-author evidence; ``hide_authors`` takes them away). Rankers are compared on the same
cases in one run: MRR, recall@10 and nDCG@10, macro-averaged over cases.

Without a cases file the split is built from the corpus: cutoff 2026-01-01; authors with 8 to
60 papers before it and at least 2 after, names with more than 80 papers left out (many
people share them); only authors whose name's SHA-1 parity is the one asked for. Even names
are for tuning; odd names are held out to verify.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.embed.model import Embedder, content_hash, paper_text
from paperfeed.errors import InputError, RecordError
from paperfeed.evaluate.baselines import BASELINES, Context
from paperfeed.evaluate.metrics import ndcg, reciprocal_rank
from paperfeed.models import Author, Paper
from paperfeed.normalize import clean_text, name_key
from paperfeed.recommend.evidence import Papers
from paperfeed.recommend.lexical import LexicalModel, fit_tfidf
from paperfeed.recommend.listing import Listing, mean_sample, store_mean
from paperfeed.recommend.model import ProfileState, coauthor_counts, profile_state
from paperfeed.recommend.rank import rank
from paperfeed.store.codec import as_stored

CUTOFF = "2026-01-01"


@dataclass(slots=True)
class Case:
    profile: list[str]
    candidates: list[str]
    relevant: list[str]
    author: str | None = None
    day: str | None = None
    #: Papers listed before this day are the background (negatives); default: the day of
    #: the earliest candidate.
    cutoff: str | None = None


@dataclass
class Corpus:
    ids: list[str]
    texts: list[str]
    authors: list[list[str]]
    categories: list[list[str]]
    listed: list[str]
    comments: list[str] = field(default_factory=list)  # cleaned as the store cleans them
    titles: list[str] = field(default_factory=list)  # likewise
    abstracts: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.row = {pid: i for i, pid in enumerate(self.ids)}

    def paper(self, row: int, hide_authors: bool = False) -> Paper:
        """The paper of a corpus row as a store holding the corpus gives it: id ``row + 1``
        (the corpus's order), its cleaned text, authors (none with ``hide_authors``),
        categories and listing day."""
        paper = Paper.from_text(self.abstracts[row] or "")
        paper.id = row + 1
        paper.title = self.titles[row] or None
        paper.abstract = self.abstracts[row] or None
        paper.comment = self.comments[row] or None
        paper.categories = self.categories[row]
        paper.listed = self.listed[row]
        paper.ids = {"arxiv": self.ids[row]}
        if not hide_authors:
            paper.authors = [Author(0, name) for name in self.authors[row]]
        return paper


def load_corpus(path: Path | str) -> Corpus:
    path = Path(path)
    ids, texts, authors, cats, listed, comments, titles, abstracts = ([] for _ in range(8))
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                try:
                    row = json.loads(line)
                    ids.append(str(row["id"]))
                    # cleaned as the store cleans, so vectors are shared with a store's
                    title, abstract = clean_text(row.get("title")), clean_text(row.get("summary"))
                    texts.append(paper_text(title, abstract))
                    titles.append(title or "")
                    abstracts.append(abstract or "")
                    authors.append(list(row.get("authors") or []))
                    cats.append(list(row.get("categories") or []))
                    listed.append(str(row.get("listing_date") or ""))
                    comments.append(clean_text(row.get("comment")) or "")
                except (ValueError, KeyError, TypeError) as e:
                    raise RecordError(f"{path}:{n}", f"not an arXiv corpus record ({e})") from e
    except OSError as e:
        raise InputError(f"{path}: cannot read the corpus ({e})") from e
    return Corpus(ids, texts, authors, cats, listed, comments, titles, abstracts)


def name_parity(name: str) -> str:
    return "even" if int(hashlib.sha1(name.encode()).hexdigest(), 16) % 2 == 0 else "odd"


def build_cases(
    corpus: Corpus,
    parity: str = "even",
    cutoff: str = CUTOFF,
    max_authors: int | None = None,
    until: str | None = None,
) -> list[Case]:
    """The benchmark's own split (see the module docstring). With ``until``, papers listed
    on or after that day are left out, as if the corpus ended there: cases wholly before
    the benchmark's cutoff, to fit weights on without touching its days."""
    before: dict[str, list[int]] = defaultdict(list)
    after: dict[str, list[int]] = defaultdict(list)
    for i, names in enumerate(corpus.authors):
        if until is not None and corpus.listed[i] >= until:
            continue
        side = before if corpus.listed[i] < cutoff else after
        for name in names:
            side[name].append(i)
    by_day: dict[str, list[int]] = defaultdict(list)
    for i, day in enumerate(corpus.listed):
        if until is None or day < until:
            by_day[day].append(i)
    authors = sorted(
        (
            a
            for a, rows in before.items()
            if 8 <= len(rows) <= 60
            and len(after[a]) >= 2
            and len(rows) + len(after[a]) <= 80
            and name_parity(a) == parity
        ),
        key=lambda a: hashlib.sha1(a.encode()).hexdigest(),  # a fixed, unbiased order
    )
    if max_authors:
        authors = authors[:max_authors]
    cases = []
    for a in authors:
        profile = [corpus.ids[i] for i in before[a]]
        days: dict[str, list[int]] = defaultdict(list)
        for i in after[a]:
            days[corpus.listed[i]].append(i)
        for day, rows in sorted(days.items()):
            cases.append(
                Case(
                    profile,
                    [corpus.ids[i] for i in by_day[day]],
                    [corpus.ids[i] for i in rows],
                    a,
                    day,
                    cutoff,
                )
            )
    return cases


def read_cases(path: Path | str, corpus: Corpus) -> list[Case]:
    """Cases from a JSON-lines file: ``{"profile": [...], "candidates": [...], "relevant":
    [...]}`` with arXiv ids that must be in the corpus."""
    path = Path(path)
    cases = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read the cases ({e})") from e
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
            case = Case(
                [str(x) for x in row["profile"]],
                [str(x) for x in row["candidates"]],
                [str(x) for x in row["relevant"]],
                row.get("author"),
                row.get("day"),
                row.get("cutoff"),
            )
        except (ValueError, KeyError, TypeError) as e:
            problem = f"expected profile, candidates and relevant lists ({e})"
            raise RecordError(where, problem) from e
        missing = [x for x in case.profile + case.candidates if x not in corpus.row]
        if missing:
            raise RecordError(where, f"{len(missing)} id(s) not in the corpus, e.g. {missing[0]}")
        if not case.profile or not set(case.relevant) & set(case.candidates):
            raise RecordError(where, "needs a profile and a relevant paper among the candidates")
        cases.append(case)
    return cases


def embed_cached(
    embedder: Embedder, texts: Sequence[str], cache_dir: Path, progress: Callable[[str], None]
) -> np.ndarray:
    """Vectors for ``texts``, from (and added to) a per-model cache keyed by text hash."""
    path = cache_dir / f"vectors-{embedder.name}.npz"
    known: dict[bytes, np.ndarray] = {}
    if path.exists():
        with np.load(path) as z:
            known = dict(zip(map(bytes, z["hashes"]), z["vectors"], strict=True))
    hashes = [content_hash(t) for t in texts]
    todo = sorted({h: t for h, t in zip(hashes, texts, strict=True) if h not in known}.items())
    if todo:
        progress(f"embedding {len(todo)} papers with {embedder.name} (cached after)")
        vectors = embedder.embed([t for _, t in todo])
        known.update(zip((h for h, _ in todo), vectors, strict=True))
        cache_dir.mkdir(parents=True, exist_ok=True)
        keys = list(known)
        with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".npz", delete=False) as tmp:
            np.savez(
                tmp,
                hashes=np.array([np.frombuffer(k, dtype=np.uint8) for k in keys]),
                vectors=np.stack([known[k] for k in keys]).astype(np.float32),
            )
        os.replace(tmp.name, path)
    return np.stack([known[h] for h in hashes]).astype(np.float32)


#: The rankers a run compares: the product and the baselines (:mod:`.baselines`).
RANKERS = ("paperfeed", *BASELINES)


def product_model(corpus: Corpus, cutoff: str) -> LexicalModel:
    """The lexical model a store holding the corpus's papers listed before ``cutoff`` fits
    (:meth:`LexicalModel.fit <paperfeed.recommend.lexical.LexicalModel.fit>`), papers as
    :meth:`Corpus.paper` gives them; later papers are transformed with it, as a store's
    new papers are."""
    rows = [i for i, day in enumerate(corpus.listed) if day < cutoff]
    inputs = [
        (
            i + 1,
            corpus.titles[i] or None,
            corpus.abstracts[i] or None,
            corpus.comments[i] or None,
            corpus.categories[i],
        )
        for i in rows
    ]
    return LexicalModel.fit([inputs])


def evaluate(ranked: Iterable[tuple[Case, dict[str, list[str]]]]) -> dict[str, Any]:
    """``{"rankers": {name: {"mrr", "recall@10", "ndcg@10"}}, "cases": n}`` of the cases as
    :func:`rankings` ranks them, macro-averaged over the cases."""
    scores: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    n = 0
    for case, orders in ranked:
        n += 1
        relevant = set(case.relevant)
        for name, order in orders.items():
            hits = [x in relevant for x in order]
            scores[name].append(
                (
                    reciprocal_rank(hits),
                    sum(hits[:10]) / len(relevant),
                    ndcg([float(h) for h in hits], 10),
                )
            )
    return {
        "rankers": {
            name: {
                "mrr": float(np.mean([s[0] for s in rows])),
                "recall@10": float(np.mean([s[1] for s in rows])),
                "ndcg@10": float(np.mean([s[2] for s in rows])),
            }
            for name, rows in scores.items()
        },
        "cases": n,
    }


def rankings(
    cases: Iterable[Prepared], weights: dict[str, float] | None = None
) -> Iterator[tuple[Case, dict[str, list[str]]]]:
    """Each case with every ranker's order of its candidates (arXiv ids, best first).

    ``paperfeed`` is the product's own ranking (:func:`paperfeed.recommend.rank.rank`) with
    ``weights`` (default: the shipped ones) over the case as :func:`prepared` gives it."""
    for p in cases:
        ranked = p.baselines
        if p.listing is not None and p.state is not None and p.lexical is not None:
            everything = list(range(len(p.case.candidates)))
            recs = rank(p.listing, p.state, p.lexical, everything, limit=None, weights=weights)
            ranked["paperfeed"] = [r.paper.ref for r in recs]
        yield p.case, ranked


@dataclass
class Prepared:
    """A case as the product sees it (its day's listing, the profile's state and the lexical
    model they share; None when ``paperfeed`` is not asked for) and the baselines' orders."""

    case: Case
    listing: Listing | None
    state: ProfileState | None
    lexical: LexicalModel | None
    baselines: dict[str, list[str]]


def prepared(
    corpus: Corpus,
    cases: list[Case],
    embedder: Embedder,
    rankers: Sequence[str] = RANKERS,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
    hide_authors: bool = False,
) -> Iterator[Prepared]:
    """Each case, grouped by day, with every baseline's order of its candidates and, for
    ``paperfeed`` among the ``rankers``, the listing and profile state a store holding the
    corpus builds: its lexical model fitted on the papers listed before the case's cutoff
    (:func:`product_model`), the day's papers transformed with it, the profile's model fitted
    on its papers, their embeddings as the store keeps them. ``hide_authors`` gives no
    author lists (no co-author evidence), as the baselines see none."""
    unknown = [r for r in rankers if r not in RANKERS]
    if unknown:
        raise InputError(f"unknown ranker(s) {', '.join(unknown)}: use {', '.join(RANKERS)}")
    if not cases:
        raise InputError("no cases to evaluate")
    models = {}
    if "paperfeed" in rankers:
        for cutoff in sorted({_cutoff(corpus, c) for c in cases}):
            progress(f"the lexical model of the store on {cutoff}")
            models[cutoff] = product_model(corpus, cutoff)
    needed = {corpus.row[x] for c in cases for x in c.profile + c.candidates}
    for lexical in models.values():
        needed.update(i - 1 for i in mean_sample(lexical))
    rows = sorted(needed)
    vectors = np.zeros((len(corpus.ids), embedder.dim), dtype=np.float32)
    vectors[rows] = embed_cached(
        embedder, [corpus.texts[i] for i in rows], cache_dir or _cache(), progress
    )
    kept = as_stored(vectors)  # the product reads the vectors its store keeps
    means = {}  # each store's mean embedding, as the product takes it from its sample
    for cutoff, lexical in models.items():
        sample = [i - 1 for i in mean_sample(lexical)]
        means[cutoff] = store_mean(kept[sample], len(sample))
    baselines = _Baselines(corpus, vectors, [r for r in rankers if r in BASELINES], progress)
    progress(f"ranking {len(cases)} cases")
    states: dict[Any, ProfileState] = {}
    listing: tuple[Any, Listing] | None = None
    # by day, so each day's listing is built once for all the profiles that rank it
    for case in sorted(cases, key=lambda c: (_cutoff(corpus, c), c.day or "", c.author or "")):
        cutoff = _cutoff(corpus, case)
        orders = {
            name: [case.candidates[i] for i in np.argsort(-s, kind="stable")]
            for name, s in baselines.scores(case, cutoff)
        }
        if "paperfeed" not in rankers:
            yield Prepared(case, None, None, None, orders)
            continue
        lexical = models[cutoff]
        day = (cutoff, tuple(case.candidates))
        if listing is None or listing[0] != day:
            papers = [corpus.paper(corpus.row[x], hide_authors) for x in case.candidates]
            at = [p.id - 1 for p in papers]
            listing = (day, Listing.of(papers, kept[at], lexical, means[cutoff]))
        key = (tuple(case.profile), cutoff)
        if key not in states:
            mine = [corpus.paper(corpus.row[x], hide_authors) for x in case.profile]
            states[key] = profile_state(
                lexical,
                mine,
                kept[[p.id - 1 for p in mine]],
                [],
                kept[:0],
                coauthor_counts(signers(mine), len(mine)),
            )
        yield Prepared(case, listing[1], states[key], lexical, orders)


def signers(papers: list[Paper]) -> dict[str, int]:
    """How many of ``papers`` each author's name key signed, as a store counts them
    (:meth:`~paperfeed.store.Store.signers`)."""
    return dict(Counter(name_key(a.name) for p in papers for a in p.authors))


def _cutoff(corpus: Corpus, case: Case) -> str:
    """The day a case's profile ends: given, or the first day of its candidates."""
    return case.cutoff or min(corpus.listed[corpus.row[x]] for x in case.candidates)


class _Baselines:
    """The baselines' inputs: asl's tf-idf fitted on the whole corpus (as arxiv-sanity-lite
    refits on every paper it holds) with every earlier paper as a negative, the raw
    embeddings for the others."""

    def __init__(
        self,
        corpus: Corpus,
        vectors: np.ndarray,
        names: list[str],
        progress: Callable[[str], None],
    ) -> None:
        self.corpus, self.names = corpus, names
        self.tfidf = None
        if {"asl", "tfidf", "tfidf-nearest"} & set(names):
            progress(f"tf-idf over {len(corpus.ids)} papers")
            _, self.tfidf = fit_tfidf(corpus.texts)
        self.papers = Papers(self.tfidf, None, vectors, corpus.categories, corpus.listed)
        self.listed = np.array(corpus.listed)
        self.models: dict[Any, Any] = {}

    def scores(self, case: Case, cutoff: str) -> Iterator[tuple[str, np.ndarray]]:
        if not self.names:
            return
        row = self.corpus.row
        profile = [row[x] for x in case.profile]
        key = (tuple(case.profile), cutoff)
        background = None
        if self.tfidf is not None and "asl" in self.names and ("asl", key) not in self.models:
            earlier = np.setdiff1d(np.flatnonzero(self.listed < cutoff), profile)
            background = self.tfidf[earlier]
        ctx = Context(background, self.models, key)
        mine = self.papers.take(profile)
        candidates = self.papers.take([row[x] for x in case.candidates])
        for name in self.names:
            yield name, BASELINES[name](mine, candidates, ctx)


def _cache() -> Path:
    from paperfeed.embed.model import default_cache_dir

    return default_cache_dir()
