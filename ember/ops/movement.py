"""Shape and layout primitives: reshape, permute, expand, cat, flip, roll, repeat, ...

Ops marked ``view=True`` return arrays that share memory with their input
(as PyTorch views do); the eager interpreter links their version counters.
Ops that NumPy would answer with a view but PyTorch with a copy (flip)
copy explicitly, so an in-place change never leaks into the input.
"""

from __future__ import annotations

from .. import ops as F
from ..errors import ShapeError, describe
from ..op import MOVEMENT, OTHER, ShapeDtype, primitive
from ._rules import numel, same_shape, wrap_dim


def infer_reshape(shape, numel, op="reshape", args=()):
    """Resolve one -1 in a target shape; raise PyTorch's error on a size mismatch."""
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred")
    known = 1
    for s in shape:
        if s != -1:
            if s < 0:
                raise RuntimeError(f"{op}: invalid shape dimension {s}")
            known *= s
    if -1 in shape:
        if numel is None:
            return shape
        if known == 0 or numel % known:
            raise _bad_shape(op, shape, numel, args)
        return tuple(numel // known if s == -1 else s for s in shape)
    if numel is not None and known != numel:
        raise _bad_shape(op, shape, numel, args)
    return shape


def _bad_shape(op, shape, numel, args):
    of = f" and shape {tuple(args[0].shape)}" if args else ""  # args: the input, when the caller has it
    return ShapeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel}{of}")


reshape = primitive(
    "reshape",
    kind=MOVEMENT,
    impl=lambda xp, x, shape: xp.reshape(x, shape),
    # a -1 left unresolved (the input has a dim known only at run time) is an unknown dim: None
    shape=lambda x, shape: tuple(None if s == -1 else s for s in infer_reshape(shape, numel(x.shape), args=(x,))),
    vjp=lambda g, x, *, in_shapes, **_: (F.reshape(g, in_shapes[0]),),
    saves=(),
    view=True,
    onnx="Reshape",
    sample=dict(cases="reshape"),
)


def _permute_shape(x, axes):
    if sorted(wrap_dim(a, x.ndim, "permute") for a in axes) != list(range(x.ndim)):
        raise RuntimeError(f"permute: dims {list(axes)} are not a permutation of the {x.ndim} dims of {x.shape}")
    return tuple(x.shape[a] for a in axes)


def _inverse_perm(axes):
    inv = [0] * len(axes)
    for i, a in enumerate(axes):
        inv[a] = i
    return tuple(inv)


permute_ = primitive(
    "permute",
    kind=MOVEMENT,
    impl=lambda xp, x, axes: xp.transpose(x, axes),
    shape=_permute_shape,
    vjp=lambda g, x, *, axes, **_: (F.permute(g, _inverse_perm(axes)),),
    saves=(),
    view=True,
    onnx="Transpose",
    sample=dict(cases="permute"),
)


def _expand_shape(x, shape):
    if len(shape) < x.ndim:
        raise ShapeError(
            f"expand: the number of sizes provided ({len(shape)}) must be greater or equal to the number of "
            f"dimensions in the tensor ({x.ndim})"
        )
    lead = len(shape) - x.ndim
    for i, d in enumerate(x.shape):
        t = shape[lead + i]
        if d is not None and t is not None and d != 1 and d != t:
            raise ShapeError(
                f"expand: the expanded size of the tensor ({t}) must match the existing size ({d}) at "
                f"non-singleton dimension {lead + i}. Target sizes: {list(shape)}. Tensor sizes: {list(x.shape)}"
            )
    return tuple(shape)


expand_ = primitive(
    "expand",
    kind=MOVEMENT,
    impl=lambda xp, x, shape: xp.broadcast_to(x, shape),
    shape=_expand_shape,
    vjp=lambda g, x, *, in_shapes, **_: (F.sum_to_shape(g, in_shapes[0]),),
    saves=(),
    view=True,
    onnx="Expand",
    sample=dict(cases="expand"),
)

expand_like = primitive(
    "expand_like",
    kind=MOVEMENT,
    impl=lambda xp, x, ref: xp.broadcast_to(x, ref.shape),
    shape=lambda x, ref: ShapeDtype(ref.shape, x.dtype),
    vjp=lambda g, x, ref, *, in_shapes: (F.sum_to_shape(g, in_shapes[0]), None),
    saves=(),
    view=True,
    nondiff_args=(1,),
    onnx="Expand",
    sample=dict(cases="internal"),
    doc="Broadcast x to ref's shape (graphs whose dims are known only at run time).",
)


def _cat_shape(*xs, axis=0):
    if not xs:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    ref = xs[0]
    axis = wrap_dim(axis, ref.ndim, "cat")
    total = 0
    for k, x in enumerate(xs):
        if x.ndim != ref.ndim:
            raise ShapeError(
                f"cat: Tensors must have same number of dimensions: got {ref.ndim} and {x.ndim} "
                f"(tensor 0 {ref.shape}, tensor {k} {x.shape})"
            )
        for d in range(ref.ndim):
            if d != axis and x.shape[d] != ref.shape[d] and None not in (x.shape[d], ref.shape[d]):
                raise ShapeError(
                    f"cat: Sizes of tensors must match except in dimension {axis}. Expected size {ref.shape[d]} "
                    f"but got size {x.shape[d]} for tensor number {k} in the list ({describe(xs)})"
                )
        total = None if total is None or x.shape[axis] is None else total + x.shape[axis]
    out = list(ref.shape)
    out[axis] = total
    return tuple(out)


def _cat_vjp(g, *xs, in_shapes, need, axis=0, **_):
    grads = []
    start = 0
    for shape, nd in zip(in_shapes, need):
        n = shape[axis] if shape is not None else None
        if nd:
            idx = [slice(None)] * g.ndim
            idx[axis] = slice(start, start + n)
            grads.append(g[tuple(idx)])
        else:
            grads.append(None)
        if n is None:  # an arg that needs no grad: its width comes from the data layout
            raise RuntimeError("cat backward: missing input shape")
        start += n
    return tuple(grads)


def _cat_impl(xp, *xs, axis=0):
    return xp.concatenate(xs, axis=axis)


cat_ = primitive(
    "cat",
    all_shapes=True,
    kind=MOVEMENT,
    impl=_cat_impl,
    shape=_cat_shape,
    vjp=_cat_vjp,
    dtype="promote",
    saves=(),
    onnx="Concat",
    sample=dict(cases="cat"),
)


flip_ = primitive(
    "flip",
    kind=MOVEMENT,
    impl=lambda xp, x, axes: xp.flip(x, axes).copy() if x.ndim else x.copy(),
    shape=same_shape,
    vjp=lambda g, x, *, axes, **_: (F.flip(g, axes),),
    saves=(),
    sample=dict(cases="flip"),
)


def _roll_impl(xp, x, shifts, axes):
    return xp.roll(x, shifts, axes if axes else None)


def _roll_vjp(g, x, *, shifts, axes, **_):
    neg = -shifts if isinstance(shifts, int) else tuple(-s for s in shifts)
    return (F.roll(g, neg, axes if axes else None),)


roll_ = primitive(
    "roll",
    kind=MOVEMENT,
    impl=_roll_impl,
    shape=same_shape,
    vjp=_roll_vjp,
    saves=(),
    sample=dict(cases="roll"),
)


def _repeat_shape(x, reps):
    if len(reps) < x.ndim:
        raise RuntimeError(
            "repeat: Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor"
        )
    shape = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
    return tuple(None if s is None else s * r for s, r in zip(shape, reps))


def _repeat_vjp(g, x, *, in_shapes, reps, **_):
    shape = (1,) * (len(reps) - len(in_shapes[0])) + tuple(in_shapes[0])
    split = []
    for r, s in zip(reps, shape):
        split += [r, s]
    gs = F.reshape(g, split)
    gs = F.sum(gs, dim=tuple(range(0, 2 * len(reps), 2)))
    return (F.reshape(gs, in_shapes[0]),)


repeat_ = primitive(
    "repeat",
    kind=MOVEMENT,
    impl=lambda xp, x, reps: xp.tile(x, reps),
    shape=_repeat_shape,
    vjp=_repeat_vjp,
    saves=(),
    onnx="Tile",
    sample=dict(cases="repeat"),
)


def _tri_shape(x, k=0):
    if x.ndim < 2:
        raise ShapeError(f"tril/triu: input tensor must have at least 2 dimensions, got shape {x.shape}")
    return x.shape


tril_ = primitive(
    "tril",
    kind=MOVEMENT,
    impl=lambda xp, x, k=0: xp.tril(x, k),
    shape=_tri_shape,
    vjp=lambda g, x, *, k=0, **_: (F.tril(g, k),),
    saves=(),
    onnx="Trilu",
    sample=dict(cases="tri"),
)
triu_ = primitive(
    "triu",
    kind=MOVEMENT,
    impl=lambda xp, x, k=0: xp.triu(x, k),
    shape=_tri_shape,
    vjp=lambda g, x, *, k=0, **_: (F.triu(g, k),),
    saves=(),
    onnx="Trilu",
    sample=dict(cases="tri"),
)


def _diagonal_impl(xp, x, offset=0, dim1=0, dim2=1):
    if xp.__name__ != "numpy":
        return xp.diagonal(x, offset, dim1, dim2)
    # NumPy's diagonal is a read-only view; PyTorch's is writable: build it from strides
    m = xp.moveaxis(x, (dim1, dim2), (-2, -1))
    m = m[..., :, offset:] if offset >= 0 else m[..., -offset:, :]
    n = max(0, min(m.shape[-2], m.shape[-1]))
    return xp.lib.stride_tricks.as_strided(
        m, m.shape[:-2] + (n,), m.strides[:-2] + (m.strides[-2] + m.strides[-1],), writeable=x.flags.writeable
    )


def _diagonal_shape(x, offset=0, dim1=0, dim2=1):
    d1, d2 = wrap_dim(dim1, x.ndim, "diagonal"), wrap_dim(dim2, x.ndim, "diagonal")
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n1, n2 = x.shape[d1], x.shape[d2]
    n = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    rest = [s for i, s in enumerate(x.shape) if i not in (d1, d2)]
    return tuple(rest + [n])


diagonal_ = primitive(
    "diagonal",
    kind=MOVEMENT,
    impl=_diagonal_impl,
    shape=_diagonal_shape,
    vjp=lambda g, x, *, in_shapes, offset=0, dim1=0, dim2=1, **_: (
        F.diagonal_scatter(g.new_zeros(in_shapes[0]), g, offset, dim1, dim2),
    ),
    saves=(),
    view=True,
    sample=dict(cases="diagonal"),
)


def _diag_scatter_impl(xp, x, src, offset=0, dim1=0, dim2=1):
    out = x.copy()
    _diagonal_impl(xp, out, offset, dim1, dim2)[...] = src
    return out


diagonal_scatter_ = primitive(
    "diagonal_scatter",
    kind=MOVEMENT,
    impl=_diag_scatter_impl,
    shape=lambda x, src, **_: x.shape,
    vjp=lambda g, x, src, *, need, offset=0, dim1=0, dim2=1, **_: (
        F.diagonal_scatter(g, F.zeros_like(F.diagonal(g, offset, dim1, dim2)), offset, dim1, dim2) if need[0] else None,
        F.diagonal(g, offset, dim1, dim2) if need[1] else None,
    ),
    dtype=lambda sig: ((None, None), _first(sig)),
    saves=(),
    sample=dict(cases="diagonal_scatter"),
)


def _first(sig):
    from ..op import _first_dtype

    return _first_dtype(sig)


def _pad_impl(xp, x, pads, value=0.0):
    return xp.pad(x, pads, mode="constant", constant_values=value)


def _pad_vjp(g, x, *, pads, in_shapes, **_):
    # a dim known only at run time (None) ends ``hi`` before the padded end
    idx = tuple(slice(lo, lo + n if n is not None else (-hi or None)) for (lo, hi), n in zip(pads, in_shapes[0]))
    return (g[idx],)


pad_constant = primitive(
    "pad_constant",
    kind=MOVEMENT,
    impl=_pad_impl,
    shape=lambda x, pads, value=0.0: tuple(None if s is None else s + lo + hi for s, (lo, hi) in zip(x.shape, pads)),
    vjp=_pad_vjp,
    saves=(),
    onnx="Pad",
    sample=dict(cases="pad"),
)


# ---- dtype and copies --------------------------------------------------------
cast_ = primitive(
    "cast",
    kind=OTHER,
    impl=lambda xp, x, dtype: x.astype(dtype.np),
    shape=lambda x, dtype: ShapeDtype(x.shape, dtype),
    vjp=lambda g, x, **_: (g,),
    dtype="same",
    saves=(),
    onnx="Cast",
    sample=dict(cases="cast"),
)

clone_ = primitive(
    "clone",
    kind=OTHER,
    impl=lambda xp, x: x.copy(),
    shape=same_shape,
    vjp=lambda g, x, **_: (g,),
    saves=(),
    onnx="Identity",
    sample=dict(domain=[(-3.0, 3.0)], unary=True),
)
stop_gradient = primitive(
    "stop_gradient",
    kind=OTHER,
    impl=lambda xp, x: x,
    shape=same_shape,
    vjp=lambda g, x, **_: (None,),  # nothing flows back: the input gets no gradient through this use
    saves=(),
    view=True,
    onnx="Identity",
    sample=dict(cases="internal"),
    doc="x's value, through which no gradient flows (TF's stop_gradient; ``detach`` as a graph op).",
)
contiguous_ = primitive(
    "contiguous",
    kind=OTHER,
    impl=lambda xp, x: x if x.flags.c_contiguous else xp.ascontiguousarray(x),  # 0-d: ascontiguousarray gives 1-d
    shape=same_shape,
    vjp=lambda g, x, **_: (g,),
    saves=(),
    onnx="Identity",
    sample=dict(domain=[(-3.0, 3.0)], unary=True, torch="Tensor.contiguous", ember="Tensor.contiguous"),
)


def _to_device_impl(xp, x, device, source="cpu"):
    from ..devices import device as _device
    from ..devices import move

    return move(x, _device(device))


to_device_ = primitive(
    "to_device",
    kind=OTHER,
    impl=_to_device_impl,
    shape=same_shape,
    vjp=lambda g, x, *, device, source="cpu", **_: (F.to_device(g, device=source, source=device),),
    saves=(),
    sample=dict(cases="internal"),
    doc="Copy to another device; the gradient is copied back to the source device.",
)
