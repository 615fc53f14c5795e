"""Products of sparse rows over a large vocabulary, cut to the columns they use.

The rare-terms space has ~1M columns; scipy builds index arrays as long as the vocabulary
for every product, which costs more than the product itself. :class:`Rows` cuts a set of rows
once to the columns it uses and serves many products with other rows from there.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse


class Rows:
    """Sparse rows cut to the columns they use, once, for many products with other rows.

    Over ~1M rare terms scipy's product builds index arrays as long as the vocabulary,
    which costs more than the product; a day's candidates use ~25k of them. Up to
    ``dense_limit`` cells the cut rows are also kept dense, and a product with a profile's
    few rows is then one sparse-times-dense product (~0.1 ms)."""

    def __init__(self, matrix: Any, dense_limit: int = 0) -> None:
        m = sparse.csr_matrix(matrix)
        self.n = m.shape[0]
        self.columns, inverse = np.unique(m.indices, return_inverse=True)
        self.small = sparse.csr_matrix(
            (m.data, inverse.ravel(), m.indptr), shape=(self.n, self.columns.size)
        )
        # where each of the matrix's columns went (-1: unused), for the other side's indices
        self.position = np.full(m.shape[1] + 1, -1, dtype=np.int32)
        self.position[self.columns] = np.arange(self.columns.size, dtype=np.int32)
        cells = self.n * self.columns.size
        self.dense = None  # C order: scipy copies anything else on every product
        if 0 < cells <= dense_limit:
            self.dense = np.ascontiguousarray(self.small.T.toarray())

    def dot(self, other: Any) -> np.ndarray:
        """``self @ other.T`` as a dense array."""
        o = sparse.csr_matrix(other)
        if not self.columns.size or not o.nnz:
            return np.zeros((self.n, o.shape[0]))
        at = self.position[np.minimum(o.indices, self.position.size - 1)]
        keep = at >= 0
        kept_before = np.zeros(keep.size + 1, dtype=np.int64)  # kept entries before each one
        np.cumsum(keep, out=kept_before[1:])
        # in the rows' own dtype: a float64 side would have scipy copy the dense rows upcast
        cut = sparse.csr_matrix(
            (o.data[keep].astype(self.small.dtype, copy=False), at[keep], kept_before[o.indptr]),
            shape=(o.shape[0], self.columns.size),
        )
        if self.dense is not None:
            return np.asarray(cut @ self.dense).T
        return np.asarray((self.small @ cut.T).toarray())


def cosines(candidates: Any, profile: Any) -> np.ndarray:
    """``candidates @ profile.T`` as a dense array (rows are unit length: cosines). Sparse
    rows over ~1M terms are cut to the candidates' terms first (:class:`Rows`); candidates
    already cut (a :class:`Rows`, for many products) are used as they are."""
    if isinstance(candidates, Rows):
        return candidates.dot(profile)
    if not sparse.issparse(candidates):
        return np.asarray(candidates @ profile.T)
    return Rows(candidates).dot(profile)
