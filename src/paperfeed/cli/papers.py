"""``paperfeed stats``, ``show``, ``export`` and ``migrate-store``."""

from __future__ import annotations

from typing import IO

import click

from paperfeed.cli.context import Context, print_json
from paperfeed.export import EXPORTERS


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def stats(obj: Context, as_json: bool) -> None:
    """Count what the database holds."""
    s = obj.store.stats()
    if as_json:
        print_json(s)
        return
    for key, value in s.items():
        click.echo(f"{key:>16}: {value}")


@click.command()
@click.argument("paper_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def show(obj: Context, paper_id: str, as_json: bool) -> None:
    """Show one paper by arXiv id, DOI, s2:ID, openalex:ID or pf:N."""
    paper = obj.store.get_paper(paper_id)
    if as_json:
        print_json(paper.to_dict())
        return
    click.echo(paper.display_title)
    click.echo(", ".join(a.name for a in paper.authors))
    click.echo(" ".join(f"{k}:{v}" for k, v in paper.ids.items()))
    if paper.abstract:
        click.echo()
        click.echo(paper.abstract)


@click.command()
@click.option(
    "--format", "fmt", type=click.Choice(sorted(EXPORTERS)), default="jsonl", show_default=True
)
@click.option("--profile", help="Only this profile's papers.")
@click.option("-o", "--output", type=click.File("w"), default="-", help="File (default stdout).")
@click.pass_obj
def export(obj: Context, fmt: str, profile: str | None, output: IO[str]) -> None:
    """Export papers (all of them, or a profile's) as JSON lines or BibTeX."""
    papers = obj.store.profile_papers(profile) if profile else obj.store.iter_papers()
    EXPORTERS[fmt](papers, output)


@click.command("migrate-store")
@click.argument("source")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def migrate_store(source: str, target: str, as_json: bool) -> None:
    """Copy the store at SOURCE into the empty store at TARGET: a SQLite file into
    PostgreSQL (postgresql://...) or back. Everything goes (papers, profiles, accounts,
    vectors, the signing key), in one transaction; the two are then compared by a digest of
    their content, and a difference is an error."""
    from pathlib import Path

    from paperfeed.errors import InputError, StoreError
    from paperfeed.search.vectors import ANN_THRESHOLD
    from paperfeed.store import is_postgres, open_store
    from paperfeed.store.transfer import content_digest, copy_store

    if not is_postgres(source) and not Path(source).is_file():  # opening would make one
        raise InputError(f"{source}: no such store to copy from")
    with open_store(source) as src, open_store(target) as dst:
        counts = copy_store(src, dst, lambda table, n: click.echo(f"{table}: {n:,}", err=True))
        digests = content_digest(src), content_digest(dst)
        for model in dst.stats()["embedded"]:  # PostgreSQL's own vector index, once large
            dst.build_ann(model, ANN_THRESHOLD)
    if digests[0] != digests[1]:
        raise StoreError(
            f"{target}: its content differs from {source}'s after the copy "
            f"(digest {digests[1][:12]} against {digests[0][:12]})"
        )
    if as_json:
        print_json({"copied": counts, "digest": digests[0]})
        return
    click.echo(f"copied {counts['papers']:,} papers; both stores' content digest {digests[0][:16]}")


COMMANDS = [stats, show, export, migrate_store]
