"""Convolution, pooling and normalisation on CuPy against ember's own CPU results.

Forward values and input/parameter gradients on ``cuda`` equal those on ``cpu``
(float32, same inputs and upstream grads). Runs under pytest (``make test-gpu``)
or as a plain script (``python tests_gpu/test_conv_cupy.py``).
"""

from __future__ import annotations

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F

CASES = [
    (
        "conv2d",
        lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
        (2, 4, 9, 8),
        (6, 2, 3, 3),
    ),
    ("conv2d same", lambda x, w: F.conv2d(x, w, padding="same"), (2, 3, 7, 6), (5, 3, 4, 2)),
    (
        "conv_transpose2d",
        lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1, groups=2),
        (2, 4, 5, 4),
        (4, 3, 3, 3),
    ),
    ("conv_transpose2d s1", lambda x, w: F.conv_transpose2d(x, w, padding=1), (2, 4, 5, 4), (4, 3, 3, 3)),
    ("max_pool2d", lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), (2, 3, 9, 8), None),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 3, 9, 8), None),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 5)), (2, 3, 9, 8), None),
    ("interpolate bilinear", lambda x: F.interpolate(x, scale_factor=1.7, mode="bilinear"), (2, 3, 5, 4), None),
    ("unfold", lambda x: F.unfold(x, 3, padding=1, stride=2), (2, 3, 6, 5), None),
    ("group_norm", lambda x: F.group_norm(x, 3), (2, 6, 4, 3), None),
    ("layer_norm", lambda x: F.layer_norm(x, (4, 3)), (2, 6, 4, 3), None),
]


def _run(fn, arrays, device, g):
    ts = [ember.tensor(a, device=device).requires_grad_(True) for a in arrays]
    y = fn(*ts)
    y.backward(ember.tensor(g, device=device))
    return y.detach().cpu().numpy(), [t.grad.cpu().numpy() for t in ts]


def _check(name, fn, xs, ws):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(xs).astype(np.float32)]
    if ws is not None:
        arrays.append(rng.standard_normal(ws).astype(np.float32))
    y_cpu = fn(*[ember.tensor(a) for a in arrays])
    g = rng.standard_normal(tuple(y_cpu.shape)).astype(np.float32)
    yc, gc = _run(fn, arrays, "cpu", g)
    yg, gg = _run(fn, arrays, "cuda", g)
    np.testing.assert_allclose(yg, yc, rtol=1e-4, atol=1e-4, err_msg=name)
    for a, b in zip(gg, gc):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=f"{name} grad")


def test_functional_cuda_matches_cpu():
    for name, fn, xs, ws in CASES:
        _check(name, fn, xs, ws)


def test_cnn_modules_cuda_matches_cpu():
    def build():
        ember.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect", groups=2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    x = np.random.default_rng(1).standard_normal((4, 3, 16, 16)).astype(np.float32)
    outs = {}
    for device in ("cpu", "cuda"):
        m = build().to(device)
        y = m(ember.tensor(x, device=device))
        y.sum().backward()
        outs[device] = (
            y.detach().cpu().numpy(),
            m[0].weight.grad.cpu().numpy(),
            m[1].running_var.cpu().numpy(),
        )
    for a, b in zip(outs["cuda"], outs["cpu"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


if __name__ == "__main__":
    test_functional_cuda_matches_cpu()
    test_cnn_modules_cuda_matches_cpu()
    print("conv/pool/norm: cuda == cpu")
