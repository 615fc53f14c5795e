"""The command line: show, stats, export and its round trip, profiles, and its reference docs."""

from __future__ import annotations

from pathlib import Path

import click

from conftest import FIXTURES, SEEDS, cli_json
from paperfeed.cli import main

CLI_REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_show_by_any_id_and_not_found(cli):
    cli(
        "ingest",
        FIXTURES / "arxiv_api_atom" / "arxiv.py" / "id_1605.08386_s0_m100_199195aa31ad.xml",
    )
    paper = cli_json(cli("show", "arXiv:1605.08386v1", "--json"))
    assert paper["id"] == "1605.08386"
    assert paper["authors"][0]["name"] == "Caprice Stanley"
    assert paper["categories"] == ["math.CO", "math.ST"]
    assert cli("show", "https://arxiv.org/abs/1605.08386", "--json").exit_code == 0
    assert "no paper with id" in cli("show", "9999.99999", expect=3).stderr


def test_export_bibtex_round_trips_into_a_fresh_database(cli, tmp_path: Path, db_path: Path):
    cli(
        "ingest",
        SEEDS / "002_c2507baaf109fce8.txt",
        FIXTURES / "arxiv_rss" / "rss_arxiv_org_atom_cs.AI_2025-08-20.xml",
    )
    out = tmp_path / "all.bib"
    cli("export", "--format", "bibtex", "-o", out)
    original = {
        p["title"] for p in map(__import__("orjson").loads, cli("export").stdout.splitlines())
    }
    fresh = tmp_path / "fresh.db"
    from click.testing import CliRunner

    r = CliRunner().invoke(main, ["--db", str(fresh), "ingest", str(out)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["--db", str(fresh), "export"])
    again = {p["title"] for p in map(__import__("orjson").loads, r.stdout.splitlines())}
    assert again == original and len(original) == 32


def test_profile_option_collects_an_ingest(cli):
    cli(
        "ingest",
        SEEDS / "002_c2507baaf109fce8.txt",
        "--profile",
        "Carlos",
        "--profile-kind",
        "researcher",
    )
    [p] = cli_json(cli("profiles", "--json"))
    assert (p["name"], p["kind"], p["papers"]) == ("Carlos", "researcher", 25)
    exported = cli("export", "--profile", "Carlos").stdout.splitlines()
    assert len(exported) == 25
    assert "no profile called" in cli("export", "--profile", "Nobody", expect=3).stderr


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    """Every leaf command, as typed: "ingest", "fetch arxiv", ..."""
    names = []
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            names += _commands(cmd, f"{prefix}{name} ")
        else:
            names.append(f"{prefix}{name}")
    return names


def test_every_command_is_documented_in_the_cli_reference():
    """docs/cli.md is what the commands say of themselves (``make docs`` writes it)."""
    from paperfeed.cli.reference import markdown

    text = CLI_REFERENCE.read_text()
    missing = [c for c in _commands(main) if f"## paperfeed {c}\n" not in text]
    assert not missing, f"commands missing from docs/cli.md: {missing} (run make docs)"
    assert text == markdown(main), "docs/cli.md is out of date: run make docs"


def test_a_json_object_printed_as_it_comes_reads_as_the_whole(monkeypatch):
    """``recommend --all --json`` prints each profile's ranking as it is made: the output is
    the one the whole dict would give, and an item is out before the next is asked for."""
    import io
    import sys

    from paperfeed.cli.context import print_json, print_json_object

    value = {"ada": [{"id": "2501.00001", "why": ["a", "b"]}], "bo": {"error": "no papers"}}
    for given in (value, {}):
        whole, out = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stdout", whole)
        print_json(given)
        monkeypatch.setattr(sys, "stdout", out)

        def items(given=given, out=out):
            for n, item in enumerate(given.items()):
                assert out.getvalue().count('\n  "') == n  # the ones before are out already
                yield item

        print_json_object(items())
        monkeypatch.undo()
        assert out.getvalue() == whole.getvalue()
