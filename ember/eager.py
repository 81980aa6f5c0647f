"""The eager interpreter: run an op's kernel now and, if needed, record a tape node.

This is the define-by-run half of ember and the hottest path in it: from
``x.exp()`` to ``np.exp`` is the op function, ``apply`` and the kernel. Dtype
casts are resolved once per dtype signature and cached on the op.
"""

from __future__ import annotations

import numpy as np

from . import op as _op
from .autograd.grad_mode import state
from .autograd.node import Node
from .devices import xp_of
from .errors import op_error, user_frames
from .graph.build import Building as _Building
from .graph.build import apply as _graph_apply
from .graph.host import HostScalar as _HostScalar
from .graph.symbolic import Symbolic as _Symbolic
from .op import RANDOM as _RANDOM
from .tensor import Tensor, _make

_new = object.__new__

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
    rg = False
    first = None
    uniform = True  # every tensor arg has one float dtype and scalars are int/float: no casts
    foreign = False  # a tensor arg that is not a NumPy array (CuPy, or symbolic: a graph op)
    for a in args:
        if isinstance(a, Tensor):
            d = a._data
            if type(d) is not _ndarray:
                foreign = True
            if first is None:
                first = d
                d0 = d.dtype
            elif d.dtype is not d0:
                uniform = False
            arrays.append(d)
            if a._rg:
                rg = True
        else:
            t = type(a)
            if t is not float and t is not int:
                uniform = False
                if t is _HostScalar:
                    foreign = True
                elif isinstance(a, np.generic):
                    a = a.item()
                elif isinstance(a, _ndarray):
                    raise TypeError(
                        f"{op.name}: expected ember Tensors or Python numbers, got a numpy.ndarray; "
                        "wrap it with ember.as_tensor()"
                    )
            arrays.append(a)
    if foreign and _is_graph_op(args):
        return _graph_apply(op, args, attrs)
    if first is None and op.kind is _RANDOM and _Building.stack:  # a draw inside a graph: a node
        return _graph_apply(op, args, attrs)
    if not uniform or first is None or d0.kind != "f":
        sig = signature(args)
        try:
            casts = op._casts[sig]
        except KeyError:
            casts = op.casts_for(sig)
        if casts is not None:
            arrays = [
                a if c is None else (a.astype(c) if type(a) not in _SCALARS else _scalar_as(a, c))
                for a, c in zip(arrays, casts)
            ]
    xp = np if not foreign else xp_of(first)
    try:
        out = op.impl(xp, *arrays, **attrs)
    except Exception as e:  # numpy's message lacks the op and shapes: explain it
        raise op_error(op, args, attrs, e) from e

    if op.nout == 1:
        if type(out) is not _ndarray:
            out = _as_array(xp, out)
        t = _new(Tensor)
        t._data = out
        t._idx = 0
        if rg and state.enabled and out.dtype.kind == "f":
            node = _record(op, args, attrs, arrays, (out,))
            t._node = node
            t._rg = True
            if op.saves_out:
                t._version_counter = node.out_version
        else:
            t._node = None
            t._rg = False
        if op.view:
            _mark_view(t, op, args, attrs)
        return t

    outs = tuple(o if type(o) is _ndarray else _as_array(xp, o) for o in out)
    if rg and state.enabled and any(o.dtype.kind in _FLOAT_KINDS for o in outs):
        node = _record(op, args, attrs, arrays, outs)
        return tuple(_make(o, node, i, True) if o.dtype.kind in _FLOAT_KINDS else _make(o) for i, o in enumerate(outs))
    return tuple(_make(o) for o in outs)


def _is_graph_op(args):
    """Any symbolic argument makes this a graph op: the graph-building interpreter takes it."""
    for a in args:
        if isinstance(a, Tensor):
            if type(a._data) is _Symbolic:
                return True
        elif type(a) is _HostScalar:
            return True
    return False


def _as_array(xp, out):
    """Kernels may return NumPy scalars (reductions) or arrays of another device (to_device)."""
    if hasattr(out, "shape") and not isinstance(out, np.generic):
        return out
    return xp.asarray(out)


def _mark_view(t, op, args, attrs):
    """A view shares its base's version counter, and remembers how to recompute itself."""
    src = args[0]
    data = t._data
    shares = np.may_share_memory if type(data) is _ndarray else xp_of(data).may_share_memory
    if not shares(data, src._data):
        return
    t._version_counter = src._counter()
    base = src._base
    t._base = base if base is not None else src
    # replayed on the base when an in-place op on this view must rewrite the base's history
    t._view_chain = (src._view_chain if base is not None else ()) + ((op, args[1:], attrs),)


def _record(op, args, attrs, arrays, outs):
    """A tape node: edges captured now, saved tensors with their versions (one pass over args)."""
    n = len(args)
    edges = [None] * n
    in_meta = [None] * n  # shapes of args needing grads; of every tensor arg for ops with all_shapes
    saved = list(args)
    bits = 0
    all_shapes = op.all_shapes
    for i in range(n):
        a = args[i]
        if isinstance(a, Tensor):
            saved[i] = None
            if a._rg:
                in_meta[i] = (arrays[i].shape, a._data.dtype)
                bits |= 1 << i
                node = a._node
                edges[i] = (node, a._idx) if node is not None else a
            elif all_shapes:
                in_meta[i] = (arrays[i].shape, a._data.dtype)
    key = bits | 1 << n  # a marker bit above the mask: what to save depends on the arg count too (getitem)
    keep = op._saves_by_mask.get(key)
    if keep is None:
        keep = op.saved_indices(tuple(bool(bits >> i & 1) for i in range(n)), key)
    versions = []
    for i in keep:
        a = args[i]
        if isinstance(a, Tensor):
            saved[i] = a
            vc = a._version_counter
            if vc is None:
                vc = a._version_counter = [0]
            versions.append((i, vc, vc[0]))
    saves_out = op.saves_out
    node = Node(
        op,
        attrs,
        edges,
        (saved, versions),
        (outs[0] if op.nout == 1 else outs) if saves_out else None,
        [0] if saves_out else None,
        in_meta,
        None if len(outs) == 1 else [(o.shape, o.dtype) for o in outs],
    )
    if state.anomaly:
        node.trace = user_frames()
    return node


_op.dispatch.apply = apply
