"""Embedding lookup (torch.nn.functional.embedding): rows of a table gathered by index."""
from __future__ import annotations

from .. import _backend

__all__ = ["embedding"]


def embedding(indices, weight, padding_idx=None, *, backend=None):
    """weight[indices]: indices [*] int64, weight [num_embeddings, embedding_dim]; returns
    [*, embedding_dim]. padding_idx (as torch) only marks a row that training leaves alone; the
    lookup itself returns that row like any other (nn.Embedding initialises it to zeros).
    Indices outside [0, num_embeddings) are an IndexError naming the first bad one.

    Example:
        >>> w = np.arange(6, dtype=np.float32).reshape(3, 2)
        >>> pydeepkit.ops.embedding(np.array([2, 0]), w).tolist()
        [[4.0, 5.0], [0.0, 1.0]]
    """
    op = "embedding"
    call = _backend.resolve(op, backend, indices=indices, weight=weight)
    iv = call.view(indices, "indices", dtypes=("int64", "int32"))
    wv = call.view(weight, "weight")
    if wv.ndim != 2:
        raise ValueError(f"{op}: weight must be [num_embeddings, embedding_dim], got shape {tuple(wv.shape)}")
    n = wv.shape[0]
    if padding_idx is not None and not -n <= padding_idx < n:
        raise ValueError(f"{op}: padding_idx must be in [{-n}, {n - 1}], got {padding_idx}")
    if iv.size:
        lo, hi = int(iv.min()), int(iv.max())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{op}: indices must be in [0, {n - 1}] (num_embeddings = {n}), got {bad}")
    return call.result(call.xp.take(wv, iv, axis=0))
