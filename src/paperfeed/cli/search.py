"""``paperfeed embed``, ``search`` and ``similar``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import click

from paperfeed.cli.context import Context, engine_option, print_json
from paperfeed.cli.ingest import progress_bar
from paperfeed.embed.index import embed_store
from paperfeed.models import Hit, SearchFilters
from paperfeed.search.engine import MODES, Searcher, load_index


@click.command()
@click.option("--limit", type=int, help="Embed at most this many papers.")
@engine_option("Where the model runs: this process")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_obj
def embed(obj: Context, limit: int | None, engine: str, as_json: bool) -> None:
    """Embed the papers that have no vector yet, or whose text changed.

    Safe to stop at any time: a new run picks up where the last one stopped."""
    embedder = obj.embedder
    with progress_bar(not as_json, items=True) as bar:
        task = bar.add_task(f"embedding ({embedder.name})", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        if engine == "ray":
            from paperfeed.embed.ray_engine import embed_with_ray

            report = embed_with_ray(
                obj.settings["db"],
                obj.settings,
                embedder.name,
                obj.settings.get("ray_address") or None,
                limit,
                progress,
            )
        else:
            report = embed_store(obj.store, embedder, limit, progress)
        bar.update(task, description="indexing vectors")
        index = load_index(obj.store, embedder.name, build_ann=True)
    if as_json:
        print_json({"model": embedder.name, **asdict(report), "ann": index.uses_ann})
    else:
        click.echo(
            f"{report.embedded} embedded, {report.unchanged} unchanged, "
            f"{report.empty} without text ({embedder.name})"
        )


def _filters(
    since: str | None,
    until: str | None,
    categories: tuple[str, ...],
    author: str | None,
    organization: str | None,
    profile: str | None,
) -> SearchFilters:
    return SearchFilters(since, until, categories, author, organization, profile)


_filter_options = [
    click.option("--since", metavar="YYYY-MM-DD", help="Listed on or after this day."),
    click.option("--until", metavar="YYYY-MM-DD", help="Listed on or before this day."),
    click.option("--category", "categories", multiple=True, help="arXiv category (repeatable)."),
    click.option("--author", help="Only papers by this author."),
    click.option("--organization", help="Only papers from this organization."),
    click.option("--profile", help="Only papers of this profile."),
    click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True),
    click.option("--json", "as_json", is_flag=True, help="Print JSON."),
]


def filter_options(fn: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_filter_options):
        fn = option(fn)
    return fn


def _show(hits: list[Hit], as_json: bool) -> None:
    if as_json:
        print_json([h.to_dict() for h in hits])
        return
    if not hits:
        click.echo("No papers found.")
    for n, h in enumerate(hits, 1):
        authors = ", ".join(a.name for a in h.paper.authors[:3])
        more = " et al." if len(h.paper.authors) > 3 else ""
        click.echo(f"{n:>3}. {h.paper.display_title}  [{h.paper.ref}]")
        click.echo(f"     {authors}{more}  {h.paper.listed or h.paper.published or ''}")


@click.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@filter_options
@click.pass_obj
def search(
    obj: Context,
    query: tuple[str, ...],
    mode: str,
    limit: int,
    as_json: bool,
    **filters: str | None,
) -> None:
    """Search papers by keywords, meaning, or both (hybrid)."""
    searcher = Searcher(obj.store, obj.embedder if mode != "keyword" else None)
    runs, note = searcher.usable_mode(mode)
    if note:
        click.echo(f"Note: {note}", err=True)
    hits = searcher.search(" ".join(query), runs, _filters(**filters), limit)  # type: ignore[arg-type]
    _show(hits, as_json)


@click.command()
@click.argument("paper_id")
@filter_options
@click.pass_obj
def similar(obj: Context, paper_id: str, limit: int, as_json: bool, **filters: str | None) -> None:
    """Papers similar to one paper (arXiv id, DOI, s2:ID, openalex:ID or pf:N)."""
    hits = Searcher(obj.store, obj.embedder).similar(paper_id, _filters(**filters), limit)  # type: ignore[arg-type]
    _show(hits, as_json)


COMMANDS = [embed, search, similar]
