"""TF1's gradient clipping: ``clip_by_norm``, ``global_norm``, ``clip_by_global_norm``.

Written as TF writes them (the global norm is ``sqrt(2 * sum(l2_loss(t)))``,
the scale ``clip_norm * minimum(1 / norm, 1 / clip_norm)``), so clipped
gradients match TF's to float rounding. ``None`` entries pass through, as in TF.
"""

from __future__ import annotations

from . import array_ops as A
from . import math_ops as M
from ._convert import to_tensor


def clip_by_norm(t, clip_norm, axes=None, name=None):
    """t * clip_norm / max(||t||, clip_norm) over ``axes`` (all by default)."""
    t = to_tensor(t)
    l2sum = M.reduce_sum(t * t, axes, keepdims=True)
    pred = l2sum > 0
    l2sum_safe = A.where(pred, l2sum, A.ones_like(l2sum))  # a zero norm has no gradient trouble
    l2norm = A.where(pred, M.sqrt(l2sum_safe), l2sum)
    clip = M.cast(clip_norm, t.dtype)
    return M.truediv(t * clip, M.maximum(l2norm, clip))


def global_norm(t_list, name=None):
    """sqrt(sum of squares of every element of every tensor in ``t_list``), skipping None."""
    from .nn_ops import l2_loss

    ts = [to_tensor(t) for t in t_list if t is not None]
    if not ts:
        raise ValueError("global_norm: t_list has no tensors")
    half_squared_norms = A.stack([l2_loss(t) for t in ts])
    return M.sqrt(M.reduce_sum(half_squared_norms) * 2.0)


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """(list of tensors scaled by clip_norm / max(global_norm, clip_norm), global_norm)."""
    if not isinstance(t_list, (list, tuple)):
        raise TypeError("t_list should be a sequence")
    t_list = list(t_list)
    norm = global_norm(t_list) if use_norm is None else to_tensor(use_norm)
    clip = M.cast(clip_norm, norm.dtype)
    scale = clip * M.minimum(1.0 / norm, 1.0 / clip)
    out = [None if t is None else to_tensor(t) * M.cast(scale, to_tensor(t).dtype) for t in t_list]
    return out, norm


__all__ = ["clip_by_norm", "global_norm", "clip_by_global_norm"]
