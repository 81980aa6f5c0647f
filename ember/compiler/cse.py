"""Common-subexpression elimination: nodes computing the same thing are merged into the first.

Two nodes are the same computation when they have the same kind, op, inputs
(after earlier merges), attributes, kernel casts and control dependencies.
Never merged: random ops (each draw differs), inputs, assigns, groups, host
getters (each reads the world anew), and values that leave the graph (two
returned values must not become one array object). Two reads of the same
state merge only when no assign runs between them. Small constants with
equal bytes merge too.
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import ir
from ..op import RANDOM
from .rewrite import Rewriter, root_values

CONST_BYTES = 1 << 16  # constants up to this size are compared by content


def cse(graph):
    rw = Rewriter(graph)
    roots = root_values(graph)
    seen = {}  # key -> new Node
    epoch = 0  # bumped at every assign: reads on either side of it see different state
    for n in graph.nodes:
        if n.kind == ir.ASSIGN:
            epoch += 1
        key = _key(rw, n, epoch)
        if key is None:
            rw.keep(n)
            continue
        first = seen.get(key)
        if first is not None and not any(v in roots for v in n.values):
            rw.replace(n, list(first.values))
            continue
        seen.setdefault(key, rw.keep(n))
    return rw.finish()


def _key(rw, n, epoch):
    """What identifies ``n``'s computation, or None when it must never be merged."""
    kind = n.kind
    if kind in (ir.INPUT, ir.ASSIGN, ir.GROUP):
        return None
    if kind == ir.OP and n.op.kind == RANDOM:
        return None
    if kind == ir.HOST and "fn" not in n.attrs:
        return None
    try:
        if kind == ir.CONST:
            arr = n.attrs["value"]
            if arr.nbytes > CONST_BYTES or type(arr) is not np.ndarray:
                return None
            # the layout too: a transposed view and its C-ordered copy hold the same values, but later
            # kernels keep the layout and NumPy sums each in a different order (different bits)
            return ("const", arr.dtype.str, arr.shape, arr.strides, arr.tobytes())
        if kind == ir.READ:
            return ("read", id(n.attrs["slot"]), epoch)
        ins = tuple(_input_key(rw.value(a)) for a in n.inputs)
        control = tuple(c.id for c in rw.control(n))
        types = tuple((v.shape, _dtype_key(v.dtype)) for v in n.values)
        casts = None if n.casts is None else tuple(_dtype_key(c) for c in n.casts)
        key = (kind, n.op, ins, freeze(n.attrs), casts, control, types)
        hash(key)
        return key
    except TypeError:  # something in it cannot be hashed even by identity: never merge it
        return None


def _input_key(a):
    if isinstance(a, ir.Value):
        return ("v", a.node.id, a.index)
    return freeze(a)


def _dtype_key(d):
    if d is None or d is float or d is int or d is bool:
        return d
    return np.dtype(d).str


def freeze(x):
    """A hashable key equal for equal attribute values (lists, dicts, slices, small arrays included).

    Python numbers keep their type (``1``, ``1.0`` and ``True`` select different kernels) and
    floats their sign (``-0.0`` is not ``0.0``). Objects that cannot be compared by value
    (generators, functions) are keyed by identity; the graph keeps them alive.
    """
    t = type(x)
    if x is None or t in (int, bool, str, bytes):
        return (t.__name__, x)
    if t is float:
        return ("float", "nan" if math.isnan(x) else x.hex())
    if t in (tuple, list):
        return (t.__name__, tuple(freeze(e) for e in x))
    if t is dict:
        return ("dict", tuple(sorted((str(k), freeze(v)) for k, v in x.items())))
    if t is slice:
        return ("slice", freeze(x.start), freeze(x.stop), freeze(x.step))
    if x is Ellipsis:
        return ("...",)
    if isinstance(x, np.ndarray):
        if x.nbytes > CONST_BYTES:
            return ("id", id(x))
        return ("ndarray", x.dtype.str, x.shape, x.strides, x.tobytes())
    if isinstance(x, np.generic):
        return ("npscalar", x.dtype.str, x.tobytes())
    if isinstance(x, ir.Value):
        return _input_key(x)
    try:
        hash(x)
    except TypeError:
        return ("id", id(x))
    return (t.__qualname__, x)
