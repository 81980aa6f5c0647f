"""CuPy == NumPy: the op-table sweep run on a GPU against ember's own CPU results.

Run with ``make test-gpu`` on a machine with an NVIDIA GPU and CuPy; the
default test run (``make test``, CI) has no GPU and does not collect this
folder. Every primitive and composite: forward values and gradients on
``cuda`` equal those on ``cpu`` (float32, same inputs and upstream grads).
"""

from __future__ import annotations

import operator
import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from op_cases import Arr, calls_for, composite_calls  # noqa: E402

import ember  # noqa: E402
from ember.op import REGISTRY  # noqa: E402
from ember.ops.composite import COMPOSITES  # noqa: E402

if not ember.cuda.is_available():
    pytest.exit("tests_gpu needs CuPy and a CUDA GPU", returncode=1)

PRIMITIVES = sorted(n for n, op in REGISTRY.items() if (op.sample or {}).get("cases") != "internal")


def _convert(arg, device, leaves):
    if isinstance(arg, Arr):
        v = arg.value
        if v.dtype.kind == "f":
            t = ember.tensor(v.astype(np.float32), device=device)
            if arg.grad:
                t.requires_grad_(True)
                leaves.append(t)
            return t
        return ember.tensor(np.asarray(v, dtype=np.int64 if v.dtype.kind in "iu" else v.dtype), device=device)
    if isinstance(arg, list):
        return [_convert(a, device, leaves) for a in arg]
    if isinstance(arg, tuple):
        return tuple(_convert(a, device, leaves) for a in arg)
    if arg == "float32":
        return ember.float32
    return arg


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [o for x in out for o in _flat(x)]
    return [out]


def _resolve(path):
    if path == "getitem":
        return operator.getitem
    obj = ember
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _run(call, device):
    leaves = []
    args = [_convert(a, device, leaves) for a in call.args]
    out = _flat(_resolve(call.fn)(*args, **call.kwargs))
    outs = [o for o in out if isinstance(o, ember.Tensor)]
    grads = None
    diff = [o for o in outs if o.requires_grad]
    if call.grad and leaves and diff:
        rng = np.random.default_rng(3)
        gs = [ember.tensor(rng.standard_normal(tuple(o.shape)).astype(np.float32), device=device) for o in diff]
        grads = ember.autograd.grad(diff, leaves, gs, allow_unused=True)
    return outs, grads


def _host(t):
    return None if t is None else t.detach().cpu().numpy()


def check(call):
    cpu_out, cpu_g = _run(call, "cpu")
    gpu_out, gpu_g = _run(call, "cuda")
    for c, g in zip(cpu_out, gpu_out):
        assert g.device.type == "cuda", f"{call.fn}: output left the GPU"
        assert c.dtype is g.dtype, f"{call.fn}: dtype {g.dtype} on GPU, {c.dtype} on CPU"
        np.testing.assert_allclose(_host(g), _host(c), rtol=1e-4, atol=1e-5, err_msg=call.fn)
    if cpu_g is not None:
        for k, (c, g) in enumerate(zip(cpu_g, gpu_g)):
            if c is None:
                continue
            assert g is not None and g.device.type == "cuda", f"{call.fn}: grad {k} missing or not on the GPU"
            np.testing.assert_allclose(_host(g), _host(c), rtol=1e-4, atol=1e-5, err_msg=f"{call.fn} grad {k}")


SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@pytest.mark.parametrize("name", PRIMITIVES)
@SETTINGS
@given(data=st.data())
def test_primitive_gpu_matches_cpu(name, data):
    op = REGISTRY[name]
    for call in calls_for(data.draw, name, op.kind, op.sample or {}):
        if call.fn.startswith("Tensor.") and call.fn not in (
            "Tensor.expand",
            "Tensor.repeat",
            "Tensor.to",
            "Tensor.double",
            "Tensor.contiguous",
        ):
            continue
        check(call)


@pytest.mark.parametrize("name", sorted(COMPOSITES))
@SETTINGS
@given(data=st.data())
def test_composite_gpu_matches_cpu(name, data):
    for call in composite_calls(data.draw, name, COMPOSITES[name]["sample"]):
        check(call)


def test_training_step_on_gpu_matches_cpu():
    """The seed's linear regression, 50 steps on each device, same numbers."""
    rng = np.random.default_rng(0)
    x = rng.random((100, 1), dtype=np.float32)
    y = 2 * x + 1 + rng.random((100, 1), dtype=np.float32)
    res = {}
    for dev in ("cpu", "cuda"):
        xt, yt = ember.tensor(x, device=dev), ember.tensor(y, device=dev)
        w = ember.zeros(1, 1, device=dev, requires_grad=True)
        b = ember.zeros(1, device=dev, requires_grad=True)
        for _ in range(50):
            loss = ((xt @ w + b - yt) ** 2).mean()
            loss.backward()
            with ember.no_grad():
                w -= 0.5 * w.grad
                b -= 0.5 * b.grad
            w.grad = b.grad = None
        res[dev] = (w.item(), b.item(), loss.item())
    np.testing.assert_allclose(res["cuda"], res["cpu"], rtol=1e-4)


def test_cpu_gpu_round_trip_gradient():
    x = ember.randn(3, 4, requires_grad=True)
    y = (x.cuda() * 2).sum()
    y.backward()
    assert x.grad.device.type == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 4), 2.0, np.float32))
