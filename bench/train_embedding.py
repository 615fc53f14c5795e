"""Train the static embedding shipped in ``paperfeed/embed/data`` (see
:mod:`paperfeed.embed.training`), reproducibly for a seed, on the CPU.

Held-out rule: the vocabulary, the idf and the pairs come only from papers listed before
2026-01-01, and the pairs only from authors whose name's SHA-1 is even. Later papers and odd
authors are never read for training; ``paperfeed eval daily-feed --parity odd`` checks the
result on them.

    python bench/train_embedding.py --out src/paperfeed/embed/data/static-authorship-v1.npz
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

CUTOFF = "2026-01-01"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", type=Path, default=Path("../shared/data/arxiv-cs-daily/papers.jsonl.gz")
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", default="paperfeed-static-authorship-v1")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--min-word-df", type=int, default=3)
    parser.add_argument("--min-pair-df", type=int, default=10)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--temperature", type=float, default=0.05)
    parser.add_argument("--drop", type=float, default=0.0)
    parser.add_argument("--hard", action="store_true", help="a same-day, same-category negative")
    parser.add_argument(
        "--teacher-weight", type=float, default=0.0, help="keep MiniLM's cosines, this much"
    )
    parser.add_argument("--teacher-papers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from paperfeed.embed.model import MiniLM
    from paperfeed.embed.static import Featurizer, save
    from paperfeed.embed.training import (
        Settings,
        author_groups,
        distill,
        initial_vectors,
        train,
        vocabulary,
    )
    from paperfeed.evaluate.daily_feed import load_corpus, name_parity

    start = time.perf_counter()

    def say(message: str) -> None:
        print(f"[{time.perf_counter() - start:6.0f} s] {message}", flush=True)

    corpus = load_corpus(args.corpus)
    early = [i for i, day in enumerate(corpus.listed) if day < CUTOFF]
    say(f"{len(early)} of {len(corpus.ids)} papers listed before {CUTOFF}")
    minilm = MiniLM()
    base = minilm._tokenizer.to_str()
    tokenizer_json, pairs = vocabulary(
        base, [corpus.texts[i] for i in early], args.min_word_df, args.min_pair_df
    )
    featurizer = Featurizer(tokenizer_json, pairs)
    say(f"vocabulary: {featurizer.pieces} words and pieces, {len(pairs)} word pairs")
    counts = featurizer.counts([corpus.texts[i] for i in early])
    distilled = distill(minilm._sessions[0], minilm._tokenizer.get_vocab_size())
    vectors = initial_vectors(featurizer, distilled, counts, args.dim, args.seed)
    say("distilled from MiniLM")

    early_set = set(early)
    at = {row: n for n, row in enumerate(early)}
    groups = [
        np.array([at[r] for r in g])
        for g in author_groups(
            corpus.authors, lambda row, name: row in early_set and name_parity(name) == "even"
        )
    ]
    papers = len({int(r) for g in groups for r in g})
    say(f"{len(groups)} even authors with 2+ papers ({papers} papers)")
    pool: dict[tuple[str, str], list[int]] = defaultdict(list)
    for n, row in enumerate(early):
        if corpus.categories[row]:
            pool[(corpus.listed[row], corpus.categories[row][0])].append(n)

    def hard(anchor: int, rng: np.random.Generator) -> int:
        row = early[anchor]
        same = pool.get((corpus.listed[row], (corpus.categories[row] or [""])[0]), [])
        pick = same[rng.integers(len(same))] if same else int(rng.integers(len(early)))
        if set(corpus.authors[early[pick]]) & set(corpus.authors[row]):
            pick = int(rng.integers(len(early)))
        return pick

    def progress(step: int, loss: float) -> None:
        if step % 100 == 0:
            say(f"step {step}: loss {loss:.3f}")

    teacher = None
    if args.teacher_weight:
        from paperfeed.embed.model import default_cache_dir
        from paperfeed.evaluate.daily_feed import embed_cached

        rng = np.random.default_rng(args.seed)
        taught = rng.choice(len(early), min(args.teacher_papers, len(early)), replace=False)
        teacher = np.zeros((len(early), minilm.dim), dtype=np.float32)
        texts = [corpus.texts[early[i]] for i in taught]
        teacher[taught] = embed_cached(minilm, texts, default_cache_dir(), say)
        say(f"MiniLM's vectors of {len(taught)} papers to keep their cosines")
    settings = Settings(
        args.steps,
        args.batch,
        args.lr,
        temperature=args.temperature,
        drop=args.drop,
        hard=args.hard,
        teacher_weight=args.teacher_weight,
        seed=args.seed,
    )
    trained = train(counts, groups, vectors, settings, hard, progress, teacher)
    save(args.out, args.name, tokenizer_json, pairs, trained)
    say(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
