"""Per-op ONNX emit rules: ``EMITTERS[op name](ctx, node)`` appends ONNX nodes for one ember graph node.

An emitter reads its operands through the export context (``ctx.arg`` applies the
node's kernel casts and turns Python-number operands into typed constants, so
ONNX sees the dtypes ember computed in), appends ONNX nodes with ``ctx.emit`` and
binds each output with ``ctx.out`` (which casts when ONNX's result dtype is not the
one ember's op produces). Opset differences live here: axes became inputs of
ReduceSum/Squeeze/Unsqueeze in opset 13 and of the other reductions in 18,
LayerNormalization exists from 17 and Gelu from 20; below that they are written out.

``NOT_EXPORTED`` lists ops that have an ONNX name in the op table but no emitter,
with the reason; exporting a graph that uses one (or any op with no emitter) raises
``UnsupportedOperatorError`` naming the op, the node and the user's source line.
"""

from __future__ import annotations

import math

import numpy as np

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

EMITTERS: dict = {}

# Ops the op table maps to an ONNX operator that the exporter still refuses, and why.
NOT_EXPORTED = {
    "nonzero": "its output size depends on the data; ember graphs with data-dependent shapes are not exported",
    "unique": "its output size depends on the data; ember graphs with data-dependent shapes are not exported",
}


class UnsupportedOperatorError(RuntimeError):
    """An ember op (or one of its attribute combinations) has no ONNX mapping (torch.onnx's error name)."""


def emits(*names):
    def register(fn):
        for n in names:
            EMITTERS[n] = fn
        return fn

    return register


def _axes(axis, ndim):
    if axis is None:
        return list(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return [a % ndim if ndim else 0 for a in axis]


# ---- elementwise ------------------------------------------------------------------------
_BINARY = {
    "add": "Add",
    "sub": "Sub",
    "mul": "Mul",
    "div": "Div",
    "pow": "Pow",
    "maximum": "Max",
    "minimum": "Min",
}


@emits(*_BINARY)
def _binary(ctx, node):
    d = node.out.dtype
    if d == np.bool_ and node.op.name in ("add", "mul", "maximum", "minimum"):  # NumPy: or / and on bools
        a, b = ctx.arg(node, 0, np.bool_), ctx.arg(node, 1, np.bool_)
        ctx.out(node, ctx.emit("Or" if node.op.name in ("add", "maximum") else "And", [a, b]))
        return
    a, b = ctx.arg(node, 0, d), ctx.arg(node, 1, d)
    ctx.out(node, ctx.emit(_BINARY[node.op.name], [a, b]))


_UNARY = {
    "neg": "Neg",
    "abs": "Abs",
    "exp": "Exp",
    "log": "Log",
    "sqrt": "Sqrt",
    "reciprocal": "Reciprocal",
    "sin": "Sin",
    "cos": "Cos",
    "tan": "Tan",
    "asin": "Asin",
    "acos": "Acos",
    "atan": "Atan",
    "sinh": "Sinh",
    "cosh": "Cosh",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "erf": "Erf",
    "relu": "Relu",
    "sign": "Sign",
    "floor": "Floor",
    "ceil": "Ceil",
}


@emits(*_UNARY)
def _unary(ctx, node):
    x = ctx.arg(node, 0, node.out.dtype)
    ctx.out(node, ctx.emit(_UNARY[node.op.name], [x]))


@emits("rsqrt")
def _rsqrt(ctx, node):
    x = ctx.arg(node, 0, node.out.dtype)
    ctx.out(node, ctx.emit("Reciprocal", [ctx.emit("Sqrt", [x])]))


@emits("exp2", "log2", "log10", "expm1", "log1p")
def _exp_log_variants(ctx, node):
    d = node.out.dtype
    x = ctx.arg(node, 0, d)
    name = node.op.name
    if name == "exp2":
        y = ctx.emit("Exp", [ctx.emit("Mul", [x, ctx.scalar(math.log(2.0), d)])])
    elif name == "expm1":
        y = ctx.emit("Sub", [ctx.emit("Exp", [x]), ctx.scalar(1, d)])
    elif name == "log1p":
        y = ctx.emit("Log", [ctx.emit("Add", [x, ctx.scalar(1, d)])])
    else:
        base = 2.0 if name == "log2" else 10.0
        y = ctx.emit("Div", [ctx.emit("Log", [x]), ctx.scalar(math.log(base), d)])
    ctx.out(node, y)


@emits("trunc")
def _trunc(ctx, node):
    d = node.out.dtype
    x = ctx.arg(node, 0, d)
    if np.dtype(d).kind != "f":
        ctx.out(node, ctx.emit("Identity", [x]))
        return
    neg = ctx.emit("Less", [x, ctx.scalar(0, d)])
    ctx.out(node, ctx.emit("Where", [neg, ctx.emit("Ceil", [x]), ctx.emit("Floor", [x])]))


@emits("round")
def _round(ctx, node):
    d = node.out.dtype
    x = ctx.arg(node, 0, d)
    decimals = node.attrs.get("decimals", 0)
    if np.dtype(d).kind != "f":
        ctx.out(node, ctx.emit("Identity", [x]))
        return
    if decimals == 0:
        ctx.out(node, ctx.emit("Round", [x]))
        return
    scale = ctx.scalar(10.0**decimals, d)
    ctx.out(node, ctx.emit("Div", [ctx.emit("Round", [ctx.emit("Mul", [x, scale])]), scale]))


@emits("gelu")
def _gelu(ctx, node):
    d = node.out.dtype
    x = ctx.arg(node, 0, d)
    approximate = node.attrs.get("approximate", "none")
    if ctx.opset >= 20:
        ctx.out(node, ctx.emit("Gelu", [x], approximate=approximate))
        return
    half = ctx.scalar(0.5, d)
    if approximate == "tanh":
        x3 = ctx.emit("Mul", [ctx.emit("Mul", [x, x]), x])
        inner = ctx.emit("Add", [x, ctx.emit("Mul", [x3, ctx.scalar(0.044715, d)])])
        t = ctx.emit("Tanh", [ctx.emit("Mul", [inner, ctx.scalar(math.sqrt(2 / math.pi), d)])])
    else:
        t = ctx.emit("Erf", [ctx.emit("Mul", [x, ctx.scalar(1 / math.sqrt(2), d)])])
    one_plus = ctx.emit("Add", [t, ctx.scalar(1.0, d)])
    ctx.out(node, ctx.emit("Mul", [ctx.emit("Mul", [x, half]), one_plus]))


@emits("clamp")
def _clamp(ctx, node):
    d = node.out.dtype
    x = ctx.arg(node, 0, d)
    lo, hi = node.attrs.get("min"), node.attrs.get("max")
    if np.dtype(d).kind != "f" and any(isinstance(v, float) for v in (lo, hi)):
        raise ctx.unsupported(node, "clamp of an integer tensor with float bounds")
    ins = [x, "" if lo is None else ctx.scalar(lo, d), "" if hi is None else ctx.scalar(hi, d)]
    while ins[-1] == "":
        ins.pop()
    ctx.out(node, ctx.emit("Clip", ins))


_COMPARE = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual"}


@emits(*_COMPARE, "ne")
def _compare(ctx, node):
    d = ctx.compute_dtype(node)
    a, b = ctx.arg(node, 0, d), ctx.arg(node, 1, d)
    if node.op.name == "ne":
        ctx.out(node, ctx.emit("Not", [ctx.emit("Equal", [a, b])]))
    else:
        ctx.out(node, ctx.emit(_COMPARE[node.op.name], [a, b]))


_LOGICAL = {"logical_and": "And", "logical_or": "Or", "logical_xor": "Xor"}


@emits(*_LOGICAL)
def _logical(ctx, node):
    a, b = ctx.arg(node, 0, np.bool_), ctx.arg(node, 1, np.bool_)
    ctx.out(node, ctx.emit(_LOGICAL[node.op.name], [a, b]))


_BITWISE = {
    "bitwise_and": ("And", "BitwiseAnd"),
    "bitwise_or": ("Or", "BitwiseOr"),
    "bitwise_xor": ("Xor", "BitwiseXor"),
}


@emits(*_BITWISE, "bitwise_not")
def _bitwise(ctx, node):
    """On bools these are the logical ops (``mask & mask``); on integers ONNX has them from opset 18."""
    d = node.out.dtype
    args = [ctx.arg(node, i, d) for i in range(len(node.inputs))]
    logical, bitwise = _BITWISE.get(node.op.name, ("Not", "BitwiseNot"))
    if np.dtype(d) == np.bool_:
        ctx.out(node, ctx.emit(logical, args))
    elif ctx.opset >= 18:
        ctx.out(node, ctx.emit(bitwise, args))
    else:
        raise ctx.unsupported(node, f"integer {node.op.name} needs opset 18 or later")


@emits("logical_not")
def _logical_not(ctx, node):
    ctx.out(node, ctx.emit("Not", [ctx.arg(node, 0, np.bool_)]))


@emits("isnan", "isinf", "isfinite")
def _isnan(ctx, node):
    d = ctx.compute_dtype(node)
    x = ctx.arg(node, 0, d)
    if np.dtype(d).kind != "f":  # integers are always finite
        ctx.out(
            node,
            ctx.emit("Equal", [x, x]) if node.op.name == "isfinite" else ctx.emit("Not", [ctx.emit("Equal", [x, x])]),
        )
        return
    if node.op.name == "isnan":
        ctx.out(node, ctx.emit("IsNaN", [x]))
    elif node.op.name == "isinf":
        ctx.out(node, ctx.emit("IsInf", [x]))
    else:
        bad = ctx.emit("Or", [ctx.emit("IsNaN", [x]), ctx.emit("IsInf", [x])])
        ctx.out(node, ctx.emit("Not", [bad]))


@emits("remainder", "fmod")
def _remainder(ctx, node):
    d = node.out.dtype
    a, b = ctx.arg(node, 0, d), ctx.arg(node, 1, d)
    if node.op.name == "fmod":
        ctx.out(node, ctx.emit("Mod", [a, b], fmod=1))
    elif np.dtype(d).kind in "iu":
        ctx.out(node, ctx.emit("Mod", [a, b], fmod=0))  # integer Mod takes the divisor's sign, as Python's %
    else:  # float remainder: a - floor(a / b) * b (ONNX's float Mod is fmod)
        q = ctx.emit("Floor", [ctx.emit("Div", [a, b])])
        ctx.out(node, ctx.emit("Sub", [a, ctx.emit("Mul", [q, b])]))


@emits("floor_divide")
def _floor_divide(ctx, node):
    d = node.out.dtype
    if np.dtype(d).kind != "f":
        raise ctx.unsupported(node, "integer floor_divide (ONNX Div truncates toward zero)")
    a, b = ctx.arg(node, 0, d), ctx.arg(node, 1, d)
    ctx.out(node, ctx.emit("Floor", [ctx.emit("Div", [a, b])]))


@emits("where")
def _where(ctx, node):
    d = node.out.dtype
    c = ctx.arg(node, 0, np.bool_)
    ctx.out(node, ctx.emit("Where", [c, ctx.arg(node, 1, d), ctx.arg(node, 2, d)]))


@emits("cast")
def _cast(ctx, node):
    x = ctx.arg(node, 0)
    ctx.out(node, ctx.cast(x, node.out.dtype))


@emits("clone", "contiguous", "stop_gradient", "to_device")
def _identity(ctx, node):
    ctx.out(node, ctx.emit("Identity", [ctx.arg(node, 0)]))


# ---- reductions ---------------------------------------------------------------------------
def _reduce(ctx, op_type, x, axes, keepdim):
    """Reduce over ``axes``: an input from opset 13 (ReduceSum) / 18 (the others), else an attribute."""
    as_input = ctx.opset >= (13 if op_type == "ReduceSum" else 18)
    if as_input:
        return ctx.emit(op_type, [x, ctx.ints(axes)], keepdims=int(bool(keepdim)))
    return ctx.emit(op_type, [x], axes=list(axes), keepdims=int(bool(keepdim)))


def _reduce_args(ctx, node):
    x = node.inputs[0]
    return _axes(node.attrs.get("axis"), len(x.shape)), node.attrs.get("keepdim", False)


_REDUCE = {
    "sum": "ReduceSum",
    "prod": "ReduceProd",
    "amax": "ReduceMax",
    "amin": "ReduceMin",
    "logsumexp": "ReduceLogSumExp",
}


@emits(*_REDUCE)
def _reduction(ctx, node):
    axes, keep = _reduce_args(ctx, node)
    x = ctx.arg(node, 0, node.out.dtype)  # sum/prod of ints accumulate in int64, as ember's kernels do
    if not axes:  # reducing nothing (a 0-d input): the value itself
        ctx.out(node, ctx.emit("Identity", [x]))
        return
    ctx.out(node, _reduce(ctx, _REDUCE[node.op.name], x, axes, keep))


@emits("all", "any")
def _all_any(ctx, node):
    axes, keep = _reduce_args(ctx, node)
    x = ctx.arg(node, 0, np.bool_)
    if node.op.name == "all":
        x = ctx.emit("Not", [x])
    n = ctx.cast(x, np.int64)
    if axes:
        n = _reduce(ctx, "ReduceSum", n, axes, keep)
    zero = ctx.scalar(0, np.int64)
    ctx.out(node, ctx.emit("Equal", [n, zero]) if node.op.name == "all" else ctx.emit("Greater", [n, zero]))


@emits("vector_norm")
def _vector_norm(ctx, node):
    axes, keep = _reduce_args(ctx, node)
    d = node.out.dtype
    x = ctx.arg(node, 0, d)
    p = node.attrs.get("ord", 2.0)
    if p == 2:
        y = _reduce(ctx, "ReduceL2", x, axes, keep)
    elif p == 1:
        y = _reduce(ctx, "ReduceL1", x, axes, keep)
    elif p == float("inf"):
        y = _reduce(ctx, "ReduceMax", ctx.emit("Abs", [x]), axes, keep)
    elif p == float("-inf"):
        y = _reduce(ctx, "ReduceMin", ctx.emit("Abs", [x]), axes, keep)
    elif p == 0:
        nz = ctx.cast(ctx.emit("Not", [ctx.emit("Equal", [x, ctx.scalar(0, d)])]), d)
        y = _reduce(ctx, "ReduceSum", nz, axes, keep)
    else:
        s = _reduce(ctx, "ReduceSum", ctx.emit("Pow", [ctx.emit("Abs", [x]), ctx.scalar(p, d)]), axes, keep)
        y = ctx.emit("Pow", [s, ctx.scalar(1.0 / p, d)])
    ctx.out(node, y)


@emits("argmax", "argmin")
def _arg(ctx, node):
    x = ctx.arg(node, 0)
    axis, keep = node.attrs.get("axis"), node.attrs.get("keepdim", False)
    op_type = "ArgMax" if node.op.name == "argmax" else "ArgMin"
    ndim = len(node.inputs[0].shape)
    if axis is None:  # over the flattened input
        flat = ctx.emit("Reshape", [x, ctx.ints([-1])])
        y = ctx.emit(op_type, [flat], axis=0, keepdims=0)
        y = ctx.emit("Reshape", [y, ctx.ints([1] * ndim if keep else [])])
    else:
        y = ctx.emit(op_type, [x], axis=int(axis) % max(ndim, 1), keepdims=int(bool(keep)))
    ctx.out(node, y)


@emits("max_dim", "min_dim")
def _max_dim(ctx, node):
    x = ctx.arg(node, 0)
    ndim = len(node.inputs[0].shape)
    if ndim == 0:
        ctx.out(node, ctx.emit("Identity", [x]), 0)
        ctx.out(node, ctx.const(np.zeros((), np.int64)), 1)
        return
    axis, keep = node.attrs.get("axis", 0) % ndim, node.attrs.get("keepdim", False)
    is_max = node.op.name == "max_dim"
    vals = _reduce(ctx, "ReduceMax" if is_max else "ReduceMin", x, [axis], keep)
    idx = ctx.emit("ArgMax" if is_max else "ArgMin", [x], axis=axis, keepdims=int(bool(keep)))
    ctx.out(node, vals, 0)
    ctx.out(node, idx, 1)


@emits("cumsum")
def _cumsum(ctx, node):
    x = ctx.arg(node, 0, node.out.dtype)
    if not node.inputs[0].shape:
        ctx.out(node, ctx.emit("Identity", [x]))
        return
    ctx.out(node, ctx.emit("CumSum", [x, ctx.scalar(node.attrs.get("axis", 0), np.int64)]))


@emits("softmax", "log_softmax")
def _softmax(ctx, node):
    x = ctx.arg(node, 0, node.out.dtype)
    op_type = "Softmax" if node.op.name == "softmax" else "LogSoftmax"
    ctx.out(node, ctx.emit(op_type, [x], axis=int(node.attrs["axis"])))


# ---- linear algebra and nn ----------------------------------------------------------------
@emits("matmul")
def _matmul(ctx, node):
    d = node.out.dtype
    a, b = ctx.arg(node, 0, d), ctx.arg(node, 1, d)
    ctx.out(node, ctx.emit("MatMul", [a, b]))
    sa, sb = ctx.dyn(node.inputs[0]), ctx.dyn(node.inputs[1])
    if len(sa) >= 2 and len(sb) >= 2:
        batch = _broadcast_dyn([sa[:-2], sb[:-2]], [node.inputs[0].shape[:-2], node.inputs[1].shape[:-2]])
        ctx.set_dyn(node.out, batch + (sa[-2], sb[-1]))
    elif len(sb) >= 2:
        ctx.set_dyn(node.out, sb[:-2] + (sb[-1],))
    elif len(sa) >= 2:
        ctx.set_dyn(node.out, sa[:-1])


def _broadcast_dyn(dyns, shapes):
    n = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(n):
        sym = None
        for dy, s in zip(dyns, shapes):
            j = i - (n - len(s))
            if j >= 0 and dy[j] is not None and s[j] != 1:
                sym = dy[j]
                break
        out.append(sym)
    return tuple(out)


@emits("einsum")
def _einsum(ctx, node):
    from ..ops.linalg import parse_einsum

    ins, out = parse_einsum(node.attrs["equation"], [len(v.shape) for v in node.inputs])
    d = node.out.dtype
    args = [ctx.arg(node, i, d) for i in range(len(node.inputs))]
    ctx.out(node, ctx.emit("Einsum", args, equation=",".join(ins) + "->" + out))


@emits("conv2d_nchw")
def _conv2d(ctx, node):
    d = node.out.dtype
    x, w = ctx.arg(node, 0, d), ctx.arg(node, 1, d)
    a = node.attrs
    ph, pw = a.get("padding", (0, 0))
    y = ctx.emit(
        "Conv",
        [x, w],
        kernel_shape=list(node.inputs[1].shape[2:]),
        strides=list(a.get("stride", (1, 1))),
        pads=[ph, pw, ph, pw],
        dilations=list(a.get("dilation", (1, 1))),
        group=int(a.get("groups", 1)),
    )
    ctx.out(node, y)
    ctx.set_dyn(node.out, (ctx.dyn(node.inputs[0])[0], None, None, None))


@emits("conv_transpose2d_nchw")
def _conv_transpose2d(ctx, node):
    d = node.out.dtype
    x, w = ctx.arg(node, 0, d), ctx.arg(node, 1, d)
    a = node.attrs
    ph, pw = a.get("padding", (0, 0))
    y = ctx.emit(
        "ConvTranspose",
        [x, w],
        kernel_shape=list(node.inputs[1].shape[2:]),
        strides=list(a.get("stride", (1, 1))),
        pads=[ph, pw, ph, pw],
        output_padding=list(a.get("output_padding", (0, 0))),
        dilations=list(a.get("dilation", (1, 1))),
        group=int(a.get("groups", 1)),
    )
    ctx.out(node, y)
    ctx.set_dyn(node.out, (ctx.dyn(node.inputs[0])[0], None, None, None))


@emits("max_pool2d_nchw")
def _max_pool2d(ctx, node):
    x = ctx.arg(node, 0)
    a = node.attrs
    ph, pw = a.get("padding", (0, 0))
    need_idx = ctx.used(node.values[1])
    outs = ctx.emit(
        "MaxPool",
        [x],
        n_out=2 if need_idx else 1,
        kernel_shape=list(a["kernel"]),
        strides=list(a["stride"]),
        pads=[ph, pw, ph, pw],
        dilations=list(a.get("dilation", (1, 1))),
        ceil_mode=int(bool(a.get("ceil_mode", False))),
    )
    n = ctx.dyn(node.inputs[0])[0]
    if need_idx:  # ONNX counts over the whole NCHW tensor, ember (and PyTorch) within each H*W plane
        h, w = node.inputs[0].shape[2:]
        ctx.out(node, ctx.emit("Mod", [outs[1], ctx.scalar(h * w, np.int64)]), 1)
        ctx.set_dyn(node.values[1], (n, None, None, None))
        outs = outs[0]
    ctx.out(node, outs, 0)
    ctx.set_dyn(node.values[0], (n, None, None, None))


@emits("layer_norm_lastdims")
def _layer_norm(ctx, node):
    d = node.out.dtype
    x = ctx.arg(node, 0, d)
    ndim, eps = node.attrs["ndim"], node.attrs["eps"]
    shape = node.inputs[0].shape
    axes = list(range(len(shape) - ndim, len(shape)))
    if ctx.opset >= 17:
        scale = ctx.const(np.ones(shape[len(shape) - ndim :], d))
        y, _, rstd = ctx.emit("LayerNormalization", [x, scale], n_out=3, axis=-ndim, epsilon=float(eps))
    else:
        mean = _reduce(ctx, "ReduceMean", x, axes, True)
        xc = ctx.emit("Sub", [x, mean])
        var = _reduce(ctx, "ReduceMean", ctx.emit("Mul", [xc, xc]), axes, True)
        rstd = ctx.emit("Reciprocal", [ctx.emit("Sqrt", [ctx.emit("Add", [var, ctx.scalar(eps, d)])])])
        y = ctx.emit("Mul", [xc, rstd])
    ctx.out(node, y, 0)
    ctx.out(node, rstd, 1)
    sx = ctx.dyn(node.inputs[0])
    ctx.set_dyn(node.values[0], sx)
    ctx.set_dyn(node.values[1], sx[: len(sx) - ndim] + (None,) * ndim)


# ---- movement -------------------------------------------------------------------------------
@emits("reshape")
def _reshape(ctx, node):
    x = ctx.arg(node, 0)
    src = node.inputs[0]
    target, dyn = reshape_target(src.shape, ctx.dyn(src), node.out.shape, ctx.fresh_sym)
    allowzero = 0 in node.out.shape and not any(dyn)
    attrs = {"allowzero": 1} if allowzero and ctx.opset >= 14 else {}
    ctx.out(node, ctx.emit("Reshape", [x, ctx.ints(target)], **attrs))
    ctx.set_dyn(node.out, dyn)


def reshape_target(in_shape, in_dyn, out_shape, fresh_sym):
    """The Reshape shape input: 0 (copy) for a leading dynamic dim kept as is, -1 where dynamic dims merge."""
    target, dyn = list(out_shape), [None] * len(out_shape)
    if not any(in_dyn):
        return target, tuple(dyn)
    p = 0
    while p < min(len(in_shape), len(out_shape)) and in_shape[p] == out_shape[p]:
        if in_dyn[p] is not None:
            target[p], dyn[p] = 0, in_dyn[p]
        p += 1
    if any(s is not None for s in in_dyn[p:]) and p < len(out_shape):
        # the remaining dynamic dims fold into one output dim: the first one that is a multiple of them
        target[p] = -1
        dyn[p] = fresh_sym()
    return target, tuple(dyn)


@emits("reshape_dynamic")
def _reshape_dynamic(ctx, node):
    x = ctx.arg(node, 0)
    shape = ctx.cast(ctx.arg(node, 1), np.int64)
    ctx.out(node, ctx.emit("Reshape", [x, shape]))


@emits("broadcast_dynamic")
def _broadcast_dynamic(ctx, node):
    x = ctx.arg(node, 0)
    shape = ctx.cast(ctx.arg(node, 1), np.int64)
    ctx.out(node, ctx.emit("Expand", [x, shape]))


@emits("shape_of")
def _shape_of(ctx, node):
    ctx.out(node, ctx.emit("Shape", [ctx.arg(node, 0)]), dtype=np.int64)
    ctx.set_dyn(node.out, (None,))


@emits("permute")
def _permute(ctx, node):
    perm = [int(a) for a in node.attrs["axes"]]
    x = ctx.arg(node, 0)
    ctx.out(node, ctx.emit("Transpose", [x], perm=perm))
    sx = ctx.dyn(node.inputs[0])
    ctx.set_dyn(node.out, tuple(sx[p] for p in perm))


@emits("expand")
def _expand(ctx, node):
    x = ctx.arg(node, 0)
    src = node.inputs[0]
    shape, sx = list(node.attrs["shape"]), ctx.dyn(src)
    out_shape = node.out.shape
    off = len(out_shape) - len(src.shape)
    dyn = [None] * len(out_shape)
    for j, s in enumerate(sx):  # a dynamic input dim: Expand's bidirectional broadcast keeps it with 1
        if s is not None and src.shape[j] == out_shape[j + off]:
            shape[j + off], dyn[j + off] = 1, s
    ctx.out(node, ctx.emit("Expand", [x, ctx.ints(shape)]))
    ctx.set_dyn(node.out, tuple(dyn))


@emits("expand_like")
def _expand_like(ctx, node):
    x = ctx.arg(node, 0)
    ref = ctx.arg(node, 1)
    ctx.out(node, ctx.emit("Expand", [x, ctx.emit("Shape", [ref])]))
    ctx.set_dyn(node.out, ctx.dyn(node.inputs[1]))


@emits("cat")
def _cat(ctx, node):
    d = node.out.dtype
    axis = node.attrs.get("axis", 0)
    args = [ctx.arg(node, i, d) for i in range(len(node.inputs))]
    ctx.out(node, ctx.emit("Concat", args, axis=int(axis)))
    sx = list(ctx.dyn(node.inputs[0]))
    if sx:
        sx[axis % len(sx)] = None
    ctx.set_dyn(node.out, tuple(sx))


@emits("repeat")
def _repeat(ctx, node):
    x = ctx.arg(node, 0)
    reps = [int(r) for r in node.attrs["reps"]]
    ndim = len(node.inputs[0].shape)
    if len(reps) > ndim:
        x = ctx.unsqueeze(x, list(range(len(reps) - ndim)))
    elif len(reps) < ndim:
        reps = [1] * (ndim - len(reps)) + reps
    ctx.out(node, ctx.emit("Tile", [x, ctx.ints(reps)]))
    ctx.set_dyn(node.out, (None,) * len(node.out.shape))


@emits("tril", "triu")
def _tri(ctx, node):
    x = ctx.arg(node, 0)
    k = ctx.scalar(node.attrs.get("k", 0), np.int64)
    ctx.out(node, ctx.emit("Trilu", [x, k], upper=int(node.op.name == "triu")))


@emits("pad_constant")
def _pad(ctx, node):
    d = node.out.dtype
    x = ctx.arg(node, 0, d)
    pads = [tuple(p) for p in node.attrs["pads"]]
    onnx_pads = [int(lo) for lo, _ in pads] + [int(hi) for _, hi in pads]
    value = ctx.scalar(node.attrs.get("value", 0.0), d)
    ctx.out(node, ctx.emit("Pad", [x, ctx.ints(onnx_pads), value], mode="constant"))
    sx = ctx.dyn(node.inputs[0])
    ctx.set_dyn(node.out, tuple(s if p == (0, 0) else None for s, p in zip(sx, pads)))


@emits("flip")
def _flip(ctx, node):
    x = ctx.arg(node, 0)
    ndim = len(node.inputs[0].shape)
    axes = _axes(node.attrs["axes"], ndim)
    if not axes:
        ctx.out(node, ctx.emit("Identity", [x]))
        return
    n = len(axes)
    y = ctx.emit("Slice", [x, ctx.ints([-1] * n), ctx.ints([INT64_MIN] * n), ctx.ints(axes), ctx.ints([-1] * n)])
    ctx.out(node, y)


@emits("roll")
def _roll(ctx, node):
    x = ctx.arg(node, 0)
    shape = node.inputs[0].shape
    shifts, axes = node.attrs["shifts"], node.attrs["axes"]
    if isinstance(shifts, int):
        shifts = (shifts,)
    if axes is None or (isinstance(axes, (tuple, list)) and not axes):
        flat = ctx.emit("Reshape", [x, ctx.ints([-1])])
        y = _roll_axis(ctx, flat, int(np.prod(shape, dtype=np.int64)), shifts[0], 0)
        ctx.out(node, ctx.emit("Reshape", [y, ctx.ints(list(shape))]))
        ctx.set_dyn(node.out, (None,) * len(shape))
        return
    if isinstance(axes, int):
        axes = (axes,)
    for s, a in zip(shifts, axes):
        a = a % len(shape)
        x = _roll_axis(ctx, x, shape[a], s, a)
    ctx.out(node, x)


def _roll_axis(ctx, x, n, shift, axis):
    if n == 0 or shift % n == 0:
        return x
    k = n - shift % n  # out = cat(x[k:], x[:k])
    tail = ctx.emit("Slice", [x, ctx.ints([k]), ctx.ints([INT64_MAX]), ctx.ints([axis])])
    head = ctx.emit("Slice", [x, ctx.ints([0]), ctx.ints([k]), ctx.ints([axis])])
    return ctx.emit("Concat", [tail, head], axis=axis)


# ---- indexing ------------------------------------------------------------------------------
@emits("getitem")
def _getitem(ctx, node):
    y, dyn = _select(ctx, node, ctx.arg(node, 0), node.inputs[0].shape, ctx.dyn(node.inputs[0]))
    ctx.out(node, y)
    ctx.set_dyn(node.out, dyn)


def _select(ctx, node, x, shape, sx):
    """``x[key]`` for the node's stored key (index tensors are the node's inputs from 2 on for index_put,
    1 on for getitem): Slice for slices and ints, Squeeze for ints, Gather for one index tensor,
    Unsqueeze for None. Returns the ONNX name and the result's dynamic dims."""
    from ..ops.indexing import Idx

    first_index = 2 if node.op.name == "index_put" else 1
    key = list(node.attrs["key"])
    ndim = len(shape)
    tensors = [k for k in key if isinstance(k, Idx)]
    if len(tensors) > 1:
        raise ctx.unsupported(node, "indexing with more than one index tensor")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        used = sum(1 for k in key if k is not None and k is not Ellipsis)
        key[i : i + 1] = [("slice", None, None, None)] * (ndim - used)
    used = sum(1 for k in key if k is not None)
    key += [("slice", None, None, None)] * (ndim - used)
    starts, ends, axes, steps, squeeze, dyn = [], [], [], [], [], []
    axis = 0  # input axis
    gather = None  # (axis after squeezing, index value)
    kept = 0  # output axes so far, before Nones are inserted
    nones = []  # output positions of new axes
    pos = 0  # output position (with new axes)
    for k in key:
        if k is None:
            nones.append(pos)
            dyn.append(None)
            pos += 1
            continue
        if isinstance(k, tuple):
            _, start, stop, step = k
            if not (start in (None, 0) and stop is None and step in (None, 1)):
                starts.append(0 if start is None else start)
                ends.append(INT64_MAX if stop is None else stop)
                axes.append(axis)
                steps.append(1 if step is None else step)
                dyn.append(None)
            else:
                dyn.append(sx[axis])
            kept += 1
            pos += 1
        elif isinstance(k, Idx):
            iv = node.inputs[first_index + k.k]
            if np.dtype(iv.dtype) == np.bool_:
                raise ctx.unsupported(node, "boolean-mask indexing (its output size depends on the data)")
            gather = (kept, iv)
            dyn.extend(ctx.dyn(iv))
            kept += len(iv.shape)
            pos += len(iv.shape)
        else:  # an int: select one element along the axis
            i = int(k)
            starts.append(i)
            ends.append(INT64_MAX if i == -1 else i + 1)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        axis += 1
    y = x
    if axes:
        y = ctx.emit("Slice", [y, ctx.ints(starts), ctx.ints(ends), ctx.ints(axes), ctx.ints(steps)])
    if squeeze:
        y = ctx.emit("Squeeze", [y, ctx.ints(squeeze)]) if ctx.opset >= 13 else ctx.emit("Squeeze", [y], axes=squeeze)
    if gather is not None:
        gaxis, iv = gather
        idx = ctx.cast(ctx.name(iv), np.int64)
        y = ctx.emit("Gather", [y, idx], axis=gaxis)
    if nones:
        y = ctx.unsqueeze(y, nones)
    if y is x:
        y = ctx.emit("Identity", [x])
    return y, tuple(dyn)


@emits("index_put")
def _index_put(ctx, node):
    """``x[key] = v`` (or ``+=`` with accumulate): the flat positions the key selects, found by indexing
    a constant ``arange`` with the same key, then ScatterND into the flattened input."""
    d = node.out.dtype
    x, v = ctx.arg(node, 0, d), ctx.arg(node, 1, d)
    shape = node.inputs[0].shape
    if None in shape:
        raise ctx.unsupported(node, "indexed assignment into a tensor of unknown shape")
    attrs = {}
    if node.attrs.get("accumulate", False):
        if ctx.opset < 16:
            raise ctx.unsupported(node, "index_put with accumulate=True needs opset 16 or later")
        attrs["reduction"] = "add"
    n = int(np.prod(shape, dtype=np.int64))
    positions = ctx.const(np.arange(n, dtype=np.int64).reshape(shape))
    sel, _ = _select(ctx, node, positions, shape, (None,) * len(shape))
    indices = ctx.emit("Reshape", [sel, ctx.ints([-1, 1])])
    updates = ctx.emit("Reshape", [ctx.emit("Expand", [v, ctx.emit("Shape", [sel])]), ctx.ints([-1])])
    flat = ctx.emit("Reshape", [x, ctx.ints([-1])])
    out = ctx.emit("ScatterND", [flat, indices, updates], **attrs)
    ctx.out(node, ctx.emit("Reshape", [out, ctx.ints(list(shape))]))
    ctx.set_dyn(node.out, (None,) * len(shape))


@emits("gather")
def _gather(ctx, node):
    x = ctx.arg(node, 0)
    idx = ctx.cast(ctx.arg(node, 1), np.int64)
    if not node.inputs[0].shape:
        raise ctx.unsupported(node, "gather from a 0-d tensor")
    ctx.out(node, ctx.emit("GatherElements", [x, idx], axis=int(node.attrs["dim"])))
    ctx.set_dyn(node.out, ctx.dyn(node.inputs[1]))


@emits("scatter")
def _scatter(ctx, node):
    d = node.out.dtype
    x, src = ctx.arg(node, 0, d), ctx.arg(node, 2, d)
    idx = ctx.cast(ctx.arg(node, 1), np.int64)
    attrs = {"axis": int(node.attrs["dim"])}
    if node.attrs.get("accumulate", False):
        if ctx.opset < 16:
            raise ctx.unsupported(node, "scatter_add needs opset 16 or later (ScatterElements reduction='add')")
        attrs["reduction"] = "add"
    ctx.out(node, ctx.emit("ScatterElements", [x, idx, src], **attrs))
    ctx.set_dyn(node.out, ctx.dyn(node.inputs[0]))


@emits("one_hot")
def _one_hot(ctx, node):
    n = node.attrs.get("num_classes", -1)
    if n < 0:
        raise ctx.unsupported(node, "one_hot with num_classes=-1 (the depth would depend on the data)")
    idx = ctx.cast(ctx.arg(node, 0), np.int64)
    values = ctx.const(np.array([0, 1], np.int64))
    ctx.out(node, ctx.emit("OneHot", [idx, ctx.scalar(n, np.int64), values], axis=-1))
    ctx.set_dyn(node.out, ctx.dyn(node.inputs[0]) + (None,))


@emits("topk", "sort")
def _topk(ctx, node):
    x = ctx.arg(node, 0)
    shape = node.inputs[0].shape
    if not shape:
        raise ctx.unsupported(node, f"{node.op.name} of a 0-d tensor")
    dim = node.attrs.get("dim", -1) % len(shape)
    if node.op.name == "topk":
        k, largest = node.attrs["k"], node.attrs.get("largest", True)
    else:
        k, largest = shape[dim], node.attrs.get("descending", False)
    vals, idx = ctx.emit("TopK", [x, ctx.ints([k])], n_out=2, axis=dim, largest=int(bool(largest)), sorted=1)
    ctx.out(node, vals, 0)
    ctx.out(node, idx, 1)
    sx = list(ctx.dyn(node.inputs[0]))
    sx[dim] = None
    ctx.set_dyn(node.values[0], tuple(sx))
    ctx.set_dyn(node.values[1], tuple(sx))


# ---- recurrent ------------------------------------------------------------------------------
_IOFC = (0, 3, 1, 2)  # ONNX LSTM gate blocks (i, o, f, c) taken from ember's / PyTorch's (i, f, g, o)


@emits("lstm_recurrence")
def _lstm(ctx, node):
    """The whole time loop as one ONNX LSTM: the input projection ``xw`` (biases included) is the LSTM's
    input, with an identity W (rows in ONNX's gate order) and R = W_hh with its rows reordered."""
    if any(ctx.used(v) for v in node.values[3:]):
        raise ctx.unsupported(node, "its cell-state and gate outputs exist for backward only")
    d = node.out.dtype
    xw, h0, c0, w_hh_t = (ctx.arg(node, i, d) for i in range(4))
    L, N, G = node.inputs[0].shape
    H = G // 4
    rows = np.concatenate([np.arange(b * H, (b + 1) * H) for b in _IOFC])
    w = ctx.const(np.eye(G, dtype=d)[rows][None])
    r = ctx.emit("Gather", [ctx.emit("Transpose", [w_hh_t], perm=[1, 0]), ctx.const(rows.astype(np.int64))], axis=0)
    r = ctx.unsqueeze(r, [0])
    h0, c0 = ctx.unsqueeze(h0, [0]), ctx.unsqueeze(c0, [0])
    direction = "reverse" if node.attrs.get("reverse", False) else "forward"
    y, yh, yc = ctx.emit("LSTM", [xw, w, r, "", "", h0, c0], n_out=3, hidden_size=H, direction=direction)
    ctx.out(node, ctx.emit("Squeeze", [y, ctx.ints([1])]), 0)
    ctx.out(node, ctx.emit("Squeeze", [yh, ctx.ints([0])]), 1)
    ctx.out(node, ctx.emit("Squeeze", [yc, ctx.ints([0])]), 2)
    sx, sh = ctx.dyn(node.inputs[0]), ctx.dyn(node.inputs[1])
    n = sx[1] or sh[0]
    ctx.set_dyn(node.values[0], (sx[0], n, None))
    ctx.set_dyn(node.values[1], (n, None))
    ctx.set_dyn(node.values[2], (n, None))


@emits("view_scatter")
def _view_scatter(ctx, node):
    """A write through a view (``y[1, 1:3] += v`` in a traced program): the view's flat positions in the
    base are found at export time by replaying the view chain on a NumPy ``arange``; then ScatterND."""
    d = node.out.dtype
    x, v = ctx.arg(node, 0, d), ctx.arg(node, 1, d)
    shape = node.inputs[0].shape
    if None in shape:
        raise ctx.unsupported(node, "a write through a view of a tensor of unknown shape")
    positions = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
    for op, args, attrs in node.attrs["chain"]:
        if any(hasattr(a, "_data") for a in args):
            raise ctx.unsupported(node, f"a write through a view made by {op.name} with tensor arguments")
        positions = op.impl(np, positions, *args, **attrs)
    sel = np.ascontiguousarray(positions).reshape(-1, 1)
    updates = ctx.emit("Reshape", [ctx.emit("Expand", [v, ctx.ints(list(positions.shape))]), ctx.ints([-1])])
    flat = ctx.emit("Reshape", [x, ctx.ints([-1])])
    out = ctx.emit("ScatterND", [flat, ctx.const(sel), updates])
    ctx.out(node, ctx.emit("Reshape", [out, ctx.ints(list(shape))]))
    ctx.set_dyn(node.out, (None,) * len(shape))
