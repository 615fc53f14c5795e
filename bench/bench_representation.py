"""The learned representations beside MiniLM and tf-idf, every row measured in one run.

The models: the bundled MiniLM (``minilm``), the static model (``static``,
``bench/train_embedding.py``) and, given ``--tuned FILE``, a MiniLM fine-tuned on authorship
by ``bench/train_minilm.py``. Prints, for each, on the product's own code paths:

- daily-feed MRR on the first ``--authors`` even authors (``paperfeed eval daily-feed``'s
  cases): the embedding alone (``centroid``: cosine to the profile's mean; ``nearest``: to
  its closest paper; tf-idf the same two on asl's tf-idf rows) and the shipped ranker with
  that model's vectors, beside asl;
- reviewer-gold loss and hard accuracy (``paperfeed eval reviewer-gold``);
- CSFCube MAP of the semantic and hybrid similar-papers rankings (``paperfeed eval csfcube``);
- papers embedded per second, and the time a new store takes from its first ingest until
  every paper has a vector (what ``make demo`` waits for before semantic search covers the
  corpus).

The daily-feed papers' vectors are cached under ``~/.cache/paperfeed`` by model, as
``paperfeed eval`` caches them: the first run embeds ~41,000 papers with each MiniLM (~8 min
each).

Numbers only: nothing passes or fails. Even authors are the ones the learned models were
trained and chosen on; ``--parity odd`` measures the held-out half.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

SHARED = Path("../shared")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", type=Path, default=SHARED / "data/arxiv-cs-daily/papers.jsonl.gz"
    )
    parser.add_argument("--reviewer-gold", type=Path, default=SHARED / "data/reviewer-gold")
    parser.add_argument("--csfcube", type=Path, default=SHARED / "data/csfcube")
    parser.add_argument("--authors", type=int, default=200)
    parser.add_argument("--parity", choices=("even", "odd"), default="even")
    parser.add_argument("--speed-n", type=int, default=5000, help="abstracts timed")
    parser.add_argument("--tuned", type=Path, help="a MiniLM from bench/train_minilm.py")
    parser.add_argument("--skip-demo", action="store_true", help="no ingest + embed timing")
    args = parser.parse_args()

    from paperfeed.embed.model import MiniLM
    from paperfeed.embed.static import StaticModel
    from paperfeed.evaluate import csfcube, daily_feed, reviewer_gold
    from paperfeed.recommend.lexical import terms_text

    start = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - start:6.0f} s] {message}", flush=True)

    models = {"MiniLM": MiniLM(), "static": StaticModel()}
    if args.tuned:
        models["tuned"] = MiniLM(model_file=args.tuned)
    corpus = daily_feed.load_corpus(args.corpus)
    cases = daily_feed.build_cases(corpus, args.parity, max_authors=args.authors)
    say(f"{len(cases)} daily-feed cases of {args.authors} {args.parity} authors")
    rows: dict[str, dict[str, float]] = {}
    for n, (label, model) in enumerate(models.items()):
        rankers = ("paperfeed", "centroid", "nearest")
        if n == 0:
            rankers += ("asl", "tfidf", "tfidf-nearest")
        prepared = daily_feed.prepared(corpus, cases, model, rankers)
        result = daily_feed.evaluate(daily_feed.rankings(prepared))["rankers"]
        rows.setdefault(label, {}).update(
            {
                "alone": max(result["centroid"]["mrr"], result["nearest"]["mrr"]),
                "centroid": result["centroid"]["mrr"],
                "nearest": result["nearest"]["mrr"],
                "ranker": result["paperfeed"]["mrr"],
            }
        )
        if n == 0:
            asl = result["asl"]["mrr"]
            rows["tf-idf"] = {
                "centroid": result["tfidf"]["mrr"],
                "nearest": result["tfidf-nearest"]["mrr"],
                "alone": max(result["tfidf"]["mrr"], result["tfidf-nearest"]["mrr"]),
            }
        say(f"daily feed with {label}")
    background = [terms_text(t, c) for t, c in zip(corpus.texts, corpus.comments, strict=True)]
    for label, model in models.items():
        gold = reviewer_gold.evaluate(args.reviewer_gold, model, None, background)["paperfeed"]
        rows[label].update({"gold loss": gold["loss"], "gold hard": gold["hard"]})
        cube = csfcube.evaluate(args.csfcube, model, methods=("semantic", "hybrid"))["all"]
        rows[label].update(
            {"csfcube semantic": cube["semantic"]["map"], "csfcube hybrid": cube["hybrid"]["map"]}
        )
        texts = corpus.texts[: args.speed_n]
        model.embed(texts[:64])
        began = time.perf_counter()
        model.embed(texts)
        rows[label]["papers/s"] = len(texts) / (time.perf_counter() - began)
        say(f"reviewer-gold, CSFCube and speed with {label}")
    if not args.skip_demo:
        rows["static"]["demo s"] = _demo(args.corpus, models["static"])
        say("a new store until semantic search covers it, static model")

    print(f"\n{args.parity} authors: {args.authors}, cases: {len(cases)}; asl MRR {asl:.4f}")
    columns = [
        ("daily-feed MRR, embedding alone (best)", "alone", "{:.4f}"),
        ("  centroid", "centroid", "{:.4f}"),
        ("  nearest", "nearest", "{:.4f}"),
        ("daily-feed MRR, shipped ranker", "ranker", "{:.4f}"),
        ("  / asl", "ranker/asl", "{:.3f}"),
        ("reviewer-gold loss", "gold loss", "{:.4f}"),
        ("reviewer-gold hard accuracy", "gold hard", "{:.4f}"),
        ("CSFCube MAP, semantic", "csfcube semantic", "{:.4f}"),
        ("CSFCube MAP, hybrid", "csfcube hybrid", "{:.4f}"),
        ("papers embedded per second", "papers/s", "{:.0f}"),
        ("new store: ingest + embed, s", "demo s", "{:.0f}"),
    ]
    for label in models:
        rows[label]["ranker/asl"] = rows[label]["ranker"] / asl
    names = ["tf-idf", *models]
    print(f"{'measure':<42}" + "".join(f"{n:>12}" for n in names))
    for title, key, form in columns:
        cells = [form.format(rows[n][key]) if key in rows[n] else "" for n in names]
        print(f"{title:<42}" + "".join(f"{c:>12}" for c in cells))


def _demo(corpus: Path, model: object) -> float:
    """Seconds from an empty store to every corpus paper embedded: ingest, then embed."""
    from paperfeed.embed.index import embed_store
    from paperfeed.ingest.pipeline import ingest_path
    from paperfeed.store import open_store

    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        store = open_store(str(Path(folder) / "demo.db"))
        try:
            ingest_path(store, corpus)
            embed_store(store, model)  # type: ignore[arg-type]
        finally:
            store.close()
        return time.perf_counter() - began


if __name__ == "__main__":
    main()
