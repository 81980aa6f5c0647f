"""Same values, different unit dims: ``reshape(f(sum(x, keepdim=False)), kept)`` is ``f(sum(x, keepdim=True))``.

Batch norm computes its mean twice (``x.mean(dims)`` for the running statistics
and the normalisation, ``x.mean(dims, keepdim=True)`` for the variance), so an
eager step keeps two equal ``x - mean`` arrays alive until backward. NumPy
reduces the same elements in the same order whatever ``keepdims`` says, and
element-wise ops see the same elements in the same C order whatever unit dims
their operands carry, so a ``reshape`` whose value was computed already, in
another shape, is replaced by that value; ``cse`` then merges what read them
(``x - mean`` once). Pure function ``Graph -> Graph``; runs before ``cse``.
"""

from __future__ import annotations

import numpy as np

from ..graph import ir
from ..op import ELEMENTWISE, RANDOM
from .rewrite import Rewriter, root_values


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axis = axis if isinstance(axis, (tuple, list)) else (axis,)
    return tuple(sorted(a % ndim for a in axis))


def _literal(a):
    return type(a) in (int, float, bool) and not (type(a) is float and a != a)


def share_keepdims(graph):
    """Replace reshapes of values computed already under another shape (see the module doc)."""
    rw = Rewriter(graph)
    roots = root_values(graph)
    key = {}  # new Value -> key of its flat C-order sequence of elements
    first = {}  # key -> (new Value) first value with that key
    for n in graph.nodes:
        k = None
        if n.kind == ir.OP and len(n.values) == 1 and None not in n.out.shape:
            k = _key(rw, n, key)
        if k is not None and n.op.name == "reshape" and n.out not in roots:
            got = first.get((k, n.out.shape, _dt(n.out)))
            if got is not None:
                rw.replace(n, [got])
                continue
        new = rw.keep(n)
        if k is not None:
            v = new.values[0]
            key[v] = k
            first.setdefault((k, v.shape, _dt(v)), v)
    return rw.finish()


def _dt(v):
    return v.dtype if isinstance(v.dtype, type) else np.dtype(v.dtype)


def _flat(rw, a, key):
    """The key of an argument's element sequence: its own key, else the Value itself."""
    a = rw.value(a)
    return key.get(a, ("v", id(a)))


def _key(rw, n, key):
    op = n.op
    name = op.name
    if name == "sum":
        x = n.inputs[0]
        if not isinstance(x, ir.Value) or None in x.shape or set(n.attrs) - {"axis", "keepdim", "dtype"}:
            return None
        # the reduction depends on x's shape: keyed by x itself, not by its elements
        return ("sum", id(rw.value(x)), _axes(n.attrs.get("axis"), len(x.shape)), repr(n.attrs.get("dtype")))
    if name == "reshape":
        x = n.inputs[0]
        return _flat(rw, x, key) if isinstance(x, ir.Value) else None
    if op.kind != ELEMENTWISE or op.kind == RANDOM:
        return None
    size = int(np.prod(n.out.shape, dtype=np.int64))
    args = []
    for a in n.inputs:
        if isinstance(a, ir.Value):
            if a.dtype is float or a.dtype is int or None in a.shape:
                return None  # host scalars: values known only at run time
            if int(np.prod(a.shape, dtype=np.int64)) != size:
                return None  # a broadcast operand: element positions would not line up
            args.append(_flat(rw, a, key))
        elif _literal(a):
            args.append(("lit", type(a).__name__, repr(a)))
        else:
            return None
    try:
        attrs = repr(sorted(n.attrs.items()))
    except TypeError:
        return None
    casts = None if n.casts is None else tuple(None if c is None else np.dtype(c).str for c in n.casts)
    return (name, tuple(args), attrs, casts, np.dtype(n.out.dtype).str)
