"""``nn.RNN``/``LSTM``/``GRU`` and their cells against PyTorch with identical weights.

Each case builds the torch module, loads its ``state_dict`` (via NumPy) into the
ember module of the same configuration (so parameter names and shapes must
match), runs the same input, and compares outputs, final states, and the
gradients of the input, the initial states and every parameter.

Tolerance: ``rtol=1e-5`` in float32 with an absolute floor of ``1e-5`` times the
tensor's largest magnitude; element-wise relative error alone is meaningless for
gradient entries that cancel to near zero over the unrolled time steps.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember
from ember import nn

RTOL = 1e-5


@pytest.fixture(autouse=True)
def _torch_one_thread():
    """PyTorch on one thread and without oneDNN (which JIT-compiles per shape): tiny reference ops
    otherwise cost 20 ms each in OpenMP waits on a loaded 2-core machine. Same math either way."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.backends.mkldnn.flags(enabled=False):
            yield
    finally:
        torch.set_num_threads(n)


def _close(e, t, what=""):
    e = e.detach().numpy() if hasattr(e, "detach") else np.asarray(e)
    t = t.detach().numpy()
    assert e.shape == t.shape, (what, e.shape, t.shape)
    scale = float(np.abs(t).max()) if t.size else 0.0
    np.testing.assert_allclose(e, t, rtol=RTOL, atol=RTOL * max(scale, 1e-3), err_msg=what)


def _load(em, tm):
    assert list(em.state_dict()) == list(tm.state_dict())
    res = em.load_state_dict({k: ember.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    assert not res.missing_keys and not res.unexpected_keys


def _pair(cls_name, *args, **kwargs):
    torch.manual_seed(0)
    tm = getattr(torch.nn, cls_name)(*args, **kwargs)
    em = getattr(nn, cls_name)(*args, **kwargs)
    _load(em, tm)
    return em, tm


def _leaf(rng, shape):
    a = rng.standard_normal(shape).astype(np.float32)
    return ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


MODES = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]
CONFIGS = [
    dict(num_layers=1),
    dict(num_layers=2),
    dict(num_layers=1, bidirectional=True),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(num_layers=2, bias=False),
]


def _run_case(cls_name, kw, cfg, batched=True, with_state=False, seed=0, sizes=(5, 6, 7, 3)):
    rng = np.random.default_rng(seed)
    I, H, L, N = sizes
    em, tm = _pair(cls_name, I, H, **kw, **cfg)
    D = 2 if cfg.get("bidirectional") else 1
    nl = cfg.get("num_layers", 1)
    Hout = kw.get("proj_size") or H
    if batched:
        xshape = (N, L, I) if cfg.get("batch_first") else (L, N, I)
        hshape, cshape = (nl * D, N, Hout), (nl * D, N, H)
    else:
        xshape, hshape, cshape = (L, I), (nl * D, Hout), (nl * D, H)
    ex, tx = _leaf(rng, xshape)
    leaves = [(ex, tx, "input")]
    ehx = thx = None
    if with_state:
        eh, th = _leaf(rng, hshape)
        leaves.append((eh, th, "h0"))
        if cls_name == "LSTM":
            ec, tc = _leaf(rng, cshape)
            leaves.append((ec, tc, "c0"))
            ehx, thx = (eh, ec), (th, tc)
        else:
            ehx, thx = eh, th
    eo, es = em(ex, ehx)
    to, ts = tm(tx, thx)
    _close(eo, to, "output")
    es = es if isinstance(es, tuple) else (es,)
    ts = ts if isinstance(ts, tuple) else (ts,)
    assert len(es) == len(ts)
    for a, b in zip(es, ts):
        _close(a, b, "final state")
    # a loss that weighs every output and state element differently
    w_out = rng.standard_normal(tuple(to.shape)).astype(np.float32)
    w_st = [rng.standard_normal(tuple(t.shape)).astype(np.float32) for t in ts]
    e_loss = (eo * ember.tensor(w_out)).sum() + sum((a * ember.tensor(w)).sum() for a, w in zip(es, w_st))
    t_loss = (to * torch.tensor(w_out)).sum() + sum((a * torch.tensor(w)).sum() for a, w in zip(ts, w_st))
    e_loss.backward()
    t_loss.backward()
    for e, t, name in leaves:
        _close(e.grad, t.grad, f"grad of {name}")
    for (name, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        _close(ep.grad, tp.grad, f"grad of {name}")


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m[0] + ("-relu" if m[1] else ""))
def test_layer_matches_torch(mode, cfg):
    _run_case(mode[0], mode[1], cfg)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m[0] + ("-relu" if m[1] else ""))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_initial_states(mode, bidirectional):
    _run_case(mode[0], mode[1], dict(num_layers=2, bidirectional=bidirectional), with_state=True, seed=1)


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m[0] + ("-relu" if m[1] else ""))
@pytest.mark.parametrize("with_state", [False, True])
def test_unbatched(mode, with_state):
    _run_case(mode[0], mode[1], dict(num_layers=2, bidirectional=True), batched=False, with_state=with_state, seed=2)


@pytest.mark.parametrize("sizes", [(2, 1, 4, 2), (3, 4, 1, 1)], ids=["hidden1", "seq1-batch1"])
@pytest.mark.parametrize("mode", MODES, ids=lambda m: m[0] + ("-relu" if m[1] else ""))
def test_edge_sizes(mode, sizes):
    _run_case(mode[0], mode[1], dict(num_layers=2, bidirectional=True), with_state=True, seed=5, sizes=sizes)


def test_lstm_proj_size():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: "LSTM with projections is not supported with oneDNN"
        _run_case("LSTM", dict(proj_size=4), dict(num_layers=2, bidirectional=True), with_state=True, seed=3)


@pytest.mark.parametrize("cls_name", ["RNN", "LSTM", "GRU"])
def test_parameter_names_shapes_and_init(cls_name):
    H = 16
    em = getattr(nn, cls_name)(4, H, num_layers=2, bidirectional=True)
    tm = getattr(torch.nn, cls_name)(4, H, num_layers=2, bidirectional=True)
    assert [(n, tuple(p.shape)) for n, p in em.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in tm.named_parameters()
    ]
    bound = 1 / np.sqrt(H)
    vals = np.concatenate([p.detach().numpy().ravel() for p in em.parameters()])
    assert np.abs(vals).max() <= bound
    assert np.abs(vals).max() > 0.9 * bound and abs(vals.mean()) < 0.05 * bound  # U(-b, b), not a constant
    assert all(p.requires_grad for p in em.parameters())
    assert em._flat_weights_names == tm._flat_weights_names
    assert repr(em) == repr(tm)


def test_dropout_between_layers_only_in_training():
    em, tm = _pair("LSTM", 3, 5, num_layers=3, dropout=0.5)
    x = np.random.default_rng(0).standard_normal((6, 2, 3)).astype(np.float32)
    em.eval()
    tm.eval()
    _close(em(ember.tensor(x))[0], tm(torch.tensor(x))[0], "eval output")
    em.train()
    ember.manual_seed(0)
    a = em(ember.tensor(x))[0].detach().numpy()
    ember.manual_seed(1)
    b = em(ember.tensor(x))[0].detach().numpy()
    assert not np.allclose(a, b)  # dropout is active and random in training
    em1 = nn.GRU(3, 5, num_layers=1)
    em1.train()
    y = ember.tensor(x)
    np.testing.assert_array_equal(em1(y)[0].detach().numpy(), em1(y)[0].detach().numpy())  # last layer: no dropout


def test_dropout_warns_with_one_layer():
    with pytest.warns(UserWarning, match="dropout"):
        nn.LSTM(3, 4, num_layers=1, dropout=0.2)


def test_long_sequence_backprop_is_iterative():
    m = nn.LSTM(2, 3)
    x = ember.randn(400, 1, 2, requires_grad=True)
    out, (h, c) = m(x)
    (out.sum() + c.sum()).backward()
    assert x.grad.shape == (400, 1, 2) and np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize(
    "call, exc",
    [
        (lambda m: m(ember.randn(4, 2, 7)), RuntimeError),  # wrong input_size
        (lambda m: m(ember.randn(4, 2, 3), ember.randn(1, 2, 5)), RuntimeError),  # LSTM hx must be a pair
        (lambda m: m(ember.randn(4, 2, 3), (ember.randn(2, 2, 5), ember.randn(1, 2, 5))), RuntimeError),
        (lambda m: m(ember.randn(2, 4, 2, 3)), ValueError),
    ],
)
def test_errors(call, exc):
    with pytest.raises(exc):
        call(nn.LSTM(3, 5))


def test_constructor_errors():
    with pytest.raises(ValueError):
        nn.GRU(3, 4, proj_size=2)
    with pytest.raises(ValueError):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError):
        nn.LSTM(3, 4, proj_size=4)


# ---- cells -------------------------------------------------------------------------------------
CELLS = [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}), ("GRUCell", {})]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_state", [True, False])
@pytest.mark.parametrize("cell", CELLS, ids=lambda c: c[0] + ("-relu" if c[1] else ""))
def test_cell_matches_torch(cell, with_state, batched, bias):
    name, kw = cell
    rng = np.random.default_rng(4)
    em, tm = _pair(name, 5, 6, bias=bias, **kw)
    N = 3
    ex, tx = _leaf(rng, (N, 5) if batched else (5,))
    hs = (N, 6) if batched else (6,)
    leaves = [(ex, tx, "input")]
    ehx = thx = None
    if with_state:
        eh, th = _leaf(rng, hs)
        leaves.append((eh, th, "h"))
        if name == "LSTMCell":
            ec, tc = _leaf(rng, hs)
            leaves.append((ec, tc, "c"))
            ehx, thx = (eh, ec), (th, tc)
        else:
            ehx, thx = eh, th
    # two steps, so the state path is differentiated too
    eo, to = em(ex, ehx), tm(tx, thx)
    eo, to = em(ex, eo), tm(tx, to)
    eo = eo if isinstance(eo, tuple) else (eo,)
    to = to if isinstance(to, tuple) else (to,)
    for a, b in zip(eo, to):
        _close(a, b, "cell output")
    ws = [rng.standard_normal(tuple(t.shape)).astype(np.float32) for t in to]
    sum((a * ember.tensor(w)).sum() for a, w in zip(eo, ws)).backward()
    sum((a * torch.tensor(w)).sum() for a, w in zip(to, ws)).backward()
    for e, t, what in leaves:
        _close(e.grad, t.grad, f"grad of {what}")
    for (n, ep), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        _close(ep.grad, tp.grad, f"grad of {n}")


def test_cell_parameter_names_and_init():
    for name in ("RNNCell", "LSTMCell", "GRUCell"):
        em, tm = getattr(nn, name)(3, 9), getattr(torch.nn, name)(3, 9)
        assert [(n, tuple(p.shape)) for n, p in em.named_parameters()] == [
            (n, tuple(p.shape)) for n, p in tm.named_parameters()
        ]
        vals = np.concatenate([p.detach().numpy().ravel() for p in em.parameters()])
        assert np.abs(vals).max() <= 1 / 3 and np.abs(vals).max() > 0.25


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_gradcheck_and_second_order_float64(name):
    """Finite differences, and second derivatives through the fused split node."""
    from ember.autograd import gradcheck, gradgradcheck

    ember.manual_seed(0)
    if name.endswith("Cell"):
        m = getattr(nn, name)(2, 3, dtype=ember.float64)
        x = ember.randn(2, 2, dtype=ember.float64, requires_grad=True)
    else:
        m = getattr(nn, name)(2, 2, num_layers=2, bidirectional=True, dtype=ember.float64)
        x = ember.randn(2, 1, 2, dtype=ember.float64, requires_grad=True)

    def f(x):
        out = m(x)
        return out[0] if isinstance(out, tuple) else out

    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("length", [0, 1, 4])
def test_fused_lstm_recurrence_gradcheck_float64(reverse, length):
    """The fused time loop (ops/recurrent.py): every input and output, both directions, against finite differences."""
    from ember.autograd import gradcheck, gradgradcheck
    from ember.ops.recurrent import lstm_recurrence

    ember.manual_seed(1)
    n, h = 2, 3
    xw = ember.randn(length, n, 4 * h, dtype=ember.float64, requires_grad=True)
    h0 = ember.randn(n, h, dtype=ember.float64, requires_grad=True)
    c0 = ember.randn(n, h, dtype=ember.float64, requires_grad=True)
    w = ember.randn(h, 4 * h, dtype=ember.float64, requires_grad=True)

    def f(xw, h0, c0, w):
        out, hn, cn, _, _ = lstm_recurrence(xw, h0, c0, w, reverse=reverse)
        return out, hn, cn

    assert gradcheck(f, (xw, h0, c0, w))
    assert gradgradcheck(f, (xw, h0, c0, w))


def test_fused_lstm_matches_torch_step_by_step_bidirectional():
    """nn.LSTM (fused loop) against torch with the same weights: outputs, final states and every gradient."""
    torch.manual_seed(0)
    t = torch.nn.LSTM(5, 7, num_layers=2, bidirectional=True)
    e = nn.LSTM(5, 7, num_layers=2, bidirectional=True)
    e.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((6, 3, 5)).astype(np.float32)
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    (ot, (ht, ct)), (oe, (he, ce)) = t(xt), e(xe)
    (ot.square().sum() + ht.sum() + ct.sum()).backward()
    (oe.square().sum() + he.sum() + ce.sum()).backward()
    for a, b in [(ot, oe), (ht, he), (ct, ce), (xt.grad, xe.grad)]:
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-5, atol=1e-5)
    for (k, pt), pe in zip(t.named_parameters(), e.parameters()):
        np.testing.assert_allclose(pe.grad.numpy(), pt.grad.numpy(), rtol=1e-5, atol=1e-5, err_msg=k)
