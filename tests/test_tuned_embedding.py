"""Fine-tuning MiniLM on authorship: the pipeline, and the file it writes as the product runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import corpus_slice
from paperfeed.embed.model import MiniLM, ModelError, paper_text
from paperfeed.evaluate.daily_feed import name_parity

ROOT = Path(__file__).resolve().parents[1]


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model file"):
        MiniLM(model_file=tmp_path / "gone.onnx")


def _tiny_corpus(path: Path) -> None:
    """Fourteen real papers listed in 2025: three each by four made-up authors with even
    names, and two by one with an odd name, whom the training must never read."""
    even = [n for n in (f"Author {i}" for i in range(40)) if name_parity(n) == "even"][:4]
    odd = next(n for n in (f"Author {i}" for i in range(40)) if name_parity(n) == "odd")
    rows = [r for r in corpus_slice(0, 200) if r["listing_date"] < "2026-01-01"][:14]
    with path.open("w") as f:
        for i, row in enumerate(rows):
            row["authors"] = [even[i // 3]] if i < 12 else [odd]
            f.write(json.dumps(row) + "\n")


def test_the_training_pipeline_writes_a_model_the_product_runs(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    corpus = tmp_path / "corpus.jsonl"
    _tiny_corpus(corpus)
    texts = [paper_text(r["title"], r["summary"]) for r in corpus_slice(0, 4)]
    bundled = MiniLM(threads=1).embed(texts)
    vectors = {}
    for steps in (0, 3):
        out = tmp_path / f"steps{steps}.onnx"
        run = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "train_minilm.py"),
                "--corpus",
                str(corpus),
                "--out",
                str(out),
                "--steps",
                str(steps),
                "--batch",
                "2",
                "--lr",
                "1e-3",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        assert "4 even authors" in run.stdout
        model = MiniLM(model_file=out, threads=1)
        assert model.name == f"paperfeed-steps{steps}-128"
        vectors[steps] = model.embed(texts)
    # untrained, the export is the bundled model (both int8, from the same float weights)
    assert (vectors[0] * bundled).sum(axis=1).min() > 0.98
    # three steps at a high rate move it
    assert (vectors[3] * bundled).sum(axis=1).min() < 0.98
