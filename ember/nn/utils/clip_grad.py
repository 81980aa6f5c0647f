"""Gradient clipping by total norm or by value, in place on the gradients' arrays."""

from __future__ import annotations

import math

import numpy as np

from ...devices import move, xp_of
from ...tensor import Tensor, _make


def _grads(tensors):
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    return [t for t in tensors if t is not None]


def _norm(xp, a, norm_type):
    a = a.astype(xp.float64) if a.dtype != xp.float64 else a
    if norm_type == math.inf:
        return float(xp.abs(a).max()) if a.size else 0.0
    if norm_type == -math.inf:
        return float(xp.abs(a).min()) if a.size else math.inf
    if norm_type == 0:
        return float(xp.count_nonzero(a))
    if norm_type == 2:
        return float(xp.sqrt((a * a).sum()))
    if norm_type == 1:
        return float(xp.abs(a).sum())
    return float((xp.abs(a) ** norm_type).sum() ** (1.0 / norm_type))


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the norms of ``tensors`` (as if they were concatenated into one vector)."""
    tensors = _grads(tensors)
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return _make(np.asarray(0.0, dtype=np.float32))
    norms = [_norm(xp_of(t._data), t._data, norm_type) for t in tensors]
    total = _norm(np, np.asarray(norms, dtype=np.float64), norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be "
            "clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
            "`error_if_nonfinite=False`"
        )
    first = tensors[0]
    dtype = first._data.dtype if first._data.dtype.kind == "f" else np.float32
    arr = np.asarray(total, dtype=dtype)
    if first.device.type != "cpu":
        arr = move(arr, first.device)
    return _make(arr)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients by ``max_norm / (total_norm + 1e-6)`` when that is below 1."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p._grad for p in parameters if p._grad is not None]
    if not grads:
        return
    tn = float(total_norm) if isinstance(total_norm, Tensor) else float(total_norm)
    dtype = grads[0]._data.dtype
    coef = np.asarray(max_norm, dtype=dtype) / (np.asarray(tn, dtype=dtype) + np.asarray(1e-6, dtype=dtype))
    coef = min(coef, np.asarray(1.0, dtype=dtype)) if not np.isnan(coef) else coef
    for g in grads:
        d = g._data
        d *= coef.astype(d.dtype) if d.dtype != dtype else coef
        g._bump_version()


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Clip the gradients' total norm to ``max_norm`` in place; returns the total norm (a tensor)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        parameters = list(parameters)
    grads = [p._grad for p in parameters if p._grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated alias of ``clip_grad_norm_``."""
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient to ``[-clip_value, clip_value]`` in place."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    clip_value = float(clip_value)
    for p in parameters:
        g = p._grad
        if g is None:
            continue
        xp = xp_of(g._data)
        xp.clip(g._data, -clip_value, clip_value, out=g._data)
        g._bump_version()
