"""The fuzz corpus: crafted bad files made from one real file of each input format.

    python tests/fuzz_corpus.py OUT_DIR

writes the files and ``manifest.json`` (file, the format forced with ``--format``, and what
must happen: ``refused`` whole with nothing stored, ``stored`` as a well-formed file, or
``clean``: refused, or stored with no control character in any text). The same classes
found the issue-22 defects (truncated XML partly stored, a guessed charset, entity
references cutting fields, "0 records" for the wrong format); ``tests/test_fuzz_corpus.py``
builds the corpus and ingests every file on every CI run.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path

SHARED = Path(os.environ.get("PAPERFEED_SHARED", Path(__file__).resolve().parents[2] / "shared"))


def real_files(shared: Path = SHARED) -> dict[str, bytes]:
    """One real, well-formed file of each format (recorded responses and exports)."""
    fixtures = shared / "fixtures"
    with gzip.open(shared / "data" / "arxiv-cs-daily" / "papers.jsonl.gz", "rb") as f:
        jsonl = b"".join(itertools.islice(f, 12))
    oai = next(
        p for p in sorted((fixtures / "oai_pmh").glob("**/*.xml")) if b"<record" in p.read_bytes()
    )
    return {
        "arxiv-jsonl": jsonl,
        "arxiv-atom": (
            fixtures / "arxiv_api_atom" / "arxiv.py" / "id_1605.08386_s0_m100_199195aa31ad.xml"
        ).read_bytes(),
        "arxiv-rss": (
            fixtures / "arxiv_rss" / "rss_arxiv_org_atom_cs.AI_2025-08-20.xml"
        ).read_bytes(),
        "arxiv-abs": (
            fixtures / "arxiv_abs_files/abs_files/ftp/cs/papers/0011/0011004.abs"
        ).read_bytes(),
        "oai-pmh": oai.read_bytes(),
        "semantic-scholar": (fixtures / "semantic_scholar_api" / "Paper.json").read_bytes(),
        "openalex": json.dumps(
            {
                "results": [
                    {
                        "id": "https://openalex.org/W2741809807",
                        "doi": "https://doi.org/10.7717/peerj.4375",
                        "title": "The state of OA: a large-scale analysis",
                        "publication_year": 2018,
                        "authorships": [{"author": {"display_name": "Heather Piwowar"}}],
                        "abstract_inverted_index": {"Despite": [0], "growing": [1]},
                    }
                ]
            }
        ).encode(),
        "bibtex": sorted((fixtures / "bibtex").glob("**/*.bib"))[0].read_bytes(),
        "csl-json": sorted((fixtures / "zotero_bbt").glob("**/*.csl.json"))[0].read_bytes(),
        "zotero-bbt": sorted((fixtures / "zotero_bbt" / "export").glob("*.json"))[0].read_bytes(),
        "ris": (
            "TY  - JOUR\nAU  - Müller, Jürgen\nTI  - Über große Modelle in Zürich\n"
            "PY  - 2020\nDO  - 10.1000/xyz123\nER  - \n"
            "TY  - CONF\nAU  - Doe, Jane\nTI  - A second record\nPY  - 2021\nER  - \n"
        ).encode(),
        "paper-list": (shared / "seeds" / "004_c6b95d2d55bdc632.txt").read_bytes(),
    }


XML = ("arxiv-atom", "arxiv-rss", "oai-pmh")
JSON = ("semantic-scholar", "openalex", "csl-json", "zotero-bbt")
#: Formats a cut file of can be a shorter well-formed file (a list of lines).
CUT_MAY_BE_WHOLE = ("paper-list",)

Case = tuple[str, bytes, str]  # (class, content, what must happen)


def _title_at(data: bytes, fmt: str) -> int:
    """Where a title's text starts in a file of ``fmt``, for an edit that must land in it."""
    marks = {
        "arxiv-jsonl": b'"title": "',
        "semantic-scholar": b'"title": "',
        "openalex": b'"title": "',
        "csl-json": b'"title": "',
        "zotero-bbt": b'"title": "',
        "bibtex": b"title = {",
        "ris": b"TI  - ",
        "arxiv-abs": b"Title: ",
        "paper-list": b"\n",
    }
    for mark in (marks.get(fmt, b"<title>"), b'"title":"', b"title={", b"Title:", b"\n"):
        at = data.find(mark)
        if at >= 0:
            return at + len(mark) + 2
    return len(data) // 2


def _cases(fmt: str, real: bytes) -> Iterator[Case]:
    cut_outcome = "clean" if fmt in CUT_MAY_BE_WHOLE else "refused"
    for share in (0.3, 0.6, 0.9):
        yield f"cut-{int(share * 100)}", real[: int(len(real) * share)], cut_outcome
    yield "cut-last-byte", real.rstrip()[:-1], cut_outcome
    at = _title_at(real, fmt)
    # UTF-8 (an é) but for one byte: refused, not read in a guessed charset
    yield "bad-utf8-byte", real[:at] + "é".encode() + b"\xff" + real[at:], "refused"
    yield "lone-continuation-byte", real[:at] + b"\x80" + real[at:], "refused"
    yield "nul-byte", real[:at] + b"\x00" + real[at:], "clean"
    control = b"\\u0001\\u001b" if fmt in JSON or fmt == "arxiv-jsonl" else b"\x01\x1b"
    yield "control-characters", real[:at] + control + real[at:], "clean"
    yield "empty", b"", "refused"
    yield "blank", b" \n\n\t \r\n", "refused"
    yield "random-bytes", random.Random(fmt).randbytes(4096), "refused"
    yield "gzip-cut", gzip.compress(real)[: max(20, len(gzip.compress(real)) // 2)], "refused"
    yield "utf8-bom", b"\xef\xbb\xbf" + real, "stored"
    if fmt not in XML:
        yield "crlf", real.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), "stored"
    if fmt in XML:
        root = real.find(b"<", real.find(b"?>") + 2 if b"<?xml" in real[:100] else 0)
        entity = b'<!DOCTYPE r [<!ENTITY x "XXE">]>\n'
        yield (
            "entity",
            real[:root] + entity + real[root:].replace(b"<title>", b"<title>&x;", 1),
            "refused",
        )
        external = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        yield (
            "external-entity",
            real[:root] + external + real[root:].replace(b"<title>", b"<title>&x;", 1),
            "refused",
        )
        yield "unclosed-title", real.replace(b"</title>", b"", 1), "refused"
        yield "undefined-entity", real.replace(b"<title>", b"<title>&nope;", 1), "refused"
        yield "two-roots", real + real[real.find(b"<", root + 1) :], "refused"
    if fmt in JSON or fmt == "arxiv-jsonl":
        for name, value in [
            ("null", b"null"),
            ("empty-list", b"[]"),
            ("empty-object", b"{}"),
            ("string", b'"a paper"'),
            ("number", b"42"),
            ("list-of-null", b"[null]"),
            ("list-of-numbers", b"[1, 2]"),
        ]:
            yield f"json-{name}", value, "refused"
        yield "trailing-garbage", real.rstrip() + b"\n}{", "refused"
    if fmt == "ris":
        yield "no-end-tag", real.replace(b"ER  - \n", b"", 1), "refused"
        yield "no-type-tag", real.replace(b"TY  - JOUR\n", b"", 1), "refused"
    if fmt == "bibtex":
        yield "unclosed-entry", real + b"\n@article{cut,\n  title = {Never ends\n", "refused"
    if fmt == "arxiv-abs":  # arXiv's old .abs files are Latin-1: a letter there is one
        yield "latin-1-letter", real[:at] + b"\xe9" + real[at:], "stored"
        yield "no-closing-line", real.rstrip().rsplit(b"\n", 1)[0], "refused"


def corpus(shared: Path = SHARED) -> Iterator[tuple[str, str, bytes, str]]:
    """(file name, format, content, what must happen) of every crafted file."""
    for fmt, real in real_files(shared).items():
        for kind, content, outcome in _cases(fmt, real):
            yield f"{fmt}.{kind}", fmt, content, outcome


def write(out: Path, shared: Path = SHARED) -> list[dict[str, str]]:
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for name, fmt, content, outcome in corpus(shared):
        (out / name).write_bytes(content)
        manifest.append({"file": name, "format": fmt, "expect": outcome})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] = sys.argv[1:]) -> None:
    if len(argv) != 1:
        sys.exit(__doc__)
    made = write(Path(argv[0]))
    print(f"{len(made)} files in {argv[0]}")


if __name__ == "__main__":
    main()
