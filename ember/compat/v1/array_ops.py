"""TF1's array ops (``tf.reshape``, ``tf.concat``, ``tf.gather``, ``tf.where``, ``tf.zeros``, ...).

Shapes, layout, indexing, slicing and creation with TF's argument names and
semantics (TF1's non-broadcasting ``where``, int32 shapes, -1 and run-time
shapes in ``reshape``), over ember ops. Dims known only when the graph runs
go through ``shape_of`` / ``reshape_dynamic`` / ``broadcast_dynamic``.
"""

from __future__ import annotations

import builtins

import numpy as np

from ... import dtypes as _dt
from ... import ops as F
from . import framework as fw
from ._convert import (
    array_for,
    axes_of,
    constant_tensor,
    dtype_name,
    is_tensor_like,
    named,
    one_axis,
    shape_hint,
    static_value,
    to_tensor,
    to_tensors,
    wrap_exports,
)
from .unknown_rank import has_unknown_rank as _unknown_rank


# ---- shapes and layout ------------------------------------------------------------------------------
def shape(input, name=None, out_type=_dt.int32):  # noqa: A002
    """The shape as a 1-d tensor: a constant when the graph knows it, else computed at run time."""
    x = to_tensor(input)
    d = fw.as_dtype(out_type)
    if None not in x.shape and not _unknown_rank(x):
        return named(constant_tensor(np.array(x.shape, dtype=d.np)), name)
    return named(F.shape_of(x, dtype=d), name)


def size(input, name=None, out_type=_dt.int32):  # noqa: A002
    x = to_tensor(input)
    d = fw.as_dtype(out_type)
    if None not in x.shape and not _unknown_rank(x):
        return named(constant_tensor(np.array(int(np.prod(x.shape, dtype=np.int64)), dtype=d.np)), name)
    return named(F.cast(F.prod(F.shape_of(x)), d), name)


def rank(input, name=None):  # noqa: A002
    x = to_tensor(input)
    if _unknown_rank(x):  # the fed array's rank: the length of its shape
        return named(F.cast(F.prod(F.shape_of(F.shape_of(x))), _dt.int32), name)
    return named(constant_tensor(np.array(x.ndim, dtype=np.int32)), name)


def _int64(t):
    return t if t.dtype is _dt.int64 else F.cast(t, _dt.int64)


def reshape(tensor, shape, name=None):
    """TF's reshape: -1 infers a dim; a shape with values known only at run time reshapes then."""
    x = to_tensor(tensor)
    val = static_value(shape)
    if val is not None:
        dims = [int(s) for s in np.asarray(val).reshape(-1)]
        return named(F.reshape(x, dims), name)
    if isinstance(shape, (list, tuple)):  # some entries are graph scalars (tf.shape(x)[0])
        hint = [int(s) if static_value(s) is not None else None for s in shape]
        unknown = hint.count(None)
        if unknown == 1 and -1 not in hint:
            return named(F.reshape(x, [-1 if s is None else s for s in hint]), name)
        st = to_tensor([_int64(to_tensor(s)) if is_tensor_like(s) else np.int64(s) for s in shape])
        return named(F.reshape_dynamic(x, st, shape=tuple(hint)), name)
    st = to_tensor(shape)
    hint = shape_hint(st)
    return named(F.reshape_dynamic(x, st if st.dtype is _dt.int64 else F.cast(st, _dt.int64), shape=hint), name)


def transpose(a, perm=None, name="transpose", conjugate=False):
    x = to_tensor(a)
    if perm is None:
        perm = tuple(reversed(builtins.range(x.ndim)))
    p = [int(v) for v in np.asarray(static_value(perm)).reshape(-1)]
    if sorted(p) != list(builtins.range(x.ndim)):
        raise ValueError(f"transpose: perm {p} is not a permutation of the {x.ndim} dims of {list(x.shape)}")
    out = F.permute(x, *p)
    return named(out, name if name != "transpose" else None)


def concat(values, axis, name="concat"):
    ts = [to_tensor(v) for v in values]
    if len(ts) == 1:
        return named(F.clone(ts[0]), None)
    for t in ts[1:]:
        if t.dtype != ts[0].dtype:
            raise TypeError(
                f"concat: all values must have one dtype, got {dtype_name(ts[0].dtype)} and {dtype_name(t.dtype)}"
            )
    a = one_axis(axis, ts[0].ndim, "concat")
    return named(F.cat(ts, dim=a), name if name != "concat" else None)


def stack(values, axis=0, name="stack"):
    ts = []
    ref = next((v for v in values if is_tensor_like(v)), None)
    hint = to_tensor(ref).dtype if ref is not None else None
    for v in values:
        ts.append(to_tensor(v, hint=hint))
    a = one_axis(axis, ts[0].ndim + 1, "stack")
    return named(F.stack(ts, dim=a), name if name != "stack" else None)


pack = stack


def unstack(value, num=None, axis=0, name="unstack"):
    x = to_tensor(value)
    a = one_axis(axis, x.ndim, "unstack")
    n = x.shape[a]
    if n is None:
        if num is None:
            raise ValueError(f"Cannot infer argument `num` from shape {list(x.shape)}")
        raise NotImplementedError("unstack: an axis whose size is known only at run time is not supported")
    if num is not None and num != n:
        raise ValueError(f"unstack: num={num} but the axis has size {n}")
    return list(F.unbind(x, a))


unpack = unstack


def squeeze(input, axis=None, name=None, squeeze_dims=None):  # noqa: A002
    x = to_tensor(input)
    if axis is None:
        axis = squeeze_dims
    if axis is None:
        axes = [i for i, s in enumerate(x.shape) if s == 1]
    else:
        axes = [int(a) % x.ndim for a in np.asarray(axis).reshape(-1)]
        for a in axes:
            if x.shape[a] is not None and x.shape[a] != 1:
                raise ValueError(
                    f"Can not squeeze dim[{a}], expected a dimension of 1, got {x.shape[a]} for input shape {list(x.shape)}"
                )
    return named(reshape_to(x, [("dim", i) for i in builtins.range(x.ndim) if i not in axes]), name)


def reshape_to(x, dims):
    """Reshape to ``dims`` where each entry is an int or ("dim", i): x's dim i, maybe known only at run time."""
    sizes = [x.shape[d[1]] if isinstance(d, tuple) else d for d in dims]
    if sizes.count(None) <= 1:
        return F.reshape(x, [-1 if s is None else s for s in sizes])
    shp = F.shape_of(x)
    parts = [shp[d[1] : d[1] + 1] if isinstance(d, tuple) else constant_tensor(np.array([d], np.int64)) for d in dims]
    return F.reshape_dynamic(x, F.cat(parts, 0), shape=tuple(sizes))


def expand_dims(input, axis=None, name=None, dim=None):  # noqa: A002
    x = to_tensor(input)
    a = axis if axis is not None else dim
    if a is None:
        raise ValueError("expand_dims: 'axis' is required")
    a = one_axis(a, x.ndim + 1, "expand_dims")
    dims = [("dim", i) for i in builtins.range(x.ndim)]
    return named(reshape_to(x, dims[:a] + [1] + dims[a:]), name)


def tile(input, multiples, name=None):  # noqa: A002
    x = to_tensor(input)
    m = static_value(multiples)
    if m is None:
        raise NotImplementedError("tile: multiples must be known when the graph is built")
    m = [int(v) for v in np.asarray(m).reshape(-1)]
    if len(m) != x.ndim:
        raise ValueError(f"tile: multiples {m} must have one entry per dim of the input {list(x.shape)}")
    return named(F.tile(x, m), name)


def gather(params, indices, validate_indices=None, name=None, axis=None, batch_dims=0):
    """params[..., indices, ...] along ``axis``: the output's dims are indices' dims in axis's place."""
    x = to_tensor(params)
    idx = to_tensor(indices)
    if idx.dtype not in (_dt.int32, _dt.int64):
        raise TypeError(f"gather: indices must be int32 or int64, got {dtype_name(idx.dtype)}")
    if batch_dims:
        raise NotImplementedError("gather: batch_dims is not supported")
    a = one_axis(0 if axis is None else axis, x.ndim, "gather")
    key = (builtins.slice(None),) * a + (F.cast(idx, _dt.int64),)
    return named(x[key], name)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """Indices outside [0, depth) give all-off rows, as in TF."""
    idx = to_tensor(indices)
    d = fw.as_dtype(dtype) if dtype is not None else None
    if d is None:
        given = next((v for v in (on_value, off_value) if v is not None), None)
        d = to_tensor(given).dtype if given is not None else _dt.float32
    on = to_tensor(1 if on_value is None else on_value, hint=d)
    off = to_tensor(0 if off_value is None else off_value, hint=d)
    if on.dtype != d or off.dtype != d:
        raise TypeError(f"one_hot: on_value/off_value must have dtype {dtype_name(d)}")
    classes = constant_tensor(np.arange(int(static_value(depth)), dtype=np.int64))
    hot = F.eq(F.unsqueeze(F.cast(idx, _dt.int64), -1), classes)
    out = F.where(hot, on, off)
    if axis is not None and axis != -1 and axis != idx.ndim:
        out = F.movedim(out, -1, axis)
    return named(out, name)


def where(condition, x=None, y=None, name=None):
    """TF1's where: with x and y, condition has their shape or is a vector over their first dim
    (no broadcasting); alone, the coordinates of true elements as int64 [N, rank]."""
    cond = to_tensor(condition)
    if cond.dtype is not _dt.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {dtype_name(cond.dtype)}")
    if x is None and y is None:
        return named(F.nonzero(cond), name)
    if x is None or y is None:
        raise ValueError("x and y must both be non-None or both be None.")
    x, y = to_tensors(x, y, "Select")
    if cond.ndim == 1 and x.ndim > 1:
        cond = F.reshape(cond, [-1] + [1] * (x.ndim - 1))
    elif tuple(cond.shape) != tuple(x.shape) and not _compatible(cond.shape, x.shape):
        raise ValueError(f"where: condition {list(cond.shape)} and x {list(x.shape)} must have the same shape")
    if not _compatible(x.shape, y.shape):
        raise ValueError(f"where: x {list(x.shape)} and y {list(y.shape)} must have the same shape")
    return named(F.where(cond, x, y), name)


def _compatible(a, b):
    return len(a) == len(b) and builtins.all(p is None or q is None or p == q for p, q in zip(a, b))


def where_v2(condition, x=None, y=None, name=None):
    """TF2's where: condition, x and y broadcast."""
    cond = to_tensor(condition)
    if x is None and y is None:
        return named(F.nonzero(cond), name)
    x, y = to_tensors(x, y, "SelectV2")
    return named(F.where(cond, x, y), name)


# ---- slicing, splitting, padding, scans -------------------------------------------------------------
def slice(input_, begin, size, name=None):  # noqa: A001 - TF's name
    """input_[begin : begin + size] per dim; a size of -1 takes the rest of the dim."""
    x = to_tensor(input_)
    b, n = static_value(begin), static_value(size)
    if b is None or n is None:
        raise NotImplementedError("slice: begin and size must be known when the graph is built")
    b, n = [int(v) for v in np.reshape(b, -1)], [int(v) for v in np.reshape(n, -1)]
    if len(b) != x.ndim or len(n) != x.ndim:
        raise ValueError(f"slice: begin {b} and size {n} must have one entry per dim of {list(x.shape)}")
    key = tuple(builtins.slice(i, None if k == -1 else i + k) for i, k in zip(b, n))
    return named(x[key], name)


def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    x = to_tensor(value)
    a = one_axis(axis, x.ndim, "split")
    n = x.shape[a]
    sizes = static_value(num_or_size_splits)
    if sizes is None:
        raise NotImplementedError("split: num_or_size_splits must be known when the graph is built")
    if np.ndim(sizes) == 0:
        k = int(sizes)
        if n is None:
            raise NotImplementedError("split: splitting a dim known only at run time")
        if n % k:
            raise ValueError(
                f"Dimension size {n} must be evenly divisible by {k} (split of {list(x.shape)} on axis {a})"
            )
        sizes = [n // k] * k
    else:
        sizes = [int(v) for v in sizes]
        if -1 in sizes:
            if n is None:
                raise NotImplementedError("split: a -1 size on a dim known only at run time")
            sizes[sizes.index(-1)] = n - (builtins.sum(sizes) + 1)
        if n is not None and builtins.sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not sum to the dim's size {n}")
    out, start = [], 0
    for k in sizes:
        out.append(x[(builtins.slice(None),) * a + (builtins.slice(start, start + k),)])
        start += k
    return out


def pad(tensor, paddings, mode="CONSTANT", name=None, constant_values=0):
    x = to_tensor(tensor)
    p = static_value(paddings)
    if p is None:
        raise NotImplementedError("pad: paddings must be known when the graph is built")
    p = np.asarray(p, dtype=np.int64).reshape(-1, 2)
    if len(p) != x.ndim:
        raise ValueError(f"pad: paddings must be [{x.ndim}, 2] for a rank-{x.ndim} tensor, got {p.tolist()}")
    flat = [int(v) for pair in p[::-1] for v in pair]  # ember (PyTorch) lists the last dim first
    m = mode.upper()
    if m == "CONSTANT":
        return named(
            F.pad(x, flat, value=float(constant_values) if x.dtype.is_floating_point else constant_values), name
        )
    if m == "REFLECT":
        return named(F.pad(x, flat, mode="reflect"), name)
    raise NotImplementedError(f"pad: mode {mode!r} (CONSTANT and REFLECT are supported)")


def reverse(tensor, axis, name=None):
    x = to_tensor(tensor)
    return named(F.flip(x, axes_of(axis, x.ndim, "reverse")), name)


reverse_v2 = reverse


def _scan(fn, x, axis, exclusive, reverse, identity):
    a = one_axis(axis, x.ndim, "cumsum")
    if reverse:
        x = F.flip(x, (a,))
    if exclusive:  # shift right by one along the axis, starting from the identity
        pads = [0, 0] * (x.ndim - 1 - a) + [1, 0]
        x = F.pad(x, pads, value=identity)[(builtins.slice(None),) * a + (builtins.slice(0, -1),)]
    out = fn(x, a)
    return F.flip(out, (a,)) if reverse else out


def cumsum(x, axis=0, exclusive=False, reverse=False, name=None):
    return named(_scan(F.cumsum, to_tensor(x), axis, exclusive, reverse, 0.0), name)


def cumprod(x, axis=0, exclusive=False, reverse=False, name=None):
    return named(_scan(F.cumprod, to_tensor(x), axis, exclusive, reverse, 1.0), name)


def boolean_mask(tensor, mask, name="boolean_mask", axis=None):
    x, m = to_tensor(tensor), to_tensor(mask)
    if m.dtype is not _dt.bool_:
        raise TypeError(f"boolean_mask: mask must be bool, got {dtype_name(m.dtype)}")
    a = 0 if axis is None else one_axis(axis, x.ndim, "boolean_mask")
    return named(x[(builtins.slice(None),) * a + (m,)], name if name != "boolean_mask" else None)


def gather_nd(params, indices, name=None, batch_dims=0):
    """params[indices[..., 0], indices[..., 1], ...]: the last dim of indices indexes params' first dims."""
    x, idx = to_tensor(params), to_tensor(indices)
    if batch_dims:
        raise NotImplementedError("gather_nd: batch_dims is not supported")
    m = idx.shape[-1]
    if m is None:
        raise NotImplementedError("gather_nd: the last dim of indices must be known")
    idx = F.cast(idx, _dt.int64)
    key = tuple(idx[..., j] for j in builtins.range(m))
    return named(x[key], name)


def sequence_mask(lengths, maxlen=None, dtype=_dt.bool_, name=None):
    n = to_tensor(lengths)
    if maxlen is None:
        val = static_value(n)
        if val is None:
            raise NotImplementedError("sequence_mask: give maxlen when the lengths are known only at run time")
        maxlen = int(np.max(val))
    steps = constant_tensor(np.arange(int(static_value(maxlen)), dtype=n.dtype.np))
    mask = F.lt(steps, F.unsqueeze(n, -1))
    d = fw.as_dtype(dtype)
    return named(mask if d is _dt.bool_ else F.cast(mask, d), name)


def eye(num_rows, num_columns=None, batch_shape=None, dtype=_dt.float32, name=None):
    d = fw.as_dtype(dtype)
    out = np.eye(int(num_rows), int(num_rows if num_columns is None else num_columns), dtype=d.np)
    if batch_shape is not None:
        out = np.broadcast_to(out, tuple(int(b) for b in batch_shape) + out.shape)
    return named(constant_tensor(out), name)


def linspace(start, stop, num, name=None, axis=0):
    """num evenly spaced values from start to stop (both included), in start's dtype (float32 for floats)."""
    a, b, n = (static_value(v) for v in (start, stop, num))
    if a is None or b is None or n is None:
        raise NotImplementedError("linspace: start, stop and num must be known when the graph is built")
    d = to_tensor(start).dtype if is_tensor_like(start) else _dt.float32
    return named(constant_tensor(np.linspace(float(a), float(b), int(n)).astype(d.np)), name)


lin_space = linspace


# ---- creation --------------------------------------------------------------------------------------
def _dims_of(shape):
    val = static_value(shape)
    if val is None:
        return None
    return tuple(int(s) for s in np.asarray(val).reshape(-1))


def fill(dims, value, name=None):
    v = to_tensor(value)
    shp = _dims_of(dims)
    if shp is not None:
        return named(F.clone(F.expand(F.reshape(v, [1] * len(shp)) if shp else v, shp)), name)
    st = to_tensor(dims)
    return named(F.clone(F.broadcast_dynamic(v, F.cast(st, _dt.int64), shape=shape_hint(st))), name)


def broadcast_to(input, shape, name=None):  # noqa: A002
    x = to_tensor(input)
    shp = _dims_of(shape)
    if shp is not None:
        return named(F.clone(F.expand(x, shp)), name)
    st = to_tensor(shape)
    return named(F.clone(F.broadcast_dynamic(x, F.cast(st, _dt.int64), shape=shape_hint(st))), name)


def zeros(shape, dtype=_dt.float32, name=None):
    d = fw.as_dtype(dtype)
    shp = _dims_of(shape)
    if shp is not None:
        return named(constant_tensor(np.zeros(shp, d.np), name="zeros"), name)
    return fill(shape, np.zeros((), d.np), name=name)


def ones(shape, dtype=_dt.float32, name=None):
    d = fw.as_dtype(dtype)
    shp = _dims_of(shape)
    if shp is not None:
        return named(constant_tensor(np.ones(shp, d.np), name="ones"), name)
    return fill(shape, np.ones((), d.np), name=name)


def _like(x, dtype, fill_value):
    x = to_tensor(x)
    d = fw.as_dtype(dtype) if dtype is not None else x.dtype
    if None not in x.shape:
        return constant_tensor(np.full(x.shape, fill_value, d.np))
    return F.clone(F.broadcast_dynamic(constant_tensor(np.array(fill_value, d.np)), F.shape_of(x)))


def zeros_like(tensor, dtype=None, name=None, optimize=True):
    return named(_like(tensor, dtype, 0), name)


def ones_like(tensor, dtype=None, name=None, optimize=True):
    return named(_like(tensor, dtype, 1), name)


def range(start, limit=None, delta=1, dtype=None, name="range"):  # noqa: A001 - TF's name
    if limit is None:
        start, limit = 0, start
    vals = [static_value(v) for v in (start, limit, delta)]
    if dtype is not None:
        d = fw.as_dtype(dtype)
    else:  # TF's inference: the widest argument type, Python ints as int32 and floats as float32
        order = [np.int32, np.int64, np.float32, np.float64]
        kinds = [
            to_tensor(a).dtype.np.type if is_tensor_like(a) else array_for(a, None).dtype.type
            for a in (start, limit, delta)
        ]
        d = _dt.from_numpy_dtype(np.dtype(builtins.max(kinds, key=lambda t: order.index(t) if t in order else 0)))
    if builtins.any(v is None for v in vals):
        return named(_range_at_run_time(start, limit, delta, d), name if name != "range" else None)
    s, lim, dl = (np.asarray(v).item() for v in vals)
    return named(constant_tensor(np.arange(s, lim, dl).astype(d.np), name="range"), name if name != "range" else None)


def reverse_sequence(input, seq_lengths, seq_axis=None, batch_axis=None, name=None, seq_dim=None, batch_dim=None):  # noqa: A002
    """Reverse the first ``seq_lengths[b]`` steps of each batch row b along ``seq_axis``; the rest stays."""
    x = to_tensor(input)
    sa = one_axis(seq_axis if seq_axis is not None else seq_dim, x.ndim, "reverse_sequence")
    ba = one_axis(batch_axis if batch_axis is not None else (batch_dim or 0), x.ndim, "reverse_sequence")
    steps = x.shape[sa]
    if steps is None:
        raise NotImplementedError("reverse_sequence: the sequence dimension must be known when the graph is built")
    perm = [ba, sa] + [i for i in builtins.range(x.ndim) if i not in (ba, sa)]
    xt = F.permute(x, perm) if perm != list(builtins.range(x.ndim)) else x
    lens = F.unsqueeze(F.cast(to_tensor(seq_lengths), _dt.int64), 1)  # [batch, 1]
    t = constant_tensor(np.arange(steps, dtype=np.int64)[None, :])  # [1, steps]
    tidx = F.where(F.lt(t, lens), F.sub(F.sub(lens, 1), t), t)  # [batch, steps]
    b = lens.shape[0]  # the rows follow seq_lengths, so the index arrays' static shapes agree
    if b is not None:
        rows = constant_tensor(np.arange(b, dtype=np.int64))
    else:
        rows = _range_at_run_time(0, shape(lens)[0], 1, _dt.int64)
    out = xt[(F.unsqueeze(rows, 1), tidx)]
    if out is not xt and perm != list(builtins.range(x.ndim)):
        out = F.permute(out, [perm.index(i) for i in builtins.range(x.ndim)])
    return named(out, name)


def _range_at_run_time(start, limit, delta, d):
    """tf.range(0, tf.shape(x)[0]): start + i * delta for i < ceil((limit - start) / delta), sized when run."""
    st, lim, dl = (F.cast(to_tensor(v), _dt.float64) for v in (start, limit, delta))
    n = F.maximum(F.cast(F.ceil(F.div(F.sub(lim, st), dl)), _dt.int64), constant_tensor(np.array(0, np.int64)))
    ones = F.broadcast_dynamic(constant_tensor(np.array(1, np.int64)), F.reshape(n, [1]), shape=(None,))
    i = F.sub(F.cumsum(ones, 0), constant_tensor(np.array(1, np.int64)))
    if d.is_floating_point:
        return F.cast(F.add(st, F.mul(F.cast(i, _dt.float64), dl)), d)
    return F.cast(F.add(F.cast(st, _dt.int64), F.mul(i, F.cast(dl, _dt.int64))), d)


__all__ = [
    "reverse_sequence",
    "shape",
    "size",
    "rank",
    "reshape",
    "transpose",
    "concat",
    "stack",
    "pack",
    "unstack",
    "unpack",
    "squeeze",
    "expand_dims",
    "tile",
    "gather",
    "one_hot",
    "where",
    "where_v2",
    "fill",
    "broadcast_to",
    "zeros",
    "ones",
    "zeros_like",
    "ones_like",
    "range",
    "slice",
    "split",
    "pad",
    "reverse",
    "reverse_v2",
    "cumsum",
    "cumprod",
    "boolean_mask",
    "gather_nd",
    "sequence_mask",
    "eye",
    "linspace",
    "lin_space",
]

wrap_exports(globals())
