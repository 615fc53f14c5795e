"""``paperfeed eval``: quality on the shared benchmarks, methods side by side."""

from __future__ import annotations

from pathlib import Path

import click

from paperfeed.cli import Context
from paperfeed.cli.papers import _print_json
from paperfeed.evaluate import csfcube


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
        _print_json({"model": obj.embedder.name, "results": results})
        return
    click.echo(f"CSFCube, model {obj.embedder.name}")
    click.echo(f"{'facet':<11}{'method':<14}{'MAP':>8}{'NDCG@20':>9}{'queries':>9}")
    for facet, methods in results.items():
        for method, m in methods.items():
            click.echo(
                f"{facet:<11}{method:<14}{m['map']:>8.4f}{m['ndcg@20']:>9.4f}{m['queries']:>9}"
            )


COMMANDS = [evaluate]
