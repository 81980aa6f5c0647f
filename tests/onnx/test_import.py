"""ember.onnx.load: models exported by PyTorch run in ember with torch's numbers, gradients and training."""

import importlib
import io
import warnings

import numpy as np
import pytest

import ember

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
from onnx import TensorProto, helper  # noqa: E402
from torch import nn  # noqa: E402

import ember.onnx  # noqa: E402

onnx_load = importlib.import_module("ember.onnx.load")


# ---- models ------------------------------------------------------------------------------------
class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        return torch.relu(self.b2(self.c2(y)) + self.short(x))


class ResNet20(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers, cin = [], width
        for stage, c in enumerate([width, 2 * width, 4 * width]):
            for j in range(3):
                layers.append(Block(cin, c, 2 if (j == 0 and stage > 0) else 1))
                cin = c
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, 10)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)
        )

    def forward(self, x):
        return self.head(self.features(x))


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


class GPTBlock(nn.Module):
    """A nanoGPT-style pre-LN block: causal multi-head attention and a GELU MLP."""

    def __init__(self, d=32, heads=4):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / (c // self.heads) ** 0.5
        mask = torch.tril(torch.ones(t, t)).view(1, 1, t, t)
        att = torch.softmax(att.masked_fill(mask == 0, float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.proj(y)
        return x + self.mlp(self.ln2(x))


def _mlp():
    return nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 5))


def _resnet():
    m = ResNet20()
    for mod in m.modules():  # non-trivial running statistics, so BatchNorm matters
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    return m


MODELS = {
    "mlp": (_mlp, (4, 10)),
    "lenet": (LeNet, (2, 1, 28, 28)),
    "resnet20": (_resnet, (2, 3, 32, 32)),
    "lstm": (LSTMNet, (3, 7, 8)),
    "gpt_block": (GPTBlock, (2, 6, 32)),
}


def export(model, x, **kw):
    """The model exported by PyTorch's legacy (TorchScript) exporter at opset 17, as bytes."""
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), f, dynamo=False, opset_version=17, input_names=["x"], output_names=["y"], **kw)
    return f.getvalue()


def close(got, ref, tol=1e-5):
    """Relative to the output's scale: max |got - ref| <= tol * max(1, max |ref|)."""
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape and got.dtype == ref.dtype, (got.shape, got.dtype, ref.shape, ref.dtype)
    err = np.abs(got - ref).max() / max(1.0, np.abs(ref).max())
    assert err <= tol, f"relative error {err}"


def _built(name, constant_folding=True):
    torch.manual_seed(0)
    factory, shape = MODELS[name]
    model = factory().eval()
    x = torch.randn(*shape)
    return model, x, export(model, x, do_constant_folding=constant_folding)


# ---- outputs match torch -----------------------------------------------------------------------
@pytest.mark.parametrize("name", list(MODELS))
def test_imported_model_matches_torch_eager_and_compiled(name):
    model, x, data = _built(name)
    module = ember.onnx.load(data)
    with torch.no_grad():
        ref = model(x).numpy()
    with ember.no_grad():
        close(module(ember.tensor(x.numpy())).numpy(), ref)
        compiled = ember.compile(module)
        close(compiled(ember.tensor(x.numpy())).numpy(), ref)
    # shape arithmetic is folded at trace time: the graph has no shape-of nodes
    assert "shape_of" not in str(compiled.graph)


def test_resnet_with_batchnorm_nodes_matches_torch():
    model, x, data = _built("resnet20", constant_folding=False)
    ops = {n.op_type for n in onnx.load_from_string(data).graph.node}
    assert "BatchNormalization" in ops
    with torch.no_grad():
        ref = model(x).numpy()
    with ember.no_grad():
        close(ember.onnx.load(data)(ember.tensor(x.numpy())).numpy(), ref)


def test_lstm_with_batch_dynamic_axes_and_signature():
    torch.manual_seed(1)
    model = LSTMNet().eval()
    data = export(model, torch.randn(2, 5, 8), dynamic_axes={"x": {0: "batch", 1: "time"}, "y": {0: "batch"}})
    module = ember.onnx.load(data)
    assert module.input_names == ["x"] and module.output_names == ["y"]
    assert module.signature["inputs"]["x"] == {"shape": [None, None, 8], "dtype": "float32"}
    assert module.signature["outputs"]["y"] == {"shape": [None, 4], "dtype": "float32"}
    x = torch.randn(4, 9, 8)  # other batch and sequence lengths than at export
    with torch.no_grad():
        ref = model(x).numpy()
    with ember.no_grad():
        close(module(ember.tensor(x.numpy())).numpy(), ref)


# ---- fine-tuning -------------------------------------------------------------------------------
def test_parameters_are_initializers_and_gradients_match_torch():
    model, x, data = _built("mlp")
    module = ember.onnx.load(data)
    params = dict(module.named_parameters())
    assert set(module.param_names) == {n for n, _ in model.named_parameters()}
    assert all(p.requires_grad for p in params.values())
    target = torch.randn(4, 5)
    loss = ((model(x) - target) ** 2).mean()
    loss.backward()
    eloss = ((module(ember.tensor(x.numpy())) - ember.tensor(target.numpy())) ** 2).mean()
    eloss.backward()
    close(eloss.detach().numpy(), loss.detach().numpy())
    for onnx_name, tp in model.named_parameters():
        p = params[module.param_names[onnx_name]]
        close(p.grad.numpy(), tp.grad.numpy())


def test_sgd_steps_reduce_the_loss():
    _, x, data = _built("mlp")
    module = ember.onnx.load(data)
    opt = ember.optim.SGD(module.parameters(), lr=0.1)
    ember.manual_seed(0)
    xe, target = ember.tensor(x.numpy()), ember.randn(4, 5)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = ((module(xe) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0], losses


# ---- constants, errors and serving ------------------------------------------------------------
def _reshape_model(op_type="Reshape", domain=""):
    w = helper.make_tensor("w.0", TensorProto.FLOAT, [6], np.arange(6, dtype=np.float32).tolist())
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [2, 3])
    nodes = [
        helper.make_node("Add", ["x", "w.0"], ["s"], name="add"),
        helper.make_node(op_type, ["s", "shape"], ["y"], name="the_node", domain=domain),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        initializer=[w, shape],
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets)


def test_integer_initializers_stay_constants():
    module = ember.onnx.load(_reshape_model())
    names = [n for n, _ in module.named_parameters()]
    assert names == ["w_0"] and module.param_names == {"w.0": "w_0"}
    x = np.linspace(-1, 1, 6).astype(np.float32)
    np.testing.assert_array_equal(
        module(ember.tensor(x)).detach().numpy(), (x + np.arange(6, dtype=np.float32)).reshape(2, 3)
    )


@pytest.mark.parametrize("op_type, domain", [("GridSample", ""), ("FancyOp", "com.example")])
def test_unsupported_op_is_refused_at_load_time(op_type, domain):
    with pytest.raises(NotImplementedError, match=rf"ONNX op '.*{op_type}' \(node 'the_node'\).*supported: .*Reshape"):
        ember.onnx.load(_reshape_model(op_type, domain))


def test_malformed_files_raise_value_error_naming_the_file(tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"\xff\x00 this is not protobuf \x12\x34" * 10)
    with pytest.raises(ValueError, match="garbage.onnx"):
        ember.onnx.load(str(bad))
    model = _reshape_model()
    model.graph.node[0].input[1] = "missing"  # a node reading a value nothing defines
    invalid = tmp_path / "invalid.onnx"
    invalid.write_bytes(model.SerializeToString())
    with pytest.raises(ValueError, match="invalid.onnx"):
        ember.onnx.load(invalid)


def test_load_accepts_path_bytes_and_model_proto(tmp_path):
    model = _reshape_model()
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    x = ember.tensor(np.ones(6, np.float32))
    outs = [ember.onnx.load(src)(x).detach().numpy() for src in (str(path), path, model.SerializeToString(), model)]
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])


def test_predictor_runs_without_grad_and_checks_inputs(tmp_path):
    model, x, data = _built("lenet")
    path = tmp_path / "lenet.onnx"
    path.write_bytes(data)
    pred = ember.onnx.load_predictor(str(path))
    assert pred.signature["inputs"] == {"x": {"shape": [2, 1, 28, 28], "dtype": "float32"}}
    assert list(pred.signature["outputs"]) == ["y"]
    out = pred.predict({"x": x.numpy().astype(np.float64)})  # converted to the signature's dtype
    assert set(out) == {"y"} and isinstance(out["y"], np.ndarray)
    with torch.no_grad():
        close(out["y"], model(x).numpy())
    with pytest.raises(KeyError, match="missing"):
        pred.predict({})
    with pytest.raises(ValueError, match=r"input 'x' has shape \(2, 28, 28\)"):
        pred.predict({"x": np.zeros((2, 28, 28), np.float32)})


def test_float_initializers_an_op_needs_as_constants_stay_constants():
    """Resize scales and Clip bounds are not trainable: they stay constants, also under ember.compile."""
    ort = pytest.importorskip("onnxruntime")
    nodes = [
        helper.make_node("Resize", ["x", "", "scales"], ["r"], mode="linear"),
        helper.make_node("Clip", ["r", "lo", "hi"], ["c"]),
        helper.make_node("Mul", ["c", "w"], ["y"]),
    ]
    inits = [
        helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2]),
        helper.make_tensor("lo", TensorProto.FLOAT, [], [-0.5]),
        helper.make_tensor("hi", TensorProto.FLOAT, [], [0.5]),
        helper.make_tensor("w", TensorProto.FLOAT, [1], [3.0]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 6])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    module = ember.onnx.load(model)
    assert [n for n, _ in module.named_parameters()] == ["w"]
    x = np.random.default_rng(0).standard_normal((1, 1, 2, 3)).astype(np.float32)
    ref = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    with ember.no_grad():
        close(module(ember.tensor(x)).numpy(), ref)
        close(ember.compile(module)(ember.tensor(x)).numpy(), ref)


@pytest.mark.parametrize(
    "attrs",
    [
        {"pads": [1, 0, 2, 1, 0, 0]},
        {"strides": [2, 1, 2], "dilations": [1, 2, 1], "group": 2},
        {"auto_pad": "SAME_UPPER", "strides": [2, 2, 1]},
    ],
)
def test_conv3d_matches_torch(attrs):
    """3-d Conv (ember has 2-d kernels: the importer sums 2-d convolutions over depth slices)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 6, 7)).astype(np.float32)
    w = rng.standard_normal((6, 4 // attrs.get("group", 1), 3, 2, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "c", "d", "h", "w"])],
        initializer=[onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(b, "b")],
    )
    module = ember.onnx.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    with ember.no_grad():
        got = module(ember.tensor(x)).numpy()
    tx = torch.from_numpy(x)
    pads = attrs.get("pads")
    if attrs.get("auto_pad") == "SAME_UPPER":  # out = ceil(in / stride); the extra padding goes at the end
        pads = []
        for size, k, s in zip(x.shape[2:], w.shape[2:], attrs["strides"]):
            total = max(0, (-(-size // s) - 1) * s + k - size)
            pads.append((total // 2, total - total // 2))
        pads = [p[0] for p in pads] + [p[1] for p in pads]
    if pads:
        tx = torch.nn.functional.pad(tx, [v for i in (2, 1, 0) for v in (pads[i], pads[i + 3])])
    ref = torch.nn.functional.conv3d(
        tx,
        torch.from_numpy(w),
        torch.from_numpy(b),
        attrs.get("strides", 1),
        0,
        attrs.get("dilations", 1),
        attrs.get("group", 1),
    )
    close(got, ref.numpy())
