"""The op-table sweep: every primitive and registered composite against PyTorch.

For each op, hypothesis draws inputs from the op's sample family (see
op_cases.py): broadcasting shapes, 0-d and empty tensors, non-contiguous
views. Each call is checked for forward values and dtypes (float64 and
float32), gradients vs torch.autograd, gradients vs finite differences
(gradcheck) and second derivatives (gradgradcheck). While the sweep runs,
every primitive executed (also inside composites and VJPs) has its shape and
dtype rules checked against what its kernel returned.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from op_cases import Arr, calls_for, composite_calls, flat, resolve, same_layout

import ember
from ember import eager
from ember.op import REGISTRY, ShapeDtype, dispatch
from ember.ops.composite import COMPOSITES

PRIMITIVES = sorted(n for n, op in REGISTRY.items() if (op.sample or {}).get("cases") != "internal")
COMPOSITE_NAMES = sorted(COMPOSITES)
GRADCHECK_MAX_NUMEL = 24


def _dtype_name(d):
    return str(d).split(".")[-1]


# ---- shape and dtype rules are checked on every primitive the sweep executes ---------------
def _rule_checking_apply(op, args, attrs):
    out = eager.apply(op, args, attrs)
    specs = [ShapeDtype(a._data.shape, a.dtype) if isinstance(a, ember.Tensor) else a for a in args]
    rule = op.shape(*specs, **attrs)
    outs = out if op.nout > 1 else (out,)
    rules = rule if op.nout > 1 else (rule,)
    dtypes = op.out_dtype(eager.signature(args))
    dtypes = dtypes if isinstance(dtypes, tuple) else (dtypes,)
    for o, r, d in zip(outs, rules, dtypes):
        if r is None:
            continue
        if isinstance(r, ShapeDtype):
            r, d = r.shape, r.dtype
        got = tuple(o._data.shape)
        assert len(r) == len(got) and all(a is None or a == b for a, b in zip(r, got)), (
            f"shape rule of {op.name} says {r}, kernel returned {got} (attrs {attrs})"
        )
        assert o.dtype is d, f"dtype rule of {op.name} says {d}, kernel returned {o.dtype}"
    return out


@pytest.fixture(autouse=True)
def check_rules(monkeypatch):
    monkeypatch.setattr(dispatch, "apply", _rule_checking_apply)


# ---- helpers --------------------------------------------------------------------------------
def _convert(arg, lib, float_dtype, leaves):
    if isinstance(arg, Arr):
        v = arg.value
        if v.dtype.kind == "f":
            t = lib.from_numpy(same_layout(v, float_dtype))
            if arg.grad:
                t.requires_grad_(True)
                leaves.append(t)
            return t
        v = np.array(v, dtype=np.int64 if v.dtype.kind in "iu" else v.dtype)
        return lib.from_numpy(v)
    if isinstance(arg, list):
        return [_convert(a, lib, float_dtype, leaves) for a in arg]
    if isinstance(arg, tuple):
        return tuple(_convert(a, lib, float_dtype, leaves) for a in arg)
    if arg in ("float32",):
        return getattr(lib, arg)
    return arg


def _run(call, lib, float_dtype):
    leaves = []
    args = [_convert(a, lib, float_dtype, leaves) for a in call.args]
    name = call.fn if lib is ember else (call.torch_fn or call.fn)
    if name == "getitem":
        fn = operator.getitem if lib is ember else None
    else:
        fn = resolve(lib, name)
    kwargs = call.kwargs if lib is ember or call.torch_kwargs is None else call.torch_kwargs
    out = fn(*args, **kwargs)
    return out, leaves, args


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.detach().numpy()


def _compare(e, t, rtol, atol, what):
    ea, ta = _np(e), _np(t)
    assert ea.shape == ta.shape, f"{what}: shape {ea.shape} != torch {ta.shape}"
    assert _dtype_name(e.dtype) == _dtype_name(t.dtype), f"{what}: dtype {e.dtype} != torch {t.dtype}"
    if ea.dtype.kind == "f":
        np.testing.assert_allclose(ea, ta, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(ea, ta, err_msg=what)


def check_call(call):
    # float64: values, then gradients against torch.autograd
    e_out, e_leaves, e_args = _run(call, ember, np.float64)
    t_out, t_leaves, _ = _run(call, torch, np.float64)
    e_flat, t_flat = flat(e_out), flat(t_out)
    assert len(e_flat) == len(t_flat), f"{call.fn}: {len(e_flat)} outputs, torch has {len(t_flat)}"
    for i, (e, t) in enumerate(zip(e_flat, t_flat)):
        if isinstance(t, torch.Tensor):
            _compare(e, t, call.rtol, 1e-9, f"{call.fn} output {i} (float64)")
        else:
            assert e == t
    diff_out = [(e, t) for e, t in zip(e_flat, t_flat) if isinstance(t, torch.Tensor) and t.requires_grad]
    if call.grad and e_leaves and diff_out:
        rng = np.random.default_rng(1)
        gs = [rng.standard_normal(tuple(t.shape)) for _, t in diff_out]
        e_g = ember.autograd.grad(
            [e for e, _ in diff_out], e_leaves, [ember.from_numpy(g.copy()) for g in gs], allow_unused=True
        )
        t_g = torch.autograd.grad(
            [t for _, t in diff_out], t_leaves, [torch.from_numpy(g.copy()) for g in gs], allow_unused=True
        )
        for k, (eg, tg) in enumerate(zip(e_g, t_g)):
            if tg is None:
                assert eg is None or not np.any(_np(eg)), f"{call.fn}: torch has no gradient for input {k}"
                continue
            assert eg is not None, f"{call.fn}: no gradient for input {k}"
            _compare(eg, tg, 1e-6, 1e-9, f"{call.fn} grad of input {k}")
        small = sum(x.numel() for x in e_leaves) <= GRADCHECK_MAX_NUMEL
        if small and call.fd:
            fn = resolve(ember, call.fn) if call.fn != "getitem" else operator.getitem

            def f(*leaves):
                it = iter(leaves)
                args = [_swap(a, e_leaves, it) for a in e_args]
                return tuple(o for o in flat(fn(*args, **call.kwargs)) if isinstance(o, ember.Tensor))

            assert ember.autograd.gradcheck(f, tuple(e_leaves), eps=1e-6, atol=1e-5, rtol=1e-3)
            if call.second:
                assert ember.autograd.gradgradcheck(f, tuple(e_leaves), eps=1e-6, atol=1e-4, rtol=1e-3)

    # float32: dtypes follow the inputs and values agree to float32 precision
    e32, _, _ = _run(call, ember, np.float32)
    t32, _, _ = _run(call, torch, np.float32)
    for i, (e, t) in enumerate(zip(flat(e32), flat(t32))):
        if isinstance(t, torch.Tensor):
            _compare(e, t, 2e-4, 1e-5, f"{call.fn} output {i} (float32)")


def _swap(arg, leaves, it):
    """Rebuild an argument structure with gradcheck's perturbed leaves in place of the originals."""
    if isinstance(arg, ember.Tensor):
        return next(it) if any(arg is leaf for leaf in leaves) else arg
    if isinstance(arg, list):
        return [_swap(a, leaves, it) for a in arg]
    if isinstance(arg, tuple):
        return tuple(_swap(a, leaves, it) for a in arg)
    return arg


SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.mark.parametrize("name", PRIMITIVES)
@SETTINGS
@given(data=st.data())
def test_primitive_matches_torch(name, data):
    op = REGISTRY[name]
    for call in calls_for(data.draw, name, op.kind, op.sample or {}):
        check_call(call)


@pytest.mark.parametrize("name", COMPOSITE_NAMES)
@SETTINGS
@given(data=st.data())
def test_composite_matches_torch(name, data):
    for call in composite_calls(data.draw, name, COMPOSITES[name]["sample"]):
        check_call(call)


def test_every_primitive_has_rules_and_samples():
    for name, op in REGISTRY.items():
        assert op.sample, f"op {name} has no sample hints: the sweep cannot test it"
        assert callable(op.shape), f"op {name} has no shape rule"
        assert op.impl is not None
