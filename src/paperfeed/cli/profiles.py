"""``paperfeed profiles``."""

from __future__ import annotations

import click

from paperfeed.cli.context import Context, print_json


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def profiles(obj: Context, as_json: bool) -> None:
    """List profiles and how many papers each holds."""
    items = obj.store.profiles()
    if as_json:
        print_json(
            [
                {"name": p.name, "kind": p.kind, "description": p.description, "papers": p.papers}
                for p in items
            ]
        )
        return
    for p in items:
        click.echo(f"{p.name} ({p.kind}): {p.papers} papers")


COMMANDS = [profiles]
