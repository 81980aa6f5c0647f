"""``torch.linalg``: norms and products over the op table (decompositions are not in ember yet)."""

from __future__ import annotations

from .ops import matmul, vector_norm  # noqa: F401
from .ops import norm as _norm


def norm(input, ord=None, dim=None, keepdim=False, *, dtype=None):
    """Vector 2-norm by default; ``ord`` follows vector_norm (matrix norms need dim pairs)."""
    if ord is None:
        ord = 2
    if isinstance(ord, str) and ord == "fro":
        ord = 2
    return _norm(input, ord, dim, keepdim, dtype=dtype)
