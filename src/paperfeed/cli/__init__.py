"""The ``paperfeed`` command: a thin face over the library, one module per command group."""

from __future__ import annotations

import sys
from typing import Any

import click

from paperfeed import __version__, config
from paperfeed.cli.context import Context
from paperfeed.errors import NotFound, PaperfeedError


class PaperfeedGroup(click.Group):
    """Turns paperfeed's errors into a message and an exit code (1, or 3 for not found)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NotFound as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(3)
        except PaperfeedError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)


@click.group(cls=PaperfeedGroup)
@click.version_option(__version__, prog_name="paperfeed")
@click.option(
    "--db",
    envvar="PAPERFEED_DB",
    default=None,
    help="The store: a SQLite file, or postgresql://... for a shared one "
    "[env PAPERFEED_DB; default ./paperfeed.db]",
)
@click.pass_context
def main(ctx: click.Context, db: str | None) -> None:
    """paperfeed: research-paper discovery and recommendation, self-hosted."""
    obj = Context(config.load(db=db))
    ctx.obj = obj
    ctx.call_on_close(obj.close)


def _register() -> None:
    from paperfeed.cli import (
        evaluate,
        ingest,
        match,
        papers,
        profiles,
        recommend,
        search,
        sync,
        web,
    )

    for module in (ingest, papers, profiles, search, recommend, evaluate, match, sync, web):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
