"""ONNX op type -> ember converters, one function per op type (the importer's op table).

Each converter takes the node (``Node``: attributes, opset, how many outputs are
wanted) and its inputs, and returns the node's outputs. An input is an ember
Tensor (a value computed from the model's inputs or a Parameter), a NumPy array
(a constant: a non-float initializer, a ``Constant`` node, or anything computed
only from constants and static shapes, which ``load.py`` folds eagerly), or
``None`` for an omitted optional input. Converters are written in ember ops, so
an imported model runs eagerly, has gradients, and traces under
``ember.compile``; shape arithmetic stays in NumPy so traced graphs keep static
shapes.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

import ember
from ember import dtypes as dt
from ember.nn import functional as F
from ember.tensor import Tensor

CONVERTERS: dict = {}


class Node:
    """What a converter sees of one ONNX node."""

    __slots__ = ("op_type", "name", "attrs", "opset", "nout")

    def __init__(self, op_type, name, attrs, opset, nout):
        self.op_type, self.name, self.attrs, self.opset, self.nout = op_type, name, attrs, opset, nout

    def get(self, key, default=None):
        return self.attrs.get(key, default)

    def fail(self, what):
        return NotImplementedError(f"ONNX op '{self.op_type}' (node '{self.name}'): {what} is not supported by ember")


def converter(*op_types):
    def register(fn):
        for t in op_types:
            CONVERTERS[t] = fn
        return fn

    return register


# ---- value helpers ----------------------------------------------------------------------------
def T(v):
    """An ember Tensor for a value (constants become tensors that keep their dtype)."""
    if isinstance(v, Tensor):
        return v
    return to_tensor(v)


def to_tensor(arr):
    """A NumPy array as a tensor of the same dtype (bfloat16 included); refuses dtypes ember lacks."""
    arr = np.asarray(arr)
    if dt.bfloat16 is not None and arr.dtype == dt.bfloat16.np:
        return ember.from_numpy(np.array(arr, copy=True))
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"ember has no {arr.dtype} tensors (ONNX value of shape {arr.shape})")
    return ember.as_tensor(np.ascontiguousarray(arr) if arr.ndim else arr)


def const(node, v, what):
    """A value that must be known without running the model (a shape, axes, pads): as a NumPy array."""
    if v is None:
        return None
    if isinstance(v, Tensor):
        try:
            return v.numpy(force=True)
        except Exception as e:
            raise node.fail(f"a non-constant '{what}' input (it must be known when the model is traced)") from e
    return np.asarray(v)


def ints(node, v, what):
    c = const(node, v, what)
    return None if c is None else [int(i) for i in c.reshape(-1)]


def scalar(node, v, what):
    c = const(node, v, what)
    return None if c is None else c.reshape(-1)[0].item()


def shape_of(v):
    return tuple(v.shape)


def ndim(v):
    return len(v.shape)


def dtype_np(v):
    return v.dtype.np if isinstance(v, Tensor) else np.asarray(v).dtype


def onnx_np_dtype(node, elem_type):
    from onnx import helper

    try:
        d = np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except Exception as e:
        raise node.fail(f"ONNX element type {elem_type}") from e
    if dt.bfloat16 is not None and d == dt.bfloat16.np:
        return d
    if d.kind not in "biuf" or (d.kind == "u" and d != np.uint8):
        raise node.fail(f"element type {d}")
    return d


def cast(v, np_dtype):
    np_dtype = np.dtype(np_dtype)
    if dtype_np(v) == np_dtype:
        return v
    if not isinstance(v, Tensor):
        return np.asarray(v).astype(np_dtype)
    return ember.cast(v, dt.from_numpy_dtype(np_dtype))


def axis_of(a, rank):
    return a + rank if a < 0 else a


def axes_arg(node, inputs_axes, rank, attr="axes", input_since=None):
    """Reduce/Squeeze axes from the attribute (old opsets) or the input (new opsets), normalised."""
    if input_since is not None and node.opset >= input_since:
        ax = ints(node, inputs_axes, "axes")
    else:
        ax = node.get(attr)
    if ax is None:
        return None
    return [axis_of(int(a), rank) for a in ax]


def is_float(v):
    return dtype_np(v).kind == "f"


# ---- elementwise ------------------------------------------------------------------------------
def _unary(fn):
    def conv(node, x):
        return [fn(T(x))]

    return conv


_UNARY = {
    "Abs": ember.abs,
    "Neg": ember.neg,
    "Exp": ember.exp,
    "Log": ember.log,
    "Sqrt": ember.sqrt,
    "Reciprocal": ember.reciprocal,
    "Floor": ember.floor,
    "Ceil": ember.ceil,
    "Round": ember.round,
    "Sign": ember.sign,
    "Sin": ember.sin,
    "Cos": ember.cos,
    "Tan": ember.tan,
    "Asin": ember.asin,
    "Acos": ember.acos,
    "Atan": ember.atan,
    "Sinh": ember.sinh,
    "Cosh": ember.cosh,
    "Asinh": lambda x: ember.log(x + ember.sqrt(x * x + 1)),
    "Acosh": lambda x: ember.log(x + ember.sqrt(x * x - 1)),
    "Atanh": lambda x: 0.5 * ember.log((1 + x) / (1 - x)),
    "Erf": ember.erf,
    "Relu": ember.relu,
    "Sigmoid": ember.sigmoid,
    "Tanh": ember.tanh,
    "Softsign": F.softsign,
    "IsNaN": ember.isnan,
    "Not": ember.logical_not,
    "BitwiseNot": ember.bitwise_not,
    "Mish": F.mish,
    "HardSwish": F.hardswish,
}
for _name, _fn in _UNARY.items():
    CONVERTERS[_name] = _unary(_fn)


@converter("Softplus")
def _softplus(node, x):
    return [F.softplus(T(x))]


@converter("IsInf")
def _isinf(node, x):
    x = T(x)
    pos, neg = node.get("detect_positive", 1), node.get("detect_negative", 1)
    if pos and neg:
        return [ember.isinf(x)]
    if pos:
        return [ember.isinf(x) & (x > 0)]
    if neg:
        return [ember.isinf(x) & (x < 0)]
    return [ember.zeros_like(x, dtype=ember.bool)]


@converter("Identity")
def _identity(node, x):
    return [x]


@converter("Dropout")
def _dropout(node, x, ratio=None, training_mode=None):
    training = training_mode is not None and scalar(node, training_mode, "training_mode")
    if training and (ratio is None or scalar(node, ratio, "ratio") != 0):
        raise node.fail("training_mode=True (random masks)")
    out = [x]
    if node.nout > 1:
        out.append(np.ones(shape_of(x), dtype=bool))
    return out


@converter("LeakyRelu")
def _leaky_relu(node, x):
    return [F.leaky_relu(T(x), node.get("alpha", 0.01))]


@converter("Elu")
def _elu(node, x):
    return [F.elu(T(x), node.get("alpha", 1.0))]


@converter("Celu")
def _celu(node, x):
    return [F.celu(T(x), node.get("alpha", 1.0))]


@converter("Selu")
def _selu(node, x):
    x = T(x)
    alpha, gamma = node.get("alpha", 1.67326319217681884765625), node.get("gamma", 1.05070102214813232421875)
    return [gamma * ember.where(x > 0, x, alpha * (ember.exp(x) - 1))]


@converter("HardSigmoid")
def _hard_sigmoid(node, x):
    x = T(x)
    return [ember.clamp(node.get("alpha", 0.2) * x + node.get("beta", 0.5), 0.0, 1.0)]


@converter("ThresholdedRelu")
def _thresholded_relu(node, x):
    x = T(x)
    return [ember.where(x > node.get("alpha", 1.0), x, ember.zeros_like(x))]


@converter("Gelu")
def _gelu(node, x):
    return [F.gelu(T(x), approximate=node.get("approximate", "none"))]


@converter("PRelu")
def _prelu(node, x, slope):
    x = T(x)
    return [ember.where(x < 0, x * T(slope), x)]


@converter("Shrink")
def _shrink(node, x):
    x = T(x)
    lambd, bias = node.get("lambd", 0.5), node.get("bias", 0.0)
    zero = ember.zeros_like(x)
    return [cast(ember.where(x < -lambd, x + bias, ember.where(x > lambd, x - bias, zero)), dtype_np(x))]


@converter("Swish")
def _swish(node, x):
    x = T(x)
    return [x * ember.sigmoid(node.get("alpha", 1.0) * x)]


@converter("Clip")
def _clip(node, x, lo=None, hi=None):
    x = T(x)
    if node.opset < 11:
        lo, hi = node.get("min"), node.get("max")
    else:
        lo = None if lo is None else scalar(node, lo, "min")
        hi = None if hi is None else scalar(node, hi, "max")
    if lo is None and hi is None:
        return [x]
    return [ember.clamp(x, lo, hi)]


def _binary(fn):
    def conv(node, a, b):
        return [fn(T(a), T(b))]

    return conv


_BINARY = {
    "Add": ember.add,
    "Sub": ember.sub,
    "Mul": ember.mul,
    "Equal": ember.eq,
    "Greater": ember.gt,
    "GreaterOrEqual": ember.ge,
    "Less": ember.lt,
    "LessOrEqual": ember.le,
    "And": ember.logical_and,
    "Or": ember.logical_or,
    "Xor": ember.logical_xor,
    "BitwiseAnd": ember.bitwise_and,
    "BitwiseOr": ember.bitwise_or,
    "BitwiseXor": ember.bitwise_xor,
}
for _name, _fn in _BINARY.items():
    CONVERTERS[_name] = _binary(_fn)


@converter("Div")
def _div(node, a, b):
    a, b = T(a), T(b)
    if a.dtype.is_floating_point:
        return [a / b]
    return [ember.div(a, b, rounding_mode="trunc")]


@converter("Mod")
def _mod(node, a, b):
    a, b = T(a), T(b)
    return [ember.fmod(a, b) if node.get("fmod", 0) else ember.remainder(a, b)]


@converter("Pow")
def _pow(node, a, b):
    a, b = T(a), T(b)
    return [cast(ember.pow(a, b), a.dtype.np)]


def _variadic(fn):
    def conv(node, *xs):
        out = T(xs[0])
        for x in xs[1:]:
            out = fn(out, T(x))
        return [out]

    return conv


CONVERTERS["Sum"] = _variadic(ember.add)
CONVERTERS["Max"] = _variadic(ember.maximum)
CONVERTERS["Min"] = _variadic(ember.minimum)


@converter("Mean")
def _mean(node, *xs):
    return [_variadic(ember.add)(node, *xs)[0] / len(xs)]


@converter("Where")
def _where(node, c, a, b):
    return [ember.where(T(c), T(a), T(b))]


@converter("Gemm")
def _gemm(node, a, b, c=None):
    a, b = T(a), T(b)
    if node.get("transA", 0):
        a = a.transpose(0, 1)
    if node.get("transB", 0):
        b = b.transpose(0, 1)
    y = ember.matmul(a, b)
    alpha, beta = node.get("alpha", 1.0), node.get("beta", 1.0)
    if alpha != 1.0:
        y = y * alpha
    if c is not None and beta != 0.0:
        c = T(c)
        y = y + (c if beta == 1.0 else c * beta)
    return [y]


def _low_precision(fn, xs):
    """bfloat16 products: ember's matmul returns float32 and NumPy's einsum has no kernel, so compute in
    float32 and round back (the ONNX result keeps the input dtype)."""
    d = xs[0].dtype
    if dt.bfloat16 is None or d is not dt.bfloat16:
        return fn(*xs)
    return ember.cast(fn(*[ember.cast(x, ember.float32) for x in xs]), d)


@converter("MatMul")
def _matmul(node, a, b):
    return [_low_precision(ember.matmul, [T(a), T(b)])]


@converter("Einsum")
def _einsum(node, *xs):
    eq = node.get("equation").replace(" ", "")
    return [_low_precision(lambda *t: ember.einsum(eq, *t), [T(x) for x in xs])]


# ---- casts and constants ----------------------------------------------------------------------
@converter("Cast")
def _cast(node, x):
    return [cast(x, onnx_np_dtype(node, node.get("to")))]


@converter("CastLike")
def _cast_like(node, x, like):
    return [cast(x, dtype_np(like))]


@converter("Constant")
def _constant(node):
    a = node.attrs
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in a:
            v = a[key]
            if key in ("value_float", "value_floats"):
                return [np.asarray(v, dtype=np.float32)]
            if key in ("value_int", "value_ints"):
                return [np.asarray(v, dtype=np.int64)]
            return [v]
    raise node.fail(f"a Constant with attribute {sorted(a)}")


@converter("ConstantOfShape")
def _constant_of_shape(node, shape):
    value = node.get("value")
    value = np.zeros(1, np.float32) if value is None else value
    return [np.full(tuple(ints(node, shape, "shape")), value.reshape(-1)[0], dtype=value.dtype)]


@converter("EyeLike")
def _eye_like(node, x):
    d = dtype_np(x) if node.get("dtype") is None else onnx_np_dtype(node, node.get("dtype"))
    n, m = shape_of(x)
    return [np.eye(n, m, k=node.get("k", 0), dtype=d)]


@converter("Range")
def _range(node, start, limit, delta):
    s, lim, d = (const(node, v, "range bound") for v in (start, limit, delta))
    n = max(int(math.ceil((lim.item() - s.item()) / d.item())), 0)
    return [(s + np.arange(n, dtype=s.dtype) * d).astype(s.dtype)]


@converter("Shape")
def _shape(node, x):
    shape = np.array(shape_of(x), dtype=np.int64)
    start, end = node.get("start", 0), node.get("end")
    return [shape[start:end]]


@converter("Size")
def _size(node, x):
    return [np.array(int(np.prod(shape_of(x))), dtype=np.int64)]


# ---- movement ---------------------------------------------------------------------------------
@converter("Reshape")
def _reshape(node, x, shape):
    target = ints(node, shape, "shape")
    if not node.get("allowzero", 0):
        target = [shape_of(x)[i] if s == 0 else s for i, s in enumerate(target)]
    return [T(x).reshape(tuple(target))]


@converter("Flatten")
def _flatten(node, x):
    s = shape_of(x)
    axis = axis_of(node.get("axis", 1), len(s))
    return [T(x).reshape((int(np.prod(s[:axis])), int(np.prod(s[axis:]))))]


@converter("Transpose")
def _transpose(node, x):
    perm = node.get("perm") or list(range(ndim(x)))[::-1]
    return [T(x).permute(*perm)]


@converter("Squeeze")
def _squeeze(node, x, axes=None):
    x = T(x)
    ax = axes_arg(node, axes, x.ndim, input_since=13)
    if ax is None:
        ax = [i for i, s in enumerate(x.shape) if s == 1]
    for a in ax:
        if x.shape[a] != 1:
            raise ValueError(f"ONNX Squeeze (node '{node.name}'): dim {a} of shape {tuple(x.shape)} is not 1")
    return [x.reshape(tuple(s for i, s in enumerate(x.shape) if i not in ax))]


@converter("Unsqueeze")
def _unsqueeze(node, x, axes=None):
    x = T(x)
    ax = node.get("axes") if node.opset < 13 else ints(node, axes, "axes")
    rank = x.ndim + len(ax)
    shape = list(x.shape)
    for a in sorted(axis_of(int(a), rank) for a in ax):
        shape.insert(a, 1)
    return [x.reshape(tuple(shape))]


@converter("Concat")
def _concat(node, *xs):
    return [ember.cat([T(x) for x in xs], dim=node.get("axis"))]


@converter("Split")
def _split(node, x, split=None):
    x = T(x)
    axis = axis_of(node.get("axis", 0), x.ndim)
    sizes = node.get("split") if node.opset < 13 else ints(node, split, "split")
    n = x.shape[axis]
    if sizes is None:
        parts = node.get("num_outputs", node.nout)
        chunk = -(-n // parts)
        sizes = [min(chunk, n - i * chunk) for i in range(parts)]
    return list(ember.split(x, list(sizes), dim=axis))


@converter("Slice")
def _slice(node, x, starts=None, ends=None, axes=None, steps=None):
    x = T(x)
    if node.opset < 10:
        starts, ends, axes = node.get("starts"), node.get("ends"), node.get("axes")
    else:
        starts, ends = ints(node, starts, "starts"), ints(node, ends, "ends")
        axes, steps = ints(node, axes, "axes"), ints(node, steps, "steps")
    axes = list(range(len(starts))) if axes is None else [axis_of(a, x.ndim) for a in axes]
    steps = steps or [1] * len(starts)
    key = [slice(None)] * x.ndim
    flips = []
    for a, s, e, st in zip(axes, starts, ends, steps):
        if st > 0:
            key[a] = slice(*slice(s, e, st).indices(x.shape[a]))
        else:
            idx = range(*slice(s, e, st).indices(x.shape[a]))
            if len(idx) == 0:
                key[a] = slice(0, 0)
            else:  # a reversed slice: flip, then take a forward slice of the flipped axis
                n = x.shape[a]
                key[a] = slice(n - 1 - idx[0], n - 1 - idx[-1] + 1, -st)
                flips.append(a)
    if flips:
        x = ember.flip(x, flips)
    return [x[tuple(key)]]


def _index_tensor(idx, dim):
    """Indices with ONNX's negative wrap-around applied, as an int64 tensor."""
    if isinstance(idx, Tensor):
        idx = ember.cast(idx, ember.int64)
        return ember.where(idx < 0, idx + dim, idx)
    idx = np.asarray(idx).astype(np.int64)
    return T(np.where(idx < 0, idx + dim, idx))


@converter("Gather")
def _gather(node, x, idx):
    x = T(x)
    axis = axis_of(node.get("axis", 0), x.ndim)
    ishape = shape_of(idx)
    flat = _index_tensor(idx, x.shape[axis]).reshape((-1,))
    out = ember.index_select(x, axis, flat)
    return [out.reshape(tuple(x.shape[:axis]) + tuple(ishape) + tuple(x.shape[axis + 1 :]))]


@converter("GatherElements")
def _gather_elements(node, x, idx):
    x = T(x)
    axis = axis_of(node.get("axis", 0), x.ndim)
    return [ember.gather(x, axis, _index_tensor(idx, x.shape[axis]))]


@converter("ScatterElements", "Scatter")
def _scatter_elements(node, x, idx, updates):
    x = T(x)
    axis = axis_of(node.get("axis", 0), x.ndim)
    index = _index_tensor(idx, x.shape[axis])
    reduction = node.get("reduction", "none")
    if reduction == "none":
        return [ember.scatter(x, axis, index, T(updates))]
    if reduction == "add":
        return [ember.scatter_add(x, axis, index, T(updates))]
    raise node.fail(f"reduction='{reduction}'")


@converter("Expand")
def _expand(node, x, shape):
    x = T(x)
    target = np.broadcast_shapes(tuple(x.shape), tuple(ints(node, shape, "shape")))
    return [ember.broadcast_to(x, target)]


@converter("Tile")
def _tile(node, x, repeats):
    return [ember.tile(T(x), tuple(ints(node, repeats, "repeats")))]


@converter("Trilu")
def _trilu(node, x, k=None):
    k = 0 if k is None else scalar(node, k, "k")
    x = T(x)
    return [ember.triu(x, k) if node.get("upper", 1) else ember.tril(x, k)]


@converter("Pad")
def _pad(node, x, pads=None, value=None, axes=None):
    x = T(x)
    if node.opset < 11:
        pads, value = node.get("pads"), node.get("value", 0.0)
    else:
        pads = ints(node, pads, "pads")
        value = 0 if value is None else scalar(node, value, "constant_value")
    rank = x.ndim
    ax = list(range(rank)) if axes is None else [axis_of(a, rank) for a in ints(node, axes, "axes")]
    n = len(ax)
    before, after = [0] * rank, [0] * rank
    for i, a in enumerate(ax):
        before[a], after[a] = pads[i], pads[i + n]
    mode = node.get("mode", "constant")
    torch_pad = []
    for a in reversed(range(rank)):
        torch_pad += [before[a], after[a]]
    while len(torch_pad) > 2 and torch_pad[-2:] == [0, 0]:
        torch_pad = torch_pad[:-2]
    torch_mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}.get(mode)
    if torch_mode is None:
        raise node.fail(f"mode='{mode}'")
    if torch_mode == "constant":
        return [F.pad(x, torch_pad, mode="constant", value=value)]
    return [F.pad(x, torch_pad, mode=torch_mode)]


@converter("DepthToSpace")
def _depth_to_space(node, x):
    x = T(x)
    b = node.get("blocksize")
    n, c, h, w = x.shape
    if node.get("mode", "DCR") == "DCR":
        y = x.reshape((n, b, b, c // (b * b), h, w)).permute(0, 3, 4, 1, 5, 2)
    else:
        y = x.reshape((n, c // (b * b), b, b, h, w)).permute(0, 1, 4, 2, 5, 3)
    return [y.reshape((n, c // (b * b), h * b, w * b))]


@converter("SpaceToDepth")
def _space_to_depth(node, x):
    x = T(x)
    b = node.get("blocksize")
    n, c, h, w = x.shape
    y = x.reshape((n, c, h // b, b, w // b, b))
    y = y.permute(0, 3, 5, 1, 2, 4) if node.get("mode", "DCR") == "DCR" else y.permute(0, 1, 3, 5, 2, 4)
    return [y.reshape((n, c * b * b, h // b, w // b))]


@converter("OneHot")
def _one_hot(node, idx, depth, values):
    depth = int(scalar(node, depth, "depth"))
    values = T(values)
    idx = T(idx)
    idx = ember.where(idx < 0, idx + depth, idx)
    axis = axis_of(node.get("axis", -1), idx.ndim + 1)
    shape = [1] * (idx.ndim + 1)
    shape[axis] = depth
    classes = T(np.arange(depth, dtype=np.int64).reshape(shape))
    hit = ember.eq(ember.unsqueeze(ember.cast(idx, ember.int64), axis), classes)
    return [ember.where(hit, values[1], values[0])]


@converter("NonZero")
def _nonzero(node, x):
    return [ember.nonzero(T(x)).transpose(0, 1)]


@converter("CumSum")
def _cumsum(node, x, axis):
    x = T(x)
    a = axis_of(int(scalar(node, axis, "axis")), x.ndim)
    if node.get("reverse", 0):
        x = ember.flip(x, [a])
    y = cast(ember.cumsum(x, a), x.dtype.np)
    if node.get("exclusive", 0):
        y = y - x
    if node.get("reverse", 0):
        y = ember.flip(y, [a])
    return [y]


@converter("TopK")
def _topk(node, x, k):
    x = T(x)
    axis = axis_of(node.get("axis", -1), x.ndim)
    vals, idx = ember.topk(x, int(scalar(node, k, "K")), dim=axis, largest=bool(node.get("largest", 1)))
    return [vals, ember.cast(idx, ember.int64)]


def _arg(fn):
    def conv(node, x):
        x = T(x)
        axis = axis_of(node.get("axis", 0), x.ndim)
        keep = bool(node.get("keepdims", 1))
        if node.get("select_last_index", 0):
            i = fn(ember.flip(x, [axis]), dim=axis, keepdim=keep)
            return [(x.shape[axis] - 1) - i]
        return [fn(x, dim=axis, keepdim=keep)]

    return conv


CONVERTERS["ArgMax"] = _arg(ember.argmax)
CONVERTERS["ArgMin"] = _arg(ember.argmin)


# ---- reductions -------------------------------------------------------------------------------
def _reduce(fn, input_since=18):
    def conv(node, x, axes=None):
        x = T(x)
        ax = axes_arg(node, axes, x.ndim, input_since=input_since)
        keep = bool(node.get("keepdims", 1))
        if not ax:
            if node.get("noop_with_empty_axes", 0):
                return [x]
            ax = list(range(x.ndim))
        return [fn(x, tuple(ax), keep)]

    return conv


def _logsumexp(x, ax, keep):
    if not all(x.shape[a] for a in ax):
        return ember.log(ember.sum(ember.exp(x), ax, keep))
    m = ember.amax(x, ax, True)
    m = ember.where(ember.isinf(m), ember.zeros_like(m), m)
    y = ember.log(ember.sum(ember.exp(x - m), ax, True)) + m
    return y if keep else y.reshape(tuple(s for i, s in enumerate(y.shape) if i not in ax))


CONVERTERS["ReduceSum"] = _reduce(lambda x, ax, k: ember.sum(x, ax, k), input_since=13)
CONVERTERS["ReduceMean"] = _reduce(lambda x, ax, k: ember.mean(x, ax, k))
CONVERTERS["ReduceMax"] = _reduce(lambda x, ax, k: _extreme(ember.amax, x, ax, k, lowest=True))
CONVERTERS["ReduceMin"] = _reduce(lambda x, ax, k: _extreme(ember.amin, x, ax, k, lowest=False))


def _extreme(fn, x, ax, keep, lowest):
    """max/min; over an empty set ONNX gives the identity (-inf/+inf, or the dtype's limit)."""
    if all(x.shape[a] for a in ax):
        return fn(x, ax, keep)
    shape = tuple(1 if i in ax else s for i, s in enumerate(x.shape) if keep or i not in ax)
    d = x.dtype.np
    if d.kind == "f":
        v = -np.inf if lowest else np.inf
    elif d.kind == "b":
        v = not lowest
    else:
        v = np.iinfo(d).min if lowest else np.iinfo(d).max
    return np.full(shape, v, dtype=d)


CONVERTERS["ReduceProd"] = _reduce(lambda x, ax, k: _prod(x, ax, k))
CONVERTERS["ReduceL1"] = _reduce(lambda x, ax, k: ember.sum(ember.abs(x), ax, k))
CONVERTERS["ReduceL2"] = _reduce(lambda x, ax, k: ember.sqrt(ember.sum(x * x, ax, k)))
CONVERTERS["ReduceLogSum"] = _reduce(lambda x, ax, k: ember.log(ember.sum(x, ax, k)))
CONVERTERS["ReduceLogSumExp"] = _reduce(_logsumexp)
CONVERTERS["ReduceSumSquare"] = _reduce(lambda x, ax, k: ember.sum(x * x, ax, k))


def _prod(x, ax, keep):
    for a in sorted(ax, reverse=True):
        x = ember.prod(x, a, keep)
    return x


def _softmax(fn):
    def conv(node, x):
        x = T(x)
        if node.opset >= 13:
            return [fn(x, axis_of(node.get("axis", -1), x.ndim))]
        axis = axis_of(node.get("axis", 1), x.ndim)
        s = tuple(x.shape)
        y = fn(x.reshape((int(np.prod(s[:axis])), int(np.prod(s[axis:])))), 1)
        return [y.reshape(s)]

    return conv


CONVERTERS["Softmax"] = _softmax(lambda x, a: ember.softmax(x, a))
CONVERTERS["LogSoftmax"] = _softmax(lambda x, a: ember.log_softmax(x, a))
CONVERTERS["Hardmax"] = _softmax(
    lambda x, a: ember.cast(
        ember.eq(
            ember.unsqueeze(ember.argmax(x, a), a),
            T(np.arange(x.shape[a]).reshape([-1 if i == a else 1 for i in range(x.ndim)])),
        ),
        x.dtype,
    )
)


# ---- normalisation ----------------------------------------------------------------------------
def _per_channel(v, rank):
    """A per-channel vector (C,) shaped to broadcast against (N, C, ...)."""
    return T(v).reshape((1, -1) + (1,) * (rank - 2))


@converter("BatchNormalization")
def _batch_norm(node, x, scale, bias, mean, var):
    x = T(x)
    r = x.ndim
    if node.get("training_mode", 0):
        ax = (0,) + tuple(range(2, r))
        bmean = ember.mean(x, ax)
        bvar = ember.mean((x - _per_channel(bmean, r)) ** 2, ax)
        m = node.get("momentum", 0.9)
        y = _batch_norm_apply(node, x, scale, bias, bmean, bvar)
        return [y, T(mean) * m + bmean * (1 - m), T(var) * m + bvar * (1 - m)][: node.nout]
    return [_batch_norm_apply(node, x, scale, bias, mean, var)]


def _batch_norm_apply(node, x, scale, bias, mean, var):
    r = x.ndim
    inv = ember.rsqrt(_per_channel(var, r) + node.get("epsilon", 1e-5))
    return (x - _per_channel(mean, r)) * inv * _per_channel(scale, r) + _per_channel(bias, r)


@converter("LayerNormalization")
def _layer_norm(node, x, scale, bias=None):
    x = T(x)
    axis = axis_of(node.get("axis", -1), x.ndim)
    eps = node.get("epsilon", 1e-5)
    norm_shape = tuple(x.shape[axis:])
    if node.nout == 1 and shape_of(scale) == norm_shape and (bias is None or shape_of(bias) == norm_shape):
        return [F.layer_norm(x, norm_shape, T(scale), None if bias is None else T(bias), eps)]
    ax = tuple(range(axis, x.ndim))
    mean = ember.mean(x, ax, True)
    d = x - mean
    inv = ember.rsqrt(ember.mean(d * d, ax, True) + eps)
    y = d * inv * T(scale)
    if bias is not None:
        y = y + T(bias)
    return [y, mean, inv][: node.nout]


@converter("InstanceNormalization")
def _instance_norm(node, x, scale, bias):
    x = T(x)
    ax = tuple(range(2, x.ndim))
    mean = ember.mean(x, ax, True)
    d = x - mean
    y = d * ember.rsqrt(ember.mean(d * d, ax, True) + node.get("epsilon", 1e-5))
    return [y * _per_channel(scale, x.ndim) + _per_channel(bias, x.ndim)]


@converter("GroupNormalization")
def _group_norm(node, x, scale, bias):
    x = T(x)
    g = node.get("num_groups")
    n, c = x.shape[:2]
    xg = x.reshape((n, g, -1))
    mean = ember.mean(xg, (2,), True)
    d = xg - mean
    y = (d * ember.rsqrt(ember.mean(d * d, (2,), True) + node.get("epsilon", 1e-5))).reshape(tuple(x.shape))
    scale, bias = T(scale), T(bias)
    if scale.shape[0] != c:  # opset 18: one scale per group
        scale = ember.repeat_interleave(scale, c // g)
        bias = ember.repeat_interleave(bias, c // g)
    return [y * _per_channel(scale, x.ndim) + _per_channel(bias, x.ndim)]


@converter("MeanVarianceNormalization")
def _mvn(node, x):
    x = T(x)
    ax = tuple(axis_of(a, x.ndim) for a in node.get("axes", [0, 2, 3]))
    d = x - ember.mean(x, ax, True)
    return [d / ember.sqrt(ember.mean(d * d, ax, True) + 1e-9)]


@converter("LpNormalization")
def _lp_norm(node, x):
    x = T(x)
    axis = axis_of(node.get("axis", -1), x.ndim)
    p = node.get("p", 2)
    norm = ember.sum(ember.abs(x), (axis,), True) if p == 1 else ember.sqrt(ember.sum(x * x, (axis,), True))
    return [ember.where(norm == 0, ember.zeros_like(x), x / norm)]


@converter("LRN")
def _lrn(node, x):
    x = T(x)
    size = node.get("size")
    alpha, beta, bias = node.get("alpha", 1e-4), node.get("beta", 0.75), node.get("bias", 1.0)
    c = x.shape[1]
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    sq = x * x
    pad = [0, 0] * (x.ndim - 2) + [lo, hi]
    sq = F.pad(sq, pad)
    total = sq[:, 0:c]
    for i in range(1, size):
        total = total + sq[:, i : i + c]
    return [x / ember.pow(bias + (alpha / size) * total, beta)]


# ---- convolution and pooling -------------------------------------------------------------------
def _spatial_pads(node, in_sizes, kernel, strides, dilations):
    """ONNX pads (begin..., end...) for each spatial dim, honouring auto_pad."""
    n = len(in_sizes)
    auto = node.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(n):
            out = -(-in_sizes[i] // strides[i])
            total = max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in_sizes[i])
            small = total // 2
            b = small if auto == "SAME_UPPER" else total - small
            begin.append(b)
            end.append(total - b)
        return begin, end
    if auto == "VALID":
        return [0] * n, [0] * n
    pads = node.get("pads") or [0] * (2 * n)
    return list(pads[:n]), list(pads[n:])


def _torch_pad_list(begin, end):
    out = []
    for b, e in zip(reversed(begin), reversed(end)):
        out += [b, e]
    return out


@converter("Conv")
def _conv(node, x, w, b=None):
    x, w = T(x), T(w)
    nsp = x.ndim - 2
    if nsp not in (1, 2, 3):
        raise node.fail(f"a {nsp}-d convolution (only 1-d, 2-d and 3-d)")
    kernel = node.get("kernel_shape") or list(w.shape[2:])
    strides = node.get("strides") or [1] * nsp
    dil = node.get("dilations") or [1] * nsp
    begin, end = _spatial_pads(node, list(x.shape[2:]), kernel, strides, dil)
    if nsp == 3:
        if any(begin) or any(end):
            x = F.pad(x, _torch_pad_list(begin, end))
        return [_conv3d(x, w, None if b is None else T(b), strides, dil, node.get("group", 1))]
    if begin != end:
        x = F.pad(x, _torch_pad_list(begin, end))
        padding = [0] * nsp
    else:
        padding = begin
    fn = F.conv2d if nsp == 2 else F.conv1d
    return [fn(x, w, None if b is None else T(b), strides, padding, dil, node.get("group", 1))]


def _conv3d(x, w, b, strides, dil, groups):
    """A 3-d convolution (no padding) as sums of 2-d convolutions over depth slices."""
    od = (x.shape[2] - (w.shape[2] - 1) * dil[0] - 1) // strides[0] + 1
    outs = []
    for o in range(od):
        acc = None
        for k in range(w.shape[2]):
            y = F.conv2d(x[:, :, o * strides[0] + k * dil[0]], w[:, :, k], None, strides[1:], 0, dil[1:], groups)
            acc = y if acc is None else acc + y
        outs.append(acc)
    y = ember.stack(outs, 2)
    return y if b is None else y + _per_channel(b, y.ndim)


@converter("ConvTranspose")
def _conv_transpose(node, x, w, b=None):
    x, w = T(x), T(w)
    nsp = x.ndim - 2
    if nsp not in (1, 2):
        raise node.fail(f"a {nsp}-d transposed convolution (only 1-d and 2-d)")
    kernel = node.get("kernel_shape") or list(w.shape[2:])
    strides = node.get("strides") or [1] * nsp
    dil = node.get("dilations") or [1] * nsp
    out_pad = list(node.get("output_padding") or [0] * nsp)
    in_sizes = list(x.shape[2:])
    full = [strides[i] * (in_sizes[i] - 1) + (kernel[i] - 1) * dil[i] + 1 for i in range(nsp)]
    auto = node.get("auto_pad", "NOTSET")
    target = node.get("output_shape")
    if target is None and auto in ("SAME_UPPER", "SAME_LOWER"):
        target = [in_sizes[i] * strides[i] for i in range(nsp)]
    if target is not None:  # the spec's split of the total padding
        total = [full[i] + out_pad[i] - list(target)[-nsp:][i] for i in range(nsp)]
        upper = auto == "SAME_UPPER"
        begin = [t // 2 if upper else t - t // 2 for t in total]
        end = [t - bb for t, bb in zip(total, begin)]
    else:
        pads = node.get("pads") or [0] * (2 * nsp)
        begin, end = list(pads[:nsp]), list(pads[nsp:])
    fn = F.conv_transpose2d if nsp == 2 else F.conv_transpose1d
    y = fn(x, w, None, strides, 0, 0, node.get("group", 1), dil)
    grow_begin = [max(0, -b) for b in begin]  # negative pads (output_shape past the full size) add zeros
    grow_end = [max(0, out_pad[i]) + max(0, -end[i]) for i in range(nsp)]
    if any(grow_begin) or any(grow_end):
        y = F.pad(y, _torch_pad_list(grow_begin, grow_end))
    begin, end = [max(0, b) for b in begin], [max(0, e) for e in end]
    key = [slice(None), slice(None)] + [slice(begin[i], y.shape[2 + i] - end[i]) for i in range(nsp)]
    y = y[tuple(key)]
    if b is not None:
        y = y + _per_channel(b, y.ndim)
    return [y]


def _pool_geometry(node, x):
    nsp = x.ndim - 2
    kernel = list(node.get("kernel_shape"))
    strides = list(node.get("strides") or [1] * nsp)
    dil = list(node.get("dilations") or [1] * nsp)
    in_sizes = list(x.shape[2:])
    begin, end = _spatial_pads(node, in_sizes, kernel, strides, dil)
    extra = [0] * nsp
    if node.get("ceil_mode", 0):
        for i in range(nsp):
            eff = (kernel[i] - 1) * dil[i] + 1
            span = in_sizes[i] + begin[i] + end[i] - eff
            out = -(-span // strides[i]) + 1
            if (out - 1) * strides[i] >= in_sizes[i] + begin[i]:
                out -= 1
            extra[i] = max(0, (out - 1) * strides[i] + eff - (in_sizes[i] + begin[i] + end[i]))
    return nsp, kernel, strides, dil, begin, end, extra


def _window_reduce(x, kernel, strides, dil, combine):
    """Combine each pooling window's elements (any rank, dilations allowed) from strided slices of x."""
    sizes = x.shape[2:]
    out = [(sizes[i] - (kernel[i] - 1) * dil[i] - 1) // strides[i] + 1 for i in range(len(kernel))]
    acc = None
    for offsets in itertools.product(*[range(k) for k in kernel]):
        key = tuple(
            slice(o * dil[i], o * dil[i] + (out[i] - 1) * strides[i] + 1, strides[i]) for i, o in enumerate(offsets)
        )
        part = x[(slice(None), slice(None)) + key]
        acc = part if acc is None else combine(acc, part)
    return acc


def _as_2d(x, nsp):
    return ember.unsqueeze(x, -1) if nsp == 1 else x


@converter("MaxPool")
def _max_pool(node, x):
    if node.nout > 1:
        raise node.fail("the Indices output")
    if node.get("storage_order", 0):
        raise node.fail("storage_order=1")
    x = T(x)
    nsp, kernel, strides, dil, begin, end, extra = _pool_geometry(node, x)
    after = [e + x_ for e, x_ in zip(end, extra)]
    if any(begin) or any(after):
        fill = float("-inf") if x.dtype.is_floating_point else int(np.iinfo(x.dtype.np).min)
        x = F.pad(x, _torch_pad_list(begin, after), value=fill)
    if nsp > 2:
        return [_window_reduce(x, kernel, strides, dil, ember.maximum)]
    if nsp == 1:
        kernel, strides, dil = kernel + [1], strides + [1], dil + [1]
    y = F.max_pool2d(_as_2d(x, nsp), kernel, strides, 0, dil)
    return [y.reshape(tuple(y.shape[:-1])) if nsp == 1 else y]


@converter("AveragePool")
def _avg_pool(node, x):
    x = T(x)
    nsp, kernel, strides, dil, begin, end, extra = _pool_geometry(node, x)
    after = [e + x_ for e, x_ in zip(end, extra)]
    k2, s2 = (kernel + [1], strides + [1]) if nsp == 1 else (kernel, strides)
    generic = nsp > 2 or any(d != 1 for d in dil)
    if not any(begin) and not any(after) and not generic:
        y = F.avg_pool2d(_as_2d(x, nsp), k2, s2)
        return [y.reshape(tuple(y.shape[:-1])) if nsp == 1 else y]
    # pad with zeros; divide by the number of counted elements in each window
    xp = F.pad(x, _torch_pad_list(begin, after))
    counted = np.zeros(tuple(xp.shape[2:]), dtype=x.dtype.np)
    if node.get("count_include_pad", 0):
        region = tuple(slice(0, begin[i] + x.shape[2 + i] + end[i]) for i in range(nsp))
    else:
        region = tuple(slice(begin[i], begin[i] + x.shape[2 + i]) for i in range(nsp))
    counted[region] = 1
    mask = T(counted.reshape((1, 1) + counted.shape))
    if generic:
        num = _window_reduce(xp, kernel, strides, dil, ember.add)
        return [num / _window_reduce(mask, kernel, strides, dil, ember.add)]
    num = F.avg_pool2d(_as_2d(xp, nsp), k2, s2)
    den = F.avg_pool2d(_as_2d(mask, nsp), k2, s2)
    y = num / den
    return [y.reshape(tuple(y.shape[:-1])) if nsp == 1 else y]


@converter("GlobalAveragePool")
def _global_avg_pool(node, x):
    x = T(x)
    return [ember.mean(x, tuple(range(2, x.ndim)), True)]


@converter("GlobalMaxPool")
def _global_max_pool(node, x):
    x = T(x)
    return [ember.amax(x, tuple(range(2, x.ndim)), True)]


# ---- recurrent layers (layout 0: X is [seq, batch, input]) ----------------------------------------
_ACTIVATIONS = {"sigmoid": ember.sigmoid, "tanh": ember.tanh, "relu": ember.relu}


def _rnn_setup(node, x, default_acts):
    if node.get("clip") is not None:
        raise node.fail("clip")
    direction = node.get("direction", "forward")
    ndir = 2 if direction == "bidirectional" else 1
    names = node.get("activations") or default_acts * ndir
    try:
        acts = [_ACTIVATIONS[a.lower()] for a in names]
    except KeyError as e:
        raise node.fail(f"activation {e}") from e
    per = len(default_acts)
    return direction, ndir, [acts[i * per : (i + 1) * per] for i in range(ndir)]


def _check_seq_lens(node, seq_lens, x):
    if seq_lens is not None:
        lens = const(node, seq_lens, "sequence_lens")
        if not np.all(lens == x.shape[0]):
            raise node.fail("sequence_lens shorter than the sequence")


def _run_direction(step, xs, reverse):
    order = range(len(xs) - 1, -1, -1) if reverse else range(len(xs))
    ys = [None] * len(xs)
    for t in order:
        ys[t] = step(xs[t])
    return ys


def _seq_first(node, x, *states):
    """layout=1 (batch-first X, batch-first states) as layout 0."""
    if not node.get("layout", 0):
        return (x, *states)
    return (T(x).transpose(0, 1), *(None if s is None else T(s).transpose(0, 1) for s in states))


def _rnn_outputs(node, ys_per_dir, finals):
    y = ember.stack([ember.stack(ys, 0) for ys in ys_per_dir], 1)  # [seq, dirs, batch, hidden]
    outs = [y] + [ember.stack(f, 0) for f in finals]
    if node.get("layout", 0):  # Y [batch, seq, dirs, hidden], states [batch, dirs, hidden]
        outs = [y.permute(2, 0, 1, 3)] + [o.transpose(0, 1) for o in outs[1:]]
    return outs[: node.nout]


def _bias_pair(b, d, n, h, like):
    if b is None:
        z = ember.zeros((n * h,), dtype=like.dtype)
        return z, z
    b = T(b)[d]
    return b[: n * h], b[n * h :]


@converter("LSTM")
def _lstm(node, x, w, r, b=None, seq_lens=None, h0=None, c0=None, p=None):
    x, h0, c0 = _seq_first(node, x, h0, c0)
    x, w, r = T(x), T(w), T(r)
    direction, ndir, acts = _rnn_setup(node, x, ["Sigmoid", "Tanh", "Tanh"])
    if node.get("input_forget", 0):
        raise node.fail("input_forget=1")
    _check_seq_lens(node, seq_lens, x)
    hsz = r.shape[-1]
    batch = x.shape[1]
    ys, hs, cs = [], [], []
    for d in range(ndir):
        wb, rb = _bias_pair(b, d, 4, hsz, x)
        xw = ember.matmul(x, w[d].transpose(0, 1)) + (wb + rb)  # [seq, batch, 4h]
        rt = r[d].transpose(0, 1)
        f_act, g_act, h_act = acts[d]
        state = {
            "h": T(h0)[d] if h0 is not None else ember.zeros((batch, hsz), dtype=x.dtype),
            "c": T(c0)[d] if c0 is not None else ember.zeros((batch, hsz), dtype=x.dtype),
        }
        peep = None if p is None else (T(p)[d][:hsz], T(p)[d][hsz : 2 * hsz], T(p)[d][2 * hsz :])  # i, o, f

        def step(xt, state=state, rt=rt, f_act=f_act, g_act=g_act, h_act=h_act, peep=peep):
            g = xt + ember.matmul(state["h"], rt)
            i, o, f, c = (g[:, k * hsz : (k + 1) * hsz] for k in range(4))
            cprev = state["c"]
            if peep is not None:
                i, f = i + peep[0] * cprev, f + peep[2] * cprev
            i, f = f_act(i), f_act(f)
            c = f * cprev + i * g_act(c)
            if peep is not None:
                o = o + peep[1] * c
            h = f_act(o) * h_act(c)
            state["h"], state["c"] = h, c
            return h

        ys.append(_run_direction(step, [xw[t] for t in range(x.shape[0])], direction == "reverse" or d == 1))
        hs.append(state["h"])
        cs.append(state["c"])
    return _rnn_outputs(node, ys, [hs, cs])


@converter("GRU")
def _gru(node, x, w, r, b=None, seq_lens=None, h0=None):
    x, h0 = _seq_first(node, x, h0)
    x, w, r = T(x), T(w), T(r)
    direction, ndir, acts = _rnn_setup(node, x, ["Sigmoid", "Tanh"])
    _check_seq_lens(node, seq_lens, x)
    hsz = r.shape[-1]
    batch = x.shape[1]
    lbr = node.get("linear_before_reset", 0)
    ys, hs = [], []
    for d in range(ndir):
        wb, rb = _bias_pair(b, d, 3, hsz, x)
        xw = ember.matmul(x, w[d].transpose(0, 1)) + wb  # [seq, batch, 3h]
        rd = r[d]
        rzr = rd[: 2 * hsz].transpose(0, 1)
        rh = rd[2 * hsz :].transpose(0, 1)
        f_act, g_act = acts[d]
        state = {"h": T(h0)[d] if h0 is not None else ember.zeros((batch, hsz), dtype=x.dtype)}

        def step(xt, state=state, rzr=rzr, rh=rh, rb=rb, f_act=f_act, g_act=g_act):
            h = state["h"]
            zr = xt[:, : 2 * hsz] + ember.matmul(h, rzr) + rb[: 2 * hsz]
            z, rr = f_act(zr[:, :hsz]), f_act(zr[:, hsz:])
            if lbr:
                hh = g_act(xt[:, 2 * hsz :] + rr * (ember.matmul(h, rh) + rb[2 * hsz :]))
            else:
                hh = g_act(xt[:, 2 * hsz :] + ember.matmul(rr * h, rh) + rb[2 * hsz :])
            h = (1 - z) * hh + z * h
            state["h"] = h
            return h

        ys.append(_run_direction(step, [xw[t] for t in range(x.shape[0])], direction == "reverse" or d == 1))
        hs.append(state["h"])
    return _rnn_outputs(node, ys, [hs])


@converter("RNN")
def _rnn(node, x, w, r, b=None, seq_lens=None, h0=None):
    x, h0 = _seq_first(node, x, h0)
    x, w, r = T(x), T(w), T(r)
    direction, ndir, acts = _rnn_setup(node, x, ["Tanh"])
    _check_seq_lens(node, seq_lens, x)
    hsz = r.shape[-1]
    batch = x.shape[1]
    ys, hs = [], []
    for d in range(ndir):
        wb, rb = _bias_pair(b, d, 1, hsz, x)
        xw = ember.matmul(x, w[d].transpose(0, 1)) + (wb + rb)
        rt = r[d].transpose(0, 1)
        (f_act,) = acts[d]
        state = {"h": T(h0)[d] if h0 is not None else ember.zeros((batch, hsz), dtype=x.dtype)}

        def step(xt, state=state, rt=rt, f_act=f_act):
            state["h"] = f_act(xt + ember.matmul(state["h"], rt))
            return state["h"]

        ys.append(_run_direction(step, [xw[t] for t in range(x.shape[0])], direction == "reverse" or d == 1))
        hs.append(state["h"])
    return _rnn_outputs(node, ys, [hs])


# Ops whose result depends on more than their inputs: never folded as constants.
NOT_FOLDABLE = frozenset({"Dropout"})


# ---- more indexing and sequence ops ----------------------------------------------------------------
@converter("CumProd")
def _cumprod(node, x, axis):
    x = T(x)
    a = axis_of(int(scalar(node, axis, "axis")), x.ndim)
    rev = node.get("reverse", 0)
    if rev:
        x = ember.flip(x, [a])
    if node.get("exclusive", 0):
        ones = ember.ones_like(ember.narrow(x, a, 0, 1))
        x = ember.cat([ones, ember.narrow(x, a, 0, x.shape[a] - 1)], dim=a)
    y = cast(ember.cumprod(x, a), x.dtype.np)
    return [ember.flip(y, [a]) if rev else y]


@converter("RMSNormalization")
def _rms_norm(node, x, scale):
    x = T(x)
    d = x.dtype
    axis = axis_of(node.get("axis", -1), x.ndim)
    xs = ember.cast(x, ember.float32) if node.get("stash_type", 1) == 1 and d.itemsize < 4 else x
    ax = tuple(range(axis, x.ndim))
    y = xs * ember.rsqrt(ember.mean(xs * xs, ax, True) + node.get("epsilon", 1e-5))
    return [ember.cast(y, d) * T(scale)]


def _nd_index(idx, data_shape, batch_dims):
    """ONNX GatherND/ScatterND indices as a tuple of broadcasting index tensors (batch dims included)."""
    idx = idx if isinstance(idx, Tensor) else T(np.asarray(idx).astype(np.int64))
    q = idx.ndim
    key = []
    for j in range(batch_dims):
        shape = [1] * (q - 1)
        shape[j] = data_shape[j]
        key.append(T(np.arange(data_shape[j], dtype=np.int64).reshape(shape)))
    for i in range(idx.shape[-1]):
        k = idx[..., i]
        dim = data_shape[batch_dims + i]
        key.append(ember.where(k < 0, k + dim, k))
    return tuple(key)


@converter("GatherND")
def _gather_nd(node, x, idx):
    x = T(x)
    return [x[_nd_index(idx, tuple(x.shape), node.get("batch_dims", 0))]]


@converter("ScatterND")
def _scatter_nd(node, x, idx, updates):
    x = T(x)
    reduction = node.get("reduction", "none")
    if reduction not in ("none", "add"):
        raise node.fail(f"reduction='{reduction}'")
    key = _nd_index(idx, tuple(x.shape), 0)
    return [ember.index_put(x, key, T(updates), accumulate=reduction == "add")]


@converter("Compress")
def _compress(node, x, condition):
    x = T(x)
    keep = np.flatnonzero(const(node, condition, "condition"))
    axis = node.get("axis")
    if axis is None:
        x, axis = x.reshape((-1,)), 0
    axis = axis_of(axis, x.ndim)
    keep = keep[keep < x.shape[axis]]
    return [ember.index_select(x, axis, T(keep.astype(np.int64)))]


@converter("ReverseSequence")
def _reverse_sequence(node, x, lens):
    x = T(x)
    lens = const(node, lens, "sequence_lens")
    b_ax, t_ax = node.get("batch_axis", 1), node.get("time_axis", 0)
    steps = x.shape[t_ax]
    t = np.arange(steps)[:, None]
    src = np.where(t < lens[None, :], lens[None, :] - 1 - t, t)  # [time, batch]
    if b_ax < t_ax:
        src = src.T
    shape = [1] * x.ndim
    shape[t_ax], shape[b_ax] = steps, len(lens)
    index = np.broadcast_to(src.reshape(shape), tuple(x.shape)).astype(np.int64)
    return [ember.gather(x, t_ax, T(np.ascontiguousarray(index)))]


@converter("Unique")
def _unique(node, x):
    arr = const(node, x, "X")
    axis = node.get("axis")
    y, first, inverse, counts = np.unique(arr, return_index=True, return_inverse=True, return_counts=True, axis=axis)
    if not node.get("sorted", 1):
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        y = np.take(y, order, axis=0 if axis is None else axis)
        first, counts, inverse = first[order], counts[order], rank[inverse.reshape(-1)]
    i64 = np.int64
    return [y, first.astype(i64), inverse.reshape(-1).astype(i64), counts.astype(i64)][: node.nout]


@converter("LpPool")
def _lp_pool(node, x):
    x = T(x)
    nsp, kernel, strides, dil, begin, end, extra = _pool_geometry(node, x)
    p = node.get("p", 2)
    xp = F.pad(ember.pow(ember.abs(x), p), _torch_pad_list(begin, [e + x_ for e, x_ in zip(end, extra)]))
    return [ember.pow(_window_reduce(xp, kernel, strides, dil, ember.add), 1.0 / p)]


# ---- Resize / Upsample: separable, one axis at a time, with taps and weights computed in NumPy ----------
def _source_coords(node, mode, out, n_in, scale, roi):
    x = np.arange(out, dtype=np.float64)
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        offset = (n_in / 2) * (1 - out / (scale * n_in))
        return offset + (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out > 1 else np.zeros(out)
    out_f = scale * n_in  # the reference divides by the unrounded output size
    if mode == "align_corners":
        return x * (n_in - 1) / (out_f - 1) if out_f != 1 else np.zeros(out)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_crop_and_resize":
        start, end = roi
        if out_f != 1:
            return start * (n_in - 1) + x * (end - start) * (n_in - 1) / (out_f - 1)
        return np.full(out, 0.5 * (start + end) * (n_in - 1))
    raise node.fail(f"coordinate_transformation_mode='{mode}'")


def _cubic_coeffs(r, a):
    def k(t):  # Keys' cubic kernel
        t = np.abs(t)
        return np.where(
            t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1, np.where(t < 2, ((a * t - 5 * a) * t + 8 * a) * t - 4 * a, 0.0)
        )

    return np.stack([k(r + 1), k(r), k(1 - r), k(2 - r)], axis=-1)


def _taps(node, mode, coords, n_in):
    """Source indices [out, taps] and weights [out, taps] for one axis (the ONNX reference's rules)."""
    base = np.floor(coords)
    ratio = coords - base
    at_int = ratio == 0
    base = np.where(at_int, base - 1, base).astype(np.int64)
    ratio = np.where(at_int, 1.0, ratio)
    if mode == "nearest":
        rule = node.get("nearest_mode", "round_prefer_floor")
        step = {
            "round_prefer_floor": ratio > 0.5,
            "round_prefer_ceil": ratio >= 0.5,
            "floor": ratio == 1,
            "ceil": np.ones_like(ratio, dtype=bool),
        }.get(rule)
        if step is None:
            raise node.fail(f"nearest_mode='{rule}'")
        idx = (base + step)[:, None]
        w = np.ones_like(idx, dtype=np.float64)
    elif mode == "linear":
        idx = np.stack([base, base + 1], axis=-1)
        w = np.stack([1 - ratio, ratio], axis=-1)
    elif mode == "cubic":
        idx = np.stack([base - 1, base, base + 1, base + 2], axis=-1)
        w = _cubic_coeffs(ratio, node.get("cubic_coeff_a", -0.75))
    else:
        raise node.fail(f"mode='{mode}'")
    if node.get("exclude_outside", 0):
        w = np.where((idx < 0) | (idx >= n_in), 0.0, w)
        w = w / w.sum(axis=-1, keepdims=True)
    return np.clip(idx, 0, n_in - 1), w


def _resize_axis(node, x, axis, out, scale, mode, ctm, roi):
    n_in = x.shape[axis]
    coords = _source_coords(node, ctm, out, n_in, scale, roi)
    idx, w = _taps(node, mode, coords, n_in)
    shape = [1] * x.ndim
    shape[axis] = out
    y = None
    for k in range(idx.shape[1]):
        part = ember.index_select(x, axis, T(idx[:, k]))
        if mode != "nearest":
            part = part * T(w[:, k].astype(x.dtype.np).reshape(shape))
        y = part if y is None else y + part
    if ctm == "tf_crop_and_resize":
        outside = ((coords < 0) | (coords > n_in - 1)).reshape(shape)
        if outside.any():
            fill = T(np.asarray(node.get("extrapolation_value", 0.0), dtype=x.dtype.np))
            y = ember.where(T(outside), fill, y)
    return y


def _resize(node, x, scales, sizes, roi, mode, ctm):
    x = T(x)
    if node.get("antialias", 0):
        raise node.fail("antialias=1")
    axes = node.get("axes")
    axes = list(range(x.ndim)) if axes is None else [axis_of(a, x.ndim) for a in axes]
    in_sizes = [x.shape[a] for a in axes]
    if sizes is not None:
        out = [int(s) for s in sizes]
        sc = [o / i for o, i in zip(out, in_sizes)]
        policy = node.get("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            s = min(sc) if policy == "not_larger" else max(sc)
            sc = [s] * len(axes)
            out = [int(np.round(s * i)) for i in in_sizes]
    else:
        sc = [float(s) for s in scales]
        out = [int(s * i) for s, i in zip(sc, in_sizes)]
    roi_pairs = [(0.0, 1.0)] * len(axes)
    if roi is not None and len(roi):
        roi_pairs = [(roi[i], roi[i + len(axes)]) for i in range(len(axes))]
    if not is_float(x) and mode != "nearest":
        raise node.fail(f"{mode} resizing of {dtype_np(x)} data")
    for a, o, s, r in zip(axes, out, sc, roi_pairs):
        if o == x.shape[a] and s == 1.0 and ctm != "tf_crop_and_resize":
            continue
        x = _resize_axis(node, x, a, o, s, mode, ctm, r)
    return [x]


@converter("Resize")
def _resize_op(node, x, roi=None, scales=None, sizes=None):
    mode = node.get("mode", "nearest")
    ctm = node.get("coordinate_transformation_mode", "half_pixel")
    if node.opset < 11:
        scales, sizes, roi, ctm = roi, None, None, "asymmetric"  # Resize-10: (X, scales)
    roi = None if roi is None else const(node, roi, "roi").astype(np.float64).reshape(-1)
    scales = None if scales is None else const(node, scales, "scales").reshape(-1)
    sizes = None if sizes is None else const(node, sizes, "sizes").reshape(-1)
    if scales is not None and scales.size == 0:
        scales = None
    if sizes is not None and sizes.size == 0:
        sizes = None
    return _resize(node, x, scales, sizes, roi, mode, ctm)


@converter("Upsample")
def _upsample(node, x, scales=None):
    scales = node.get("scales") if scales is None else const(node, scales, "scales").reshape(-1)
    mode = node.get("mode", "nearest")
    mode = "linear" if mode in ("linear", "bilinear") else mode
    node.attrs.setdefault("nearest_mode", "floor")
    return _resize(node, x, np.asarray(scales), None, None, mode, "asymmetric")


# ---- losses, quantization, windows -----------------------------------------------------------------
def _nll(node, logp, target, weight):
    """ONNX NegativeLogLikelihoodLoss on log-probabilities [N, C, d...] and class targets [N, d...]."""
    t = ember.cast(T(target), ember.int64)
    ignore = node.get("ignore_index")
    valid = None if ignore is None else ember.ne(t, ignore)
    safe = t if valid is None else ember.where(valid, t, ember.zeros_like(t))
    picked = ember.gather(logp, 1, ember.unsqueeze(safe, 1)).reshape(tuple(t.shape))
    if weight is not None:
        w = ember.index_select(T(weight), 0, safe.reshape((-1,))).reshape(tuple(t.shape))
    else:
        w = ember.ones(tuple(t.shape), dtype=logp.dtype)
    if valid is not None:
        w = ember.where(valid, w, ember.zeros_like(w))
    loss = -picked * w
    reduction = node.get("reduction", "mean")
    if reduction == "none":
        return loss
    if reduction == "sum":
        return ember.sum(loss)
    if reduction == "mean":
        return ember.sum(loss) / ember.sum(w)
    raise node.fail(f"reduction='{reduction}'")


@converter("NegativeLogLikelihoodLoss")
def _nll_loss(node, x, target, weight=None):
    return [_nll(node, T(x), target, weight)]


@converter("SoftmaxCrossEntropyLoss")
def _softmax_ce(node, scores, labels, weights=None):
    logp = ember.log_softmax(T(scores), 1)
    return [_nll(node, logp, labels, weights), logp][: node.nout]


def _per_axis(node, v, x):
    """A quantization scale/zero point: scalar, or 1-D along ``axis``, shaped to broadcast against x."""
    v = T(v)
    if v.ndim == 0 or (v.numel() == 1 and x.ndim == 0):
        return v.reshape(())
    if node.get("block_size", 0):
        raise node.fail("blocked quantization (block_size)")
    shape = [1] * x.ndim
    shape[axis_of(node.get("axis", 1), x.ndim)] = -1
    return v.reshape(tuple(shape))


@converter("QuantizeLinear")
def _quantize(node, x, scale, zero_point=None):
    x = T(x)
    if zero_point is not None:
        out_dtype = dtype_np(zero_point)
    elif node.get("output_dtype"):
        out_dtype = onnx_np_dtype(node, node.get("output_dtype"))
    else:
        out_dtype = np.dtype(np.uint8)
    if out_dtype.kind not in "iu":
        raise node.fail(f"quantizing to {out_dtype}")
    info = np.iinfo(out_dtype)
    s = _per_axis(node, scale, x)
    y = ember.round(ember.cast(x, ember.float32) / ember.cast(s, ember.float32))
    if zero_point is not None:
        y = y + ember.cast(_per_axis(node, zero_point, x), ember.float32)
    return [cast(ember.clamp(y, float(info.min), float(info.max)), out_dtype)]


@converter("DequantizeLinear")
def _dequantize(node, x, scale, zero_point=None):
    x = T(x)
    s = _per_axis(node, scale, x)
    v = ember.cast(x, ember.float32)
    if zero_point is not None:
        v = v - ember.cast(_per_axis(node, zero_point, x), ember.float32)
    return [cast(v * ember.cast(s, ember.float32), s.dtype.np)]


def _window(coeffs):
    def conv(node, size):
        n = int(scalar(node, size, "size"))
        denom = n if node.get("periodic", 1) else n - 1
        k = 2 * np.pi * np.arange(n) / denom
        w = sum(c * np.cos(i * k) for i, c in enumerate(coeffs))
        return [w.astype(onnx_np_dtype(node, node.get("output_datatype", 1)))]

    return conv


CONVERTERS["HannWindow"] = _window([0.5, -0.5])
CONVERTERS["HammingWindow"] = _window([25 / 46, -21 / 46])
CONVERTERS["BlackmanWindow"] = _window([0.42, -0.5, 0.08])


# ---- Attention (opset 23+), following the ONNX reference implementation ------------------------------
def _static_attention_bias(node, batch, q_len, kv_len, past_len, nonpad, dtype):
    """The causal, sliding-window and key-padding parts of the additive attention bias, in NumPy."""
    neg = dtype.type(-np.inf)
    i = np.arange(q_len).reshape(q_len, 1)
    j = np.arange(kv_len).reshape(1, kv_len)
    if past_len == 0 and nonpad is not None:
        offset = (nonpad.reshape(-1) - q_len).reshape(-1, 1, 1, 1)  # per batch: [B, 1, 1, 1]
    else:
        offset = past_len
    bias = np.zeros((q_len, kv_len), dtype=dtype)
    if node.get("is_causal", 0):
        bias = bias + np.where(j <= i + offset, dtype.type(0), neg)
    left, right = node.get("left_window_size", -1), node.get("right_window_size", -1)
    if left >= 0 or right >= 0:
        diff = (i + offset) - j
        allowed = np.ones_like(diff, dtype=bool)
        if left >= 0:
            allowed &= diff <= left
        if right >= 0:
            allowed &= -diff <= right
        bias = bias + np.where(allowed, dtype.type(0), neg)
    if nonpad is not None:
        keep = np.arange(kv_len) < nonpad.reshape(-1, 1)
        bias = bias + np.where(keep, dtype.type(0), neg).reshape(batch, 1, 1, kv_len)
    return bias.astype(dtype)


def _heads(x, n):
    """[B, S, n*h] -> [B, n, S, h]."""
    b, s, hidden = x.shape
    return x.reshape((b, s, n, hidden // n)).transpose(1, 2)


@converter("Attention")
def _attention(node, q, k, v, mask=None, past_k=None, past_v=None, nonpad=None):
    q, k, v = T(q), T(k), T(v)
    three_d = q.ndim == 3
    if three_d:
        kv_heads = node.get("kv_num_heads")
        q, k, v = _heads(q, node.get("q_num_heads")), _heads(k, kv_heads), _heads(v, kv_heads)
    dtype = q.dtype.np
    scale = node.get("scale")
    scale = 1 / math.sqrt(q.shape[3]) if scale is None else scale
    s = float(dtype.type(math.sqrt(scale)))
    if past_k is not None:
        k, v = ember.cat([T(past_k), k], 2), ember.cat([T(past_v), v], 2)
    present_k, present_v = k, v
    q_len, kv_len = q.shape[2], k.shape[2]
    past_len = 0 if past_k is None else shape_of(past_k)[2]
    nonpad = None if nonpad is None else const(node, nonpad, "nonpad_kv_seqlen")
    static = _static_attention_bias(node, q.shape[0], q_len, kv_len, past_len, nonpad, dtype)
    bias = T(static)
    if mask is not None:
        m = T(mask)
        is_bool = m.dtype is ember.bool
        if is_bool:
            m = ember.where(m, T(np.zeros((), dtype)), T(np.array(-np.inf, dtype)))
        pad = kv_len - m.shape[-1]
        if pad > 0:
            m = ember.cat([m, T(np.full(tuple(m.shape[:-1]) + (pad,), -np.inf, dtype))], -1)
        bias = bias + m
    if q.shape[1] != k.shape[1] and q.shape[1] % k.shape[1] == 0:
        reps = q.shape[1] // k.shape[1]
        k, v = ember.repeat_interleave(k, reps, 1), ember.repeat_interleave(v, reps, 1)
    scores = _low_precision(ember.matmul, [q * s, k.transpose(2, 3) * s])
    softcap = node.get("softcap", 0.0)
    if softcap and softcap > 0:
        scores = ember.tanh(scores / softcap) * softcap
    with_bias = scores + bias
    mode = node.get("qk_matmul_output_mode", 0)
    qk_out = with_bias if mode == 2 else scores
    logits = with_bias
    if node.get("softmax_precision") is not None:
        logits = cast(logits, onnx_np_dtype(node, node.get("softmax_precision")))
    probs = ember.softmax(logits, -1)
    masked_rows = ember.eq(ember.amax(bias, (-1,), True), float("-inf"))
    probs = ember.where(masked_rows, ember.zeros_like(probs), probs)
    if mode == 3:
        qk_out = probs
    y = _low_precision(ember.matmul, [cast(probs, dtype), v])
    if three_d:
        y = y.transpose(1, 2)
        y = y.reshape((y.shape[0], y.shape[1], -1))
    return [y, present_k, present_v, cast(qk_out, dtype)][: node.nout]


# ---- small modern ops -------------------------------------------------------------------------------
@converter("RotaryEmbedding")
def _rotary(node, x, cos, sin, position_ids=None):
    x = T(x)
    shape = tuple(x.shape)
    if x.ndim == 4:  # [B, heads, S, h] -> [B, S, heads, h]
        x = x.transpose(1, 2)
    else:
        n = node.get("num_heads")
        x = x.reshape((shape[0], shape[1], n, shape[2] // n))
    head = x.shape[3]
    rot = node.get("rotary_embedding_dim", 0) or head
    half = rot // 2
    cos, sin = T(cos), T(sin)
    if position_ids is not None:
        pid = T(position_ids)
        cos, sin = cos[pid], sin[pid]
    cos, sin = ember.unsqueeze(cos, 2), ember.unsqueeze(sin, 2)
    x_rot, x_pass = x[..., :rot], x[..., rot:]
    if node.get("interleaved", 0):
        x1, x2 = x_rot[..., 0::2], x_rot[..., 1::2]
    else:
        x1, x2 = x_rot[..., :half], x_rot[..., half:]
    real, imag = cos * x1 - sin * x2, sin * x1 + cos * x2
    if node.get("interleaved", 0):
        rotated = ember.stack([real, imag], -1).reshape(tuple(x_rot.shape))
    else:
        rotated = ember.cat([real, imag], -1)
    y = ember.cat([rotated, x_pass], -1)
    return [y.reshape(shape) if len(shape) == 3 else y.transpose(1, 2)]


@converter("SwiGLU")
def _swiglu(node, a, b):
    a = T(a)
    return [a * ember.sigmoid(node.get("alpha", 1.0) * a) * T(b)]


@converter("BitShift")
def _bit_shift(node, x, y):
    """Shifts as multiplication / floor division by 2**y; shifts outside [0, bits) give 0 (or -1 for a
    negative value shifted right), as the ONNX reference does."""
    x, y = T(x), ember.cast(T(y), ember.int64)
    valid = (y >= 0) & (y < 8 * x.dtype.itemsize)
    factor = ember.pow(ember.full_like(y, 2), ember.where(valid, y, ember.zeros_like(y)))
    wide = ember.cast(x, ember.int64)
    zero = ember.zeros_like(wide)
    if node.get("direction") == "LEFT":
        out = ember.where(valid, wide * factor, zero)
    else:
        spill = ember.where(wide < 0, zero - 1, zero) if x.dtype.is_signed else zero
        out = ember.where(valid, ember.floor_divide(wide, factor), spill)
    return [cast(out, x.dtype.np)]


@converter("CenterCropPad")
def _center_crop_pad(node, x, shape):
    x = T(x)
    target = ints(node, shape, "shape")
    axes = node.get("axes")
    axes = list(range(x.ndim)) if axes is None else [axis_of(a, x.ndim) for a in axes]
    key = [slice(None)] * x.ndim
    before, after = [0] * x.ndim, [0] * x.ndim
    for a, size in zip(axes, target):
        dim = x.shape[a]
        if size < dim:
            start = (dim - size) // 2
            key[a] = slice(start, start + size)
        elif size > dim:
            before[a] = (size - dim) // 2
            after[a] = size - dim - before[a]
    x = x[tuple(key)]
    if any(before) or any(after):
        x = F.pad(x, _torch_pad_list(before, after))
    return [x]


@converter("DynamicQuantizeLinear")
def _dynamic_quantize(node, x):
    x = T(x)
    hi = ember.clamp(ember.amax(x, tuple(range(x.ndim))), min=0.0)
    lo = ember.clamp(ember.amin(x, tuple(range(x.ndim))), max=0.0)
    span = hi - lo
    scale = ember.where(span == 0, ember.ones_like(span), span) / 255.0
    zp = ember.round(ember.clamp(-lo / scale, 0.0, 255.0))
    y = ember.clamp(ember.round(x / scale) + zp, 0.0, 255.0)
    return [cast(y, np.uint8), cast(scale, dtype_np(x)), cast(zp, np.uint8)]


@converter("MatMulInteger")
def _matmul_integer(node, a, b, a_zero=None, b_zero=None):
    a, b = ember.cast(T(a), ember.int32), ember.cast(T(b), ember.int32)
    if a_zero is not None:
        az = ember.cast(T(a_zero), ember.int32)
        a = a - (az.reshape((-1, 1)) if az.ndim == 1 and az.shape[0] > 1 else az)
    if b_zero is not None:
        b = b - ember.cast(T(b_zero), ember.int32)
    return [ember.matmul(a, b)]


# Inputs each op needs as constants (shapes, axes, bounds, scales): a float initializer feeding one of
# these stays a constant instead of becoming a trainable Parameter.
STATIC_INPUTS = {
    "Clip": {1, 2},
    "Pad": {1, 2, 3},
    "Resize": {1, 2, 3},
    "Upsample": {1},
    "Range": {0, 1, 2},
    "Dropout": {1, 2},
    "ConstantOfShape": {0},
    "Compress": {1},
    "Unique": {0},
}
