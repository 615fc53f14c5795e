"""The reviewer-expertise gold standard (Stelmakh, Wieting, Neubig & Shah, 2023).

58 researchers rated their expertise (1-5) to review papers they had read. A method scores
each (researcher, paper) pair from the researcher's own papers (the ``d_20_*`` sets, in
OpenReview's format: ``archives/~ID.jsonl`` and ``submissions.json``). Metrics, as the
paper defines them:

- loss: over each researcher's pairs of rated papers, the share of expertise difference the
  predicted order gets wrong (ties cost half);
- easy / hard triple accuracy: pairs with one paper rated 4+ and the other 2-, or both 4+
  with different ratings, ordered right.

paperfeed's affinity reads rare terms weighed as a store weighs them: fitted over background
papers (the arXiv corpus, as a store holds it) together with every set's papers, as they would
be once the reviewers' papers and the submissions are ingested. Without background papers the
terms are fitted on each set's ~1,300 papers alone, whose document frequencies are noisy.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from paperfeed.embed.model import Embedder, paper_text
from paperfeed.errors import InputError
from paperfeed.match.expertise import expertise_scores
from paperfeed.recommend.evidence import Papers
from paperfeed.recommend.lexical import fit_terms

Scores = dict[str, dict[str, float]]  # researcher -> paper -> value
#: A set as read: submissions ``{paper id: text}`` and archives ``{researcher: [texts]}``.
Dataset = tuple[dict[str, str], dict[str, list[str]]]


def load_ratings(root: Path | str) -> Scores:
    path = Path(root) / "evaluations.csv"
    try:
        with path.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except OSError as e:
        raise InputError(f"{path}: cannot read ratings ({e})") from e
    ratings: Scores = {}
    for n, row in enumerate(rows, 2):
        for k in range(1, 11):
            paper, value = row.get(f"Paper{k}"), row.get(f"Expertise{k}")
            if paper and value:
                try:
                    ratings.setdefault(row["ParticipantID"], {})[paper] = float(value)
                except (KeyError, ValueError) as e:
                    raise InputError(f"{path}:{n}: bad rating ({e})") from e
    return ratings


def loss(predicted: Scores, ratings: Scores, papers: set[str]) -> float:
    lost = total = 0.0
    for researcher, rated in ratings.items():
        if researcher not in predicted:
            continue
        for p1, p2 in combinations([p for p in rated if p in papers], 2):
            truth = rated[p1] - rated[p2]
            guess = predicted[researcher][p1] - predicted[researcher][p2]
            total += abs(truth)
            if guess * truth == 0:
                lost += abs(truth) / 2
            elif guess * truth < 0:
                lost += abs(truth)
    return lost / total if total else 0.0


def triple_accuracy(predicted: Scores, ratings: Scores, papers: set[str], hard: bool) -> float:
    right = pairs = 0
    for researcher, rated in ratings.items():
        if researcher not in predicted:
            continue
        for p1, p2 in combinations([p for p in rated if p in papers], 2):
            s1, s2 = rated[p1], rated[p2]
            if s1 == s2:
                continue
            if hard and min(s1, s2) < 4:
                continue
            if not hard and (max(s1, s2) < 4 or min(s1, s2) > 2):
                continue
            pairs += 1
            right += (predicted[researcher][p1] - predicted[researcher][p2]) * (s1 - s2) > 0
    return right / pairs if pairs else 0.0


def metrics(predicted: Scores, ratings: Scores, papers: set[str]) -> dict[str, float]:
    return {
        "loss": loss(predicted, ratings, papers),
        "easy": triple_accuracy(predicted, ratings, papers, hard=False),
        "hard": triple_accuracy(predicted, ratings, papers, hard=True),
    }


def read_dataset(folder: Path) -> Dataset:
    """Submissions ``{paper id: text}`` and archives ``{researcher: [texts]}``."""

    def text(item: dict[str, Any]) -> str:
        content = item.get("content") or {}
        return paper_text(content.get("title"), content.get("abstract"))

    try:
        subs = json.loads((folder / "submissions.json").read_text(encoding="utf-8"))
        submissions = {pid: text(item) for pid, item in subs.items()}
        archives = {}
        for path in sorted((folder / "archives").glob("~*.jsonl")):
            lines = path.read_text(encoding="utf-8").splitlines()
            archives[path.stem.lstrip("~")] = [text(json.loads(x)) for x in lines if x.strip()]
    except (OSError, ValueError, AttributeError) as e:
        raise InputError(f"{folder}: not an OpenReview-format evaluation set ({e})") from e
    return submissions, archives


def rare_terms(background: Sequence[str], datasets: Sequence[Dataset]) -> Any:
    """The rare-terms vectorizer fitted over ``background`` texts and every paper of the
    ``datasets`` (each text once)."""
    seen = dict.fromkeys(
        t
        for submissions, archives in datasets
        for t in [*submissions.values(), *(t for papers in archives.values() for t in papers)]
    )
    vectorizer, _ = fit_terms([*background, *seen])
    return vectorizer


def paperfeed_affinity(dataset: Dataset, embedder: Embedder, vectorizer: Any = None) -> Scores:
    """Each researcher's expertise affinity to each submission (:func:`expertise_scores`),
    from their own papers; rare terms from ``vectorizer`` (:func:`rare_terms`), else fitted
    on the set's papers."""
    submissions, archives = dataset
    sub_ids = list(submissions)
    texts = [submissions[p] for p in sub_ids]
    owners: list[str] = []
    for researcher, papers in archives.items():
        texts += papers
        owners += [researcher] * len(papers)
    if vectorizer is not None:
        terms = vectorizer.transform(texts).tocsr()
    else:
        _, terms = fit_terms(texts, min_df=1, max_df=0.5)
    vectors = embedder.embed(texts)
    everything = Papers(None, terms, vectors, [[] for _ in texts])
    n = len(sub_ids)
    candidates = everything.take(np.arange(n))
    owner = np.array(owners)
    out: Scores = {}
    for researcher in archives:
        mine = n + np.flatnonzero(owner == researcher)
        if not len(mine):
            continue
        score = expertise_scores(everything.take(mine), candidates)
        out[researcher] = dict(zip(sub_ids, np.asarray(score, dtype=float).tolist(), strict=True))
    return out


def evaluate(
    root: Path | str,
    embedder: Embedder,
    datasets: Sequence[str] | None = None,
    background: Sequence[str] = (),
) -> dict[str, Any]:
    """Shipped predictions (where present) and paperfeed, averaged over the ``d_20_*`` sets;
    paperfeed's rare terms fitted over the ``background`` texts with the sets' papers
    (:func:`rare_terms`), or over each set alone when there are none."""
    root = Path(root)
    ratings = load_ratings(root)
    names = list(datasets or sorted(p.name for p in (root / "evaluation_datasets").glob("d_20_*")))
    if not names:
        raise InputError(f"{root}: no d_20_* evaluation sets")
    sets = {name: read_dataset(root / "evaluation_datasets" / name) for name in names}
    vectorizer = rare_terms(background, list(sets.values())) if background else None
    results: dict[str, list[dict[str, float]]] = {}
    for name, dataset in sets.items():
        papers = set(dataset[0])
        for path in sorted((root / "predictions").glob(f"*_{name}_ta.json")):
            method = path.name.removesuffix(f"_{name}_ta.json")
            predicted = json.loads(path.read_text(encoding="utf-8"))
            results.setdefault(method, []).append(metrics(predicted, ratings, papers))
        predicted = paperfeed_affinity(dataset, embedder, vectorizer)
        results.setdefault("paperfeed", []).append(metrics(predicted, ratings, papers))
    return {
        method: {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} | {"sets": len(rows)}
        for method, rows in results.items()
    }
