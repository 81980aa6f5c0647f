"""Linear, activations, dropout, embedding and losses on CuPy against ember's own CPU results.

Forward values and input/parameter gradients on ``cuda`` equal those on ``cpu``
(float32, same inputs and upstream grads). Runs under pytest (``make test-gpu``)
or as a plain script (``python tests_gpu/test_nn_basic_cupy.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn.functional as F

cupy = pytest.importorskip("cupy") if __name__ != "__main__" else None

RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 4)).astype(np.float32)
Y = RNG.standard_normal((6, 4)).astype(np.float32)
P = RNG.uniform(0.05, 0.95, (6, 4)).astype(np.float32)
W = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal(3).astype(np.float32)
IDX = np.array([0, 3, 1, -100, 2, 3])
CW = RNG.uniform(0.5, 2, 4).astype(np.float32)

CASES = [
    ("linear", lambda x, w, b: F.linear(x, w, b), [X, W, B]),
    ("cross_entropy", lambda x: F.cross_entropy(x, _t(np.abs(IDX) % 4, x)), [X]),
    ("cross_entropy w ign ls", lambda x, w: F.cross_entropy(x, _t(IDX, x), weight=w, label_smoothing=0.1), [X, CW]),
    ("cross_entropy probs", lambda x, y: F.cross_entropy(x, F.softmax(y, 1)), [X, Y]),
    ("nll_loss", lambda x: F.nll_loss(x, _t(IDX, x), reduction="none"), [X]),
    ("bce", lambda p, y: F.binary_cross_entropy(p, F.sigmoid(y)), [P, Y]),
    ("bce_logits", lambda x, y, w: F.binary_cross_entropy_with_logits(x, F.sigmoid(y), pos_weight=w), [X, Y, CW]),
    ("kl_div", lambda x, p: F.kl_div(x, p, reduction="batchmean"), [X, P]),
    (
        "smooth_l1 huber mse l1",
        lambda x, y: F.smooth_l1_loss(x, y) + F.huber_loss(x, y, delta=0.5) + F.mse_loss(x, y) + F.l1_loss(x, y),
        [X, Y],
    ),
    ("cosine normalize", lambda x, y: F.cosine_similarity(x, y).sum() + F.normalize(x).pow(2).sum(), [X, Y]),
    (
        "activations",
        lambda x, w: (
            F.leaky_relu(x) + F.elu(x) + F.hardswish(x) + F.logsigmoid(x) + F.prelu(x, w) + F.softmin(x, 1) + F.selu(x)
        ),
        [X, CW],
    ),
    ("embedding", lambda w: F.embedding(_t(np.array([[1, 2], [2, 0]]), w), w, padding_idx=2), [W]),
]


def _t(a, like):
    return ember.tensor(a, device=like.device)


def _run(fn, arrays, device):
    ts = [ember.tensor(a, device=device).requires_grad_(True) for a in arrays]
    y = fn(*ts)
    g = np.random.default_rng(1).standard_normal(tuple(y.shape)).astype(np.float32)
    y.backward(ember.tensor(g, device=device))
    return y.detach().cpu().numpy(), [t.grad.cpu().numpy() if t.grad is not None else None for t in ts]


@pytest.mark.parametrize("name,fn,arrays", CASES, ids=[c[0] for c in CASES])
def test_matches_cpu(name, fn, arrays):
    yc, gc = _run(fn, arrays, "cpu")
    yg, gg = _run(fn, arrays, "cuda")
    np.testing.assert_allclose(yg, yc, rtol=2e-5, atol=2e-6, err_msg=name)
    for a, b in zip(gg, gc):
        if b is None:
            assert a is None or not np.any(a)
        else:
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=name)


def test_dropout_and_modules_on_cuda():
    m = ember.nn.Sequential(ember.nn.Linear(4, 8), ember.nn.GELU(), ember.nn.Dropout(0.5), ember.nn.Linear(8, 3)).cuda()
    x = ember.tensor(X, device="cuda")
    loss = ember.nn.CrossEntropyLoss()(m(x), ember.tensor(np.abs(IDX) % 3, device="cuda"))
    loss.backward()
    assert m[0].weight.grad.device.type == "cuda"
    y = ember.nn.functional.dropout(ember.ones(100, 100, device="cuda"), 0.3)
    frac = float((y == 0).float().mean().item())
    assert abs(frac - 0.3) < 0.03 and y.device.type == "cuda"
    e = ember.nn.Embedding(5, 3, padding_idx=0, max_norm=1.0, scale_grad_by_freq=True).cuda()
    e(ember.tensor([[0, 1, 1], [4, 0, 2]], device="cuda")).sum().backward()
    assert not np.any(e.weight.grad.cpu().numpy()[0])


if __name__ == "__main__":
    for c in CASES:
        test_matches_cpu(*c)
        print("ok", c[0])
    test_dropout_and_modules_on_cuda()
    print("ok dropout/modules")
