"""``ember.onnx.export`` against onnxruntime: the exported model must compute what ember computes.

Every case traces a model or function, exports it, checks the model with
``onnx.checker.check_model(full_check=True)`` (which also runs strict shape
inference) and runs it with onnxruntime's CPU provider on the same inputs as
ember's eager forward. Tolerance: 1e-5 relative, with an absolute floor of 1e-5
times the output's largest magnitude (float32 sums reorder across libraries).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import ember  # noqa: E402
import ember.nn.functional as F  # noqa: E402
from ember import nn  # noqa: E402
from ember.compile_api import CompiledFunction  # noqa: E402
from ember.onnx import NOT_EXPORTED, UnsupportedOperatorError, export  # noqa: E402
from ember.onnx.emitters import EMITTERS  # noqa: E402
from ember.op import REGISTRY  # noqa: E402


# ---- helpers ------------------------------------------------------------------------------------
def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _numpy(t):
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


def _close(got, ref):
    ref = np.asarray(ref)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
    if ref.dtype.kind in "f":
        scale = float(np.nanmax(np.abs(ref), initial=1.0)) if ref.size else 1.0
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * max(scale, 1.0))
    else:
        np.testing.assert_array_equal(got, ref)


def _check(fn, inputs, feeds=None, **kw):
    """Export ``fn(*inputs)``, validate the model, run it on ``feeds`` (default: the inputs), compare."""
    model = export(fn, tuple(inputs), None, **kw)
    onnx.checker.check_model(model, full_check=True)
    sess = _session(model)
    for args in feeds or [inputs]:
        with ember.no_grad():
            ref = fn(*args)
        refs = ref if isinstance(ref, (tuple, list)) else (ref,)
        names = [i.name for i in sess.get_inputs()]
        got = sess.run(None, {n: _numpy(a) for n, a in zip(names, args)})
        assert len(got) == len(refs)
        for g, r in zip(got, refs):
            _close(g, _numpy(r))
    return model


def _ops_in(fn, inputs):
    cm = CompiledFunction(fn, backend="interpreter")
    with ember.no_grad():
        cm(*inputs)
    return {n.op.name for n in cm.traced_graph.nodes if n.kind == "op"}


# ---- the five reference models ---------------------------------------------------------------
def _mlp():
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4))


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f1 = nn.Linear(16 * 5 * 5, 32)
        self.f2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.f2(F.relu(self.f1(x.flatten(1))))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNet20(nn.Module):
    """ResNet-20's layout (3 stages of 3 blocks) at width 8, for speed."""

    def __init__(self, w=8, classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, w, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(w)
        layers, cin = [], w
        for i, cout in enumerate([w, 2 * w, 4 * w]):
            for j in range(3):
                layers.append(Block(cin, cout, 2 if (j == 0 and i > 0) else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def _randomize_bn(model, rng):
    """Non-trivial running statistics, so eval-mode BatchNorm is really exercised."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(ember.tensor(rng.standard_normal(m.num_features).astype(np.float32) * 0.1))
            m.running_var.copy_(ember.tensor(rng.uniform(0.5, 1.5, m.num_features).astype(np.float32)))
            m.weight.data.copy_(ember.tensor(rng.uniform(0.5, 1.5, m.num_features).astype(np.float32)))
            m.bias.data.copy_(ember.tensor(rng.standard_normal(m.num_features).astype(np.float32) * 0.1))


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 12, batch_first=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        out, (h, c) = self.lstm(x)
        return self.fc(out[:, -1]), h, c


class GPTBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q = q.view(B, T, self.h, C // self.h).transpose(1, 2)
        k = k.view(B, T, self.h, C // self.h).transpose(1, 2)
        v = v.view(B, T, self.h, C // self.h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // self.h))
        att = att.masked_fill(ember.tril(ember.ones(T, T)) == 0, float("-inf"))
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab=20, d=16, heads=2, ctx=8, layers=2):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList([GPTBlock(d, heads) for _ in range(layers)])
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(ember.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x))


def _x(rng, *shape):
    return ember.tensor(rng.standard_normal(shape).astype(np.float32))


MODELS = {
    "mlp": (_mlp, lambda rng, b: _x(rng, b, 8), True),
    "lenet": (LeNet, lambda rng, b: _x(rng, b, 1, 28, 28), True),
    "resnet20": (ResNet20, lambda rng, b: _x(rng, b, 3, 16, 16), True),
    "lstm": (LSTMNet, lambda rng, b: _x(rng, b, 5, 6), False),  # its zero initial state is traced at batch 2
    "gpt": (GPT, lambda rng, b: ember.tensor(rng.integers(0, 20, (b, 8))), True),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_models_match_onnxruntime(name):
    make, inp, dynamic = MODELS[name]
    ember.manual_seed(0)
    rng = np.random.default_rng(0)
    model = make()
    _randomize_bn(model, rng)
    model.eval()
    x = inp(rng, 2)
    feeds = [(x,)] + ([(inp(rng, 5),), (inp(rng, 1),)] if dynamic else [])
    proto = _check(model, (x,), feeds, input_names=["x"], dynamic_axes={"x": {0: "batch"}} if dynamic else None)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == ("batch" if dynamic else "")
    assert model.training is False  # export kept the mode the user set


def test_parameters_become_initializers_named_by_state_dict_keys():
    model = LeNet().eval()
    proto = export(model, (ember.randn(1, 1, 28, 28),))
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in proto.graph.initializer}
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(inits[k], v.numpy())


def test_plain_function_and_default_names():
    fn = lambda x, y: (x * y).sum(-1)  # noqa: E731
    rng = np.random.default_rng(1)
    x, y = _x(rng, 3, 4), _x(rng, 3, 4)
    proto = _check(fn, (x, y))
    assert [i.name for i in proto.graph.input] == ["x", "y"]
    assert [o.name for o in proto.graph.output] == ["output_0"]


def test_output_names_and_dynamic_output_axes():
    model = _mlp().eval()
    proto = export(
        model,
        (ember.randn(2, 8),),
        input_names=["inp"],
        output_names=["logits"],
        dynamic_axes={"inp": [0], "logits": {0: "n"}},
    )
    assert proto.graph.input[0].name == "inp"
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "inp_dynamic_axes_1"
    assert proto.graph.output[0].name == "logits"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "n"
    (got,) = _session(proto).run(None, {"inp": np.ones((7, 8), np.float32)})
    with ember.no_grad():
        _close(got, model(ember.ones(7, 8)).numpy())


def test_writes_file_atomically_and_returns_proto(tmp_path):
    model = _mlp().eval()
    path = tmp_path / "mlp.onnx"
    proto = export(model, (ember.randn(2, 8),), str(path))
    assert isinstance(proto, onnx.ModelProto)
    assert onnx.load(str(path)).SerializeToString() == proto.SerializeToString()
    assert sorted(os.listdir(tmp_path)) == ["mlp.onnx"]  # no temp file left behind


def test_opset_20_uses_gelu_and_opset_13_writes_layer_norm_out():
    rng = np.random.default_rng(2)
    ln = nn.LayerNorm(6)
    fn = lambda x: F.gelu(ln(x), approximate="tanh")  # noqa: E731
    x = _x(rng, 3, 6)
    p20 = _check(fn, (x,), opset_version=20)
    assert {"Gelu", "LayerNormalization"} <= {n.op_type for n in p20.graph.node}
    p13 = _check(fn, (x,), opset_version=13)
    assert not {"Gelu", "LayerNormalization"} & {n.op_type for n in p13.graph.node}


def test_constant_folding_off_keeps_the_ops():
    rng = np.random.default_rng(3)
    c = ember.arange(4).float()
    fn = lambda x: x + c.exp()  # noqa: E731
    x = _x(rng, 2, 4)
    folded = _check(fn, (x,))
    kept = _check(fn, (x,), do_constant_folding=False)
    assert "Exp" not in {n.op_type for n in folded.graph.node}
    assert "Exp" in {n.op_type for n in kept.graph.node}


# ---- errors ------------------------------------------------------------------------------------
def test_op_without_mapping_names_op_node_and_line():
    fn = lambda x: ember.cumprod(x, 0)  # noqa: E731
    with pytest.raises(UnsupportedOperatorError) as e:
        export(fn, (ember.randn(3),))
    msg = str(e.value)
    assert "'cumprod'" in msg and "node 'cumprod'" in msg and "test_export.py" in msg


def test_bad_arguments_raise_clear_errors():
    model = _mlp().eval()
    with pytest.raises(ValueError, match="opset_version"):
        export(model, (ember.randn(2, 8),), opset_version=999)
    with pytest.raises(ValueError, match="opset_version"):
        export(model, (ember.randn(2, 8),), opset_version="17")
    with pytest.raises(ValueError, match="'y'"):
        export(model, (ember.randn(2, 8),), dynamic_axes={"y": {0: "b"}})
    with pytest.raises(ValueError, match="output_names"):
        export(model, (ember.randn(2, 8),), output_names=["a", "b"])


def test_every_onnx_op_in_the_table_is_exported_or_documented():
    missing = sorted(n for n, op in REGISTRY.items() if op.onnx and n not in EMITTERS and n not in NOT_EXPORTED)
    assert not missing, f"ops with an ONNX name but no emitter and no NOT_EXPORTED reason: {missing}"
    for name, why in NOT_EXPORTED.items():
        assert name in REGISTRY and name not in EMITTERS and len(why) > 20


# ---- op sweep ------------------------------------------------------------------------------------
def _f(*shape, lo=-2.0, hi=2.0, seed=0):
    return ember.tensor(np.random.default_rng(seed + len(shape)).uniform(lo, hi, shape).astype(np.float32))


def _i(*shape, lo=0, hi=5, seed=0):
    return ember.tensor(np.random.default_rng(seed).integers(lo, hi, shape))


_W = _f(3, 2, 3, 3, seed=7)  # conv_transpose2d weight
_W2 = _f(6, 2, 3, 3, seed=8)  # grouped conv2d weight
_IDX2 = ember.tensor(np.array([[0, 2, 1], [2, 0, 0]]))


def _setitem(x, i):
    y = x * 2
    y[:, 0] = 0.5
    y[1, 1:3] += x[0, :2]
    y[i] = -1.0
    y.index_put_((i,), x[:2], accumulate=True)
    return y


CASES = {
    # elementwise, with Python scalars and int/float mixing
    "unary_float": (
        lambda x: (
            [
                f(x)
                for f in (ember.exp, ember.sin, ember.cos, ember.tanh, ember.sigmoid, ember.erf, ember.abs, ember.neg)
            ]
            + [ember.floor(x), ember.ceil(x), ember.sign(x), ember.relu(x), ember.trunc(x), ember.round(x)]
        ),
        (_f(3, 4),),
    ),
    "unary_positive": (
        lambda x: (
            [ember.log(x), ember.sqrt(x), ember.rsqrt(x), ember.reciprocal(x), ember.log2(x), ember.log10(x)]
            + [ember.log1p(x), ember.expm1(x), ember.exp2(x)]
        ),
        (_f(3, 4, lo=0.2, hi=3.0),),
    ),
    "unary_unit": (
        lambda x: [ember.asin(x), ember.acos(x), ember.atan(x), ember.tan(x), ember.sinh(x), ember.cosh(x)],
        (_f(5, lo=-0.9, hi=0.9),),
    ),
    "round_decimals": (lambda x: ember.round(x, decimals=1), (_f(6),)),
    "binary_scalars": (
        lambda x, y: [x + y, x - 2, 3 * y, x / y, x**2, 2.0**x, ember.maximum(x, y), ember.minimum(x, y)],
        (_f(3, 4), _f(4, lo=0.5, hi=2.0, seed=1)),
    ),
    "int_float_promotion": (lambda i, x: [i * x, i + 1, i / 2, i * 0.5], (_i(3, 4), _f(3, 4))),
    "remainder_fmod": (
        lambda x, y, i: [x % y, ember.fmod(x, y), i % 3, x // y],
        (_f(6), _f(6, lo=0.5, hi=2.0, seed=2), _i(6, lo=-7, hi=7)),
    ),
    "compare_logic": (
        lambda x, y: (
            [x == y, x != y, x < 0.5, x <= y, x > y, x >= 0, (x > 0) & (y > 0), (x > 0) | (y > 0)]
            + [
                (x > 0) ^ (y > 0),
                ~(x > 0),
                ember.logical_and(x, y),
                ember.logical_or(x > 0, y),
                ember.logical_xor(x, y),
            ]
        ),
        (_f(3, 4), _f(3, 4, seed=3).round()),
    ),
    "bitwise_int_opset18": (lambda i, j: [i & j, i | j, i ^ j, ~i], (_i(3, 4, lo=-8, hi=8), _i(3, 4, hi=9, seed=1))),
    "nan_inf": (
        lambda x: [ember.isnan(x), ember.isinf(x), ember.isfinite(x)],
        (ember.tensor(np.array([1.0, np.nan, np.inf, -np.inf, 0.0], np.float32)),),
    ),
    "where_clamp_cast": (
        lambda x: (
            [ember.where(x > 0, x, 0.5), x.clamp(-0.5, 0.7), x.clamp(min=0.1), x.clamp(max=0.2)]
            + [x.int(), (x > 0).float(), x.double()]
        ),
        (_f(3, 4),),
    ),
    "gelu_softmax": (
        lambda x: [F.gelu(x), F.gelu(x, approximate="tanh"), F.softmax(x, -1), F.log_softmax(x, 0)],
        (_f(3, 4),),
    ),
    # reductions
    "reductions": (
        lambda x: (
            [x.sum(), x.sum(1), x.sum((0, 2), keepdim=True), x.prod(1), x.amax(0), x.amin((1, 2))]
            + [ember.logsumexp(x, 1), x.mean(-1), x.norm(dim=1), ember.linalg.vector_norm(x, 1, dim=0)]
            + [ember.linalg.vector_norm(x, float("inf"), dim=2), ember.linalg.vector_norm(x, 3, dim=2)]
        ),
        (_f(2, 3, 4),),
    ),
    "zero_dim_with_scalars": (lambda x: [x.sum() * 2, x.amax() + 1, (x.sum() > 0).float() - 0.5], (_f(3, 4),)),
    "int_reductions": (lambda i: [i.sum(0), i.cumsum(1), (i > 2).any(1), (i > 0).all(0)], (_i(3, 4),)),
    "arg_and_max_dim": (
        lambda x: [x.argmax(), x.argmax(1), x.argmin(0, keepdim=True), *x.max(1), *x.min(0, keepdim=True)],
        (_f(3, 4),),
    ),
    "cumsum": (lambda x: [x.cumsum(0), x.cumsum(-1)], (_f(3, 4),)),
    # movement
    "movement": (
        lambda x: (
            [x.reshape(4, 6), x.permute(2, 0, 1), x[:, :1].expand(2, 3, 4), x.repeat(2, 1, 1)]
            + [x.repeat(2, 1, 1, 1), ember.cat([x, x * 2], 1), ember.flip(x, [0, 2]), ember.roll(x, 1, 2)]
            + [ember.roll(x, 2), ember.tril(x), ember.triu(x, 1), F.pad(x, (1, 2)), F.pad(x, (1, 0, 0, 1), value=3.0)]
        ),
        (_f(2, 3, 4),),
    ),
    "getitem": (
        lambda x, i: (
            [x[1], x[-1, :, 2], x[:, 1:3], x[..., ::2], x[None, 0, :, None], x[:, -2:, 1:-1], x[i]] + [x[:, i], x[0, i]]
        ),
        (_f(3, 4, 5), ember.tensor(np.array([2, 0, -1, 1]))),
    ),
    "setitem": (_setitem, (_f(4, 3), ember.tensor(np.array([3, 0])))),
    "gather_scatter_onehot": (
        lambda x, i: [
            ember.gather(x, 1, i),
            ember.scatter(x, 1, i, x[:, :3] * 10),
            ember.scatter_add(x, 1, i, x[:, :3]),
            F.one_hot(i, 4),
        ],
        (_f(2, 4), _IDX2),
    ),
    "topk_sort": (
        lambda x: (
            [*ember.topk(x, 2), *ember.topk(x, 3, dim=0, largest=False), *ember.sort(x, 1)]
            + [*ember.sort(x, 0, descending=True)]
        ),
        (_f(4, 5),),
    ),
    "linalg_conv": (
        lambda a, b, x: (
            [ember.einsum("ij,jk->ik", a, b), ember.einsum("bij->bji", x), a @ b[:, 0]]
            + [F.conv_transpose2d(x[None].expand(1, 3, 3, 3), _W, stride=2, padding=1, output_padding=1)]
        ),
        (_f(3, 4), _f(4, 5, seed=4), _f(3, 3, 3, seed=5)),
    ),
    "nn_variants": (
        lambda x: [
            *F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, return_indices=True),
            F.max_pool2d(x, 2, dilation=2),
            F.conv2d(x, _W2, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
            F.layer_norm(x, (5, 6)),
            F.adaptive_avg_pool2d(x, 1),
        ],
        (_f(2, 4, 5, 6),),
    ),
    "lstm_reverse": (nn.LSTM(3, 4, bidirectional=True), (_f(5, 2, 3),)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_op_sweep(name):
    fn, inputs = CASES[name]
    if isinstance(fn, nn.Module):
        fn.eval()
        module = fn
        fn = lambda x: module(x)[0]  # noqa: E731
    ember.manual_seed(0)
    _check(fn, inputs, opset_version=18 if name.endswith("opset18") else 17)


def test_sweep_exercises_every_emitter():
    """Each registered emitter runs in at least one case above (or a model test), so none is untested."""
    seen = set()
    for fn, inputs in CASES.values():
        if isinstance(fn, nn.Module):
            module = fn
            fn = lambda x, m=module: m(x)[0]  # noqa: E731
        seen |= _ops_in(fn, inputs)
    seen |= _ops_in(GPT().eval(), (ember.tensor(np.zeros((1, 8), np.int64)),))
    seen |= _ops_in(LeNet().eval(), (ember.randn(1, 1, 28, 28),))
    # reached only through TF1 graphs with unknown dims, device moves or .detach() inside a trace
    indirect = {
        "reshape_dynamic",
        "broadcast_dynamic",
        "shape_of",
        "expand_like",
        "to_device",
        "stop_gradient",
        "clone",
    }
    untested = sorted(set(EMITTERS) - seen - indirect)
    assert not untested, f"emitters no sweep case reaches: {untested}"


def test_missing_onnx_extra_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    with pytest.raises(ImportError, match=r"ember\[onnx\]"):
        export(lambda x: x + 1, (ember.randn(2),))


def test_training_mode_state_writes_warn_and_leave_the_model_untouched():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))  # training mode: BN would update its stats
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.warns(UserWarning, match="updates state"):
        export(model, (ember.randn(2, 3, 8, 8),))
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_dynamic_batch_and_sequence_axes():
    lin = nn.Linear(6, 6)

    def attend(x):
        a = F.softmax(lin(x) @ x.transpose(1, 2) / 2.0, -1)
        return (a @ x).reshape(x.shape[0], -1), a.sum(-1)

    rng = np.random.default_rng(4)
    feeds = [(_x(rng, 2, 3, 6),), (_x(rng, 4, 5, 6),), (_x(rng, 1, 1, 6),)]
    proto = _check(attend, feeds[0], feeds, dynamic_axes={"x": {0: "b", 1: "t"}, "output_1": {0: "b", 1: "t"}})
    dims = proto.graph.output[1].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["b", "t"]


def test_torch_tutorial_call_shape_runs(tmp_path):
    """PyTorch's classic export call (export_params, opset 10, f=) runs unchanged: opset raised to 13, with a warning."""
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU()).eval()
    x = ember.randn(1, 4)
    with pytest.warns(UserWarning, match="opset 13 instead of 10"):
        ember.onnx.export(
            model,
            x,
            f=str(tmp_path / "t.onnx"),
            export_params=True,
            opset_version=10,
            do_constant_folding=True,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch_size"}, "output": {0: "batch_size"}},
            verbose=False,
        )
    sess = ort.InferenceSession(str(tmp_path / "t.onnx"), providers=["CPUExecutionProvider"])
    xb = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    with ember.no_grad():
        want = model(ember.tensor(xb)).numpy()
    np.testing.assert_allclose(sess.run(None, {"input": xb})[0], want, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="unexpected keyword"):
        ember.onnx.export(model, x, str(tmp_path / "u.onnx"), bogus=1)
    with pytest.raises(NotImplementedError, match="export_params=False"):
        ember.onnx.export(model, x, str(tmp_path / "u.onnx"), export_params=False)
