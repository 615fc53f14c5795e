"""The bundled static embedding and the pipeline that trains it."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from paperfeed.embed import load_embedder
from paperfeed.embed.model import ModelError
from paperfeed.embed.static import BUNDLED, Featurizer, StaticModel, save
from paperfeed.embed.training import Settings, author_groups, train, vocabulary

TEXTS = [
    "Attention is all you need. We propose the Transformer, based solely on attention.",
    "Self-attention networks for machine translation replace recurrence entirely.",
    "A survey of soil microbiology and nitrogen fixation in legumes.",
]


@pytest.fixture(scope="module")
def model() -> StaticModel:
    return StaticModel()


def _base_tokenizer() -> str:
    files = resources.files("paperfeed.embed") / "data" / "all-MiniLM-L6-v2.tokenizer.json"
    return files.read_text(encoding="utf-8")


def test_bundled_model_is_small_and_named(model: StaticModel) -> None:
    size = (resources.files("paperfeed.embed") / "data" / BUNDLED).stat().st_size  # type: ignore[attr-defined]
    assert size <= 30_000_000
    assert model.name.startswith("paperfeed-static-")
    assert load_embedder({"embedder": "static"}).name == model.name


def test_vectors_are_unit_and_related_texts_closer(model: StaticModel) -> None:
    v = model.embed(TEXTS)
    assert v.shape == (3, model.dim) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_a_vector_does_not_depend_on_its_batch(model: StaticModel) -> None:
    alone = model.embed([TEXTS[2]])[0]
    together = model.embed([TEXTS[0], "word " * 3000, TEXTS[2]])[2]
    assert np.allclose(alone, together, atol=1e-6)


def test_empty_and_huge_texts(model: StaticModel) -> None:
    assert model.embed([]).shape == (0, model.dim)
    v = model.embed(["", "word " * 50_000])
    assert not v[0].any()  # nothing to embed: a zero vector, never NaN
    assert np.isclose(np.linalg.norm(v[1]), 1)


def test_word_pairs_count_as_features_of_their_own(model: StaticModel) -> None:
    f = model.featurizer
    counts = f.counts(["graph neural networks", "networks neural graph"])
    pieces = counts[:, : f.pieces].toarray()
    assert (pieces[0] == pieces[1]).all()  # the same words...
    assert counts[0, f.pieces :].sum() >= 1  # ...but only the first holds a known pair
    assert counts[0, f.pieces :].sum() != counts[1, f.pieces :].sum()


def test_a_damaged_model_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"model\.npz"):
        StaticModel(bad)
    whole = (resources.files("paperfeed.embed") / "data" / BUNDLED).read_bytes()
    bad.write_bytes(whole[: len(whole) // 2])  # cut short
    with pytest.raises(ModelError, match=r"model\.npz"):
        StaticModel(bad)


def _toy_corpus() -> tuple[list[str], list[list[str]]]:
    """Two authors, each writing on their own topic in their own words."""
    rng = np.random.default_rng(1)
    topics = {
        "Ada One": "graph neural networks message passing node classification",
        "Bo Two": "soil microbiology nitrogen fixation legumes bacteria",
        "Cy Three": "quantum error correction surface codes qubits decoding",
    }
    texts, authors = [], []
    for name, words in topics.items():
        vocab = words.split()
        for _ in range(12):
            texts.append(" ".join(rng.choice(vocab, 6)) + " study results method")
            authors.append([name])
    return texts, authors


def test_training_pulls_an_authors_papers_together(tmp_path: Path) -> None:
    texts, authors = _toy_corpus()
    tokenizer_json, pairs = vocabulary(_base_tokenizer(), texts, min_word_df=2, min_pair_df=2)
    assert "microbiology" in json.loads(tokenizer_json)["model"]["vocab"]  # a word added whole
    featurizer = Featurizer(tokenizer_json, pairs)
    counts = featurizer.counts(texts)
    groups = author_groups(authors, lambda row, name: True)
    assert len(groups) == 3
    start = np.random.default_rng(0).normal(0, 0.1, (featurizer.rows, 16)).astype(np.float32)

    def separation(vectors: np.ndarray) -> float:
        x = np.asarray(counts @ vectors)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        sims = x @ x.T
        same = np.equal.outer(np.repeat([0, 1, 2], 12), np.repeat([0, 1, 2], 12))
        return float(sims[same].mean() - sims[~same].mean())

    losses: list[float] = []
    trained = train(
        counts,
        groups,
        start,
        Settings(steps=60, batch=3, lr=0.05, temperature=0.1),
        progress=lambda step, loss: losses.append(loss),
    )
    assert separation(trained) > separation(start) + 0.2
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    again = train(counts, groups, start, Settings(steps=60, batch=3, lr=0.05, temperature=0.1))
    assert np.array_equal(trained, again)  # one seed, one result

    path = tmp_path / "toy.npz"
    save(path, "toy-static", tokenizer_json, pairs, trained)
    model = StaticModel(path)
    expected = np.asarray(featurizer.counts(texts[:2]) @ trained)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert model.name == "toy-static"
    assert np.allclose(model.embed(texts[:2]), expected, atol=0.02)  # int8 rows


def test_author_groups_leave_out_large_collaborations_and_unusable_names() -> None:
    authors = [["A B", "C D"], ["A B"], ["C D"], [f"N{i}" for i in range(30)] + ["A B"]]
    groups = author_groups(authors, lambda row, name: name != "C D", max_authors=25)
    assert [g.tolist() for g in groups] == [[0, 1]]


def test_a_teacher_keeps_its_cosines_among_the_papers() -> None:
    texts, _ = _toy_corpus()
    tokenizer_json, pairs = vocabulary(_base_tokenizer(), texts, min_word_df=2, min_pair_df=2)
    featurizer = Featurizer(tokenizer_json, pairs)
    counts = featurizer.counts(texts)
    teacher = np.zeros((len(texts), 4), dtype=np.float32)
    teacher[np.arange(len(texts)), np.repeat([0, 1, 2], 12)] = 1.0  # one direction a topic
    teacher[-1] = 0.0  # a paper the teacher has no vector of is never drawn for it
    start = np.random.default_rng(0).normal(0, 0.1, (featurizer.rows, 16)).astype(np.float32)

    def gap(vectors: np.ndarray) -> float:
        x = np.asarray(counts[:-1] @ vectors)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return float(np.abs(x @ x.T - teacher[:-1] @ teacher[:-1].T).mean())

    groups = [np.arange(len(texts))]  # authorship says nothing here: the teacher must
    settings = Settings(steps=80, batch=4, lr=0.05, teacher_weight=50.0)
    trained = train(counts, groups, start, settings, teacher=teacher)
    assert gap(trained) < 0.6 * gap(start)
