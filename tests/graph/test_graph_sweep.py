"""The op-table sweep in graph mode: eager == graph interpreter (Session) == generated code, bitwise.

Every primitive and registered composite is drawn with the same input
families as tests/test_op_table.py, run eagerly, then built into a graph
from placeholders and run by the graph interpreter and by the compiler's
generated code. Forward values and gradients (eager backward vs symbolic
``gradients``) must agree bit for bit: the numerics contract.
"""

from __future__ import annotations

import operator
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from op_cases import Arr, calls_for, composite_calls, flat, resolve, same_layout  # noqa: E402

import ember  # noqa: E402
from ember.compiler.codegen import compile_graph  # noqa: E402
from ember.graph import Building, Graph, gradients  # noqa: E402
from ember.graph.build import placeholder  # noqa: E402
from ember.graph.execute import run  # noqa: E402
from ember.op import REGISTRY  # noqa: E402
from ember.ops.composite import COMPOSITES  # noqa: E402

PRIMITIVES = sorted(n for n, op in REGISTRY.items() if (op.sample or {}).get("cases") != "internal")
COMPOSITE_NAMES = sorted(COMPOSITES)


def _resolve(path):
    return operator.getitem if path == "getitem" else resolve(ember, path)


def _arrays(arg, out):
    """The input arrays of a call, in order (float32 for floats, int64 for ints, as the torch sweep)."""
    if isinstance(arg, Arr):
        v = np.asarray(arg.value)
        if v.dtype.kind == "f":
            v = same_layout(v, np.float32)
        elif v.dtype.kind in "iu":
            v = v.astype(np.int64)
        out.append((v, arg.grad and v.dtype.kind == "f"))
    elif isinstance(arg, (list, tuple)):
        for a in arg:
            _arrays(a, out)


def _rebuild(arg, it):
    if isinstance(arg, Arr):
        return next(it)
    if isinstance(arg, list):
        return [_rebuild(a, it) for a in arg]
    if isinstance(arg, tuple):
        return tuple(_rebuild(a, it) for a in arg)
    return arg


def check_graph_equals_eager(call):
    fn = _resolve(call.fn)
    arrays = []
    for a in call.args:
        _arrays(a, arrays)

    # eager
    leaves = []
    eager_in = []
    for v, g in arrays:
        t = ember.from_numpy(v)
        if g and call.grad:
            t.requires_grad_(True)
            leaves.append(t)
        eager_in.append(t)
    e_out = [o for o in flat(fn(*_rebuild(call.args, iter(eager_in)), **call.kwargs)) if isinstance(o, ember.Tensor)]
    diff = [o for o in e_out if o.requires_grad]
    rng = np.random.default_rng(1)
    gouts = [
        rng.standard_normal(tuple(o.shape)).astype(o.dtype.np if hasattr(o.dtype, "np") else np.float32) for o in diff
    ]
    e_grads = []
    if diff and leaves:
        e_grads = ember.autograd.grad(diff, leaves, [ember.from_numpy(g.copy()) for g in gouts], allow_unused=True)

    # graph
    g = Graph()
    with Building(g):
        syms = [
            placeholder(g, v.shape, ember.dtypes.from_numpy_dtype(v.dtype), f"in{i}") for i, (v, _) in enumerate(arrays)
        ]
        sym_leaves = [s for s, (v, gr) in zip(syms, arrays) if gr and call.grad]
        for s in sym_leaves:
            s._rg = True  # record tape nodes too, as a traced function would
        s_out = [o for o in flat(fn(*_rebuild(call.args, iter(syms)), **call.kwargs)) if isinstance(o, ember.Tensor)]
        s_diff = [o for o, e in zip(s_out, e_out) if e.requires_grad]
        s_grads = []
        if diff and leaves:
            from ember.graph.build import constant, symbolic_tensor

            gys = [symbolic_tensor(constant(g, gy.copy())) for gy in gouts]
            s_grads = gradients(s_diff, sym_leaves, grad_ys=gys)
    feeds = {s._data.value: v for s, (v, _) in zip(syms, arrays)}
    fetch = [o._data.value for o in s_out] + [sg._data.value for sg in s_grads if sg is not None]
    got = run(g, fetch, feeds=feeds)
    compiled = compile_graph(g, outputs=fetch)
    inputs = [feeds[v] for v in g.inputs]
    got_compiled = compiled(*inputs)
    got_again = compiled(*inputs)  # a second call reuses the planned buffers
    want = [o._data for o in e_out] + [eg._data for eg, sg in zip(e_grads, s_grads) if sg is not None]
    checks = [(a, b, "graph") for a, b in zip(got, want)]
    checks += [(a, b, "compiled") for a, b in zip(got_compiled, want)]
    checks += [(a, b, "compiled (2nd call)") for a, b in zip(got_again, want)]
    for k, (a, b, mode) in enumerate(checks):
        k %= len(want)
        what = f"{mode}: {call.fn} {'output' if k < len(s_out) else 'gradient'} {k}"
        assert a.shape == b.shape, f"{what}: shape {a.shape} != eager {b.shape}"
        assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != eager {b.dtype}"
        np.testing.assert_array_equal(a, b, err_msg=what)  # bitwise: NaNs in the same places too
    for eg, sg in zip(e_grads, s_grads):
        if sg is None:
            assert eg is None or not np.any(eg._data), f"{call.fn}: graph has no gradient where eager has one"


SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.mark.parametrize("name", PRIMITIVES)
@SETTINGS
@given(data=st.data())
def test_primitive_graph_equals_eager(name, data):
    op = REGISTRY[name]
    for call in calls_for(data.draw, name, op.kind, op.sample or {}):
        check_graph_equals_eager(call)


@pytest.mark.parametrize("name", COMPOSITE_NAMES)
@SETTINGS
@given(data=st.data())
def test_composite_graph_equals_eager(name, data):
    for call in composite_calls(data.draw, name, COMPOSITES[name]["sample"]):
        check_graph_equals_eager(call)
