"""``paperfeed assign``: reviewers for a conference's submissions."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click

from paperfeed.cli.context import Context, print_json


@click.command()
@click.argument("submissions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--reviewers",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="CSV: name, and optional email, institution, max_load, conflicts, bids (ID:VALUE).",
)
@click.option(
    "--format",
    "fmt",
    help="The submissions file's format [detected; a .csv: title, and optional id, abstract, "
    "authors and emails, lists separated by ';'].",
)
@click.option(
    "--k", type=click.IntRange(1, 20), default=3, show_default=True, help="Reviewers a paper."
)
@click.option(
    "--max-load",
    type=click.IntRange(1, 1000),
    default=6,
    show_default=True,
    help="Papers a reviewer at most (a reviewer's max_load overrides it).",
)
@click.option(
    "--fair", is_flag=True, help="Raise the worst-off paper's affinity first, then the total."
)
@click.option(
    "--conflict-years",
    type=click.IntRange(0, 50),
    default=3,
    show_default=True,
    help="Co-authorship this recent is a conflict.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the assignment as JSON edges.")
@click.option(
    "--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write it as CSV."
)
@click.option(
    "--openreview",
    "openreview_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the assignment as OpenReview edges (JSON lines: head, tail, weight, label).",
)
@click.option(
    "--invitation",
    default="Venue/-/Proposed_Assignment",
    show_default=True,
    help="The edges' invitation, for --openreview.",
)
@click.pass_obj
def assign(
    obj: Context,
    submissions: Path,
    reviewers: Path,
    fmt: str | None,
    k: int,
    max_load: int,
    fair: bool,
    conflict_years: int,
    as_json: bool,
    csv_path: Path | None,
    openreview_path: Path | None,
    invitation: str,
) -> None:
    """Assign each submission k reviewers by expertise, never a conflicted one.

    Submissions (any format paperfeed reads) are not stored; reviewers' expertise is their
    papers in the store. Exits 1 with the papers and reviewers that block it when no
    assignment exists."""
    from paperfeed.match.venue import match, read_reviewers, read_submissions
    from paperfeed.recommend.lexical import LexicalModel

    papers, ids, emails = read_submissions(submissions.read_bytes(), str(submissions), fmt)
    pool = read_reviewers(reviewers)
    lexical = LexicalModel.for_store(obj.store)
    result = match(
        obj.store,
        obj.embedder,
        lexical,
        papers,
        ids,
        pool,
        k,
        max_load,
        fair,
        conflict_years,
        emails=emails,
    )
    found = result.to_dict()
    for problem in found["problems"]:
        click.echo(f"Cannot assign: {problem}", err=True)
    if found["problems"]:
        sys.exit(1)
    edges, summary = found["edges"], found["summary"]
    if openreview_path is not None:
        with openreview_path.open("w") as out:
            for e in edges:
                edge = {
                    "invitation": invitation,
                    "head": e["submission"],
                    "tail": e["reviewer"],
                    "weight": e["affinity"],
                    "label": "paperfeed",
                }
                out.write(json.dumps(edge) + "\n")
    if csv_path is not None:
        with csv_path.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(edges[0]) if edges else ["submission"])
            writer.writeheader()
            writer.writerows(edges)
    if as_json:
        print_json({k: v for k, v in found.items() if k != "problems"})
        return
    for e in edges:
        click.echo(
            f"{e['submission']!s:14} {e['reviewer']!s:28.28} {e['affinity']:7.3f}  {e['why']!s:.80}"
        )
    click.echo(
        f"{summary['submissions']} submissions, {summary['reviewers']} reviewers "
        f"({len(summary['without_papers'])} without papers in the store), "
        f"{summary['conflicts']} conflicts left out; mean affinity a paper "
        f"{summary['mean_affinity']:.2f}, least {summary['least_affinity']:.2f}"
    )


COMMANDS = [assign]
