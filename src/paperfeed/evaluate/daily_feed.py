"""The daily-feed benchmark: would this researcher want this paper?

A case is an author on one listing day: the profile is their papers listed before a cutoff,
the candidates are that whole day's listing (authors hidden from every ranker), and the
relevant papers are their own papers of the day. Rankers are compared on the same cases in
one run: MRR, recall@10 and nDCG@10, macro-averaged over cases.

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
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.embed.model import Embedder, content_hash, paper_text
from paperfeed.errors import InputError, RecordError
from paperfeed.evaluate.metrics import ndcg, reciprocal_rank
from paperfeed.ingest.normalize import clean_text
from paperfeed.recommend.lexical import fit_comments, fit_terms, fit_tfidf, terms_text
from paperfeed.recommend.rankers import (
    RANKERS,
    Context,
    Papers,
    category_prior,
    cosines,
    crowding,
    term_shares,
)
from paperfeed.recommend.style import style_matrix, style_prior

CUTOFF = "2026-01-01"
#: Background papers sampled as negatives for paperfeed's per-profile model.
NEGATIVES = 20_000


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


def prepared_cases(
    corpus: Corpus,
    cases: list[Case],
    embedder: Embedder,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> Iterator[tuple[Case, Papers, Papers, Context]]:
    """Each case as rankers see it: ``(case, profile, candidates, context)``. Tf-idf spaces are
    fitted on the whole corpus; models fit for a profile are reused across its days."""
    progress(f"tf-idf over {len(corpus.ids)} papers")
    _, tfidf = fit_tfidf(corpus.texts)
    comments = corpus.comments or [""] * len(corpus.ids)
    _, terms = fit_terms([terms_text(t, c) for t, c in zip(corpus.texts, comments, strict=True)])
    _, comment_rows = fit_comments(comments)
    needed = sorted({corpus.row[x] for c in cases for x in c.profile + c.candidates})
    vectors = np.zeros((len(corpus.ids), embedder.dim), dtype=np.float32)
    vectors[needed] = embed_cached(
        embedder, [corpus.texts[i] for i in needed], cache_dir or _cache(), progress
    )
    progress(f"style of {len(corpus.ids)} papers")
    styles = style_matrix(
        zip(corpus.titles, corpus.abstracts, comments, corpus.categories, strict=True)
    )
    papers = Papers(
        tfidf, terms, vectors, corpus.categories, corpus.listed, comment_rows, style=styles
    )
    mean_vector = vectors[needed].mean(axis=0)
    listed = np.array(corpus.listed)
    shares = term_shares(terms)
    models: dict[Any, Any] = {}
    drawn: set[Any] = set()  # profiles whose background is drawn
    priors: dict[str, dict[str, float]] = {}
    style_priors: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(0)
    crowd = _crowding(corpus, cases, terms, listed, progress)
    progress(f"ranking {len(cases)} cases")
    for case in cases:
        cand_rows = [corpus.row[x] for x in case.candidates]
        prof_rows = [corpus.row[x] for x in case.profile]
        cutoff = _cutoff(corpus, case)
        key = (tuple(case.profile), cutoff)
        background = background_terms = None
        # Drawn once a profile, on its first case, where its models are fit (and kept for
        # its other days): the same sample whichever rankers run.
        if key not in drawn:
            drawn.add(key)
            rows = np.setdiff1d(np.flatnonzero(listed < cutoff), prof_rows)
            background = tfidf[rows]
            sample = rng.choice(rows, min(len(rows), NEGATIVES), replace=False)
            background_terms = terms[np.sort(sample)]
        if cutoff not in priors:
            earlier = np.flatnonzero(listed < cutoff)
            priors[cutoff] = category_prior(corpus.categories[i] for i in earlier)
            style_priors[cutoff] = style_prior(styles[earlier])
        ctx = Context(
            mean_vector,
            background,
            background_terms,
            models,
            key,
            priors[cutoff],
            shares,
            style_priors[cutoff],
        )
        candidates = papers.take(cand_rows)
        candidates.crowding = crowd[cutoff][cand_rows]
        yield case, papers.take(prof_rows), candidates, ctx


def _cutoff(corpus: Corpus, case: Case) -> str:
    """The day a case's profile ends: given, or the first day of its candidates."""
    return case.cutoff or min(corpus.listed[corpus.row[x]] for x in case.candidates)


def _crowding(
    corpus: Corpus,
    cases: list[Case],
    terms: Any,
    listed: np.ndarray,
    progress: Callable[[str], None],
) -> dict[str, np.ndarray]:
    """For each cutoff, every candidate's :func:`~paperfeed.recommend.rankers.crowding`
    among a sample of the papers listed before it (as the feed takes it among its lexical
    model's background sample), by corpus row (zeros for rows no case ranks)."""
    wanted: dict[str, set[int]] = {}
    for case in cases:
        wanted.setdefault(_cutoff(corpus, case), set()).update(
            corpus.row[x] for x in case.candidates
        )
    progress(f"crowding of {sum(map(len, wanted.values()))} candidates")
    rng = np.random.default_rng(1)
    out = {}
    for cutoff, rows in wanted.items():
        before = np.flatnonzero(listed < cutoff)
        sample = terms[np.sort(rng.choice(before, min(len(before), NEGATIVES), replace=False))]
        at = np.array(sorted(rows), dtype=np.int64)
        values = np.zeros(len(corpus.ids))
        for start in range(0, len(at), 2000):
            chunk = terms[at[start : start + 2000]]
            blocks = (cosines(chunk, sample[s : s + 5000]) for s in range(0, sample.shape[0], 5000))
            values[at[start : start + 2000]] = crowding(blocks, chunk.shape[0])
        out[cutoff] = values
    return out


def evaluate(
    corpus: Corpus,
    cases: list[Case],
    embedder: Embedder,
    rankers: Sequence[str] = tuple(RANKERS),
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """``{"rankers": {name: {"mrr", "recall@10", "ndcg@10"}}, "cases": n}``."""
    unknown = [r for r in rankers if r not in RANKERS]
    if unknown:
        raise InputError(f"unknown ranker(s) {', '.join(unknown)}: use {', '.join(RANKERS)}")
    if not cases:
        raise InputError("no cases to evaluate")
    scores: dict[str, list[tuple[float, float, float]]] = {r: [] for r in rankers}
    for case, profile, candidates, ctx in prepared_cases(
        corpus, cases, embedder, cache_dir, progress
    ):
        relevant = set(case.relevant)
        for name in rankers:
            s = RANKERS[name](profile, candidates, ctx)
            order = np.argsort(-s, kind="stable")
            hits = [case.candidates[i] in relevant for i in order]
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
        "cases": len(cases),
    }


def _cache() -> Path:
    from paperfeed.embed.model import default_cache_dir

    return default_cache_dir()
