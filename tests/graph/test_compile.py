"""ember.compile: compiled forwards and whole training steps are bitwise equal to eager.

Each test runs the same program twice from the same weights, once eagerly and
once compiled, and compares every number with ``np.array_equal`` (bitwise is
the contract), over several calls so cache hits are covered too.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import nn
from ember.compile_api import CompileCheckError
from ember.graph.symbolic import SymbolicValueError


def _twins(make):
    """Two copies of a module with the same weights and buffers."""
    ember.manual_seed(0)
    a = make()
    b = make()
    b.load_state_dict(a.state_dict())
    return a, b


def _state_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert np.array_equal(sa[k]._data, sb[k]._data), k


def _rand(*shape, seed=0):
    return ember.tensor(np.random.RandomState(seed).randn(*shape).astype(np.float32))


# ---- forwards ---------------------------------------------------------------------------------
def _encoder():
    return nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True)


class _ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(F.relu(self.conv(x)))


class _LSTMHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 8)

    def forward(self, x):
        out, (h, c) = self.lstm(x)
        return out, h, c


FORWARDS = {
    "linear": (lambda: nn.Linear(5, 3), (4, 5)),
    "mlp": (lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2)), (6, 8)),
    "conv_pool": (_ConvNet, (2, 3, 8, 8)),
    "lstm": (_LSTMHead, (5, 3, 6)),
    "encoder_layer": (_encoder, (2, 5, 16)),
    "batchnorm": (lambda: nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.ReLU()), (4, 2, 6, 6)),
}


@pytest.mark.parametrize("name", list(FORWARDS))
@pytest.mark.parametrize("training", [False, True])
def test_compiled_forward_matches_eager(name, training):
    make, shape = FORWARDS[name]
    eager, model = _twins(make)
    eager.train(training)
    model.train(training)
    compiled = ember.compile(model)
    with ember.no_grad():
        for i in range(3):
            x = _rand(*shape, seed=i)
            want, got = eager(x), compiled(x)
            want = want if isinstance(want, tuple) else (want,)
            got = got if isinstance(got, tuple) else (got,)
            for w, g in zip(want, got):
                assert np.array_equal(w._data, g._data)
            _state_equal(eager, model)  # BatchNorm's running stats and num_batches_tracked
    assert compiled._compiled.traces == 1


def test_batchnorm_running_stats_update_as_eager():
    eager, model = _twins(lambda: nn.BatchNorm1d(4))
    compiled = ember.compile(model)
    with ember.no_grad():
        for i in range(4):
            x = _rand(8, 4, seed=i)
            eager(x)
            compiled(x)
    assert int(model.num_batches_tracked._data) == 4
    _state_equal(eager, model)


def test_returned_tensors_are_fresh():
    model = nn.Linear(3, 3)
    compiled = ember.compile(model)
    with ember.no_grad():
        a = compiled(_rand(2, 3, seed=1))
        keep = a._data.copy()
        compiled(_rand(2, 3, seed=2))
    assert np.array_equal(a._data, keep)


def test_torch_compile_style_training_with_backward_outside_runs_eagerly_and_warns_once():
    """``model = torch.compile(model)`` then ``loss.backward()``: the most common use of torch.compile.
    Gradients cannot flow back into a compiled region yet, so those calls run eagerly (same numbers);
    inference under no_grad uses the compiled program."""
    ember.manual_seed(0)
    ref = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    model = copy.deepcopy(ref)
    compiled = ember.compile(model)
    opts = [ember.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (ref, model)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(4):
            x, y = _rand(5, 4, seed=step), ember.randint(0, 3, (5,))
            for m, opt in zip((ref, compiled), opts):
                opt.zero_grad()
                nn.functional.cross_entropy(m(x), y).backward()
                opt.step()
    backward_warnings = [w for w in caught if "run eagerly" in str(w.message)]
    assert len(backward_warnings) == 1 and "whole training step" in str(backward_warnings[0].message)
    for a, b in zip(ref.parameters(), model.parameters()):
        assert np.array_equal(a._data, b._data)
    with ember.no_grad():
        got = compiled(_rand(2, 4, seed=9))
        want = ref(_rand(2, 4, seed=9))
    assert compiled._compiled.traces >= 1 and np.array_equal(got._data, want._data)


# ---- training steps ---------------------------------------------------------------------------
OPTIMIZERS = {
    "sgd": lambda p: ember.optim.SGD(p, lr=0.1),
    "sgd_momentum_nesterov_wd": lambda p: ember.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "sgd_dampening": lambda p: ember.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1),
    "adam": lambda p: ember.optim.Adam(p, lr=1e-2),
    "adam_amsgrad_wd": lambda p: ember.optim.Adam(p, lr=1e-2, amsgrad=True, weight_decay=1e-2),
    "adamw": lambda p: ember.optim.AdamW(p, lr=1e-2),
    "rmsprop": lambda p: ember.optim.RMSprop(p, lr=1e-2),
    "rmsprop_centered_momentum": lambda p: ember.optim.RMSprop(p, lr=1e-2, momentum=0.5, centered=True),
    "adagrad": lambda p: ember.optim.Adagrad(p, lr=1e-1, lr_decay=1e-2),
}


def _mlp():
    return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3))


def _batches(n):
    rs = np.random.RandomState(1)
    return [
        (ember.tensor(rs.randn(8, 6).astype(np.float32)), ember.tensor(rs.randint(0, 3, 8).astype(np.int64)))
        for _ in range(n)
    ]


def _make_step(model, opt):
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _compare_training(make_opt, steps=5, scheduler=None):
    eager, model = _twins(_mlp)
    opt_e, opt_c = make_opt(eager.parameters()), make_opt(model.parameters())
    sched = [scheduler(opt_e), scheduler(opt_c)] if scheduler else None
    step_e, step_c = _make_step(eager, opt_e), ember.compile(_make_step(model, opt_c))
    for x, y in _batches(steps):
        le, lc = step_e(x, y), step_c(x, y)
        assert np.array_equal(le._data, lc._data)
        _state_equal(eager, model)
        for pe, pc in zip(eager.parameters(), model.parameters()):
            assert np.array_equal(pe.grad._data, pc.grad._data)
        if sched:
            for s in sched:
                s.step()
    for pe, pc in zip(eager.parameters(), model.parameters()):  # optimizer state too
        se, sc = opt_e.state[pe], opt_c.state[pc]
        assert list(se) == list(sc)
        for k in se:
            a, b = se[k], sc[k]
            assert np.array_equal(getattr(a, "_data", a), getattr(b, "_data", b)), k
    return step_c


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_compiled_training_step_matches_eager(name):
    step = _compare_training(OPTIMIZERS[name])
    assert step.traces == 1  # call 1 warms the optimizer up eagerly; calls 2..5 run one trace


@pytest.mark.parametrize("opt", ["sgd_momentum_nesterov_wd", "adam"])
def test_lr_scheduler_between_compiled_calls(opt):
    step = _compare_training(OPTIMIZERS[opt], steps=6, scheduler=lambda o: ember.optim.lr_scheduler.StepLR(o, 2, 0.5))
    assert step.traces == 1  # the lr is read at every call, not baked in


def test_grad_accumulation_without_zero_grad():
    """Without zero_grad the existing .grad is a state read that backward accumulates into."""
    eager, model = _twins(_mlp)

    def make(m):
        def step(x, y):
            F.cross_entropy(m(x), y).backward()

        return step

    step_e, step_c = make(eager), ember.compile(make(model))
    for x, y in _batches(3):
        step_e(x, y)
        step_c(x, y)
        for pe, pc in zip(eager.parameters(), model.parameters()):
            assert np.array_equal(pe.grad._data, pc.grad._data)


def test_dropout_draws_fresh_masks_like_eager():
    eager, model = _twins(lambda: nn.Sequential(nn.Linear(6, 32), nn.Dropout(0.5), nn.Linear(32, 3)))
    opt_e, opt_c = ember.optim.SGD(eager.parameters(), lr=0.1), ember.optim.SGD(model.parameters(), lr=0.1)
    step_e, step_c = _make_step(eager, opt_e), ember.compile(_make_step(model, opt_c))
    losses = []
    for i, (x, y) in enumerate(_batches(4)):
        ember.manual_seed(100 + i)
        le = step_e(x, y)
        ember.manual_seed(100 + i)
        lc = step_c(x, y)
        assert np.array_equal(le._data, lc._data)
        _state_equal(eager, model)
        losses.append(float(lc._data))
    assert step_c.traces == 1
    # same input, different masks: the compiled step really draws at every call
    x = _batches(1)[0][0]
    with ember.no_grad():
        fwd = ember.compile(model)
        a, b = fwd(x), fwd(x)
    assert not np.array_equal(a._data, b._data)


# ---- cache, retrace, errors -------------------------------------------------------------------
def test_cache_hit_and_retrace_on_shape_change(monkeypatch, capsys):
    monkeypatch.setenv("EMBER_DEBUG", "1")
    model = nn.Linear(64, 4)
    compiled = ember.compile(model)
    with ember.no_grad():
        compiled(_rand(32, 64))
        compiled(_rand(32, 64, seed=1))
        assert compiled._compiled.traces == 1
        out = compiled(_rand(16, 64))
        assert out.shape == (16, 4)
        assert compiled._compiled.traces == 2
        compiled(_rand(32, 64, seed=2))  # the first shape's program is still cached
        assert compiled._compiled.traces == 2
    err = capsys.readouterr().err
    assert "retrace Linear: input 0 shape (32, 64) -> (16, 64)" in err


def test_retrace_on_train_eval_and_static_args(monkeypatch, capsys):
    monkeypatch.setenv("EMBER_DEBUG", "1")
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))

    def f(x, scale):
        return model(x) * scale

    compiled = ember.compile(f)
    x = _rand(3, 4)
    with ember.no_grad():
        model.eval()
        assert np.array_equal(compiled(x, 2.0)._data, f(x, 2.0)._data)
        assert np.array_equal(compiled(x, 3.0)._data, f(x, 3.0)._data)
        model.train()
        compiled(x, 3.0)
    assert compiled.traces == 3
    err = capsys.readouterr().err
    assert "static argument 2.0 -> 3.0" in err and "training mode" in err


def test_python_control_flow_on_a_tensor_raises_with_the_line():
    def f(x):
        if x.sum() > 0:  # the line the error must name
            return x * 2
        return x

    with pytest.raises(SymbolicValueError, match=r"test_compile.py:\d+: if x.sum\(\) > 0") as e:
        ember.compile(f)(_rand(3))
    assert "ember.where" in str(e.value)

    def g(x):
        return x * float(x.mean())

    with pytest.raises(SymbolicValueError, match="float()"):
        ember.compile(g)(_rand(3))


def test_fullgraph_false_falls_back_to_eager():
    def f(x):
        return x * 2 if float(x.sum()) > 0 else x * 3

    x = _rand(4)
    with pytest.warns(UserWarning, match="running it eagerly"):
        out = ember.compile(f, fullgraph=False)(x)
    assert np.array_equal(out._data, f(x)._data)


def test_nested_structures_and_python_scalars():
    w = ember.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))

    def f(inputs, k=2):
        a, b = inputs["a"], inputs["b"]
        s = (a @ w).sum()
        return {"out": [a * k, b - 1], "total": s, "tag": "ok"}

    compiled = ember.compile(f)
    args = {"a": _rand(4, 2), "b": _rand(3)}
    for _ in range(2):
        got, want = compiled(args, k=3), f(args, k=3)
        assert got["tag"] == "ok"
        assert np.array_equal(got["total"]._data, want["total"]._data)
        for g, e in zip(got["out"], want["out"]):
            assert np.array_equal(g._data, e._data)
    assert compiled.traces == 1


def test_trace_restores_tensors_after_an_error():
    model = nn.Linear(3, 3)
    before = [p._data for p in model.parameters()]

    def f(x):
        model(x)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        ember.compile(f)(_rand(2, 3))
    assert all(p._data is b for p, b in zip(model.parameters(), before))
    assert all(type(p._data) is np.ndarray for p in model.parameters())


def test_code_and_graph_are_shown():
    compiled = ember.compile(nn.Sequential(nn.Linear(3, 4), nn.ReLU()))
    with ember.no_grad():
        compiled(_rand(2, 3))
    assert "def " in compiled.code and "maximum" in compiled.code
    assert "relu" in str(compiled.graph) or "maximum" in str(compiled.graph)


def test_ember_check_reports_the_first_diverging_node(monkeypatch):
    """A wrong kernel in the generated code (relu + 1) is caught and located by EMBER_CHECK=1."""
    from ember.compiler import kernels

    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = _rand(2, 3)
    monkeypatch.setenv("EMBER_CHECK", "1")
    with ember.no_grad():
        good = ember.compile(model)
        assert np.array_equal(good(x)._data, model(x)._data)  # a correct program passes the check
        monkeypatch.setitem(
            kernels.TEMPLATES,
            "relu",
            kernels.Template(
                "relu",
                fresh=lambda a, attrs: f"(xp.maximum({a[0]}, 0, dtype={a[0]}.dtype) + 1)",
                check=lambda node, dtypes: True,
            ),
        )
        bad = ember.compile(model)
        with pytest.raises(CompileCheckError, match=r"first diverging node: relu") as e:
            bad(x)
    assert "output 0" in str(e.value)


@pytest.mark.parametrize("zero", ["optimizer_set_to_none_false", "module_zero_grad"])
def test_other_ways_of_zeroing_grads(zero):
    eager, model = _twins(lambda: nn.Linear(4, 3))
    opt_e = ember.optim.SGD(eager.parameters(), lr=0.1, momentum=0.9)
    opt_c = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def make(m, o):
        def step(x):
            if zero == "module_zero_grad":
                m.zero_grad()
            else:
                o.zero_grad(set_to_none=False)  # writes zeros into the existing .grad arrays
            loss = (m(x) ** 2).mean()
            loss.backward()
            o.step()
            return loss

        return step

    step_e, step_c = make(eager, opt_e), ember.compile(make(model, opt_c))
    for i in range(4):
        x = _rand(5, 4, seed=i)
        assert np.array_equal(step_e(x)._data, step_c(x)._data)
        _state_equal(eager, model)
        for pe, pc in zip(eager.parameters(), model.parameters()):
            assert np.array_equal(pe.grad._data, pc.grad._data)
    assert step_c.traces == 1


def test_gradient_of_an_input_accumulates_like_eager():
    w = ember.tensor(np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2))

    def f(x):
        y = (x @ w).tanh().sum()
        y.backward()
        return y

    xe = ember.tensor(_rand(5, 4)._data.copy(), requires_grad=True)
    xc = ember.tensor(_rand(5, 4)._data.copy(), requires_grad=True)
    compiled = ember.compile(f)
    for _ in range(3):
        f(xe)
        compiled(xc)
        assert np.array_equal(xe.grad._data, xc.grad._data)
    assert compiled.traces == 1


def test_optimizer_state_created_during_a_trace_aborts_it(monkeypatch, capsys):
    """An optimizer discovery missed creates its state inside the trace: that call runs eagerly instead."""
    monkeypatch.setenv("EMBER_DEBUG", "1")
    eager, model = _twins(lambda: nn.Linear(4, 3))
    opt_e, opt_c = ember.optim.Adam(eager.parameters(), lr=0.1), ember.optim.Adam(model.parameters(), lr=0.1)
    step_e, step_c = _make_step(eager, opt_e), ember.compile(_make_step(model, opt_c))
    monkeypatch.setattr(ember.graph.trace, "discover", lambda *a, **k: ([], []))
    for i in range(3):
        x, y = _rand(5, 4, seed=i), ember.tensor(np.array([0, 1, 2, 0, 1]))
        assert np.array_equal(step_e(x, y)._data, step_c(x, y)._data)
        _state_equal(eager, model)
    assert step_c.traces == 1
    assert all(type(v._data) is np.ndarray for st in opt_c.state.values() for v in st.values())
    assert "created its state during the trace" in capsys.readouterr().err


def test_compiled_function_inside_a_trace_is_inlined():
    inner = ember.compile(lambda x: x.exp() * 2)
    outer = ember.compile(lambda x: inner(x) + 1)
    x = _rand(3, 2)
    for _ in range(2):
        assert np.array_equal(outer(x)._data, ((x.exp() * 2) + 1)._data)
    assert outer.traces == 1 and inner.traces == 0


def test_compiled_step_with_gradient_clipping_equals_eager_bitwise():
    """clip_grad_norm_ is written in ember ops with no host sync, so it traces into the step."""
    ember.manual_seed(1)
    ref = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 2))
    model = copy.deepcopy(ref)

    def make_step(m):
        opt = ember.optim.AdamW(m.parameters(), lr=0.05)

        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.mse_loss(m(x), y)
            loss.backward()
            total = nn.utils.clip_grad_norm_(m.parameters(), 0.5)
            opt.step()
            return loss, total

        return step

    eager_step, compiled_step = make_step(ref), ember.compile(make_step(model))
    for i in range(5):
        x, y = _rand(7, 6, seed=10 + i), _rand(7, 2, seed=20 + i) * 10.0  # large targets: clipping is active
        (le, te), (lc, tc) = eager_step(x, y), compiled_step(x, y)
        assert np.array_equal(le._data, lc._data) and np.array_equal(te._data, tc._data)
    assert compiled_step.traces == 1
    for a, b in zip(ref.parameters(), model.parameters()):
        assert np.array_equal(a._data, b._data)


def test_named_tuple_results_keep_their_type():
    """``x.max(dim)`` returns (values, indices) as a named tuple; a compiled function returns the same."""
    f = ember.compile(lambda x: (x + 1, x.max(dim=1)))
    x = ember.randn(3, 2)
    got, want = f(x), (x + 1, x.max(dim=1))
    assert type(got[1]) is type(want[1])
    assert ember.equal(got[1].values, want[1].values) and ember.equal(got[1].indices, want[1].indices)


def test_inplace_write_through_a_view_of_a_traced_value_updates_the_base():
    """``z[:, 1:2].mul_(3)`` changes z in eager (shared memory); the compiled function must agree, with grads too."""

    def f(x):
        z = x * 1.0
        z[:, 1:2].mul_(3)
        z.view(-1)[0].add_(5)
        return z.sum(0) * z[1]

    x = ember.randn(2, 3, requires_grad=True)
    want = f(x)
    (gw,) = ember.autograd.grad(want.sum(), x)
    g = ember.compile(f)
    got = g(x)
    assert ember.equal(got, want)
    with ember.no_grad():
        assert ember.equal(g(x), want)
    (gg,) = ember.autograd.grad(g(x).sum(), x)
    assert ember.allclose(gg, gw)
