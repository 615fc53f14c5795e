"""``paperfeed serve`` and ``paperfeed digest send``."""

from __future__ import annotations

import click

from paperfeed.cli.context import Context, print_json
from paperfeed.cli.recommend import workers_option


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option(
    "--embed/--no-embed",
    default=True,
    show_default=True,
    help="Embed missing papers in the background while serving.",
)
@click.option(
    "--digests/--no-digests", default=True, show_default=True, help="Send due email digests."
)
@click.option(
    "--sync/--no-sync",
    default=True,
    show_default=True,
    help="Run the daily sync from sync_hour (UTC): fetch, embed, rank, then send the digests.",
)
@click.option(
    "--base-url",
    metavar="URL",
    help="The address people reach the app at, for links in Atom feeds and digests (behind a "
    "proxy, say) [env PAPERFEED_BASE_URL; default: pages and feeds link to the address each "
    "request came to, digests to http://HOST:PORT].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes answering on the port, sharing the store (best on PostgreSQL). "
    "Past one, they only answer requests: run the daily work as `paperfeed sync` (cron) "
    "or in one more `serve` process.",
)
@click.pass_obj
def serve(
    obj: Context,
    host: str,
    port: int,
    embed: bool,
    digests: bool,
    sync: bool,
    base_url: str | None,
    workers: int,
) -> None:
    """Run the web app, JSON API and Atom feeds."""
    import os

    import orjson
    import uvicorn

    from paperfeed.web.app import SERVE_ENV, create_app

    obj.close()  # the app opens its own store
    settings = dict(obj.settings, listen_url=f"http://{host}:{port}")
    if base_url:
        settings["base_url"] = base_url
    click.echo(f"paperfeed at http://{host}:{port}/ (API docs at /api/docs)")
    if workers == 1:
        app = create_app(
            settings, background=True, embed=embed, schedule_digests=digests, schedule_sync=sync
        )
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
        return
    click.echo(f"{workers} workers answering; embedding, sync and digests run elsewhere")
    os.environ[SERVE_ENV] = orjson.dumps({"settings": settings, "options": {}}).decode()
    uvicorn.run(
        "paperfeed.web.app:app_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
    )


@click.group()
def digest() -> None:
    """Email digests."""


@digest.command(name="send")
@click.option("--dry-run", is_flag=True, help="Compose and show the digests; send and record none.")
@workers_option("the due profiles")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def digest_send(obj: Context, dry_run: bool, workers: int, as_json: bool) -> None:
    """Send every due digest once (safe to run from cron as often as you like)."""
    from paperfeed.digest import send_digests
    from paperfeed.recommend.service import Recommender

    settings = dict(obj.settings, secret_key=obj.settings["secret_key"] or obj.store.secret_key())
    reports = send_digests(
        obj.store, Recommender(obj.store, obj.embedder), settings, dry_run, workers=workers
    )
    if as_json:
        print_json([r.to_dict() for r in reports])
        return
    if not reports:
        click.echo("No digest subscriptions.")
    for r in reports:
        detail = f" ({r.detail})" if r.detail else ""
        click.echo(
            f"{r.status:>12}  {r.profile} -> {r.email}  {r.period}, {r.papers} papers{detail}"
        )
        if dry_run and r.message is not None:
            click.echo(r.message.get_body(("plain",)).get_content())  # type: ignore[union-attr]


COMMANDS = [serve, digest]
