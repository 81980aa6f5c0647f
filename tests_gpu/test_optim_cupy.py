"""Optimizers, clip_grad_norm_ and collate on CuPy arrays equal their NumPy results (``make test-gpu``)."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import optim

if not ember.cuda.is_available():
    pytest.exit("tests_gpu needs CuPy and a CUDA GPU", returncode=1)

CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
]


def _params(device):
    rng = np.random.default_rng(0)
    return [
        ember.nn.Parameter(ember.tensor(rng.standard_normal(s).astype(np.float32), device=device))
        for s in ((3, 4), (5,), ())
    ]


@pytest.mark.parametrize("name,kwargs", CONFIGS)
def test_optimizer_cuda_equals_cpu(name, kwargs):
    cpu, gpu = _params("cpu"), _params("cuda")
    oc, og = getattr(optim, name)(cpu, **kwargs), getattr(optim, name)(gpu, **kwargs)
    rng = np.random.default_rng(1)
    for _ in range(5):
        for a, b in zip(cpu, gpu):
            g = rng.standard_normal(tuple(a.shape)).astype(np.float32)
            a.grad = ember.tensor(g)
            b.grad = ember.tensor(g, device="cuda")
        oc.step()
        og.step()
    for a, b in zip(cpu, gpu):
        assert b.device.type == "cuda"
        np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().numpy(), rtol=1e-5, atol=1e-6)
    for sa, sb in zip(oc.state_dict()["state"].values(), og.state_dict()["state"].values()):
        for k in sa:
            np.testing.assert_allclose(np.asarray(sb[k]), np.asarray(sa[k]), rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_cuda():
    cpu, gpu = _params("cpu"), _params("cuda")
    for a, b in zip(cpu, gpu):
        a.grad = ember.ones_like(a) * 3
        b.grad = ember.ones_like(b) * 3
    na = ember.nn.utils.clip_grad_norm_(cpu, 1.0)
    nb = ember.nn.utils.clip_grad_norm_(gpu, 1.0)
    assert nb.device.type == "cuda"
    np.testing.assert_allclose(float(nb), float(na), rtol=1e-6)
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(b.grad.cpu().numpy(), a.grad.numpy(), rtol=1e-6)


def test_collate_cuda_tensors():
    from ember.utils.data import default_collate

    batch = default_collate([ember.ones(2, device="cuda"), ember.zeros(2, device="cuda")])
    assert batch.device.type == "cuda" and batch.shape == (2, 2)
