"""Autograd semantics, checked against PyTorch (CPU) as the oracle.

Every test runs the same small program twice, once with ``T = torch`` and once
with ``T = ember``, on the same NumPy inputs, and compares what comes out:
gradients, flags, grad_fn names, and which errors are raised (compared by the
builtin exception class both libraries raise).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember

LIBS = (torch, ember)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _restore_global_modes():
    """A failing test must not leave grad mode or anomaly detection switched for the next one."""
    yield
    for T in LIBS:
        T.set_grad_enabled(True)
        T.autograd.set_detect_anomaly(False)


def _rng(seed=0):
    return np.random.default_rng(seed)


def arr(*shape, seed=0, dtype=np.float32, low=-1.0, high=1.0):
    return _rng(seed).uniform(low, high, size=shape).astype(dtype)


def _builtin_error(exc_type):
    """The builtin class an error is an instance of (RuntimeError, TypeError, ...), for comparison."""
    for k in exc_type.__mro__:
        if k.__module__ == "builtins":
            return k
    return Exception


class Raised:
    """What a step raised, compared by builtin exception class only."""

    def __init__(self, exc):
        self.kind = _builtin_error(type(exc))
        self.msg = str(exc)

    def __eq__(self, other):
        return isinstance(other, Raised) and self.kind is other.kind

    def __repr__(self):
        return f"Raised({self.kind.__name__}: {self.msg[:120]!r})"


def attempt(fn, *args, **kwargs):
    """Run ``fn``; return its result, or a ``Raised`` record of the error."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - compared with the other library
        return Raised(e)


def _is_tensor(v):
    return isinstance(v, (torch.Tensor, ember.Tensor))


def _np(v):
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().numpy()
    return np.asarray(v.detach()._data)


def _dtype_name(v):
    return str(v.dtype).split(".")[-1]


def gname(t):
    """grad_fn's class name: ``type(grad_fn).__name__`` in PyTorch, ``grad_fn.name()`` in ember."""
    fn = t.grad_fn if _is_tensor(t) else t
    if fn is None:
        return None
    if isinstance(t, ember.Tensor) or type(fn).__module__.startswith("ember"):
        return fn.name()
    return type(fn).__name__


def assert_same(a, b, rtol=1e-5, atol=1e-6, path="result"):
    """``a`` from PyTorch, ``b`` from ember: same structure, shapes, dtypes and numbers."""
    if _is_tensor(a):
        assert _is_tensor(b), f"{path}: torch gave a tensor, ember gave {b!r}"
        assert tuple(a.shape) == tuple(b.shape), f"{path}: shape {tuple(a.shape)} vs {tuple(b.shape)}"
        assert _dtype_name(a) == _dtype_name(b), f"{path}: dtype {a.dtype} vs {b.dtype}"
        np.testing.assert_allclose(
            _np(b).astype(np.float64), _np(a).astype(np.float64), rtol=rtol, atol=atol, err_msg=path
        )
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{path}: {a!r} vs {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, rtol, atol, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{path}: keys {list(a)} vs {list(b)}"
        for k in a:
            assert_same(a[k], b[k], rtol, atol, f"{path}[{k!r}]")
    elif isinstance(a, float):
        assert isinstance(b, (float, int)) and not isinstance(b, bool), f"{path}: {a!r} vs {b!r}"
        assert b == pytest.approx(a, rel=rtol, abs=atol), f"{path}: {a!r} vs {b!r}"
    else:
        assert a == b, f"{path}: torch {a!r} vs ember {b!r}"


def check(prog, *args, rtol=1e-5, atol=1e-6):
    """Run ``prog(T, *args)`` with PyTorch and with ember and compare the results."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = prog(torch, *[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        got = prog(ember, *[a.copy() if isinstance(a, np.ndarray) else a for a in args])
    assert_same(want, got, rtol, atol)
    return want, got


def leaf(T, a, rg=True):
    return T.tensor(a.copy(), requires_grad=rg)


def grad_or_none(t):
    return None if t.grad is None else t.grad.detach().clone()


# ---------------------------------------------------------------------------
# leaves, .grad, flags, grad_fn
# ---------------------------------------------------------------------------


def test_grad_is_none_before_backward_and_accumulates():
    def prog(T, a, b):
        x, w = leaf(T, a), leaf(T, b)
        before = (x.grad, w.grad)
        (x * w).sum().backward()
        first = (x.grad.clone(), w.grad.clone())
        (x * w * w).sum().backward()
        return before, first, x.grad, w.grad, x.is_leaf, w.is_leaf

    check(prog, arr(3, 4), arr(3, 4, seed=1))


def test_grad_accumulates_in_place_and_can_be_reset():
    def prog(T, a):
        x = leaf(T, a)
        x.exp().sum().backward()
        g = x.grad
        x.exp().sum().backward()
        same_object = g is x.grad  # PyTorch accumulates into the existing .grad
        x.grad.zero_()
        (x * 3).sum().backward()
        after_zero = x.grad.clone()
        x.grad = None
        (x * 5).sum().backward()
        return same_object, g, after_zero, x.grad

    check(prog, arr(4))


def test_grad_of_two_leaves_do_not_alias():
    def prog(T, a):
        x, y = leaf(T, a), leaf(T, a)
        (x + y).sum().backward()
        x.grad.add_(10)
        return x.grad, y.grad

    check(prog, arr(3))


def test_requires_grad_propagation_and_is_leaf():
    def prog(T, a):
        x = leaf(T, a)
        c = leaf(T, a, rg=False)
        out = {}
        for name, t in {
            "x": x,
            "c": c,
            "x+c": x + c,
            "c*2": c * 2,
            "c.exp": c.exp(),
            "x.clone": x.clone(),
            "x.detach": x.detach(),
            "x[0]": x[0],
            "x>0": x > 0,
            "x.argmax": x.argmax(),
            "x.long": x.long(),
            "x.double": x.double(),
            "cat": T.cat([c, x]),
            "where": T.where(c > 0, c, x),
            "sum": x.sum(),
        }.items():
            out[name] = (t.requires_grad, t.is_leaf, t.grad_fn is None)
        return out

    check(prog, arr(5))


def test_requires_grad_flags_errors():
    def prog(T, a):
        x = leaf(T, a)
        y = x * 2
        return {
            "set on non-leaf": attempt(lambda: setattr(y, "requires_grad", False)),
            "int requires_grad_": attempt(lambda: T.tensor([1, 2]).requires_grad_()),
            "int tensor(requires_grad)": attempt(lambda: T.tensor([1, 2], requires_grad=True)),
            "requires_grad_ returns self": (lambda c: c.requires_grad_() is c)(T.tensor(a)),
            "requires_grad_(False)": T.tensor(a, requires_grad=True).requires_grad_(False).requires_grad,
            "non-leaf requires_grad_(True)": y.requires_grad_(True) is y,
        }

    check(prog, arr(3))


@pytest.mark.parametrize(
    "name",
    [
        "add",
        "add_scalar",
        "sub",
        "mul",
        "mul_scalar",
        "div",
        "neg",
        "pow_scalar",
        "exp",
        "log",
        "sin",
        "tanh",
        "sigmoid",
        "relu",
        "sqrt",
        "sum",
        "amax",
        "permute",
        "expand",
        "clone",
        "cat",
        "where",
        "softmax",
        "log_softmax",
        "maximum",
        "cumsum",
        "gather",
        "logsumexp",
        "mul_",
        "add_",
        "double",
        "contiguous",
        "log1p",
        "copy_slices",
    ],
)
def test_grad_fn_names(name):
    progs = {
        "add": lambda T, x, y: x + y,
        "add_scalar": lambda T, x, y: x + 2,
        "sub": lambda T, x, y: x - y,
        "mul": lambda T, x, y: x * y,
        "mul_scalar": lambda T, x, y: 3 * x,
        "div": lambda T, x, y: x / y,
        "neg": lambda T, x, y: -x,
        "pow_scalar": lambda T, x, y: x**3,
        "exp": lambda T, x, y: x.exp(),
        "log": lambda T, x, y: y.log(),
        "sin": lambda T, x, y: x.sin(),
        "tanh": lambda T, x, y: x.tanh(),
        "sigmoid": lambda T, x, y: x.sigmoid(),
        "relu": lambda T, x, y: x.relu(),
        "sqrt": lambda T, x, y: y.sqrt(),
        "sum": lambda T, x, y: x.sum(),
        "amax": lambda T, x, y: x.amax(1),
        "permute": lambda T, x, y: x.permute(1, 0),
        "expand": lambda T, x, y: x[:, :1].expand(3, 4),
        "clone": lambda T, x, y: x.clone(),
        "cat": lambda T, x, y: T.cat([x, y]),
        "where": lambda T, x, y: T.where(x > 0, x, y),
        "softmax": lambda T, x, y: T.softmax(x, dim=-1),
        "log_softmax": lambda T, x, y: T.log_softmax(x, dim=-1),
        "maximum": lambda T, x, y: T.maximum(x, y),
        "cumsum": lambda T, x, y: x.cumsum(0),
        "gather": lambda T, x, y: x.gather(1, T.tensor([[0], [1], [2]])),
        "logsumexp": lambda T, x, y: x.logsumexp(1),
        "mul_": lambda T, x, y: x.clone().mul_(y),
        "add_": lambda T, x, y: x.clone().add_(1),
        "double": lambda T, x, y: x.double(),
        "contiguous": lambda T, x, y: x.t().contiguous(),
        "log1p": lambda T, x, y: y.log1p(),
        "copy_slices": lambda T, x, y: (lambda c: (c[0].mul_(2), c)[1])(x.clone()),
    }

    def prog(T, a, b):
        out = progs[name](T, leaf(T, a), leaf(T, b))
        return gname(out), out

    check(prog, arr(3, 4), arr(3, 4, seed=1, low=0.5, high=2.0))


def test_next_functions():
    def prog(T, a, b):
        x, w = leaf(T, a), leaf(T, b)
        c = leaf(T, b, rg=False)
        y = x * w
        z = (y + c).exp()
        s = (z * 2).sum()

        def shape(fn):
            return tuple((gname(f) if f is not None else None, i) for f, i in fn.next_functions)

        acc = y.grad_fn.next_functions[0][0]

        def walk(fn, depth=0):  # the recursive graph walk visualisers do
            if fn is None:
                return []
            return [(depth, gname(fn))] + [w for f, _ in fn.next_functions for w in walk(f, depth + 1)]

        return {
            "walk": walk(s.grad_fn),
            "mul": shape(y.grad_fn),
            "add": shape(z.grad_fn.next_functions[0][0]),
            "exp": shape(z.grad_fn),
            "sum": shape(s.grad_fn),
            "mul_scalar": shape(s.grad_fn.next_functions[0][0]),
            "acc_variable_is_x": acc.variable is x,
            "leaf_grad_fn": x.grad_fn,
        }

    check(prog, arr(2, 3), arr(2, 3, seed=1))


# ---------------------------------------------------------------------------
# backward(): gradient=, errors, retain_graph
# ---------------------------------------------------------------------------


def test_backward_with_gradient_on_non_scalar():
    def prog(T, a, g):
        x = leaf(T, a)
        y = x.sin() * x
        y.backward(gradient=T.tensor(g))
        x2 = leaf(T, a)
        (x2 * 3).backward(T.tensor(g).double())  # a grad of another float dtype is cast
        return x.grad, x2.grad

    check(prog, arr(2, 3), arr(2, 3, seed=3))


def test_backward_on_a_leaf():
    def prog(T, a, g):
        x = leaf(T, a)
        x.backward(T.tensor(g))
        return x.grad

    check(prog, arr(4), arr(4, seed=2))


def test_backward_errors():
    def prog(T, a):
        x = leaf(T, a)
        y = x * 2
        return {
            "non-scalar without gradient": attempt(y.backward),
            "no requires_grad": attempt(T.tensor(a).sum().backward),
            "computed under no_grad": attempt(lambda: T.tensor(a).exp().sum().backward()),
            "gradient shape mismatch": attempt(lambda: y.backward(T.ones(4))),
            "x.grad after errors": x.grad,
        }

    check(prog, arr(2, 3))


def test_second_backward_through_freed_graph_raises():
    def prog(T, a):
        x = leaf(T, a)
        y = x.exp().sum()
        y.backward()
        second = attempt(y.backward)
        z = (x.sin() * x).sum()
        z.backward(retain_graph=True)
        z.backward(retain_graph=True)
        z.backward()
        third = attempt(z.backward)
        return second, third, x.grad

    want, got = check(prog, arr(3))
    assert want[0] == Raised(RuntimeError("")) and want[1] == Raised(RuntimeError(""))


@pytest.mark.parametrize(
    "name",
    ["add_then_sum", "sum", "add_two_leaves", "sub_scalar", "neg_mean", "reshape_sum", "exp", "mul_two_leaves"],
)
def test_backward_twice_without_retain_graph(name):
    """Ops that saved nothing can be backpropagated again; ops that saved tensors raise."""
    progs = {
        "add_then_sum": lambda T, x, w: (x + 1).sum(),
        "sum": lambda T, x, w: x.sum(),
        "sub_scalar": lambda T, x, w: (x - 2).sum(),
        "add_two_leaves": lambda T, x, w: (x + w).sum(),
        "neg_mean": lambda T, x, w: (-x).mean(),
        "reshape_sum": lambda T, x, w: x.reshape(-1).sum(),
        "exp": lambda T, x, w: x.exp().sum(),
        "mul_two_leaves": lambda T, x, w: (x * w).sum(),
    }

    def prog(T, a, b):
        x, w = leaf(T, a), leaf(T, b)
        y = progs[name](T, x, w)
        y.backward()
        second = attempt(y.backward)
        return second, x.grad, w.grad

    check(prog, arr(2, 3), arr(2, 3, seed=1))


def test_autograd_backward_function_and_inputs():
    def prog(T, a, b):
        x, w = leaf(T, a), leaf(T, b)
        y1, y2 = (x * w).sum(), (x.exp() * w).sum(1)
        T.autograd.backward([y1, y2], [None, T.ones(2)])
        first = (x.grad.clone(), w.grad.clone())
        x.grad = None
        w.grad = None
        z = (x * w).sin().sum()
        z.backward(inputs=[x])
        only_x = (grad_or_none(x), grad_or_none(w))
        h = x * 2
        (h * w).sum().backward(inputs=[h, w])
        return first, only_x, grad_or_none(h), w.grad, x.grad

    check(prog, arr(2, 3), arr(2, 3, seed=1))


@pytest.mark.parametrize(
    "name", ["cat", "stack", "einsum", "matmul_left", "matmul_right", "where", "lerp", "setitem", "mul", "maximum"]
)
def test_ops_mixing_grad_and_constant_inputs(name):
    progs = {
        "cat": lambda T, x, c: T.cat([c, x, c * 2], 0),
        "stack": lambda T, x, c: T.stack([c, x], 1),
        "einsum": lambda T, x, c: T.einsum("ij,kj->ik", c, x),
        "matmul_left": lambda T, x, c: c.t() @ x,
        "matmul_right": lambda T, x, c: x @ c.t(),
        "where": lambda T, x, c: T.where(c > 0, c, x),
        "lerp": lambda T, x, c: T.lerp(c, x, 0.25),
        "setitem": lambda T, x, c: (lambda y: (y.__setitem__((slice(None), 0), x[:, 1]), y)[1])(c.clone()),
        "mul": lambda T, x, c: c * x,
        "maximum": lambda T, x, c: T.maximum(c, x),
    }

    def prog(T, a, b, g):
        x = leaf(T, a)
        y = progs[name](T, x, T.tensor(b))
        y.backward(T.tensor(g[: y.numel()].reshape(tuple(y.shape))))
        return y, x.grad

    check(prog, arr(3, 4), arr(3, 4, seed=1), arr(40, seed=2))


# ---------------------------------------------------------------------------
# higher derivatives: create_graph
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["cube", "sin", "tanh", "sigmoid", "exp_log", "softmax", "log_softmax", "matmul", "div", "sqrt"]
)
def test_double_backward(name):
    fns = {
        "cube": lambda T, x, w: (x**3).sum(),
        "sin": lambda T, x, w: x.sin().sum(),
        "tanh": lambda T, x, w: (x.tanh() * w).sum(),
        "sigmoid": lambda T, x, w: (x.sigmoid() * w).sum(),
        "exp_log": lambda T, x, w: (x.exp() + 1).log().sum(),
        "softmax": lambda T, x, w: (T.softmax(x, dim=-1) * w).sum(),
        "log_softmax": lambda T, x, w: (T.log_softmax(x, dim=1) * w).sum(),
        "matmul": lambda T, x, w: ((x @ w.t()).tanh() ** 2).sum(),
        "div": lambda T, x, w: (w / (x * x + 1)).sum(),
        "sqrt": lambda T, x, w: (x * x + 0.5).sqrt().sum(),
    }

    def prog(T, a, b, v):
        x, w = leaf(T, a), leaf(T, b)
        y = fns[name](T, x, w)
        (gx,) = T.autograd.grad(y, x, create_graph=True)
        flags = (gx.requires_grad, gx.grad_fn is not None)
        # Hessian-vector product, and the mixed second derivative w.r.t. w
        hv = T.autograd.grad((gx * T.tensor(v)).sum(), [x, w], allow_unused=True)
        return flags, gx, hv

    check(prog, arr(3, 4), arr(3, 4, seed=1), arr(3, 4, seed=2), rtol=1e-4, atol=1e-5)


SECOND_ORDER = {
    "inplace": lambda T, x, c: (lambda y: (y[0].mul_(x[1]), y.sin_(), (y**2).sum())[-1])(x.clone()),
    "setitem": lambda T, x, c: (lambda y: (y.__setitem__(1, x[0].exp()), (y * y).sum())[-1])(x * x),
    "gather": lambda T, x, c: (x.gather(1, T.tensor([[0, 1], [2, 3], [1, 1]])) ** 2).sum(),
    "max_amax_norm": lambda T, x, c: (x.max(1)[0] ** 3).sum() + (x.amax(0) ** 2).sum() + x.norm(),
    "where_relu": lambda T, x, c: (T.where(x > 0, x**2, x**3) + x.relu() * x).sum(),
    "mean_var_std_lse": lambda T, x, c: x.var(1).sum() + x.std() + x.mean(0).pow(2).sum() + x.logsumexp(1).sum(),
    "cat_stack_prod": lambda T, x, c: T.stack([T.cat([x.sin(), c], 1), T.cat([c, x.cos()], 1)]).prod(0).sum(),
    "cumsum_sort": lambda T, x, c: (x.cumsum(1) ** 2).sum() + (x.sort(1)[0] * T.arange(4.0)).pow(2).sum(),
    "matmul_shapes": lambda T, x, c: ((x @ c.t()) @ x).sum() + (x @ c[0]).sum() + (x[0] @ x[1]) * 2,
    "expand": lambda T, x, c: (x[:, :1].expand(3, 4) * c).exp().sum(),
    "cross_entropy": lambda T, x, c: -T.log_softmax(x, 1)[T.arange(3), T.tensor([0, 3, 1])].mean(),
    "einsum_const": lambda T, x, c: T.einsum("ij,kj->ik", x.tanh(), c).pow(2).sum(),
}


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_second_order_through_many_ops(name):
    def prog(T, a, b, v):
        x = leaf(T, a)
        y = SECOND_ORDER[name](T, x, T.tensor(b))
        (g,) = T.autograd.grad(y, x, create_graph=True)
        (h,) = T.autograd.grad((g * T.tensor(v)).sum() + (g * g).sum(), x)
        return y, g, h

    check(prog, arr(3, 4), arr(3, 4, seed=1), arr(3, 4, seed=2), rtol=1e-4, atol=1e-5)


def test_vjp_differentiated_with_respect_to_grad_outputs():
    def prog(T, a, b):
        x, v = leaf(T, a), leaf(T, b)
        y = x.tanh() * x
        (g,) = T.autograd.grad(y, x, v, create_graph=True)
        return g, T.autograd.grad((g * g).sum(), [x, v])

    check(prog, arr(3, 4), arr(3, 4, seed=1), rtol=1e-5)


def test_hook_result_is_differentiated_with_create_graph():
    def prog(T, a):
        x = leaf(T, a)
        h = x.sin()
        h.register_hook(lambda g: g * x)
        (g,) = T.autograd.grad(h.sum(), x, create_graph=True)
        return g, T.autograd.grad(g.sum(), x)

    check(prog, arr(3))


def test_third_derivative_and_backward_create_graph():
    def prog(T, a):
        x = leaf(T, a)
        (g1,) = T.autograd.grad((x**4).sum(), x, create_graph=True)
        (g2,) = T.autograd.grad(g1.sum(), x, create_graph=True)
        (g3,) = T.autograd.grad(g2.sum(), x)
        x2 = leaf(T, a)
        (x2**3).sum().backward(create_graph=True)
        gx = x2.grad
        flags = (gx.requires_grad, gx.is_leaf)
        x2.grad = None
        gx.sum().backward()
        return g1, g2, g3, g3.requires_grad, flags, x2.grad

    check(prog, arr(5), rtol=1e-4)


def test_create_graph_then_accumulate_into_grad():
    def prog(T, a):
        x = leaf(T, a)
        (x**3).sum().backward(create_graph=True)
        first = x.grad.detach().clone()
        x.grad.sum().backward()  # accumulates 6x into the existing 3x**2
        return first, x.grad

    check(prog, arr(4), rtol=1e-5)


# ---------------------------------------------------------------------------
# autograd.grad
# ---------------------------------------------------------------------------


def test_grad_does_not_touch_dot_grad():
    def prog(T, a):
        x = leaf(T, a)
        r = T.autograd.grad((x * x).sum(), x)
        return type(r).__name__, len(r), r[0], x.grad

    check(prog, arr(3))


def test_grad_allow_unused_and_materialize():
    def prog(T, a, b):
        x, z = leaf(T, a), leaf(T, b)
        out = {}
        out["unused raises"] = attempt(lambda: T.autograd.grad((x * 2).sum(), [x, z]))
        out["allow_unused"] = T.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
        out["materialize"] = T.autograd.grad((x * 2).sum(), [x, z], materialize_grads=True)
        out["input without grad"] = attempt(lambda: T.autograd.grad((x * 2).sum(), [T.tensor(a)]))
        out["output without grad"] = attempt(lambda: T.autograd.grad(T.tensor(a).sum(), [x]))
        out["non-scalar no grad_outputs"] = attempt(lambda: T.autograd.grad(x * 2, [x]))
        return out

    check(prog, arr(3), arr(3, seed=1))


def test_grad_multiple_outputs_inputs_and_grad_outputs():
    def prog(T, a, b, g):
        x, w = leaf(T, a), leaf(T, b)
        y1 = x @ w
        y2 = (x.exp() * 2).sum()
        gx, gw = T.autograd.grad([y1, y2], [x, w], grad_outputs=[T.tensor(g), None], retain_graph=True)
        (gx_only,) = T.autograd.grad(y1, [x], grad_outputs=T.tensor(g), retain_graph=True)
        (gw_only,) = T.autograd.grad(y1, w, T.tensor(g))
        return gx, gw, gx_only, gw_only, x.grad, w.grad

    check(prog, arr(2, 3), arr(3, 4, seed=1), arr(2, 4, seed=2))


def test_grad_with_respect_to_non_leaf():
    def prog(T, a):
        x = leaf(T, a)
        h = x * 2
        k = h.sin()
        y = (k * h).sum()
        gh, gk = T.autograd.grad(y, [h, k], retain_graph=True)
        (gx,) = T.autograd.grad(y, x)
        return gh, gk, gx, x.grad, h.grad

    check(prog, arr(4))


def test_grad_retain_graph_default():
    def prog(T, a):
        x = leaf(T, a)
        y = (x.exp() * x).sum()
        g1 = T.autograd.grad(y, x, retain_graph=True)
        g2 = T.autograd.grad(y, x)
        g3 = attempt(T.autograd.grad, y, x)
        return g1, g2, g3

    check(prog, arr(3))


# ---------------------------------------------------------------------------
# grad modes
# ---------------------------------------------------------------------------


def test_no_grad_and_enable_grad_contexts():
    def prog(T, a):
        x = leaf(T, a)
        out = {}
        with T.no_grad():
            y = x * 2
            out["inside"] = (T.is_grad_enabled(), y.requires_grad, y.grad_fn is None, y.is_leaf)
            with T.enable_grad():
                z = x * 2
                out["enable inside no_grad"] = (T.is_grad_enabled(), z.requires_grad, gname(z))
            out["back to no_grad"] = T.is_grad_enabled()
        out["after"] = T.is_grad_enabled()
        try:
            with T.no_grad():
                raise KeyError("boom")
        except KeyError:
            pass
        out["restored after exception"] = T.is_grad_enabled()
        return out

    check(prog, arr(3))


def test_set_grad_enabled_function_context_decorator():
    def prog(T, a):
        x = leaf(T, a)
        out = {}
        try:
            T.set_grad_enabled(False)
            out["function"] = (T.is_grad_enabled(), (x * 2).requires_grad)
        finally:
            T.set_grad_enabled(True)
        with T.set_grad_enabled(False):
            out["context"] = (T.is_grad_enabled(), (x * 2).requires_grad)
        out["after context"] = T.is_grad_enabled()
        with T.no_grad():
            with T.set_grad_enabled(True):
                out["context True"] = (x * 2).requires_grad
            out["after nested"] = T.is_grad_enabled()

        @T.set_grad_enabled(False)
        def f(t):
            return t * 2, T.is_grad_enabled()

        out["after decorating"] = T.is_grad_enabled()
        y, mode = f(x)
        out["decorated"] = (mode, y.requires_grad)
        out["after call"] = T.is_grad_enabled()
        return out

    check(prog, arr(3))


def test_no_grad_decorators():
    def prog(T, a):
        x = leaf(T, a)

        @T.no_grad()
        def with_parens(t):
            """doc"""
            return t * 2

        @T.no_grad
        def without_parens(t):
            return t * 2

        @T.enable_grad
        def enabled(t):
            return t * 2

        @T.inference_mode()
        def inference(t):
            return t * 2

        @T.inference_mode
        def inference_bare(t):
            return t * 2

        out = {
            "parens": with_parens(x).requires_grad,
            "no parens": without_parens(x).requires_grad,
            "name": (with_parens.__name__, without_parens.__name__, with_parens.__doc__),
            "inference": inference(x).requires_grad,
            "inference bare": (callable(inference_bare), inference_bare(x).requires_grad),
            "mode after": T.is_grad_enabled(),
        }
        with T.no_grad():
            out["enable_grad decorator in no_grad"] = enabled(x).requires_grad
        return out

    check(prog, arr(3))


def test_no_grad_generator_function():
    def prog(T, a):
        x = leaf(T, a)
        seen = []

        @T.no_grad()
        def gen(t):
            for i in range(3):
                y = t * (i + 1)
                got = yield y, T.is_grad_enabled()
                seen.append((got, T.is_grad_enabled()))
            return "done"

        g = gen(x)
        first, mode_inside = next(g)
        caller_mode = T.is_grad_enabled()
        z = x * 3
        second, _ = g.send("hello")
        rest = list(g)
        return {
            "first": (first.requires_grad, mode_inside),
            "caller": (caller_mode, z.requires_grad),
            "second": second.requires_grad,
            "rest": [(r.requires_grad, m) for r, m in rest],
            "seen": seen,
            "after": T.is_grad_enabled(),
        }

    check(prog, arr(3))


def test_inference_mode():
    def prog(T, a):
        x = leaf(T, a)
        out = {}
        with T.inference_mode():
            y = x * 2
            out["inside"] = (T.is_grad_enabled(), T.is_inference_mode_enabled(), y.requires_grad, y.grad_fn is None)
        with T.inference_mode(False):
            out["mode False"] = (T.is_grad_enabled(), T.is_inference_mode_enabled(), (x * 2).requires_grad)
        with T.no_grad():
            out["no_grad is not inference"] = T.is_inference_mode_enabled()
        out["after"] = (T.is_grad_enabled(), T.is_inference_mode_enabled())
        out["y"] = y
        return out

    check(prog, arr(3))


# ---------------------------------------------------------------------------
# detach, retain_grad, hooks
# ---------------------------------------------------------------------------


def test_detach_shares_storage_and_version():
    def prog(T, a):
        x = leaf(T, a)
        y = x * 2
        d = y.detach()
        flags = (d.requires_grad, d.is_leaf, d.grad_fn)
        d.add_(1)  # writes into y's storage and bumps the shared version counter
        versions = (y._version, d._version)
        e = x.exp()
        e.detach().mul_(2)  # e is saved by ExpBackward: backward must now fail
        err = attempt(e.sum().backward)
        return flags, y, versions, err

    check(prog, arr(3))


def test_detach_in_place():
    def prog(T, a):
        x = leaf(T, a)
        y = x * 2
        r = y.detach_()
        flags = (r is y, y.requires_grad, y.is_leaf, y.grad_fn)
        z = x * 3
        v = z[0]
        view_err = attempt(v.detach_)
        return flags, view_err

    check(prog, arr(2, 3))


def test_retain_grad():
    def prog(T, a, b):
        x, w = leaf(T, a), leaf(T, b)
        h = x * w
        h.retain_grad()
        k = h.exp()
        k.retain_grad()
        no_retain = h.sin()
        y = (k + no_retain).sum()
        flags = (h.retains_grad, x.retains_grad, no_retain.retains_grad)
        y.backward(retain_graph=True)
        first = (h.grad.clone(), k.grad.clone(), no_retain.grad)
        y.backward()  # retained grads accumulate like leaves'
        x.retain_grad()  # no-op on a leaf
        return flags, first, h.grad, k.grad, x.grad

    check(prog, arr(3), arr(3, seed=1))


def test_hooks_on_leaves_and_non_leaves():
    def prog(T, a, b):
        x, w = leaf(T, a), leaf(T, b)
        seen = []
        x.register_hook(lambda g: seen.append(("x", g.clone())))
        hx = x.register_hook(lambda g: g * 2)
        h = x * w
        h.register_hook(lambda g: g + 1)
        h.register_hook(lambda g: seen.append(("h", g.clone())))
        h.retain_grad()
        y = (h.sin()).sum()
        y.backward(retain_graph=True)
        first = (x.grad.clone(), w.grad.clone(), h.grad.clone())
        hx.remove()
        x.grad = None
        y.backward()
        err = attempt(T.tensor(a).register_hook, lambda g: g)
        return first, x.grad, seen, err

    check(prog, arr(3), arr(3, seed=1))


def test_retain_grad_and_hooks_across_in_place():
    def prog(T, a):
        x = leaf(T, a)
        h = x * 2
        h.retain_grad()  # follows h to its new value
        seen = []
        h.register_hook(lambda g: seen.append(g.clone()))  # stays with the value before mul_
        h.mul_(3)
        (h * h).sum().backward()
        return h.grad, seen, x.grad

    check(prog, arr(3))


def test_hooks_with_autograd_grad():
    def prog(T, a):
        x = leaf(T, a)
        calls = []

        def leaf_hook(g):
            calls.append("x")
            return g * 10

        x.register_hook(leaf_hook)
        h = x * 3
        h.register_hook(lambda g: (calls.append("h"), g * 2)[1])
        y = (h * h).sum()
        gh, gx = T.autograd.grad(y, [h, x])
        return gh, gx, calls, x.grad

    check(prog, arr(3))


def test_hook_on_tensor_used_twice():
    def prog(T, a):
        x = leaf(T, a)
        h = x.exp()
        got = []
        h.register_hook(lambda g: got.append(g.clone()))
        (h * 2 + h * h).sum().backward()
        return got, x.grad

    check(prog, arr(3))


def test_leaf_hook_sees_summed_grad_once():
    def prog(T, a):
        x = leaf(T, a)
        seen = []
        x.register_hook(lambda g: (seen.append(g.clone()), g * g)[1])
        (x * 2 + x * 3 + x.sin()).sum().backward()
        x2 = leaf(T, a)
        x2.register_hook(lambda g: (seen.append(g.clone()), g * g)[1])
        (gx,) = T.autograd.grad((x2 * 2 + x2 * x2).sum(), x2)
        return seen, x.grad, gx

    check(prog, arr(3))


def test_multiple_hooks_run_in_order():
    def prog(T, a):
        x = leaf(T, a)
        order = []
        h = x.exp()
        h.register_hook(lambda g: (order.append(1), g * 2)[1])
        h.register_hook(lambda g: order.append(2))  # returns None: grad unchanged
        h.register_hook(lambda g: (order.append(3), g + 1)[1])
        x.register_hook(lambda g: (order.append(4), g * 3)[1])
        x.register_hook(lambda g: (order.append(5), g - 1)[1])
        h.sum().backward()
        return order, x.grad

    check(prog, arr(3))


def test_grad_setter_validation():
    def prog(T, a):
        x = leaf(T, a)
        out = {
            "wrong size": attempt(setattr, x, "grad", T.zeros(4)),
            "wrong dtype": attempt(setattr, x, "grad", T.zeros(2, 3, dtype=T.float64)),
            "not a tensor": attempt(setattr, x, "grad", 3.0),
        }
        x.grad = T.ones(2, 3)
        (x * 2).sum().backward()
        out["accumulates onto assigned"] = x.grad
        return out

    check(prog, arr(2, 3))


def test_detach_then_requires_grad_is_a_new_leaf():
    def prog(T, a):
        x = leaf(T, a)
        h = x * 2
        d = h.detach().requires_grad_()
        (d * h).sum().backward()
        return (d.is_leaf, d.requires_grad), d.grad, x.grad

    check(prog, arr(3))


def test_implicit_grad_for_one_element_outputs():
    def prog(T, a):
        x = leaf(T, a)
        (x.sum() * T.ones(1, 1)).backward()
        return x.grad, attempt((x * 2).reshape(-1).backward), attempt(x.argmax().backward)

    check(prog, arr(3))


# ---------------------------------------------------------------------------
# version counters and in-place ops
# ---------------------------------------------------------------------------


def test_version_counter_increments_and_views_share_it():
    def prog(T, a):
        x = T.tensor(a)
        out = [x._version]
        x.add_(1)
        out.append(x._version)
        x.mul_(2)
        x += 1
        out.append(x._version)
        x[0] = 5.0
        out.append(x._version)
        x.zero_()
        x.fill_(2.0)
        x.copy_(T.tensor(a))
        out.append(x._version)
        views = {
            "slice": lambda: x[1:],
            "select": lambda: x[0],
            "view": lambda: x.view(-1),
            "t": lambda: x.t(),
            "transpose": lambda: x.transpose(0, 1),
            "permute": lambda: x.permute(1, 0),
            "unsqueeze": lambda: x.unsqueeze(0),
            "reshape": lambda: x.reshape(-1),
            "narrow": lambda: x.narrow(1, 0, 2),
            "detach": lambda: x.detach(),
        }
        for name, make in views.items():
            v = make()
            base_before = x._version
            v.mul_(1.5)
            out.append((name, v._version - base_before, x._version - base_before, x._version == v._version))
        c = x.clone()
        c.add_(1)
        out.append(("clone", c._version, x._version))
        return out, x

    check(prog, arr(3, 4))


def test_inplace_on_saved_tensor_raises():
    def prog(T, a):
        out = {}
        x = leaf(T, a)
        y = x.exp()
        y.add_(1)  # exp saved its output
        out["exp output"] = attempt(y.sum().backward)
        x = leaf(T, a)
        y = x * 2
        y.add_(1)  # mul by a scalar saved nothing of y
        y.sum().backward()
        out["mul scalar"] = x.grad
        x = leaf(T, a)
        h = x * 1
        k = h * h
        h.mul_(3)
        out["mul saved input"] = attempt(k.sum().backward)
        x = leaf(T, a)
        h = x + 0
        k = h.sin()
        h[0] = 0.0
        out["setitem on saved"] = attempt(k.sum().backward)
        x = leaf(T, a)
        h = x.clone()
        k = (h[1:] ** 2).sum()
        h[0] = 1.0  # the saved view shares h's version counter
        out["saved view, base modified"] = attempt(k.backward)
        x = leaf(T, a)
        h = x.sigmoid()
        h.add_(1)  # sigmoid saved its output
        out["sigmoid output"] = attempt(h.sum().backward)
        x = leaf(T, a)
        h = x.relu()
        k = (h * 2).sum()
        h.mul_(2)  # relu saved its output
        out["relu output"] = attempt(k.backward)
        x = leaf(T, a)
        h = x + 1
        k = (h * 2).sum()
        h.mul_(2)
        k.backward()  # fine: add and mul-by-scalar saved nothing of h
        out["add then mul_"] = x.grad
        return out

    check(prog, arr(4))


def test_inplace_on_leaf_requiring_grad():
    def prog(T, a):
        out = {}
        x = leaf(T, a)
        out["add_"] = attempt(x.add_, 1)
        out["setitem"] = attempt(x.__setitem__, 0, 1.0)
        out["zero_"] = attempt(x.zero_)
        out["view mul_"] = attempt(lambda: x[0].mul_(2))
        out["iadd"] = attempt(lambda: x.__iadd__(1))
        out["unchanged"] = x.detach().clone()
        with T.no_grad():
            x.mul_(2)
            x[0] = 7.0
        out["after no_grad"] = (x.is_leaf, x.requires_grad, x.grad_fn, x.detach().clone())
        x.data.add_(1)
        out["after .data"] = (x.is_leaf, x.detach().clone())
        return out

    check(prog, arr(3))


def test_sgd_step_under_no_grad():
    def prog(T, xs, ys, w0):
        X, Y = T.tensor(xs), T.tensor(ys)
        w = leaf(T, w0)
        b = T.zeros(1, requires_grad=True)
        losses = []
        for _ in range(5):
            loss = ((X @ w + b - Y) ** 2).mean()
            loss.backward()
            losses.append(loss.item())
            with T.no_grad():
                w -= 0.1 * w.grad
                b.sub_(0.1 * b.grad)
            w.grad.zero_()
            b.grad = None
        return losses, w, b, (w.is_leaf, w.requires_grad, w.grad_fn), w.grad

    check(prog, arr(8, 3), arr(8, 1, seed=1), arr(3, 1, seed=2), rtol=1e-5)


def test_inplace_on_view_of_non_leaf_propagates_to_base():
    def prog(T, a, b, c):
        out = {}
        x = leaf(T, a)
        y = x.clone()
        y[0].mul_(2)
        y.sum().backward()
        out["select mul_"] = (x.grad, gname(y))

        x, z, w = leaf(T, a), leaf(T, b), T.tensor(c)
        y = x * 1
        y[:, 1] = z
        (y * w).sum().backward()
        out["setitem column"] = (x.grad, z.grad, y.requires_grad)

        x, z = leaf(T, a), leaf(T, b)
        y = x.clone()
        v = y.t()
        v[1].add_(z * z)
        (y**2).sum().backward()
        out["t then add_"] = (x.grad, z.grad, y)

        x = leaf(T, a)
        y = x.clone()
        y[1:].exp_()
        (y * T.tensor(c)).sum().backward()
        out["slice exp_"] = (x.grad, y)

        x, z = leaf(T, a), leaf(T, b)
        y = x.clone()
        y.view(-1)[2:5].mul_(z)
        (y**2).sum().backward()
        out["view chain mul_"] = (x.grad, z.grad)

        x = leaf(T, a)
        y = x.clone()
        y[x > 0] = 0.0
        (y * T.tensor(c)).sum().backward()
        out["masked setitem"] = x.grad
        return out

    check(prog, arr(3, 3), arr(3, seed=1), arr(3, 3, seed=2))


def test_inplace_ops_that_save_their_input():
    """PyTorch saves the original self of mul_, sin_, div_, pow_...: later writes do not invalidate it."""

    def prog(T, a, b, c):
        out = {}
        x, z = leaf(T, a), leaf(T, b)
        y = x.clone()
        y.mul_(z)
        y.sin_()
        y.div_(z + 2)
        y.pow_(2)
        y.add_(x, alpha=0.5)
        y.sigmoid_()
        (y * T.tensor(c)).sum().backward()
        out["chain"] = (y, x.grad, z.grad, gname(y))

        z = leaf(T, b)
        p = T.tensor(a)
        p.mul_(z)  # a plain tensor becomes part of the graph
        flags = (p.requires_grad, p.is_leaf, gname(p))
        (p * p).sum().backward()
        out["plain times grad"] = (flags, z.grad)

        x, z = leaf(T, a), leaf(T, b)
        y = x * 1
        y *= z
        y -= x
        y /= 2
        (y**2).sum().backward()
        out["augmented"] = (x.grad, z.grad)
        return out

    check(prog, arr(2, 3), arr(2, 3, seed=1), arr(2, 3, seed=2))


def test_inplace_on_element_of_1d_non_leaf():
    def prog(T, a, b):
        x, z = leaf(T, a), leaf(T, b)
        y = x.clone()
        v = y[1]
        v.mul_(3)
        y[0] = z[2] * 2
        (y * y).sum().backward()
        return y, x.grad, z.grad, (v._version, y._version)

    check(prog, arr(4), arr(3, seed=1))


# ---------------------------------------------------------------------------
# custom autograd.Function
# ---------------------------------------------------------------------------


def _functions(T):
    class Exp(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            r = x.exp()
            ctx.save_for_backward(r)
            return r

        @staticmethod
        def backward(ctx, g):
            (r,) = ctx.saved_tensors
            return g * r

    class ScaleAdd(T.autograd.Function):
        """f(x, y, k) = k * x + y, with a non-tensor argument."""

        @staticmethod
        def forward(ctx, x, y, k):
            ctx.k = k
            ctx.record = ctx.needs_input_grad
            return x * k + y

        @staticmethod
        def backward(ctx, g):
            gx = g * ctx.k if ctx.needs_input_grad[0] else None
            gy = g if ctx.needs_input_grad[1] else None
            return gx, gy, None

    class SortVals(T.autograd.Function):
        """Two outputs, one non-differentiable."""

        @staticmethod
        def forward(ctx, x):
            vals, idx = x.sort()
            # float indices, so that mark_non_differentiable is what keeps them out of autograd
            fidx = idx.to(x.dtype)
            ctx.mark_non_differentiable(fidx)
            ctx.save_for_backward(idx)
            return vals, fidx

        @staticmethod
        def backward(ctx, g, _gidx):
            (idx,) = ctx.saved_tensors
            out = T.zeros_like(g)
            out[idx] = g
            return out

    class TwoOut(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2, x * x

        @staticmethod
        def backward(ctx, ga, gb):
            (x,) = ctx.saved_tensors
            return ga * 2 + gb * 2 * x

    class Cube(T.autograd.Function):
        """New style: forward without ctx, then setup_context."""

        @staticmethod
        def forward(x):
            return x**3

        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    class TooMany(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2, g

    class TooFew(T.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return (g,)

    class TrailingNone(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2, None

    class NoMaterialize(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            ctx.seen = (ga is None, gb is None)
            out = T.zeros_like(ga if ga is not None else gb)
            if ga is not None:
                out = out + ga * 2
            if gb is not None:
                out = out + gb * 3
            return out

    return {k: v for k, v in locals().items() if isinstance(v, type)}


def test_function_save_for_backward_and_name():
    def prog(T, a):
        F = _functions(T)
        x = leaf(T, a)
        y = F["Exp"].apply(x)
        flags = (y.requires_grad, y.is_leaf, gname(y))
        (y * y).sum().backward()
        again = attempt(y.sum().backward)  # saved tensors were freed
        return flags, y, x.grad, again

    check(prog, arr(4))


def test_function_non_tensor_args_and_needs_input_grad():
    def prog(T, a, b):
        F = _functions(T)
        x, y = leaf(T, a), leaf(T, b, rg=False)
        out = F["ScaleAdd"].apply(x, y, 3.0)
        out.sum().backward()
        x2, y2 = leaf(T, a, rg=False), leaf(T, b)
        out2 = F["ScaleAdd"].apply(x2, y2, 2.0)
        (out2 * out2).sum().backward()
        return {
            "out": out,
            "grads": (x.grad, y.grad),
            # the ctx is the grad_fn: attributes set in forward read through it
            "needs_input_grad": tuple(bool(n) for n in out.grad_fn.record),
            "k": out.grad_fn.k,
            "needs_input_grad 2": tuple(bool(n) for n in out2.grad_fn.needs_input_grad),
            "grads 2": (x2.grad, y2.grad),
        }

    check(prog, arr(3), arr(3, seed=1))


def test_function_non_differentiable_and_multiple_outputs():
    def prog(T, a):
        F = _functions(T)
        out = {}
        x = leaf(T, a)
        vals, idx = F["SortVals"].apply(x)
        out["flags"] = (vals.requires_grad, idx.requires_grad, idx.grad_fn)
        (vals * T.arange(4.0)).sum().backward()
        out["sort grad"] = x.grad

        x = leaf(T, a)
        p, q = F["TwoOut"].apply(x)
        (p * 3 + q).sum().backward()
        out["both outputs"] = x.grad
        x = leaf(T, a)
        p, q = F["TwoOut"].apply(x)
        q.sum().backward()  # the unused output's grad is materialized as zeros
        out["one output"] = x.grad
        x = leaf(T, a)
        p, q = F["NoMaterialize"].apply(x)
        q.sum().backward()
        out["no materialize"] = (x.grad, q.grad_fn.seen if hasattr(q.grad_fn, "seen") else None)
        return out

    check(prog, arr(4))


def test_function_setup_context_and_double_backward():
    def prog(T, a):
        F = _functions(T)
        x = leaf(T, a)
        y = F["Cube"].apply(x)
        (g,) = T.autograd.grad(y.sum(), x, create_graph=True)
        (g2,) = T.autograd.grad(g.sum(), x)
        return y, g, g2, gname(y)

    check(prog, arr(4))


def test_function_saved_output_is_differentiable_and_versioned():
    def prog(T, a):
        F = _functions(T)
        x = leaf(T, a)
        y = F["Exp"].apply(x * 1.5)  # saves its output
        (g,) = T.autograd.grad(y.sum(), x, create_graph=True)
        (g2,) = T.autograd.grad((g * g).sum(), x)
        z = F["Exp"].apply(x * 1)
        z.mul_(2)
        return g, g2, attempt(z.sum().backward), z._version

    check(prog, arr(3))


def test_function_wrong_number_of_gradients():
    def prog(T, a):
        F = _functions(T)
        x = leaf(T, a)
        w = leaf(T, a)
        out = {
            "too many": attempt(lambda: F["TooMany"].apply(x).sum().backward()),
            "too few": attempt(lambda: F["TooFew"].apply(x, w).sum().backward()),
        }
        F["TrailingNone"].apply(x).sum().backward()
        out["trailing None accepted"] = x.grad
        return out

    check(prog, arr(3))


def test_function_mark_dirty():
    def make(T):
        class AddOne(T.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.add_(1)
                ctx.mark_dirty(x)
                return x

            @staticmethod
            def backward(ctx, g):
                return g * 2

        return AddOne

    def prog(T, a):
        AddOne = make(T)
        x = leaf(T, a)
        h = x * 1
        y = AddOne.apply(h)
        flags = (y is h, gname(h), h._version)
        (y * y).sum().backward()
        leaf_err = attempt(AddOne.apply, leaf(T, a))
        return flags, y, x.grad, leaf_err

    check(prog, arr(3))


def test_function_returning_gradient_of_wrong_shape_or_dtype():
    def make(T, fix):
        class Bad(T.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return fix(g)

        return Bad

    def prog(T, a):
        out = {}
        for name, fix in {
            "too small": lambda g: g[:1],
            "other dtype": lambda g: g.double() * 2,
            "broadcastable": lambda g: g.sum(0, keepdim=True).expand(3, 2).unsqueeze(0),
        }.items():
            x = leaf(T, a)
            out[name] = (attempt(lambda x=x, fix=fix: make(T, fix).apply(x).sum().backward()), x.grad)
        return out

    check(prog, arr(3, 2))


def test_function_under_no_grad_and_without_grad_inputs():
    def prog(T, a):
        F = _functions(T)
        x = leaf(T, a)
        with T.no_grad():
            y = F["Exp"].apply(x)
        z = F["Exp"].apply(T.tensor(a))
        return (y.requires_grad, y.grad_fn), (z.requires_grad, z.grad_fn), y, z

    check(prog, arr(3))


def test_function_saved_input_modified_in_place():
    def prog(T, a):
        F = _functions(T)
        x = leaf(T, a)
        h = x * 1
        y = F["Cube"].apply(h)
        h.add_(1)
        return attempt(y.sum().backward)

    check(prog, arr(3))


# ---------------------------------------------------------------------------
# gradcheck / gradgradcheck
# ---------------------------------------------------------------------------


def _bad_functions(T):
    class WrongGrad(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x.cos() * 1.5  # wrong by a factor

    class DetachedSecond(T.autograd.Function):
        """Right first derivative, but its backward is not differentiable in x."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x.detach() ** 2

    return WrongGrad, DetachedSecond


def test_gradcheck_and_gradgradcheck():
    def prog(T, a, b):
        WrongGrad, DetachedSecond = _bad_functions(T)
        x = T.tensor(a.astype(np.float64), requires_grad=True)
        w = T.tensor(b.astype(np.float64), requires_grad=True)

        def good(x, w):
            return (x @ w).tanh() * x.sum()

        err = attempt(T.autograd.gradcheck, WrongGrad.apply, (x,))
        return {
            "gradcheck good": T.autograd.gradcheck(good, (x, w)),
            "gradgradcheck good": T.autograd.gradgradcheck(good, (x, w)),
            "gradcheck softmax": T.autograd.gradcheck(lambda t: T.log_softmax(t, dim=1), (x,)),
            "gradcheck wrong": err,
            "is GradcheckError": isinstance(err, Raised) and "mismatch" in err.msg.lower(),
            "raise_exception=False": T.autograd.gradcheck(WrongGrad.apply, (x,), raise_exception=False),
            "first derivative ok": T.autograd.gradcheck(DetachedSecond.apply, (x,)),
            "gradgradcheck wrong": attempt(T.autograd.gradgradcheck, DetachedSecond.apply, (x,)),
            "GradcheckError is RuntimeError": issubclass(_gradcheck_error(T), RuntimeError),
        }

    want, _ = check(prog, arr(2, 3), arr(3, 2, seed=1))
    assert want["gradcheck wrong"] == Raised(RuntimeError(""))


def _gradcheck_error(T):
    if T is torch:
        from torch.autograd.gradcheck import GradcheckError
    else:
        from ember.autograd.gradcheck import GradcheckError

        assert GradcheckError is ember.autograd.GradcheckError
    return GradcheckError


@pytest.mark.parametrize("T", LIBS, ids=lambda T: T.__name__)
def test_gradcheck_raises_gradcheck_error(T):
    WrongGrad, DetachedSecond = _bad_functions(T)
    x = T.tensor(arr(3).astype(np.float64), requires_grad=True)
    with pytest.raises(_gradcheck_error(T), match="(?i)mismatch"):
        T.autograd.gradcheck(WrongGrad.apply, (x,))
    with pytest.raises(_gradcheck_error(T)):
        T.autograd.gradgradcheck(DetachedSecond.apply, (x,))


# ---------------------------------------------------------------------------
# anomaly detection
# ---------------------------------------------------------------------------


def _anomaly_message(T, prog):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with T.autograd.detect_anomaly():
                prog()
        except RuntimeError as e:
            return str(e)
    return None


def test_detect_anomaly_names_the_op():
    a = np.array([0.0, 1.0, 4.0], dtype=np.float32)
    msgs = {}
    for T in LIBS:
        x = leaf(T, a)
        msgs[T.__name__] = _anomaly_message(T, lambda x=x: (x.sqrt() * 0).sum().backward())
    assert msgs["torch"] is not None and "SqrtBackward0" in msgs["torch"]
    assert msgs["ember"] is not None and "SqrtBackward0" in msgs["ember"], msgs["ember"]
    assert "nan" in msgs["ember"]


def test_detect_anomaly_custom_function():
    def make(T):
        class NanBack(T.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * float("nan")

        return NanBack

    msgs = {}
    for T in LIBS:
        NanBack = make(T)
        x = leaf(T, arr(3))
        msgs[T.__name__] = _anomaly_message(T, lambda x=x, F=NanBack: F.apply(x).sum().backward())
    assert msgs["torch"] is not None and "NanBackBackward" in msgs["torch"]
    assert msgs["ember"] is not None and "NanBackBackward" in msgs["ember"], msgs["ember"]


def test_detect_anomaly_check_nan_false():
    def prog(T, a):
        x = leaf(T, a)
        with T.autograd.detect_anomaly(check_nan=False):
            (x.sqrt() * 0).sum().backward()
        return x.grad

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(prog, np.array([0.0, 1.0, 4.0], dtype=np.float32))


def test_without_anomaly_mode_nan_flows_through():
    def prog(T, a):
        x = leaf(T, a)
        (x.sqrt() * 0).sum().backward()
        return x.grad, T.is_anomaly_enabled()

    check(prog, np.array([0.0, 1.0, 4.0], dtype=np.float32))


def test_detect_anomaly_state_restored():
    def prog(T):
        with T.autograd.detect_anomaly():
            inside = T.is_anomaly_enabled()
        with T.autograd.set_detect_anomaly(True):
            inside_set = T.is_anomaly_enabled()
        return inside, inside_set, T.is_anomaly_enabled()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(prog)


# ---------------------------------------------------------------------------
# deep graphs, dtypes, broadcasting
# ---------------------------------------------------------------------------


def test_deep_chain_no_recursion_error():
    def prog(T, a):
        x = leaf(T, a)
        y = x
        for i in range(5000):
            y = y * 0.9995 + 0.001 if i % 2 else (y + 0.0001).tanh() * 1.1
        y.sum().backward()
        gx = x.grad.clone()
        (g,) = T.autograd.grad((x * 1.0001).sin().sum(), x)
        del y
        return gx, g

    check(prog, arr(3).astype(np.float64), rtol=1e-6)


def test_deep_chain_retain_grad_and_hooks():
    def prog(T, a):
        x = leaf(T, a)
        y = x
        mid = None
        for i in range(3000):
            y = y * 1.0001
            if i == 1500:
                mid = y
                mid.retain_grad()
        y.sum().backward()
        return x.grad, mid.grad

    check(prog, arr(3).astype(np.float64), rtol=1e-6)


def test_mixed_dtypes_get_their_own_grad_dtype():
    def prog(T, a, b, c):
        x16 = T.tensor(a.astype(np.float16), requires_grad=True)
        x64 = T.tensor(b.astype(np.float64), requires_grad=True)
        x32 = T.tensor(c, requires_grad=True)
        y = (x16 * x64).sum() + (x32 * x64).sum() + (x16.float() * x32).sum()
        y.backward()
        return x16.grad, x64.grad, x32.grad, y

    check(prog, arr(4), arr(4, seed=1), arr(4, seed=2), rtol=2e-3, atol=2e-3)


def test_broadcast_inputs_get_grads_of_their_shape():
    def prog(T, a, b, c, d):
        x = leaf(T, a)  # (3, 1)
        w = leaf(T, b)  # (1, 4)
        s = leaf(T, c)  # ()
        v = leaf(T, d)  # (4,)
        y = (x * w + s) / (v.exp() + 1)
        (y * y).sum().backward()
        return x.grad, w.grad, s.grad, v.grad

    check(prog, arr(3, 1), arr(1, 4, seed=1), np.array(0.5, dtype=np.float32), arr(4, seed=3))


def test_scalar_tensor_and_python_scalar_promotion_grads():
    def prog(T, a):
        x = T.tensor(a, requires_grad=True)  # float32
        s = T.tensor(2.5, dtype=T.float64, requires_grad=True)  # 0-d float64 does not promote
        y = (x * s).sum()
        y.backward()
        return y, x.grad, s.grad

    check(prog, arr(3))


def test_grad_mode_is_per_thread():
    """PyTorch's grad mode is thread-local: no_grad in one thread leaves the others recording."""
    import threading

    inside, release, seen = threading.Event(), threading.Event(), {}

    def worker():
        with ember.no_grad():
            seen["worker"] = ember.is_grad_enabled()
            inside.set()
            release.wait(5)

    th = threading.Thread(target=worker)
    th.start()
    inside.wait(5)
    x = ember.ones(2, requires_grad=True)
    y = (x * 2).sum()
    seen["main"] = ember.is_grad_enabled()
    release.set()
    th.join()
    assert seen == {"worker": False, "main": True}
    assert y.requires_grad and y.grad_fn is not None
