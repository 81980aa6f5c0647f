"""nn.Module's own behaviour against torch.nn.Module: registration, traversal,
state dicts (strict/non-strict, shape errors), hooks, modes, conversions, repr."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember


def _net(lib):
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(4, 8)
            self.act = nn.ReLU()
            self.blocks = nn.ModuleList([nn.Linear(8, 8), nn.Linear(8, 8)])
            self.heads = nn.ModuleDict({"a": nn.Linear(8, 2), "b": nn.Linear(8, 3)})
            self.scale = nn.Parameter(lib.ones(1))
            self.register_buffer("steps", lib.zeros(1))
            self.register_buffer("scratch", lib.zeros(2), persistent=False)
            self.seq = nn.Sequential(nn.Linear(8, 8), nn.Tanh())

        def forward(self, x):
            h = self.act(self.fc1(x))
            for b in self.blocks:
                h = b(h)
            h = self.seq(h) * self.scale
            return self.heads["a"](h), self.heads["b"](h)

    return Net()


def _same_weights(t_model, e_model):
    e_model.load_state_dict({k: ember.from_numpy(v.detach().numpy().copy()) for k, v in t_model.state_dict().items()})


def test_names_match_torch():
    t, e = _net(torch), _net(ember)
    assert [n for n, _ in e.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in e.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in e.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in e.named_children()] == [n for n, _ in t.named_children()]
    assert list(e.state_dict().keys()) == list(t.state_dict().keys())  # non-persistent buffer excluded
    assert [tuple(p.shape) for p in e.parameters()] == [tuple(p.shape) for p in t.parameters()]


def test_forward_and_grads_match_torch_after_state_dict_load():
    t, e = _net(torch), _net(ember)
    _same_weights(t, e)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    ta, tb = t(torch.from_numpy(x))
    ea, eb = e(ember.from_numpy(x))
    np.testing.assert_allclose(ea.detach().numpy(), ta.detach().numpy(), rtol=1e-5, atol=1e-6)
    (ta.sum() + tb.pow(2).sum()).backward()
    (ea.sum() + eb.pow(2).sum()).backward()
    for (n, tp), (_, ep) in zip(t.named_parameters(), e.named_parameters()):
        np.testing.assert_allclose(ep.grad.numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=n)


def test_state_dict_round_trip_back_into_torch():
    t, e = _net(torch), _net(ember)
    t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in e.state_dict().items()})
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(
        e(ember.from_numpy(x))[0].detach().numpy(), t(torch.from_numpy(x))[0].detach().numpy(), rtol=1e-5
    )


def test_load_state_dict_strict_and_non_strict():
    for lib in (torch, ember):
        m = _net(lib)
        sd = m.state_dict()
        extra = dict(sd)
        extra["bogus"] = lib.zeros(1)
        del extra["fc1.bias"]
        with pytest.raises(RuntimeError) as info:
            m.load_state_dict(extra)
        assert "Missing key(s)" in str(info.value) and "fc1.bias" in str(info.value)
        assert "Unexpected key(s)" in str(info.value) and "bogus" in str(info.value)
        res = m.load_state_dict(extra, strict=False)
        assert res.missing_keys == ["fc1.bias"] and res.unexpected_keys == ["bogus"]


def test_load_state_dict_shape_mismatch_changes_nothing():
    for lib in (torch, ember):
        m = _net(lib)
        before = m.fc1.weight.detach().clone()
        sd = m.state_dict()
        sd["fc1.weight"] = lib.zeros(3, 3)
        sd["fc1.bias"] = lib.full((8,), 7.0)
        with pytest.raises(RuntimeError) as info:
            m.load_state_dict(sd)
        assert "size mismatch for fc1.weight" in str(info.value)
        if lib is ember:  # ember checks everything before copying anything
            np.testing.assert_array_equal(m.fc1.weight.detach().numpy(), before.numpy())
            assert not np.any(m.fc1.bias.detach().numpy() == 7.0)


def test_forward_hooks_match_torch():
    for lib in (torch, ember):
        m = lib.nn.Linear(3, 2)
        calls = []
        h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
        h2 = m.register_forward_hook(lambda mod, args, out: out + 1)
        m.register_forward_hook(lambda mod, args, out: calls.append(tuple(out.shape)))  # noqa: B023 - runs now
        x = lib.ones(1, 3)
        with lib.no_grad():
            expected = m.weight @ lib.full((3,), 2.0) + m.bias + 1
            y = m(x)
        np.testing.assert_allclose(np.asarray(y.detach().numpy())[0], np.asarray(expected.numpy()), rtol=1e-6)
        assert calls == [(1, 2)]
        h1.remove()
        h2.remove()
        with lib.no_grad():
            np.testing.assert_allclose(m(x).numpy(), (x @ m.weight.T + m.bias).numpy(), rtol=1e-6)


def test_train_eval_apply_zero_grad_requires_grad():
    for lib in (torch, ember):
        m = _net(lib)
        m.eval()
        assert not any(mod.training for mod in m.modules())
        m.train()
        assert all(mod.training for mod in m.modules())
        seen = []
        m.apply(lambda mod: seen.append(type(mod).__name__))  # noqa: B023 - runs now
        assert seen[-1] == "Net" and seen.count("Linear") == 6
        out = m(lib.ones(1, 4))
        (out[0].sum() + out[1].sum()).backward()
        m.zero_grad()
        assert all(p.grad is None for p in m.parameters())
        m.requires_grad_(False)
        assert not any(p.requires_grad for p in m.parameters())


def test_dtype_conversion_keeps_parameter_identity():
    for lib in (torch, ember):
        m = lib.nn.Linear(2, 2)
        w = m.weight
        m.double()
        assert m.weight is w and m.weight.dtype == lib.float64
        assert m(lib.ones(1, 2, dtype=lib.float64)).dtype == lib.float64
        m.to(lib.float32)
        assert m.weight.dtype == lib.float32


def test_repr_matches_torch():
    t, e = _net(torch), _net(ember)
    assert repr(e) == repr(t)
    assert repr(ember.nn.Sequential(ember.nn.Flatten(), ember.nn.Identity())) == repr(
        torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Identity())
    )


def test_containers_behave_like_torch():
    for lib in (torch, ember):
        nn = lib.nn
        seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
        assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and len(seq[:2]) == 2
        seq.append(nn.Sigmoid())
        assert len(seq) == 4
        ml = nn.ModuleList([nn.Linear(1, 1)])
        ml += [nn.Linear(1, 1)]
        ml.insert(0, nn.Tanh())
        assert len(ml) == 3 and isinstance(ml[0], nn.Tanh)
        md = nn.ModuleDict({"x": nn.ReLU()})
        md["y"] = nn.Tanh()
        assert list(md.keys()) == ["x", "y"] and "y" in md
        pl = nn.ParameterList([nn.Parameter(lib.ones(2)), nn.Parameter(lib.zeros(3))])
        assert len(list(pl.parameters())) == 2
        un = nn.Unflatten(1, (2, 3))
        assert tuple(un(lib.ones(4, 6)).shape) == (4, 2, 3)


def test_assignment_rules_match_torch():
    for lib in (torch, ember):
        m = lib.nn.Linear(2, 2)
        with pytest.raises(TypeError):
            m.weight = lib.ones(2, 2)  # a plain tensor cannot replace a parameter
        m.weight = lib.nn.Parameter(lib.zeros(2, 2))
        assert "weight" in dict(m.named_parameters())
        m.extra = lib.nn.Parameter(lib.ones(1))
        assert "extra" in dict(m.named_parameters())
        del m.extra
        assert "extra" not in dict(m.named_parameters())
        with pytest.raises(AttributeError):
            _ = m.missing
        m.register_buffer("buf", lib.ones(1))
        m.buf = lib.zeros(1)  # re-assigning a buffer keeps it a buffer
        assert "buf" in dict(m.named_buffers())


def test_shared_parameters_are_listed_once():
    for lib in (torch, ember):
        a = lib.nn.Linear(2, 2)
        seq = lib.nn.Sequential(a, a)
        assert len(list(seq.parameters())) == 2
        assert len(list(seq.named_modules())) == 2
