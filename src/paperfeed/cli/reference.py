"""The CLI reference, written from the commands themselves (``make docs`` keeps
``docs/cli.md`` in step; a test fails when it is not)."""

from __future__ import annotations

from collections.abc import Iterator

import click


def _walk(command: click.Command, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from _walk(command.commands[name], [*path, name])


def markdown(root: click.Command) -> str:
    """Every command's usage and help, the way ``--help`` prints it, one section each."""
    out = [
        "# CLI reference",
        "",
        "Written from the commands themselves by `make docs`: what `paperfeed COMMAND --help`",
        "prints. Settings are read from `PAPERFEED_*` environment variables (`config.py`).",
    ]
    for path, command in _walk(root, ["paperfeed"]):
        if command.hidden:
            continue
        with click.Context(command, info_name=" ".join(path), terminal_width=100) as ctx:
            text = command.get_help(ctx)
        out += ["", f"## {' '.join(path)}", "", "```", text.rstrip(), "```"]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    from paperfeed.cli import main

    click.echo(markdown(main), nl=False)
