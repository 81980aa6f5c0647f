"""Gradient clipping by total norm or by value, in place on the gradients' arrays."""

from __future__ import annotations

import math

import numpy as np

from ... import dtypes as dt
from ... import ops as F
from ...autograd.grad_mode import no_grad
from ...devices import xp_of
from ...tensor import Tensor, _make


def _grads(tensors):
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    return [t for t in tensors if t is not None]


def _norm(t, norm_type):
    """One gradient's norm in float64, as a 0-d tensor (ember ops: it traces inside ember.compile)."""
    a = F.cast(t, dtype=dt.float64) if t.dtype is not dt.float64 else t
    if norm_type == math.inf:
        return a.abs().max() if a.numel() else F.tensor(0.0, dtype=dt.float64)
    if norm_type == -math.inf:
        return a.abs().min() if a.numel() else F.tensor(math.inf, dtype=dt.float64)
    if norm_type == 0:
        return F.cast((a != 0).sum(), dtype=dt.float64)
    if norm_type == 2:
        return (a * a).sum().sqrt()
    if norm_type == 1:
        return a.abs().sum()
    return (a.abs() ** norm_type).sum() ** (1.0 / norm_type)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the norms of ``tensors`` (as if they were concatenated into one vector).

    Written in ember ops with no host sync, so a compiled training step can clip; the numbers are
    eager's: each norm in float64, the total in float64, returned in the first gradient's dtype.
    """
    tensors = _grads(tensors)
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return _make(np.asarray(0.0, dtype=np.float32))
    with no_grad():
        norms = [_norm(t, norm_type) for t in tensors]
        total = _norm(F.stack([n.to(norms[0].device) for n in norms]), norm_type)
        if error_if_nonfinite and not bool(total.isfinite()):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot "
                "be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
                "`error_if_nonfinite=False`"
            )
        first = tensors[0]
        return F.cast(total, dtype=first.dtype if first.is_floating_point() else dt.float32)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale the gradients by ``min(max_norm / (total_norm + 1e-6), 1)``, in place."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p._grad for p in parameters if p._grad is not None]
    if not grads:
        return
    dtype = grads[0].dtype
    with no_grad():
        tn = total_norm if isinstance(total_norm, Tensor) else F.tensor(float(total_norm), dtype=dt.float64)
        coef = float(max_norm) / (F.cast(tn, dtype=dtype) + 1e-6)  # in the gradients' dtype, as PyTorch
        coef = F.minimum(coef, F.ones_like(coef))  # NaN stays NaN
        for g in grads:
            g.mul_(coef if g.dtype is dtype else F.cast(coef, dtype=g.dtype))


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
