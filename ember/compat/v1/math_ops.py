"""TF1's math ops (``tf.add``, ``tf.matmul``, ``tf.reduce_sum``, ``tf.cast``, ...) over ember ops.

Each function takes TensorFlow's argument names and defaults, converts its
inputs as TF does (``_convert``) and calls ember ops, which add graph nodes.
Where TF's semantics differ from PyTorch's (integer division and means, ties
in ``maximum``'s gradient, int32 results, no gradient through ``floor``)
the difference is handled here, once. The array ops (``array_ops``) are
re-exported, so ``from .math_ops import *`` gives both, and ``tf.math``.
"""

from __future__ import annotations

import builtins
import types

import numpy as np

from ... import dtypes as _dt
from ... import ops as F
from . import framework as fw
from ._convert import (
    axes_of,
    constant_tensor,
    dtype_name,
    named,
    one_axis,
    to_tensor,
    to_tensors,
    wrap_exports,
)
from .unknown_rank import has_unknown_rank as _unknown_rank


# ---- arithmetic ----------------------------------------------------------------------------------
def add(x, y, name=None):
    x, y = to_tensors(x, y, "AddV2")
    return named(F.add(x, y), name)


def subtract(x, y, name=None):
    x, y = to_tensors(x, y, "Sub")
    return named(F.sub(x, y), name)


def multiply(x, y, name=None):
    x, y = to_tensors(x, y, "Mul")
    return named(F.mul(x, y), name)


def _float_for_int(d):
    """TF's truediv result for integer inputs: float32 for 8/16-bit ints, float64 for 32/64-bit."""
    return _dt.float32 if d in (_dt.int8, _dt.int16, _dt.uint8) else _dt.float64


def truediv(x, y, name=None):
    x, y = to_tensors(x, y, "truediv")
    if not x.dtype.is_floating_point:
        if x.dtype is _dt.bool_:
            raise TypeError("Invalid dtype bool in __truediv__")
        d = _float_for_int(x.dtype)
        x, y = F.cast(x, d), F.cast(y, d)
    return named(F.div(x, y), name)


def divide(x, y, name=None):
    return truediv(x, y, name=name)


def div(x, y, name=None):
    """TF1's deprecated ``tf.div``: Python 2 division (floor for ints, true division for floats)."""
    x, y = to_tensors(x, y, "Div")
    if x.dtype.is_floating_point:
        return named(F.div(x, y), name)
    return named(F.floor_divide(x, y), name)


def floordiv(x, y, name=None):
    x, y = to_tensors(x, y, "FloorDiv")
    if x.dtype.is_floating_point:
        return named(F.floor(F.div(x, y)), name)
    return named(F.floor_divide(x, y), name)


floor_div = floordiv


def mod(x, y, name=None):
    x, y = to_tensors(x, y, "FloorMod")
    return named(F.remainder(x, y), name)


floormod = mod


def matmul(
    a,
    b,
    transpose_a=False,
    transpose_b=False,
    adjoint_a=False,
    adjoint_b=False,
    a_is_sparse=False,
    b_is_sparse=False,
    output_type=None,
    name=None,
):
    a, b = to_tensors(a, b, "MatMul")
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(
            f"Shape must be rank >= 2 for 'MatMul' but is rank {builtins.min(a.ndim, b.ndim)} "
            f"(shapes {list(a.shape)} and {list(b.shape)})"
        )
    if transpose_a or adjoint_a:
        a = F.transpose(a, -1, -2)
    if transpose_b or adjoint_b:
        b = F.transpose(b, -1, -2)
    ka, kb = a.shape[-1], b.shape[-2]
    if ka is not None and kb is not None and ka != kb:
        raise ValueError(
            f"Dimensions must be equal, but are {ka} and {kb} for 'MatMul' with input shapes: "
            f"{list(a.shape)}, {list(b.shape)}."
        )
    return named(F.matmul(a, b), name)


def _unary(fn, opname, floats_only=False):
    def op(x, name=None):
        x = to_tensor(x)
        if floats_only and not x.dtype.is_floating_point:
            raise TypeError(
                f"Value passed to parameter 'x' has DataType {dtype_name(x.dtype)} not in list of allowed "
                f"values: bfloat16, float16, float32, float64 (op {opname})"
            )
        return named(fn(x), name)

    op.__name__ = op.__qualname__ = opname
    op.__doc__ = f"TF's ``tf.{opname}``."
    return op


square = _unary(lambda x: F.mul(x, x), "square")
sqrt = _unary(F.sqrt, "sqrt", floats_only=True)
rsqrt = _unary(F.rsqrt, "rsqrt", floats_only=True)
exp = _unary(F.exp, "exp", floats_only=True)
log = _unary(F.log, "log", floats_only=True)
log1p = _unary(F.log1p, "log1p", floats_only=True)
abs = _unary(F.abs, "abs")  # noqa: A001 - TF's name
negative = _unary(F.neg, "negative")
neg = negative
sign = _unary(F.sign, "sign")
# TF defines no gradient for floor/ceil/round (None, not zeros)
floor = _unary(lambda x: F.floor(F.stop_gradient(x)), "floor", floats_only=True)
ceil = _unary(lambda x: F.ceil(F.stop_gradient(x)), "ceil", floats_only=True)
round = _unary(lambda x: F.round(F.stop_gradient(x)), "round")  # noqa: A001 - half to even, as NumPy
sigmoid = _unary(F.sigmoid, "sigmoid", floats_only=True)
tanh = _unary(F.tanh, "tanh", floats_only=True)
reciprocal = _unary(F.reciprocal, "reciprocal", floats_only=True)
sin = _unary(F.sin, "sin", floats_only=True)
cos = _unary(F.cos, "cos", floats_only=True)
erf = _unary(F.erf, "erf", floats_only=True)
is_nan = _unary(F.isnan, "is_nan", floats_only=True)
is_finite = _unary(F.isfinite, "is_finite", floats_only=True)
is_inf = _unary(F.isinf, "is_inf", floats_only=True)


def pow(x, y, name=None):  # noqa: A001 - TF's name
    x, y = to_tensors(x, y, "Pow")
    return named(F.pow(x, y), name)


def maximum(x, y, name=None):
    """max(x, y); where they tie the gradient goes to x, as in TF (PyTorch splits it)."""
    x, y = to_tensors(x, y, "Maximum")
    return named(F.where(F.ge(x, y), x, y), name)


def minimum(x, y, name=None):
    """min(x, y); where they tie the gradient goes to x, as in TF."""
    x, y = to_tensors(x, y, "Minimum")
    return named(F.where(F.le(x, y), x, y), name)


def stop_gradient(input, name=None):  # noqa: A002
    return named(F.stop_gradient(to_tensor(input)), name)


def squared_difference(x, y, name=None):
    x, y = to_tensors(x, y, "SquaredDifference")
    d = F.sub(x, y)
    return named(F.mul(d, d), name)


def clip_by_value(t, clip_value_min, clip_value_max, name=None):
    """TF builds this from minimum then maximum: the gradient passes where min <= t <= max."""
    t = to_tensor(t)
    return named(maximum(minimum(t, clip_value_max), clip_value_min), name)


def add_n(inputs, name=None):
    if not inputs:
        raise ValueError("inputs must be a list of at least one Tensor with the same dtype and shape")
    ts = [to_tensor(x) for x in inputs]
    out = ts[0]
    for t in ts[1:]:
        if t.dtype != out.dtype:
            raise TypeError(
                f"add_n: inputs must have the same dtype, got {dtype_name(out.dtype)} and {dtype_name(t.dtype)}"
            )
        out = F.add(out, t)
    if len(ts) == 1:
        out = F.clone(out)
    return named(out, name)


# ---- comparison and logic --------------------------------------------------------------------------
def _compare(fn, opname):
    def op(x, y, name=None):
        x, y = to_tensors(x, y, opname)
        return named(fn(x, y), name)

    op.__name__ = op.__qualname__ = opname.lower()
    return op


equal = _compare(F.eq, "Equal")
not_equal = _compare(F.ne, "NotEqual")
less = _compare(F.lt, "Less")
less_equal = _compare(F.le, "LessEqual")
greater = _compare(F.gt, "Greater")
greater_equal = _compare(F.ge, "GreaterEqual")


def _logical(fn, opname):
    def op(x, y, name=None):
        x, y = to_tensor(x, hint=_dt.bool_), to_tensor(y, hint=_dt.bool_)
        for v in (x, y):
            if v.dtype is not _dt.bool_:
                raise TypeError(f"{opname}: expected bool tensors, got {dtype_name(v.dtype)}")
        return named(fn(x, y), name)

    op.__name__ = op.__qualname__ = opname
    return op


logical_and = _logical(F.logical_and, "logical_and")
logical_or = _logical(F.logical_or, "logical_or")
logical_xor = _logical(F.logical_xor, "logical_xor")


def logical_not(x, name=None):
    x = to_tensor(x, hint=_dt.bool_)
    if x.dtype is not _dt.bool_:
        raise TypeError(f"logical_not: expected a bool tensor, got {dtype_name(x.dtype)}")
    return named(F.logical_not(x), name)


def cast(x, dtype, name=None):
    d = fw.as_dtype(dtype)
    x = to_tensor(x)
    if x.dtype == d:
        return named(F.clone(x), name) if name else x
    return named(F.cast(x, d), name)


to_float = lambda x, name="ToFloat": cast(x, _dt.float32)  # noqa: E731 - TF1's deprecated helpers
to_int32 = lambda x, name="ToInt32": cast(x, _dt.int32)  # noqa: E731
to_int64 = lambda x, name="ToInt64": cast(x, _dt.int64)  # noqa: E731


# ---- reductions ----------------------------------------------------------------------------------------
def _keep(keepdims, keep_dims):
    if keepdims is not None and keep_dims is not None:
        raise ValueError("Cannot specify both 'keepdims' and 'keep_dims'")
    k = keepdims if keepdims is not None else keep_dims
    return builtins.bool(k) if k is not None else False


def _axis_arg(axis, reduction_indices):
    if axis is not None and reduction_indices is not None:
        raise ValueError("Cannot specify both 'axis' and 'reduction_indices'")
    return axis if axis is not None else reduction_indices


def _reduction(body, opname):
    def op(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None, keep_dims=None):
        x = to_tensor(input_tensor)
        if _axis_arg(axis, reduction_indices) is None and _unknown_rank(x):
            return named(_full_reduction(x, opname, _keep(keepdims, keep_dims)), name)
        axes = axes_of(_axis_arg(axis, reduction_indices), x.ndim, opname)
        keep = _keep(keepdims, keep_dims)
        if not axes:  # reducing over no axes (axis=[] or a 0-d input) returns the input
            return named(F.clone(x), name)
        return named(body(x, axes, keep), name)

    op.__name__ = op.__qualname__ = opname
    op.__doc__ = f"TF's ``tf.{opname}`` (axis, keepdims, and TF1's keep_dims / reduction_indices)."
    return op


def _full_reduction(x, opname, keep):
    """axis=None over a value of unknown rank (see unknown_rank.py): reduce whatever array comes."""
    from ...ops import reduce as R

    if keep:
        raise ValueError(f"{opname}: keepdims=True needs the input's rank, which is unknown here")
    if opname == "reduce_sum":
        return R.sum_(x, axis=None)
    if opname == "reduce_mean" and x.dtype.is_floating_point:
        n = F.cast(R.prod(F.shape_of(x), axis=None), x.dtype)  # the element count of the fed array
        return F.div(R.sum_(x, axis=None), n)
    if opname == "reduce_max":
        return R.amax(x, axis=None)
    if opname == "reduce_min":
        return R.amin(x, axis=None)
    raise ValueError(f"{opname} over a placeholder of unknown rank (created with no shape) is not supported")


def _sum_body(x, axes, keep):
    if x.dtype is _dt.bool_:
        raise TypeError("reduce_sum: bool tensors are not summable; cast them first")
    out = F.sum(x, dim=axes, keepdim=keep)
    return out if out.dtype == x.dtype else F.cast(out, x.dtype)  # TF keeps int32 (PyTorch widens to int64)


def _count_of(x, axes):
    shape = [x.shape[a] for a in axes]
    if None in shape:
        return None
    n = 1
    for s in shape:
        n *= s
    return n


def _mean_body(x, axes, keep):
    if x.dtype.is_floating_point:
        return F.mean(x, dim=axes, keepdim=keep)
    if x.dtype is _dt.bool_:
        raise TypeError("reduce_mean: bool tensors are not supported; cast them first")
    s = F.sum(x, dim=axes, keepdim=keep)  # int64
    n = _count_of(x, axes)
    if n is None:
        n = F.prod(F.index_select(F.shape_of(x), 0, constant_tensor(np.array(axes, np.int64))))
    q = F.div(s, n, rounding_mode="trunc")  # TF's integer mean divides with truncation
    return F.cast(q, x.dtype)


def _prod_body(x, axes, keep):
    out = x
    for a in reversed(axes):
        out = F.prod(out, dim=a, keepdim=keep)
    return out if out.dtype == x.dtype else F.cast(out, x.dtype)


def _bool_body(fn, opname):
    def body(x, axes, keep):
        if x.dtype is not _dt.bool_:
            raise TypeError(f"{opname}: expected a bool tensor, got {dtype_name(x.dtype)}")
        return fn(x, dim=axes, keepdim=keep)

    return body


reduce_sum = _reduction(_sum_body, "reduce_sum")
reduce_mean = _reduction(_mean_body, "reduce_mean")
reduce_max = _reduction(lambda x, a, k: F.amax(x, dim=a, keepdim=k), "reduce_max")
reduce_min = _reduction(lambda x, a, k: F.amin(x, dim=a, keepdim=k), "reduce_min")
reduce_prod = _reduction(_prod_body, "reduce_prod")
reduce_any = _reduction(_bool_body(F.any, "reduce_any"), "reduce_any")
reduce_all = _reduction(_bool_body(F.all, "reduce_all"), "reduce_all")
reduce_logsumexp = _reduction(lambda x, a, k: F.logsumexp(x, dim=a, keepdim=k), "reduce_logsumexp")


def count_nonzero(
    input_tensor=None,
    axis=None,
    keepdims=None,
    dtype=_dt.int64,
    name=None,
    reduction_indices=None,
    keep_dims=None,
    input=None,
):  # noqa: A002
    x = to_tensor(input_tensor if input_tensor is not None else input)
    axes = axes_of(_axis_arg(axis, reduction_indices), x.ndim, "count_nonzero")
    nz = F.ne(x, False if x.dtype is _dt.bool_ else 0)
    out = F.cast(nz, fw.as_dtype(dtype))
    if axes:
        out = F.sum(out, dim=axes, keepdim=_keep(keepdims, keep_dims))
        out = F.cast(out, fw.as_dtype(dtype)) if out.dtype != fw.as_dtype(dtype) else out
    return named(out, name)


def _arg(fn, opname):
    def op(input, axis=None, name=None, dimension=None, output_type=_dt.int64):  # noqa: A002
        x = to_tensor(input)
        if axis is not None and dimension is not None:
            raise ValueError("Cannot specify both 'axis' and 'dimension'")
        a = axis if axis is not None else dimension
        a = one_axis(0 if a is None else a, x.ndim, opname)  # TF1 defaults to axis 0
        out = fn(x, dim=a)
        d = fw.as_dtype(output_type)
        return named(out if d == out.dtype else F.cast(out, d), name)

    op.__name__ = op.__qualname__ = opname
    return op


argmax = _arg(F.argmax, "argmax")
argmin = _arg(F.argmin, "argmin")
arg_max, arg_min = argmax, argmin  # TF1's deprecated spellings (tutorials' nearest_neighbor.py uses arg_min)


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    x = to_tensor(input_tensor)
    mean = reduce_mean(x, axis, keepdims=True)
    d = F.sub(x, mean)
    return named(reduce_mean(F.mul(d, d), axis, keepdims=keepdims), name)


def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    return named(F.sqrt(reduce_variance(input_tensor, axis, keepdims)), name)


def einsum(equation, *inputs, **kwargs):
    name = kwargs.pop("name", None)
    ts = [to_tensor(t) for t in inputs]
    return named(F.einsum(equation, *ts), name)


def _div_no_nan(x, y, name=None):
    x, y = to_tensors(x, y, "DivNoNan")
    zero = F.eq(y, 0)
    return named(F.where(zero, 0.0, F.div(x, F.where(zero, 1.0, y))), name)


__all__ = [
    "add",
    "subtract",
    "multiply",
    "divide",
    "truediv",
    "div",
    "floordiv",
    "floor_div",
    "mod",
    "floormod",
    "matmul",
    "square",
    "sqrt",
    "rsqrt",
    "exp",
    "log",
    "log1p",
    "abs",
    "negative",
    "neg",
    "sign",
    "floor",
    "ceil",
    "round",
    "sigmoid",
    "tanh",
    "reciprocal",
    "sin",
    "cos",
    "erf",
    "is_nan",
    "is_finite",
    "is_inf",
    "pow",
    "maximum",
    "minimum",
    "squared_difference",
    "stop_gradient",
    "clip_by_value",
    "add_n",
    "equal",
    "not_equal",
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
    "cast",
    "to_float",
    "to_int32",
    "to_int64",
    "reduce_sum",
    "reduce_mean",
    "reduce_max",
    "reduce_min",
    "reduce_prod",
    "reduce_any",
    "reduce_all",
    "reduce_logsumexp",
    "count_nonzero",
    "argmax",
    "argmin",
    "arg_max",
    "arg_min",
    "reduce_variance",
    "reduce_std",
    "einsum",
]

wrap_exports(globals())

from .array_ops import *  # noqa: E402,F403 - tf.reshape & co. live beside tf.add in TF's namespace
from .array_ops import __all__ as _array_all  # noqa: E402

# tf.math: the math ops under TF's second spelling (nn_ops adds softplus, in_top_k, ...)
math = types.SimpleNamespace(**{k: globals()[k] for k in __all__})
math.divide_no_nan = lambda x, y, name=None: _div_no_nan(x, y, name)
__all__ = __all__ + list(_array_all) + ["math"]
