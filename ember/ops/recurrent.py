"""The LSTM recurrence as one primitive, and its backward (BPTT) as another.

Written op by op, an LSTM step is a GEMM plus about a dozen elementwise ops, each
with a tape node; over 35 steps that per-op cost dominated a small language model's
training step. ``lstm_recurrence`` runs the whole time loop inside one kernel and
keeps what backward needs (the cell states and the activated gates) as extra
outputs, so ``lstm_recurrence_backward`` walks back through time without
recomputing a GEMM. The input projection ``xw = x @ W_ih^T + b`` and the final
weight-gradient GEMM stay outside, as ordinary ops.

Shapes: xw (L, N, 4H) with PyTorch's gate order i, f, g, o; h0, c0 (N, H);
w_hh_t (H, 4H), i.e. ``W_hh.T``. Outputs: out (L, N, H), h_n, c_n (N, H),
cells (L, N, H) and gates (L, N, 4H), the last two only for backward.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..op import NN, primitive


def _sigmoid_(xp, a):
    """In place: 1 / (1 + exp(-a)), ops.sigmoid's formula bit for bit (callers silence exp's overflow)."""
    # not xp.negative(a, out=a): NumPy 2.4 negates a one-column view with a 16-byte row stride in place
    # wrongly (reads the wrong elements); multiplying by -1 is the same exact sign flip
    xp.multiply(a, -1, out=a)
    xp.exp(a, out=a)
    a += 1
    xp.reciprocal(a, out=a)
    return a


def _steps(n, reverse):
    return range(n - 1, -1, -1) if reverse else range(n)


def _lstm_impl(xp, xw, h0, c0, w_hh_t, reverse=False):
    L, N, G = xw.shape
    H = G // 4
    if L == 0:
        dt = xp.result_type(xw.dtype, h0.dtype)
        e = xp.empty((0, N, H), dtype=dt)
        return e, h0.astype(dt), c0.astype(dt), e.copy(), xp.empty((0, N, G), dtype=dt)
    dt = xp.result_type(xw.dtype, h0.dtype, c0.dtype, w_hh_t.dtype)
    out = xp.empty((L, N, H), dtype=dt)
    cells = xp.empty((L, N, H), dtype=dt)
    gates = xp.empty((L, N, G), dtype=dt)
    h, c = h0.astype(dt, copy=False), c0.astype(dt, copy=False)
    quiet = np.errstate(over="ignore") if xp is np else contextlib.nullcontext()
    with quiet:
        _lstm_loop(xp, xw, w_hh_t, h, c, out, cells, gates, H, _steps(L, reverse))
    return out, out[L - 1 if not reverse else 0].copy(), cells[L - 1 if not reverse else 0].copy(), cells, gates


def _lstm_loop(xp, xw, w_hh_t, h, c, out, cells, gates, H, steps):
    for t in steps:
        a = gates[t]
        xp.matmul(h, w_hh_t, out=a)
        a += xw[t]
        _sigmoid_(xp, a[:, : 2 * H])
        xp.tanh(a[:, 2 * H : 3 * H], out=a[:, 2 * H : 3 * H])
        _sigmoid_(xp, a[:, 3 * H :])
        c_new = cells[t]
        xp.multiply(a[:, H : 2 * H], c, out=c_new)
        c_new += a[:, :H] * a[:, 2 * H : 3 * H]
        h = out[t]
        xp.tanh(c_new, out=h)
        h *= a[:, 3 * H :]
        c = c_new


def _lstm_shape(xw, h0, c0, w_hh_t, reverse=False):
    L, N, G = xw.shape
    H = None if G is None else G // 4
    return (L, N, H), (N, H), (N, H), (L, N, H), (L, N, G)


def _lstm_vjp(g, xw, h0, c0, w_hh_t, *, out, reverse=False, **_):
    g_out, g_h, g_c = g[0], g[1], g[2]
    if g[3] is not None or g[4] is not None:
        raise RuntimeError("lstm_recurrence: its cell-state and gate outputs are for backward only")
    from .. import ops as F
    from ..autograd.grad_mode import is_grad_enabled

    if is_grad_enabled():  # backward with create_graph: a gradient that can itself be differentiated
        return _lstm_vjp_differentiable(F, (g_out, g_h, g_c), xw, h0, c0, w_hh_t, reverse)

    _, _, _, cells, gates = out
    g_out = F.zeros_like(out[0]) if g_out is None else g_out
    g_h = F.zeros_like(out[1]) if g_h is None else g_h
    g_c = F.zeros_like(out[2]) if g_c is None else g_c
    d_xw, d_h0, d_c0 = lstm_recurrence_backward(g_out, g_h, g_c, out[0], cells, gates, h0, c0, w_hh_t, reverse=reverse)

    # W_hh's gradient is one GEMM over every step: sum_t h_{t-1}^T @ d_gates[t]
    L, N, G = gates.shape
    h_prev = _previous(F, out[0], h0, reverse)
    d_w = F.matmul(F.mT(F.reshape(h_prev, (L * N, G // 4))), F.reshape(d_xw, (L * N, G)))
    return d_xw, d_h0, d_c0, d_w


def _lstm_ops(F, xw, h, c, w_hh_t, reverse):
    """The same recurrence written op by op (differentiable any number of times)."""
    L, H = xw.shape[0], xw.shape[2] // 4
    outs = [None] * L
    for t in _steps(L, reverse):
        a = xw[t] + F.matmul(h, w_hh_t)
        i, f, g, o = (
            F.sigmoid(a[:, :H]),
            F.sigmoid(a[:, H : 2 * H]),
            F.tanh(a[:, 2 * H : 3 * H]),
            F.sigmoid(a[:, 3 * H :]),
        )
        c = f * c + i * g
        h = o * F.tanh(c)
        outs[t] = h
    out = F.stack(outs) if L else F.zeros_like(xw[..., :H])
    return out, h, c


def _lstm_vjp_differentiable(F, grads, xw, h0, c0, w_hh_t, reverse):
    from ..autograd import grad as autograd_grad
    from ..autograd.grad_mode import enable_grad

    inputs = [xw, h0, c0, w_hh_t]
    wanted = [t for t in inputs if t.requires_grad]
    with enable_grad():
        outs = _lstm_ops(F, xw, h0, c0, w_hh_t, reverse)
        pairs = [(o, g) for o, g in zip(outs, grads) if g is not None and o.requires_grad]
        got = autograd_grad([o for o, _ in pairs], wanted, [g for _, g in pairs], create_graph=True, allow_unused=True)
    by_id = {id(t): r for t, r in zip(wanted, got)}
    return tuple(by_id.get(id(t)) for t in inputs)


def _previous(F, seq, first, reverse):
    """The state each step started from: ``first`` then ``seq`` shifted by one step in time."""
    if seq.shape[0] == 0:
        return seq
    if reverse:
        return F.cat([seq[1:], F.unsqueeze(first, 0)], 0)
    return F.cat([F.unsqueeze(first, 0), seq[:-1]], 0)


lstm_recurrence = primitive(
    "lstm_recurrence",
    kind=NN,
    impl=_lstm_impl,
    shape=_lstm_shape,
    vjp=_lstm_vjp,
    dtype="promote",
    saves=(0, 1, 2, 3, "out"),  # xw only for a differentiable (create_graph) backward
    nout=5,
    sample=dict(cases="internal"),  # tested through nn.LSTM against PyTorch and by gradcheck (tests/test_nn_rnn.py)
    doc="An LSTM's time loop: out, h_n, c_n (and, for backward, cell states and activated gates).",
)


def _lstm_backward_impl(xp, g_out, g_h, g_c, out, cells, gates, h0, c0, w_hh_t, reverse=False):
    L, N, G = gates.shape
    H = G // 4
    dt = gates.dtype
    d_gates = xp.empty((L, N, G), dtype=dt)
    dh = g_h.astype(dt, copy=True)
    dc = g_c.astype(dt, copy=True)
    w_t = w_hh_t.T
    order = _steps(L, reverse)
    for t in reversed(order):
        first = t == (L - 1 if reverse else 0)
        c_prev = c0 if first else cells[t + 1 if reverse else t - 1]
        a = gates[t]
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        dh += g_out[t]
        tc = xp.tanh(cells[t])
        d = d_gates[t]
        # output gate: d o_pre = dh * tanh(c) * o (1 - o)
        xp.multiply(dh, tc, out=d[:, 3 * H :])
        d[:, 3 * H :] *= o * (1 - o)
        # cell: dc += dh * o * (1 - tanh(c)^2)
        tc *= tc
        xp.subtract(1, tc, out=tc)
        tc *= o
        tc *= dh
        dc += tc
        # input, forget and candidate gates
        xp.multiply(dc, g, out=d[:, :H])
        d[:, :H] *= i * (1 - i)
        xp.multiply(dc, c_prev, out=d[:, H : 2 * H])
        d[:, H : 2 * H] *= f * (1 - f)
        xp.multiply(dc, i, out=d[:, 2 * H : 3 * H])
        d[:, 2 * H : 3 * H] *= 1 - g * g
        dc *= f
        dh = xp.matmul(d, w_t)
    return d_gates, dh, dc


def _lstm_backward_shape(g_out, g_h, g_c, out, cells, gates, h0, c0, w_hh_t, reverse=False):
    L, N, G = gates.shape
    H = None if G is None else G // 4
    return (L, N, G), (N, H), (N, H)


lstm_recurrence_backward = primitive(
    "lstm_recurrence_backward",
    kind=NN,
    impl=_lstm_backward_impl,
    shape=_lstm_backward_shape,
    dtype="promote",
    nout=3,
    sample=dict(cases="internal"),
    doc="Backpropagation through an LSTM's time loop: d xw, d h0, d c0 (not differentiable again).",
)
