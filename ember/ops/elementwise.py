"""Elementwise primitives: NumPy broadcasting forward, the engine sums gradients back.

Each op is one ``primitive`` block: kernel, dtype rule, VJP in ember ops,
what the VJP must keep alive (``saves``), ONNX name and test-sample hints.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from .. import ops as F
from ..op import ELEMENTWISE, primitive
from ._rules import broadcast, same_shape

# sample hints for the op-table tests: argument domains and dtype families
POS = dict(domain=[(0.1, 4.0)])
UNIT = dict(domain=[(-0.9, 0.9)])
ANY = dict(domain=[(-3.0, 3.0)])
NONDIFF = dict(domain=[(-3.0, 3.0)], grad=False)


def _unary(name, impl, vjp=None, saves=None, dtype="float", onnx=None, sample=ANY):
    return primitive(
        name, kind=ELEMENTWISE, impl=impl, shape=same_shape, vjp=vjp, dtype=dtype, saves=saves, onnx=onnx, sample=sample
    )


def _binary(name, impl, vjp=None, saves=None, dtype="promote", onnx=None, sample=None):
    return primitive(
        name,
        kind=ELEMENTWISE,
        impl=impl,
        shape=partial(broadcast, _op=name),  # a mismatch names the op: "add: (2, 3) float32, (4, 3) ..."
        vjp=vjp,
        dtype=dtype,
        saves=saves,
        onnx=onnx,
        sample=sample or dict(domain=[(-3.0, 3.0), (-3.0, 3.0)]),
    )


# ---- unary ----------------------------------------------------------------
def _same_not_bool(name):
    """dtype rule "same" that refuses bool inputs, as PyTorch's abs/floor/round kernels do."""

    def rule(sig):
        from ..op import _first_dtype

        d = _first_dtype(sig)
        if d.category == 0:
            raise NotImplementedError(f"\"{name}\" not implemented for 'Bool'")
        return None, d

    return rule


neg = _unary("neg", lambda xp, x: xp.negative(x), lambda g, x, **_: (-g,), saves=(), dtype="same", onnx="Neg")
abs = _unary(
    "abs",
    lambda xp, x: xp.abs(x),
    lambda g, x, **_: (g * F.sign(x),),
    saves=(0,),
    dtype=_same_not_bool("abs"),
    onnx="Abs",
)
exp = _unary("exp", lambda xp, x: xp.exp(x), lambda g, x, *, out, **_: (g * out,), saves=("out",), onnx="Exp")
exp2 = _unary("exp2", lambda xp, x: xp.exp2(x), lambda g, x, *, out, **_: (g * out * math.log(2.0),), saves=("out",))
expm1 = _unary("expm1", lambda xp, x: xp.expm1(x), lambda g, x, *, out, **_: (g * (out + 1),), saves=("out",))
log = _unary("log", lambda xp, x: xp.log(x), lambda g, x, **_: (g / x,), saves=(0,), onnx="Log", sample=POS)
log2 = _unary("log2", lambda xp, x: xp.log2(x), lambda g, x, **_: (g / (x * math.log(2.0)),), saves=(0,), sample=POS)
log10 = _unary(
    "log10", lambda xp, x: xp.log10(x), lambda g, x, **_: (g / (x * math.log(10.0)),), saves=(0,), sample=POS
)
log1p = _unary("log1p", lambda xp, x: xp.log1p(x), lambda g, x, **_: (g / (x + 1),), saves=(0,), sample=POS)
sqrt = _unary(
    "sqrt",
    lambda xp, x: xp.sqrt(x),
    lambda g, x, *, out, **_: (g / (2 * out),),
    saves=("out",),
    onnx="Sqrt",
    sample=POS,
)
rsqrt = _unary(
    "rsqrt",
    lambda xp, x: 1 / xp.sqrt(x),
    lambda g, x, *, out, **_: (g * -0.5 * out * out * out,),
    saves=("out",),
    sample=POS,
)
reciprocal = _unary(
    "reciprocal",
    lambda xp, x: xp.reciprocal(x),
    lambda g, x, *, out, **_: (-g * out * out,),
    saves=("out",),
    onnx="Reciprocal",
    sample=POS,
)
sin = _unary("sin", lambda xp, x: xp.sin(x), lambda g, x, **_: (g * F.cos(x),), saves=(0,), onnx="Sin")
cos = _unary("cos", lambda xp, x: xp.cos(x), lambda g, x, **_: (-g * F.sin(x),), saves=(0,), onnx="Cos")
tan = _unary(
    "tan", lambda xp, x: xp.tan(x), lambda g, x, *, out, **_: (g * (1 + out * out),), saves=("out",), sample=UNIT
)
asin = _unary("asin", lambda xp, x: xp.arcsin(x), lambda g, x, **_: (g * F.rsqrt(1 - x * x),), saves=(0,), sample=UNIT)
acos = _unary("acos", lambda xp, x: xp.arccos(x), lambda g, x, **_: (-g * F.rsqrt(1 - x * x),), saves=(0,), sample=UNIT)
atan = _unary("atan", lambda xp, x: xp.arctan(x), lambda g, x, **_: (g / (1 + x * x),), saves=(0,))
sinh = _unary("sinh", lambda xp, x: xp.sinh(x), lambda g, x, **_: (g * F.cosh(x),), saves=(0,))
cosh = _unary("cosh", lambda xp, x: xp.cosh(x), lambda g, x, **_: (g * F.sinh(x),), saves=(0,))
tanh = _unary(
    "tanh", lambda xp, x: xp.tanh(x), lambda g, x, *, out, **_: (F.tanh_backward(g, out),), saves=("out",), onnx="Tanh"
)

# Fused derivative kernels: one op in backward instead of three (PyTorch has the same ops).
_BWD = dict(domain=[(-3.0, 3.0), (-0.9, 0.9)], scalar=False)
tanh_backward = primitive(
    "tanh_backward",
    kind=ELEMENTWISE,
    impl=lambda xp, g, y: g * (1 - y * y),
    shape=broadcast,
    vjp=lambda gg, g, y, *, need, **_: (
        F.tanh_backward(gg, y) if need[0] else None,
        -2 * gg * g * y if need[1] else None,
    ),
    dtype="promote",
    saves={0: (1,), 1: (0, 1)},
    sample=dict(_BWD, torch="ops.aten.tanh_backward"),
    doc="g * (1 - y**2): the derivative of tanh given its output y.",
)
sigmoid_backward = primitive(
    "sigmoid_backward",
    kind=ELEMENTWISE,
    impl=lambda xp, g, y: g * y * (1 - y),
    shape=broadcast,
    vjp=lambda gg, g, y, *, need, **_: (
        F.sigmoid_backward(gg, y) if need[0] else None,
        gg * g * (1 - 2 * y) if need[1] else None,
    ),
    dtype="promote",
    saves={0: (1,), 1: (0, 1)},
    sample=dict(_BWD, domain=[(-3.0, 3.0), (0.05, 0.95)], torch="ops.aten.sigmoid_backward"),
    doc="g * y * (1 - y): the derivative of sigmoid given its output y.",
)


def _sigmoid_impl(xp, x):
    # 1 / (1 + exp(-x)), PyTorch's formula: exp(-x) overflows to inf for x < -88 (float32) and the
    # result is then 0, as PyTorch's; relative accuracy holds everywhere else. Half the time of a
    # sign-split np.where, and closer to PyTorch's bits.
    a = x.astype(xp.float32) if x.dtype == xp.float16 else x
    if xp is np:
        with np.errstate(over="ignore"):
            e = np.asarray(np.exp(-a))  # a 0-d result comes back as a NumPy scalar
    else:
        e = xp.exp(-a)
    e += 1
    return xp.reciprocal(e, out=e).astype(x.dtype, copy=False)


sigmoid = _unary(
    "sigmoid", _sigmoid_impl, lambda g, x, *, out, **_: (F.sigmoid_backward(g, out),), saves=("out",), onnx="Sigmoid"
)


def _erf_impl(xp, x):
    if xp is not np:  # CuPy ships its own special functions
        import cupyx.scipy.special

        return cupyx.scipy.special.erf(x)
    try:
        from scipy.special import erf as _erf  # exact where SciPy is present

        return _erf(x).astype(x.dtype, copy=False)
    except ImportError:
        return _erf_numpy(xp, x)


def _erf_numpy(xp, x):
    """erf to ~1e-7 relative without SciPy (W. J. Cody's rational approximations via erfc)."""
    xd = x.astype(xp.float64)
    a = xp.abs(xd)
    t = 1.0 / (1.0 + 0.5 * a)
    # Numerical Recipes erfc: fractional error < 1.2e-7 everywhere
    poly = (
        -a * a
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))
                    )
                )
            )
        )
    )
    erfc = t * xp.exp(poly)
    small = xp.abs(xd) < 0.5
    # Taylor series near zero keeps relative accuracy where erf(x) is small
    x2 = xd * xd
    series = xd * (2 / math.sqrt(math.pi)) * (1 - x2 / 3 + x2 * x2 / 10 - x2**3 / 42 + x2**4 / 216 - x2**5 / 1320)
    out = xp.where(small, series, xp.sign(xd) * (1 - erfc))
    return out.astype(x.dtype)


erf = _unary(
    "erf",
    _erf_impl,
    lambda g, x, **_: (g * (2 / math.sqrt(math.pi)) * F.exp(-x * x),),
    saves=(0,),
    onnx="Erf",
)


def _relu_vjp(g, x, *, out, **_):
    return (F.where(out > 0, g, 0.0),)


relu = _unary(
    "relu",
    lambda xp, x: xp.maximum(x, 0, dtype=x.dtype) if x.dtype.kind != "b" else x.copy(),
    _relu_vjp,
    saves=("out",),
    dtype="same",
    onnx="Relu",
)


_SQRT_2_PI = math.sqrt(2 / math.pi)


def _gelu_impl(xp, x, approximate="none"):
    if approximate == "tanh":
        inner = _SQRT_2_PI * (x + 0.044715 * x * x * x)
        return (0.5 * x * (1 + xp.tanh(inner))).astype(x.dtype, copy=False)
    return (0.5 * x * (1 + _erf_impl(xp, x * (1 / math.sqrt(2))))).astype(x.dtype, copy=False)


def _gelu_vjp(g, x, *, out, approximate="none", **_):
    if approximate == "tanh":
        inner = _SQRT_2_PI * (x + 0.044715 * x * x * x)
        t = F.tanh(inner)
        d_inner = _SQRT_2_PI * (1 + 3 * 0.044715 * x * x)
        return (g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner),)
    # Phi(x) = gelu(x) / x from the saved output: erf costs ~10x an element-wise op in NumPy/SciPy,
    # and the forward already paid for it. Near 0 (where out / x loses precision) Phi = 0.5 + x/sqrt(2 pi).
    small = F.abs(x) <= 1e-6
    cdf = F.where(small, 0.5 + x * _INV_SQRT_2PI, out / F.where(small, 1.0, x))
    pdf = F.exp(-0.5 * x * x) * _INV_SQRT_2PI
    return (g * (cdf + x * pdf),)


_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


gelu = primitive(
    "gelu",
    kind=ELEMENTWISE,
    impl=_gelu_impl,
    shape=same_shape,
    vjp=_gelu_vjp,
    dtype="float",
    saves=(0, "out"),
    onnx="Gelu",
    sample=dict(domain=[(-3.0, 3.0)], attrs=[{}, {"approximate": "tanh"}], torch="nn.functional.gelu"),
)


def _zero_grad(g, x, **_):
    return (F.zeros_like(g),)


sign = _unary(
    "sign",
    lambda xp, x: xp.sign(x) if x.dtype.kind != "b" else x.copy(),
    _zero_grad,
    saves=(),
    dtype="same",
    onnx="Sign",
    sample=NONDIFF,
)
floor = _unary(
    "floor",
    lambda xp, x: xp.floor(x),
    _zero_grad,
    saves=(),
    dtype=_same_not_bool("floor"),
    onnx="Floor",
    sample=NONDIFF,
)
ceil = _unary(
    "ceil", lambda xp, x: xp.ceil(x), _zero_grad, saves=(), dtype=_same_not_bool("ceil"), onnx="Ceil", sample=NONDIFF
)
trunc = _unary("trunc", lambda xp, x: xp.trunc(x), _zero_grad, saves=(), dtype=_same_not_bool("trunc"), sample=NONDIFF)
round = primitive(
    "round",
    kind=ELEMENTWISE,
    impl=lambda xp, x, decimals=0: xp.round(x, decimals),
    shape=same_shape,
    vjp=_zero_grad,
    dtype=_same_not_bool("round"),
    saves=(),
    onnx="Round",
    sample=dict(domain=[(-3.0, 3.0)], grad=False, attrs=[{}, {"decimals": 1}]),
)
logical_not = _unary("logical_not", lambda xp, x: xp.logical_not(x), dtype="bool", onnx="Not", sample=NONDIFF)
bitwise_not = _unary("bitwise_not", lambda xp, x: xp.invert(x), dtype="same", sample=dict(dtypes="int"))
isnan = _unary("isnan", lambda xp, x: xp.isnan(x), dtype="bool", onnx="IsNaN", sample=NONDIFF)
isinf = _unary("isinf", lambda xp, x: xp.isinf(x), dtype="bool", onnx="IsInf", sample=NONDIFF)
isfinite = _unary("isfinite", lambda xp, x: xp.isfinite(x), dtype="bool", sample=NONDIFF)
nan_to_num = primitive(
    "nan_to_num",
    kind=ELEMENTWISE,
    impl=lambda xp, x, nan=0.0, posinf=None, neginf=None: xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf),
    shape=same_shape,
    vjp=lambda g, x, **_: (F.where(F.isfinite(x), g, 0.0),),
    saves=(0,),
    sample=ANY,
)


# ---- binary -----------------------------------------------------------------
add = _binary("add", lambda xp, x, y: xp.add(x, y), lambda g, x, y, **_: (g, g), saves=(), onnx="Add")


def _sub_dtype(sig):
    from ..op import _promoted

    if any(s is bool or getattr(s, "dtype", s) == np.bool_ for s in sig):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, "
            "use the `~` or `logical_not()` operator instead."
        )
    d = _promoted(sig)
    return d, d


sub = _binary(
    "sub",
    lambda xp, x, y: xp.subtract(x, y),
    lambda g, x, y, *, need, **_: (g, -g if need[1] else None),
    saves=(),
    dtype=_sub_dtype,
    onnx="Sub",
)


def _mul_vjp(g, x, y, *, need, **_):
    return (g * y if need[0] else None, g * x if need[1] else None)


mul = _binary("mul", lambda xp, x, y: xp.multiply(x, y), _mul_vjp, saves={0: (1,), 1: (0,)}, onnx="Mul")


def _div_vjp(g, x, y, *, need, **_):
    gx = g / y if need[0] else None
    gy = -g * x / (y * y) if need[1] else None
    return gx, gy


div = _binary(
    "div",
    lambda xp, x, y: xp.true_divide(x, y),
    _div_vjp,
    saves={0: (1,), 1: (0, 1)},
    dtype="float",
    onnx="Div",
    sample=dict(domain=[(-3.0, 3.0), (0.5, 3.0)]),
)


def _pow_vjp(g, x, y, *, out, need, **_):
    gx = gy = None
    if need[0]:
        # d/dx x**y = y * x**(y-1); PyTorch defines it as 0 where y == 0
        gx = (
            F.where(y == 0, 0.0, g * y * F.pow(x, y - 1))
            if isinstance(y, F.Tensor)
            else (g * 0.0 if y == 0 else g * (y * F.pow(x, y - 1)))
        )
    if need[1]:
        gy = F.where((x == 0) & (y >= 0), 0.0, g * out * F.log(x)) if isinstance(x, F.Tensor) else g * out * math.log(x)
    return gx, gy


pow = _binary(
    "pow",
    lambda xp, x, y: xp.power(x, y),
    _pow_vjp,
    saves={0: (0, 1), 1: (0, "out")},
    onnx="Pow",
    sample=dict(domain=[(0.5, 2.0), (-2.0, 2.0)]),
)


def _maxmin_vjp(pick_x):
    def vjp(g, x, y, *, need, **_):
        # ties split the gradient evenly, as PyTorch's maximum/minimum do
        wins = (x > y) if pick_x else (x < y)
        tie = F.eq(x, y)  # F.eq, not ==: a TF1 graph tensor compares by identity
        gx = F.where(tie, g * 0.5, F.where(wins, g, 0.0)) if need[0] else None
        gy = F.where(tie, g * 0.5, F.where(wins, 0.0, g)) if need[1] else None
        return gx, gy

    return vjp


_TENSORS_ONLY = dict(domain=[(-3.0, 3.0), (-2.9, 3.1)], scalar=False)  # shifted: no exact ties
maximum = _binary(
    "maximum", lambda xp, x, y: xp.maximum(x, y), _maxmin_vjp(True), saves=(0, 1), onnx="Max", sample=_TENSORS_ONLY
)
minimum = _binary(
    "minimum", lambda xp, x, y: xp.minimum(x, y), _maxmin_vjp(False), saves=(0, 1), onnx="Min", sample=_TENSORS_ONLY
)


def _atan2_vjp(g, y, x, *, need, **_):
    d = x * x + y * y
    return (g * x / d if need[0] else None, -g * y / d if need[1] else None)


atan2 = _binary(
    "atan2",
    lambda xp, y, x: xp.arctan2(y, x),
    _atan2_vjp,
    saves=(0, 1),
    dtype="float",
    sample=dict(domain=[(-3.0, 3.0), (-3.0, 3.0)], scalar=False),
)
floor_divide = _binary(
    "floor_divide",
    lambda xp, x, y: xp.floor_divide(x, y),
    lambda g, x, y, **_: (F.zeros_like(g), F.zeros_like(g)),
    saves=(),
    sample=dict(domain=[(-3.0, 3.0), (0.5, 3.0)], grad=False),
)


def _remainder_vjp(g, x, y, *, need, **_):
    return (g if need[0] else None, -g * F.floor_divide(x, y) if need[1] else None)


remainder = _binary(
    "remainder",
    lambda xp, x, y: xp.remainder(x, y),
    _remainder_vjp,
    saves={1: (0, 1)},
    onnx="Mod",
    sample=dict(domain=[(-3.0, 3.0), (0.5, 3.0)]),
)
fmod = _binary(
    "fmod",
    lambda xp, x, y: xp.fmod(x, y),
    lambda g, x, y, *, need, **_: (g if need[0] else None, -g * F.trunc(x / y) if need[1] else None),
    saves={1: (0, 1)},
    sample=dict(domain=[(-3.0, 3.0), (0.5, 3.0)]),
)

_CMP = dict(domain=[(-2.0, 2.0), (-2.0, 2.0)], grad=False, ints=True)
_LOGIC = dict(_CMP, scalar=False)  # torch.logical_* take tensors only
eq = _binary("eq", lambda xp, x, y: xp.equal(x, y), dtype="compare", onnx="Equal", sample=_CMP)
ne = _binary("ne", lambda xp, x, y: xp.not_equal(x, y), dtype="compare", sample=_CMP)
lt = _binary("lt", lambda xp, x, y: xp.less(x, y), dtype="compare", onnx="Less", sample=_CMP)
le = _binary("le", lambda xp, x, y: xp.less_equal(x, y), dtype="compare", onnx="LessOrEqual", sample=_CMP)
gt = _binary("gt", lambda xp, x, y: xp.greater(x, y), dtype="compare", onnx="Greater", sample=_CMP)
ge = _binary("ge", lambda xp, x, y: xp.greater_equal(x, y), dtype="compare", onnx="GreaterOrEqual", sample=_CMP)
logical_and = _binary("logical_and", lambda xp, x, y: xp.logical_and(x, y), dtype="bool", onnx="And", sample=_LOGIC)
logical_or = _binary("logical_or", lambda xp, x, y: xp.logical_or(x, y), dtype="bool", onnx="Or", sample=_LOGIC)
logical_xor = _binary("logical_xor", lambda xp, x, y: xp.logical_xor(x, y), dtype="bool", onnx="Xor", sample=_LOGIC)
_BITS = dict(dtypes="int", grad=False)
bitwise_and = _binary("bitwise_and", lambda xp, x, y: xp.bitwise_and(x, y), sample=_BITS)
bitwise_or = _binary("bitwise_or", lambda xp, x, y: xp.bitwise_or(x, y), sample=_BITS)
bitwise_xor = _binary("bitwise_xor", lambda xp, x, y: xp.bitwise_xor(x, y), sample=_BITS)


# ---- ternary and parameterised ------------------------------------------------
def _where_casts_impl(xp, cond, x, y):
    keep = _masked_branch(cond, x, y)
    if keep is not None:
        # ``where(c, x, 0.0)`` (relu's and where's VJPs, masked_fill's backward): x's bits AND (0 - c)
        # as integers keeps x where c holds and +0.0 elsewhere, exactly np.where's bits, branch-free
        # (np.where with a random mask runs ~10x slower); the compiled kernel does the same
        a = x if keep == 1 else y
        it = xp.dtype(f"i{a.dtype.itemsize}")
        m = xp.subtract(0, cond, dtype=it) if keep == 1 else xp.subtract(cond, 1, dtype=it)
        m &= a.view(it)
        return m.view(a.dtype)
    return xp.where(cond, x, y)


def _masked_branch(cond, x, y):
    """1 or 2: which of x, y is a float array shaped like cond when the other is the number +0.0."""
    if getattr(cond, "dtype", None) != np.bool_:
        return None
    for keep, a, z in ((1, x, y), (2, y, x)):
        if (
            type(z) in (float, int)
            and z == 0
            and math.copysign(1.0, z) > 0
            and getattr(a, "dtype", None) in (np.float32, np.float64)
            and a.shape == cond.shape
            and a.flags.c_contiguous
        ):
            return keep
    return None


def _where_vjp(g, cond, x, y, *, need, **_):
    return (
        None,
        F.where(cond, g, 0.0) if need[1] else None,
        F.where(cond, 0.0, g) if need[2] else None,
    )


def _where_dtype(sig):
    from ..op import _promoted

    d = _promoted(sig[1:])
    return (None, d, d), d


where = primitive(
    "where",
    kind=ELEMENTWISE,
    impl=_where_casts_impl,
    shape=partial(broadcast, _op="where"),
    vjp=_where_vjp,
    dtype=_where_dtype,
    saves=(0,),
    onnx="Where",
    nondiff_args=(0,),
    sample=dict(domain=[None, (-3.0, 3.0), (-3.0, 3.0)]),
)


def _clamp_impl(xp, x, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    out = xp.clip(x, min, max)
    return out.astype(x.dtype, copy=False)


def _clamp_vjp(g, x, *, min=None, max=None, **_):
    keep = None
    if min is not None:
        keep = x >= min
    if max is not None:
        k2 = x <= max
        keep = k2 if keep is None else keep & k2
    return (F.where(keep, g, 0.0),)


clamp_scalar = primitive(
    "clamp",
    kind=ELEMENTWISE,
    impl=_clamp_impl,
    shape=same_shape,
    vjp=_clamp_vjp,
    dtype="same",
    saves=(0,),
    onnx="Clip",
    sample=dict(domain=[(-3.0, 3.0)], attrs=[{"min": -1.0, "max": 1.0}, {"min": 0.5}, {"max": -0.5}]),
)
