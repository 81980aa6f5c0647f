"""ember.save / ember.load: exact round trips, atomic writes, hostile files, resume, and PyTorch interop."""

import io
import math
import os
import pickle

import numpy as np
import pytest
import safetensors.numpy as stn
import safetensors.torch as stt
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ember
from ember import dtypes as dt
from ember import serialization as ser
from ember.serialization import CheckpointError, PickleCheckpointError


def _assert_same(a, b, where="root"):
    """Same Python types all the way down, floats bit-identical, tensors bitwise equal."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, ember.Tensor):
        assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape), where
        assert a.numpy().tobytes() == b.numpy().tobytes(), where
        assert not b.requires_grad, where
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys()), where
        for (ka, va), kb in zip(a.items(), b.keys()):
            assert type(ka) is type(kb), f"{where}: key {ka!r}"
            _assert_same(va, b[kb], f"{where}.{ka}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert np.float64(a).tobytes() == np.float64(b).tobytes() or (math.isnan(a) and math.isnan(b)), where
    else:
        assert a == b, where


def _roundtrip(obj):
    buf = io.BytesIO()
    ember.save(obj, buf)
    buf.seek(0)
    return ember.load(buf)


def _trained(model_fn, opt_fn, steps, seed=0):
    ember.manual_seed(seed)
    model = model_fn()
    opt = opt_fn(model.parameters())
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = ember.tensor(rng.standard_normal((5, 4), dtype=np.float32))
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    return model, opt


# ---- exact round trips ----------------------------------------------------------------------------------
def test_nested_structure_round_trips_exactly():
    model, opt = _trained(lambda: ember.nn.Linear(4, 3), lambda p: ember.optim.Adam(p, lr=0.01), 2)
    sched = ember.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    obj = {
        "model": model.state_dict(),  # an OrderedDict: stays one
        "optimizer": opt.state_dict(),  # int keys in "state", the tuple betas
        "scheduler": sched.state_dict(),
        "rng": ember.get_rng_state(),  # 128-bit ints
        "epoch": 3,
        "floats": [0.1, -0.0, 1e-310, math.inf, -math.inf, math.nan, 1.7976931348623157e308],
        "misc": (None, True, False, "ünïcode ✓", "", 10**30, -(2**63), [], (), {}),
        (1, "tuple key"): {None: 1, True: 2, 2.5: 3},
        "nested": [[(ember.tensor([1, 2]),)], {"deep": {"deeper": ember.tensor(2.5)}}],
        "types": [ember.float16, ember.int64, ember.device("cpu")],
        "np_scalar": np.float32(0.5),
    }
    back = _roundtrip(obj)
    expected = dict(obj, np_scalar=0.5)  # NumPy scalars are stored as Python numbers
    _assert_same(expected, back)
    assert set(back["optimizer"]["state"]) == {0, 1}
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)


@pytest.mark.parametrize("d", dt.ALL, ids=lambda d: d.name)
@pytest.mark.parametrize("shape", [(), (0, 3), (2, 3, 4)])
def test_every_dtype_is_bitwise_equal(d, shape):
    rng = np.random.default_rng(1)
    n = int(np.prod(shape))
    if d is dt.bool_:
        arr = rng.integers(0, 2, n).astype(bool).reshape(shape)
    else:  # random bit patterns: NaN payloads, subnormals and infinities must survive too
        arr = np.frombuffer(rng.bytes(n * d.itemsize), dtype=d.np).reshape(shape)
    t = ember.from_numpy(arr.copy())
    back = _roundtrip({"t": t, "tensor": t})
    for v in back.values():
        assert v.dtype is d and tuple(v.shape) == shape
        assert v.numpy().tobytes() == arr.tobytes()


def test_loaded_tensors_do_not_require_grad_and_are_writable():
    w = ember.randn(3, requires_grad=True)
    back = _roundtrip(w)
    assert isinstance(back, ember.Tensor) and not back.requires_grad
    back.add_(1)
    np.testing.assert_array_equal(back.numpy(), w.detach().numpy() + 1)


def test_tied_weights_and_views_load_correctly():
    class Tied(ember.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = ember.nn.Embedding(10, 4)
            self.head = ember.nn.Linear(4, 10, bias=False)
            self.head.weight = self.emb.weight

    src, dst = Tied(), Tied()
    back = _roundtrip(src.state_dict())
    assert set(back) == {"emb.weight", "head.weight"}
    dst.load_state_dict(back)
    assert dst.head.weight is dst.emb.weight
    np.testing.assert_array_equal(dst.emb.weight.detach().numpy(), src.emb.weight.detach().numpy())

    base = ember.randn(4, 5)
    views = {"base": base, "t": base.T, "rows": base[1:3], "cols": base[:, ::2]}
    back = _roundtrip(views)
    for k, v in views.items():
        np.testing.assert_array_equal(back[k].numpy(), v.numpy())


def test_paths_and_file_objects_round_trip(tmp_path):
    obj = {"a": ember.arange(6).reshape(2, 3), "b": [1, 2.0]}
    ember.save(obj, tmp_path / "p.ember")
    ember.save(obj, str(tmp_path / "s.ember"))
    with open(tmp_path / "f.ember", "wb") as f:
        ember.save(obj, f)
    with open(tmp_path / "f.ember", "rb") as f:
        _assert_same(obj, ember.load(f))
    _assert_same(obj, ember.load(tmp_path / "p.ember"))
    _assert_same(obj, ember.load(str(tmp_path / "s.ember")))


def test_unsupported_objects_raise_before_the_file_is_touched(tmp_path):
    path = tmp_path / "ckpt"
    ember.save({"ok": 1}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"cannot store .*set.* at x\.1"):
        ember.save({"x": [1, {2}]}, path)
    with pytest.raises(TypeError, match="dict key"):
        ember.save({ember.tensor(1): 1}, path)
    with pytest.raises(TypeError, match="ndarray"):
        ember.save(np.zeros(2), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt"]
    with pytest.raises(RuntimeError, match="Parent directory"):
        ember.save({}, tmp_path / "missing" / "x")


def test_map_location(monkeypatch, tmp_path):
    # a file as ember.save writes it on a GPU: the tensor's device is recorded in the structure
    doc = '{"version":1,"root":{"dict":[["w",{"tensor":"w","on":"cuda:0"}]]}}'
    path = tmp_path / "gpu.ember"
    path.write_bytes(stn.save({"w": np.arange(3, dtype=np.float32)}, metadata={"ember": doc}))
    monkeypatch.setattr(ser, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="map_location"):
        ember.load(path)
    for loc in ("cpu", ember.device("cpu"), {"cuda:0": "cpu"}):
        w = ember.load(path, map_location=loc)["w"]
        assert w.device == ember.device("cpu")
        np.testing.assert_array_equal(w.numpy(), [0, 1, 2])
    seen = []
    w = ember.load(path, map_location=lambda t, loc: seen.append(loc) or t * 2)["w"]
    assert seen == ["cuda:0"]
    np.testing.assert_array_equal(w.numpy(), [0, 2, 4])


# ---- atomic writes --------------------------------------------------------------------------------------
def test_a_kill_between_write_and_rename_keeps_the_previous_checkpoint(monkeypatch, tmp_path):
    path = tmp_path / "model.ember"
    old = {"w": ember.ones(3)}
    ember.save(old, path)

    def killed(src, dst):
        assert os.path.dirname(src) == os.path.dirname(dst)  # the temp file sits next to the target
        assert os.path.getsize(src) > 0  # ... fully written before the rename
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        ember.save({"w": ember.zeros(1000)}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.ember"]  # the temp file is gone
    _assert_same(old, ember.load(path))


def test_a_failed_write_keeps_the_previous_checkpoint(monkeypatch, tmp_path):
    path = tmp_path / "model.ember"
    ember.save({"step": 1}, path)

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        ember.save({"step": 2}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.ember"]
    assert ember.load(path) == {"step": 1}


# ---- hostile files --------------------------------------------------------------------------------------
def _valid_file_bytes():
    model, opt = _trained(lambda: ember.nn.Linear(4, 2), lambda p: ember.optim.Adam(p), 1)
    buf = io.BytesIO()
    ember.save({"model": model.state_dict(), "opt": opt.state_dict(), "t": (1, 2.5, None)}, buf)
    return buf.getvalue()


VALID = _valid_file_bytes()


def _load_bytes(data):
    return ember.load(io.BytesIO(data))


def test_every_truncation_is_refused():
    for n in range(len(VALID)):
        with pytest.raises(CheckpointError):
            _load_bytes(VALID[:n])


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "only 0 bytes"),
        (b"\x10\x00\x00\x00\x00\x00\x00\x00[1,2,3]         ", "JSON object"),
        (b"\x0c\x00\x00\x00\x00\x00\x00\x00{not json!!}", "not valid JSON"),
        (b"\x02\x00\x00\x00\x00\x00\x00\x00[]", "JSON object"),
        (b"\x04\x00\x00\x00\x00\x00\x00\x00{\xff\xfe}", "not valid JSON"),
        (b"\xff" * 8 + b"{}", "header claims"),
        (b"\x03\x00\x00\x00\x00\x00\x00\x00" + b"{}", "header claims"),
        (b"\x02\x00\x00\x00\x00\x00\x00\x00{}xyz", "invalid safetensors data"),
    ],
)
def test_garbled_files_are_refused(data, match):
    with pytest.raises(CheckpointError, match=match):
        _load_bytes(data)


@pytest.mark.parametrize(
    "doc, match",
    [
        ("{nope", "not valid JSON"),
        ('{"version":99,"root":1}', "version 1"),
        ('{"root":{"tensor":"missing"},"version":1}', "does not hold"),
        ('{"version":1,"root":{"set":[1]}}', "unexpected object"),
        ('{"version":1,"root":{"dict":[[[1],2]]}}', "unexpected list"),
        ('{"version":1,"root":{"dict":[[{"tuple":[[1]]},2]]}}', "unexpected list"),
        ('{"version":1,"root":{"dict":[[1]]}}', r"\[key, value\] pair"),
        ('{"version":1,"root":{"float":"zero"}}', "unexpected object"),
        ('{"version":1,"root":{"device":"tpu"}}', "bad device"),
        ('{"version":1,"root":' + "[" * 100_000 + "]" * 100_000 + "}", "nested|JSON"),
        ('{"version":1,"root":' + '{"tuple":[' * 300 + "]}" * 300 + "}", "nested"),
    ],
)
def test_bad_json_part_is_refused(doc, match, tmp_path):
    path = tmp_path / "bad.ember"
    path.write_bytes(stn.save({"w": np.zeros(2, np.float32)}, metadata={"ember": doc}))
    with pytest.raises(CheckpointError, match=match) as info:
        ember.load(path)
    assert "bad.ember" in str(info.value)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # unpickling this would create the marker file
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("writer", ["torch_zip", "torch_legacy", "pickle"])
def test_pickles_are_refused_without_running_them(writer, tmp_path):
    marker = str(tmp_path / "pwned")
    path = tmp_path / "evil.pt"
    payload = {"w": torch.ones(2), "x": _Exploit(marker)} if writer != "pickle" else _Exploit(marker)
    if writer == "torch_zip":
        torch.save(payload, path)
    elif writer == "torch_legacy":
        torch.save(payload, path, _use_new_zipfile_serialization=False)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=4))
    with pytest.raises(PickleCheckpointError, match=r"evil\.pt.*never unpickles") as info:
        ember.load(path, weights_only=False)
    assert isinstance(info.value, ValueError)
    assert not os.path.exists(marker)


def test_text_mode_file_is_a_type_error(tmp_path):
    (tmp_path / "x").write_bytes(VALID)
    with open(tmp_path / "x", encoding="latin-1") as f, pytest.raises(TypeError, match="'rb'"):
        ember.load(f)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=4),
    st.integers(0, len(VALID)),
    st.binary(max_size=8),
)
def test_fuzzed_files_load_or_fail_cleanly(edits, cut, inserted):
    data = bytearray(VALID)
    for pos, byte in edits:
        data[pos] = byte
    data = bytes(data[:cut]) + inserted + bytes(data[cut:]) if inserted else bytes(data)
    try:
        _load_bytes(data)
    except CheckpointError:
        pass


# ---- checkpoint / resume --------------------------------------------------------------------------------
def _net():
    return ember.nn.Sequential(ember.nn.Linear(6, 16), ember.nn.ReLU(), ember.nn.Dropout(0.3), ember.nn.Linear(16, 3))


_BATCHES = np.random.default_rng(7).standard_normal((10, 8, 6)).astype(np.float32)


def _train_steps(model, opt, sched, steps):
    for i in steps:
        opt.zero_grad()
        model(ember.tensor(_BATCHES[i])).pow(2).mean().backward()
        opt.step()
        sched.step()


def _fresh(seed):
    ember.manual_seed(seed)
    model = _net()
    opt = ember.optim.Adam(model.parameters(), lr=0.01)
    return model, opt, ember.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)


def test_resume_from_checkpoint_matches_an_uninterrupted_run(tmp_path):
    n, k = len(_BATCHES), 4
    model, opt, sched = _fresh(0)
    _train_steps(model, opt, sched, range(n))
    reference = [p.detach().numpy().tobytes() for p in model.parameters()]

    model, opt, sched = _fresh(0)
    _train_steps(model, opt, sched, range(k))
    ember.serialization.save_checkpoint(
        tmp_path / "ckpt", model=model, optimizer=opt, scheduler=sched, epoch=1, step=k, note="half way"
    )
    model, opt, sched = _fresh(123)  # fresh objects, other weights, another RNG position
    ember.rand(17)
    ckpt = ember.serialization.load_checkpoint(tmp_path / "ckpt", model=model, optimizer=opt, scheduler=sched)
    assert (ckpt["epoch"], ckpt["step"], ckpt["note"]) == (1, k, "half way")
    assert sched.get_last_lr() == [0.005]
    _train_steps(model, opt, sched, range(k, n))
    assert [p.detach().numpy().tobytes() for p in model.parameters()] == reference


def test_checkpoint_without_rng_state_would_diverge(tmp_path):
    """The resume test can fail: without restoring the RNG the dropout masks, hence the weights, differ."""
    model, opt, sched = _fresh(0)
    _train_steps(model, opt, sched, range(2))
    ember.serialization.save_checkpoint(tmp_path / "c", model=model, optimizer=opt, scheduler=sched)
    _train_steps(model, opt, sched, range(2, 4))
    expected = [p.detach().numpy().tobytes() for p in model.parameters()]
    model, opt, sched = _fresh(5)
    ember.serialization.load_checkpoint(tmp_path / "c", model=model, optimizer=opt, scheduler=sched, restore_rng=False)
    _train_steps(model, opt, sched, range(2, 4))
    assert [p.detach().numpy().tobytes() for p in model.parameters()] != expected


def test_checkpoint_errors_before_changing_state(tmp_path):
    model, opt, _ = _fresh(0)
    ember.serialization.save_checkpoint(tmp_path / "c", model=model)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    other, _, _ = _fresh(1)
    with pytest.raises(CheckpointError, match="optimizer"):
        ember.serialization.load_checkpoint(tmp_path / "c", model=other, optimizer=opt)
    assert all((a == p.detach().numpy()).all() for a, p in zip(before, model.parameters()))
    with pytest.raises(ValueError, match="reserved"):
        ember.serialization.save_checkpoint(tmp_path / "d", model=model, rng_state=1)


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: ember.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
        lambda p: ember.optim.Adam(p, lr=0.01, amsgrad=True),
    ],
    ids=["sgd_momentum", "adam"],
)
def test_optimizer_state_round_trip_continues_bitwise(make_opt, tmp_path):
    def model_fn():
        return ember.nn.Sequential(ember.nn.Linear(4, 8), ember.nn.Tanh(), ember.nn.Linear(8, 2))

    a, opt_a = _trained(model_fn, make_opt, 3)
    ember.save(opt_a.state_dict(), tmp_path / "opt")
    ember.manual_seed(99)
    b = model_fn()
    b.load_state_dict(a.state_dict())
    opt_b = make_opt(b.parameters())
    opt_b.load_state_dict(ember.load(tmp_path / "opt"))
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = ember.tensor(rng.standard_normal((5, 4), dtype=np.float32))
        for m, o in ((a, opt_a), (b, opt_b)):
            o.zero_grad()
            m(x).pow(2).mean().backward()
            o.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert pa.detach().numpy().tobytes() == pb.detach().numpy().tobytes()


# ---- PyTorch interop ------------------------------------------------------------------------------------
def _make_net(nn):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.lstm = nn.LSTM(4, 5, batch_first=True)
            self.fc = nn.Linear(5, 2)

        def forward(self, x):
            h = self.bn(self.conv(x)).relu()
            out, _ = self.lstm(h.flatten(2).transpose(1, 2))
            return self.fc(out[:, -1])

    return Net()


_X = np.random.default_rng(11).standard_normal((2, 3, 5, 5)).astype(np.float32)


def _outputs(torch_net, ember_net):
    torch_net.eval()
    ember_net.eval()
    with torch.no_grad():
        want = torch_net(torch.from_numpy(_X)).numpy()
    with ember.no_grad():
        got = ember_net(ember.tensor(_X)).numpy()
    return got, want


def test_torch_safetensors_state_dict_loads_into_ember(tmp_path):
    torch.manual_seed(0)
    tnet = _make_net(torch.nn)
    with torch.no_grad():  # non-trivial BatchNorm running statistics
        tnet(torch.from_numpy(_X) * 3 + 1)
    stt.save_file(tnet.state_dict(), tmp_path / "torch.safetensors")
    sd = ember.load(tmp_path / "torch.safetensors")
    assert set(sd) == set(tnet.state_dict())
    enet = _make_net(ember.nn)
    enet.load_state_dict(sd)
    got, want = _outputs(tnet, enet)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert sd["bn.num_batches_tracked"].dtype == ember.int64


def test_ember_state_dict_loads_into_torch_with_safetensors(tmp_path):
    ember.manual_seed(0)
    enet = _make_net(ember.nn)
    with ember.no_grad():
        enet(ember.tensor(_X) * 2 - 1)
    ember.save(enet.state_dict(), tmp_path / "ember.safetensors")
    sd = stt.load_file(tmp_path / "ember.safetensors")
    tnet = _make_net(torch.nn)
    tnet.load_state_dict(sd)  # strict: every key present, shapes and dtypes match
    assert sd["bn.num_batches_tracked"].dtype == torch.int64
    got, want = _outputs(tnet, enet)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_saving_a_whole_module_names_the_way_that_works(tmp_path):
    """torch.save(model, PATH) pickles the module; ember refuses and says what to save instead, writing nothing."""
    model = ember.nn.Linear(2, 3)
    with pytest.raises(TypeError, match=r"Linear .*state_dict\(\) instead.*ember.export.save_model"):
        ember.save(model, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()
