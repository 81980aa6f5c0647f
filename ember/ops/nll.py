"""Negative log-likelihood of (N, C) log-probabilities at class indices, as one primitive and its adjoint.

Composed of ops, ``nll_loss`` with ``ignore_index`` needs both of its paths in a
graph (which targets are ignored is known only when it runs) and a scatter in
backward: about forty NumPy calls in a compiled MLP step. As a primitive it is
one kernel forward and one backward, and it computes exactly what the composed
ops did, bit for bit: ``sum(picked) / -N`` when nothing is ignored, otherwise
``sum(-picked * keep) / sum(keep)``.

``nll_loss_rows(logp, target)`` and ``nll_loss_rows_backward(g, target)`` are
adjoints of each other (the loss is linear in ``logp``), so each one's VJP is
the other and any order of derivative works. Targets out of range raise
IndexError when the kernel runs, in eager code and in graphs.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as dt
from ..op import NN, primitive


def checked_rows(xp, target, n_classes, ignore_index, op):
    """(ignored mask, whether any row is ignored, targets with ignored rows at 0); IndexError for a bad class."""
    ignored = target == ignore_index
    any_ignored = bool(ignored.any()) if target.size else False
    valid = target[~ignored] if any_ignored else target
    if valid.size:
        lo, hi = int(valid.min()), int(valid.max())
        if lo < 0 or hi >= n_classes:
            bad = lo if lo < 0 else hi
            raise IndexError(f"Target {bad} is out of bounds. {op}: class indices must be in [0, {n_classes})")
    safe = xp.where(ignored, 0, target) if any_ignored else target
    return ignored, any_ignored, safe


def _nll_impl(xp, logp, target, ignore_index=-100, reduction="mean"):
    n, c = logp.shape
    ignored, any_ignored, safe = checked_rows(xp, target, c, ignore_index, "nll_loss")
    picked = xp.take_along_axis(logp, safe.reshape(n, 1).astype(np.int64, copy=False), axis=1)  # (N, 1)
    if not any_ignored:
        if reduction == "mean":
            return xp.asarray(picked.sum() / -n)
        if reduction == "sum":
            return xp.asarray(-picked.sum())
        return -picked.reshape(n)
    keep = (~ignored).astype(logp.dtype)
    loss = -picked.reshape(n) * keep
    if reduction == "mean":
        return xp.asarray(loss.sum() / keep.sum())
    if reduction == "sum":
        return xp.asarray(loss.sum())
    return loss


def _nll_shape(logp, target, ignore_index=-100, reduction="mean"):
    if len(logp.shape) != 2 or len(target.shape) != 1:
        raise RuntimeError(
            f"nll_loss_rows: expected (N, C) log-probabilities and (N,) targets, got {logp.shape}, {target.shape}"
        )
    return (logp.shape[0],) if reduction == "none" else ()


def _nll_dtype(sig):
    from ..op import _first_dtype

    d = _first_dtype(sig)
    return (None, dt.int64), d


def _nll_vjp(g, logp, target, *, in_shapes, ignore_index=-100, reduction="mean", **_):
    return nll_loss_rows_backward(
        g, target, n_classes=in_shapes[0][1], ignore_index=ignore_index, reduction=reduction
    ), None


nll_loss_rows = primitive(
    "nll_loss_rows",
    kind=NN,
    impl=_nll_impl,
    shape=_nll_shape,
    vjp=_nll_vjp,
    dtype=_nll_dtype,
    saves={0: (1,)},
    all_shapes=True,
    nondiff_args=(1,),
    sample=dict(
        cases="internal"
    ),  # tested against torch's nll_loss/cross_entropy and by gradcheck (tests/test_nn_basic.py)
    doc="mean/sum/none of -logp[n, target[n]] over rows whose target is not ignore_index.",
)


def _nll_backward_impl(xp, g, target, n_classes, ignore_index=-100, reduction="mean"):
    n = target.shape[0]
    ignored, any_ignored, safe = checked_rows(xp, target, n_classes, ignore_index, "nll_loss")
    out = xp.zeros((n, n_classes), dtype=g.dtype)
    if not any_ignored:
        # d(sum(picked) / -N) = g / -N at every picked entry (the composed ops' order: divide, then spread)
        vals = g / -n if reduction == "mean" else -g
        vals = xp.broadcast_to(xp.asarray(vals, dtype=g.dtype), (n,))
    else:
        keep = (~ignored).astype(g.dtype)
        scale = g / keep.sum() if reduction == "mean" else g
        vals = -(xp.broadcast_to(scale, (n,)) * keep) if reduction != "none" else -(g * keep)
        vals = vals.astype(g.dtype, copy=False)
    xp.put_along_axis(out, safe.reshape(n, 1).astype(np.int64, copy=False), vals.reshape(n, 1), axis=1)
    if any_ignored:
        out[ignored] = 0
    return out


def _nll_backward_shape(g, target, n_classes, ignore_index=-100, reduction="mean"):
    return (target.shape[0], n_classes)


def _nll_backward_dtype(sig):
    from ..op import _first_dtype

    d = _first_dtype(sig)
    return (None, dt.int64), d


def _nll_backward_vjp(G, g, target, *, n_classes, ignore_index=-100, reduction="mean", **_):
    return nll_loss_rows(G, target, ignore_index=ignore_index, reduction=reduction), None


nll_loss_rows_backward = primitive(
    "nll_loss_rows_backward",
    kind=NN,
    impl=_nll_backward_impl,
    shape=_nll_backward_shape,
    vjp=_nll_backward_vjp,
    dtype=_nll_backward_dtype,
    saves={0: (1,)},
    nondiff_args=(1,),
    sample=dict(cases="internal"),
    doc="The adjoint of nll_loss_rows: g spread to each row's target entry, zero elsewhere.",
)
