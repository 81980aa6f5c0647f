"""ember.utils.tensorboard.SummaryWriter: event files read back with TensorBoard's own reader.

PyTorch's SummaryWriter writing the same calls is the oracle for scalars, histograms, images, text,
hparams and purge_step; the graph is checked against ember's IR and by running the GraphDef again
with the op table and comparing with the eager model.
"""

import io
import os
import re
import socket
import subprocess
import sys
import time
import types

import numpy as np
import pytest

# TensorBoard's reader (and torch's writer) use TensorFlow for file access when it is installed;
# its stub does the same for local files without a multi-second TensorFlow import.
sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))

from tensorboard.backend.event_processing import event_accumulator as ea  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

import ember  # noqa: E402
import ember.nn as nn  # noqa: E402
from ember.op import REGISTRY  # noqa: E402
from ember.utils.tensorboard import SummaryWriter  # noqa: E402

KINDS = (ea.COMPRESSED_HISTOGRAMS, ea.IMAGES, ea.AUDIO, ea.SCALARS, ea.HISTOGRAMS, ea.TENSORS)


def read(path):
    acc = ea.EventAccumulator(str(path), size_guidance={k: 0 for k in KINDS})
    acc.Reload()
    return acc


def torch_writer():
    return pytest.importorskip("torch.utils.tensorboard").SummaryWriter


def decode_png(encoded):
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))


def scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


# ---- import and errors ---------------------------------------------------------------------------
def test_import_does_not_load_tensorboardx():
    code = "import sys, ember, ember.utils.tensorboard; print('tensorboardX' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_tensorboardx_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"pip install 'ember\[tensorboard\]'"):
        SummaryWriter(tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_bad_arguments_raise_before_writing(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(ValueError, match=r"add_scalar\('loss'\).*shape \(3,\).*float32"):
            w.add_scalar("loss", ember.ones(3), 0)
        with pytest.raises(TypeError, match="tag must be a str"):
            w.add_scalar(3, 1.0)
        with pytest.raises(ValueError, match=r"add_image\('im'\).*\(3, 4\).*'CHW'"):
            w.add_image("im", np.zeros((3, 4)), 0)
        with pytest.raises(ValueError, match="dataformats"):
            w.add_image("im", np.zeros((3, 4, 4)), 0, dataformats="CXW")
        with pytest.raises(ValueError, match="2 channels"):
            w.add_image("im", np.zeros((2, 4, 4)), 0)
        with pytest.raises(ValueError, match="NaN"):
            w.add_histogram("h", np.array([1.0, np.nan]), 0)
        with pytest.raises(TypeError, match="dictionary"):
            w.add_hparams([("lr", 0.1)], {"acc": 1.0})
        with pytest.raises(ValueError, match="input_to_model is required"):
            w.add_graph(nn.Linear(2, 2))
        w.add_scalar("ok", 1.0, 0)
    acc = read(tmp_path)
    assert acc.Tags()["scalars"] == ["ok"]
    assert acc.Tags()["images"] == [] and acc.Tags()["histograms"] == []


# ---- scalars -------------------------------------------------------------------------------------
def write_scalars(w, t0):
    w.add_scalar("loss", 0.5, 0, walltime=t0)
    w.add_scalar("loss", np.float32(0.25), 1, walltime=t0 + 1)
    w.add_scalar("loss", np.array([0.125]), 2, walltime=t0 + 2)
    w.add_scalar("train/acc", 0.75, 7)
    w.add_scalar("tag with space", -3, 1, walltime=t0)
    w.add_scalar("new", 2.5, 4, walltime=t0, new_style=True)
    w.add_scalars("run", {"a": 1.0, "b": 2.0}, 3, walltime=t0)
    w.add_scalars("run", {"a": 1.5}, 4, walltime=t0)


def test_scalars_match_torch(tmp_path):
    t0 = 1.7e9
    before = time.time()
    with SummaryWriter(tmp_path / "ember") as w:
        # the same values as ember tensors where torch gets numbers
        w.add_scalar("loss", ember.tensor(0.5), 0, walltime=t0)
        w.add_scalar("loss", ember.tensor(np.float32(0.25)), 1, walltime=t0 + 1)
        w.add_scalar("loss", ember.tensor([0.125]), ember.tensor(2), walltime=t0 + 2)
        w.add_scalar("train/acc", 0.75, 7)
        w.add_scalar("tag with space", -3, 1, walltime=t0)
        w.add_scalar("new", 2.5, 4, walltime=t0, new_style=True)
        w.add_scalars("run", {"a": ember.tensor(1.0), "b": 2.0}, 3, walltime=t0)
        w.add_scalars("run", {"a": 1.5}, 4, walltime=t0)
    after = time.time()
    with torch_writer()(tmp_path / "torch") as tw:
        write_scalars(tw, t0)

    ours, theirs = read(tmp_path / "ember"), read(tmp_path / "torch")
    assert sorted(ours.Tags()["scalars"]) == sorted(theirs.Tags()["scalars"])
    for tag in theirs.Tags()["scalars"]:
        mine, ref = ours.Scalars(tag), theirs.Scalars(tag)
        assert [(e.step, e.value) for e in mine] == [(e.step, e.value) for e in ref]
        if tag != "train/acc":
            assert [e.wall_time for e in mine] == [e.wall_time for e in ref]
    assert [e.step for e in ours.Scalars("loss")] == [0, 1, 2]
    assert before <= ours.Scalars("train/acc")[0].wall_time <= after
    # new_style: a float tensor with the scalars plugin, as torch writes it
    assert ours.PluginTagToContent("scalars") == theirs.PluginTagToContent("scalars")
    (mine,), (ref,) = ours.Tensors("new"), theirs.Tensors("new")
    assert mine.step == ref.step == 4
    assert tensor_util.make_ndarray(mine.tensor_proto) == tensor_util.make_ndarray(ref.tensor_proto) == 2.5
    # add_scalars: one sub-run per series, named as torch names them
    subruns = sorted(d for d in os.listdir(tmp_path / "torch") if os.path.isdir(tmp_path / "torch" / d))
    assert subruns == ["run_a", "run_b"]
    for d in subruns:
        assert scalars(read(tmp_path / "ember" / d), "run") == scalars(read(tmp_path / "torch" / d), "run")
    assert scalars(read(tmp_path / "ember" / "run_a"), "run") == [(3, 1.0), (4, 1.5)]


def test_purge_step_matches_torch(tmp_path):
    for name, cls in (("ember", SummaryWriter), ("torch", torch_writer())):
        with cls(tmp_path / name) as w:
            for step in range(5):
                w.add_scalar("x", float(step), step)
        with cls(tmp_path / name, purge_step=2) as w:  # restarted after a crash at step 4
            w.add_scalar("x", 20.0, 2)
            w.add_scalar("x", 30.0, 3)
    ours, theirs = scalars(read(tmp_path / "ember"), "x"), scalars(read(tmp_path / "torch"), "x")
    assert ours == theirs == [(0, 0.0), (1, 1.0), (2, 20.0), (3, 30.0)]


def test_writers_in_the_same_second_keep_both_files(tmp_path):
    for step in range(3):
        with SummaryWriter(tmp_path, filename_suffix=".sfx") as w:
            w.add_scalar("x", float(step), step)
    files = os.listdir(tmp_path)
    assert len(files) == 3 and all(f.startswith("events.out.tfevents.") and f.endswith(".sfx") for f in files)
    assert scalars(read(tmp_path), "x") == [(0, 0.0), (1, 1.0), (2, 2.0)]


def test_close_flush_and_reopen(tmp_path):
    w = SummaryWriter(tmp_path)
    w.add_scalar("x", 1.0, 0)
    w.flush()
    assert scalars(read(tmp_path), "x") == [(0, 1.0)]
    w.close()
    w.close()  # a second close does nothing
    w.add_scalar("x", 2.0, 1)  # writes a new event file, as torch's writer does
    w.close()
    assert scalars(read(tmp_path), "x") == [(0, 1.0), (1, 2.0)]
    with SummaryWriter(tmp_path / "ctx") as w2:
        w2.add_scalar("y", 3.0, 5)
    assert w2.all_writers is None
    assert scalars(read(tmp_path / "ctx"), "y") == [(5, 3.0)]


def test_default_log_dir_like_torch(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_exp")
    w.close()
    tw = torch_writer()(comment="_exp")
    tw.close()
    pattern = r"runs[/\\][A-Z][a-z]{2}\d{2}_\d{2}-\d{2}-\d{2}_" + re.escape(socket.gethostname()) + "_exp$"
    assert re.match(pattern, w.get_logdir()) and re.match(pattern, tw.get_logdir())
    assert os.path.isdir(w.get_logdir())


# ---- histograms, images, text, hparams -----------------------------------------------------------
def test_histogram_matches_numpy_and_torch(tmp_path):
    ember.manual_seed(0)
    values = ember.randn(1000) * 3 + 1
    arr = values.numpy().astype(np.float64)
    with SummaryWriter(tmp_path / "ember") as w:
        w.add_histogram("w", values, 1)
        w.add_histogram("auto", arr, 2, bins="auto", max_bins=10)
    with torch_writer()(tmp_path / "torch") as tw:
        tw.add_histogram("w", arr, 1)
        tw.add_histogram("auto", arr, 2, bins="auto", max_bins=10)
    ours, theirs = read(tmp_path / "ember"), read(tmp_path / "torch")
    (h,) = ours.Histograms("w")
    hv = h.histogram_value
    assert h.step == 1 and hv.num == 1000
    assert hv.min == arr.min() and hv.max == arr.max()
    np.testing.assert_allclose(hv.sum, arr.sum(), rtol=1e-12)
    np.testing.assert_allclose(hv.sum_squares, arr @ arr, rtol=1e-12)
    assert sum(hv.bucket) == 1000
    for tag in ("w", "auto"):
        assert ours.Histograms(tag)[0].histogram_value == theirs.Histograms(tag)[0].histogram_value
    # max_bins merges neighbouring numpy bins (torch's rule: not a strict cap)
    assert len(ours.Histograms("auto")[0].histogram_value.bucket) < len(np.histogram_bin_edges(arr, "auto")) - 1


@pytest.mark.parametrize(
    "shape, fmt, dtype",
    [
        ((3, 5, 7), "CHW", np.float32),
        ((5, 7, 3), "HWC", np.uint8),
        ((5, 7), "HW", np.float64),
        ((1, 5, 7), "CHW", np.float32),
    ],
)
def test_image_pixels(tmp_path, shape, fmt, dtype):
    rng = np.random.default_rng(1)
    img = (
        rng.integers(0, 256, shape).astype(np.uint8)
        if dtype == np.uint8
        else rng.uniform(-0.2, 1.2, shape).astype(dtype)
    )
    with SummaryWriter(tmp_path / "ember") as w:
        w.add_image("img", ember.tensor(img) if dtype != np.uint8 else img, 3, dataformats=fmt)
    with torch_writer()(tmp_path / "torch") as tw:
        tw.add_image("img", img, 3, dataformats=fmt)
    (ev,) = read(tmp_path / "ember").Images("img")
    (ref,) = read(tmp_path / "torch").Images("img")
    assert (ev.step, ev.width, ev.height) == (3, 7, 5)
    hwc = img.transpose([fmt.index(c) for c in "HWC"]) if len(fmt) == 3 else img[..., None]
    expected = hwc if dtype == np.uint8 else (np.clip(hwc.astype(np.float32) * 255, 0, 255)).astype(np.uint8)
    expected = np.broadcast_to(expected, (5, 7, 3))
    np.testing.assert_array_equal(decode_png(ev.encoded_image_string), expected)
    np.testing.assert_array_equal(decode_png(ev.encoded_image_string), decode_png(ref.encoded_image_string))


def test_add_images_grid_matches_torch(tmp_path):
    batch = np.random.default_rng(2).uniform(0, 1, (10, 3, 4, 6)).astype(np.float32)
    with SummaryWriter(tmp_path / "ember") as w:
        w.add_images("batch", ember.tensor(batch), 0)
        w.add_images("nhwc", batch.transpose(0, 2, 3, 1), 1, dataformats="NHWC")
    with torch_writer()(tmp_path / "torch") as tw:
        tw.add_images("batch", batch, 0)
    ours, theirs = read(tmp_path / "ember"), read(tmp_path / "torch")
    (ev,) = ours.Images("batch")
    assert (ev.width, ev.height) == (8 * 6, 2 * 4)  # 8 images per row, two rows
    pixels = decode_png(ev.encoded_image_string)
    np.testing.assert_array_equal(pixels, decode_png(theirs.Images("batch")[0].encoded_image_string))
    np.testing.assert_array_equal(pixels[4:8, 6:12], (batch[9].transpose(1, 2, 0) * 255).astype(np.uint8))
    np.testing.assert_array_equal(pixels, decode_png(ours.Images("nhwc")[0].encoded_image_string))


def test_add_figure(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 1.5), dpi=50)
    plt.plot([0, 1], [1, 0])
    with SummaryWriter(tmp_path) as w:
        w.add_figure("fig", fig, 2)
    (ev,) = read(tmp_path).Images("fig")
    assert (ev.step, ev.width, ev.height) == (2, 100, 75)
    assert not plt.fignum_exists(fig.number)  # close=True closes it


def test_text_matches_torch(tmp_path):
    with SummaryWriter(tmp_path / "ember") as w:
        w.add_text("notes", "hello **world** ✓", 4)
    with torch_writer()(tmp_path / "torch") as tw:
        tw.add_text("notes", "hello **world** ✓", 4)
    ours, theirs = read(tmp_path / "ember"), read(tmp_path / "torch")
    assert ours.Tags()["tensors"] == theirs.Tags()["tensors"] == ["notes/text_summary"]
    (ev,), (ref,) = ours.Tensors("notes/text_summary"), theirs.Tensors("notes/text_summary")
    assert ev.step == 4
    assert tensor_util.make_ndarray(ev.tensor_proto).tolist() == [b"hello **world** \xe2\x9c\x93"]
    assert ev.tensor_proto == ref.tensor_proto
    assert ours.PluginTagToContent("text") == theirs.PluginTagToContent("text")


def test_hparams_match_torch(tmp_path):
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    hp = {"lr": 0.5, "opt": "adam", "layers": 3, "skip": None}
    metrics = {"hparam/acc": 0.9, "hparam/loss": 0.3}
    domains = {"opt": ["adam", "sgd"], "layers": [2, 3], "lr": [0.5, 1.0]}
    with SummaryWriter(tmp_path / "ember") as w:
        w.add_hparams(dict(hp, lr=ember.tensor(0.5)), metrics, domains, run_name="trial", global_step=5)
        # a bool is recorded as a bool (torch's code turns it into the number 1.0)
        w.add_hparams({"bn": True}, {"m": 1.0}, {"bn": [True, False]}, run_name="bools")
    with torch_writer()(tmp_path / "torch") as tw:
        tw.add_hparams(hp, metrics, domains, run_name="trial", global_step=5)
    ours, theirs = read(tmp_path / "ember" / "trial"), read(tmp_path / "torch" / "trial")
    content, ref = ours.PluginTagToContent("hparams"), theirs.PluginTagToContent("hparams")
    assert sorted(content) == sorted(ref) == [
        "_hparams_/experiment", "_hparams_/session_end_info", "_hparams_/session_start_info",
    ]  # fmt: skip
    for tag in content:
        mine = plugin_data_pb2.HParamsPluginData.FromString(content[tag])
        assert mine == plugin_data_pb2.HParamsPluginData.FromString(ref[tag])
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    assert start.session_start_info.hparams["opt"].string_value == "adam"
    assert start.session_start_info.hparams["lr"].number_value == 0.5
    for tag in metrics:
        assert scalars(ours, tag) == scalars(theirs, tag) == [(5, pytest.approx(metrics[tag]))]
    bools = read(tmp_path / "ember" / "bools").PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(bools["_hparams_/session_start_info"])
    assert start.session_start_info.hparams["bn"].WhichOneof("kind") == "bool_value"
    (info,) = plugin_data_pb2.HParamsPluginData.FromString(bools["_hparams_/experiment"]).experiment.hparam_infos
    assert info.type == api_pb2.DATA_TYPE_BOOL and [v.bool_value for v in info.domain_discrete.values] == [True, False]


# ---- graphs --------------------------------------------------------------------------------------
def _attr_value(a):
    kind = a.WhichOneof("value")
    if kind == "list":
        for field in ("i", "f", "b"):
            if getattr(a.list, field):
                return tuple(getattr(a.list, field))
        return ()
    return {"i": int, "f": float, "b": bool, "s": lambda s: s.decode()}[kind](getattr(a, kind))


def run_graph_def(gd, model, inputs):
    """Execute a GraphDef with ember's op table: proves the ops, attributes and edges are complete."""
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    vals, args_in = {}, iter(inputs)
    for nd in gd.node:
        attrs = {k: _attr_value(v) for k, v in nd.attr.items() if not k.startswith("_") and k != "dtype"}
        literals = {int(k[6:]): v for k, v in attrs.items() if k.startswith("input_")}
        attrs = {k: v for k, v in attrs.items() if not k.startswith("input_")}
        edges = [vals[name if ":" in name else name + ":0"] for name in nd.input]
        if nd.op == "input":
            out = (next(args_in),)
        elif nd.op == "read":
            out = (state[attrs["slot"]],)
        elif nd.op == "output":
            out = (edges[0],)
        else:
            args = [literals[i] if i in literals else edges.pop(0) for i in range(len(nd.input) + len(literals))]
            res = REGISTRY[nd.op].impl(np, *args, **attrs)
            out = res if isinstance(res, tuple) else (res,)
        shapes = [tuple(d.size for d in s.dim) for s in nd.attr["_output_shapes"].list.shape]
        assert shapes == [np.shape(o) for o in out], nd.name
        for i, o in enumerate(out):
            vals[f"{nd.name}:{i}"] = o
    return [vals[f"{nd.name}:0"] for nd in gd.node if nd.op == "output"]


def mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def convnet():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10)
    )


@pytest.mark.parametrize("make, shape", [(mlp, (5, 4)), (convnet, (2, 3, 8, 8))])
def test_graph_of_model(tmp_path, make, shape):
    ember.manual_seed(0)
    model = make()
    x = ember.randn(*shape)
    with SummaryWriter(tmp_path) as w:
        w.add_graph(model, x)
    gd = read(tmp_path).Graph()
    assert model.training and all(m.training for m in model.modules())  # train mode is restored

    reference = ember.compile(model, backend="interpreter")
    model.eval()
    with ember.no_grad():
        expected = model(x).numpy()
        reference(x)
    ir_nodes = reference.graph.nodes
    # one node per IR node plus the returned value, same ops in the same order
    assert len(gd.node) == len(ir_nodes) + 1
    assert [nd.op for nd in gd.node] == [n.op_name for n in ir_nodes] + ["output"]
    names = {nd.name for nd in gd.node}
    assert all(i.split(":")[0] in names for nd in gd.node for i in nd.input)
    # module paths as scopes; parameter reads named "0/weight"
    params = {k.replace(".", "/") for k in model.state_dict() if "num_batches" not in k}
    assert params <= names
    first = [nd for nd in gd.node if nd.op in ("matmul", "conv2d_nchw")][0]
    assert first.name.startswith("0/") and first.attr["_module"].s.decode() == type(model[0]).__name__
    assert list(first.input)[0] == "arg0"
    assert [nd.name for nd in gd.node if nd.op == "relu"] == (["2/relu"] if make is convnet else ["1/relu"])
    assert gd.node[-1].attr["_output_shapes"].list.shape[0].dim[1].size == expected.shape[1]
    assert all(nd.attr["dtype"].type == 1 for nd in gd.node if nd.op != "max_pool2d_nchw")  # DT_FLOAT
    # the GraphDef alone recomputes the model
    (out,) = run_graph_def(gd, model, [x.numpy()])
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_graph_of_compiled_function_and_nested_modules(tmp_path):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return ember.tanh(self.fc(x)) + x

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Block(), Block()])

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return x.sum(dim=1)

    net = ember.compile(Net())
    x = ember.randn(2, 3)
    with SummaryWriter(tmp_path) as w:
        w.add_graph(net, (x,))
    gd = read(tmp_path).Graph()
    names = [nd.name for nd in gd.node]
    assert "blocks/1/fc/weight" in names and "blocks/0/fc/matmul" in names
    assert [n for n in names if n.endswith("tanh") or "tanh_" in n] == ["blocks/0/tanh", "blocks/1/tanh_1"]
    assert gd.node[-1].op == "output" and gd.node[-1].input[0].startswith("sum")

    fn = ember.compile(lambda a, b: (a * b).relu())
    fn(ember.ones(2), ember.ones(2))
    with SummaryWriter(tmp_path / "fn") as w:
        w.add_graph(fn)  # already ran: its graph is used as is
    assert [nd.op for nd in read(tmp_path / "fn").Graph().node] == [n.op_name for n in fn.graph.nodes] + ["output"]


def test_graph_of_compat_v1_graph_and_session(tmp_path):
    import ember.compat.v1 as tf

    g = tf.Graph()
    with g.as_default():
        x = tf.placeholder(tf.float32, [None, 4], name="x")
        with tf.name_scope("layer1"):
            w = tf.Variable(np.ones((4, 3), np.float32), name="w")
            h = tf.nn.relu(tf.matmul(x, w))
        tf.reduce_sum(h)
        tf.global_variables_initializer()
        sess = tf.Session()
    with SummaryWriter(tmp_path / "graph") as wr:
        wr.add_graph(g)
    with SummaryWriter(tmp_path / "sess") as wr:
        wr.add_graph(sess)
    gd = read(tmp_path / "graph").Graph()
    assert gd == read(tmp_path / "sess").Graph()
    by_name = {nd.name: nd for nd in gd.node}
    assert [nd.name for nd in gd.node] == [n.name for n in g.nodes]
    assert [nd.op for nd in gd.node] == [n.op_name for n in g.nodes]
    assert list(by_name["layer1/matmul"].input) == ["x", "layer1/w"]
    assert [d.size for d in by_name["x"].attr["_output_shapes"].list.shape[0].dim] == [-1, 4]
    init = [nd for nd in gd.node if nd.op == "group"][0]
    assert list(init.input) == ["^layer1/w/Assign"]
    const = by_name["layer1/w/initial_value"].attr["value"].tensor
    np.testing.assert_array_equal(tensor_util.make_ndarray(const), np.ones((4, 3), np.float32))


def test_missing_pillow_names_it_and_writes_nothing(monkeypatch, tmp_path):
    with SummaryWriter(tmp_path) as w:
        monkeypatch.setitem(sys.modules, "PIL", None)
        with pytest.raises(ImportError, match="pip install pillow"):
            w.add_image("im", np.zeros((3, 2, 2)), 0)
    assert read(tmp_path).Tags()["images"] == []
