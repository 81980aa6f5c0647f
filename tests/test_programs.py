"""Whole programs written for PyTorch, run under ember with only the module swapped.

Each program is a function of the framework module, run once with torch and
once with ember from the same NumPy data; their numbers must agree.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


def linear_regression(lib, x_np, y_np, steps=200, lr=0.5):
    """The seed's linear regression with raw tensors and autograd."""
    x, y = lib.from_numpy(x_np.copy()), lib.from_numpy(y_np.copy())
    w = lib.zeros(1, 1, requires_grad=True)
    b = lib.zeros(1, requires_grad=True)
    losses = []
    for _ in range(steps):
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        with lib.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
        w.grad.zero_()
        b.grad.zero_()
        losses.append(loss.item())
    return w.item(), b.item(), losses


def mlp_classifier(lib, x_np, labels_np, w1_np, w2_np, steps=25, lr=0.1):
    """A two-layer MLP with hand-written softmax cross-entropy and momentum SGD."""
    x = lib.from_numpy(x_np.copy())
    labels = lib.from_numpy(labels_np.copy())
    w1 = lib.from_numpy(w1_np.copy()).requires_grad_(True)
    b1 = lib.zeros(w1_np.shape[1], requires_grad=True)
    w2 = lib.from_numpy(w2_np.copy()).requires_grad_(True)
    b2 = lib.zeros(w2_np.shape[1], requires_grad=True)
    params = [w1, b1, w2, b2]
    velocity = [lib.zeros_like(p) for p in params]
    losses = []
    for _ in range(steps):
        h = (x @ w1 + b1).relu()
        logits = h @ w2 + b2
        logp = logits.log_softmax(dim=1)
        loss = -logp.gather(1, labels.unsqueeze(1)).mean()
        for p in params:
            p.grad = None
        loss.backward()
        with lib.no_grad():
            for p, v in zip(params, velocity):
                v.mul_(0.9).add_(p.grad)
                p.sub_(lr * v)
        losses.append(loss.item())
    acc = (logits.argmax(dim=1) == labels).float().mean().item()
    return losses, acc


def attention_block(lib, x_np, wq_np, wk_np, wv_np):
    """Causal self-attention forward and input gradient, written with plain tensor ops."""
    x = lib.from_numpy(x_np.copy()).requires_grad_(True)
    wq, wk, wv = (lib.from_numpy(a.copy()) for a in (wq_np, wk_np, wv_np))
    q, k, v = x @ wq, x @ wk, x @ wv
    T = x.shape[1]
    att = (q @ k.transpose(-2, -1)) / (k.shape[-1] ** 0.5)
    mask = lib.tril(lib.ones(T, T)) == 0
    att = att.masked_fill(mask, float("-inf")).softmax(dim=-1)
    out = att @ v
    out.pow(2).sum().backward()
    return out.detach().numpy(), x.grad.numpy()


def test_seed_linear_regression_matches_torch():
    rng = np.random.default_rng(0)
    x = rng.random((100, 1), dtype=np.float32)
    y = 2 * x + 1 + rng.random((100, 1), dtype=np.float32)
    ew, eb, el = linear_regression(ember, x, y)
    tw, tb, tl = linear_regression(torch, x, y)
    np.testing.assert_allclose(el, tl, rtol=1e-4)
    assert abs(ew - tw) < 1e-4 and abs(eb - tb) < 1e-4
    assert abs(ew - 2) < 0.1 and abs(eb - 1.5) < 0.1  # the benchmark's correctness guard


@pytest.mark.parametrize("seed", [0, 1])
def test_mlp_classifier_matches_torch_step_by_step(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 10)).astype(np.float32)
    labels = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + 2 * (x[:, 2] > 0)
    w1 = (rng.standard_normal((10, 32)) * 0.3).astype(np.float32)
    w2 = (rng.standard_normal((32, 4)) * 0.3).astype(np.float32)
    el, eacc = mlp_classifier(ember, x, labels, w1, w2)
    tl, tacc = mlp_classifier(torch, x, labels, w1, w2)
    np.testing.assert_allclose(el, tl, rtol=1e-4, atol=1e-6)
    assert eacc == tacc
    assert el[-1] < el[0] * 0.7  # it learns


def test_causal_attention_matches_torch():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    ws = [(rng.standard_normal((8, 8)) * 0.3).astype(np.float32) for _ in range(3)]
    e_out, e_grad = attention_block(ember, x, *ws)
    t_out, t_grad = attention_block(torch, x, *ws)
    np.testing.assert_allclose(e_out, t_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(e_grad, t_grad, rtol=1e-4, atol=1e-5)
