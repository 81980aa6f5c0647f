"""Optimizers, LR schedulers and nn.utils vs PyTorch from identical parameters and gradients."""

import math

import numpy as np
import pytest
import torch

import ember
from ember import optim

SHAPES = [(3, 4), (5,), ()]


def _pair(seed=0, shapes=SHAPES, dtype=np.float32):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    tp = [torch.nn.Parameter(torch.tensor(a)) for a in arrays]
    ep = [ember.nn.Parameter(ember.tensor(a)) for a in arrays]
    return tp, ep


def _set_grads(tp, ep, rng):
    for t, e in zip(tp, ep):
        g = rng.standard_normal(tuple(t.shape)).astype(np.float32)
        t.grad = torch.tensor(g)
        e.grad = ember.tensor(g)


def _close(tp, ep, rtol=1e-5, atol=1e-6):
    for t, e in zip(tp, ep):
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=rtol, atol=atol)


def _run(name, kwargs, steps=6, groups=None):
    tp, ep = _pair()
    if groups is None:
        topt = getattr(torch.optim, name)(tp, **kwargs)
        eopt = getattr(optim, name)(ep, **kwargs)
    else:
        topt = getattr(torch.optim, name)([{"params": tp[:1], **groups}, {"params": tp[1:]}], **kwargs)
        eopt = getattr(optim, name)([{"params": ep[:1], **groups}, {"params": ep[1:]}], **kwargs)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        _set_grads(tp, ep, rng)
        topt.step()
        eopt.step()
        _close(tp, ep)
    return topt, eopt, tp, ep


CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.05, weight_decay=0.2, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.2, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, maximize=True, eps=1e-5)),
]


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_optimizer_matches_torch(name, kwargs):
    topt, eopt, _, _ = _run(name, kwargs)
    ts, es = topt.state_dict(), eopt.state_dict()
    assert es["param_groups"] == ts["param_groups"]
    assert set(es["state"]) == set(ts["state"])
    for k in ts["state"]:
        assert set(es["state"][k]) == set(ts["state"][k])
        for key, tv in ts["state"][k].items():
            np.testing.assert_allclose(np.asarray(es["state"][k][key]), tv.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_param_groups_with_own_options(name):
    over = {"lr": 0.3} if name != "SGD" else {"lr": 0.3, "momentum": 0.5}
    topt, eopt, _, _ = _run(name, {"lr": 0.01}, groups=over)
    assert [g["lr"] for g in eopt.param_groups] == [0.3, 0.01]
    assert eopt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("SGD", dict(lr=0.1, momentum=0.9)),
        ("Adam", dict(lr=0.01, amsgrad=True)),
        ("AdamW", dict(lr=0.01)),
        ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
        ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ],
)
def test_load_torch_state_dict_and_continue(name, kwargs):
    topt, _, tp, _ = _run(name, kwargs, steps=3)
    sd = topt.state_dict()
    ep = [ember.nn.Parameter(ember.tensor(t.detach().numpy().copy())) for t in tp]
    eopt = getattr(optim, name)(ep, lr=123.0)  # hyper-parameters come from the state dict
    eopt.load_state_dict(sd)
    assert eopt.param_groups[0]["lr"] == kwargs["lr"]
    assert eopt.param_groups[0]["params"][0] is ep[0]
    rng = np.random.default_rng(7)
    for _ in range(4):
        _set_grads(tp, ep, rng)
        topt.step()
        eopt.step()
        _close(tp, ep)
    # ember -> ember round trip
    eopt2 = getattr(optim, name)(ep, lr=5.0)
    eopt2.load_state_dict(eopt.state_dict())
    assert eopt2.state_dict()["param_groups"] == eopt.state_dict()["param_groups"]


def test_zero_grad_and_errors():
    _, ep = _pair()
    opt = optim.SGD(ep, lr=0.1)
    for p in ep:
        p.grad = ember.ones_like(p)
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and float(p.grad.abs().sum()) == 0 for p in ep)
    opt.zero_grad()
    assert all(p.grad is None for p in ep)
    opt.step()  # no gradients: nothing changes, no error
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD(ep[0], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": ep[:1]})
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adam(ep, lr=-1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})


def test_step_is_in_place_and_bumps_version():
    p = ember.nn.Parameter(ember.ones(3))
    data_before, v0 = p._data, p._version
    p.grad = ember.ones(3)
    opt = optim.Adam([p], lr=0.1)
    opt.step()
    assert p._data is data_before and p._version > v0 and p.is_leaf and p.requires_grad
    assert p.grad_fn is None


def test_closure_and_training_loop():
    x = ember.linspace(-1, 1, 32).reshape(32, 1)
    y = 3 * x - 1
    w = ember.nn.Parameter(ember.zeros(1, 1))
    b = ember.nn.Parameter(ember.zeros(1))
    opt = optim.SGD([w, b], lr=0.5, momentum=0.5)

    def closure():
        opt.zero_grad()
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(100):
        loss = opt.step(closure)
    assert float(loss) < 1e-6
    assert abs(w.item() - 3) < 1e-3 and abs(b.item() + 1) < 1e-3


# ---- schedulers ------------------------------------------------------------------
SCHEDS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 8], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.001)),
    ("LinearLR", dict(start_factor=0.25, total_iters=4)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (e + 1))),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=13)),
    ("OneCycleLR", dict(max_lr=[1.0, 0.5], total_steps=13, three_phase=True, anneal_strategy="linear")),
]


def _two_group_opts(name="SGD"):
    tp, ep = _pair()
    kw = dict(lr=0.1, momentum=0.9) if name == "SGD" else dict(lr=0.1)
    t = getattr(torch.optim, name)([{"params": tp[:1]}, {"params": tp[1:], "lr": 0.2}], **kw)
    e = getattr(optim, name)([{"params": ep[:1]}, {"params": ep[1:], "lr": 0.2}], **kw)
    return t, e


@pytest.mark.parametrize("name,kwargs", SCHEDS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDS)])
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_scheduler_matches_torch(name, kwargs, opt_name):
    topt, eopt = _two_group_opts(opt_name)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    es = getattr(optim.lr_scheduler, name)(eopt, **kwargs)
    assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)
    for _ in range(12):
        topt.step()
        eopt.step()
        ts.step()
        es.step()
        assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)
        assert [g["lr"] for g in eopt.param_groups] == pytest.approx([g["lr"] for g in topt.param_groups])
        for key in ("momentum", "betas"):
            if key in topt.param_groups[0]:
                assert [g[key] for g in eopt.param_groups] == [g[key] for g in topt.param_groups]


def test_sequential_lr_and_state_dict():
    def make(mod, opt):
        a = mod.LinearLR(opt, start_factor=0.1, total_iters=3)
        b = mod.CosineAnnealingLR(opt, T_max=6)
        return mod.SequentialLR(opt, [a, b], milestones=[3])

    topt, eopt = _two_group_opts()
    ts, es = make(torch.optim.lr_scheduler, topt), make(optim.lr_scheduler, eopt)
    for i in range(10):
        topt.step()
        eopt.step()
        ts.step()
        es.step()
        assert es.get_last_lr() == pytest.approx(ts.get_last_lr(), rel=1e-12)
        if i == 4:
            sd = es.state_dict()
    # resume from the state dict on a fresh scheduler
    eopt2 = _two_group_opts()[1]
    es2 = make(optim.lr_scheduler, eopt2)
    es2.load_state_dict(sd)
    assert es2.last_epoch == sd["last_epoch"]


def test_step_lr_state_dict_matches_torch_keys():
    topt, eopt = _two_group_opts()
    ts = torch.optim.lr_scheduler.StepLR(topt, 2)
    es = optim.lr_scheduler.StepLR(eopt, 2)
    assert set(es.state_dict()) == set(ts.state_dict())
    es2 = optim.lr_scheduler.StepLR(_two_group_opts()[1], 5)
    es2.load_state_dict(es.state_dict())
    assert es2.step_size == 2


def test_reduce_lr_on_plateau_matches_torch():
    losses = [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.5, 0.6, 0.61, 0.62, 0.63, 0.64, 0.65, 0.66]
    for kw in (dict(patience=2, factor=0.5), dict(mode="max", patience=1, cooldown=2, threshold_mode="abs")):
        topt, eopt = _two_group_opts()
        ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
        es = optim.lr_scheduler.ReduceLROnPlateau(eopt, **kw)
        for loss in losses:
            ts.step(loss)
            es.step(ember.tensor(loss))
            assert es.get_last_lr() == pytest.approx(ts.get_last_lr())
            assert es.num_bad_epochs == ts.num_bad_epochs


def test_scheduler_warns_when_stepped_before_optimizer():
    _, eopt = _two_group_opts()
    s = optim.lr_scheduler.StepLR(eopt, 2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()


# ---- nn.utils ----------------------------------------------------------------------
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    tp, ep = _pair()
    _set_grads(tp, ep, np.random.default_rng(3))
    tn = torch.nn.utils.clip_grad_norm_(tp, max_norm, norm_type=norm_type)
    en = ember.nn.utils.clip_grad_norm_(ep, max_norm, norm_type=norm_type)
    assert isinstance(en, ember.Tensor) and en.dtype == ember.float32 and en.shape == ()
    np.testing.assert_allclose(float(en), float(tn), rtol=1e-5)
    for t, e in zip(tp, ep):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_errors_and_value():
    tp, ep = _pair()
    _set_grads(tp, ep, np.random.default_rng(4))
    ep[0].grad._data[0, 0] = np.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        ember.nn.utils.clip_grad_norm_(ep, 1.0, error_if_nonfinite=True)
    tp, ep = _pair()
    _set_grads(tp, ep, np.random.default_rng(4))
    torch.nn.utils.clip_grad_value_(tp, 0.3)
    ember.nn.utils.clip_grad_value_(ep, 0.3)
    for t, e in zip(tp, ep):
        np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())
    assert float(ember.nn.utils.clip_grad_norm_([ember.nn.Parameter(ember.ones(2))], 1.0)) == 0.0


def test_parameters_vector_round_trip():
    tp, ep = _pair()
    v = ember.nn.utils.parameters_to_vector(ep)
    tv = torch.nn.utils.parameters_to_vector(tp)
    np.testing.assert_array_equal(v.detach().numpy(), tv.detach().numpy())
    new = ember.arange(v.numel()).float()
    ember.nn.utils.vector_to_parameters(new, ep)
    assert ep[0].shape == (3, 4) and float(ep[1][0]) == 12.0 and float(ep[2]) == 17.0
    with pytest.raises(TypeError):
        ember.nn.utils.vector_to_parameters([1.0], ep)
