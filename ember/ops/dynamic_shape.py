"""Shapes as values: ``shape_of``, and reshape/broadcast to a shape held in a 1-d int tensor.

A graph whose batch dim is only known at run time (TF1's ``tf.shape(x)``,
``tf.reshape(x, tf.shape(y))``, ``tf.fill(tf.shape(x), v)``) needs the shape
as data. Eagerly these are ordinary ops on concrete arrays. Shape rules see
only the shape tensor's length, so their outputs have unknown (None) dims
unless a ``shape`` hint with the known dims is given.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as dt
from .. import ops as F
from ..op import MOVEMENT, OTHER, ShapeDtype, primitive


def _dims(shape_t):
    arr = shape_t.get() if hasattr(shape_t, "get") else shape_t  # a CuPy shape tensor comes to the host
    return tuple(int(s) for s in np.asarray(arr).reshape(-1))


def _rank_of(shape_t, op):
    if not hasattr(shape_t, "shape") or len(shape_t.shape) != 1 or shape_t.shape[0] is None:
        raise ValueError(f"{op}: the shape argument must be a 1-d int tensor of known length, got {shape_t}")
    if shape_t.dtype.is_floating_point:
        raise TypeError(f"{op}: the shape argument must be an integer tensor, got {shape_t.dtype}")
    return shape_t.shape[0]


def _hinted(shape_t, hint, op):
    n = _rank_of(shape_t, op)
    if hint is not None:
        if len(hint) != n:
            raise ValueError(f"{op}: shape hint {list(hint)} has {len(hint)} dims but the shape tensor has {n}")
        return tuple(None if s is None or s < 0 else int(s) for s in hint)
    return (None,) * n


def _shape_of_shape(x, dtype=None):
    return ShapeDtype((len(x.shape),), dt.as_dtype(dtype) if dtype is not None else dt.int64)


shape_of = primitive(
    "shape_of",
    kind=OTHER,
    impl=lambda xp, x, dtype=None: xp.asarray(
        x.shape, dtype=(dt.as_dtype(dtype) if dtype is not None else dt.int64).np
    ),
    shape=_shape_of_shape,
    dtype=lambda sig: (None, dt.int64),  # the dtype attribute wins through the shape rule
    onnx="Shape",
    sample=dict(cases="internal"),
    doc="x's shape as a 1-d int tensor (int64 unless ``dtype`` says otherwise), known when the graph runs.",
)


def _reshape_impl(xp, x, shape_t, shape=None):
    return xp.reshape(x, _dims(shape_t))


reshape_dynamic = primitive(
    "reshape_dynamic",
    kind=MOVEMENT,
    impl=_reshape_impl,
    shape=lambda x, shape_t, shape=None: _hinted(shape_t, shape, "reshape_dynamic"),
    vjp=lambda g, x, shape_t, **_: (F.reshape_dynamic(g, F.shape_of(x), shape=tuple(x.shape)), None),
    saves=(0,),
    view=True,
    onnx="Reshape",
    sample=dict(cases="internal"),
    doc="Reshape x to the dims held in a 1-d int tensor (one may be -1), e.g. another tensor's ``shape_of``.",
)


def _broadcast_impl(xp, x, shape_t, shape=None):
    return xp.broadcast_to(x, _dims(shape_t))


def _broadcast_shape(x, shape_t, shape=None):
    out = _hinted(shape_t, shape, "broadcast_dynamic")
    if len(out) < len(x.shape):
        raise ValueError(f"broadcast_dynamic: cannot broadcast a rank-{len(x.shape)} tensor to rank {len(out)}")
    return out


def _broadcast_vjp(g, x, shape_t, **_):
    # sum over the broadcast dims: leading ones, and the input's size-1 dims
    lead = g.ndim - x.ndim
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(x.shape) if s == 1)
    out = F.sum(g, dim=axes, keepdim=True) if axes else g
    return (F.reshape_dynamic(out, F.shape_of(x), shape=tuple(x.shape)), None)


broadcast_dynamic = primitive(
    "broadcast_dynamic",
    kind=MOVEMENT,
    impl=_broadcast_impl,
    shape=_broadcast_shape,
    vjp=_broadcast_vjp,
    saves=(0,),
    view=True,
    onnx="Expand",
    sample=dict(cases="internal"),
    doc="Broadcast x to the dims held in a 1-d int tensor (TF's ``fill``/``broadcast_to`` with a run-time shape).",
)

__all__ = ["shape_of", "reshape_dynamic", "broadcast_dynamic"]
