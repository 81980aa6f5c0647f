"""The compiler's fast paths compute eager's bits: where as a bit mask, Fortran-ordered buffers,
.grad arrays handed over without a copy, large buffers allocated per call and freed after use."""

from __future__ import annotations

import numpy as np

import ember
from ember.compiler.codegen import compile_graph
from ember.compiler.memory import HOLD_BYTES
from ember.graph import Building, Graph, run
from ember.graph.build import placeholder


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


def _check(g, feeds):
    c = compile_graph(g, g.name)
    want = run(g, g.outputs, feeds=dict(zip(g.inputs, feeds)))
    for _ in range(2):  # the second call reuses whatever the first one kept
        got = c(*feeds)
        assert len(got) == len(want)
        for i, (a, b) in enumerate(zip(got, want)):
            assert same_bits(a, b), f"output {i}"
    return c


def _special(shape, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    flat[:5] = [-0.0, np.nan, np.inf, -np.inf, 0.0]
    return x


def test_where_with_a_zero_branch_is_a_bit_mask_with_where_bits():
    for dtype, dt in ((np.float32, ember.float32), (np.float64, ember.float64)):
        g = Graph("where_mask")
        with Building(g):
            x = placeholder(g, (6, 7), dt, "x")
            m = placeholder(g, (6, 7), dt, "m")
            c = m > 0
            a = ember.where(c, x * 2, 0.0) + 1  # the buffered form (a value that dies inside)
            b = ember.where(c, 0.0, x * 3) + 1
            r = ember.where(c[:1], x * 2, 0.0) + 1  # a broadcast condition
        g.outputs = [a._data.value, b._data.value, r._data.value]
        c = _check(g, [_special((6, 7), dtype), _special((6, 7), dtype, seed=1)])
        assert "bitwise_and" in c.code  # the path under test ran


def test_negative_zero_branch_is_not_masked():
    g = Graph("where_negzero")
    with Building(g):
        x = placeholder(g, (4, 5), ember.float32, "x")
        a = ember.where(x > 0, x * 2, -0.0) + 0.0
    g.outputs = [a._data.value]
    c = _check(g, [_special((4, 5), np.float32)])
    assert "bitwise_and" not in c.code  # -0.0 is not the all-zero bit pattern


def test_elementwise_ops_on_transposed_values_get_fortran_buffers():
    g = Graph("fortran")
    with Building(g):
        x = placeholder(g, (40, 30), ember.float32, "x")
        w = placeholder(g, (40, 50), ember.float32, "w")
        t = (x.T @ w).T  # (50, 30), Fortran-ordered like a weight gradient
        y = t * t + 0.5
        s = y.sum(dim=0)  # the reduction sees the layout eager would give it
        z = y @ x.T
    g.outputs = [y._data.value, s._data.value, z._data.value]
    c = _check(g, [_special((40, 30), np.float32), _special((40, 50), np.float32, seed=2)])
    assert any(b.order == "F" for b in c.plan.buffers)
    got = c(_special((40, 30), np.float32), _special((40, 50), np.float32, seed=2))
    assert got[0].flags.f_contiguous  # as NumPy lays out a fresh result of transposed inputs


def _step(model, opt, x, y):
    opt.zero_grad()
    loss = ember.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def _mlp(seed):
    ember.manual_seed(seed)
    nn = ember.nn
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def test_training_step_grads_are_eagers_and_large_buffers_are_not_held():
    rng = np.random.default_rng(0)
    xs = [ember.from_numpy(rng.standard_normal((32, 64)).astype(np.float32)) for _ in range(4)]
    ys = [ember.from_numpy(rng.integers(0, 10, 32).astype(np.int64)) for _ in range(4)]
    m_e, m_c = _mlp(0), _mlp(0)
    o_e = ember.optim.Adam(m_e.parameters(), lr=1e-3)
    o_c = ember.optim.Adam(m_c.parameters(), lr=1e-3)
    step = ember.compile(lambda x, y: _step(m_c, o_c, x, y))
    for x, y in zip(xs, ys):
        le, lc = _step(m_e, o_e, x, y), step(x, y)
        assert same_bits(le._data, lc._data)
        for pe, pc in zip(m_e.parameters(), m_c.parameters()):
            assert same_bits(pe._data, pc._data) and same_bits(pe.grad._data, pc.grad._data)
            # the .grad keeps eager's layout (a later eager reduction over it sums in eager's order)
            assert pe.grad._data.flags.f_contiguous == pc.grad._data.flags.f_contiguous
    compiled = step._last.runner.compiled
    assert all(b.nbytes <= HOLD_BYTES for b in compiled.plan.preallocated)
    held = [b for group in compiled._buffers.values() for b in group]
    for p in m_c.parameters():  # a handed-over .grad never lives in a buffer the next call overwrites
        assert not any(np.shares_memory(p.grad._data, b) for b in held)
    assert "._grad = None" in compiled.code  # the 256x256 gradient is released up front, as zero_grad does
    # eager copies a gradient that is a view (a transposed weight gradient) before it becomes the
    # .grad; the trace records that copy, so the optimizer reads a C-ordered array, as eager's does
    assert any(n.op_name == "clone" for n in step.traced_graph.nodes)


def test_batch_norm_mean_computed_once_same_bits_as_eager_and_torch():
    """x.mean(dims) and x.mean(dims, keepdim=True) are one value: ``x - mean`` is kept once."""
    import torch

    from ember.compiler import optimize

    rng = np.random.default_rng(3)
    xn = rng.standard_normal((8, 6, 5, 5)).astype(np.float32) * 3
    g = Graph("bn")
    with Building(g):
        x = placeholder(g, (8, 6, 5, 5), ember.float32, "x")
        mean = x.mean(dim=(0, 2, 3))
        var = ((x - x.mean(dim=(0, 2, 3), keepdim=True)) ** 2).mean(dim=(0, 2, 3))
        y = (x - mean.reshape(1, 6, 1, 1)) * (var + 1e-5).rsqrt().reshape(1, 6, 1, 1)
    g.outputs = [y._data.value, mean._data.value, var._data.value]
    opt = optimize(g)
    subs = [n for n in opt.nodes if n.kind == "op" and n.op.name == "sub"]
    assert len(subs) == 1, [n.name for n in subs]  # both ``x - mean`` merged
    want = run(g, g.outputs, feeds={g.inputs[0]: xn})
    got = compile_graph(opt, "bn")(xn)
    for a, b in zip(got, want):
        assert same_bits(a, b)
    # and eager computes the same bits (the graph interpreter runs eager's kernels); torch agrees closely
    xt = torch.from_numpy(xn)
    m = xt.mean(dim=(0, 2, 3), keepdim=True)
    ref = (xt - m) * torch.rsqrt(((xt - m) ** 2).mean(dim=(0, 2, 3), keepdim=True) + 1e-5)
    np.testing.assert_allclose(got[0], ref.numpy(), rtol=1e-5, atol=1e-5)


def test_reshape_of_a_broadcast_operand_is_not_unified():
    """Element positions line up only without stretching: with a broadcast (1,) operand nothing is unified."""
    from ember.compiler import optimize

    rng = np.random.default_rng(4)
    g = Graph("nobcast")
    with Building(g):
        x = placeholder(g, (4, 3), ember.float32, "x")
        b = placeholder(g, (1,), ember.float32, "b")
        s1 = x.sum(dim=0) + b  # (3,)
        s2 = x.sum(dim=0, keepdim=True) + b  # (1, 3): the same elements
        r = s1.reshape(1, 3)
        out = r * 2 + s2
    g.outputs = [out._data.value]
    feeds = {g.inputs[0]: rng.standard_normal((4, 3)).astype(np.float32), g.inputs[1]: np.full(1, 0.1, np.float32)}
    want = run(g, g.outputs, feeds=feeds)
    opt = optimize(g)
    assert any(n.kind == "op" and n.op.name == "reshape" for n in opt.nodes)  # not replaced
    got = run(opt, opt.outputs, feeds=dict(zip(opt.inputs, feeds.values())))
    assert same_bits(got[0], want[0])
    assert same_bits(compile_graph(opt, "nobcast")(*feeds.values())[0], want[0])
