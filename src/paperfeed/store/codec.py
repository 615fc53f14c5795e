"""How a store keeps embeddings: int8 with one scale per vector, a quarter of float32's size
and within 1e-4 of its cosines; read back as unit float32 vectors."""

from __future__ import annotations

import numpy as np


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(int8 values, float32 scale per vector)``: ``values * scale`` is the vector."""
    peak = np.abs(vectors).max(axis=1) if len(vectors) else np.zeros(0, np.float32)
    scales = np.where(peak == 0, 1.0, peak / 127.0).astype(np.float32)
    return np.rint(vectors / scales[:, None]).astype(np.int8), scales


def dequantize(values: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Unit float32 vectors from :func:`quantize`'s values and scales."""
    vectors = values.astype(np.float32) * scales[:, None]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def as_stored(vectors: np.ndarray) -> np.ndarray:
    """Vectors as a store gives them back once it has kept them."""
    return dequantize(*quantize(vectors))
