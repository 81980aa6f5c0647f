"""Kernel templates: ops whose kernel is one array-module call that can write into a given buffer.

Code generation calls an op's own ``impl`` unless a template here computes
exactly the same thing (the same ufunc, on the same argument dtypes, in the
same argument order), in which case it emits the call inline with ``out=``
so the memory planner can hand it a reused buffer. ``template_for(node)``
checks those conditions per node; ``tests/compiler`` checks every template
against its op's impl bitwise.
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import ir

_NUM = (int, float)


class Template:
    """How to emit one op inline.

    ``fresh(args, attrs)`` is an expression computing a new array (the impl's own call);
    ``into(args, attrs, out, inplace)`` lists statements that leave the result in ``out``
    (``inplace`` is the argument position whose buffer ``out`` is, or None).
    ``inplace`` lists the argument positions whose buffer may be the output's;
    ``exclusive``: a multi-step template reads its other inputs after writing ``out``,
    so the output buffer must not be any other argument's.
    """

    def __init__(self, op, fresh, into=None, inplace=(), exclusive=False, check=None, view=False, elementwise=False):
        self.op = op
        self.fresh = fresh
        self.into = into
        self.inplace = tuple(inplace)
        self.exclusive = exclusive
        self.check = check  # (node, arg dtypes) -> bool: the template computes what the impl does
        self.view = view  # output may be a view of arg 0 (inline movement ops; no buffer)
        # element-wise: a fresh result takes its inputs' layout (NumPy's order="K"), so the
        # planner may give it a Fortran-ordered buffer; the values do not depend on layout
        self.elementwise = elementwise


TEMPLATES: dict[str, Template] = {}


def _reg(op, **kw):
    TEMPLATES[op] = Template(op, **kw)


# ---- dtype conditions -----------------------------------------------------------------
# An arg's "dtype" here is what reaches the kernel: a NumPy dtype for arrays (after the
# node's casts), a Python type for Python numbers (NumPy 2 treats them as weak), or "host"
# for a host scalar whose Python type is only known at run time.
def _scalar_ok(t, d):
    """A weak Python number leaves the loop at ``d``'s dtype."""
    if t == "host":
        return d.kind == "f"  # an int or a float at run time: both weak against a float array
    if t is float:
        return d.kind in "fc"
    if t is int:
        return d.kind in "iufc"
    return False


def _uniform(dtypes, d):
    """Every array arg has dtype ``d`` and every Python number is weak against it."""
    arrays = 0
    for t in dtypes:
        if isinstance(t, np.dtype):
            if t != d:
                return False
            arrays += 1
        elif not _scalar_ok(t, d):
            return False
    return arrays > 0


def _same_as_out(node, dtypes):
    d = node.out.dtype
    return d.kind != "b" and _uniform(dtypes, d)


def _float_out(node, dtypes):
    return node.out.dtype.kind == "f" and _uniform(dtypes, node.out.dtype)


def _int_out(node, dtypes):
    return node.out.dtype.kind in "iu" and _uniform(dtypes, node.out.dtype)


def _compare(node, dtypes):
    """bool output; the inputs meet in one dtype (the node's casts made them equal)."""
    if node.out.dtype != np.bool_:
        return False
    arrays = [t for t in dtypes if isinstance(t, np.dtype)]
    return bool(arrays) and _uniform(dtypes, arrays[0])


def _bool_of_float(node, dtypes):
    return node.out.dtype == np.bool_ and len(dtypes) == 1 and isinstance(dtypes[0], np.dtype) and dtypes[0].kind == "f"


def _bool_of_bool(node, dtypes):
    return node.out.dtype == np.bool_ and all(isinstance(t, np.dtype) and t == np.bool_ for t in dtypes)


# ---- element-wise ufuncs: ``xp.f(*args, out=buf)`` is ``xp.f(*args)`` written into buf ---------
def _ufunc(op, fn, check, nargs):
    def fresh(a, attrs):
        return f"xp.{fn}({', '.join(a)})"

    def into(a, attrs, out, inplace):
        return [f"xp.{fn}({', '.join(a)}, out={out})"]

    _reg(op, fresh=fresh, into=into, inplace=range(nargs), check=check, elementwise=True)


for _op, _fn in [
    ("exp", "exp"),
    ("exp2", "exp2"),
    ("expm1", "expm1"),
    ("log", "log"),
    ("log2", "log2"),
    ("log10", "log10"),
    ("log1p", "log1p"),
    ("sqrt", "sqrt"),
    ("sin", "sin"),
    ("cos", "cos"),
    ("tan", "tan"),
    ("asin", "arcsin"),
    ("acos", "arccos"),
    ("atan", "arctan"),
    ("sinh", "sinh"),
    ("cosh", "cosh"),
    ("tanh", "tanh"),
    ("reciprocal", "reciprocal"),
    ("floor", "floor"),
    ("ceil", "ceil"),
    ("trunc", "trunc"),
]:
    _ufunc(_op, _fn, _float_out, 1)
for _op, _fn in [("neg", "negative"), ("abs", "abs"), ("sign", "sign")]:
    _ufunc(_op, _fn, _same_as_out, 1)
_ufunc("bitwise_not", "invert", _int_out, 1)
for _op, _fn in [("isnan", "isnan"), ("isinf", "isinf"), ("isfinite", "isfinite")]:
    _ufunc(_op, _fn, _bool_of_float, 1)
_ufunc("logical_not", "logical_not", _bool_of_bool, 1)

for _op, _fn in [
    ("add", "add"),
    ("sub", "subtract"),
    ("mul", "multiply"),
    ("maximum", "maximum"),
    ("minimum", "minimum"),
]:
    _ufunc(_op, _fn, _same_as_out, 2)
for _op, _fn in [("div", "true_divide"), ("atan2", "arctan2"), ("fmod", "fmod"), ("remainder", "remainder")]:
    _ufunc(_op, _fn, _float_out, 2)
_ufunc("pow", "power", _float_out, 2)  # integer powers raise on negative exponents: floats only
for _op, _fn in [("bitwise_and", "bitwise_and"), ("bitwise_or", "bitwise_or"), ("bitwise_xor", "bitwise_xor")]:
    _ufunc(_op, _fn, _int_out, 2)
for _op, _fn in [
    ("eq", "equal"),
    ("ne", "not_equal"),
    ("lt", "less"),
    ("le", "less_equal"),
    ("gt", "greater"),
    ("ge", "greater_equal"),
]:
    _ufunc(_op, _fn, _compare, 2)
for _op, _fn in [("logical_and", "logical_and"), ("logical_or", "logical_or"), ("logical_xor", "logical_xor")]:
    _ufunc(_op, _fn, _bool_of_bool, 2)


# ---- element-wise kernels of a few calls -------------------------------------------------
# relu: ``xp.maximum(x, 0, dtype=x.dtype)`` (the bool branch copies: not templated)
_reg(
    "relu",
    fresh=lambda a, attrs: f"xp.maximum({a[0]}, 0, dtype={a[0]}.dtype)",
    into=lambda a, attrs, out, ip: [f"xp.maximum({a[0]}, 0, dtype={out}.dtype, out={out})"],
    inplace=(0,),
    check=lambda node, dtypes: node.out.dtype.kind != "b" and _uniform(dtypes, node.out.dtype),
    elementwise=True,
)
# rsqrt: ``1 / xp.sqrt(x)``
_reg(
    "rsqrt",
    fresh=lambda a, attrs: f"1 / xp.sqrt({a[0]})",
    into=lambda a, attrs, out, ip: [f"xp.sqrt({a[0]}, out={out})", f"xp.true_divide(1, {out}, out={out})"],
    inplace=(0,),
    check=_float_out,
    elementwise=True,
)


# tanh_backward: ``g * (1 - y * y)``; the temporary y*y has y's shape, so it lives in ``out``
# only when y is as large as the output.
def _tanh_bwd_into(a, attrs, out, ip):
    g, y = a
    return [
        f"xp.multiply({y}, {y}, out={out})",
        f"xp.subtract(1, {out}, out={out})",
        f"xp.multiply({g}, {out}, out={out})",
    ]


def _tanh_bwd_check(node, dtypes):
    y = node.inputs[1]
    return _float_out(node, dtypes) and isinstance(y, ir.Value) and y.shape == node.out.shape


_reg(
    "tanh_backward",
    fresh=lambda a, attrs: f"{a[0]} * (1 - {a[1]} * {a[1]})",
    into=_tanh_bwd_into,
    inplace=(1,),
    exclusive=True,
    check=_tanh_bwd_check,
    elementwise=True,
)
# sigmoid_backward: ``g * y * (1 - y)``; (1 - y) is a fresh temporary, as in the impl
_reg(
    "sigmoid_backward",
    fresh=lambda a, attrs: f"{a[0]} * {a[1]} * (1 - {a[1]})",
    into=lambda a, attrs, out, ip: [
        f"xp.multiply({a[0]}, {a[1]}, out={out})",
        f"xp.multiply({out}, 1 - {a[1]}, out={out})",
    ],
    inplace=(0,),
    exclusive=True,
    check=lambda node, dtypes: _float_out(node, dtypes) and all(isinstance(t, np.dtype) for t in dtypes),
    elementwise=True,
)


# where: ``xp.where(cond, x, y)`` has no out=; copying x and y into the buffer is the same bits.
# ``where(c, x, 0.0)`` (relu's and where's VJPs) is a bit mask instead: x's bits AND (0 - c) as
# integers keeps x where c holds and leaves +0.0 elsewhere -- exactly np.where's bits, but
# branch-free (np.where/copyto with a random mask run ~10x slower than an element-wise op).
def _where_into(a, attrs, out, ip):
    c, x, y = a
    keep, it = attrs.get("_mask"), attrs.get("_int")
    if keep == 1:
        return [f"xp.bitwise_and({x}.view({it}), xp.subtract(0, {c}, dtype={it}), out={out}.view({it}))"]
    if keep == 2:
        return [f"xp.bitwise_and({y}.view({it}), xp.subtract({c}, 1, dtype={it}), out={out}.view({it}))"]
    if ip == 1:  # out is x's buffer: overwrite where cond is False
        return [f"xp.copyto({out}, {y}, where=xp.logical_not({c}))"]
    if ip == 2:
        return [f"xp.copyto({out}, {x}, where={c})"]
    return [f"xp.copyto({out}, {y})", f"xp.copyto({out}, {x}, where={c})"]


def _where_check(node, dtypes):
    c = dtypes[0]
    # _uniform wants an array among x, y: two Python numbers would make a float64 result
    return isinstance(c, np.dtype) and c == np.bool_ and _uniform(dtypes[1:], node.out.dtype)


_reg(
    "where",
    fresh=lambda a, attrs: f"xp.where({a[0]}, {a[1]}, {a[2]})",
    into=_where_into,
    inplace=(1, 2),
    exclusive=True,
    check=_where_check,
    elementwise=True,
)


# ---- reductions, matmul, copies ------------------------------------------------------------
def _sum_check(node, dtypes):
    (t,) = dtypes
    if not isinstance(t, np.dtype) or node.attrs.get("dtype") is not None:
        return False
    if t.kind == "f":
        ok = node.out.dtype == t
    else:
        ok = t.kind in "biu" and node.out.dtype == np.int64
    # the reduction's iteration order depends on the output's layout: with at most one
    # non-unit output dim a fresh result and our C-contiguous buffer are laid out alike
    return ok and sum(1 for s in node.out.shape if s != 1) <= 1


def _sum_args(a, attrs):
    axis, keep = attrs.get("axis"), attrs.get("keepdim", False)
    return f"{a[0]}, axis={axis!r}, keepdims={keep!r}"


def _sum_fresh(a, attrs):
    return f"xp.sum({_sum_args(a, attrs)}{_sum_int(attrs)})"


def _sum_into(a, attrs, out, ip):
    # ``a.sum(...)`` is ``xp.sum(a, ...)`` (the same ufunc reduction) without NumPy's Python wrapper
    axis, keep = attrs.get("axis"), attrs.get("keepdim", False)
    return [f"{a[0]}.sum(axis={axis!r}, keepdims={keep!r}{_sum_int(attrs)}, out={out})"]


def _sum_int(attrs):
    return ", dtype=xp.int64" if attrs.get("_int") else ""


_reg("sum", fresh=_sum_fresh, into=_sum_into, check=_sum_check)


def _matmul_check(node, dtypes):
    a, b = node.inputs
    return (
        node.out.dtype.kind == "f"
        and all(isinstance(t, np.dtype) and t == node.out.dtype for t in dtypes)
        and len(a.shape) >= 2
        and len(b.shape) >= 2
        # (..., m, k) @ (k, n) folds its rows into one GEMM in the kernel (see ops/linalg.py)
        and not (len(a.shape) > 2 and len(b.shape) == 2)
    )


_reg(
    "matmul",
    fresh=lambda a, attrs: f"xp.matmul({a[0]}, {a[1]})",
    into=lambda a, attrs, out, ip: [f"xp.matmul({a[0]}, {a[1]}, out={out})"],
    check=_matmul_check,
)
_reg(
    "clone",
    fresh=lambda a, attrs: f"{a[0]}.copy()",
    into=lambda a, attrs, out, ip: [f"xp.copyto({out}, {a[0]})"],
    check=lambda node, dtypes: isinstance(dtypes[0], np.dtype) and dtypes[0] == node.out.dtype,
)
_reg(
    "cast",
    fresh=lambda a, attrs: f"{a[0]}.astype({_np_name(attrs['dtype'].np)})",
    into=lambda a, attrs, out, ip: [f"xp.copyto({out}, {a[0]}, casting='unsafe')"],
    # ``xp.<name>`` must exist for the fresh form (bfloat16 lives in ml_dtypes, not numpy)
    check=lambda node, dtypes: isinstance(dtypes[0], np.dtype) and hasattr(np, np.dtype(node.out.dtype).name),
    elementwise=True,
)

# ---- movement ops that are one call returning a view (no buffer: inlined only) ---------------
# the array methods, not ``xp.reshape``/``xp.transpose``: the same views without NumPy's Python wrappers
_reg("reshape", fresh=lambda a, attrs: f"{a[0]}.reshape({attrs['shape']!r})", view=True)
_reg("permute", fresh=lambda a, attrs: f"{a[0]}.transpose({attrs['axes']!r})", view=True)
_reg("expand", fresh=lambda a, attrs: f"xp.broadcast_to({a[0]}, {attrs['shape']!r})", view=True)
_reg("expand_like", fresh=lambda a, attrs: f"xp.broadcast_to({a[0]}, {a[1]}.shape)", view=True)


def _np_name(d):
    return f"xp.{np.dtype(d).name}"


def _literal(v):
    """Attrs rendered inline must read back as the same value."""
    if v is None or type(v) in (bool, int, str):
        return True
    if type(v) is tuple:
        return all(_literal(x) for x in v)
    return False


def _view_ok(node):
    """Inline movement templates: their attrs must be plain literals (a run-time shape is not)."""
    name = node.op.name
    if name == "reshape":
        return _literal(node.attrs.get("shape")) and type(node.attrs["shape"]) is tuple
    if name == "permute":
        return _literal(node.attrs.get("axes")) and type(node.attrs["axes"]) is tuple
    if name == "expand":
        return _literal(node.attrs.get("shape")) and type(node.attrs["shape"]) is tuple
    return True


def arg_dtypes(node):
    """What each argument's dtype is when it reaches the kernel (see ``_scalar_ok``)."""
    out = []
    casts = node.casts or (None,) * len(node.inputs)
    for a, c in zip(node.inputs, casts):
        if isinstance(a, ir.Value):
            if a.dtype is float or a.dtype is int:  # a host scalar
                out.append(np.dtype(c) if c is not None else "host")
            else:
                out.append(np.dtype(c) if c is not None else np.dtype(a.dtype))
        elif type(a) in _NUM:
            out.append(np.dtype(c) if c is not None else type(a))
        else:
            out.append(type(a))
    return out


def template_for(node):
    """The template that computes ``node`` exactly as its impl does, or None."""
    if node.kind != ir.OP or node.op.nout != 1:
        return None
    t = TEMPLATES.get(node.op.name)
    if t is None:
        return None
    if t.view:
        return t if _view_ok(node) and len(node.inputs) >= 1 and isinstance(node.inputs[0], ir.Value) else None
    if set(node.attrs) - _ALLOWED_ATTRS.get(node.op.name, set()):
        return None  # an attribute the template does not pass on
    return t if t.check(node, arg_dtypes(node)) else None


_ALLOWED_ATTRS = {"sum": {"axis", "keepdim", "dtype"}, "cast": {"dtype"}}


def template_attrs(node):
    """Attrs as the template reads them (sum of ints accumulates in int64, as its impl does;
    ``where`` with a +0.0 branch and a float array on the other computes with a bit mask)."""
    attrs = dict(node.attrs)
    if node.op.name == "sum" and node.out.dtype == np.int64 and arg_dtypes(node)[0].kind in "biu":
        attrs["_int"] = True
    if node.op.name == "where":
        keep = _mask_branch(node)
        if keep is not None:
            attrs["_mask"] = keep
            attrs["_int"] = f"xp.int{node.out.dtype.itemsize * 8}"
    return attrs


def _mask_branch(node):
    """1 or 2: ``where``'s array branch when the other one is the number +0.0 (else None)."""
    d = node.out.dtype
    if d not in (np.float32, np.float64):
        return None
    dts = arg_dtypes(node)
    for keep, zero in ((1, 2), (2, 1)):
        a, z = node.inputs[keep], node.inputs[zero]
        if (
            isinstance(a, ir.Value)
            and dts[keep] == d
            and a.dtype is not float  # a host scalar (np.dtype("float64") == float: compare by identity)
            and a.dtype is not int
            and type(z) in (float, int)
            and z == 0
            and math.copysign(1.0, z) > 0
        ):
            return keep
    return None
