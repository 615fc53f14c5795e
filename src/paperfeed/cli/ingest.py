"""``paperfeed ingest`` and ``paperfeed fetch``."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from paperfeed.cli.context import Context
from paperfeed.errors import FileRejected, InputError, StoreBusy
from paperfeed.ingest import pipeline, registry


@contextmanager
def progress_bar(enabled: bool, items: bool = False) -> Iterator[Progress]:
    """A progress bar on stderr, shown only on a terminal; counts bytes, or ``items``."""
    console = Console(stderr=True)
    amount = (MofNCompleteColumn(),) if items else (DownloadColumn(), TransferSpeedColumn())
    columns = (TextColumn("{task.description}"), BarColumn(), *amount, TimeRemainingColumn())
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
@click.option("--encoding", help="Text encoding of the files, when not UTF-8 (detected otherwise).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_obj
def ingest(
    obj: Context,
    paths: tuple[Path, ...],
    fmt: str | None,
    profile: str | None,
    profile_kind: str,
    skip_bad: bool,
    encoding: str | None,
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

            def progress(done: int, total: int, task: TaskID = task) -> None:
                bar.update(task, completed=done, total=total)

            try:
                report = _waiting(
                    partial(
                        pipeline.ingest_path,
                        obj.store,
                        path,
                        fmt,
                        profile,
                        profile_kind,
                        skip_bad,
                        progress,
                        encoding,
                        obj.settings["max_input_bytes"],
                        obj.settings["max_document_bytes"],
                        on_wait=lambda why: click.echo(f"Waiting: {why}. Ctrl-C stops.", err=True),
                    )
                )
            except InputError as e:
                failed += 1
                hint = (
                    "\n(--skip-bad stores the good records)" if isinstance(e, FileRejected) else ""
                )
                click.echo(f"Error: {e}{hint}", err=True)
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


def _waiting(ingest: Callable[[], pipeline.IngestReport]) -> pipeline.IngestReport:
    """Run ``ingest``; while another write holds the store (another ingest), wait for it,
    saying so, rather than fail."""
    said = False
    while True:
        try:
            return ingest()
        except StoreBusy as e:
            if not said:
                click.echo(f"Waiting: {e}. Ctrl-C stops.", err=True)
                said = True
            time.sleep(1.0)


def _summary(r: pipeline.IngestReport) -> str:
    parts = [
        f"{r.path} [{r.format}]: {r.records} records",
        f"{r.new} new",
        f"{r.merged} merged",
        f"{r.unchanged} unchanged",
    ]
    if r.bad:
        parts.append(f"{len(r.bad)} bad skipped")
    if r.profile:
        parts.append(f"profile {r.profile!r}")
    return ", ".join(parts)


@click.group()
def fetch() -> None:
    """Fetch papers live from remote sources (politely: rate-limited, with retries)."""


def _store_fetched(
    obj: Context,
    items: Iterator[registry.Item],
    where: str,
    source: str,
    profile: str | None,
    as_json: bool,
) -> None:
    report = pipeline.ingest_items(obj.store, items, where, source, profile, skip_bad=True)
    for bad in report.bad:
        click.echo(f"skipped bad record: {bad}", err=True)
    if as_json:
        sys.stdout.write(orjson.dumps(report.to_dict()).decode() + "\n")
    else:
        click.echo(_summary(report))


@fetch.command("arxiv")
@click.option("--category", help="arXiv category, e.g. cs.CL.")
@click.option("--since", help="Only papers submitted on or after this date (YYYY-MM-DD).")
@click.option("--query", default="", help="arXiv API search query (e.g. 'ti:transformer').")
@click.option("--id", "ids", multiple=True, help="arXiv id to look up (repeatable).")
@click.option("--max", "max_results", type=int, default=2000, show_default=True)
@click.option("--profile", help="Add the fetched papers to this profile.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_obj
def fetch_arxiv(
    obj: Context,
    category: str | None,
    since: str | None,
    query: str,
    ids: tuple[str, ...],
    max_results: int,
    profile: str | None,
    as_json: bool,
) -> None:
    """Papers from the arXiv API: a category's new submissions, a query, or ids."""
    from paperfeed.ingest.sources import arxiv_atom

    if category:
        query = f"cat:{category}" + (f" AND ({query})" if query else "")
    if not (query or ids):
        raise click.UsageError("give --category, --query or --id")
    # a category's papers are its newest submissions, not the best match of "cat:X"
    items = arxiv_atom.search(
        obj.settings, query, list(ids), max_results, since, newest=bool(category)
    )
    _store_fetched(obj, items, obj.settings["arxiv_api_url"], "arxiv-atom", profile, as_json)


@fetch.command("oai")
@click.option("--set", "set_spec", help="OAI set, e.g. cs or physics:hep-th.")
@click.option("--since", help="Records changed on or after this date (YYYY-MM-DD).")
@click.option("--until", help="Records changed on or before this date.")
@click.option(
    "--format",
    "prefix",
    type=click.Choice(["arXiv", "arXivRaw"]),
    default="arXiv",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_obj
def fetch_oai(
    obj: Context,
    set_spec: str | None,
    since: str | None,
    until: str | None,
    prefix: str,
    as_json: bool,
) -> None:
    """Harvest arXiv's OAI-PMH interface (bulk metadata with version history)."""
    from paperfeed.ingest.sources import oai_pmh

    items = oai_pmh.harvest(obj.settings, prefix, set_spec, since, until)
    _store_fetched(obj, items, obj.settings["oai_pmh_url"], "oai-pmh", None, as_json)


@fetch.command("s2")
@click.option(
    "--paper", "paper_ids", multiple=True, help="Semantic Scholar paper id, DOI:..., ARXIV:..."
)
@click.option("--author", help="Semantic Scholar author id: all their papers.")
@click.option("--profile", help="Add the fetched papers to this profile.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report.")
@click.pass_obj
def fetch_s2(
    obj: Context, paper_ids: tuple[str, ...], author: str | None, profile: str | None, as_json: bool
) -> None:
    """Papers from the Semantic Scholar Graph API."""
    from paperfeed.ingest.sources import semantic_scholar

    client = semantic_scholar.Client(obj.settings)
    if author:
        items: Iterator[registry.Item] = client.author_papers(author)
    elif paper_ids:
        items = (item for pid in paper_ids for item in client.paper(pid))
    else:
        raise click.UsageError("give --paper or --author")
    _store_fetched(obj, items, obj.settings["s2_api_url"], "semantic-scholar", profile, as_json)


@click.command()
def formats() -> None:
    """List the input formats paperfeed reads."""
    for name, source in sorted(registry.sources().items()):
        click.echo(f"{name:18} {source.description}")


COMMANDS = [ingest, fetch, formats]
