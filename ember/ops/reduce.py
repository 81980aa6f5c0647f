"""Reductions: sum, prod, amax/amin, max/min with indices, arg*, cumulative ops, norms.

Primitives take ``axis`` as a tuple of non-negative dims (or None for all)
and ``keepdim``; the public wrappers in ``composite.py`` accept PyTorch's
``dim`` forms. Gradients flow back through ``_expand_back``.
"""

from __future__ import annotations

from .. import dtypes as dt
from .. import ops as F
from ..op import REDUCE, primitive
from ._rules import reduce_rule, reduce_shape, same_shape, wrap_dim

RED = dict(reduce=True)


def _expand_back(g, shape, axis, keepdim):
    """Broadcast a reduced gradient back to the input's shape."""
    if not keepdim:
        g = F.reshape(g, reduce_shape(shape, axis, True))
    return F.expand(g, shape)


def _sum_impl(xp, x, axis=None, keepdim=False, dtype=None):
    if dtype is None and x.dtype.kind in "biu":
        dtype = xp.int64
    return xp.sum(x, axis=axis, keepdims=keepdim, dtype=dtype)


def _sum_dtype(sig):
    from ..op import _first_dtype

    d = _first_dtype(sig)
    return None, d if d.is_floating_point else dt.int64


sum_ = primitive(
    "sum",
    kind=REDUCE,
    impl=_sum_impl,
    shape=reduce_rule,
    vjp=lambda g, x, *, in_shapes, axis=None, keepdim=False, **_: (_expand_back(g, in_shapes[0], axis, keepdim),),
    dtype=_sum_dtype,
    saves=(),
    onnx="ReduceSum",
    sample=RED,
)


def _exclusive_prod(x, axis):
    """Product of every other element along ``axis`` (no division, so zeros are fine)."""
    n = x.shape[axis]
    ones_shape = list(x.shape)
    ones_shape[axis] = 1
    one = x.new_ones(ones_shape)
    idx_head = [slice(None)] * x.ndim
    idx_head[axis] = slice(0, n - 1)
    left = F.cat([one, F.cumprod(x, axis)[tuple(idx_head)]], axis)
    rev = F.flip(x, [axis])
    right = F.flip(F.cat([one, F.cumprod(rev, axis)[tuple(idx_head)]], axis), [axis])
    return left * right


def _prod_vjp(g, x, *, in_shapes, axis=None, keepdim=False, **_):
    shape = in_shapes[0]
    if x.ndim == 0:
        return (g,)
    axes = tuple(range(len(shape))) if axis is None else axis
    # move reduced axes last, flatten them, take exclusive products along that one axis
    rest = [i for i in range(len(shape)) if i not in axes]
    perm = rest + list(axes)
    xt = F.permute(x, perm)
    flat = F.reshape(xt, [shape[i] for i in rest] + [-1])
    others = F.reshape(_exclusive_prod(flat, len(rest)), [shape[i] for i in perm])
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    others = F.permute(others, inv)
    return (_expand_back(g, shape, axes, keepdim) * others,)


prod = primitive(
    "prod",
    kind=REDUCE,
    impl=lambda xp, x, axis=None, keepdim=False, dtype=None: xp.prod(
        x, axis=axis, keepdims=keepdim, dtype=dtype or (xp.int64 if x.dtype.kind in "biu" else None)
    ),
    shape=reduce_rule,
    vjp=_prod_vjp,
    dtype=_sum_dtype,
    saves=(0,),
    onnx="ReduceProd",
    sample=dict(reduce=True, domain=[(0.5, 1.5)]),
)


def _amax_vjp(g, x, *, out, in_shapes, axis=None, keepdim=False, **_):
    # ties share the gradient evenly (PyTorch's amax/amin and full max/min)
    shape = in_shapes[0]
    o = _expand_back(out, shape, axis, keepdim)
    mask = F.cast(F.eq(x, o), dtype=g.dtype)  # F.eq, not ==: a TF1 graph tensor compares by identity
    count = _expand_back(F.sum(mask, dim=axis, keepdim=keepdim), shape, axis, keepdim)
    return (_expand_back(g, shape, axis, keepdim) * mask / count,)


def _check_nonempty(name):
    def impl(xp, x, axis=None, keepdim=False):
        if x.size == 0 and (axis is None or any(x.shape[a] == 0 for a in axis)):
            raise IndexError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0, or a non-empty reduced dim"
            )
        return getattr(xp, name)(x, axis=axis, keepdims=keepdim)

    return impl


amax = primitive(
    "amax",
    kind=REDUCE,
    impl=_check_nonempty("amax"),
    shape=reduce_rule,
    vjp=_amax_vjp,
    saves=(0, "out"),
    onnx="ReduceMax",
    sample=RED,
)
amin = primitive(
    "amin",
    kind=REDUCE,
    impl=_check_nonempty("amin"),
    shape=reduce_rule,
    vjp=_amax_vjp,
    saves=(0, "out"),
    onnx="ReduceMin",
    sample=RED,
)


def _max_dim_impl(which):
    arg = "argmax" if which == "max" else "argmin"

    def impl(xp, x, axis=0, keepdim=False):
        if x.ndim == 0:
            return x.copy(), xp.zeros((), xp.int64)
        if x.shape[axis] == 0:
            raise IndexError(f"{which}(): Expected reduction dim {axis} to have non-zero size.")
        idx = getattr(xp, arg)(x, axis=axis)
        idx_k = xp.expand_dims(idx, axis)
        vals = xp.take_along_axis(x, idx_k, axis)
        if not keepdim:
            vals = xp.squeeze(vals, axis)
        return vals, (idx_k if keepdim else idx).astype(xp.int64)

    return impl


def _max_dim_vjp(g, x, *, out, in_shapes, axis=0, keepdim=False, **_):
    gv = g[0]
    if gv is None:
        return (None,)
    idx = out[1]
    if len(in_shapes[0]) == 0:
        return (gv,)
    if not keepdim:
        gv = F.unsqueeze(gv, axis)
        idx = F.unsqueeze(idx, axis)
    return (F.scatter(gv.new_zeros(in_shapes[0]), axis, idx, gv),)


def _max_dim_shape(x, axis=0, keepdim=False):
    s = reduce_shape(x.shape, (axis,), keepdim) if x.ndim else ()
    return s, s


def _max_dim_dtype(sig):
    from ..op import _first_dtype

    return None, (_first_dtype(sig), dt.int64)


max_dim = primitive(
    "max_dim",
    kind=REDUCE,
    impl=_max_dim_impl("max"),
    shape=_max_dim_shape,
    vjp=_max_dim_vjp,
    dtype=_max_dim_dtype,
    saves=("out",),
    nout=2,
    sample=dict(cases="max_dim"),
)
min_dim = primitive(
    "min_dim",
    kind=REDUCE,
    impl=_max_dim_impl("min"),
    shape=_max_dim_shape,
    vjp=_max_dim_vjp,
    dtype=_max_dim_dtype,
    saves=("out",),
    nout=2,
    sample=dict(cases="max_dim"),
)


def _arg_impl(name):
    def impl(xp, x, axis=None, keepdim=False):
        if x.size == 0:
            raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
        if axis is None:
            r = getattr(xp, name)(x.reshape(-1))
            return xp.asarray(r, dtype=xp.int64).reshape((1,) * x.ndim if keepdim else ())
        return getattr(xp, name)(x, axis=axis, keepdims=keepdim).astype(xp.int64)

    return impl


def _arg_shape(x, axis=None, keepdim=False):
    if axis is None:
        return (1,) * x.ndim if keepdim else ()
    return reduce_shape(x.shape, (axis,), keepdim)


argmax = primitive(
    "argmax",
    kind=REDUCE,
    impl=_arg_impl("argmax"),
    shape=_arg_shape,
    dtype="int64",
    onnx="ArgMax",
    sample=dict(cases="arg"),
)
argmin = primitive(
    "argmin",
    kind=REDUCE,
    impl=_arg_impl("argmin"),
    shape=_arg_shape,
    dtype="int64",
    onnx="ArgMin",
    sample=dict(cases="arg"),
)
all_ = primitive(
    "all",
    kind=REDUCE,
    impl=lambda xp, x, axis=None, keepdim=False: xp.all(x, axis=axis, keepdims=keepdim),
    shape=reduce_rule,
    dtype="bool",
    sample=dict(reduce=True, grad=False),
)
any_ = primitive(
    "any",
    kind=REDUCE,
    impl=lambda xp, x, axis=None, keepdim=False: xp.any(x, axis=axis, keepdims=keepdim),
    shape=reduce_rule,
    dtype="bool",
    sample=dict(reduce=True, grad=False),
)


def _logsumexp_impl(xp, x, axis=None, keepdim=False):
    if x.size == 0:
        return xp.log(xp.sum(xp.exp(x), axis=axis, keepdims=keepdim))
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    s = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdim else xp.squeeze(s, axis=axis)


logsumexp_ = primitive(
    "logsumexp",
    kind=REDUCE,
    impl=_logsumexp_impl,
    shape=reduce_rule,
    vjp=lambda g, x, *, out, in_shapes, axis=None, keepdim=False, **_: (
        _expand_back(g, in_shapes[0], axis, keepdim) * F.exp(x - _expand_back(out, in_shapes[0], axis, keepdim)),
    ),
    dtype="float",
    saves=(0, "out"),
    onnx="ReduceLogSumExp",
    sample=RED,
)


def _cum_shape(x, axis=0):
    wrap_dim(axis, x.ndim, "cumsum")
    return x.shape


cumsum_ = primitive(
    "cumsum",
    kind=REDUCE,
    impl=lambda xp, x, axis=0: (
        xp.cumsum(x, axis=axis, dtype=xp.int64 if x.dtype.kind in "biu" else None)
        if x.ndim
        else x.astype(xp.int64 if x.dtype.kind in "biu" else x.dtype)
    ),
    shape=_cum_shape,
    vjp=lambda g, x, *, axis=0, **_: (F.flip(F.cumsum(F.flip(g, [axis]), axis), [axis]) if g.ndim else g,),
    dtype=_sum_dtype,
    saves=(),
    onnx="CumSum",
    sample=dict(cases="cum"),
)


def _cumprod_vjp(g, x, *, out, axis=0, **_):
    if g.ndim == 0:
        return (g,)
    # sum_{j >= i} g_j * out_j / x_i  (inputs must be non-zero, as in TensorFlow)
    r = F.flip(F.cumsum(F.flip(g * out, [axis]), axis), [axis])
    return (r / x,)


cumprod_ = primitive(
    "cumprod",
    kind=REDUCE,
    impl=lambda xp, x, axis=0: (
        xp.cumprod(x, axis=axis, dtype=xp.int64 if x.dtype.kind in "biu" else None)
        if x.ndim
        else x.astype(xp.int64 if x.dtype.kind in "biu" else x.dtype)
    ),
    shape=_cum_shape,
    vjp=_cumprod_vjp,
    dtype=_sum_dtype,
    saves=(0, "out"),
    sample=dict(cases="cum", domain=[(0.5, 1.5)]),
)


def _vnorm_impl(xp, x, ord=2.0, axis=None, keepdim=False):
    a = xp.abs(x)
    if ord == float("inf"):
        return (
            xp.max(a, axis=axis, keepdims=keepdim)
            if a.size
            else xp.zeros(reduce_shape(a.shape, axis, keepdim), a.dtype)
        )
    if ord == float("-inf"):
        return xp.min(a, axis=axis, keepdims=keepdim)
    if ord == 0:
        return xp.sum(a != 0, axis=axis, keepdims=keepdim).astype(x.dtype)
    if ord == 1:
        return xp.sum(a, axis=axis, keepdims=keepdim)
    if ord == 2:
        return xp.sqrt(xp.sum(a * a, axis=axis, keepdims=keepdim))
    return xp.sum(a**ord, axis=axis, keepdims=keepdim) ** (1.0 / ord)


def _vnorm_vjp(g, x, *, out, in_shapes, ord=2.0, axis=None, keepdim=False, **_):
    shape = in_shapes[0]
    ge = _expand_back(g, shape, axis, keepdim)
    n = _expand_back(out, shape, axis, keepdim)
    if ord == 0:
        return (F.zeros_like(x),)
    if ord == 1:
        return (ge * F.sign(x),)
    if ord in (float("inf"), float("-inf")):
        a = F.abs(x)
        mask = F.cast(F.eq(a, n), dtype=g.dtype)  # not ==: TF1 graph tensors compare by identity
        count = _expand_back(F.sum(mask, dim=axis, keepdim=keepdim), shape, axis, keepdim)
        return (ge * F.sign(x) * mask / count,)
    if ord == 2:
        # PyTorch defines the gradient at the zero vector as 0
        return (F.where(n == 0, 0.0, ge * x / n),)
    a = F.abs(x)
    return (F.where(n == 0, 0.0, ge * F.sign(x) * F.pow(a, ord - 1) / F.pow(n, ord - 1)),)


vector_norm_ = primitive(
    "vector_norm",
    kind=REDUCE,
    impl=_vnorm_impl,
    shape=reduce_rule,
    vjp=_vnorm_vjp,
    dtype="float",
    saves=(0, "out"),
    onnx="ReduceL2",
    sample=dict(cases="norm"),
)

__all__ = ["same_shape"]
