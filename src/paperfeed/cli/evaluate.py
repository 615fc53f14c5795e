"""``paperfeed eval``: quality on the shared benchmarks, methods side by side."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click
import numpy as np
import orjson

from paperfeed.cli.context import Context, print_json
from paperfeed.embed.model import default_cache_dir
from paperfeed.evaluate import authors, csfcube, daily_feed, reviewer_gold
from paperfeed.recommend.lexical import terms_text

SHARED_CORPUS = Path("../shared/data/arxiv-cs-daily/papers.jsonl.gz")
corpus_option = click.option(
    "--corpus",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=SHARED_CORPUS,
    show_default=True,
    help="arXiv corpus (JSON lines with listing_date).",
)


def _cache_dir(obj: Context) -> Path:
    """Where evaluations keep the vectors they embed: the configured cache folder."""
    return Path(obj.settings["cache_dir"]) if obj.settings.get("cache_dir") else default_cache_dir()


@click.group(name="eval")
def evaluate() -> None:
    """Measure quality on public benchmarks."""


@evaluate.command(name="csfcube")
@click.argument(
    "root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("../shared/data/csfcube"),
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def eval_csfcube(obj: Context, root: Path, as_json: bool) -> None:
    """Similar papers on CSFCube: MAP and NDCG@20 per facet for BM25, semantic and hybrid."""
    results = csfcube.evaluate(
        root, obj.embedder, progress=None if as_json else lambda m: click.echo(m, err=True)
    )
    if as_json:
        print_json({"model": obj.embedder.name, "results": results})
        return
    click.echo(f"CSFCube, model {obj.embedder.name}")
    click.echo(f"{'facet':<11}{'method':<14}{'MAP':>8}{'NDCG@20':>9}{'queries':>9}")
    for facet, methods in results.items():
        for method, m in methods.items():
            click.echo(
                f"{facet:<11}{method:<14}{m['map']:>8.4f}{m['ndcg@20']:>9.4f}{m['queries']:>9}"
            )


@evaluate.command(name="daily-feed")
@corpus_option
@click.option(
    "--cases",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Cases file (JSON lines: profile, candidates, relevant); default: build the split.",
)
@click.option(
    "--authors",
    type=click.IntRange(0),
    default=150,
    show_default=True,
    help="Authors sampled for the built split (0: all).",
)
@click.option(
    "--parity",
    type=click.Choice(["even", "odd"]),
    default="even",
    show_default=True,
    help="Authors by name SHA-1 parity: even to tune, odd held out.",
)
@click.option(
    "--rankers",
    default=",".join(daily_feed.RANKERS),
    show_default=True,
    help="paperfeed (the shipped ranking) and baselines to compare.",
)
@click.option(
    "--hide-authors", is_flag=True, help="Rank without author lists (no co-author evidence)."
)
@click.option("--write-cases", type=click.Path(path_type=Path), help="Save the built cases.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def eval_daily_feed(
    obj: Context,
    corpus: Path,
    cases: Path | None,
    authors: int,
    parity: str,
    rankers: str,
    hide_authors: bool,
    write_cases: Path | None,
    as_json: bool,
) -> None:
    """Rank each day's listing for authors' past papers; MRR, recall@10, nDCG@10 per ranker."""
    say = (lambda m: None) if as_json else (lambda m: click.echo(m, err=True))
    data = daily_feed.load_corpus(corpus)
    if cases is not None:
        chosen = daily_feed.read_cases(cases, data)
    else:
        chosen = daily_feed.build_cases(data, parity, max_authors=authors or None)
    if write_cases is not None:
        with write_cases.open("w") as f:
            for c in chosen:
                f.write(orjson.dumps(asdict(c)).decode() + "\n")
    names = tuple(r.strip() for r in rankers.split(",") if r.strip())
    result = daily_feed.evaluate(
        daily_feed.rankings(
            daily_feed.prepared(
                data, chosen, obj.embedder, names, _cache_dir(obj), say, hide_authors=hide_authors
            )
        )
    )
    if as_json:
        print_json(result)
        return
    click.echo(f"daily feed: {result['cases']} cases, model {obj.embedder.name}")
    click.echo(f"{'ranker':<12}{'MRR':>8}{'R@10':>8}{'nDCG@10':>9}")
    for name, m in result["rankers"].items():
        click.echo(f"{name:<12}{m['mrr']:>8.4f}{m['recall@10']:>8.4f}{m['ndcg@10']:>9.4f}")


@evaluate.command(name="reviewer-gold")
@click.argument(
    "root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("../shared/data/reviewer-gold"),
)
@click.option(
    "--corpus",
    type=click.Path(dir_okay=False, path_type=Path),
    default=SHARED_CORPUS,
    show_default=True,
    help="Background papers whose document frequencies weigh the rare terms.",
)
@click.option(
    "--no-corpus", is_flag=True, help="Fit rare terms on each set's papers alone, not the corpus."
)
@click.option("--set", "sets", multiple=True, help="Evaluation set, e.g. d_20_1 (default: all).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def eval_reviewer_gold(
    obj: Context, root: Path, corpus: Path, no_corpus: bool, sets: tuple[str, ...], as_json: bool
) -> None:
    """Reviewer expertise: loss and easy/hard triple accuracy, shipped baselines beside ours.
    paperfeed weighs rare terms over the corpus and the sets' papers, as a store would."""
    background: list[str] = []
    if not no_corpus:
        if not corpus.is_file():
            raise click.UsageError(f"no corpus at {corpus}: pass --corpus FILE or --no-corpus")
        data = daily_feed.load_corpus(corpus)
        background = [terms_text(t, c) for t, c in zip(data.texts, data.comments, strict=True)]
    results = reviewer_gold.evaluate(root, obj.embedder, sets or None, background)
    if as_json:
        print_json({"model": obj.embedder.name, "methods": results})
        return
    click.echo(f"{'method':<14}{'loss':>8}{'easy':>8}{'hard':>8}{'sets':>6}")
    for method, m in results.items():
        click.echo(f"{method:<14}{m['loss']:>8.4f}{m['easy']:>8.4f}{m['hard']:>8.4f}{m['sets']:>6}")


COMMANDS = [evaluate]


@evaluate.command(name="authors")
@corpus_option
@click.option("--parity", type=click.Choice(["even", "odd"]), default="even", show_default=True)
@click.option("--pools", type=click.IntRange(1), default=150, show_default=True)
@click.option("--size", type=click.IntRange(2), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def eval_authors(
    obj: Context, corpus: Path, parity: str, pools: int, size: int, as_json: bool
) -> None:
    """Telling people with one name apart: real authors pooled under one name (B-cubed)."""
    data = daily_feed.load_corpus(corpus)

    def vectors(rows: list[int]) -> np.ndarray:
        say = (lambda m: None) if as_json else (lambda m: click.echo(m, err=True))
        return daily_feed.embed_cached(
            obj.embedder, [data.texts[r] for r in rows], _cache_dir(obj), say
        )

    result = authors.evaluate(data, parity, pools, size, vectors=vectors)
    if as_json:
        print_json(result)
        return
    click.echo(f"{pools} pools of {size} {parity}-SHA-1 authors under one name each")
    click.echo(f"{'method':<16}{'precision':>10}{'recall':>8}{'F1':>8}{'one author: recall':>20}")
    for name, m in result["methods"].items():
        click.echo(
            f"{name:<16}{m['precision']:>10.4f}{m['recall']:>8.4f}{m['f1']:>8.4f}"
            f"{m['single_author_recall']:>20.4f}"
        )
