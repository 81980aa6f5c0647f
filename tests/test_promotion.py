"""Type promotion vs PyTorch: result dtypes (and values) of binary ops over every dtype pair.

PyTorch is the oracle: the same inputs are built in both frameworks from NumPy
data, the op is run in both, and the result dtypes must agree. Where PyTorch
raises, ember must raise too.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import ember

DTYPE_NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
if ember.bfloat16 is not None:
    DTYPE_NAMES.insert(7, "bfloat16")

PAIRS = list(itertools.product(DTYPE_NAMES, DTYPE_NAMES))


def make(name, values, lib):
    """A tensor of dtype ``name`` holding ``values`` in ember or torch."""
    arr = np.asarray(values, dtype=np.float32)
    if lib is torch:
        return torch.from_numpy(arr.copy()).to(getattr(torch, name))
    return ember.tensor(arr).to(getattr(ember, name))


def as_f64(t):
    """Values of a torch or ember tensor as float64 NumPy data (bfloat16-safe)."""
    if isinstance(t, torch.Tensor):
        return t.detach().to(torch.float64).numpy()
    return np.asarray(t.detach().to(ember.float64).numpy())


def tname(d):
    return str(d).split(".")[-1]


def run_both(fn, *args_by_lib):
    """Run ``fn(lib, *args)`` in torch and ember. Returns (torch_out, ember_out) or checks both raise."""
    try:
        expected = fn(torch, *args_by_lib[0])
    except Exception:
        with pytest.raises(Exception):  # noqa: B017 - any exception, as long as ember refuses too
            fn(ember, *args_by_lib[1])
        return None
    got = fn(ember, *args_by_lib[1])
    return expected, got


def check(expected, got):
    assert tname(got.dtype) == tname(expected.dtype), f"dtype {got.dtype} != torch {expected.dtype}"
    assert tuple(got.shape) == tuple(expected.shape)
    e, g = as_f64(expected), as_f64(got)
    low = tname(expected.dtype) in ("float16", "bfloat16")
    np.testing.assert_allclose(g, e, rtol=1e-2 if low else 1e-6, atol=1e-2 if low else 1e-6, equal_nan=True)


BINARY = {
    "add": lambda lib, a, b: lib.add(a, b),
    "sub": lambda lib, a, b: lib.sub(a, b),
    "mul": lambda lib, a, b: lib.mul(a, b),
    "div": lambda lib, a, b: lib.div(a, b),
    "eq": lambda lib, a, b: lib.eq(a, b),
    "lt": lambda lib, a, b: a < b,
    "ge": lambda lib, a, b: a >= b,
    "maximum": lambda lib, a, b: lib.maximum(a, b),
    "pow": lambda lib, a, b: lib.pow(a, b),
    "where": lambda lib, a, b: lib.where(a > 1, a, b),
}

A_VALUES = [1.0, 2.0, 3.0]
B_VALUES = [3.0, 1.0, 2.0]


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("a,b", PAIRS)
def test_binary_dim_dim(op, a, b):
    fn = BINARY[op]
    res = run_both(
        lambda lib, x, y: fn(lib, make(x, A_VALUES, lib), make(y, B_VALUES, lib)),
        (a, b),
        (a, b),
    )
    if res:
        check(*res)


@pytest.mark.parametrize("op", ["add", "mul", "div", "sub", "lt", "maximum", "pow", "where"])
@pytest.mark.parametrize("a,b", PAIRS)
def test_binary_dim_zero_dim(op, a, b):
    fn = BINARY[op]
    for order in (0, 1):

        def call(lib, x, y, order=order):
            t = make(x, A_VALUES, lib)
            z = make(y, 2.0, lib)
            return fn(lib, t, z) if order == 0 else fn(lib, z, t)

        res = run_both(call, (a, b), (a, b))
        if res:
            check(*res)


@pytest.mark.parametrize("a,b", PAIRS)
def test_zero_dim_zero_dim(a, b):
    for op in ("add", "mul", "div", "maximum"):
        fn = BINARY[op]
        res = run_both(lambda lib, x, y, fn=fn: fn(lib, make(x, 2.0, lib), make(y, 3.0, lib)), (a, b), (a, b))
        if res:
            check(*res)


SCALARS = [2, 2.5, True, -1, 0.0]

SCALAR_OPS = {
    "add": lambda a, s: a + s,
    "radd": lambda a, s: s + a,
    "sub": lambda a, s: a - s,
    "rsub": lambda a, s: s - a,
    "mul": lambda a, s: a * s,
    "rmul": lambda a, s: s * a,
    "div": lambda a, s: a / s,
    "rdiv": lambda a, s: s / a,
    "pow": lambda a, s: a**s,
    "rpow": lambda a, s: s**a,
    "eq": lambda a, s: a == s,
    "gt": lambda a, s: a > s,
    "le": lambda a, s: a <= s,
}


@pytest.mark.parametrize("op", list(SCALAR_OPS))
@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
@pytest.mark.parametrize("a", DTYPE_NAMES)
def test_tensor_scalar(op, scalar, a):
    fn = SCALAR_OPS[op]
    for shape_values in (A_VALUES, 2.0):  # dimensioned and 0-d tensors
        res = run_both(lambda lib, x, sv=shape_values: fn(make(x, sv, lib), scalar), (a,), (a,))
        if res:
            check(*res)


@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
@pytest.mark.parametrize("a", DTYPE_NAMES)
def test_where_and_maximum_with_scalars(scalar, a):
    def w1(lib, x):
        t = make(x, A_VALUES, lib)
        return lib.where(t > 1, t, scalar)

    def w2(lib, x):
        t = make(x, A_VALUES, lib)
        return lib.where(t > 1, scalar, t)

    def w3(lib, x):
        t = make(x, A_VALUES, lib)
        return lib.where(t > 1, scalar, 7)

    for fn in (w1, w2, w3):
        res = run_both(fn, (a,), (a,))
        if res:
            check(*res)


def test_int_negative_power():
    for name in ("int32", "int64", "uint8"):
        t = make(name, A_VALUES, torch)
        with pytest.raises(RuntimeError):
            t**-1
        e = make(name, A_VALUES, ember)
        with pytest.raises(RuntimeError):
            e**-1


@pytest.mark.parametrize("a", DTYPE_NAMES)
def test_mixed_groups_three_way(a):
    """A dim tensor, a 0-d tensor and a Python scalar in one expression."""
    for zd in ("float64", "int64", "bool", "float16"):
        for s in (2, 2.5, True):

            def fn(lib, x, z=zd, s=s):
                return (make(x, A_VALUES, lib) + make(z, 2.0, lib)) * s

            res = run_both(fn, (a,), (a,))
            if res:
                check(*res)


@pytest.mark.parametrize("op", ["exp", "sqrt", "sin", "log", "sigmoid", "tanh", "reciprocal", "rsqrt"])
@pytest.mark.parametrize("a", DTYPE_NAMES)
def test_unary_float_ops(op, a):
    res = run_both(lambda lib, x: getattr(lib, op)(make(x, A_VALUES, lib)), (a,), (a,))
    if res:
        check(*res)


@pytest.mark.parametrize("op", ["neg", "abs", "floor", "ceil", "round", "trunc", "sign"])
@pytest.mark.parametrize("a", DTYPE_NAMES)
def test_unary_same_dtype_ops(op, a):
    res = run_both(lambda lib, x: getattr(lib, op)(make(x, A_VALUES, lib)), (a,), (a,))
    if res:
        check(*res)


REDUCTIONS = {
    "sum": lambda lib, t: t.sum(),
    "sum_dim": lambda lib, t: t.sum(0),
    "sum_dtype": lambda lib, t: t.sum(dtype=lib.float64),
    "prod": lambda lib, t: t.prod(),
    "prod_dim": lambda lib, t: lib.prod(t, 1),
    "cumsum": lambda lib, t: t.cumsum(0),
    "cumsum_dtype": lambda lib, t: lib.cumsum(t, 1, dtype=lib.float32),
    "cumprod": lambda lib, t: t.cumprod(1),
    "mean": lambda lib, t: t.mean(),
    "mean_dtype": lambda lib, t: t.mean(dtype=lib.float64),
    "amax": lambda lib, t: t.amax(),
    "max": lambda lib, t: t.max(),
    "max_dim": lambda lib, t: t.max(1).values,
    "argmax": lambda lib, t: t.argmax(),
    "all": lambda lib, t: t.all(),
    "any_dim": lambda lib, t: t.any(0),
    "count_nonzero": lambda lib, t: lib.count_nonzero(t),
    "var": lambda lib, t: t.var(),
    "std_dim": lambda lib, t: t.std(0),
    "norm": lambda lib, t: t.norm(),
    "logsumexp": lambda lib, t: lib.logsumexp(t, 1),
    "softmax": lambda lib, t: lib.softmax(t, 1),
}


@pytest.mark.parametrize("op", list(REDUCTIONS))
@pytest.mark.parametrize("a", DTYPE_NAMES)
def test_reduction_dtypes(op, a):
    vals = [[1.0, 2.0, 0.0], [3.0, 1.0, 2.0]]
    res = run_both(lambda lib, x: REDUCTIONS[op](lib, make(x, vals, lib)), (a,), (a,))
    if res:
        check(*res)


def test_mean_of_int_raises_runtime_error():
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2, 3]).mean()
    with pytest.raises(RuntimeError):
        ember.tensor([1, 2, 3]).mean()


def test_sum_of_bool_counts():
    vals = [True, False, True, True]
    assert ember.tensor(vals).sum().item() == torch.tensor(vals).sum().item() == 3
    assert tname(ember.tensor(vals).sum().dtype) == tname(torch.tensor(vals).sum().dtype)


def test_uint8_wraparound_matches_torch():
    a = np.array([250, 3, 7], dtype=np.uint8)
    b = np.array([10, 5, 9], dtype=np.uint8)
    for fn in (lambda x, y: x + y, lambda x, y: x - y, lambda x, y: x * y):
        expected = fn(torch.from_numpy(a.copy()), torch.from_numpy(b.copy()))
        got = fn(ember.tensor(a), ember.tensor(b))
        assert tname(got.dtype) == "uint8"
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_default_dtype_changes_scalar_promotion():
    prev = ember.get_default_dtype()
    try:
        ember.set_default_dtype(ember.float64)
        torch.set_default_dtype(torch.float64)
        for fn in (
            lambda lib: lib.tensor([1, 2]) * 2.5,
            lambda lib: lib.tensor([1, 2]) / 2,
            lambda lib: lib.tensor([1.0, 2.0]),
            lambda lib: lib.arange(3.0),
            lambda lib: lib.tensor([1, 2]).exp(),
            lambda lib: lib.tensor([1.0], dtype=lib.float16) * 2.5,
            lambda lib: lib.zeros(2),
        ):
            check(fn(torch), fn(ember))
    finally:
        ember.set_default_dtype(prev)
        torch.set_default_dtype(torch.float32)


def test_promote_types_function_matches():
    """``ember.promote_types`` (if present) agrees with ``torch.promote_types``; else the dtype module does."""
    from ember import dtypes as dt

    for a, b in PAIRS:
        expected = torch.promote_types(getattr(torch, a), getattr(torch, b))
        fn = getattr(ember, "promote_types", dt.promote_types)
        assert tname(fn(getattr(ember, a), getattr(ember, b))) == tname(expected), (a, b)


def test_integer_division_variants():
    a = np.array([7, -7, 5, -5], dtype=np.int64)
    b = np.array([2, 2, -3, -3], dtype=np.int64)
    cases = [
        lambda lib, x, y: x / y,
        lambda lib, x, y: x // y,
        lambda lib, x, y: x % y,
        lambda lib, x, y: lib.div(x, y, rounding_mode="trunc"),
        lambda lib, x, y: lib.div(x, y, rounding_mode="floor"),
        lambda lib, x, y: lib.fmod(x, y),
        lambda lib, x, y: lib.remainder(x, y),
        lambda lib, x, y: x // 2.0,
        lambda lib, x, y: lib.div(x, 2.0, rounding_mode="trunc"),
    ]
    for fn in cases:
        check(fn(torch, torch.from_numpy(a), torch.from_numpy(b)), fn(ember, ember.tensor(a), ember.tensor(b)))
