"""Every crafted file of the fuzz corpus (tests/fuzz_corpus.py) gets what it must: refused
whole naming the file, with nothing stored and nothing lost, or stored clean."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import SEEDS, SHARED
from fuzz_corpus import write
from paperfeed.errors import InputError
from paperfeed.ingest.pipeline import ingest_path
from paperfeed.store import open_store

#: C0 controls but tab, newline and carriage return, and DEL: never in a stored text.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _texts(store) -> list[str]:  # type: ignore[no-untyped-def]
    out = []
    for p in store.iter_papers():
        out += [p.title or "", p.abstract or "", p.comment or "", p.journal_ref or ""]
        out += [a.name for a in p.authors]
    return out


def test_every_crafted_file_is_refused_whole_or_stored_clean(tmp_path: Path) -> None:
    manifest = write(tmp_path / "corpus", SHARED)
    assert len(manifest) >= 120
    wrong: list[str] = []
    with open_store(str(tmp_path / "kept.db")) as kept:
        ingest_path(kept, SEEDS / "004_c6b95d2d55bdc632.txt")  # what must never be lost
        before = [p.to_dict() for p in kept.iter_papers()]
        for case in manifest:
            path = tmp_path / "corpus" / case["file"]
            if case["expect"] == "refused":
                try:
                    report = ingest_path(kept, path, case["format"])
                except InputError as e:
                    if case["file"] not in str(e):
                        wrong.append(f"{case['file']}: the error does not name it: {e}")
                    continue
                wrong.append(f"{case['file']}: stored {report.records} records, not refused")
                continue
            with open_store(str(tmp_path / f"{case['file']}.db")) as fresh:
                try:
                    report = ingest_path(fresh, path, case["format"])
                except InputError as e:
                    if case["expect"] == "stored":
                        wrong.append(f"{case['file']}: refused: {e}")
                    elif fresh.paper_count():
                        wrong.append(f"{case['file']}: refused but stored")
                    continue
                if report.records == 0 or fresh.paper_count() == 0:
                    wrong.append(f"{case['file']}: nothing stored, and no error")
                dirty = [t for t in _texts(fresh) if CONTROL.search(t)]
                if dirty:
                    wrong.append(f"{case['file']}: a control character stored: {dirty[0]!r}")
        after = [p.to_dict() for p in kept.iter_papers()]
    assert not wrong, "\n".join(wrong)
    assert after == before


def test_the_script_writes_the_corpus_it_lists(tmp_path: Path) -> None:
    script = Path(__file__).with_name("fuzz_corpus.py")
    env = {**os.environ, "PAPERFEED_SHARED": str(SHARED)}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert done.stdout.startswith(f"{len(manifest)} files")
    assert {c["file"] for c in manifest} >= {"arxiv-atom.entity", "ris.no-end-tag"}
    assert all((tmp_path / c["file"]).stat().st_size or "empty" in c["file"] for c in manifest)
