"""The eager interpreter: run an op's kernel now and, if needed, record a tape node.

This is the define-by-run half of ember and the hottest path in it: from
``x.exp()`` to ``np.exp`` is the op function, ``apply`` and the kernel. Dtype
casts are resolved once per dtype signature and cached on the op.
"""

from __future__ import annotations

import traceback

import numpy as np

from . import op as _op
from .autograd.grad_mode import state
from .autograd.node import Node
from .devices import xp_of
from .errors import op_error
from .tensor import Tensor, _make

_ndarray = np.ndarray
_zero_dim = _op._ZERO_DIM
_SCALARS = (float, int, bool)
_FLOAT_KINDS = "f"


def _sig_of(d):
    if d.ndim:
        return d.dtype
    z = _zero_dim.get(d.dtype)
    return z if z is not None else _op.zero_dim(d.dtype)


def signature(args):
    """The dtype signature ``apply`` computes inline: what dtype rules and caches are keyed on."""
    sig = []
    for a in args:
        if isinstance(a, Tensor):
            sig.append(_sig_of(a._data))
        else:
            if isinstance(a, np.generic):
                a = a.item()
            sig.append(type(a))
    return tuple(sig)


def _scalar_as(value, np_dtype):
    """A Python scalar as a NumPy scalar of the compute dtype, wrapping ints as PyTorch does."""
    return np.asarray(value).astype(np_dtype)[()]


def apply(op, args, attrs):
    arrays = []
    sig = []
    rg = False
    first = None
    for a in args:
        if isinstance(a, Tensor):
            d = a._data
            if first is None:
                first = d
            arrays.append(d)
            sig.append(d.dtype if d.ndim else _sig_of(d))
            if a._rg:
                rg = True
        else:
            t = type(a)
            if t not in _SCALARS:
                if isinstance(a, np.generic):
                    a = a.item()
                    t = type(a)
                elif isinstance(a, _ndarray):
                    raise TypeError(
                        f"{op.name}: expected ember Tensors or Python numbers, got a numpy.ndarray; "
                        "wrap it with ember.as_tensor()"
                    )
            arrays.append(a)
            sig.append(t)
    sig = tuple(sig)
    try:
        casts = op._casts[sig]
    except KeyError:
        casts = op.casts_for(sig)
    if casts is not None:
        arrays = [a if c is None else (a.astype(c) if type(a) not in _SCALARS else _scalar_as(a, c)) for a, c in zip(arrays, casts)]
    xp = np if type(first) is _ndarray else xp_of(first)
    try:
        out = op.impl(xp, *arrays, **attrs)
    except Exception as e:  # numpy's message lacks the op and shapes: explain it
        raise op_error(op, args, attrs, e) from e

    if op.nout == 1:
        if type(out) is not _ndarray:
            out = xp.asarray(out)
        if rg and state.enabled and out.dtype.kind in _FLOAT_KINDS:
            node = _record(op, args, attrs, arrays, (out,))
            t = _make(out, node, 0, True)
            if op.saves_out:
                t._version_counter = node.out_version
        else:
            t = _make(out)
        if op.view:
            _mark_view(t, op, args, attrs)
        return t

    outs = tuple(o if type(o) is _ndarray else xp.asarray(o) for o in out)
    if rg and state.enabled and any(o.dtype.kind in _FLOAT_KINDS for o in outs):
        node = _record(op, args, attrs, arrays, outs)
        return tuple(
            _make(o, node, i, True) if o.dtype.kind in _FLOAT_KINDS else _make(o) for i, o in enumerate(outs)
        )
    return tuple(_make(o) for o in outs)


def _mark_view(t, op, args, attrs):
    """A view shares its base's version counter, and remembers how to recompute itself."""
    src = args[0]
    if not np.may_share_memory(t._data, src._data):
        return
    t._version_counter = src._counter()
    base = src._base
    t._base = base if base is not None else src
    # replayed on the base when an in-place op on this view must rewrite the base's history
    t._view_chain = (src._view_chain if base is not None else ()) + ((op, args[1:], attrs),)


def _record(op, args, attrs, arrays, outs):
    mask = tuple(isinstance(a, Tensor) and a._rg for a in args)
    edges = tuple(
        ((a._node, a._idx) if a._node is not None else a) if m else None for a, m in zip(args, mask)
    )
    keep = op.saved_indices(mask)
    saved = [None if isinstance(a, Tensor) else a for a in args]
    versions = []
    for i in keep:
        a = args[i]
        if isinstance(a, Tensor):
            saved[i] = a
            vc = a._counter()
            versions.append((i, vc, vc[0]))
    # every tensor arg's shape: VJPs such as cat's and einsum's need those of args without grad too
    in_meta = tuple((arr.shape, a._data.dtype) if isinstance(a, Tensor) else None for a, arr in zip(args, arrays))
    out_meta = tuple((o.shape, o.dtype) for o in outs)
    node = Node(
        op,
        attrs,
        edges,
        (tuple(saved), tuple(versions)),
        (outs[0] if op.nout == 1 else outs) if op.saves_out else None,
        [0] if op.saves_out else None,
        in_meta,
        out_meta,
    )
    if state.anomaly:
        node.trace = traceback.extract_stack()[:-3]
    return node


_op.dispatch.apply = apply
