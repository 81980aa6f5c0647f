"""``ember.export`` model directories and ``compat.v1.saved_model``.

Each model is exported, loaded back (in this process and in a fresh one that
only imports ember) and run; its outputs must equal the original model's
eager outputs bitwise, at the example's batch size and at others when the
batch is dynamic. The TF1 path trains a logistic regression in a Session,
saves it with ``simple_save`` and checks the reloaded predictions against the
Session and against real TensorFlow trained the same way. Corrupted files
must only ever raise ValueError.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ember
import ember.compat.v1 as tf
import ember.nn.functional as F
from ember import nn
from ember.export import load_model, save_model
from ember.export import model_dir as md


# ---- models -----------------------------------------------------------------------------------
class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.pool, self.c2 = nn.Conv2d(1, 4, 3), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.c1(x)))
        return self.fc(F.relu(self.c2(x)).view(x.size(0), -1))


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn, self.fc = nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.Linear(6, 4)

    def forward(self, x):
        return self.fc(F.avg_pool2d(F.relu(self.bn(self.conv(x))), 8).flatten(1))


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.fc = nn.LSTM(4, 6, num_layers=2, batch_first=True), nn.Linear(6, 3)

    def forward(self, x):
        out, (h, c) = self.lstm(x)
        return self.fc(out[:, -1]), h


class CausalBlock(nn.Module):
    """nanoGPT's block: masked multi-head attention from a tril buffer, tanh-GELU MLP, pre-LayerNorm."""

    def __init__(self, d=16, heads=4, block=8):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d))
        self.register_buffer("mask", ember.tril(ember.ones(block, block)).view(1, 1, block, block))

    def attn(self, x):
        B, T, C = x.size()
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = F.softmax(att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf")), dim=-1)
        return self.proj((att @ v).transpose(1, 2).contiguous().view(B, T, C))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self, vocab=11, d=16, block=8):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.block, self.ln, self.head = CausalBlock(d, 4, block), nn.LayerNorm(d), nn.Linear(d, vocab)

    def forward(self, idx):
        pos = ember.arange(idx.size(1))
        return self.head(self.ln(self.block(self.wte(idx) + self.wpe(pos))))


def _bn_net():
    m = BNNet()
    m.train()
    with ember.no_grad():
        for _ in range(3):  # non-trivial running statistics
            m(ember.randn(4, 3, 8, 8) * 2 + 1)
    return m


def _models():
    ember.manual_seed(0)
    return {
        "mlp": (nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 3)), ember.randn(3, 4)),
        "lenet": (LeNet(), ember.randn(2, 1, 14, 14)),
        "bn_cnn": (_bn_net(), ember.randn(2, 3, 8, 8)),
        "lstm": (LSTMNet(), ember.randn(2, 5, 4)),
        "encoder": (nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True), ember.randn(2, 6, 16)),
        "gpt": (TinyGPT(), ember.randint(0, 11, (2, 8))),
    }


def _eager(model, x):
    with ember.no_grad():
        out = model(x)
    return [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]


@pytest.fixture(scope="module")
def exported():
    """name -> (model, example, dir); one export per model for the whole module."""
    root = tempfile.mkdtemp(prefix="ember-export-test-")
    out = {}
    for name, (model, x) in _models().items():
        path = os.path.join(root, name)
        was_training = model.training
        save_model(model, x, path)
        assert model.training == was_training  # traced in eval mode, then put back as it was
        model.eval()
        out[name] = (model, x, path)
    return out


def _other_input(x, batch):
    if x.dtype == ember.int64:
        return ember.randint(0, 11, (batch, *x.shape[1:]))
    return ember.randn(batch, *x.shape[1:])


@pytest.mark.parametrize("name", ["mlp", "lenet", "bn_cnn", "lstm", "encoder", "gpt"])
def test_round_trip_is_bitwise_at_any_batch_size(exported, name):
    model, x, path = exported[name]
    m = load_model(path)
    sig = m.signature
    assert sig["inputs"]["input_0"]["shape"] == [None, *x.shape[1:]]
    assert sig["inputs"]["input_0"]["dtype"] == x.numpy().dtype.name
    assert all(s["shape"][0] is None for s in sig["outputs"].values()) or name == "lstm"
    for batch in (x.shape[0], 1, 7):
        xb = x if batch == x.shape[0] else _other_input(x, batch)
        want = _eager(model, xb)
        got = m.predict({"input_0": xb.numpy()})
        assert list(got) == list(sig["outputs"])
        for g, w in zip(got.values(), want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_array_equal(g, w)


def test_a_batch_of_one_example_still_exports_a_dynamic_batch(tmp_path):
    model = LeNet().eval()
    x = ember.randn(1, 1, 14, 14)
    assert save_model(model, x, tmp_path / "m")["dynamic_batch"] is True
    m = load_model(tmp_path / "m")
    for batch in (1, 4):
        xb = ember.randn(batch, 1, 14, 14)
        np.testing.assert_array_equal(m(xb).numpy(), _eager(model, xb)[0])


def test_attribute_values_round_trip_through_json():
    from ember.export import graph_json as gj
    from ember.ops.indexing import Idx

    values = [
        (1, -2, (3, (4,))), [0.5, float("inf"), float("-inf")], None, True, "tanh", slice(None, -1, 2), Ellipsis,
        ember.float32, ember.int64, np.dtype("float16"), np.float32(1.5), np.int64(7), {"a": (1, None)}, Idx(1),
        np.arange(6, dtype=np.int32).reshape(2, 3), gj.BatchInt(3, -1),
    ]  # fmt: skip
    for v in values:
        back = gj.decode(json.loads(json.dumps(gj.encode(v, "test"), allow_nan=False)), "test")
        if isinstance(v, np.ndarray):
            assert back.dtype == v.dtype and np.array_equal(back, v)
        else:
            assert back == v and type(back) is type(v), (v, back)
    nan = gj.decode(json.loads(json.dumps(gj.encode(float("nan"), "t"))), "t")
    assert math.isnan(nan)
    with pytest.raises(TypeError, match="node 'n' attr: a value of type object"):
        gj.encode(object(), "node 'n' attr")
    for bad, msg in (({"$eval": "1"}, "unknown tag"), ({"$tuple": 1}, "must hold a list"),
                     ({"$dtype": "object"}, "unknown dtype"), ({"$float": "1e999"}, r"\$float must be"),
                     ({"$array": {"dtype": "float32", "shape": [2], "hex": "00"}}, "do not fill shape")):  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            gj.decode(bad, "graph.json: nodes[0].attrs.x")


def test_lstm_state_output_has_batch_in_its_middle_dim(exported):
    sig = load_model(exported["lstm"][2]).signature
    assert sig["outputs"]["output_1"]["shape"] == [2, None, 6]  # h: (layers, batch, hidden)


def test_fresh_process_loads_without_the_model_code(exported, tmp_path):
    """Only ember is imported in the child: the model classes of this file do not exist there."""
    cases = {}
    for name in ("bn_cnn", "lstm", "gpt"):
        model, x, path = exported[name]
        xb = _other_input(x, 5)
        np.save(tmp_path / f"{name}.npy", xb.numpy())
        cases[name] = (path, _eager(model, xb))
    script = (
        "import sys, numpy as np, ember.export as ex\n"
        "for name, path in zip(sys.argv[1::2], sys.argv[2::2]):\n"
        "    m = ex.load_model(path)\n"
        f"    x = np.load({str(tmp_path)!r} + '/' + name + '.npy')\n"
        "    for k, v in m.predict({'input_0': x}).items():\n"
        f"        np.save({str(tmp_path)!r} + '/' + name + '_' + k + '.npy', v)\n"
    )
    args = [a for name, (path, _) in cases.items() for a in (name, path)]
    r = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for name, (_, want) in cases.items():
        for i, w in enumerate(want):
            np.testing.assert_array_equal(np.load(tmp_path / f"{name}_output_{i}.npy"), w)


def test_call_returns_tensors_and_names_are_used(tmp_path):
    ember.manual_seed(1)
    model = nn.Linear(3, 2)
    x = ember.randn(4, 3)
    save_model(lambda a: {"logits": model(a), "probs": F.softmax(model(a), dim=-1)}, x, tmp_path / "m",
               input_names=["features"])  # fmt: skip
    m = load_model(tmp_path / "m")
    assert list(m.signature["inputs"]) == ["features"] and list(m.signature["outputs"]) == ["logits", "probs"]
    logits, probs = m(x)
    assert isinstance(logits, ember.Tensor) and isinstance(probs, ember.Tensor)
    with ember.no_grad():
        np.testing.assert_array_equal(logits.numpy(), model(x).numpy())
        np.testing.assert_array_equal(probs.numpy(), F.softmax(model(x), dim=-1).numpy())


def test_a_corrupted_weight_is_detected_at_load(exported, tmp_path):
    import shutil

    path = tmp_path / "m"
    shutil.copytree(exported["mlp"][2], path)
    data = bytearray((path / "weights.safetensors").read_bytes())
    data[-3] ^= 0x40  # one bit of the last weight: still a valid safetensors file
    (path / "weights.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="weights.safetensors: its SHA-256 does not match"):
        load_model(path)


def test_inputs_are_checked_against_the_signature(exported):
    m = load_model(exported["mlp"][2])
    good = np.zeros((5, 4), np.float32)
    with pytest.raises(ValueError, match=r"missing \['input_0'\]"):
        m.predict({})
    with pytest.raises(ValueError, match=r"unexpected \['extra'\]"):
        m.predict({"input_0": good, "extra": good})
    with pytest.raises(ValueError, match=r"input 'input_0': expected dtype float32, got float64"):
        m.predict({"input_0": good.astype(np.float64)})
    with pytest.raises(ValueError, match=r"input 'input_0': expected shape \[None, 4\], got \[5, 3\]"):
        m.predict({"input_0": good[:, :3]})
    with pytest.raises(ValueError, match=r"expected shape \[None, 4\], got \[4\]"):
        m.predict({"input_0": good[0]})


def test_several_inputs_share_one_batch_dimension(tmp_path):
    ember.manual_seed(3)
    a_net, b_net = nn.Linear(4, 3), nn.Linear(2, 3)

    def two(a, b):
        return a_net(a) * b_net(b)

    a, b = ember.randn(3, 4), ember.randn(3, 2)
    sig = save_model(two, (a, b), tmp_path / "m", input_names=["a", "b"])
    assert sig["inputs"] == {
        "a": {"shape": [None, 4], "dtype": "float32"},
        "b": {"shape": [None, 2], "dtype": "float32"},
    }
    m = load_model(tmp_path / "m")
    a5, b5 = ember.randn(5, 4), ember.randn(5, 2)
    with ember.no_grad():
        np.testing.assert_array_equal(m.predict({"a": a5.numpy(), "b": b5.numpy()})["output_0"], two(a5, b5).numpy())
    with pytest.raises(ValueError, match=r"input 'b': dim 0 is 4, but input 'a' has batch size 5"):
        m.predict({"a": a5.numpy(), "b": np.zeros((4, 2), np.float32)})


class BatchDependentData(nn.Module):
    """Adds arange(batch): the graph's constants depend on the batch size, so the export is static."""

    def forward(self, x):
        return x + ember.arange(x.shape[0], dtype=ember.float32)[:, None]


def test_static_export_records_why_and_rejects_other_batches(tmp_path):
    x = ember.randn(3, 4)
    sig = save_model(BatchDependentData(), x, tmp_path / "m")
    assert sig["dynamic_batch"] is False and "batch" in sig["static_reason"]
    m = load_model(tmp_path / "m")
    assert m.signature["inputs"]["input_0"]["shape"] == [3, 4]
    np.testing.assert_array_equal(m.predict({"input_0": x.numpy()})["output_0"], BatchDependentData()(x).numpy())
    with pytest.raises(ValueError, match=r"expected shape \[3, 4\], got \[5, 4\].*static batch size"):
        m.predict({"input_0": np.zeros((5, 4), np.float32)})
    sig = save_model(nn.Linear(4, 2), x, tmp_path / "s", dynamic_batch=False)
    assert sig["dynamic_batch"] is False and sig["inputs"]["input_0"]["shape"] == [3, 4]


def test_known_host_functions_round_trip_and_unknown_ones_are_refused(tmp_path):
    x = ember.randn(3, 4)

    def scaled(a):
        return a * (a.sum().item() ** 2 + 1.0)

    save_model(scaled, x, tmp_path / "ok", dynamic_batch=False)
    got = load_model(tmp_path / "ok")(x).numpy()
    np.testing.assert_array_equal(got, scaled(x).numpy())

    from ember.graph.host import host_input

    def reads_python(a):  # a number read from Python at every run, as an optimizer's lr is
        return a * (host_input(lambda: 2.0, name="lr_now") if ember.graph.is_symbolic(a) else 2.0)

    with pytest.raises(ValueError, match="cannot export host node 'lr_now'"):
        save_model(reads_python, x, tmp_path / "bad", dynamic_batch=False)
    assert not (tmp_path / "bad").exists()


def test_compiled_module_exports_its_graph(tmp_path):
    ember.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
    cm = ember.compile(model)
    x = ember.randn(3, 4)
    sig = save_model(cm, x, tmp_path / "m")
    assert sig["dynamic_batch"] is False and "ember.compile" in sig["static_reason"]
    np.testing.assert_array_equal(load_model(tmp_path / "m")(x).numpy(), _eager(model, x)[0])


def test_replacing_an_export_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "m"
    x = ember.randn(2, 4)
    first = nn.Linear(4, 2)
    save_model(first, x, path)
    before = {f: (path / f).read_bytes() for f in os.listdir(path)}

    real = md._safetensors()

    class Broken:
        @staticmethod
        def save_file(*args, **kwargs):
            raise OSError("disk full")

    monkeypatch.setattr(md, "_safetensors", lambda: Broken)
    with pytest.raises(OSError, match="disk full"):
        save_model(nn.Linear(4, 2), x, path)
    assert {f: (path / f).read_bytes() for f in os.listdir(path)} == before
    assert sorted(os.listdir(tmp_path)) == ["m"]  # no temporary directory left behind
    monkeypatch.setattr(md, "_safetensors", lambda: real)

    second = nn.Linear(4, 2)
    save_model(second, x, path)
    assert sorted(os.listdir(tmp_path)) == ["m"]
    np.testing.assert_array_equal(load_model(path)(x).numpy(), _eager(second, x)[0])

    other = tmp_path / "not_a_model"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an ember model export"):
        save_model(first, x, other)
    assert (other / "notes.txt").read_text() == "keep me"


# ---- TF1: Session -> simple_save -> loader.load ---------------------------------------------------
def _logistic_data():
    rng = np.random.RandomState(0)
    X = rng.randn(64, 3).astype(np.float32)
    Y = (X @ np.array([1.0, -2.0, 0.5]) > 0).astype(np.float32)[:, None]
    return X, Y


def _train_logistic(tfm, X, Y, steps=30):
    x = tfm.placeholder(tfm.float32, [None, 3], name="x")
    y = tfm.placeholder(tfm.float32, [None, 1], name="y")
    W = tfm.Variable(tfm.zeros([3, 1]), name="W")
    b = tfm.Variable(tfm.zeros([1]), name="b")
    logits = tfm.matmul(x, W) + b
    prob = tfm.sigmoid(logits, name="prob")
    loss = tfm.reduce_mean(tfm.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))
    train = tfm.train.GradientDescentOptimizer(0.5).minimize(loss)
    sess = tfm.Session()
    sess.run(tfm.global_variables_initializer())
    for _ in range(steps):
        sess.run(train, {x: X, y: Y})
    return sess, x, prob


def test_simple_save_then_loader_load_gives_the_same_predictions(tmp_path):
    X, Y = _logistic_data()
    export = str(tmp_path / "lr")
    with tf.Graph().as_default():
        sess, x, prob = _train_logistic(tf, X, Y)
        want = sess.run(prob, {x: X})
        tf.saved_model.simple_save(sess, export, inputs={"x": x}, outputs={"prob": prob})
        with pytest.raises(AssertionError, match="Export directory already exists"):
            tf.saved_model.simple_save(sess, export, inputs={"x": x}, outputs={"prob": prob})
    g = tf.Graph()
    with g.as_default(), tf.Session(graph=g) as s2:
        meta = tf.saved_model.loader.load(s2, [tf.saved_model.tag_constants.SERVING], export)
        sd = meta.signature_def[tf.saved_model.signature_constants.DEFAULT_SERVING_SIGNATURE_DEF_KEY]
        assert sd.inputs["x"].name == "x:0" and sd.outputs["prob"].name == "prob:0"
        got = s2.run(g.get_tensor_by_name("prob:0"), {g.get_tensor_by_name("x:0"): X[:10]})
        np.testing.assert_array_equal(got, want[:10])
    with tf.Graph().as_default() as g3, tf.Session(graph=g3) as s3, pytest.raises(RuntimeError, match="tags"):
        tf.saved_model.load(s3, ["train"], export)
    m = load_model(export)
    assert m.signature["inputs"] == {"x": {"shape": [None, 3], "dtype": "float32"}}
    np.testing.assert_array_equal(m.predict({"x": X})["prob"], want)


def test_builder_with_a_named_signature(tmp_path):
    X, Y = _logistic_data()
    export = str(tmp_path / "b")
    with tf.Graph().as_default():
        sess, x, prob = _train_logistic(tf, X, Y, steps=5)
        want = sess.run(prob, {x: X})
        builder = tf.saved_model.builder.SavedModelBuilder(export)
        sig = tf.saved_model.signature_def_utils.predict_signature_def(inputs={"feat": x}, outputs={"p": prob})
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"predict": sig})
        builder.save()
    g = tf.Graph()
    with g.as_default(), tf.Session(graph=g) as s2:
        sd = tf.saved_model.loader.load(s2, ["serve"], export).signature_def["predict"]
        got = s2.run(g.get_tensor_by_name(sd.outputs["p"].name), {g.get_tensor_by_name(sd.inputs["feat"].name): X})
    np.testing.assert_array_equal(got, want)


def test_matches_tensorflow_api_and_numbers(tmp_path):
    """Real TF trains the same logistic regression: same argument names, same predictions (float32)."""
    import tensorflow as real_tf

    t1 = real_tf.compat.v1
    for ours, theirs in ((tf.saved_model.simple_save, t1.saved_model.simple_save),
                         (tf.saved_model.loader.load, t1.saved_model.loader.load),
                         (tf.saved_model.load, t1.saved_model.load)):  # fmt: skip
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters)
    X, Y = _logistic_data()
    with real_tf.Graph().as_default():
        sess, x, prob = _train_logistic(t1, X, Y)
        want = sess.run(prob, {x: X})
    with tf.Graph().as_default():
        sess, x, prob = _train_logistic(tf, X, Y)
        tf.saved_model.simple_save(sess, str(tmp_path / "lr"), inputs={"x": x}, outputs={"prob": prob})
    np.testing.assert_allclose(load_model(tmp_path / "lr").predict({"x": X})["prob"], want, rtol=1e-5, atol=1e-6)


# ---- corrupted files: only ValueError --------------------------------------------------------------
@pytest.fixture(scope="module")
def gpt_export(exported):
    _, x, path = exported["gpt"]
    with open(os.path.join(path, "graph.json")) as f:
        graph = json.load(f)
    with open(os.path.join(path, "signature.json")) as f:
        sig = json.load(f)
    with open(os.path.join(path, "weights.safetensors"), "rb") as f:
        weights = f.read()
    return _Files(graph, sig, weights, x.numpy())


class _Files(tuple):
    def __new__(cls, *parts):
        return super().__new__(cls, parts)

    def __repr__(self):  # hypothesis prints the fixture: keep it short
        return "<gpt export files>"


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _mutate(doc, path, action, value):
    doc = json.loads(json.dumps(doc))
    if not path:
        return value
    parent = doc
    for p in path[:-1]:
        parent = parent[p]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 10**12)
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.sampled_from(["$ref", "$b", "$tuple", "add", "fill", "read", "float32", "py:float", "op"]),
    lambda c: (
        st.lists(c, max_size=3)
        | st.dictionaries(st.sampled_from(["$ref", "$b", "$tuple", "$array", "x"]), c, max_size=2)
    ),  # fmt: skip
    max_leaves=6,
)


def _write_and_load(tmp, graph_text, sig_text, weights, x):
    for name, data in (("graph.json", graph_text), ("signature.json", sig_text)):
        with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
            f.write(data)
    with open(os.path.join(tmp, "weights.safetensors"), "wb") as f:
        f.write(weights)
    try:
        m = load_model(tmp)
    except ValueError:
        return
    try:  # a mutation that loads must still run cleanly or fail with a checked error
        m.predict({n: x for n in m.signature["inputs"]})
    except ValueError:
        pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_garbled_files_raise_only_value_errors(gpt_export, data):
    graph, sig, weights, x = gpt_export
    tmp = tempfile.mkdtemp(prefix="ember-fuzz-")
    which = data.draw(st.sampled_from(["graph", "signature", "truncate", "weights"]))
    gtext, stext, w = json.dumps(graph), json.dumps(sig), weights
    if which in ("graph", "signature"):
        doc = graph if which == "graph" else sig
        paths = list(_paths(doc))
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["replace", "delete"])) if path else "replace"
        mutated = json.dumps(_mutate(doc, path, action, data.draw(_json_values)))
        gtext, stext = (mutated, stext) if which == "graph" else (gtext, mutated)
    elif which == "truncate":
        cut = data.draw(st.integers(0, len(gtext) - 1))
        gtext = gtext[:cut]
    else:
        cut = data.draw(st.integers(0, len(w) - 1))
        w = w[:cut] + bytes([data.draw(st.integers(0, 255))]) + w[cut + 1 :]
    _write_and_load(tmp, gtext, stext, w, x)
