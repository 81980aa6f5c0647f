"""Convolution, pooling and normalisation layers against PyTorch with identical weights.

Each module is built in both libraries, ember's parameters are copied from
torch's (via NumPy), and outputs, input gradients and parameter gradients are
compared in float32 (rtol 1e-5; sums over many products use a small atol).
The functional forms that are compositions (avg pools, adaptive pools,
interpolate, unfold/fold, norms) are also checked with gradcheck and
gradgradcheck in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import ember
import ember.nn as enn
import ember.nn.functional as EF

RTOL, ATOL = 1e-5, 1e-5


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t.detach().numpy()


def _close(e, t, what, rtol=RTOL, atol=ATOL):
    ea, ta = _np(e), _np(t)
    assert ea.shape == ta.shape, f"{what}: shape {ea.shape} != torch {ta.shape}"
    if ea.dtype.kind == "f":
        # float32 sums of many products round differently in another summation order: an
        # element that cancels to near zero is compared against the scale of the whole output
        scale = float(np.abs(ta).max()) if ta.size else 1.0
        np.testing.assert_allclose(ea, ta, rtol=rtol, atol=atol * max(1.0, scale), err_msg=what)
    else:
        np.testing.assert_array_equal(ea, ta, err_msg=what)


def _copy_params(em, tm):
    sd = {k: ember.from_numpy(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}
    em.load_state_dict(sd)


def _compare_module(em, tm, shape, seed=0, train_steps=1, rtol=RTOL, atol=ATOL):
    """Forward, input grad and parameter grads of em vs tm on random inputs."""
    _copy_params(em, tm)
    rng = np.random.default_rng(seed)
    for step in range(train_steps):
        x = rng.standard_normal(shape).astype(np.float32)
        xe = ember.from_numpy(x.copy()).requires_grad_(True)
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        ye, yt = em(xe), tm(xt)
        _close(ye, yt, f"{type(tm).__name__} output (step {step})", rtol, atol)
        g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
        for p in em.parameters():
            p.grad = None
        tm.zero_grad()
        ye.backward(ember.from_numpy(g.copy()))
        yt.backward(torch.from_numpy(g.copy()))
        _close(xe.grad, xt.grad, f"{type(tm).__name__} input grad", rtol, atol)
        tp = dict(tm.named_parameters())
        for name, p in em.named_parameters():
            _close(p.grad, tp[name].grad, f"{type(tm).__name__} grad of {name}", rtol, atol)
    return em, tm


# ---- convolution modules --------------------------------------------------------------------
CONV2D = [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
    dict(in_channels=4, out_channels=4, kernel_size=3, padding=1, groups=4, bias=False),
    dict(in_channels=3, out_channels=5, kernel_size=4, padding="same"),
    dict(in_channels=3, out_channels=5, kernel_size=(3, 4), padding="same", dilation=(2, 1)),
    dict(in_channels=3, out_channels=2, kernel_size=3, padding="valid", stride=2),
    dict(in_channels=2, out_channels=3, kernel_size=3, padding=2, padding_mode="reflect"),
    dict(in_channels=2, out_channels=3, kernel_size=3, padding=(1, 2), padding_mode="replicate", stride=2),
    dict(in_channels=2, out_channels=3, kernel_size=3, padding=1, padding_mode="circular", dilation=2),
    dict(in_channels=2, out_channels=3, kernel_size=4, padding="same", padding_mode="reflect"),
]


@pytest.mark.parametrize("kw", CONV2D, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_conv2d_module(kw):
    em, tm = enn.Conv2d(**kw), tnn.Conv2d(**kw)
    _compare_module(em, tm, (2, kw["in_channels"], 9, 8))
    assert repr(em) == repr(tm)


def test_conv2d_unbatched_and_lenet_sizes():
    em, tm = enn.Conv2d(1, 6, 5), tnn.Conv2d(1, 6, 5)
    _compare_module(em, tm, (8, 1, 28, 28))
    _compare_module(em, tm, (1, 28, 28))


CONV1D = [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(in_channels=4, out_channels=2, kernel_size=2, stride=2, padding=1, dilation=2, groups=2),
    dict(in_channels=3, out_channels=4, kernel_size=4, padding="same"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=2, padding_mode="circular"),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, padding_mode="reflect", bias=False),
]


@pytest.mark.parametrize("kw", CONV1D, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_conv1d_module(kw):
    em, tm = enn.Conv1d(**kw), tnn.Conv1d(**kw)
    _compare_module(em, tm, (3, kw["in_channels"], 11))
    assert repr(em) == repr(tm)


CONVT = [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(
        in_channels=4,
        out_channels=6,
        kernel_size=(3, 2),
        stride=(2, 3),
        padding=(1, 0),
        output_padding=(1, 2),
        groups=2,
    ),
    dict(in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1, dilation=2, output_padding=1, bias=False),
    dict(in_channels=2, out_channels=2, kernel_size=1, dilation=3, output_padding=2),
]


@pytest.mark.parametrize("kw", CONVT, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_conv_transpose2d_module(kw):
    em, tm = enn.ConvTranspose2d(**kw), tnn.ConvTranspose2d(**kw)
    _compare_module(em, tm, (2, kw["in_channels"], 5, 4))
    assert repr(em) == repr(tm)


def test_conv_transpose_output_size_and_1d():
    em, tm = enn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), tnn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    _copy_params(em, tm)
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)
    _close(em(ember.from_numpy(x), output_size=[8, 8]), tm(torch.from_numpy(x), output_size=[8, 8]), "output_size")
    em, tm = enn.ConvTranspose1d(3, 2, 3, stride=2), tnn.ConvTranspose1d(3, 2, 3, stride=2)
    _compare_module(em, tm, (2, 3, 7))


def test_conv_default_init_matches_torch_distribution():
    ember.manual_seed(0)
    m = enn.Conv2d(16, 32, 3)
    bound = 1 / np.sqrt(16 * 9)  # kaiming_uniform_(a=sqrt(5)) and the bias both give U(-1/sqrt(fan_in), ..)
    w, b = _np(m.weight), _np(m.bias)
    assert np.abs(w).max() <= bound * (1 + 1e-6), (np.abs(w).max(), bound)
    assert np.abs(w).max() > 0.9 * bound, (np.abs(w).max(), bound)
    assert np.abs(b).max() <= bound * (1 + 1e-6), (np.abs(b).max(), bound)
    assert list(m.state_dict()) == list(tnn.Conv2d(16, 32, 3).state_dict())


def test_conv_errors():
    with pytest.raises(RuntimeError):
        EF.conv2d(ember.randn(1, 3, 5, 5), ember.randn(4, 2, 3, 3))  # channel mismatch
    with pytest.raises(RuntimeError):
        EF.conv2d(ember.randn(1, 3, 2, 2), ember.randn(4, 3, 3, 3))  # kernel larger than input
    with pytest.raises(ValueError):
        enn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError):
        enn.Conv2d(3, 4, 3, groups=2)


# ---- pooling modules ------------------------------------------------------------------------
POOL2D = [
    ("MaxPool2d", dict(kernel_size=2)),
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("MaxPool2d", dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1))),
    ("MaxPool2d", dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("AvgPool2d", dict(kernel_size=2)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("AvgPool2d", dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), divisor_override=4)),
    ("AdaptiveAvgPool2d", dict(output_size=(3, 4))),
    ("AdaptiveAvgPool2d", dict(output_size=1)),
    ("AdaptiveAvgPool2d", dict(output_size=(None, 5))),
]


@pytest.mark.parametrize("name,kw", POOL2D, ids=lambda v: str(v))
def test_pool2d_module(name, kw):
    em, tm = getattr(enn, name)(**kw), getattr(tnn, name)(**kw)
    _compare_module(em, tm, (2, 3, 9, 10))
    _compare_module(em, tm, (3, 7, 7))  # unbatched
    if name != "AdaptiveAvgPool2d":
        assert repr(em) == repr(tm)


POOL1D = [
    ("MaxPool1d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("MaxPool1d", dict(kernel_size=2, dilation=2)),
    ("AvgPool1d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("AvgPool1d", dict(kernel_size=4)),
    ("AdaptiveAvgPool1d", dict(output_size=4)),
]


@pytest.mark.parametrize("name,kw", POOL1D, ids=lambda v: str(v))
def test_pool1d_module(name, kw):
    em, tm = getattr(enn, name)(**kw), getattr(tnn, name)(**kw)
    _compare_module(em, tm, (2, 3, 11))


def test_max_pool_return_indices():
    x = np.random.default_rng(3).standard_normal((2, 3, 7, 8)).astype(np.float32)
    eo, ei = enn.MaxPool2d(3, 2, 1, return_indices=True, ceil_mode=True)(ember.from_numpy(x))
    to, ti = tnn.MaxPool2d(3, 2, 1, return_indices=True, ceil_mode=True)(torch.from_numpy(x))
    _close(eo, to, "values")
    _close(ei, ti, "indices")
    eo, ei = EF.max_pool1d(ember.from_numpy(x[:, :, 0]), 3, return_indices=True)
    to, ti = TF.max_pool1d(torch.from_numpy(x[:, :, 0]), 3, return_indices=True)
    _close(ei, ti, "1d indices")


# ---- normalisation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls,kw,shape",
    [
        ("BatchNorm2d", dict(num_features=3), (4, 3, 5, 6)),
        ("BatchNorm2d", dict(num_features=3, momentum=None), (4, 3, 5, 6)),
        ("BatchNorm2d", dict(num_features=3, affine=False, eps=1e-3, momentum=0.3), (4, 3, 5, 6)),
        ("BatchNorm1d", dict(num_features=5), (8, 5)),
        ("BatchNorm1d", dict(num_features=5, momentum=None), (4, 5, 7)),
        ("BatchNorm2d", dict(num_features=3, track_running_stats=False), (4, 3, 5, 6)),
    ],
)
def test_batchnorm_train_then_eval(cls, kw, shape):
    em, tm = getattr(enn, cls)(**kw), getattr(tnn, cls)(**kw)
    _compare_module(em, tm, shape, train_steps=4)
    esd, tsd = em.state_dict(), tm.state_dict()
    assert list(esd) == list(tsd)
    for k in tsd:
        _close(esd[k], tsd[k], f"{cls} state {k} after training")
        assert str(esd[k].dtype).split(".")[-1] == str(tsd[k].dtype).split(".")[-1]
    em.eval()
    tm.eval()
    _compare_module(em, tm, shape, seed=7)


def test_batchnorm_state_dict_round_trip():
    tm = tnn.BatchNorm2d(4)
    tm(torch.randn(3, 4, 2, 2))
    em = enn.BatchNorm2d(4)
    em.load_state_dict({k: ember.from_numpy(v.numpy().copy()) for k, v in tm.state_dict().items()})
    assert int(em.num_batches_tracked.item()) == 1
    back = tnn.BatchNorm2d(4)
    back.load_state_dict({k: torch.from_numpy(_np(v).copy()) for k, v in em.state_dict().items()})
    for k, v in tm.state_dict().items():
        _close(back.state_dict()[k], v, k)


def test_batchnorm_errors():
    with pytest.raises(ValueError):
        enn.BatchNorm2d(3)(ember.randn(2, 3, 4))
    with pytest.raises(ValueError):
        enn.BatchNorm1d(3)(ember.randn(1, 3))  # one value per channel in training


@pytest.mark.parametrize(
    "kw,shape",
    [
        (dict(normalized_shape=6), (3, 4, 6)),
        (dict(normalized_shape=(4, 6), eps=1e-3), (3, 4, 6)),
        (dict(normalized_shape=6, elementwise_affine=False), (5, 6)),
        (dict(normalized_shape=6, bias=False), (2, 6)),
    ],
)
def test_layer_norm(kw, shape):
    em, tm = enn.LayerNorm(**kw), tnn.LayerNorm(**kw)
    with torch.no_grad():  # non-trivial affine parameters
        for p in tm.parameters():
            p.uniform_(0.5, 1.5)
    _compare_module(em, tm, shape)
    assert list(em.state_dict()) == list(tm.state_dict())


@pytest.mark.parametrize("groups,channels,affine", [(2, 4, True), (1, 3, True), (3, 3, False)])
def test_group_norm(groups, channels, affine):
    em, tm = enn.GroupNorm(groups, channels, affine=affine), tnn.GroupNorm(groups, channels, affine=affine)
    with torch.no_grad():
        for p in tm.parameters():
            p.uniform_(0.5, 1.5)
    _compare_module(em, tm, (2, channels, 5, 3))


# ---- functional forms: values vs torch, gradients vs finite differences -------------------
def _fn_cases():
    return [
        ("avg_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (1, 2, 5, 4)),
        ("adaptive_avg_pool2d", dict(output_size=(2, 3)), (1, 2, 5, 4)),
        ("interpolate", dict(scale_factor=1.5, mode="nearest"), (1, 1, 3, 4)),
        ("interpolate", dict(size=(5, 7), mode="bilinear", align_corners=True), (1, 2, 3, 4)),
        ("interpolate", dict(scale_factor=2.5, mode="bilinear", align_corners=False), (1, 1, 3, 2)),
        ("interpolate", dict(size=7, mode="linear"), (1, 2, 4)),
        ("unfold", dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1)), (1, 2, 4, 5)),
        ("fold", dict(output_size=(4, 5), kernel_size=(2, 3), stride=(1, 2)), (1, 12, 6)),
        ("layer_norm", dict(normalized_shape=(3, 2)), (2, 3, 2)),
        ("group_norm", dict(num_groups=2), (2, 4, 3)),
        ("batch_norm", dict(running_mean=None, running_var=None, training=True), (4, 3, 2)),
        ("conv1d", dict(stride=2, padding=1), (2, 3, 6)),
    ]


@pytest.mark.parametrize("name,kw,shape", _fn_cases(), ids=lambda v: str(v))
def test_functional_matches_torch_and_gradchecks(name, kw, shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    extra = []
    if name == "conv1d":
        extra = [rng.standard_normal((4, shape[1], 3))]
    xe = [ember.from_numpy(a.copy()).requires_grad_(True) for a in [x, *extra]]
    xt = [torch.from_numpy(a.copy()).requires_grad_(True) for a in [x, *extra]]

    def call(lib_f, args, t):
        if name == "batch_norm":
            return lib_f.batch_norm(args[0], None, None, training=True)
        return getattr(lib_f, name)(*args, **kw)

    ye, yt = call(EF, xe, False), call(TF, xt, True)
    _close(ye, yt, f"{name} output", 1e-10, 1e-10)
    g = rng.standard_normal(tuple(yt.shape))
    ge = ember.autograd.grad(ye, xe, ember.from_numpy(g.copy()))
    gt = torch.autograd.grad(yt, xt, torch.from_numpy(g.copy()))
    for a, b in zip(ge, gt):
        _close(a, b, f"{name} grad", 1e-8, 1e-10)
    f = lambda *a: call(EF, a, False)  # noqa: E731
    assert ember.autograd.gradcheck(f, tuple(xe), eps=1e-6, atol=1e-5, rtol=1e-3)
    assert ember.autograd.gradgradcheck(f, tuple(xe), eps=1e-6, atol=1e-4, rtol=1e-3)


def test_conv_second_derivatives():
    rng = np.random.default_rng(1)
    x = ember.from_numpy(rng.standard_normal((1, 4, 5, 4))).requires_grad_(True)
    w = ember.from_numpy(rng.standard_normal((6, 2, 3, 2))).requires_grad_(True)
    wt = ember.from_numpy(rng.standard_normal((4, 3, 2, 3))).requires_grad_(True)

    def conv(a, b):
        return EF.conv2d(a, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)

    def convt(a, b):
        return EF.conv_transpose2d(a, b, stride=2, padding=(1, 0), output_padding=1, groups=2)

    for f, args in ((conv, (x, w)), (convt, (x, wt))):
        assert ember.autograd.gradcheck(f, args, eps=1e-6, atol=1e-5, rtol=1e-3)
        assert ember.autograd.gradgradcheck(f, args, eps=1e-6, atol=1e-4, rtol=1e-3)


def test_small_cnn_training_step_matches_torch():
    """A LeNet-like stack: conv, batchnorm, relu, maxpool, conv, avgpool, adaptive pool; one SGD step."""

    def build(nn):
        return nn.Sequential(
            nn.Conv2d(1, 4, 5, padding=2),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3, groups=2),
            nn.AvgPool2d(2, ceil_mode=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    tm = build(tnn)
    em = build(enn)
    _compare_module(em, tm, (4, 1, 16, 16), train_steps=2)


def test_fused_layer_norm_matches_its_composition():
    from ember.nn._functional_conv import _layer_norm_reference

    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5))
    w, b = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    args = [ember.from_numpy(a.copy()).requires_grad_(True) for a in (x, w, b)]
    ref = [ember.from_numpy(a.copy()).requires_grad_(True) for a in (x, w, b)]
    y = EF.layer_norm(args[0], (4, 5), args[1], args[2], eps=1e-3)
    yr = _layer_norm_reference(ref[0], (4, 5), ref[1], ref[2], eps=1e-3)
    _close(y, yr, "fused layer_norm", 1e-12, 1e-12)
    g = ember.from_numpy(rng.standard_normal(x.shape))
    # second order: gradient of (sum of squared first gradients) w.r.t. every input
    gs = ember.autograd.grad(y, args, g, create_graph=True)
    gr = ember.autograd.grad(yr, ref, g, create_graph=True)
    hs = ember.autograd.grad(sum((a * a).sum() for a in gs), args[:2])
    hr = ember.autograd.grad(sum((a * a).sum() for a in gr), ref[:2])
    for a, b_ in zip(gs + hs, gr + hr):
        _close(a, b_, "layer_norm derivatives", 1e-9, 1e-9)
    # the rstd output is differentiable too (second derivatives flow through it)
    x0 = ember.from_numpy(x.copy()).requires_grad_(True)
    f = lambda a: ember.ops.conv.layer_norm_lastdims(a, ndim=2, eps=1e-3)  # noqa: E731
    assert ember.autograd.gradcheck(f, (x0[:1, :2],), eps=1e-6, atol=1e-5, rtol=1e-3)
    assert ember.autograd.gradgradcheck(f, (x0[:1, :2],), eps=1e-6, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("kernel,stride,dilation", [(2, 2, 1), (3, 2, 1), (3, 1, 2), (2, 1, 1), (3, 3, 1)])
def test_max_pool2d_ties_and_indices_match_torch(kernel, stride, dilation):
    """Small integer values make many ties: PyTorch keeps the first maximum of each window; so must ember."""
    x = np.random.default_rng(kernel * 10 + stride).integers(0, 3, (3, 2, 11, 9)).astype(np.float32)
    got, gi = ember.nn.functional.max_pool2d(ember.tensor(x), kernel, stride, 0, dilation, return_indices=True)
    want, wi = torch.nn.functional.max_pool2d(torch.tensor(x), kernel, stride, 0, dilation, return_indices=True)
    assert np.array_equal(got.numpy(), want.numpy()) and np.array_equal(gi.numpy(), wi.numpy())
    x[0, 0, 1, 1] = np.nan  # NaN wins its windows and the index points at it
    got, gi = ember.nn.functional.max_pool2d(ember.tensor(x), kernel, stride, 0, dilation, return_indices=True)
    want, wi = torch.nn.functional.max_pool2d(torch.tensor(x), kernel, stride, 0, dilation, return_indices=True)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert np.array_equal(gi.numpy(), wi.numpy())
