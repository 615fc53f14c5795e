"""``paperfeed sync``: keep the store current (from cron, or let ``serve`` run it)."""

from __future__ import annotations

import sys

import click

from paperfeed.cli.context import Context, print_json
from paperfeed.cli.recommend import workers_option
from paperfeed.sync import STEPS, Sync, status


@click.group(invoke_without_command=True)
@click.option(
    "--step",
    "steps",
    multiple=True,
    type=click.Choice(STEPS),
    help="Run only these steps (repeatable) [all, in order].",
)
@workers_option("the profiles")
@click.option("--json", "as_json", is_flag=True, help="Print what each step did as JSON.")
@click.pass_context
def sync(ctx: click.Context, steps: tuple[str, ...], workers: int, as_json: bool) -> None:
    """Fetch what is new since the last sync, embed it, refresh, rank and send digests.

    Each step is idempotent and resumes where a killed run stopped; one sync runs at a time.
    Exits 1 when a step failed (the later steps still ran)."""
    if ctx.invoked_subcommand is not None:
        return
    obj: Context = ctx.obj
    wanted = tuple(s for s in STEPS if not steps or s in steps)
    outcome = Sync(obj.store, obj.settings, workers=workers).run(wanted)
    if as_json:
        print_json(outcome)
    else:
        for step, result in outcome["steps"].items():
            said = result.get("error") or _brief(result.get("detail"))
            click.echo(f"{step:9} {result['outcome']:7} {result['seconds']:7.1f} s  {said}")
    if not outcome["ok"]:
        sys.exit(1)


def _brief(detail: object) -> str:
    if isinstance(detail, dict):
        return ", ".join(f"{k} {v}" for k, v in detail.items() if not isinstance(v, list | dict))
    return str(detail)


@sync.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def sync_status(obj: Context, as_json: bool) -> None:
    """The last sync: each step's outcome, the watermarks, and the next scheduled run."""
    found = status(obj.store, obj.settings)
    if as_json:
        print_json(found)
        return
    if not found["steps"]:
        click.echo("No sync has run on this store yet.")
    for step, result in found["steps"].items():
        said = result.get("error") or _brief(result.get("detail"))
        click.echo(f"{step:9} {result['outcome']:7} {result['finished']}  {said}")
    for key, value in sorted(found["watermarks"].items()):
        click.echo(f"{key}: {value}")
    if found["running"]:
        click.echo(f"running now: {found['running']}")
    click.echo(f"next scheduled run (paperfeed serve): {found['next_run']}")


COMMANDS = [sync]
