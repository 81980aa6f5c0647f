"""Fused NN primitives kept for speed and numerics: softmax and log_softmax.

Their compositions (exp / sum, x - logsumexp) are the test references.
"""

from __future__ import annotations

from .. import ops as F
from ..op import NN, primitive
from ._rules import same_shape, wrap_dim


def _softmax_impl(xp, x, axis):
    if x.ndim == 0:
        return xp.ones_like(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True)) if x.size else x.copy()
    e /= xp.sum(e, axis=axis, keepdims=True)
    return e


def _softmax_vjp(g, x, *, out, axis, **_):
    if g.ndim == 0:
        return (g * 0.0,)
    gy = g * out
    return (gy - out * F.sum(gy, dim=axis, keepdim=True),)


def _check_axis(x, axis):
    wrap_dim(axis, x.ndim, "softmax")
    return x.shape


softmax_ = primitive(
    "softmax",
    kind=NN,
    impl=_softmax_impl,
    shape=_check_axis,
    vjp=_softmax_vjp,
    dtype="float",
    saves=("out",),
    onnx="Softmax",
    sample=dict(cases="softmax"),
)


def _log_softmax_impl(xp, x, axis):
    if x.ndim == 0:
        return xp.zeros_like(x)
    if x.size == 0:
        return x.copy()
    s = x - xp.max(x, axis=axis, keepdims=True)
    s -= xp.log(xp.sum(xp.exp(s), axis=axis, keepdims=True))
    return s


def _log_softmax_vjp(g, x, *, out, axis, **_):
    if g.ndim == 0:
        return (g * 0.0,)
    return (g - F.exp(out) * F.sum(g, dim=axis, keepdim=True),)


log_softmax_ = primitive(
    "log_softmax",
    kind=NN,
    impl=_log_softmax_impl,
    shape=_check_axis,
    vjp=_log_softmax_vjp,
    dtype="float",
    saves=("out",),
    onnx="LogSoftmax",
    sample=dict(cases="softmax"),
)

__all__ = ["same_shape"]
