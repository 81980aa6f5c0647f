"""Indexing primitives: getitem/index_put, gather/scatter, sort/topk, nonzero, unique, one_hot.

An index key is stored as an attribute with tensors replaced by positions
(``Idx(k)``) and slices by tuples, so it is hashable (for CSE) and readable
(for printing); the index tensors themselves are ordinary positional inputs.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as dt
from .. import ops as F
from ..op import INDEX, ShapeDtype, primitive
from ._rules import wrap_dim


class Idx:
    """Placeholder in a stored key for the k-th index tensor argument."""

    __slots__ = ("k",)

    def __init__(self, k):
        self.k = k

    def __eq__(self, other):
        return isinstance(other, Idx) and other.k == self.k

    def __hash__(self):
        return hash(("Idx", self.k))

    def __repr__(self):
        return f"t{self.k}"


def encode_key(key):
    """Split a user's index into (stored key, index tensors)."""
    from ..ops.creation import as_index_tensor
    from ..tensor import Tensor

    if not isinstance(key, tuple):
        key = (key,)
    out, tensors = [], []
    for k in key:
        if isinstance(k, slice):
            out.append(("slice", _int_or_none(k.start), _int_or_none(k.stop), _int_or_none(k.step)))
        elif k is None or k is Ellipsis:
            out.append(k)
        elif isinstance(k, bool):
            tensors.append(as_index_tensor(k))
            out.append(Idx(len(tensors) - 1))
        elif isinstance(k, (int, np.integer)):
            out.append(int(k))
        elif isinstance(k, Tensor) and k._data.ndim == 0 and k._data.dtype.kind in "iu":
            out.append(int(k._data))
        else:
            t = k if isinstance(k, Tensor) else as_index_tensor(k)
            if t._data.dtype.kind not in "iub":
                raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors, got {t.dtype}")
            if t._data.dtype == np.uint8:  # PyTorch's (deprecated) byte masks
                t = t.bool()
            tensors.append(t)
            out.append(Idx(len(tensors) - 1))
    for s in out:
        if isinstance(s, tuple) and s[3] is not None and s[3] <= 0:
            raise ValueError("step must be greater than zero")
    return tuple(out), tensors


def _int_or_none(v):
    if v is None:
        return None
    return int(v)


def decode_key(key, arrays):
    return tuple(
        slice(k[1], k[2], k[3]) if isinstance(k, tuple) else (arrays[k.k] if isinstance(k, Idx) else k) for k in key
    )


def select_first(x, k):
    """``(array, key)`` with ``array[key]`` indexing as PyTorch does when ints meet index arrays.

    NumPy counts an int next to an index array as one more advanced index (so ``x[1, :, [0, 4]]``
    puts the advanced dim first); PyTorch selects with the ints first, then indexes the rest.
    ``array`` is a basic-indexing view of ``x``, so writes through it reach ``x``.
    """
    has_int = has_arr = False
    for e in k:
        if type(e) is int:
            has_int = True
        elif hasattr(e, "ndim"):
            has_arr = True
    if not (has_int and has_arr):
        return x, k
    first, rest = [], []
    for e in k:
        if e is None:
            rest.append(e)
        elif e is Ellipsis:
            first.append(e)
            rest.append(e)
        elif type(e) is int:
            first.append(e)
        else:
            first.extend([slice(None)] * (e.ndim if hasattr(e, "ndim") and e.dtype == bool else 1))
            rest.append(e)
    return x[tuple(first)], tuple(rest)


def _getitem_impl(xp, x, *idx, key):
    k = decode_key(key, idx)
    if not idx and Ellipsis not in key:
        k = k + (Ellipsis,)  # basic indexing down to one element: a 0-d view, not a NumPy scalar copy
    elif idx:
        x, k = select_first(x, k)
    return x[k]


def _getitem_shape(x, *idx, key):
    """Index a probe array twice with different stand-ins for what is not known (graph dims given
    as None, how many elements a boolean mask selects); dims that differ are unknown (None)."""
    a = _probe_shape(x, idx, key, 1000, 0)
    if None not in x.shape and not any(i.dtype is dt.bool_ or None in i.shape for i in idx):
        return a
    b = _probe_shape(x, idx, key, 1001, 1)
    return tuple(p if p == q else None for p, q in zip(a, b))


def _probe_shape(x, idx, key, unknown, selected):
    probe = np.broadcast_to(np.empty((), np.int8), tuple(unknown if s is None else s for s in x.shape))
    arrays = []
    for i in idx:
        shape = tuple(unknown if s is None else s for s in i.shape)
        if i.dtype is dt.bool_:
            mask = np.zeros(shape, bool)
            mask.reshape(-1)[: min(selected, mask.size)] = True
            arrays.append(mask)
        else:
            arrays.append(np.broadcast_to(np.zeros((), np.int64), shape))
    try:
        probe, k = select_first(probe, decode_key(key, arrays))
        return probe[k].shape
    except IndexError as e:
        from ..errors import describe

        raise IndexError(f"getitem: {e} (operands: {describe((x, *idx))}, index {key})") from None


def _getitem_vjp(g, x, *idx, in_shapes, key, **_):
    zeros = g.new_zeros(in_shapes[0])
    return (index_put_prim(zeros, g, *idx, key=key, accumulate=True),) + (None,) * len(idx)


getitem = primitive(
    "getitem",
    kind=INDEX,
    impl=_getitem_impl,
    shape=_getitem_shape,
    vjp=_getitem_vjp,
    dtype=lambda sig: (None, _first(sig)),
    saves=tuple(range(1, 64)),
    view=True,
    onnx="Slice",
    sample=dict(cases="getitem"),
)


def _first(sig):
    from ..op import _first_dtype

    return _first_dtype(sig)


def _index_put_impl(xp, x, v, *idx, key, accumulate=False):
    out = x.copy()
    view, k = select_first(out, decode_key(key, idx))
    if accumulate:
        if not idx:  # basic indexing selects each element at most once: a plain add, not the slow ``add.at``
            view[k] += v
        elif xp is np:
            np.add.at(view, k, v)
        else:
            xp.add.at(view, k, v)
    else:
        view[k] = v
    return out


def _index_put_vjp(g, x, v, *idx, need, key, accumulate=False, **_):
    gx = None
    if need[0]:
        gx = g if accumulate else index_put_prim(g, g.new_zeros(()), *idx, key=key)
    gv = getitem(g, *idx, key=key) if need[1] else None
    return (gx, gv) + (None,) * len(idx)


index_put_prim = primitive(
    "index_put",
    kind=INDEX,
    impl=_index_put_impl,
    shape=lambda x, v, *idx, key, accumulate=False: x.shape,
    vjp=_index_put_vjp,
    dtype=lambda sig: (None, _first(sig)),
    saves=tuple(range(2, 64)),
    onnx="ScatterND",
    sample=dict(cases="index_put"),
)


def along(xp, index, dim):
    """Full advanced-index tuple that picks ``index`` along ``dim`` (gather/scatter)."""
    grids = []
    for d in range(index.ndim):
        if d == dim:
            grids.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = index.shape[d]
            grids.append(xp.arange(index.shape[d]).reshape(shape))
    return tuple(grids)


def _check_index(x, dim, index, name):
    if index.ndim != x.ndim and not (index.ndim <= 1 and x.ndim <= 1):
        raise RuntimeError(f"{name}(): Index tensor must have the same number of dimensions as input tensor")
    for d in range(index.ndim):
        if d != dim and index.shape[d] > x.shape[d]:
            raise RuntimeError(
                f"{name}(): Size does not match at dimension {d} expected index {list(index.shape)} to be smaller "
                f"than self {list(x.shape)} apart from dimension {dim}"
            )
    if index.size and x.ndim:  # PyTorch takes no negative indices here, and raises RuntimeError
        n = x.shape[dim]
        lo, hi = int(index.min()), int(index.max())
        if lo < 0 or hi >= n:
            raise RuntimeError(
                f"{name}(): index {lo if lo < 0 else hi} is out of bounds for dimension {dim} with size {n}"
            )


def _gather_impl(xp, x, index, dim):
    if x.ndim == 0:
        return x[()] if index.ndim == 0 else xp.broadcast_to(x, index.shape).copy()
    _check_index(x, dim, index, "gather")
    return x[along(xp, index, dim)]


gather_ = primitive(
    "gather",
    kind=INDEX,
    impl=_gather_impl,
    shape=lambda x, index, dim: index.shape,
    vjp=lambda g, x, index, *, in_shapes, dim, **_: (
        F.scatter_add(g.new_zeros(in_shapes[0]), dim, index, g),
        None,
    ),
    dtype=lambda sig: (None, _first(sig)),
    saves=(1,),
    onnx="GatherElements",
    sample=dict(cases="gather"),
)


def _src_for(xp, src, index):
    if not hasattr(src, "shape") or src.ndim == 0:
        return src
    return src[tuple(slice(0, n) for n in index.shape)]


def _scatter_impl(xp, x, index, src, dim, accumulate=False):
    out = x.copy()
    if index.size == 0:
        return out
    _check_index(x, dim, index, "scatter_add" if accumulate else "scatter")
    k = along(xp, index, dim)
    s = _src_for(xp, src, index)
    if accumulate:
        xp.add.at(out, k, s) if xp is not np else np.add.at(out, k, s)
    else:
        out[k] = s
    return out


def _scatter_vjp(g, x, index, src, *, need, in_shapes, dim, accumulate=False, **_):
    gx = gs = None
    if need[0]:
        gx = g if accumulate else F.scatter(g, dim, index, 0.0)
    if need[2]:
        gs = F.gather(g, dim, index)
        full = in_shapes[2]
        if tuple(gs.shape) != tuple(full) and len(full) == gs.ndim:
            gs = F.pad(gs, [p for n, m in zip(reversed(full), reversed(gs.shape)) for p in (0, n - m)])
    return gx, None, gs


scatter_prim = primitive(
    "scatter",
    kind=INDEX,
    impl=_scatter_impl,
    shape=lambda x, index, src, dim, accumulate=False: x.shape,
    vjp=_scatter_vjp,
    dtype=lambda sig: (None, _first(sig)),
    saves=(1,),
    onnx="ScatterElements",
    nondiff_args=(1,),
    sample=dict(cases="scatter"),
)


def _sort_impl(xp, x, dim=-1, descending=False):
    if x.ndim == 0:
        return x.copy(), xp.zeros((), xp.int64)
    key = x
    if descending:
        key = ~x if x.dtype.kind == "b" else -x.astype(xp.float64 if x.dtype.kind in "iu" else x.dtype)
    idx = xp.argsort(key, axis=dim, kind="stable") if xp is np else xp.argsort(key, axis=dim)
    return xp.take_along_axis(x, idx, dim), idx.astype(xp.int64)


def _perm_vjp(g, x, *, out, in_shapes, dim=-1, **_):
    gv = g[0]
    if gv is None:
        return (None,)
    if gv.ndim == 0:
        return (gv,)
    return (F.scatter(gv.new_zeros(in_shapes[0]), dim, out[1], gv),)


sort_ = primitive(
    "sort",
    kind=INDEX,
    impl=_sort_impl,
    shape=lambda x, dim=-1, descending=False: (x.shape, x.shape),
    vjp=_perm_vjp,
    dtype=lambda sig: (None, (_first(sig), dt.int64)),
    saves=("out",),
    nout=2,
    sample=dict(cases="sort"),
)


def _topk_impl(xp, x, k, dim=-1, largest=True, sorted=True):
    if x.ndim == 0:
        if k > 1:
            raise RuntimeError("topk(): selected index k out of range")
        return x.copy(), xp.zeros((), xp.int64)
    n = x.shape[dim]
    if not 0 <= k <= n:
        raise RuntimeError(f"topk(): selected index k out of range (k={k}, size of dim {dim} is {n})")
    vals, idx = _sort_impl(xp, x, dim, descending=largest)
    sl = [slice(None)] * x.ndim
    sl[dim] = slice(0, k)
    return vals[tuple(sl)], idx[tuple(sl)]


def _topk_shape(x, k, dim=-1, largest=True, sorted=True):
    s = list(x.shape)
    if s:
        s[wrap_dim(dim, x.ndim, "topk")] = k
    return tuple(s), tuple(s)


topk_ = primitive(
    "topk",
    kind=INDEX,
    impl=_topk_impl,
    shape=_topk_shape,
    vjp=_perm_vjp,
    dtype=lambda sig: (None, (_first(sig), dt.int64)),
    saves=("out",),
    nout=2,
    onnx="TopK",
    sample=dict(cases="topk"),
)

nonzero_ = primitive(
    "nonzero",
    kind=INDEX,
    impl=lambda xp, x: xp.argwhere(x).astype(xp.int64),
    shape=lambda x: ShapeDtype((None, x.ndim), dt.int64),
    dtype="int64",
    onnx="NonZero",
    sample=dict(cases="nonzero"),
)


def _unique_impl(xp, x, sorted=True, return_inverse=False, return_counts=False, dim=None):
    if dim is None:
        vals, inv, counts = xp.unique(x.reshape(-1), return_inverse=True, return_counts=True)
        inv = inv.reshape(x.shape)
    else:
        vals, inv, counts = xp.unique(x, return_inverse=True, return_counts=True, axis=dim)
        inv = inv.reshape(-1)
    return vals, inv.astype(xp.int64), counts.astype(xp.int64)


unique_ = primitive(
    "unique",
    kind=INDEX,
    impl=_unique_impl,
    shape=lambda x, **_: ((None,), x.shape, (None,)),
    dtype=lambda sig: (None, (_first(sig), dt.int64, dt.int64)),
    nout=3,
    onnx="Unique",
    sample=dict(cases="unique"),
)


def _one_hot_impl(xp, x, num_classes=-1):
    if x.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes < 0:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise RuntimeError(f"one_hot: Class values must be smaller than num_classes ({num_classes}) and non-negative")
    return (x[..., None] == xp.arange(num_classes)).astype(xp.int64)


one_hot_ = primitive(
    "one_hot",
    kind=INDEX,
    impl=_one_hot_impl,
    shape=lambda x, num_classes=-1: x.shape + ((num_classes if num_classes >= 0 else None),),
    dtype="int64",
    onnx="OneHot",
    sample=dict(cases="one_hot"),
)


def _view_scatter_impl(xp, base, src, chain):
    out = base.copy()
    v = out
    for op, args, attrs in chain:
        v = op.impl(xp, v, *[a._data if hasattr(a, "_data") else a for a in args], **attrs)
    v[...] = src
    return out


def replay_view(t, chain):
    """Re-derive a view from its base with ember ops (so the result is differentiable)."""
    for op, args, attrs in chain:
        t = op.fn(t, *args, **attrs)
    return t


view_scatter = primitive(
    "view_scatter",
    kind=INDEX,
    impl=_view_scatter_impl,
    shape=lambda base, src, chain: base.shape,
    vjp=lambda g, base, src, *, need, chain, **_: (
        view_scatter(g, g.new_zeros(()), chain=chain) if need[0] else None,
        replay_view(g, chain) if need[1] else None,
    ),
    dtype=lambda sig: (None, _first(sig)),
    saves=(),
    sample=dict(cases="internal"),
    doc="Write ``src`` into the view of ``base`` described by ``chain`` (in-place ops on views).",
)
