"""torch.nn basics vs PyTorch: Linear/Bilinear, activations, Dropout, Embedding, losses and nn.init.

Every layer, activation and loss runs in both frameworks on the same NumPy
inputs and weights (copied through state_dict); outputs, input gradients and
parameter gradients must agree. Initialisers are random, so their
distributions (bounds, moments, fans) are compared instead of values.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import ember


@pytest.fixture(autouse=True, scope="module")
def _torch_one_thread():
    """PyTorch's thread pool spins against ember on a loaded 2-core machine: one thread, as in bench/."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


DEVIATIONS = []  # (dtype, what, max |ember - torch| / max(|torch|, 1)): read by a report script

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _lib_tensor(lib, a, grad=False):
    t = lib.from_numpy(np.array(a, copy=True))
    if grad:
        t.requires_grad_(True)
    return t


def _np(t):
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def assert_close(e, t, dtype=np.float32, what=""):
    e, t = _np(e), _np(t)
    assert e.shape == t.shape, f"{what}: shape {e.shape} vs torch {t.shape}"
    tol = TOL[np.dtype(dtype).type]
    scale = max(float(np.max(np.abs(t))) if t.size else 0.0, 1.0)
    if t.size:
        DEVIATIONS.append((np.dtype(dtype).name, what, float(np.nanmax(np.abs(e - t))) / scale))
    np.testing.assert_allclose(e, t, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=what)


def copy_state(tmod, emod):
    """torch module's state_dict -> numpy -> ember module."""
    sd = {k: ember.from_numpy(v.detach().numpy().copy()) for k, v in tmod.state_dict().items()}
    emod.load_state_dict(sd)


def run_modules(tmod, emod, inputs, dtype=np.float32, grad_inputs=None, seed=0):
    """Forward both modules on the same inputs; compare outputs, input grads and parameter grads."""
    grad_inputs = grad_inputs if grad_inputs is not None else [np.issubdtype(a.dtype, np.floating) for a in inputs]
    ti = [_lib_tensor(torch, a, g) for a, g in zip(inputs, grad_inputs)]
    ei = [_lib_tensor(ember, a, g) for a, g in zip(inputs, grad_inputs)]
    to, eo = tmod(*ti), emod(*ei)
    assert_close(eo, to, dtype, "output")
    if not to.requires_grad:
        return to, eo
    G = np.random.default_rng(seed).standard_normal(tuple(to.shape)).astype(dtype)
    (to * torch.from_numpy(G)).sum().backward()
    (eo * ember.from_numpy(G)).sum().backward()
    for k, (a, b) in enumerate(zip(ei, ti)):
        if b.requires_grad:
            assert_close(a.grad, b.grad, dtype, f"input {k} grad")
    tp = dict(tmod.named_parameters())
    for name, p in emod.named_parameters():
        if tp[name].grad is None:
            assert p.grad is None or not np.any(_np(p.grad)), name
        else:
            assert_close(p.grad, tp[name].grad, dtype, f"{name}.grad")
    return to, eo


def rand(shape, dtype=np.float32, lo=-3.0, hi=3.0, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype)


# ---- Linear / Bilinear -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3), (3,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(dtype, shape, bias):
    td = torch.float32 if dtype == np.float32 else torch.float64
    tm = torch.nn.Linear(3, 4, bias=bias).to(td)
    em = ember.nn.Linear(3, 4, bias=bias).to(ember.float32 if dtype == np.float32 else ember.float64)
    copy_state(tm, em)
    run_modules(tm, em, [rand(shape, dtype)], dtype)


def test_bilinear_matches_torch():
    tm, em = torch.nn.Bilinear(3, 2, 4), ember.nn.Bilinear(3, 2, 4)
    copy_state(tm, em)
    run_modules(tm, em, [rand((5, 3)), rand((5, 2), seed=1)])
    tm, em = torch.nn.Bilinear(3, 2, 4, bias=False).double(), ember.nn.Bilinear(3, 2, 4, bias=False).double()
    copy_state(tm, em)
    run_modules(tm, em, [rand((2, 5, 3), np.float64), rand((2, 5, 2), np.float64, seed=1)], np.float64)


def test_state_dict_round_trip():
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3), torch.nn.PReLU(3))
    em = ember.nn.Sequential(ember.nn.Linear(4, 8), ember.nn.ReLU(), ember.nn.Linear(8, 3), ember.nn.PReLU(3))
    assert list(tm.state_dict()) == list(em.state_dict())
    copy_state(tm, em)
    x = rand((6, 4))
    assert_close(em(ember.from_numpy(x)), tm(torch.from_numpy(x)))
    # and back: a fresh ember model's weights into torch
    em2 = ember.nn.Sequential(ember.nn.Linear(4, 8), ember.nn.ReLU(), ember.nn.Linear(8, 3), ember.nn.PReLU(3))
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in em2.state_dict().items()})
    assert_close(em2(ember.from_numpy(x)), tm(torch.from_numpy(x)))


def test_linear_default_init_bounds_and_spread():
    em, tm = ember.nn.Linear(400, 300), torch.nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for name in ("weight", "bias"):
        e, t = _np(getattr(em, name)), _np(getattr(tm, name))
        assert e.dtype == t.dtype == np.float32
        assert np.abs(e).max() <= bound and np.abs(e).max() > 0.98 * bound
        assert abs(e.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert abs(_np(em.weight).std() - _np(tm.weight).std()) < 0.01 * bound
    assert em.weight.requires_grad and em.bias.requires_grad
    assert em.bias.shape == (300,) and em.weight.shape == (300, 400)


def test_lazy_linear():
    m = ember.nn.LazyLinear(4)
    y = m(ember.randn(2, 7))
    assert tuple(y.shape) == (2, 4) and tuple(m.weight.shape) == (4, 7)
    assert type(m) is ember.nn.Linear


def test_linear_wrong_input_names_layer_shape_and_expected_dim():
    m = ember.nn.Linear(1, 1)
    with pytest.raises(RuntimeError) as ei:
        m(ember.randn(100))
    msg = str(ei.value)
    assert "Linear(in_features=1, out_features=1, bias=True)" in msg
    assert "[100]" in msg and "in_features=1" in msg and "reshape(-1, 1)" in msg
    with pytest.raises(RuntimeError):  # torch raises the same class
        torch.nn.Linear(1, 1)(torch.randn(100))
    with pytest.raises(RuntimeError, match=r"\[5, 4\]"):
        ember.nn.Linear(3, 1)(ember.randn(5, 4))
    with pytest.raises(RuntimeError, match="in1_features=3"):
        ember.nn.Bilinear(3, 2, 1)(ember.randn(5, 4), ember.randn(5, 2))


# ---- activations ---------------------------------------------------------------------------------------------
ACTIVATIONS = [
    ("ReLU", {}),
    ("ReLU", {"inplace": True}),
    ("ReLU6", {}),
    ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.2, "inplace": True}),
    ("ELU", {}),
    ("ELU", {"alpha": 0.5, "inplace": True}),
    ("SELU", {}),
    ("CELU", {"alpha": 2.0}),
    ("GELU", {}),
    ("GELU", {"approximate": "tanh"}),
    ("SiLU", {}),
    ("SiLU", {"inplace": True}),
    ("Mish", {}),
    ("Sigmoid", {}),
    ("Tanh", {}),
    ("Softmax", {"dim": 1}),
    ("Softmax", {"dim": -1}),
    ("LogSoftmax", {"dim": 1}),
    ("Softmin", {"dim": 2}),
    ("Softplus", {}),
    ("Softplus", {"beta": 2.0, "threshold": 3.0}),
    ("Hardtanh", {}),
    ("Hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("Hardswish", {}),
    ("Hardsigmoid", {}),
    ("LogSigmoid", {}),
    ("Softsign", {}),
    ("Tanhshrink", {}),
    ("Softshrink", {"lambd": 0.7}),
    ("Hardshrink", {}),
    ("Threshold", {"threshold": 0.3, "value": -1.5}),
    ("GLU", {"dim": 1}),
    ("PReLU", {}),
    ("PReLU", {"num_parameters": 4, "init": 0.1}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", ACTIVATIONS, ids=[f"{n}-{k}" for n, k in ACTIVATIONS])
def test_activation_matches_torch(name, kw, dtype):
    tm, em = getattr(torch.nn, name)(**kw), getattr(ember.nn, name)(**kw)
    if dtype == np.float64:
        tm, em = tm.double(), em.double()
    if name == "PReLU":
        copy_state(tm, em)
    assert repr(em) == repr(tm)
    x = rand((3, 4, 6), dtype, seed=3)
    x[0, 0, :3] = [-40.0, 40.0, 0.25]  # tails (softplus threshold, saturating exp) and a generic point
    if kw.get("inplace"):  # in-place on a non-leaf, as in a real network
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        ex = ember.from_numpy(x.copy()).requires_grad_(True)
        to, eo = tm(tx * 1.0), em(ex * 1.0)
        assert_close(eo, to, dtype)
        to.sum().backward()
        eo.sum().backward()
        assert_close(ex.grad, tx.grad, dtype)
        return
    if name == "Hardsigmoid" and dtype == np.float64:
        # torch's hardsigmoid_backward multiplies by the float32 constant 1.0f/6.0f even in float64
        # (relative error 3e-8); ember's gradient is the exact 1/6
        TOL[np.float64] = dict(rtol=1e-7, atol=1e-12)
        try:
            run_modules(tm, em, [x], dtype)
        finally:
            TOL[np.float64] = dict(rtol=1e-10, atol=1e-12)
        return
    run_modules(tm, em, [x], dtype)


def test_functional_activation_forms():
    x = rand((4, 5), seed=2)
    cases = [
        ("leaky_relu", (0.3,)),
        ("elu", (1.5,)),
        ("selu", ()),
        ("celu", (0.7,)),
        ("hardtanh", (-0.5, 2.0)),
        ("relu6", ()),
        ("logsigmoid", ()),
        ("hardswish", ()),
        ("hardsigmoid", ()),
        ("softsign", ()),
        ("tanhshrink", ()),
        ("softmin", (1,)),
        ("relu", ()),
        ("silu", ()),
        ("mish", ()),
        ("gelu", ()),
    ]
    for name, args in cases:
        tx, ex = _lib_tensor(torch, x, True), _lib_tensor(ember, x, True)
        to, eo = getattr(torch.nn.functional, name)(tx, *args), getattr(ember.nn.functional, name)(ex, *args)
        assert_close(eo, to, what=name)
        to.pow(2).sum().backward()
        eo.pow(2).sum().backward()
        assert_close(ex.grad, tx.grad, what=name + " grad")
    w = rand((5,), lo=0, hi=1)
    tw, ew = _lib_tensor(torch, w, True), _lib_tensor(ember, w, True)
    tx, ex = _lib_tensor(torch, x, True), _lib_tensor(ember, x, True)
    to, eo = torch.nn.functional.prelu(tx, tw), ember.nn.functional.prelu(ex, ew)
    assert_close(eo, to)
    to.sum().backward()
    eo.sum().backward()
    assert_close(ew.grad, tw.grad)


def test_relu_inplace_returns_same_tensor():
    x = ember.randn(3, 4)
    y = ember.nn.ReLU(inplace=True)(x)
    assert y is x and float(x.min()) >= 0
    x = ember.randn(3, 4)
    assert ember.nn.functional.leaky_relu(x, inplace=True) is x


def test_prelu_channel_mismatch():
    with pytest.raises(RuntimeError, match="parameter numbers = 3 and channel size = 4"):
        ember.nn.PReLU(3)(ember.randn(2, 4))


# ---- dropout -----------------------------------------------------------------------------------------------
def test_dropout_eval_is_identity():
    m = ember.nn.Dropout(0.3).eval()
    x = ember.randn(10, 10)
    assert m(x) is x
    assert ember.nn.functional.dropout(x, 0.5, training=False) is x
    assert repr(m) == repr(torch.nn.Dropout(0.3)) == "Dropout(p=0.3, inplace=False)"


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_train_zeroes_about_p_and_scales(p):
    ember.manual_seed(0)
    m = ember.nn.Dropout(p)
    x = ember.from_numpy(rand((200, 200), lo=1.0, hi=2.0)).requires_grad_(True)
    y = m(x)
    yn, xn = _np(y), _np(x)
    zero = yn == 0
    assert abs(zero.mean() - p) < 0.01
    np.testing.assert_allclose(yn[~zero], xn[~zero] / (1 - p), rtol=1e-6)
    y.sum().backward()
    g = _np(x.grad)
    np.testing.assert_allclose(g, np.where(zero, 0.0, 1 / (1 - p)), rtol=1e-6)
    # the mean is preserved in expectation, as torch's is
    torch.manual_seed(0)
    t = torch.nn.Dropout(p)(torch.from_numpy(xn.copy()))
    assert abs(yn.mean() - t.numpy().mean()) < 0.15  # 5 standard errors at p=0.8


def test_dropout_edges_and_errors():
    x = ember.randn(5, 5)
    assert ember.nn.functional.dropout(x, 0.0) is x
    assert not np.any(_np(ember.nn.functional.dropout(x, 1.0)))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            ember.nn.Dropout(bad)
        with pytest.raises(ValueError):
            ember.nn.functional.dropout(x, bad)
    x = ember.ones(3, 4)
    y = ember.nn.functional.dropout(x, 0.5, inplace=True)
    assert y is x


def test_dropout2d_drops_whole_channels():
    ember.manual_seed(1)
    y = _np(ember.nn.Dropout2d(0.5)(ember.ones(8, 16, 5, 5)))
    per_channel = y.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0.3 < (per_channel == 0).all(-1).mean() < 0.7


# ---- embedding ------------------------------------------------------------------------------------------------
def test_embedding_matches_torch_with_padding_idx():
    tm, em = torch.nn.Embedding(10, 4, padding_idx=2), ember.nn.Embedding(10, 4, padding_idx=2)
    assert not np.any(_np(em.weight)[2]) and np.any(_np(em.weight)[3])
    assert repr(em) == repr(tm)
    copy_state(tm, em)
    idx = np.array([[1, 2, 3], [2, 2, 9]], dtype=np.int64)
    run_modules(tm, em, [idx])
    assert not np.any(_np(em.weight.grad)[2])


def test_embedding_negative_padding_idx_scale_grad_and_max_norm():
    idx = np.array([0, 1, 1, 4, 1, 3], dtype=np.int64)
    tm = torch.nn.Embedding(5, 3, padding_idx=-1, scale_grad_by_freq=True)
    em = ember.nn.Embedding(5, 3, padding_idx=-1, scale_grad_by_freq=True)
    assert em.padding_idx == 4 and repr(em) == repr(tm)
    copy_state(tm, em)
    run_modules(tm, em, [idx])
    tm, em = torch.nn.Embedding(5, 3, max_norm=1.0), ember.nn.Embedding(5, 3, max_norm=1.0)
    copy_state(tm, em)
    with torch.no_grad():
        tm.weight.mul_(3)
    with ember.no_grad():
        em.weight.mul_(3)
    run_modules(tm, em, [idx])
    assert_close(em.weight, tm.weight, what="renormed weight")


def test_embedding_from_pretrained_and_errors():
    w = rand((4, 3))
    e = ember.nn.Embedding.from_pretrained(ember.from_numpy(w))
    t = torch.nn.Embedding.from_pretrained(torch.from_numpy(w))
    assert not e.weight.requires_grad and repr(e) == repr(t)
    assert_close(e(ember.tensor([3, 0])), t(torch.tensor([3, 0])))
    assert ember.nn.Embedding.from_pretrained(ember.from_numpy(w), freeze=False).weight.requires_grad
    with pytest.raises(AssertionError, match="Padding_idx"):
        ember.nn.Embedding(3, 2, padding_idx=5)
    with pytest.raises(IndexError):
        ember.nn.Embedding(3, 2)(ember.tensor([3]))
    with pytest.raises(RuntimeError, match="indices"):
        ember.nn.Embedding(3, 2)(ember.tensor([1.0]))


# ---- losses -------------------------------------------------------------------------------------------------------
rng0 = np.random.default_rng(7)
N, C = 6, 4
LOGITS = rng0.standard_normal((N, C))
IDX = np.array([0, 3, 1, 1, 2, 3], dtype=np.int64)
IDX_IGN = np.array([0, -100, 1, 1, -100, 3], dtype=np.int64)
IDX_IGN1 = np.array([0, 1, 1, 2, 3, 1], dtype=np.int64)
W_C = rng0.uniform(0.2, 2.0, C)
PROBS = rng0.dirichlet(np.ones(C), N)
LOGITS4 = rng0.standard_normal((2, C, 3, 2))
IDX4 = rng0.integers(0, C, (2, 3, 2))
IDX4[0, 1, 1] = -100
P01 = rng0.uniform(0.05, 0.95, (N, C))
T01 = rng0.uniform(0, 1, (N, C))
REG_A, REG_B = rng0.standard_normal((N, C)) * 2, rng0.standard_normal((N, C))
SIGNS = np.where(rng0.random(N) > 0.5, 1.0, -1.0)

# (id, functional name, arrays, differentiable flags, kwargs; numpy-array kwargs become tensors)
LOSS_CASES = [
    ("ce", "cross_entropy", [LOGITS, IDX], [True, False], {}),
    ("ce-w", "cross_entropy", [LOGITS, IDX], [True, False], {"weight": W_C}),
    ("ce-ign", "cross_entropy", [LOGITS, IDX_IGN], [True, False], {}),
    ("ce-ign1-w", "cross_entropy", [LOGITS, IDX_IGN1], [True, False], {"ignore_index": 1, "weight": W_C}),
    ("ce-ls", "cross_entropy", [LOGITS, IDX], [True, False], {"label_smoothing": 0.1}),
    ("ce-ls-w-ign", "cross_entropy", [LOGITS, IDX_IGN], [True, False], {"label_smoothing": 0.2, "weight": W_C}),
    ("ce-ls-ign", "cross_entropy", [LOGITS, IDX_IGN], [True, False], {"label_smoothing": 0.3}),
    ("ce-4d", "cross_entropy", [LOGITS4, IDX4], [True, False], {"weight": W_C}),
    ("ce-unbatched", "cross_entropy", [LOGITS[0], IDX[2]], [True, False], {}),
    ("ce-probs", "cross_entropy", [LOGITS, PROBS], [True, True], {}),
    ("ce-probs-w-ls", "cross_entropy", [LOGITS, PROBS], [True, True], {"weight": W_C, "label_smoothing": 0.1}),
    ("nll", "nll_loss", [LOGITS, IDX], [True, False], {}),
    ("nll-w-ign", "nll_loss", [LOGITS, IDX_IGN], [True, False], {"weight": W_C}),
    ("nll-4d", "nll_loss", [LOGITS4, IDX4], [True, False], {}),
    ("mse", "mse_loss", [REG_A, REG_B], [True, True], {}),
    ("l1", "l1_loss", [REG_A, REG_B], [True, True], {}),
    ("smooth_l1", "smooth_l1_loss", [REG_A, REG_B], [True, True], {}),
    ("smooth_l1-b0.5", "smooth_l1_loss", [REG_A, REG_B], [True, True], {"beta": 0.5}),
    ("smooth_l1-b0", "smooth_l1_loss", [REG_A, REG_B], [True, True], {"beta": 0.0}),
    ("huber", "huber_loss", [REG_A, REG_B], [True, True], {}),
    ("huber-d2", "huber_loss", [REG_A, REG_B], [True, True], {"delta": 2.0}),
    ("bce", "binary_cross_entropy", [P01, T01], [True, True], {}),
    ("bce-w", "binary_cross_entropy", [P01, T01], [True, True], {"weight": W_C}),
    ("bcel", "binary_cross_entropy_with_logits", [REG_A * 10, T01], [True, True], {}),
    (
        "bcel-pw-w",
        "binary_cross_entropy_with_logits",
        [REG_A, T01],
        [True, True],
        {"pos_weight": W_C, "weight": W_C[::-1].copy()},
    ),
    ("kl", "kl_div", [np.log(PROBS), T01 + 0.01], [True, True], {}),
    ("kl-zeros", "kl_div", [np.log(PROBS), T01 * (T01 > 0.2)], [True, False], {}),  # 0 log 0 = 0
    ("kl-logt", "kl_div", [np.log(PROBS), np.log(T01 + 0.01)], [True, True], {"log_target": True}),
    ("cos-emb", "cosine_embedding_loss", [REG_A, REG_B, SIGNS], [True, True, False], {"margin": 0.2}),
    ("margin-rank", "margin_ranking_loss", [REG_A[:, 0], REG_B[:, 0], SIGNS], [True, True, False], {"margin": 0.1}),
    ("soft-margin", "soft_margin_loss", [REG_A, np.sign(REG_B)], [True, False], {}),
    ("poisson", "poisson_nll_loss", [REG_A * 0.5, T01 * 3], [True, True], {}),
    ("poisson-full", "poisson_nll_loss", [P01 * 3, T01 * 3], [True, True], {"log_input": False, "full": True}),
    ("gauss", "gaussian_nll_loss", [REG_A, REG_B, P01], [True, True, True], {}),
    ("gauss-full-1d-var", "gaussian_nll_loss", [REG_A, REG_B, P01[:, 0]], [True, True, True], {"full": True}),
    ("hinge", "hinge_embedding_loss", [REG_A[:, 0], SIGNS], [True, False], {"margin": 0.7}),
    ("multilabel-sm", "multilabel_soft_margin_loss", [REG_A, (T01 > 0.5) * 1.0], [True, False], {"weight": W_C}),
    ("triplet", "triplet_margin_loss", [REG_A, REG_B, REG_A[::-1].copy()], [True, True, True], {"margin": 2.0}),
    (
        "triplet-swap-p1",
        "triplet_margin_loss",
        [REG_A, REG_B, REG_A[::-1].copy()],
        [True, True, True],
        {"p": 1, "swap": True},
    ),
]


def _run_fn(lib, name, arrays, flags, kwargs, dtype):
    ts = []
    for a, f in zip(arrays, flags):
        a = np.asarray(a)
        if np.issubdtype(a.dtype, np.floating):
            a = a.astype(dtype)
        ts.append(_lib_tensor(lib, a, f))
    kw = {
        k: (_lib_tensor(lib, np.asarray(v, dtype=dtype)) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()
    }
    fn = getattr(lib.nn.functional, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = fn(*ts, **kw)
    return out, ts


LOSS_PARAMS = [
    pytest.param(*case[1:], red, id=f"{case[0]}-{red}")
    for case in LOSS_CASES
    for red in ("mean", "sum", "none") + (("batchmean",) if case[1] == "kl_div" else ())
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,arrays,flags,kwargs,reduction", LOSS_PARAMS)
def test_loss_matches_torch(name, arrays, flags, kwargs, reduction, dtype):
    kwargs = dict(kwargs, reduction=reduction)
    to, tts = _run_fn(torch, name, arrays, flags, kwargs, dtype)
    eo, ets = _run_fn(ember, name, arrays, flags, kwargs, dtype)
    assert_close(eo, to, dtype, "loss")
    assert eo.dtype.itemsize == to.dtype.itemsize
    G = np.random.default_rng(1).standard_normal(tuple(to.shape)).astype(dtype)
    (to * torch.from_numpy(G)).sum().backward()
    (eo * ember.from_numpy(G)).sum().backward()
    for k, (e, t) in enumerate(zip(ets, tts)):
        if t.requires_grad:
            assert_close(e.grad, t.grad, dtype, f"grad of arg {k}")


LOSS_MODULES = [
    ("CrossEntropyLoss", {"weight": W_C, "label_smoothing": 0.1, "ignore_index": 1}, [LOGITS, IDX_IGN1]),
    ("CrossEntropyLoss", {"reduction": "sum"}, [LOGITS, PROBS]),
    ("NLLLoss", {"weight": W_C, "reduction": "none"}, [LOGITS, IDX]),
    ("MSELoss", {}, [REG_A, REG_B]),
    ("L1Loss", {"reduction": "sum"}, [REG_A, REG_B]),
    ("SmoothL1Loss", {"beta": 0.3}, [REG_A, REG_B]),
    ("HuberLoss", {"delta": 0.7, "reduction": "none"}, [REG_A, REG_B]),
    ("BCELoss", {"weight": W_C}, [P01, T01]),
    ("BCEWithLogitsLoss", {"pos_weight": W_C}, [REG_A, T01]),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, [np.log(PROBS), np.log(PROBS[::-1].copy())]),
    ("CosineEmbeddingLoss", {"margin": -0.1}, [REG_A, REG_B, SIGNS]),
    ("MarginRankingLoss", {"margin": 0.5}, [REG_A[:, 1], REG_B[:, 1], SIGNS]),
    ("SoftMarginLoss", {}, [REG_A, np.sign(REG_B)]),
    ("MSELoss", {"size_average": False}, [REG_A, REG_B]),  # legacy flags -> reduction='sum'
    ("PoissonNLLLoss", {"full": True}, [REG_A * 0.5, T01 * 3]),
    ("HingeEmbeddingLoss", {"reduction": "sum"}, [REG_A[:, 0], SIGNS]),
    ("MultiLabelSoftMarginLoss", {"weight": W_C}, [REG_A, (T01 > 0.5) * 1.0]),
    ("TripletMarginLoss", {"margin": 0.5, "swap": True}, [REG_A, REG_B, REG_A[::-1].copy(), np.zeros(0)]),
]


@pytest.mark.parametrize("name,kw,arrays", LOSS_MODULES, ids=[m[0] for m in LOSS_MODULES])
def test_loss_module_matches_torch(name, kw, arrays):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = getattr(torch.nn, name)(
            **{k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        )
        em = getattr(ember.nn, name)(
            **{k: ember.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        )
    assert repr(em) == repr(tm)
    assert em.reduction == tm.reduction
    assert sorted(dict(em.named_buffers())) == sorted(dict(tm.named_buffers()))
    arrays = [np.asarray(a) for a in arrays]
    flags = [True] * (len(arrays) - 1) + [False]  # the target: some of torch's losses refuse its gradient
    if name == "TripletMarginLoss":  # three differentiable inputs, no target
        arrays, flags = arrays[:3], [True] * 3
    run_modules(tm, em, arrays, np.float64, grad_inputs=flags)


def test_cosine_similarity_pairwise_distance_and_normalize():
    a, b = rand((5, 4, 3), np.float64), rand((5, 1, 3), np.float64, seed=1)
    for name, args, kw in [
        ("cosine_similarity", (a, b), {"dim": 2}),
        ("cosine_similarity", (a, b), {}),
        ("pairwise_distance", (a[:, 0], b[:, 0]), {"p": 1.5}),
        ("normalize", (a,), {}),
        ("normalize", (a,), {"p": 1.0, "dim": -1}),
    ]:
        ts = [_lib_tensor(torch, x, True) for x in args]
        es = [_lib_tensor(ember, x, True) for x in args]
        to, eo = getattr(torch.nn.functional, name)(*ts, **kw), getattr(ember.nn.functional, name)(*es, **kw)
        assert_close(eo, to, np.float64, name)
        to.pow(2).sum().backward()
        eo.pow(2).sum().backward()
        for e, t in zip(es, ts):
            assert_close(e.grad, t.grad, np.float64, name + " grad")


def test_cross_entropy_is_stable_for_huge_logits():
    x = np.array([[1000.0, -1000.0, 0.0], [-1e4, 1e4, 3.0]], dtype=np.float32)
    t = np.array([1, 1])
    to = torch.nn.functional.cross_entropy(torch.from_numpy(x).requires_grad_(), torch.from_numpy(t))
    ex = ember.from_numpy(x).requires_grad_(True)
    eo = ember.nn.functional.cross_entropy(ex, ember.from_numpy(t))
    assert np.isfinite(eo.item()) and abs(eo.item() - to.item()) < 1e-3
    eo.backward()
    assert np.all(np.isfinite(_np(ex.grad)))


def test_cross_entropy_records_few_ops():
    x = ember.randn(8, 5, requires_grad=True)
    loss = ember.nn.functional.cross_entropy(x, ember.randint(0, 5, (8,)))
    n, seen, stack = 0, set(), [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        n += 1
        stack.extend(f for f, _ in node.next_functions)
    assert n <= 5, n


def test_second_derivative_through_losses():
    x = ember.from_numpy(LOGITS.copy()).requires_grad_(True)
    tx = torch.from_numpy(LOGITS.copy()).requires_grad_(True)
    outs = []
    for lib, inp in ((ember, x), (torch, tx)):
        loss = lib.nn.functional.cross_entropy(inp, lib.from_numpy(IDX), label_smoothing=0.1)
        (g,) = lib.autograd.grad(loss, inp, create_graph=True)
        (gg,) = lib.autograd.grad(g.pow(2).sum(), inp)
        outs.append(gg)
    assert_close(outs[0], outs[1], np.float64)


def test_loss_errors_match_torch_classes():
    Fe = ember.nn.functional
    x = ember.randn(4, 3)
    with pytest.raises(RuntimeError, match="Long or Byte.*float32.*shape \\(4,\\)"):
        Fe.cross_entropy(x, ember.rand(4))
    with pytest.raises(RuntimeError, match="Long or Byte, but got Int"):
        Fe.cross_entropy(x, ember.tensor([0, 1, 2, 0], dtype=ember.int32))
    with pytest.raises(ValueError, match="batch_size \\(4\\).*batch_size \\(3\\)"):
        Fe.cross_entropy(x, ember.tensor([0, 1, 2]))
    with pytest.raises(IndexError, match="Target 3 is out of bounds"):
        Fe.cross_entropy(x, ember.tensor([0, 1, 3, 0]))
    with pytest.raises(IndexError, match="Target -1 is out of bounds"):
        Fe.nll_loss(x, ember.tensor([0, 1, -1, 0]))
    with pytest.raises(RuntimeError, match="for all 3 classes"):
        Fe.cross_entropy(x, ember.tensor([0, 1, 2, 0]), weight=ember.ones(4))
    with pytest.raises(ValueError, match="avg is not a valid value for reduction"):
        Fe.cross_entropy(x, ember.tensor([0, 1, 2, 0]), reduction="avg")
    with pytest.raises(ValueError, match="different to the input size"):
        Fe.binary_cross_entropy(ember.rand(3), ember.rand(4))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        Fe.binary_cross_entropy(ember.rand(3) + 1, ember.rand(3))
    with pytest.raises(ValueError, match="must be the same as input size"):
        Fe.binary_cross_entropy_with_logits(ember.rand(3), ember.rand(4))
    assert Fe.cross_entropy(x, ember.tensor([0, 1, 2, 0], dtype=ember.uint8)).ndim == 0
    with pytest.warns(UserWarning, match="target size"):
        Fe.mse_loss(ember.randn(3), ember.randn(3, 3))
    # torch raises the same classes
    Ft = torch.nn.functional
    with pytest.raises(RuntimeError):
        Ft.cross_entropy(torch.randn(4, 3), torch.rand(4))
    with pytest.raises(ValueError):
        Ft.cross_entropy(torch.randn(4, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(IndexError):
        Ft.cross_entropy(torch.randn(4, 3), torch.tensor([0, 1, 3, 0]))


def test_all_ignored_mean_is_nan_like_torch():
    idx = np.full(3, -100)
    e = ember.nn.functional.cross_entropy(ember.from_numpy(LOGITS[:3].copy()), ember.from_numpy(idx))
    t = torch.nn.functional.cross_entropy(torch.from_numpy(LOGITS[:3].copy()), torch.from_numpy(idx))
    assert math.isnan(e.item()) and math.isnan(t.item())


# ---- init ------------------------------------------------------------------------------------------------------
def test_calculate_gain_and_fans_match_torch():
    for nl, p in [
        ("linear", None),
        ("conv2d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", math.sqrt(5)),
        ("selu", None),
    ]:
        assert ember.nn.init.calculate_gain(nl, p) == torch.nn.init.calculate_gain(nl, p)
    for bad in [("foo", None), ("leaky_relu", True), ("leaky_relu", "x")]:
        with pytest.raises(ValueError):
            ember.nn.init.calculate_gain(*bad)
        with pytest.raises(ValueError):
            torch.nn.init.calculate_gain(*bad)
    for shape in [(3, 4), (8, 3, 5), (16, 4, 3, 3), (2, 3, 2, 2, 2)]:
        assert ember.nn.init._calculate_fan_in_and_fan_out(ember.empty(*shape)) == (
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
        )
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        ember.nn.init._calculate_fan_in_and_fan_out(ember.empty(3))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        ember.nn.init.kaiming_uniform_(ember.empty(3, 4), mode="fan_avg")


def _moments(t):
    a = _np(t).astype(np.float64)
    return a.min(), a.max(), a.mean(), a.std()


@pytest.mark.parametrize(
    "fn,kw",
    [
        ("uniform_", {"a": -0.5, "b": 2.0}),
        ("normal_", {"mean": 1.0, "std": 0.3}),
        ("trunc_normal_", {"mean": 0.2, "std": 1.0, "a": -1.0, "b": 1.5}),
        ("xavier_uniform_", {"gain": 2.0}),
        ("xavier_normal_", {}),
        ("kaiming_uniform_", {"a": math.sqrt(5)}),
        ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
        ("kaiming_normal_", {}),
        ("kaiming_normal_", {"a": 0.1, "mode": "fan_out"}),
        ("orthogonal_", {"gain": 1.5}),
    ],
)
def test_init_distributions_match_torch(fn, kw):
    shape = (32, 16, 3) if fn == "orthogonal_" else (64, 32, 3, 3)
    e = ember.empty(*shape).requires_grad_(True)  # a leaf that requires grad: init runs under no_grad
    ret = getattr(ember.nn.init, fn)(e, **kw)
    torch.manual_seed(0)
    t = getattr(torch.nn.init, fn)(torch.empty(*shape), **kw)
    assert ret is e and e.requires_grad and e.grad_fn is None and e.dtype == ember.float32
    (emin, emax, emean, estd), (tmin, tmax, tmean, tstd) = _moments(e), _moments(t)
    n = e.numel()  # 6 standard errors of the difference of two samples' moments
    assert abs(estd - tstd) < 6 * tstd / math.sqrt(n)
    assert abs(emean - tmean) < 6 * tstd * math.sqrt(2 / n)
    if fn in ("uniform_", "xavier_uniform_", "kaiming_uniform_", "trunc_normal_"):
        spread = tmax - tmin
        assert abs(emin - tmin) < 0.01 * spread and abs(emax - tmax) < 0.01 * spread
    if fn == "orthogonal_":
        q = _np(e).reshape(32, -1).astype(np.float64)
        np.testing.assert_allclose(q @ q.T, 1.5**2 * np.eye(32), atol=1e-4)


def test_deterministic_inits_match_torch_exactly():
    for fn, shape, args in [
        ("constant_", (3, 4), (0.7,)),
        ("ones_", (2, 5), ()),
        ("zeros_", (4,), ()),
        ("eye_", (3, 5), ()),
        ("dirac_", (4, 2, 3, 3), ()),
        ("dirac_", (4, 2, 3), (2,)),
    ]:
        e = getattr(ember.nn.init, fn)(ember.randn(*shape), *args)
        t = getattr(torch.nn.init, fn)(torch.randn(*shape), *args)
        np.testing.assert_array_equal(_np(e), t.numpy(), err_msg=fn)
    with pytest.raises(ValueError):
        ember.nn.init.eye_(ember.empty(2, 2, 2))
    with pytest.raises(ValueError):
        ember.nn.init.orthogonal_(ember.empty(3))


def test_init_generator_and_float64():
    g1, g2 = ember.Generator().manual_seed(3), ember.Generator().manual_seed(3)
    a = ember.nn.init.kaiming_normal_(ember.empty(5, 6, dtype=ember.float64), generator=g1)
    b = ember.nn.init.kaiming_normal_(ember.empty(5, 6, dtype=ember.float64), generator=g2)
    assert a.dtype == ember.float64
    np.testing.assert_array_equal(_np(a), _np(b))


def test_gaussian_nll_module_and_softmax2d():
    var = P01 * 0.0 + 1e-9  # below eps: clamped in value, gradient as if unclamped
    tm, em = torch.nn.GaussianNLLLoss(), ember.nn.GaussianNLLLoss()
    run_modules(tm, em, [REG_A, REG_B, var], np.float64, grad_inputs=[True, False, True])
    with pytest.raises(ValueError, match="negative"):
        em(ember.from_numpy(REG_A), ember.from_numpy(REG_B), ember.from_numpy(-P01))
    assert repr(ember.nn.Softmax2d()) == repr(torch.nn.Softmax2d())
    run_modules(torch.nn.Softmax2d(), ember.nn.Softmax2d(), [rand((2, 3, 4, 5))])


def test_deprecated_init_aliases_warn():
    with pytest.warns(FutureWarning, match="xavier_uniform_"):
        ember.nn.init.xavier_uniform(ember.empty(3, 4))


def test_sparse_init_zero_fraction():
    e = ember.nn.init.sparse_(ember.empty(10, 50), 0.3)
    assert np.all((_np(e) == 0).sum(0) == 3)


# ---- a whole program ------------------------------------------------------------------------------------------------
def _mlp_program(lib, x_np, y_np, state, steps=15, lr=0.2):
    nn = lib.nn
    model = nn.Sequential(
        nn.Linear(5, 16), nn.GELU(), nn.Dropout(0.0), nn.Linear(16, 16), nn.LeakyReLU(0.1), nn.Linear(16, 3)
    )
    model.load_state_dict({k: lib.from_numpy(v.copy()) for k, v in state.items()})
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    x, y = lib.from_numpy(x_np.copy()), lib.from_numpy(y_np.copy())
    losses = []
    for _ in range(steps):
        model.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        with lib.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
        losses.append(loss.item())
    return np.array(losses)


def test_mlp_training_matches_torch():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(
        torch.nn.Linear(5, 16),
        torch.nn.GELU(),
        torch.nn.Dropout(0.0),
        torch.nn.Linear(16, 16),
        torch.nn.LeakyReLU(0.1),
        torch.nn.Linear(16, 3),
    )
    state = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    le, lt = _mlp_program(ember, x, y, state), _mlp_program(torch, x, y, state)
    np.testing.assert_allclose(le, lt, rtol=1e-5)
    assert le[-1] < le[0]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore", [False, True])
def test_fused_nll_rows_matches_torch_and_finite_differences(reduction, ignore):
    """nll_loss over (N, C) rows is one primitive each way (ops/nll.py): torch's values and gradients, any order."""
    from ember.autograd import gradcheck, gradgradcheck
    from ember.ops.nll import nll_loss_rows

    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 5))
    t = rng.integers(0, 5, 6)
    if ignore:
        t[[1, 4]] = -100
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    le = ember.nn.functional.cross_entropy(xe, ember.tensor(t), reduction=reduction)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), reduction=reduction)
    np.testing.assert_allclose(le.detach().numpy(), lt.detach().numpy(), rtol=1e-12)
    le.sum().backward()
    lt.sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-15)
    logp = ember.tensor(x, requires_grad=True).log_softmax(1)
    target = ember.tensor(t)
    assert gradcheck(lambda a: nll_loss_rows(a, target, reduction=reduction), (logp.detach().requires_grad_(),))
    assert gradgradcheck(lambda a: nll_loss_rows(a, target, reduction=reduction), (logp.detach().requires_grad_(),))


def test_fused_nll_rows_compiled_equals_eager_and_checks_targets():
    model = ember.nn.Linear(4, 3)
    x = ember.randn(5, 4)
    step = ember.compile(lambda x, y: ember.nn.functional.cross_entropy(model(x), y))
    for y in (ember.tensor([0, 1, 2, 1, 0]), ember.tensor([0, -100, 2, -100, 0])):
        with ember.no_grad():
            assert ember.equal(step(x, y), ember.nn.functional.cross_entropy(model(x), y))
    with pytest.raises(IndexError, match="Target 3 is out of bounds"):
        ember.nn.functional.cross_entropy(model(x), ember.tensor([0, 1, 3, 1, 0]))
    with pytest.raises(IndexError, match="Target 7 is out of bounds"), ember.no_grad():
        step(x, ember.tensor([0, 1, 7, 1, 0]))  # in a graph the kernel checks when it runs
