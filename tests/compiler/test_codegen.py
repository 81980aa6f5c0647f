"""Generated code: bitwise equal to the graph interpreter and to eager, buffers reused safely, readable.

Oracles: ``ember.graph.execute.run`` (which runs each op's impl like eager),
eager ember, and PyTorch for one MLP. Templates are checked one by one
against their op's impl; golden snapshots guard the generated source.
"""

from __future__ import annotations

import inspect
import os
import pathlib
import sys

import numpy as np
import pytest

import ember
from ember.compiler import kernels
from ember.compiler.codegen import compile_graph
from ember.compiler.fuse import fuse_elementwise
from ember.compiler.memory import plan_memory
from ember.graph import Building, Graph, Slot, gradients, ir, run, symbolic_tensor
from ember.graph.build import placeholder
from ember.graph.host import host_input
from ember.op import REGISTRY

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import golden_models as gm  # noqa: E402

GOLDEN = pathlib.Path(__file__).parent / "golden"


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


def assert_same(got, want, what=""):
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        assert same_bits(a, b), f"{what} output {i}: {a!r} != {b!r}"


def check(g, feeds, store=None, other_feeds=None):
    """compiled == execute.run bitwise, twice; outputs of call 1 survive call 2."""
    c = compile_graph(g, g.name)
    want = run(g, g.outputs, feeds=dict(zip(g.inputs, feeds)), store=store)
    got = c(*feeds, store=store)
    assert_same(got, want, "call 1")
    kept = [np.array(a, copy=True) for a in got]
    other = other_feeds or [f * 2 if f.dtype.kind == "f" else f for f in feeds]
    got2 = c(*other, store=store)
    want2 = run(g, g.outputs, feeds=dict(zip(g.inputs, other)), store=store)
    assert_same(got2, want2, "call 2")
    assert_same(got, kept, "call 1 after call 2")  # not clobbered by the second call
    for a in got:
        for b in c._buffers.get(np, ()):
            assert not np.shares_memory(a, b), "an output lives in a buffer the next call overwrites"
    return c, got


def rand(*shape, dtype=np.float32, seed=0, lo=-2.0, hi=2.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype)


# ---- each template computes what its op's impl computes ------------------------------------------
def _case(name):
    """Args for one call of op ``name`` that its template accepts (with in-place candidates)."""
    f = rand(4, 5, seed=1)
    f2 = rand(4, 5, seed=2)
    pos = rand(4, 5, seed=3, lo=0.1, hi=4.0)
    unit = rand(4, 5, seed=4, lo=-0.9, hi=0.9)
    ints = np.random.default_rng(5).integers(-50, 50, (4, 5))
    ints2 = np.random.default_rng(6).integers(1, 50, (4, 5))
    bools = f > 0
    bools2 = f2 > 0
    if name in ("log", "log2", "log10", "log1p", "sqrt", "rsqrt", "reciprocal"):
        return [[pos]]
    if name in ("asin", "acos", "tan"):
        return [[unit]]
    if name in ("floor", "ceil", "trunc", "isnan", "isinf", "isfinite"):
        g = f * 3
        g[0, 0] = np.nan
        g[0, 1] = np.inf
        return [[g]] if name.startswith("is") else [[f * 3]]
    if name in ("neg", "abs", "sign"):
        return [[f], [ints]]
    if name == "bitwise_not":
        return [[ints]]
    if name == "logical_not":
        return [[bools]]
    if name in ("add", "sub", "mul", "maximum", "minimum"):
        return [
            [f, f2],
            [f, 2.5],
            [3, f],
            [ints, ints2],
            [ints, 3],
            [f, f2[0]],
            [f.astype(np.float64), f2.astype(np.float64)],
        ]
    if name in ("div", "atan2", "fmod", "remainder"):
        return [[f, pos], [f, 0.75], [f[:, :1], pos]]
    if name == "pow":
        return [[pos, f], [pos, 2.0], [pos, 3]]
    if name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        return [[ints, ints2]]
    if name in ("eq", "ne", "lt", "le", "gt", "ge"):
        r = np.round(f)
        return [[r, np.round(f2)], [f, 0.0], [ints, ints2], [r, 1]]
    if name in ("logical_and", "logical_or", "logical_xor"):
        return [[bools, bools2]]
    if name == "relu":
        return [[f], [ints]]
    if name == "tanh_backward":
        return [[f, unit], [2.0, unit]]
    if name == "sigmoid_backward":
        return [[f, unit], [f[:1], unit]]
    if name == "where":
        return [[bools, f, f2], [bools, f, 0.0], [bools, 1.5, f2], [bools[:1], f, f2[0]]]
    if name == "sum":
        return [
            [f, {}],
            [f, {"axis": (0,)}],
            [f.T, {"axis": (1,), "keepdim": True}],
            [ints, {"axis": (1,)}],
            [bools, {}],
        ]
    if name == "matmul":
        return [[f, rand(5, 3, seed=7)], [f.T, f2], [rand(2, 4, 5), rand(5, 3)]]
    if name == "clone":
        return [[f], [ints]]
    if name == "cast":
        g = f * 100
        g[0, 0] = np.nan
        return [[g, {"dtype": ember.int32}], [f, {"dtype": ember.float64}], [ints, {"dtype": ember.float32}]]
    return [[f]]


TEMPLATED = sorted(n for n, t in kernels.TEMPLATES.items() if not t.view)


def _node_for(name, args):
    """Build the op on placeholders (arrays) and literals, as the graph interpreter would see it."""
    attrs = {}
    if args and isinstance(args[-1], dict):
        args, attrs = args[:-1], dict(args[-1])
    g = Graph(name)
    with Building(g):
        syms = []
        for a in args:
            if isinstance(a, np.ndarray):
                syms.append(placeholder(g, a.shape, a.dtype, "x"))
            else:
                syms.append(a)
        if name == "sum":
            attrs.setdefault("axis", None)
            attrs.setdefault("keepdim", False)
        out = REGISTRY[name].fn(*syms, **attrs)
    g.outputs = [out._data.value]
    return g, [a for a in args if isinstance(a, np.ndarray)]


@pytest.mark.parametrize("name", TEMPLATED)
def test_template_matches_impl(name):
    used = 0
    for args in _case(name):
        g, arrays = _node_for(name, args)
        node = g.outputs[0].node
        t = kernels.template_for(node)
        if t is None:
            continue
        used += 1
        (want,) = run(g, g.outputs, feeds=dict(zip(g.inputs, arrays)))
        # the values the kernel sees: the node's args after its casts
        env = {v: a for v, a in zip(g.inputs, arrays)}
        from ember.graph.execute import cast_args

        vals = [env[a] if isinstance(a, ir.Value) else a for a in node.inputs]
        vals = cast_args(vals, node.casts) if node.casts is not None else vals
        names = [f"a{i}" for i in range(len(vals))]
        ns = dict(zip(names, vals), xp=np)
        attrs = kernels.template_attrs(node)
        fresh = eval(t.fresh(names, attrs), ns)
        assert same_bits(fresh, want), f"{name} fresh: {t.fresh(names, attrs)}"
        out = np.empty(want.shape, want.dtype)
        ns["out"] = out
        for s in t.into(names, attrs, "out", None):
            exec(s, ns)
        assert same_bits(out, want), f"{name} into a new buffer"
        for j in t.inplace:  # into the buffer of argument j, as the memory planner may ask
            a = vals[j]
            if not isinstance(a, np.ndarray) or a.shape != want.shape or a.dtype != want.dtype:
                continue
            ns2 = dict(ns)
            ns2[names[j]] = buf = a.copy()
            ns2["out"] = buf
            for s in t.into(names, attrs, "out", j):
                exec(s, ns2)
            assert same_bits(buf, want), f"{name} in place over argument {j}"
    assert used, f"no case of {name} was accepted by its template"


def test_template_refuses_what_it_would_compute_differently():
    # int / int true division, bool relu and a sum over a 2-d output run the op's own kernel
    for name, args in [
        ("relu", [np.array([True, False])]),
        ("sum", [rand(3, 4, 5), {"axis": (2,)}]),
        ("where", [np.ones(3, bool), 1.0, 2.0]),
    ]:
        g, arrays = _node_for(name, args)
        assert kernels.template_for(g.outputs[0].node) is None, name
        check(g, arrays)


# ---- whole graphs: compiled == graph interpreter == eager -----------------------------------------
def mlp_graph(batch=6, seed=0):
    rng = np.random.default_rng(seed)
    w1 = ember.tensor(rng.standard_normal((5, 7)).astype(np.float32))
    b1 = ember.tensor(rng.standard_normal(7).astype(np.float32))
    w2 = ember.tensor(rng.standard_normal((7, 3)).astype(np.float32))
    g = Graph("mlp")
    with Building(g):
        x = placeholder(g, (batch, 5), ember.float32, "x")
        h = (x @ w1 + b1).tanh()
        h2 = h.sigmoid() * h
        logits = h2 @ w2
        loss = (logits.log_softmax(-1) * -1.0).mean()
        (gx,) = gradients(loss, [x])
    g.outputs = [loss._data.value, logits._data.value, gx._data.value]
    xv = rng.standard_normal((batch, 5)).astype(np.float32)
    return g, [xv], (w1, b1, w2)


def test_mlp_forward_backward_matches_interpreter_eager_and_torch():
    g, feeds, (w1, b1, w2) = mlp_graph()
    c, got = check(g, feeds)
    # eager: the same program run now
    x = ember.tensor(feeds[0], requires_grad=True)
    h = (x @ w1 + b1).tanh()
    logits = (h.sigmoid() * h) @ w2
    loss = (logits.log_softmax(-1) * -1.0).mean()
    loss.backward()
    assert same_bits(got[0], loss.detach().numpy()) and same_bits(got[1], logits.detach().numpy())
    assert same_bits(got[2], x.grad.numpy())
    import torch

    tx = torch.tensor(feeds[0], requires_grad=True)
    th = (tx @ torch.tensor(w1.numpy()) + torch.tensor(b1.numpy())).tanh()
    tl = (th.sigmoid() * th) @ torch.tensor(w2.numpy())
    tloss = (tl.log_softmax(-1) * -1.0).mean()
    tloss.backward()
    np.testing.assert_allclose(got[0], tloss.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(got[2], tx.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_broadcasting_scalars_and_zero_dim():
    g = Graph("bcast")
    with Building(g):
        a = placeholder(g, (3, 1), ember.float32, "a")
        b = placeholder(g, (4,), ember.float32, "b")
        s = placeholder(g, (), ember.float32, "s")
        d = placeholder(g, (3, 4), ember.float64, "d")
        t = a + b  # (3, 4)
        u = t * s + 2  # 0-d tensor and a Python int
        v = (u - 0.5) / s
        w = v + d  # float32 + float64 promotes (a cast on the node)
        z = (s * s).exp()  # 0-d outputs
        m = w.sum(0) * 3.0
    g.outputs = [u._data.value, w._data.value, z._data.value, m._data.value]
    feeds = [rand(3, 1), rand(4, seed=1), np.array(1.5, np.float32), rand(3, 4, dtype=np.float64, seed=2)]
    check(g, feeds)
    # eager says the same
    ea, eb, es, ed = (ember.tensor(f) for f in feeds)
    eu = (ea + eb) * es + 2
    ew = (eu - 0.5) / es + ed
    got = compile_graph(g)(*feeds)
    assert same_bits(got[0], eu.numpy()) and same_bits(got[1], ew.numpy())


def test_int_and_bool_dtypes():
    g = Graph("ints")
    with Building(g):
        i = placeholder(g, (4, 5), ember.int64, "i")
        j = placeholder(g, (4, 5), ember.int64, "j")
        f = placeholder(g, (4, 5), ember.float32, "f")
        k = (i + j) * 3 - j  # int arithmetic
        m = (k > 0) & (f < 0.5)  # compare + logical
        n = ember.where(m, f, -1.0)
        cnt = m.sum()  # bool sum -> int64
        q = k / 2  # int true division: a float result (a cast on the node)
        r = (i & j) | 1
        s = k.to(ember.float32) + f
    g.outputs = [v._data.value for v in (k, m, n, cnt, q, r, s)]
    rng = np.random.default_rng(0)
    feeds = [rng.integers(-9, 9, (4, 5)), rng.integers(-9, 9, (4, 5)), rand(4, 5)]
    check(g, feeds, other_feeds=[feeds[1], feeds[0], feeds[2] * 2])


def test_views_are_never_overwritten_while_they_live():
    g = Graph("views")
    with Building(g):
        x = placeholder(g, (4, 6), ember.float32, "x")
        y = x * 2.0  # a planned buffer
        v = y.reshape(6, 4)  # a view of it (the op's own kernel)
        p = y.permute(1, 0)  # another view
        e = y[1:3]  # basic indexing: a view
        z = y + 1.0  # y's last direct use: must not be written in place while v, p, e live
        w = v.exp() + p.sum() + e.sum()
        t = (z * 3.0).relu()
    g.outputs = [w._data.value, t._data.value, v._data.value, e._data.value]
    c, got = check(g, [rand(4, 6)])
    # a view returned to the caller keeps its base out of the reused buffers
    assert not any(np.shares_memory(got[2], b) for b in c._buffers[np])


def _linreg_state_check(g, feeds, state, steps=3):
    """Run ``steps`` updates with the interpreter and with the compiled code from the same start."""
    c = compile_graph(g, g.name)
    w, b = state["w"], state["b"]
    w0, b0 = w._data.copy(), b._data.copy()
    want = []
    for _ in range(steps):
        want.append(
            (run(g, g.outputs, g.state_writes, feeds=dict(zip(g.inputs, feeds)))[0], w._data.copy(), b._data.copy())
        )
    w_arr = w._data
    w._data[...] = w0
    b._data[...] = b0
    v0 = w._version
    for loss, wr, br in want:
        (got,) = c(*feeds)
        assert same_bits(got, loss) and same_bits(w._data, wr) and same_bits(b._data, br)
    assert w._data is w_arr, "parameters are updated in place (optimizers and views hold the array)"
    assert w._version > v0, "an in-place state update bumps the version counter"
    return c


def test_state_updates_match_interpreter_and_eager():
    g, feeds, state = gm.linreg_step()
    c = _linreg_state_check(g, feeds, state)
    assert len(c.plan.direct) == 2  # both updates written straight into the parameters
    # eager SGD from the same start gives the same parameters, bitwise
    g2, feeds2, st2 = gm.linreg_step()
    w = ember.tensor(st2["w"]._data.copy(), requires_grad=True)
    b = ember.tensor(st2["b"]._data.copy(), requires_grad=True)
    x, y = ember.tensor(feeds2[0]), ember.tensor(feeds2[1])
    pred = x @ w + b
    loss = ((pred - y) * (pred - y)).mean()
    loss.backward()
    with ember.no_grad():
        w_new = w - 0.1 * w.grad
    (got,) = compile_graph(g2)(*feeds2)
    assert same_bits(got, loss.detach().numpy())
    assert same_bits(st2["w"]._data, w_new.numpy())


def test_host_scalar_is_read_every_call():
    g, feeds, state = gm.linreg_step(lr=0.1)
    c = compile_graph(g)
    w0 = state["w"]._data.copy()
    state["lr"][0] = 0.0  # the getter is called at run time: no update
    c(*feeds)
    assert same_bits(state["w"]._data, w0)
    state["lr"][0] = 0.5
    c(*feeds)
    assert not same_bits(state["w"]._data, w0)


def test_state_update_not_in_place_when_old_value_is_read_later():
    w = ember.tensor(rand(3, 3))
    g = Graph("late_read")
    with Building(g, capture="state"):
        x = placeholder(g, (3, 3), ember.float32, "x")
        slot, wt = gm.read_state(g, "w", w)
        new = wt * 0.5 + x
        later = wt * 2.0 + new  # reads the old value after the update was computed
        gm.assign(g, slot, new)
    g.outputs = [later._data.value]
    c = compile_graph(g)
    assert not c.plan.direct  # the update may not overwrite w while `later` still needs it
    w0 = w._data.copy()
    feeds = [rand(3, 3, seed=1)]
    want = run(g, g.outputs, g.state_writes, feeds=dict(zip(g.inputs, feeds)))
    w_want = w._data.copy()
    w._data[...] = w0
    assert_same(c(*feeds), want)
    assert same_bits(w._data, w_want)
    assert same_bits(want[0], w0 * np.float32(2.0) + (w0 * np.float32(0.5) + feeds[0]))


def test_plain_slot_store_and_uninitialized_error():
    slot = Slot("v", (2, 3), np.dtype(np.float32))
    g = Graph("slot")
    node = g.add(ir.READ, None, (), {"slot": slot}, [(slot.shape, slot.dtype)], name="v")
    with Building(g):
        x = placeholder(g, (2, 3), ember.float32, "x")
        v = symbolic_tensor(node.out)
        new = v + x
    gm.assign(g, slot, new)
    g.outputs = [new._data.value]
    store = {slot: rand(2, 3)}
    first = store[slot]
    c = compile_graph(g)
    (a,) = c(rand(2, 3, seed=1), store=store)
    assert store[slot] is a and same_bits(first, rand(2, 3))  # a plain slot is rebound, never overwritten
    (b,) = c(rand(2, 3, seed=1), store=store)
    assert same_bits(b, a + rand(2, 3, seed=1)) and not np.shares_memory(a, b)
    from ember.graph.execute import FailedPreconditionError

    with pytest.raises(FailedPreconditionError, match="uninitialized value v"):
        c(rand(2, 3), store={slot: None})


def test_dynamic_batch_dim_runs_without_planned_buffers():
    g = Graph("dyn")
    w = ember.tensor(rand(3, 2))
    with Building(g):
        x = placeholder(g, (None, 3), ember.float32, "x")
        h = (x @ w).relu()
        loss = (h * h).mean()
        (gx,) = gradients(loss, [x])
    g.outputs = [loss._data.value, gx._data.value]
    c = compile_graph(g)
    assert not c.plan.buffers
    for n in (1, 4, 7):
        feeds = [rand(n, 3, seed=n)]
        assert_same(c(*feeds), run(g, g.outputs, feeds=dict(zip(g.inputs, feeds))))


def test_repeated_calls_reuse_buffers_and_plan_saves_memory():
    g, feeds, _ = mlp_graph(batch=32)
    c, _ = check(g, feeds)
    bufs = c._buffers[np]
    c(*feeds)
    assert c._buffers[np] is bufs and all(a is b for a, b in zip(c._buffers[np], bufs))
    plan = c.plan
    assert plan.planned_bytes == sum(b.nbytes for b in plan.buffers)
    assert plan.planned_bytes < plan.naive_bytes
    assert plan.inplace and plan.groups
    report = c.memory_report()
    assert f"{plan.naive_bytes:,}" in report and f"{plan.planned_bytes:,}" in report


def test_fusion_groups_chain_and_comment():
    g, feeds = gm.fused_chain()
    fused = fuse_elementwise(g)
    assert [[n.op.name for n in grp] for grp in fused.fusion_groups] == [["mul", "add", "tanh", "mul", "relu"]]
    assert fused.nodes == g.nodes and all(not n.meta for n in g.nodes)  # the pass annotates, nodes untouched
    planned = plan_memory(fused)
    c = compile_graph(planned)
    assert c.plan is planned.memory_plan  # the pipeline's plan is used when it matches
    assert "# fused: mul -> add -> tanh -> mul -> relu" in c.code
    assert len(c.plan.buffers) == 1  # the whole chain computes in one buffer
    check(g, feeds)


def test_fusion_stops_at_values_with_two_consumers_and_outputs():
    g = Graph("branch")
    with Building(g):
        a = placeholder(g, (5,), ember.float32, "a")
        t = a.exp()
        u = t * 2.0  # t has two consumers
        v = t + u
        w = v.tanh()
        z = w * 3.0
    g.outputs = [v._data.value, z._data.value]  # v is returned: z may not overwrite it
    groups = fuse_elementwise(g).fusion_groups
    for grp in groups:
        assert all(n.out not in g.outputs for n in grp[:-1])
        assert t._data.value.node not in grp[:-1]
    check(g, [rand(5)])


def test_generated_lines_point_at_user_lines():
    g = Graph("lines")
    with Building(g):
        x = placeholder(g, (2, 2), ember.float32, "x")
        y = x.exp() * 2.0
        line_y = inspect.currentframe().f_lineno - 1
        z = y.sum()
        line_z = inspect.currentframe().f_lineno - 1
    g.outputs = [z._data.value]
    code = compile_graph(g).code
    src = pathlib.Path(__file__).read_text().splitlines()
    for line in (line_y, line_z):
        assert f"# test_codegen.py:{line}  {src[line - 1].strip()}" in code
    assert "exp = xp.exp(x" in code  # values are named after their nodes
    assert "del " in code


def test_kernel_error_names_the_node_and_line():
    g = Graph("err")
    with Building(g):
        a = placeholder(g, (None, 3), ember.float32, "a")
        b = placeholder(g, (None, 3), ember.float32, "b")
        c = a @ b.permute(1, 0)
        line = inspect.currentframe().f_lineno - 1
        d = c + a.sum()
    g.outputs = [d._data.value]
    compiled = compile_graph(g)
    with pytest.raises(ValueError, match=rf"node 'matmul' \(matmul\), created at .*test_codegen.py:{line}"):
        compiled(rand(2, 4), rand(2, 3))


def test_stale_pipeline_annotations_are_ignored():
    g, feeds = gm.fused_chain()
    planned = plan_memory(fuse_elementwise(g))
    shorter = planned.copy_with(planned.nodes[:-1], outputs=[planned.nodes[-2].out])  # a later pass rewrote it
    c = compile_graph(shorter)
    assert c.plan is not planned.memory_plan
    assert_same(c(*feeds), run(shorter, shorter.outputs, feeds=dict(zip(shorter.inputs, feeds))))


# ---- golden snapshots of the generated source ----------------------------------------------------
@pytest.mark.parametrize("name", ["mlp_forward", "linreg_step", "fused_chain"])
def test_golden_code(name):
    r = getattr(gm, name)()
    g = r[0]
    code = compile_graph(g, name).code
    path = GOLDEN / f"{name}.py.txt"
    if os.environ.get("EMBER_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(code)
    assert path.exists(), f"no golden file {path}: run with EMBER_UPDATE_GOLDEN=1 to create it"
    assert code == path.read_text(), f"generated code for {name} changed; EMBER_UPDATE_GOLDEN=1 accepts it"


def test_after_the_optimisation_pipeline_still_bitwise():
    from ember.compiler import optimize

    g, feeds, _ = mlp_graph()
    opt = optimize(g)
    assert getattr(opt, "memory_plan", None) is not None  # fuse_elementwise and plan_memory ran in PASSES
    c = compile_graph(opt)
    assert c.plan is opt.memory_plan
    assert_same(c(*feeds), run(g, g.outputs, feeds=dict(zip(g.inputs, feeds))))
    g2, feeds2, state = gm.linreg_step()
    _linreg_state_check(optimize(g2), feeds2, state)


def _random_graph(seed):
    """A random program over element-wise ops, views, reductions and matmuls on a few shapes."""
    rng = np.random.default_rng(seed)
    g = Graph(f"random{seed}")
    w = ember.tensor(rand(5, 5, seed=seed))
    with Building(g):
        a = placeholder(g, (4, 5), ember.float32, "a")
        b = placeholder(g, (4, 5), ember.float32, "b")
        c = placeholder(g, (5,), ember.float32, "c")
        pool = [a, b, c]
        for _ in range(int(rng.integers(6, 16))):
            x = pool[int(rng.integers(len(pool)))]
            y = pool[int(rng.integers(len(pool)))]
            k = int(rng.integers(11))
            if k == 0:
                z = x.exp() if x.ndim else x * 2.0
            elif k == 1:
                z = x.tanh()
            elif k == 2:
                z = x.relu() - 0.25
            elif k == 3:
                z = x + y
            elif k == 4:
                z = x * y
            elif k == 5:
                z = x / (y.abs() + 1.0)
            elif k == 6:  # views of a value, brought back to its shape
                z = x.permute(1, 0).reshape(*x.shape) + 1.0 if x.ndim == 2 else x.reshape(1, 5)[0] * 3.0
            elif k == 7:
                z = x.sum(0) if x.ndim == 2 else x.sum() + x
            elif k == 8:
                z = (x @ w) if x.ndim == 2 else x @ w
            elif k == 9:
                z = ember.where(x > 0, x, y)
            else:
                z = x.sigmoid() * y
            pool.append(z)
        outs = {id(t): t for t in (pool[-1], pool[int(rng.integers(3, len(pool)))])}
    g.outputs = [t._data.value for t in outs.values()]
    return g, [rand(4, 5, seed=seed + 1), rand(4, 5, seed=seed + 2), rand(5, seed=seed + 3)]


@pytest.mark.parametrize("seed", range(40))
def test_random_programs_bitwise(seed):
    g, feeds = _random_graph(seed)
    check(g, feeds)


@pytest.mark.parametrize("seed", range(30))
def test_random_state_updates_bitwise(seed):
    """Random programs that read two parameters and write values back: same outputs and state as run."""
    rng = np.random.default_rng(seed)
    w1, w2 = ember.tensor(rand(4, 5, seed=seed + 7)), ember.tensor(rand(5, seed=seed + 8))
    g = Graph("state")
    with Building(g, capture="state"):
        a = placeholder(g, (4, 5), ember.float32, "a")
        s1, r1 = gm.read_state(g, "w1", w1)
        s2, r2 = gm.read_state(g, "w2", w2)
        pool = [a, r1, r2]
        for _ in range(int(rng.integers(3, 10))):
            x, y = pool[int(rng.integers(len(pool)))], pool[int(rng.integers(len(pool)))]
            k = int(rng.integers(6))
            if k == 0:
                z = x * 0.5 + y
            elif k == 1:
                z = x.tanh()
            elif k == 2:
                z = x.permute(1, 0).reshape(*x.shape) - 1.0 if x.ndim == 2 else x * y
            elif k == 3:
                z = x - y
            elif k == 4:
                z = ember.where(x > 0, x, 0.0)
            else:
                z = x.sum(0) if x.ndim == 2 else x.exp()
            pool.append(z)
        for slot, shape in ((s1, (4, 5)), (s2, (5,))):
            fits = [p for p in pool[3:] if p.shape == shape]
            if fits:
                gm.assign(g, slot, fits[int(rng.integers(len(fits)))])
        if rng.integers(2):
            pool.append(pool[int(rng.integers(len(pool)))] * 1.5)
    g.outputs = [pool[-1]._data.value]
    feeds = [rand(4, 5, seed=seed)]
    start = (w1._data.copy(), w2._data.copy())
    want = []
    for _ in range(2):
        (o,) = run(g, g.outputs, g.state_writes, feeds=dict(zip(g.inputs, feeds)))
        want.append((o.copy(), w1._data.copy(), w2._data.copy()))
    w1._data[...], w2._data[...] = start
    c = compile_graph(g)
    for o, v1, v2 in want:
        (got,) = c(*feeds)
        assert same_bits(got, o) and same_bits(w1._data, v1) and same_bits(w2._data, v2)


@pytest.mark.parametrize("return_view", [False, True])
def test_momentum_update_written_in_place_unless_a_view_escapes(return_view):
    m, p = ember.tensor(rand(4, 5, seed=1)), ember.tensor(rand(4, 5, seed=2))
    g = Graph("momentum")
    with Building(g, capture="state"):
        grad = placeholder(g, (4, 5), ember.float32, "grad")
        ms, mt = gm.read_state(g, "m", m)
        ps, pt = gm.read_state(g, "p", p)
        m_new = mt * 0.9 + grad * 0.1  # also read by the parameter update below
        gm.assign(g, ms, m_new)
        gm.assign(g, ps, pt - m_new * 0.01)
        out = m_new.reshape(5, 4) if return_view else (m_new * m_new).sum()
    g.outputs = [out._data.value]
    c = compile_graph(g)
    direct = {s.name for s in c.plan.direct.values()}
    assert direct == ({"p"} if return_view else {"m", "p"})
    start = (m._data.copy(), p._data.copy())
    feeds = [rand(4, 5, seed=3)]
    want = []
    for _ in range(2):
        (o,) = run(g, g.outputs, g.state_writes, feeds=dict(zip(g.inputs, feeds)))
        want.append((o.copy(), m._data.copy(), p._data.copy()))
    m._data[...], p._data[...] = start
    got = []
    for o, mv, pv in want:
        (r,) = c(*feeds)
        got.append(r)
        assert same_bits(r, o) and same_bits(m._data, mv) and same_bits(p._data, pv)
    assert same_bits(got[0], want[0][0])  # the first result was not changed by the second step


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64", "int32", "uint8", "int8"])
def test_other_dtypes_with_python_scalars(dtype):
    dt = getattr(ember, dtype, None)
    if dt is None:
        pytest.skip(f"no {dtype}")
    g = Graph(dtype)
    with Building(g):
        a = placeholder(g, (3, 4), dt, "a")
        b = placeholder(g, (4,), dt, "b")
        z = (a + b) * 2 + 1.5  # ints promote to the default float dtype; bfloat16 casts its scalars
        w = (a - 1) * b
        r = z.sum(0) + w.sum()
        q = ember.where(a > b, a, b)
        u = a.to(ember.float32) / 3
    g.outputs = [v._data.value for v in (z, w, r, q, u)]
    rng = np.random.default_rng(0)
    feeds = [rng.integers(0, 9, (3, 4)).astype(dt.np), rng.integers(0, 9, (4,)).astype(dt.np)]
    check(g, feeds, other_feeds=[feeds[1][None].repeat(3, 0), feeds[0][0]])


def test_host_scalar_arithmetic_is_python_expressions():
    box = [3.0]
    g = Graph("host")
    with Building(g):
        x = placeholder(g, (3,), ember.float32, "x")
        h = host_input(lambda: box[0], name="h", graph=g)
        k = (-2) ** h + 1 / h - (h * 0.5) ** 2  # host arithmetic, evaluated at run time
        y = x * k
    g.outputs = [y._data.value]
    c = compile_graph(g)
    assert "(-2) ** h" in c.code
    for value in (3.0, 2.0):
        box[0] = value
        assert_same(c(rand(3)), run(g, g.outputs, feeds={g.inputs[0]: rand(3)}))
