"""The array namespace of symbolic arrays: what ``xp_of(symbolic)`` returns while tracing.

ember's raw-array code (optimizers, the backward engine) is written against
``xp`` (NumPy or CuPy). Inside ``ember.compile`` its arrays are ``Symbolic``, and
this namespace turns the few NumPy calls that code makes into table ops: each
call adds a graph node, and ``out=`` re-points the ``out`` handle (an in-place
update, functionalised). Only what ember's own code uses is here.
"""

from __future__ import annotations

import numpy as np

from .symbolic import Symbolic


def _op(name, *args, **attrs):
    from .build import array_op

    return array_op(name, args, attrs)


def _out(result, out):
    if out is None:
        return result
    if result.dtype != out.dtype:
        result = result.astype(out.dtype)
    out.rebind(result.value)
    return out


def _unary(name):
    def fn(x, out=None):
        return _out(_op(name, x), out)

    fn.__name__ = name
    return fn


def _binary(name):
    def fn(a, b, out=None):
        return _out(_op(name, a, b), out)

    fn.__name__ = name
    return fn


sqrt = _unary("sqrt")
exp = _unary("exp")
log = _unary("log")
abs = _unary("abs")  # noqa: A001  (NumPy's name)
sign = _unary("sign")
negative = _unary("neg")
maximum = _binary("maximum")
minimum = _binary("minimum")
add = _binary("add")
subtract = _binary("sub")
multiply = _binary("mul")
divide = _binary("div")


def full_like(x, fill_value, dtype=None):
    from .build import array_full_like

    out = array_full_like(x, fill_value)
    return out if dtype is None or np.dtype(dtype) == out.dtype else out.astype(dtype)


def zeros_like(x, dtype=None):
    return full_like(x, 0, dtype)


def ones_like(x, dtype=None):
    return full_like(x, 1, dtype)


def array(x, dtype=None, copy=True):
    if not isinstance(x, Symbolic):
        return np.array(x, dtype=dtype, copy=copy)
    if dtype is not None and np.dtype(dtype) != x.dtype:
        return x.astype(dtype)
    return x.copy() if copy else x


def asarray(x, dtype=None):
    return array(x, dtype=dtype, copy=False)


def may_share_memory(a, b):
    return a is b


def setitem(sym, key, value):
    """``sym[key] = value``: the handle moves to a new value (the old one is never written)."""
    if key is Ellipsis or (isinstance(key, slice) and key == slice(None)) or (key == () and sym.shape == ()):
        sym.rebind(_fill_value(sym, value).value)
        return
    from ..ops import indexing
    from ..tensor import _make

    if not isinstance(key, tuple):
        key = (key,)
    key = tuple(_make(k) if isinstance(k, Symbolic) else k for k in key)
    enc, tensors = indexing.encode_key(key)
    v = _make(value) if isinstance(value, Symbolic) else value
    new = _op("index_put", sym, v._data if hasattr(v, "_data") else v, *[t._data for t in tensors], key=enc)
    sym.rebind(_fill_value(sym, new).value)


def _fill_value(sym, value):
    """``value`` as an array of ``sym``'s shape and dtype (broadcast and cast as NumPy's assignment does)."""
    if isinstance(value, Symbolic):
        v = value
    elif isinstance(value, (bool, int, float, np.generic)):
        return full_like(sym, value.item() if isinstance(value, np.generic) else value)
    else:  # a concrete array: a constant of the graph
        from .build import constant

        arr = np.asarray(value)
        v = Symbolic(constant(sym.value.node.graph, arr.astype(sym.dtype, copy=False)))
    if v.dtype != sym.dtype:
        v = v.astype(sym.dtype)
    if tuple(v.shape) != tuple(sym.shape):
        v = _op("expand", v, shape=tuple(sym.shape))
    return v
