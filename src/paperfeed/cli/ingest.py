"""``paperfeed ingest`` and ``paperfeed fetch``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from paperfeed.cli import Context
from paperfeed.errors import InputError
from paperfeed.ingest import pipeline, registry


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress]:
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=not (enabled and console.is_terminal)) as p:
        yield p


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", help="Input format; detected from content when not given.")
@click.option("--profile", help="Add every paper of these inputs to this profile.")
@click.option(
    "--profile-kind",
    type=click.Choice(["researcher", "reader", "institution", "lab", "topic"]),
    default="reader",
    show_default=True,
    help="Kind of profile --profile creates.",
)
@click.option("--skip-bad", is_flag=True, help="Store the good records of a file with bad ones.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_obj
def ingest(
    obj: Context,
    paths: tuple[Path, ...],
    fmt: str | None,
    profile: str | None,
    profile_kind: str,
    skip_bad: bool,
    as_json: bool,
) -> None:
    """Ingest files or folders of papers (arXiv JSON lines, Atom, OAI-PMH, .abs, Semantic
    Scholar, OpenAlex, BibTeX, Zotero/CSL-JSON, RIS, plain-text lists).

    Each file is stored whole or not at all; re-ingesting changes nothing."""
    if fmt:
        registry.get(fmt)
    files = pipeline.expand(paths)
    reports, failed = [], 0
    with progress_bar(not as_json) as bar:
        for path in files:
            task = bar.add_task(path.name, total=path.stat().st_size)
            try:
                report = pipeline.ingest_path(
                    obj.store, path, fmt, profile, profile_kind, skip_bad,
                    lambda done, total, task=task: bar.update(task, completed=done, total=total),
                )
            except InputError as e:
                failed += 1
                click.echo(f"Error: {e}", err=True)
                continue
            reports.append(report)
            for bad in report.bad:
                click.echo(f"skipped bad record: {bad}", err=True)
            if not as_json:
                bar.console.print(_summary(report))
    if as_json:
        sys.stdout.write(orjson.dumps([r.to_dict() for r in reports]).decode() + "\n")
    if failed:
        raise SystemExit(1)


def _summary(r: pipeline.IngestReport) -> str:
    parts = [f"{r.path} [{r.format}]: {r.records} records", f"{r.new} new", f"{r.merged} merged",
             f"{r.unchanged} unchanged"]
    if r.bad:
        parts.append(f"{len(r.bad)} bad skipped")
    if r.profile:
        parts.append(f"profile {r.profile!r}")
    return ", ".join(parts)


COMMANDS = [ingest]
