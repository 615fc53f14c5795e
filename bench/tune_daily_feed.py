"""Fit the weights of the paperfeed ranker on the daily-feed benchmark's EVEN-SHA-1 authors.

Held-out rule: only authors whose name's SHA-1 is even are ever loaded here; the odd half is
for verification only (``paperfeed eval daily-feed --parity odd``). The even authors are split
again in two halves: weights are fit by coordinate ascent on MRR over half A, and half B shows
whether they carry over. Prints each feature alone, then the fitted weights.

With ``--train-before DATE`` the weights are fit instead on cases wholly before the
benchmark's cutoff (profiles before DATE, candidates the even authors' later days up to the
cutoff), so neither the benchmark's days nor its authors' later papers are seen; the fitted
and the shipped weights (``rank.WEIGHTS``) are then both scored on the benchmark's cases.

The features are the product's own evidence (:func:`paperfeed.recommend.rank.score`) on each
case as the daily-feed benchmark prepares it; the ascent ranks by the fused score alone (no
co-author bonus, no diversity), a proxy for the full ranking: check a choice with
``paperfeed eval daily-feed``.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np

GRID = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0, 4.0)  # crowding counts against


def _features(
    corpus_path: Path, authors: int, cache: Path, embedder: str, train_before: str | None = None
) -> list[tuple[str, dict, np.ndarray]]:
    from paperfeed.embed import load_embedder
    from paperfeed.evaluate import daily_feed as df
    from paperfeed.recommend.rank import features, score

    corpus = df.load_corpus(corpus_path)
    if train_before:
        cases = df.build_cases(
            corpus, "even", cutoff=train_before, max_authors=authors, until=df.CUTOFF
        )
    else:
        cases = df.build_cases(corpus, "even", max_authors=authors)
    if any(df.name_parity(c.author or "") != "even" for c in cases):
        raise SystemExit("refusing: a held-out (odd) author reached the tuning set")
    rows = []
    say = lambda m: print(m, flush=True)  # noqa: E731
    model = load_embedder({"embedder": embedder})
    for p in df.prepared(corpus, cases, model, ("paperfeed",), cache, say):
        assert p.listing is not None and p.state is not None and p.lexical is not None
        everything = list(range(len(p.case.candidates)))
        f = features(score(p.listing, p.state, p.lexical, everything).evidence)
        relevant = set(p.case.relevant)
        rows.append((p.case.author or "", f, np.array([x in relevant for x in p.case.candidates])))
    return rows


def _mrr(rows, weights: dict[str, float], subset: set[str] | None = None) -> float:  # type: ignore[no-untyped-def]
    from paperfeed.evaluate.metrics import reciprocal_rank

    out = []
    for author, f, rel in rows:
        if subset is not None and author not in subset:
            continue
        s = sum(w * f[n] for n, w in weights.items() if w)
        out.append(reciprocal_rank(list(rel[np.argsort(-s, kind="stable")])))
    return float(np.mean(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    corpus = Path("../shared/data/arxiv-cs-daily/papers.jsonl.gz")
    parser.add_argument("--corpus", type=Path, default=corpus)
    parser.add_argument("--authors", type=int, default=300)
    parser.add_argument("--embedder", default="minilm", help="minilm (the default) or static")
    parser.add_argument("--features", type=Path, help="[tune-daily-feed-EMBEDDER.pkl]")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "paperfeed")
    parser.add_argument("--train-before", metavar="DATE", help="fit on cases before the cutoff")
    parser.add_argument("--train-authors", type=int, default=1000)
    args = parser.parse_args()
    args.features = args.features or Path(f"tune-daily-feed-{args.embedder}.pkl")
    rows = _cached(
        args.features, lambda: _features(args.corpus, args.authors, args.cache, args.embedder)
    )
    if args.train_before:
        _fit_before(args, rows)
        return
    names = list(rows[0][1])
    print(f"{len(rows)} cases, {len({r[0] for r in rows})} even authors")
    for n in names:
        print(f"  {n:<14} alone  MRR {_mrr(rows, {n: 1.0}):.4f}")
    authors = sorted({r[0] for r in rows})
    half_a, half_b = set(authors[::2]), set(authors[1::2])
    weights = {n: 1.0 if n == "svm" else 0.0 for n in names}
    for sweep in range(3):
        for n in names:
            weights[n] = max(GRID, key=lambda g: _mrr(rows, {**weights, n: g}, half_a))
        a, b = _mrr(rows, weights, half_a), _mrr(rows, weights, half_b)
        used = {k: v for k, v in weights.items() if v}
        print(f"sweep {sweep}: A {a:.4f}  B {b:.4f}  all {_mrr(rows, weights):.4f}  {used}")


def _cached(path: Path, compute):  # type: ignore[no-untyped-def]
    if path.exists():
        return pickle.loads(path.read_bytes())
    rows = compute()
    path.write_bytes(pickle.dumps(rows))
    return rows


def _fit_before(args: argparse.Namespace, benchmark) -> None:  # type: ignore[no-untyped-def]
    from paperfeed.recommend.rank import WEIGHTS

    path = args.features.with_name(f"{args.features.stem}-before-{args.train_before}.pkl")
    train = _cached(
        path,
        lambda: _features(
            args.corpus, args.train_authors, args.cache, args.embedder, args.train_before
        ),
    )
    print(
        f"training: {len(train)} cases before {args.train_before}, "
        f"{len({r[0] for r in train})} even authors; "
        f"benchmark: {len(benchmark)} cases, {len({r[0] for r in benchmark})} even authors"
    )
    weights = {n: 1.0 if n == "svm" else 0.0 for n in train[0][1]}  # as the main fit starts
    for sweep in range(3):
        for n in weights:
            weights[n] = max(GRID, key=lambda g: _mrr(train, {**weights, n: g}))
        used = {k: v for k, v in weights.items() if v}
        print(f"sweep {sweep}: training {_mrr(train, weights):.4f}  {used}")
    print(
        f"shipped weights: training {_mrr(train, WEIGHTS):.4f}  "
        f"benchmark {_mrr(benchmark, WEIGHTS):.4f}"
    )
    print(
        f"fitted weights:  training {_mrr(train, weights):.4f}  "
        f"benchmark {_mrr(benchmark, weights):.4f}"
    )


if __name__ == "__main__":
    main()
