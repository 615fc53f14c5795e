"""Training the static embedding (:mod:`paperfeed.embed.static`) from who writes what.

The pipeline, each step a function here, run end to end by ``bench/train_embedding.py``:

1. :func:`distill`: each word piece alone through the bundled MiniLM, mean-pooled (the
   Model2Vec recipe), then :func:`initial_vectors` reduces them by PCA and gives new words
   the mean of their pieces and word pairs the mean of their words, weighted by idf.
2. :func:`vocabulary`: MiniLM's word pieces plus the corpus's frequent whole words, and the
   frequent pairs of adjacent whole words.
3. :func:`train`: papers that share an author are pulled together and the rest of the batch
   pushed apart (InfoNCE both ways, in-batch negatives; optionally a hard negative per
   pair: a paper of the same day and category with no shared author), features dropped at
   random, Adam on the rows a batch touches. The gradient is written out by hand in NumPy:
   the model is one sparse product, and PyTorch's CPU-only wheels are not on PyPI.

Deterministic for a seed. The features are the shipped model's own (:class:`Featurizer`).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from paperfeed.embed.static import Featurizer
from paperfeed.normalize import name_key


def distill(session: object, pieces: int, batch: int = 1024) -> np.ndarray:
    """Each word piece as ``[CLS] piece [SEP]`` through a MiniLM onnxruntime session,
    mean-pooled: a ``pieces x 384`` matrix."""
    out = []
    for start in range(0, pieces, batch):
        ids = np.arange(start, min(start + batch, pieces), dtype=np.int64)
        x = np.stack([np.full(len(ids), 101), ids, np.full(len(ids), 102)], axis=1)
        feed = {"input_ids": x, "attention_mask": np.ones_like(x), "token_type_ids": 0 * x}
        out.append(session.run(None, feed)[0].mean(axis=1))  # type: ignore[attr-defined]
    return np.concatenate(out).astype(np.float32)


def vocabulary(
    base_json: str, texts: Sequence[str], min_word_df: int = 3, min_pair_df: int = 10
) -> tuple[str, np.ndarray]:
    """The tokenizer JSON with the frequent whole words of ``texts`` added to its WordPiece
    vocabulary, and the sorted keys of the frequent adjacent word pairs."""
    spec = json.loads(base_json)
    base = Featurizer(base_json, np.zeros(0, dtype=np.int64)).tokenizer
    words: Counter[str] = Counter()
    for text in texts:
        found = base.pre_tokenizer.pre_tokenize_str(base.normalizer.normalize_str(text))
        words.update({w for w, _ in found if any(ch.isalnum() for ch in w)})
    vocab = spec["model"]["vocab"]
    for word in sorted(w for w, n in words.items() if n >= min_word_df and w not in vocab):
        vocab[word] = len(vocab)
    spec["post_processor"] = spec["truncation"] = spec["padding"] = None
    tokenizer_json = json.dumps(spec)
    featurizer = Featurizer(tokenizer_json, np.zeros(0, dtype=np.int64))
    pairs: Counter[int] = Counter()
    for ids in featurizer.ids(texts):
        pairs.update(set(featurizer.pair_keys(ids).tolist()))
    keys = sorted(k for k, n in pairs.items() if n >= min_pair_df)
    return tokenizer_json, np.array(keys, dtype=np.int64)


def initial_vectors(
    featurizer: Featurizer, distilled: np.ndarray, counts: sparse.csr_matrix, dim: int, seed: int
) -> np.ndarray:
    """Starting vectors: the distilled pieces reduced to ``dim`` by PCA; a new word the mean
    of its pieces, a pair the mean of its words; every row times its idf in ``counts``."""
    from sklearn.decomposition import PCA

    centred = distilled - distilled.mean(axis=0)
    reduced = PCA(dim, random_state=seed).fit_transform(centred).astype(np.float32)
    reduced /= np.linalg.norm(reduced, axis=1).mean()
    out = np.zeros((featurizer.rows, dim), dtype=np.float32)
    known = len(distilled)
    out[:known] = reduced
    inverse = {i: w for w, i in featurizer.tokenizer.get_vocab().items()}
    base = Featurizer(json.dumps(_base_spec(featurizer, known)), np.zeros(0, dtype=np.int64))
    for i in range(known, featurizer.pieces):
        pieces = base.ids([inverse[i]])[0]
        out[i] = reduced[pieces].mean(axis=0) if len(pieces) else 0.0
    pairs = featurizer.bigrams
    left, right = pairs // featurizer.pieces, pairs % featurizer.pieces
    out[featurizer.pieces :] = (out[left] + out[right]) / 2
    df = np.asarray((counts > 0).sum(axis=0)).ravel()
    idf = np.log((counts.shape[0] + 1) / (df + 1)).astype(np.float32)
    return out * idf[:, None]


def _base_spec(featurizer: Featurizer, known: int) -> dict[str, object]:
    spec = json.loads(featurizer.tokenizer.to_str())
    spec["model"]["vocab"] = {w: i for w, i in spec["model"]["vocab"].items() if i < known}
    return dict(spec)


def author_groups(
    authors: Sequence[Sequence[str]],
    usable: Callable[[int, str], bool],
    max_authors: int = 25,
    max_papers: int = 200,
) -> list[np.ndarray]:
    """Rows of the papers each author (by name key) wrote, for the authors and papers
    ``usable(row, name)`` allows; papers with more than ``max_authors`` names left out (a
    collaboration is no sign of a shared topic), and names on more than ``max_papers``
    papers (many people share them)."""
    by: dict[str, list[int]] = defaultdict(list)
    for row, names in enumerate(authors):
        if len(names) > max_authors:
            continue
        for name in names:
            if usable(row, name):
                by[name_key(name)].append(row)
    papers = (sorted(set(rows)) for _, rows in sorted(by.items()))
    return [np.array(rows) for rows in papers if 2 <= len(rows) <= max_papers]


@dataclass
class Settings:
    steps: int = 600
    batch: int = 512
    lr: float = 3e-3
    temperature: float = 0.05
    drop: float = 0.0  # share of a paper's features dropped at each use
    hard: bool = False
    #: weight of keeping the teacher's similarities among a batch of papers
    teacher_weight: float = 0.0
    seed: int = 0


def train(
    counts: sparse.csr_matrix,
    groups: Sequence[np.ndarray],
    vectors: np.ndarray,
    settings: Settings,
    hard_pool: Callable[[int, np.random.Generator], int] | None = None,
    progress: Callable[[int, float], None] | None = None,
    teacher: np.ndarray | None = None,
) -> np.ndarray:
    """``vectors`` trained so that two papers of one group score above the batch's others.

    Each step draws ``batch`` groups, two papers of each (anchor and positive); with
    ``settings.hard`` and ``hard_pool`` each anchor also gets a negative of its own. With a
    ``teacher`` (unit vectors of another model, a row per ``counts`` row, zero where it has
    none) and ``settings.teacher_weight``, a batch of papers also keeps the cosines the
    teacher gives them (squared error of the two cosine matrices): what the other model knows
    of topics is kept while authorship is learned."""
    rng = np.random.default_rng(settings.seed)
    e = vectors.astype(np.float32).copy()
    m, v = np.zeros_like(e), np.zeros_like(e)
    b1, b2, tau = 0.9, 0.999, settings.temperature

    def encode(rows: list[int]) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
        a = counts[rows]
        if settings.drop:
            a = a.copy()
            a.data *= rng.random(len(a.data)) >= settings.drop
            a.eliminate_zeros()
        x = np.asarray(a @ e)
        norm = np.linalg.norm(x, axis=1, keepdims=True) + 1e-8
        return a, x / norm, norm

    taught = np.flatnonzero(np.abs(teacher).sum(axis=1)) if teacher is not None else None
    for step in range(1, settings.steps + 1):
        anchors, others = [], []
        for g in rng.integers(len(groups), size=settings.batch):
            x, y = rng.choice(groups[g], 2, replace=False)
            anchors.append(int(x))
            others.append(int(y))
        if settings.hard and hard_pool is not None:
            others += [hard_pool(x, rng) for x in anchors]
        aq, u, nq = encode(anchors)
        ak, w, nk = encode(others)
        n = len(anchors)
        logits = u @ w.T / tau
        rows = _softmax(logits, 1)
        cols = _softmax(logits[:, :n], 0)
        loss = float(-np.log(rows[np.arange(n), np.arange(n)] + 1e-12).mean())
        grad = rows
        grad[np.arange(n), np.arange(n)] -= 1
        grad[:, :n] += cols
        grad[np.arange(n), np.arange(n)] -= 1
        grad /= n
        du, dw = grad @ w / tau, grad.T @ u / tau
        dx = (du - u * (u * du).sum(axis=1, keepdims=True)) / nq
        dy = (dw - w * (w * dw).sum(axis=1, keepdims=True)) / nk
        parts, grads = [aq, ak], [dx, dy]
        if teacher is not None and taught is not None and settings.teacher_weight:
            rows_t = [int(r) for r in rng.choice(taught, min(settings.batch, len(taught)))]
            at, z, nt = encode(rows_t)
            target = teacher[rows_t]
            diff = z @ z.T - target @ target.T
            dz = settings.teacher_weight * 4 * (diff @ z) / len(rows_t)
            parts.append(at)
            grads.append((dz - z * (z * dz).sum(axis=1, keepdims=True)) / nt)
        # Adam on the rows this batch touched only (lazy Adam): a step costs the batch's
        # features, not the whole vocabulary
        both = sparse.vstack(parts, format="csr")
        touched, local = np.unique(both.indices, return_inverse=True)
        shape = (both.shape[0], len(touched))
        both = sparse.csr_matrix((both.data, local, both.indptr), shape=shape)
        g = np.asarray(both.T @ np.vstack(grads))
        m[touched] = b1 * m[touched] + (1 - b1) * g
        v[touched] = b2 * v[touched] + (1 - b2) * g * g
        step_size = settings.lr * np.sqrt(1 - b2**step) / (1 - b1**step)
        e[touched] -= step_size * m[touched] / (np.sqrt(v[touched]) + 1e-8)
        if progress is not None:
            progress(step, loss)
    return e


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)
