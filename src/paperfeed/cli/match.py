"""``paperfeed assign``: reviewers for a conference's submissions."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import click

from paperfeed.cli.context import Context, print_json


@click.command()
@click.argument(
    "submissions", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False
)
@click.option(
    "--reviewers",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV: name, and optional email, institution, max_load, conflicts, bids (ID:VALUE), "
    "papers (ids of their papers).",
)
@click.option(
    "--venue",
    "venue_name",
    metavar="NAME",
    help="Assign a kept venue's submissions and pool (`paperfeed venue`), and keep the result.",
)
@click.option(
    "--format",
    "fmt",
    help="The submissions file's format [detected; a .csv: title, and optional id, abstract, "
    "authors and emails, lists separated by ';'].",
)
@click.option("--k", type=click.IntRange(1, 20), help="Reviewers a paper [3, or the venue's].")
@click.option(
    "--max-load",
    type=click.IntRange(1, 1000),
    help="Papers a reviewer at most [6, or the venue's] (a reviewer's max_load overrides it).",
)
@click.option(
    "--fair/--plain",
    default=None,
    help="Raise the weakest reviewer any paper gets first, then the total [plain, or the venue's].",
)
@click.option(
    "--conflict-years",
    type=click.IntRange(0, 50),
    help="Co-authorship this recent is a conflict [3, or the venue's].",
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
    submissions: Path | None,
    reviewers: Path | None,
    venue_name: str | None,
    fmt: str | None,
    k: int | None,
    max_load: int | None,
    fair: bool | None,
    conflict_years: int | None,
    as_json: bool,
    csv_path: Path | None,
    openreview_path: Path | None,
    invitation: str,
) -> None:
    """Assign each submission k reviewers by expertise, never a conflicted one.

    SUBMISSIONS (any format paperfeed reads) with --reviewers are read, not stored; or
    --venue assigns what a venue keeps. Reviewers' expertise is their papers in the store
    (or those they chose on their page). Exits 1 with the papers and reviewers that block
    it when no assignment exists."""
    from paperfeed.match.inputs import read_reviewers, read_submissions
    from paperfeed.match.kept import assign_venue, settings_of
    from paperfeed.match.venue import match
    from paperfeed.recommend.lexical import LexicalModel

    given = {"k": k, "max_load": max_load, "fair": fair, "conflict_years": conflict_years}
    if venue_name is not None:
        if submissions is not None or reviewers is not None:
            raise click.UsageError("--venue assigns what the venue keeps: no files with it")
        venue = obj.store.venue(venue_name)
        lexical = LexicalModel.for_store(obj.store)
        result = assign_venue(obj.store, obj.embedder, lexical, venue, given)
    else:
        if submissions is None or reviewers is None:
            raise click.UsageError("give SUBMISSIONS and --reviewers, or --venue")
        s = settings_of(None, given)
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
            s["k"],
            s["max_load"],
            s["fair"],
            s["conflict_years"],
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


@click.group()
def venue() -> None:
    """Keep a conference's submissions and reviewer pool, and their reviewers' pages."""


@venue.command(name="create")
@click.argument("name")
@click.option("--owner", metavar="USER", help="The account whose web pages show the venue.")
@click.option("--k", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--max-load", type=click.IntRange(1, 1000), default=6, show_default=True)
@click.option("--conflict-years", type=click.IntRange(0, 50), default=3, show_default=True)
@click.option("--fair/--plain", default=False, show_default=True)
@click.pass_obj
def venue_create(
    obj: Context,
    name: str,
    owner: str | None,
    k: int,
    max_load: int,
    conflict_years: int,
    fair: bool,
) -> None:
    """Create a venue NAME with its assignment's settings."""
    from paperfeed.errors import NotFound

    owner_id = None
    if owner is not None:
        user = obj.store.user(owner)
        if user is None:
            raise NotFound(f"no account called {owner!r}")
        owner_id = user.id
    if not name.strip() or "/" in name:
        raise click.BadParameter("a venue's name is not empty and has no '/'", param_hint="NAME")
    settings = {"k": k, "max_load": max_load, "conflict_years": conflict_years, "fair": fair}
    with obj.store.writer() as w:
        w.create_venue(name, owner_id, settings)
    click.echo(f"Created venue {name!r}")


@venue.command(name="import")
@click.argument("name")
@click.argument("submissions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", help="The file's format [detected; a .csv as for `assign`].")
@click.pass_obj
def venue_import(obj: Context, name: str, submissions: Path, fmt: str | None) -> None:
    """Add SUBMISSIONS to the venue NAME (one with an id already there is replaced), each
    embedded once now. They are kept apart from the papers: no feed or search shows them."""
    from paperfeed.match.inputs import read_submissions
    from paperfeed.match.kept import import_submissions

    kept = obj.store.venue(name)
    papers, ids, emails = read_submissions(submissions.read_bytes(), str(submissions), fmt)
    n = import_submissions(obj.store, obj.embedder, kept, papers, ids, emails)
    click.echo(f"{n} submissions in {name!r} from {submissions}")


@venue.command(name="show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def venue_show(obj: Context, name: str, as_json: bool) -> None:
    """The venue's settings, counts and kept assignment."""
    kept = obj.store.venue(name)
    edges = obj.store.venue_assignment(kept.id)
    if as_json:
        print_json(
            {
                "name": kept.name,
                "settings": kept.settings,
                "submissions": kept.submissions,
                "reviewers": kept.reviewers,
                "assignment": [
                    {"submission": s, "reviewer": r, "affinity": a, "why": why}
                    for s, r, a, why in edges
                ],
            }
        )
        return
    click.echo(
        f"{kept.name}: {kept.submissions} submissions, {kept.reviewers} reviewers, "
        f"{kept.assigned} pairs assigned; settings {kept.settings}"
    )
    for s, r, a, why in edges:
        click.echo(f"{s!s:14} {r!s:28.28} {a:7.3f}  {why!s:.80}")


@venue.command(name="links")
@click.argument("name")
@click.option("--base-url", help="The app's public address [the base_url setting].")
@click.pass_obj
def venue_links(obj: Context, name: str, base_url: str | None) -> None:
    """Each reviewer's private link to the page where they see and fix their expertise."""
    base = (base_url or obj.settings.get("base_url") or "http://localhost:8000").rstrip("/")
    kept = obj.store.venue(name)
    writer = csv.writer(sys.stdout)
    writer.writerow(["name", "email", "link"])
    for r in obj.store.venue_reviewers(kept.id):
        writer.writerow([r.name, r.details.get("email") or "", f"{base}/expertise/{r.token}"])


@click.group()
def reviewers() -> None:
    """A venue's reviewer pool."""


@reviewers.command(name="import")
@click.argument("name")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def reviewers_import(obj: Context, name: str, file: Path) -> None:
    """Add the reviewers of FILE (a CSV as for `assign --reviewers`) to the venue NAME; one
    already in the pool has their details replaced and keeps their link and chosen papers."""
    from paperfeed.match.inputs import read_reviewers
    from paperfeed.match.kept import import_reviewers

    kept = obj.store.venue(name)
    n = import_reviewers(obj.store, kept, read_reviewers(file))
    click.echo(f"{n} reviewers in {name!r} from {file}; their links: paperfeed venue links {name}")


COMMANDS = [assign, venue, reviewers]
