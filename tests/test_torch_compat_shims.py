"""PyTorch names that common training scripts touch (backends flags, matmul precision, amp, pin_memory).

GradScaler runs side by side with ``torch.amp.GradScaler("cpu")`` on the same model
and data, including an injected inf gradient, and must give the same scales and weights.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import ember


def _pair(seed=0):
    """The same Linear(4, 3) in torch and ember, SGD on both, and one fixed batch."""
    torch.manual_seed(seed)
    tm = torch.nn.Linear(4, 3)
    em = ember.nn.Linear(4, 3)
    with ember.no_grad():
        em.weight.copy_(ember.tensor(tm.weight.detach().numpy()))
        em.bias.copy_(ember.tensor(tm.bias.detach().numpy()))
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((8, 4), dtype=np.float32), rng.standard_normal((8, 3), dtype=np.float32)
    return tm, em, x, y


def _scaled_backward(lib, model, scaler, x, y, inject_inf):
    loss = ((model(lib.tensor(x)) - lib.tensor(y)) ** 2).mean()
    scaled = scaler.scale(loss)
    scaled.backward()
    if inject_inf:
        with lib.no_grad():
            model.weight.grad[0, 1] = float("inf")
    return loss, scaled


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_grad_scaler_matches_torch_with_skipped_step(opt):
    tm, em, x, y = _pair()
    kw = dict(init_scale=2.0**10, growth_factor=2.0, backoff_factor=0.25, growth_interval=2)
    ts, es = torch.amp.GradScaler("cpu", **kw), ember.amp.GradScaler("cpu", **kw)
    make = {
        "sgd": lambda lib, m: lib.optim.SGD(m.parameters(), lr=0.05),
        "adam": lambda lib, m: lib.optim.Adam(m.parameters(), lr=0.01),
    }[opt]
    topt, eopt = make(torch, tm), make(ember, em)
    assert es.get_scale() == ts.get_scale() == 1024.0
    for step in range(7):
        inject = step in (2, 5)
        topt.zero_grad()
        eopt.zero_grad()
        tl, tsc = _scaled_backward(torch, tm, ts, x, y, inject)
        el, esc = _scaled_backward(ember, em, es, x, y, inject)
        np.testing.assert_allclose(esc.item(), tsc.item(), rtol=1e-6)
        w_before = em.weight.detach().numpy().copy()
        if step == 3:  # explicit unscale_ (as before gradient clipping), then step
            ts.unscale_(topt)
            es.unscale_(eopt)
            np.testing.assert_allclose(em.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-5, atol=1e-7)
        ts.step(topt)
        es.step(eopt)
        if inject:  # the step is skipped: weights unchanged
            np.testing.assert_array_equal(em.weight.detach().numpy(), w_before)
        ts.update()
        es.update()
        assert es.get_scale() == ts.get_scale(), step
        assert es.state_dict() == ts.state_dict()
        np.testing.assert_allclose(em.weight.detach().numpy(), tm.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(em.bias.detach().numpy(), tm.bias.detach().numpy(), rtol=1e-5, atol=1e-6)
    # the scale really moved both ways over these steps
    assert es.get_scale() != 1024.0


def test_grad_scaler_update_new_scale_state_dict_and_errors():
    ts, es = torch.amp.GradScaler("cpu"), ember.amp.GradScaler("cpu")
    for s, lib in ((ts, torch), (es, ember)):
        with pytest.raises(AssertionError, match="did not use scaler.scale"):
            s.step(lib.optim.SGD([lib.zeros(2, requires_grad=True)], lr=0.1))
    for s, lib in ((ts, torch), (es, ember)):
        p = lib.ones(2, requires_grad=True)
        o = lib.optim.SGD([p], lr=0.1)
        s.scale((p * 3).sum()).backward()
        s.unscale_(o)
        with pytest.raises(RuntimeError, match="already been called"):
            s.unscale_(o)
        s.step(o)
        with pytest.raises(RuntimeError, match="step\\(\\) has already been called"):
            s.step(o)
        s.update(new_scale=3.5)
        assert s.get_scale() == 3.5
        assert s.scale([lib.ones(()), (lib.ones(()) * 2,)])[1][0].item() == 7.0
    assert es.state_dict() == ts.state_dict()
    fresh_t, fresh_e = torch.amp.GradScaler("cpu"), ember.amp.GradScaler("cpu")
    fresh_t.load_state_dict(ts.state_dict())
    fresh_e.load_state_dict(es.state_dict())
    assert fresh_e.state_dict() == fresh_t.state_dict()
    for cls in (torch.amp.GradScaler, ember.amp.GradScaler):
        with pytest.raises(AssertionError, match="growth factor"):
            cls("cpu", growth_factor=1.0)


def test_grad_scaler_disabled_is_passthrough():
    p = ember.ones(3, requires_grad=True)
    opt = ember.optim.SGD([p], lr=0.5)
    s = ember.amp.GradScaler("cpu", enabled=False)
    loss = (p * 2).sum()
    assert s.scale(loss) is loss
    loss.backward()
    s.unscale_(opt)
    s.step(opt)  # plain optimizer.step()
    s.update()
    np.testing.assert_array_equal(p.detach().numpy(), np.zeros(3, np.float32))
    assert (s.get_scale(), s.is_enabled(), s.state_dict()) == (1.0, False, {})
    assert torch.amp.GradScaler("cpu", enabled=False).state_dict() == {}


def test_cuda_amp_grad_scaler_without_gpu_warns_and_disables_like_torch():
    with pytest.warns(FutureWarning, match="deprecated"), pytest.warns(UserWarning, match="CUDA is not available"):
        es = ember.cuda.amp.GradScaler()
    with pytest.warns(FutureWarning), pytest.warns(UserWarning):
        ts = torch.cuda.amp.GradScaler()
    assert isinstance(es, ember.amp.GradScaler)
    assert es.is_enabled() == ts.is_enabled() == ember.cuda.is_available()
    from ember.cuda.amp import GradScaler  # importable like torch.cuda.amp

    assert GradScaler is ember.cuda.amp.GradScaler
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not ember.amp.GradScaler(enabled=False).is_enabled()
    assert ember.cuda.is_bf16_supported() is False


def test_backend_flags_defaults_and_settable():
    names = [
        ("cuda.matmul", "allow_tf32"),
        ("cuda.matmul", "allow_fp16_reduced_precision_reduction"),
        ("cuda.matmul", "allow_bf16_reduced_precision_reduction"),
        ("cudnn", "allow_tf32"),
        ("cudnn", "benchmark"),
        ("cudnn", "deterministic"),
        ("cudnn", "enabled"),
    ]

    def obj(lib, path):
        o = lib.backends
        for part in path.split("."):
            o = getattr(o, part)
        return o

    for path, name in names:
        eo, to = obj(ember, path), obj(torch, path)
        assert getattr(eo, name) == getattr(to, name), (path, name)
        old = getattr(eo, name)
        setattr(eo, name, not old)
        assert getattr(eo, name) is (not old)
        setattr(eo, name, old)
        assert getattr(eo, name) == old
    with pytest.raises(AttributeError, match="Unknown attribute"):
        ember.backends.cuda.matmul.allow_tf33 = True
    with pytest.raises(AttributeError, match="Unknown attribute"):
        ember.backends.cudnn.benchmarkk  # noqa: B018
    assert ember.backends.cudnn.is_available() is (ember.cuda.is_available())
    assert ember.backends.mps.is_available() is torch.backends.mps.is_available() is False
    assert ember.backends.mps.is_built() is False
    assert isinstance(ember.backends.cuda.is_built(), bool)


def test_float32_matmul_precision_validation_and_tf32_link():
    assert ember.get_float32_matmul_precision() == torch.get_float32_matmul_precision() == "highest"
    try:
        for p in ("high", "medium", "highest"):
            ember.set_float32_matmul_precision(p)
            assert ember.get_float32_matmul_precision() == p
            assert ember.backends.cuda.matmul.allow_tf32 is (p != "highest")
        ember.backends.cuda.matmul.allow_tf32 = True
        assert ember.get_float32_matmul_precision() == "high"
        ember.backends.cuda.matmul.allow_tf32 = False
        assert ember.get_float32_matmul_precision() == "highest"
        # PyTorch warns and ignores an unknown precision; ember does the same
        with pytest.warns(UserWarning, match="is not one of 'highest', 'high', or 'medium'"):
            torch.set_float32_matmul_precision("low")
        with pytest.warns(UserWarning, match="is not one of 'highest', 'high', or 'medium'"):
            ember.set_float32_matmul_precision("low")
        assert ember.get_float32_matmul_precision() == torch.get_float32_matmul_precision() == "highest"
        for lib in (torch, ember):
            with pytest.raises(RuntimeError, match="expects a str, but got int"):
                lib.set_float32_matmul_precision(1)
    finally:
        ember.set_float32_matmul_precision("highest")


def test_autocast_disabled_noop_enabled_warns_once(monkeypatch):
    monkeypatch.setattr(ember.amp, "_warned", False)
    x = ember.ones(2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ember.autocast("cpu", dtype=ember.bfloat16, enabled=False):
            assert (x @ x).dtype is ember.float32
    with pytest.warns(UserWarning, match="ember: autocast is not implemented; ops run in their input dtypes"):
        with ember.amp.autocast(device_type="cpu", dtype=ember.bfloat16):
            assert (x @ x).dtype is ember.float32
            assert ember.is_autocast_enabled() is False

    @ember.autocast("cuda")
    def f(a):
        return a + 1

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only once per process
        with ember.cuda.amp.autocast():
            pass
        np.testing.assert_array_equal(f(x).numpy(), np.full((2, 2), 2, np.float32))
    assert f.__name__ == "f"
    with pytest.raises(ValueError):
        ember.autocast(ember.device("cpu"))
    with pytest.raises(ValueError):
        torch.autocast(torch.device("cpu"))


def test_pin_memory_is_identity_on_cpu():
    x = ember.arange(6).reshape(2, 3)
    assert x.is_pinned() is False
    assert torch.arange(6).is_pinned() is False
    y = x.pin_memory()
    assert y is x and not y.is_pinned()
    np.testing.assert_array_equal(y.numpy(), np.arange(6).reshape(2, 3))


def test_malloc_policy_is_applied_and_can_be_turned_off():
    """ember raises glibc's mmap threshold at import (ember/_malloc.py); EMBER_MALLOC_TUNING=0 leaves it alone."""
    import os
    import subprocess
    import sys

    code = "import ember._malloc as m; print(m.tune())"
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    off = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "EMBER_MALLOC_TUNING": "0"},
    )
    assert off.stdout.strip() == "False"
    assert on.stdout.strip() == ("True" if sys.platform.startswith("linux") else "False")
