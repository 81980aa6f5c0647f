"""Public ops with PyTorch's signatures: argument handling over the primitives,
and composite ops written as ordinary functions of other ops.

Composites need no rules of their own: every interpreter (eager, graph,
autodiff) understands them through the primitives they call. Each is listed
in ``COMPOSITES`` with sample hints, so the op-table tests sweep them too.
"""

from __future__ import annotations

import builtins
import collections

from .. import dtypes as dt
from ..errors import ShapeError, describe
from ..tensor import Tensor, _make
from . import elementwise as E
from . import indexing as I
from . import linalg as L
from . import movement as M
from . import nn_kernels as N
from . import reduce as R
from ._rules import wrap_dim, wrap_dims

COMPOSITES: dict[str, dict] = {}


def composite(sample=None, name=None):
    """Register a composite op for the op-table sweep (``sample``: how to test it)."""

    def deco(fn):
        COMPOSITES[name or fn.__name__] = dict(fn=fn, sample=sample or {})
        return fn

    return deco


_rt = collections.namedtuple
values_indices = {
    n: _rt(n, ["values", "indices"]) for n in ("max", "min", "sort", "topk", "kthvalue", "median", "mode", "cummax")
}


def _t(x):
    return x if isinstance(x, Tensor) else _scalar_tensor(x)


def _scalar_tensor(x):
    import numpy as np

    from .creation import tensor

    if isinstance(x, np.ndarray):
        return tensor(x)
    return tensor(x)


def _dims_arg(dim):
    if dim is None:
        return None
    if isinstance(dim, (list, tuple)):
        return tuple(int(d) for d in dim)
    return (int(dim),)


def _axis(x, dim, op):
    """PyTorch's dim argument (int, tuple, None) as a sorted tuple of non-negative axes."""
    dims = _dims_arg(dim)
    if dims is None:
        return None
    axes = tuple(sorted(wrap_dims(dims, x.ndim, op)))
    return axes if x.ndim else ()  # a 0-d tensor accepts dim 0 / -1 and reduces nothing


# ---- arithmetic --------------------------------------------------------------
def _check_alpha(op, input, other, alpha):
    if not builtins.any(
        isinstance(x, float) or (isinstance(x, Tensor) and x.is_floating_point()) for x in (input, other)
    ):
        raise RuntimeError(
            f"{op}: {describe((input, other))}: For integral input tensors, argument alpha must not be a floating "
            f"point number (got alpha={alpha})"
        )


def add(input, other, *, alpha=1, out=None):
    if type(alpha) is float:
        _check_alpha("add", input, other, alpha)
    if alpha != 1:
        other = E.mul(other, alpha)
    return E.add(input, other)


def sub(input, other, *, alpha=1, out=None):
    if type(alpha) is float:
        _check_alpha("sub", input, other, alpha)
    if alpha != 1:
        other = E.mul(other, alpha)
    return E.sub(input, other)  # its dtype rule refuses bool operands, as PyTorch does


subtract = sub


def _is_bool(x):
    return isinstance(x, builtins.bool) or (isinstance(x, Tensor) and x.dtype is dt.bool_)


mul = multiply = E.mul


def div(input, other, *, rounding_mode=None, out=None):
    if rounding_mode is None:
        return E.div(input, other)
    if rounding_mode == "trunc":
        q = E.div(input, other)
        r = E.trunc(q)
    elif rounding_mode == "floor":
        return E.floor_divide(input, other)
    else:
        raise ValueError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{rounding_mode}'"
        )
    ref = input if isinstance(input, Tensor) else other
    if (
        not ref.is_floating_point()
        and not (isinstance(other, Tensor) and other.is_floating_point())
        and not isinstance(other, float)
    ):
        r = cast(r, dtype=ref.dtype)
    return r


divide = true_divide = div
floor_divide = E.floor_divide
remainder = E.remainder
fmod = E.fmod


def pow(input, exponent):
    if isinstance(input, Tensor) and input.dtype.category != dt.FLOAT:
        if isinstance(exponent, int) and not isinstance(exponent, builtins.bool) and exponent < 0:
            raise RuntimeError("Integers to negative integer powers are not allowed.")
        if input.dtype is dt.bool_ and isinstance(exponent, builtins.bool):
            return E.logical_or(input, not exponent)  # bool ** bool scalar stays bool, as in PyTorch
    if _is_bool_arg(input) and _is_bool_arg(exponent):
        raise NotImplementedError("\"pow\" not implemented for 'Bool'")
    return E.pow(input, exponent)


def _is_bool_arg(x):
    return isinstance(x, builtins.bool) or (isinstance(x, Tensor) and x.dtype is dt.bool_)


neg = negative = E.neg
abs = absolute = E.abs
positive = lambda input: input  # noqa: E731


def float_power(input, exponent):  # noqa: F811
    return E.pow(cast(_t(input), dtype=dt.float64), exponent)


@composite(sample=dict(kind="unary", domain=[(-3.0, 3.0)]))
def square(input):
    return E.mul(input, input)


@composite(sample=dict(kind="unary", domain=[(-3.0, 3.0)], torch="nn.functional.silu"))
def silu(input):
    return E.mul(input, E.sigmoid(input))


@composite(sample=dict(kind="unary", domain=[(-3.0, 3.0)], torch="nn.functional.softplus"))
def softplus(input, beta=1.0, threshold=20.0):
    scaled = E.mul(input, beta) if beta != 1 else input
    soft = E.log1p(E.exp(E.neg(E.abs(scaled)))) + E.relu(scaled)
    if beta != 1:
        soft = E.div(soft, beta)
    return E.where(E.gt(scaled, threshold), input, soft)


@composite(sample=dict(kind="unary", domain=[(-3.0, 3.0)], torch="nn.functional.mish"))
def mish(input):
    return E.mul(input, E.tanh(softplus(input)))


@composite(sample=dict(kind="unary", domain=[(0.05, 0.95)]))
def logit(input, eps=None):
    if eps is not None:
        input = clamp(input, eps, 1 - eps)
    return E.log(E.div(input, E.sub(1.0, input)))


@composite(sample=dict(kind="binary", domain=[(-3.0, 3.0), (-3.0, 3.0)], scalar=False))
def hypot(input, other):
    return E.sqrt(E.add(E.mul(input, input), E.mul(other, other)))


@composite(sample=dict(kind="ternary", domain=[(-3.0, 3.0), (-3.0, 3.0), (0.0, 1.0)]))
def lerp(input, end, weight):
    return E.add(input, E.mul(weight, E.sub(end, input)))


@composite(sample=dict(kind="ternary", domain=[(-3.0, 3.0), (-3.0, 3.0), (-3.0, 3.0)]))
def addcmul(input, tensor1, tensor2, *, value=1):
    prod = E.mul(tensor1, tensor2)
    return E.add(input, prod if value == 1 else E.mul(prod, value))


@composite(sample=dict(kind="ternary", domain=[(-3.0, 3.0), (-3.0, 3.0), (0.5, 3.0)]))
def addcdiv(input, tensor1, tensor2, *, value=1):
    q = E.div(tensor1, tensor2)
    return E.add(input, q if value == 1 else E.mul(q, value))


def clamp(input, min=None, max=None, *, out=None):
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out_t = input
        if min is not None:
            out_t = E.where(E.lt(out_t, min), min, out_t)
        if max is not None:
            out_t = E.where(E.gt(out_t, max), max, out_t)
        return out_t
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    if not input.is_floating_point() and (isinstance(min, float) or isinstance(max, float)):
        input = cast(input, dtype=dt.get_default_dtype())
    return E.clamp_scalar(input, min=min, max=max)


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def rsub(input, other, *, alpha=1):
    return sub(other, input, alpha=alpha)


# ---- comparison ---------------------------------------------------------------
eq, ne, lt, le, gt, ge = E.eq, E.ne, E.lt, E.le, E.gt, E.ge
greater, greater_equal, less, less_equal, not_equal = E.gt, E.ge, E.lt, E.le, E.ne
logical_and, logical_or, logical_xor, logical_not = E.logical_and, E.logical_or, E.logical_xor, E.logical_not
bitwise_and, bitwise_or, bitwise_xor, bitwise_not = E.bitwise_and, E.bitwise_or, E.bitwise_xor, E.bitwise_not
maximum, minimum = E.maximum, E.minimum
fmax, fmin = E.maximum, E.minimum


def _scalar_tensor_of(x, d):
    from .creation import tensor

    return tensor(x, dtype=d)


def equal(input, other) -> bool:
    """True when both tensors have the same shape and elements (a Python bool)."""
    return tuple(input.shape) == tuple(other.shape) and builtins.bool(E.eq(input, other)._data.all())


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    import numpy as np

    return _make(np.isclose(input._data, _t(other)._data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return builtins.bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


def where(condition, input=None, other=None):
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):  # two scalars: PyTorch's scalar dtype
        d = dt.result_type([], [], [type(input), type(other)])
        input, other = _scalar_tensor_of(input, d), _scalar_tensor_of(other, d)
    if not isinstance(condition, Tensor):
        condition = _t(condition)
    if condition.dtype is not dt.bool_:
        condition = E.ne(condition, 0)
    return E.where(condition, input, other)


# ---- reductions -----------------------------------------------------------------
def sum(input, dim=None, keepdim=False, *, dtype=None, out=None):
    if dtype is not None:
        input = cast(input, dtype=dtype)
    return R.sum_(input, axis=_axis(input, dim, "sum"), keepdim=keepdim)


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    return sum(E.where(E.isnan(input), 0.0, input), dim, keepdim, dtype=dtype)


def _count(input, axis):
    axes = tuple(range(input.ndim) if axis is None else axis)
    shape = input.shape
    if None in [shape[a] for a in axes]:
        return input._data.count(axes)  # a graph value with dims known only at run time counts then
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def mean(input, dim=None, keepdim=False, *, dtype=None, out=None):
    if dtype is not None:
        input = cast(input, dtype=dtype)
    if not input.is_floating_point():
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {input.dtype.name.capitalize()}"
        )
    axis = _axis(input, dim, "mean")
    n = _count(input, axis)
    s = R.sum_(input, axis=axis, keepdim=keepdim)
    return E.div(s, n) if not isinstance(n, int) or n else E.mul(s, float("nan"))


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    keep = E.logical_not(E.isnan(input))
    return E.div(nansum(input, dim, keepdim), sum(keep, dim, keepdim))


def prod(input, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = cast(input, dtype=dtype)
    return R.prod(input, axis=_axis(input, dim, "prod"), keepdim=keepdim)


def amax(input, dim=(), keepdim=False):
    dims = None if dim == () or dim is None else dim
    return R.amax(input, axis=_axis(input, dims, "amax"), keepdim=keepdim)


def amin(input, dim=(), keepdim=False):
    dims = None if dim == () or dim is None else dim
    return R.amin(input, axis=_axis(input, dims, "amin"), keepdim=keepdim)


def _maxmin(which, input, dim, keepdim, other):
    if isinstance(dim, Tensor) and other is None:
        return E.maximum(input, dim) if which == "max" else E.minimum(input, dim)
    if other is not None:
        return E.maximum(input, other) if which == "max" else E.minimum(input, other)
    if dim is None:
        if input.numel() == 0:
            raise RuntimeError(
                f"{which}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument."
            )
        return R.amax(input, axis=None) if which == "max" else R.amin(input, axis=None)
    axis = wrap_dim(dim, input.ndim, which)
    v, i = (R.max_dim if which == "max" else R.min_dim)(input, axis=axis, keepdim=keepdim)
    return values_indices[which](v, i)


def max(input, dim=None, keepdim=False, *, other=None, out=None):
    return _maxmin("max", input, dim, keepdim, other)


def min(input, dim=None, keepdim=False, *, other=None, out=None):
    return _maxmin("min", input, dim, keepdim, other)


def argmax(input, dim=None, keepdim=False):
    if input.dtype is dt.bool_:
        raise RuntimeError("argmax(): does not support bool input")
    return R.argmax(input, axis=None if dim is None else wrap_dim(dim, input.ndim, "argmax"), keepdim=keepdim)


def argmin(input, dim=None, keepdim=False):
    if input.dtype is dt.bool_:
        raise RuntimeError("argmin(): does not support bool input")
    return R.argmin(input, axis=None if dim is None else wrap_dim(dim, input.ndim, "argmin"), keepdim=keepdim)


def all(input, dim=None, keepdim=False):
    out = R.all_(input, axis=_axis(input, dim, "all"), keepdim=keepdim)
    return cast(out, dtype=dt.uint8) if input.dtype is dt.uint8 else out  # PyTorch keeps uint8


def any(input, dim=None, keepdim=False):
    out = R.any_(input, axis=_axis(input, dim, "any"), keepdim=keepdim)
    return cast(out, dtype=dt.uint8) if input.dtype is dt.uint8 else out


def count_nonzero(input, dim=None):
    return sum(E.ne(input, 0), dim)


def _correction(correction, unbiased):
    if correction is not None:
        return correction
    if unbiased is None:
        return 1
    return 1 if unbiased else 0


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(unbiased, (int, tuple, list)) and not isinstance(unbiased, builtins.bool) and dim is None:
        dim, unbiased = unbiased, None  # var(x, 1) means dim=1
    c = _correction(correction, unbiased)
    axis = _axis(input, dim, "var")
    n = _count(input, axis)
    mu = mean(input, axis, keepdim=True)
    d = E.sub(input, mu)
    return E.div(R.sum_(E.mul(d, d), axis=axis, keepdim=keepdim), builtins.max(n - c, 0))


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return E.sqrt(var(input, dim, unbiased, keepdim, correction=correction))


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def logsumexp(input, dim=None, keepdim=False):
    if dim is None:
        raise TypeError("logsumexp() missing required argument 'dim'")
    return R.logsumexp_(input, axis=_axis(input, dim, "logsumexp"), keepdim=keepdim)


def cumsum(input, dim, *, dtype=None):
    if dtype is not None:
        input = cast(input, dtype=dtype)
    return R.cumsum_(input, axis=wrap_dim(dim, input.ndim, "cumsum"))


def cumprod(input, dim, *, dtype=None):
    if dtype is not None:
        input = cast(input, dtype=dtype)
    return R.cumprod_(input, axis=wrap_dim(dim, input.ndim, "cumprod"))


def vector_norm(input, ord=2, dim=None, keepdim=False, *, dtype=None):
    if dtype is not None:
        input = cast(input, dtype=dtype)
    if not input.is_floating_point():
        raise RuntimeError(
            f"linalg.vector_norm: Expected a floating point tensor as input. Got {input.dtype.name.capitalize()}"
        )
    return R.vector_norm_(input, ord=float(ord), axis=_axis(input, dim, "norm"), keepdim=keepdim)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    if p == "fro" or p is None:
        p = 2
    if p == "nuc":
        raise NotImplementedError("norm: the nuclear norm needs an SVD, which ember does not have yet")
    return vector_norm(input, p, dim, keepdim, dtype=dtype)


def dist(input, other, p=2):
    return vector_norm(E.sub(input, other), p)


# ---- linear algebra ------------------------------------------------------------
matmul = L.matmul


def _matmul_as(op, a, b):
    """matmul, with its errors named after the op the user called (mm, bmm, mv, dot)."""
    err = L.inner_dim_error(op, a, b)
    if err is not None:
        raise err
    if a.dtype is not b.dtype:
        raise RuntimeError(
            f"{op}: {tuple(a.shape)} {a.dtype.name}, {tuple(b.shape)} {b.dtype.name}: expected both operands to "
            f"have the same dtype, but got: {a.dtype.name} != {b.dtype.name}"
        )
    return L.matmul(a, b)


def mm(input, mat2):
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(
            f"mm: both arguments must be matrices, got shapes {list(input.shape)} and {list(mat2.shape)}"
        )
    return _matmul_as("mm", input, mat2)


def bmm(input, mat2):
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"bmm: batch1 and batch2 must be 3D tensors, got {list(input.shape)} and {list(mat2.shape)}")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(
            f"bmm: batch sizes must match, got {input.shape[0]} and {mat2.shape[0]} "
            f"(shapes {list(input.shape)} and {list(mat2.shape)})"
        )
    return _matmul_as("bmm", input, mat2)


def mv(input, vec):
    if input.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"mv: expected a matrix and a vector, got shapes {list(input.shape)} and {list(vec.shape)}")
    return _matmul_as("mv", input, vec)


def dot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(
            f"dot: 1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors "
            f"(shapes {list(input.shape)} and {list(other.shape)})"
        )
    return _matmul_as("dot", input, other)


inner = vdot = dot


@composite(sample=dict(kind="binary_vec"))
def outer(input, vec2):
    for name, v in (("self", input), ("vec2", vec2)):
        if v.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {v.ndim}-D (shape {tuple(v.shape)})")
    return E.mul(unsqueeze(input, 1), unsqueeze(vec2, 0))


ger = outer


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    prod_ = L.matmul(mat1, mat2)
    if alpha != 1:
        prod_ = E.mul(prod_, alpha)
    if beta == 0:
        return prod_
    return E.add(input if beta == 1 else E.mul(input, beta), prod_)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return addmm(input, batch1, batch2, beta=beta, alpha=alpha)


def einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return L.einsum_(*operands, equation=equation)


@composite(sample=dict(kind="matrix"))
def trace(input):
    return sum(diagonal(input))


# ---- shape ----------------------------------------------------------------------
def _shape_arg(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    return tuple(a if a is None else int(a) for a in args)


def _unknown_as_inferred(shape):
    """A graph shape with one dim known only at run time (None) reshapes with -1 there."""
    if None in shape and shape.count(None) == 1 and -1 not in shape:
        return tuple(-1 if s is None else s for s in shape)
    return shape


def reshape(input, *shape):
    shape = M.infer_reshape(_unknown_as_inferred(_shape_arg(shape)), input.numel(), "reshape", (input,))
    if tuple(shape) == tuple(input.shape):
        return M.reshape(input, shape=shape)
    return M.reshape(input, shape=shape)


def view(input, *shape):
    import numpy as np

    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):
        return (
            cast(input, dtype=shape[0])
            if dt.as_dtype(shape[0]).itemsize == input.element_size()
            else _view_dtype(input, shape[0])
        )
    shape = M.infer_reshape(_shape_arg(shape), input.numel(), "view", (input,))
    out = M.reshape(input, shape=shape)
    symbolic = getattr(out._data, "_xp", None) is not None  # a graph value: no memory to check (yet)
    if not symbolic and out.numel() and not np.may_share_memory(out._data, input._data):
        raise RuntimeError(
            f"view: {list(shape)} from shape {tuple(input.shape)} with strides {tuple(input.stride())}: view size is "
            "not compatible with input tensor's size and stride (at least one dimension spans across two "
            "contiguous subspaces). Use .reshape(...) instead."
        )
    return out


def _view_dtype(input, d):
    raise RuntimeError(
        f"view: reinterpreting {input.dtype} as {dt.as_dtype(d)} (a different itemsize) is not supported"
    )


def view_as(input, other):
    return view(input, tuple(other.shape))


def reshape_as(input, other):
    return reshape(input, tuple(other.shape))


def flatten(input, start_dim=0, end_dim=-1):
    if input.ndim == 0:
        return reshape(input, (1,))
    s = wrap_dim(start_dim, input.ndim, "flatten")
    e = wrap_dim(end_dim, input.ndim, "flatten")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = tuple(input.shape)
    return reshape(input, shape[:s] + (-1 if 0 not in shape[s : e + 1] else 0,) + shape[e + 1 :])


def unflatten(input, dim, sizes):
    d = wrap_dim(dim, input.ndim, "unflatten")
    shape = tuple(input.shape)
    return reshape(input, shape[:d] + tuple(sizes) + shape[d + 1 :])


def squeeze(input, dim=None):
    shape = tuple(input.shape)
    if dim is None:
        new = tuple(s for s in shape if s != 1)
    else:
        dims = set(wrap_dims(_dims_arg(dim), input.ndim, "squeeze")) if input.ndim else set()
        new = tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))
    return M.reshape(input, shape=_unknown_as_inferred(new))  # a graph dim known only at run time: -1


def unsqueeze(input, dim):
    d = wrap_dim(dim, input.ndim + 1, "unsqueeze")
    shape = tuple(input.shape)
    return M.reshape(input, shape=_unknown_as_inferred(shape[:d] + (1,) + shape[d:]))


def permute(input, *dims):
    dims = _shape_arg(dims)
    if len(dims) != input.ndim:
        raise RuntimeError(
            f"permute: number of dimensions in the tensor input does not match the length of the desired ordering "
            f"of dimensions i.e. input.dim() = {input.ndim} is not equal to len(dims) = {len(dims)} "
            f"(shape {tuple(input.shape)}, dims {list(dims)})"
        )
    return M.permute_(input, axes=tuple(wrap_dim(d, input.ndim, "permute") for d in dims))


def transpose(input, dim0, dim1):
    n = input.ndim
    if n == 0:
        wrap_dim(dim0, 0, "transpose")
        wrap_dim(dim1, 0, "transpose")
        return M.reshape(input, shape=())
    a, b = wrap_dim(dim0, n, "transpose"), wrap_dim(dim1, n, "transpose")
    axes = list(range(n))
    axes[a], axes[b] = axes[b], axes[a]
    return M.permute_(input, axes=tuple(axes))


swapaxes = swapdims = transpose


def t(input):
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return transpose(input, 0, 1) if input.ndim == 2 else input


def mT(input):
    if input.ndim < 2:
        raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. Got 1-D tensor.")
    return transpose(input, -2, -1)


def T(input):
    return permute(input, tuple(range(input.ndim - 1, -1, -1)))


def movedim(input, source, destination):
    src = [wrap_dim(s, input.ndim, "movedim") for s in (_dims_arg(source))]
    dst = [wrap_dim(s, input.ndim, "movedim") for s in (_dims_arg(destination))]
    order = [i for i in range(input.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return M.permute_(input, axes=tuple(order))


moveaxis = movedim


def expand(input, *sizes):
    like = getattr(sizes[0] if len(sizes) == 1 else sizes, "like", None)
    sizes = _shape_arg(sizes)
    if None in sizes and like is not None:  # a graph input's shape known only at run time
        return M.expand_like(input, like)
    lead = len(sizes) - input.ndim
    shape = tuple(input.shape)
    target = tuple(shape[i - lead] if (s == -1 and i >= lead) else s for i, s in enumerate(sizes))
    if target == shape:
        return M.reshape(input, shape=shape)
    return M.expand_(input, shape=target)


def expand_as(input, other):
    return expand(input, tuple(other.shape))


def broadcast_to(input, size):
    return expand(input, tuple(size))


def broadcast_tensors(*tensors):
    import numpy as np

    shape = np.broadcast_shapes(*[tuple(t.shape) for t in tensors])
    return tuple(expand(t, shape) for t in tensors)


def broadcast_shapes(*shapes):
    import numpy as np

    from ..tensor import Size

    return Size(np.broadcast_shapes(*[tuple(s) if not isinstance(s, int) else (s,) for s in shapes]))


def cat(tensors, dim=0, *, out=None):
    tensors = [x for x in tensors]
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    # PyTorch skips legacy empty 1-D tensors of shape (0,) next to tensors of other ranks
    ref = next((x for x in tensors if not (x.ndim == 1 and x.shape[0] == 0)), tensors[0])
    kept = [x for x in tensors if x.ndim == ref.ndim or not (x.ndim == 1 and x.shape[0] == 0)]
    return M.cat_(*kept, axis=wrap_dim(dim, ref.ndim, "cat"))


concat = concatenate = cat


def stack(tensors, dim=0, *, out=None):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    shape0 = tuple(tensors[0].shape)
    for k, x in enumerate(tensors):
        if tuple(x.shape) != shape0:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(shape0)} at entry 0 and {list(x.shape)} at entry {k}"
            )
    d = wrap_dim(dim, len(shape0) + 1, "stack")
    return M.cat_(*[unsqueeze(x, d) for x in tensors], axis=d)


def hstack(tensors):
    tensors = list(tensors)
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat([x if x.ndim >= 2 else reshape(x, (1, -1)) for x in tensors], 0)


def _slice_along(input, dim, start, stop):
    idx = [slice(None)] * input.ndim
    idx[dim] = slice(start, stop)
    return getitem(input, tuple(idx))


_SPLIT_FN = None


def _split_function():
    """An autograd Function: k pieces of a tensor as ONE tape node whose backward is one ``cat``.

    Sliced one by one, each piece's gradient is a full-size zero tensor with the slice
    written in, and the engine then adds k full-size tensors: for attention's
    ``q, k, v = qkv.split(...)`` that was most of the split's backward cost.
    """
    global _SPLIT_FN
    if _SPLIT_FN is None:
        from ..autograd.function import Function

        class SplitBackward(Function):
            @staticmethod
            def forward(ctx, x, dim, bounds):
                pieces = tuple(_slice_along(x, dim, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1))
                ctx.dim, ctx.shapes = dim, [tuple(p.shape) for p in pieces]
                return pieces

            @staticmethod
            def backward(ctx, *grads):
                some = next(g for g in grads if g is not None)
                parts = [some.new_zeros(shape) if g is None else g for g, shape in zip(grads, ctx.shapes)]
                return cat(parts, ctx.dim), None, None

        _SPLIT_FN = SplitBackward
    return _SPLIT_FN


def _pieces(tensor, d, bounds):
    """Slices [bounds[i], bounds[i+1]) along d; one tape node for all of them when gradients are recorded."""
    if len(bounds) > 2 and tensor.requires_grad and _grad_enabled():
        out = _split_function().apply(tensor, d, tuple(bounds))
        return out if isinstance(out, tuple) else (out,)
    return tuple(_slice_along(tensor, d, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1))


def _grad_enabled():
    from ..autograd.grad_mode import state

    return state.enabled


def split(tensor, split_size_or_sections, dim=0):
    d = wrap_dim(dim, tensor.ndim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 and n:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={step}")
        if not n:
            return (_slice_along(tensor, d, 0, 0),)
        return _pieces(tensor, d, list(range(0, n, step)) + [n])
    sizes = list(split_size_or_sections)
    if builtins.sum(sizes) != n:
        raise RuntimeError(
            f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at dimension {d}), but got split_sizes={sizes}"
        )
    bounds = [0]
    for s in sizes:
        bounds.append(bounds[-1] + s)
    return _pieces(tensor, d, bounds)


def tensor_split(input, indices_or_sections, dim=0):
    d = wrap_dim(dim, input.ndim, "tensor_split")
    n = input.shape[d]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        bounds = [builtins.sum(sizes[:i]) for i in range(k + 1)]
    else:
        bounds = [0] + list(indices_or_sections) + [n]
    return _pieces(input, d, bounds)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0")
    d = wrap_dim(dim, input.ndim, "chunk")
    n = input.shape[d]
    if n == 0:  # PyTorch returns ``chunks`` empty pieces
        return tuple(_slice_along(input, d, 0, 0) for _ in range(chunks))
    return split(input, -(-n // chunks), d)


def unbind(input, dim=0):
    d = wrap_dim(dim, input.ndim, "unbind")
    return tuple(select(input, d, i) for i in range(input.shape[d]))


def narrow(input, dim, start, length):
    d = wrap_dim(dim, input.ndim, "narrow")
    if isinstance(start, Tensor):
        start = start.item()
    if start < 0:
        start += input.shape[d]
    if start + length > input.shape[d] or length < 0:
        raise RuntimeError(
            f"narrow(): start ({start}) + length ({length}) exceeds dimension size ({input.shape[d]}) "
            f"of dim {d} of a tensor of shape {tuple(input.shape)}."
        )
    return _slice_along(input, d, start, start + length)


def select(input, dim, index):
    d = wrap_dim(dim, input.ndim, "select")
    n = input.shape[d]
    if not -n <= index < n:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size {list(input.shape)} at dimension {d}"
        )
    idx = [slice(None)] * input.ndim
    idx[d] = index
    return getitem(input, tuple(idx))


def flip(input, dims):
    return M.flip_(input, axes=tuple(wrap_dims(_dims_arg(dims), input.ndim, "flip")))


def fliplr(input):
    return flip(input, (1,))


def flipud(input):
    return flip(input, (0,))


def roll(input, shifts, dims=None):
    s = _dims_arg(shifts)
    d = () if dims is None else tuple(wrap_dims(_dims_arg(dims), input.ndim, "roll"))
    if d and len(s) != len(d):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(s)}, dims: {len(d)}")
    return M.roll_(input, shifts=s if d else s[0], axes=d)


def repeat(input, *sizes):
    sizes = _shape_arg(sizes)
    if len(sizes) < input.ndim:  # np.tile would pad the repeats with ones
        raise RuntimeError(
            f"repeat: Number of dimensions of repeat dims ({list(sizes)}) can not be smaller than number of "
            f"dimensions of tensor (shape {tuple(input.shape)})"
        )
    return M.repeat_(input, reps=sizes)


def tile(input, dims):
    dims = tuple(dims)
    if len(dims) < input.ndim:
        dims = (1,) * (input.ndim - len(dims)) + dims
    return M.repeat_(input, reps=dims)


def repeat_interleave(input, repeats, dim=None):
    if dim is None:
        input = flatten(input)
        dim = 0
    d = wrap_dim(dim, input.ndim, "repeat_interleave")
    import numpy as np

    if isinstance(repeats, Tensor):
        idx = np.repeat(np.arange(input.shape[d]), repeats._data)
    else:
        idx = np.repeat(np.arange(input.shape[d]), repeats)
    return index_select(input, d, _index_like(idx, input))


def _check_matrix(input, op):
    if input.ndim < 2:  # np.tril would broadcast a vector to a matrix
        raise RuntimeError(f"{op}: input tensor must have at least 2 dimensions, got shape {tuple(input.shape)}")


def tril(input, diagonal=0):
    _check_matrix(input, "tril")
    return M.tril_(input, k=diagonal)


def triu(input, diagonal=0):
    _check_matrix(input, "triu")
    return M.triu_(input, k=diagonal)


def diagonal(input, offset=0, dim1=0, dim2=1):
    return M.diagonal_(
        input, offset=offset, dim1=wrap_dim(dim1, input.ndim, "diagonal"), dim2=wrap_dim(dim2, input.ndim, "diagonal")
    )


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    return M.diagonal_scatter_(input, src, offset=offset, dim1=dim1, dim2=dim2)


def diag(input, diagonal=0):
    if input.ndim == 1:
        n = input.shape[0] + builtins.abs(diagonal)

        return diagonal_scatter(input.new_zeros((n, n)), input, diagonal)
    if input.ndim == 2:
        return M.diagonal_(input, offset=diagonal, dim1=0, dim2=1)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D (shape {tuple(input.shape)})")


def diag_embed(input, offset=0, dim1=-2, dim2=-1):

    n = input.shape[-1] + builtins.abs(offset)
    out = input.new_zeros((*input.shape[:-1], n, n))
    return diagonal_scatter(out, input, offset, out.ndim - 2, out.ndim - 1)


def pad(input, pad, mode="constant", value=None):
    """``nn.functional.pad``: ``pad`` lists (before, after) pairs from the last dim backwards."""
    pad = [int(p) for p in pad]
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError(
            f"Padding length must be divisible by 2 and at most twice the number of dims, got {len(pad)} for a {input.ndim}-D input"
        )
    pairs = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        pairs[input.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if mode == "constant":
        if builtins.any(lo < 0 or hi < 0 for lo, hi in pairs):
            crop = tuple(
                slice(-lo if lo < 0 else 0, (s + hi) if hi < 0 else None) for (lo, hi), s in zip(pairs, input.shape)
            )
            input = getitem(input, crop)
            pairs = [(builtins.max(lo, 0), builtins.max(hi, 0)) for lo, hi in pairs]
        return M.pad_constant(input, pads=tuple(pairs), value=0.0 if value is None else value)
    import numpy as np

    # reflect / replicate / circular: a gather with computed indices along each padded dim
    out = input
    for d, (lo, hi) in enumerate(pairs):
        if lo == 0 and hi == 0:
            continue
        n = out.shape[d]
        pos = np.arange(-lo, n + hi)
        if mode == "reflect":
            if lo >= n or hi >= n:
                raise RuntimeError(
                    f"Argument #4: Padding size should be less than the corresponding input dimension, but got: padding ({lo}, {hi}) at dimension {d} of input {list(input.shape)}"
                )
            period = 2 * (n - 1)
            pos = np.abs(pos) % period if period else np.zeros_like(pos)
            pos = np.where(pos >= n, period - pos, pos)
        elif mode == "replicate":
            pos = np.clip(pos, 0, n - 1)
        elif mode == "circular":
            pos = pos % n
        else:
            raise NotImplementedError(f"pad: mode '{mode}' is not supported (constant, reflect, replicate, circular)")
        out = index_select(out, d, _index_like(pos, input))
    return out


# ---- indexing ---------------------------------------------------------------------
def _index_like(positions, input):
    """Host-computed int64 indices, on the device of the tensor they index."""
    from .creation import tensor

    return tensor(positions.astype("int64"), device=None if input.device.type == "cpu" else input.device)


def getitem(input, key):
    enc, tensors = I.encode_key(key)
    return I.getitem(input, *tensors, key=enc)


def _check_index_dtype(op, input, index):
    """PyTorch refuses float and bool index tensors with a RuntimeError (NumPy: IndexError)."""
    if isinstance(index, Tensor) and index._data.dtype.kind not in "iu":
        raise RuntimeError(
            f"{op}(): Expected dtype int32/int64 for index, got {index.dtype.name} "
            f"(input {tuple(input.shape)}, index {tuple(index.shape)})"
        )


def gather(input, dim, index, *, sparse_grad=False):
    _check_index_dtype("gather", input, index)
    return I.gather_(input, index, dim=wrap_dim(dim, input.ndim, "gather"))


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    if reduce is not None:
        if reduce != "add":
            raise NotImplementedError(f"scatter: reduce='{reduce}' is not supported (use scatter_add or reduce='add')")
        return scatter_add(input, dim, index, src if src is not None else value)
    if src is None:
        src = value
    if not isinstance(src, Tensor):
        src = float(src) if input.is_floating_point() else src
    _same_dtype(input, src, "scatter(): Expected self.dtype to be equal to src.dtype")
    _check_index_dtype("scatter", input, index)
    return I.scatter_prim(input, index, src, dim=wrap_dim(dim, input.ndim, "scatter"))


def _same_dtype(input, source, msg):
    """PyTorch's scatter/index_add/index_copy/index_put refuse a source of another dtype."""
    if isinstance(source, Tensor) and source.dtype is not input.dtype:
        raise RuntimeError(f"{msg} (self: {input.dtype}, source: {source.dtype})")


def scatter_add(input, dim, index, src):
    _same_dtype(input, src, "scatter(): Expected self.dtype to be equal to src.dtype")
    _check_index_dtype("scatter_add", input, index)
    return I.scatter_prim(input, index, src, dim=wrap_dim(dim, input.ndim, "scatter_add"), accumulate=True)


def index_select(input, dim, index):
    if index.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    d = wrap_dim(dim, input.ndim, "index_select")
    return getitem(input, (slice(None),) * d + (reshape(index, (-1,)),))


def index_add(input, dim, index, source, *, alpha=1):
    d = wrap_dim(dim, input.ndim, "index_add")
    _same_dtype(input, source, "index_add_(): self and source must have the same scalar type")
    if alpha != 1:
        source = E.mul(source, alpha)
    enc, tensors = I.encode_key((slice(None),) * d + (index,))
    return I.index_put_prim(input, source, *tensors, key=enc, accumulate=True)


def index_fill(input, dim, index, value):
    d = wrap_dim(dim, input.ndim, "index_fill")
    enc, tensors = I.encode_key((slice(None),) * d + (index,))
    return I.index_put_prim(input, value, *tensors, key=enc)


def index_copy(input, dim, index, source):
    d = wrap_dim(dim, input.ndim, "index_copy")
    _same_dtype(input, source, "index_copy_(): self and source expected to have the same dtype")
    enc, tensors = I.encode_key((slice(None),) * d + (index,))
    return I.index_put_prim(input, source, *tensors, key=enc)


def index_put(input, indices, values, accumulate=False):
    _same_dtype(input, values, "Index put requires the source and destination dtypes match")
    enc, tensors = I.encode_key(tuple(indices))
    return I.index_put_prim(input, values, *tensors, key=enc, accumulate=accumulate)


def masked_fill(input, mask, value):
    if isinstance(mask, Tensor) and mask.dtype is not dt.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {mask.dtype.name}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(
                f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with {value.ndim} dimension(s)."
            )
    elif not input.is_floating_point() and isinstance(value, float):
        value = int(value)
    try:
        out = E.where(mask, value, input)
    except ShapeError:  # where's message would name where, not masked_fill
        out = None
    if out is None or tuple(out.shape) != tuple(input.shape):
        raise ShapeError(
            f"masked_fill: mask of shape {list(mask.shape)} does not broadcast to the input's shape {list(input.shape)}"
        )
    if out.dtype is not input.dtype:
        out = cast(out, dtype=input.dtype)
    return out


def masked_select(input, mask):
    shape = broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    return getitem(expand(input, shape), expand(mask, shape))


def masked_scatter(input, mask, source):
    _same_dtype(input, source, "masked_scatter: expected self and source to have same dtypes")
    shape = tuple(input.shape)
    m = expand(mask, shape)
    n = int(m._data.sum())
    enc, tensors = I.encode_key((m,))
    return I.index_put_prim(input, getitem(reshape(source, (-1,)), slice(0, n)), *tensors, key=enc)


def nonzero(input, *, as_tuple=False):
    if as_tuple and input.ndim == 0:
        return (getitem(I.nonzero_(reshape(input, (1,))), (slice(None), 0)),)
    nz = I.nonzero_(input)
    if as_tuple:
        return tuple(getitem(nz, (slice(None), i)) for i in range(input.ndim))
    return nz


def argwhere(input):
    return I.nonzero_(input)


def topk(input, k, dim=-1, largest=True, sorted=True):
    v, i = I.topk_(input, k=int(k), dim=wrap_dim(dim, input.ndim, "topk") if input.ndim else 0, largest=largest)
    return values_indices["topk"](v, i)


def sort(input, dim=-1, descending=False, stable=False):
    v, i = I.sort_(input, dim=wrap_dim(dim, input.ndim, "sort") if input.ndim else 0, descending=descending)
    return values_indices["sort"](v, i)


def argsort(input, dim=-1, descending=False, stable=False):
    return sort(input, dim, descending, stable).indices


def msort(input):
    return sort(input, 0).values


def kthvalue(input, k, dim=-1, keepdim=False):
    d = wrap_dim(dim, input.ndim, "kthvalue")
    v, i = sort(input, d)
    v = select(v, d, k - 1)
    i = select(i, d, k - 1)
    if keepdim:
        v, i = unsqueeze(v, d), unsqueeze(i, d)
    return values_indices["kthvalue"](v, i)


def median(input, dim=None, keepdim=False):
    if dim is None:
        flat = reshape(input, (-1,))
        return select(sort(flat).values, 0, (flat.shape[0] - 1) // 2)
    d = wrap_dim(dim, input.ndim, "median")
    return values_indices["median"](*kthvalue(input, (input.shape[d] - 1) // 2 + 1, d, keepdim))


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    vals, inv, counts = I.unique_(input, dim=dim)
    out = (vals,)
    if return_inverse:
        out += (inv,)
    if return_counts:
        out += (counts,)
    return out[0] if len(out) == 1 else out


def one_hot(tensor, num_classes=-1):
    return I.one_hot_(tensor, num_classes=num_classes)


def take(input, index):
    return getitem(reshape(input, (-1,)), index)


def take_along_dim(input, indices, dim=None):
    if dim is None:
        return take(input, reshape(indices, (-1,)))
    return gather(input, dim, indices)


# ---- softmax family -----------------------------------------------------------------
def softmax(input, dim=None, dtype=None, _stacklevel=3):
    if dtype is not None:
        input = cast(input, dtype=dtype)
    elif not input.is_floating_point():
        raise NotImplementedError(f"\"softmax_lastdim_kernel_impl\" not implemented for '{input.dtype.name}'")
    if dim is None:
        dim = 0 if input.ndim in (0, 1, 3) else 1  # PyTorch's legacy implicit choice
    return N.softmax_(input, axis=wrap_dim(dim, input.ndim, "softmax"))


def log_softmax(input, dim=None, dtype=None, _stacklevel=3):
    if dtype is not None:
        input = cast(input, dtype=dtype)
    elif not input.is_floating_point():
        raise NotImplementedError(f"\"log_softmax_lastdim_kernel_impl\" not implemented for '{input.dtype.name}'")
    if dim is None:
        dim = 0 if input.ndim in (0, 1, 3) else 1
    return N.log_softmax_(input, axis=wrap_dim(dim, input.ndim, "log_softmax"))


# ---- dtype / copies ---------------------------------------------------------------------
def cast(input, dtype):
    d = dt.as_dtype(dtype)
    if input.dtype is d:
        return input
    return M.cast_(input, dtype=d)


def clone(input, *, memory_format=None):
    return M.clone_(input)


def contiguous(input, memory_format=None):
    if input._data.flags.c_contiguous:
        return input
    return M.contiguous_(input)


def sum_to_shape(g, shape):
    """Sum a broadcast gradient back down to ``shape`` (the engine's one broadcast rule)."""
    shape = tuple(shape)
    gshape = tuple(g.shape)
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and gshape[i + lead] != 1)
    out = R.sum_(g, axis=axes, keepdim=True) if axes else g
    return M.reshape(out, shape=_unknown_as_inferred(shape))
