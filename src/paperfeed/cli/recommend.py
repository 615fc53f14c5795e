"""``paperfeed recommend``, ``rate`` and ``profile create|show|import``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from paperfeed import profiles
from paperfeed.cli.context import Context, engine_option, print_json, print_json_object
from paperfeed.errors import InputError, NotFound
from paperfeed.models import PROFILE_KINDS, RATINGS, RULE_KINDS
from paperfeed.recommend.authors import Identity, author_identities
from paperfeed.recommend.feed import recommend as rank_for_profile
from paperfeed.recommend.feed import to_rate
from paperfeed.recommend.service import Recommender


def workers_option(what: str) -> Any:
    """``--workers N``: how many processes rank ``what`` at once."""
    return click.option(
        "--workers",
        type=click.IntRange(1, 64),
        default=1,
        show_default=True,
        help=f"Processes ranking {what} at once.",
    )


@click.command()
@click.option("--profile", help="Profile to rank for.")
@click.option("--all", "every", is_flag=True, help="Rank for every profile (the daily job).")
@workers_option("profiles with --all")
@engine_option("With --all: rank here (--workers processes)")
@click.option("--day", metavar="YYYY-MM-DD", help="Papers listed that day [latest day].")
@click.option("--since", metavar="YYYY-MM-DD", help="Papers listed since that day.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def recommend(
    obj: Context,
    profile: str | None,
    every: bool,
    workers: int,
    engine: str,
    day: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Rank new papers for a profile (or --all of them), best first, with the reasons why."""
    if every == (profile is not None):
        raise click.UsageError("give either --profile NAME or --all")
    if profile is None:
        names = [p.name for p in obj.store.profiles()]
        if engine == "ray":
            from paperfeed.recommend.ray_engine import recommend_with_ray

            address = obj.settings.get("ray_address") or None
            ranked = recommend_with_ray(obj.store, obj.settings, names, day, since, limit, address)
        else:
            ranked = Recommender(obj.store, obj.embedder).recommend_many(
                names, day, since, limit, workers
            )
        if as_json:  # printed as it is ranked: one profile's ranking in memory at a time
            print_json_object(
                (
                    name,
                    {"error": str(recs)}
                    if isinstance(recs, InputError)
                    else [r.to_dict() for r in recs],
                )
                for name, recs in ranked
            )
            return
        for name, recs in ranked:
            shown = f"error: {recs}" if isinstance(recs, InputError) else f"{len(recs)} papers"
            click.echo(f"{name}: {shown}")
        return
    recs = rank_for_profile(obj.store, profile, obj.embedder, day, since, limit)
    if as_json:
        print_json([r.to_dict() for r in recs])
        return
    if not recs:
        click.echo("No new papers for that day.")
    for n, r in enumerate(recs, 1):
        click.echo(f"{n:>3}. {r.paper.display_title}  [{r.paper.ref}]")
        for reason in r.why:
            click.echo(f"       - {reason}")


@click.command()
@click.option("--profile", required=True, help="Profile to teach.")
@click.option("-n", "count", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def teach(obj: Context, profile: str, count: int, as_json: bool) -> None:
    """The papers whose rating would teach a profile's ranking most."""
    recs = to_rate(obj.store, profile, obj.embedder, k=count)
    if as_json:
        print_json([r.to_dict() for r in recs])
        return
    for r in recs:
        click.echo(f"{r.paper.ref}  {r.paper.display_title}")
    if recs:
        click.echo("Rate them with: paperfeed rate ID up|down --profile " + profile)


@click.command()
@click.argument("paper_id")
@click.argument("signal", type=click.Choice(RATINGS))
@click.option("--profile", required=True, help="Profile the rating is for.")
@click.pass_obj
def rate(obj: Context, paper_id: str, signal: str, profile: str) -> None:
    """Rate a paper for a profile: up, save, down or hide. The next ranking uses it."""
    paper = profiles.rate(obj.store, obj.store.profile(profile), paper_id, signal)
    click.echo(f"{signal}: {paper.display_title} ({profile})")


@click.group()
def profile() -> None:
    """Create, inspect and fill profiles."""


@profile.command(name="create")
@click.argument("name")
@click.option("--kind", type=click.Choice(PROFILE_KINDS), default="reader", show_default=True)
@click.option("--description", help="What the profile is for.")
@click.pass_obj
def profile_create(obj: Context, name: str, kind: str, description: str | None) -> None:
    """Create an empty profile (creating one that exists changes nothing)."""
    made = profiles.create(obj.store, name, kind, description)
    click.echo(f"profile {made.name!r} ({made.kind})")


@profile.command(name="show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def profile_show(obj: Context, name: str, as_json: bool) -> None:
    """A profile's papers and ratings."""
    marks = obj.store.profile_relations(name)
    papers = {p.id: p for p in obj.store.papers(sorted(marks))}
    rows = [
        {"id": papers[pid].ref, "title": papers[pid].title, "mark": mark}
        for pid, mark in sorted(marks.items())
        if pid in papers
    ]
    rules = [{"kind": r.kind, "value": r.value} for r in obj.store.rules(name)]
    if as_json:
        print_json({"name": name, "papers": rows, "rules": rules})
        return
    for rule in rules:
        click.echo(f"{'rule':>8}  {rule['kind']} {rule['value']}")
    for row in rows:
        click.echo(f"{row['mark']:>8}  {row['title']}  [{row['id']}]")


@profile.command(name="import")
@click.argument("name")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--kind", type=click.Choice(PROFILE_KINDS), default="reader", show_default=True)
@click.pass_obj
def profile_import(obj: Context, name: str, paths: tuple[Path, ...], kind: str) -> None:
    """Add the papers of files (BibTeX, Zotero, CSL-JSON, RIS, lists, arXiv...) to a profile."""
    total, missing = profiles.import_files(
        obj.store,
        name,
        paths,
        kind,
        obj.settings["max_input_bytes"],
        obj.settings["max_document_bytes"],
    )
    if missing:
        shown = " ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        click.echo(
            f"{len(missing)} ids are not in the store, so not in the profile: {shown}\n"
            "Fetch them first (paperfeed fetch arxiv --id ID) and import the list again.",
            err=True,
        )
    click.echo(f"{total} papers in profile {name!r}")


@profile.group(name="rule")
def profile_rule() -> None:
    """Rules: keywords to include or exclude, must-have categories, followed authors and
    organizations, saved queries (alerts)."""


@profile_rule.command(name="add")
@click.argument("name")
@click.argument("kind", type=click.Choice(RULE_KINDS))
@click.argument("value")
@click.pass_obj
def rule_add(obj: Context, name: str, kind: str, value: str) -> None:
    """Add a rule to a profile, e.g. ``author "Yann LeCun"`` or ``exclude survey``."""
    profiles.edit_rule(obj.store, obj.store.profile(name), kind, value, add=True)
    click.echo(f"{name}: {kind} {value!r}")


@profile_rule.command(name="remove")
@click.argument("name")
@click.argument("kind", type=click.Choice(RULE_KINDS))
@click.argument("value")
@click.pass_obj
def rule_remove(obj: Context, name: str, kind: str, value: str) -> None:
    """Remove a rule from a profile."""
    profiles.edit_rule(obj.store, obj.store.profile(name), kind, value, add=False)
    click.echo(f"{name}: removed {kind} {value!r}")


def _identities(obj: Context, name: str) -> list[Identity]:
    from paperfeed.search.engine import load_index

    model = obj.embedder.name
    index = load_index(obj.store, model) if obj.store.stats()["embedded"].get(model) else None
    found = author_identities(obj.store, name, index)
    if not found:
        raise NotFound(f"no author called {name!r}")
    return found


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def author(obj: Context, name: str, as_json: bool) -> None:
    """The people who signed NAME, told apart by co-authors and topics."""
    found = _identities(obj, name)
    if as_json:
        print_json(
            [
                {
                    "identity": n,
                    "summary": i.summary,
                    "papers": [s.key.ref for s in i.papers],
                    "coauthors": dict(i.coauthors),
                    "categories": dict(i.categories),
                }
                for n, i in enumerate(found, 1)
            ]
        )
        return
    for n, i in enumerate(found, 1):
        click.echo(f"{n:>3}. {i.summary}")


@profile.command(name="from-author")
@click.argument("name")
@click.argument("author_name", metavar="AUTHOR")
@click.option(
    "--identity",
    "picked",
    type=click.IntRange(1),
    multiple=True,
    help="Which of the people named AUTHOR (repeat to take several).",
)
@click.pass_obj
def profile_from_author(obj: Context, name: str, author_name: str, picked: tuple[int, ...]) -> None:
    """A researcher profile from an author's papers; when several people share the name,
    they are listed and --identity picks them."""
    found = _identities(obj, author_name)
    if not picked and len(found) > 1:
        for n, i in enumerate(found, 1):
            click.echo(f"{n:>3}. {i.summary}", err=True)
        raise click.UsageError(
            f"{len(found)} people sign {author_name!r}: pick one with --identity N"
        )
    if any(n > len(found) for n in picked):
        raise click.UsageError(f"--identity goes from 1 to {len(found)}")
    chosen = [found[n - 1] for n in sorted(set(picked or (1,)))]
    made, n = profiles.from_author(obj.store, name, author_name, chosen)
    click.echo(f"profile {made.name!r}: {n} papers of {author_name}")


COMMANDS = [recommend, rate, teach, profile, author]
