"""The benchmark suite (bench/suite.py): every framework computes the same training, guards catch one that does not,
and the report files are valid. No timing assertions."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import numpy as np
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)

import frameworks  # noqa: E402
import report  # noqa: E402
import suite  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

pytest.importorskip("torch", reason="PyTorch is the oracle for the first-step losses")
HAVE_TF = not frameworks.missing("tf_function")
CHEAP = ("linreg", "mlp_small", "lenet")  # a third step after reset() costs little here


def _cases():
    for w in WORKLOADS:
        yield w, "ember_eager"
        yield w, "ember_compiled"
        if HAVE_TF:
            yield w, "tf_function"
        if frameworks.runs("ember_v1", w):
            yield w, "ember_v1"
            if HAVE_TF:
                yield w, "tf_v1"


_REFERENCE = {}


def _torch_losses(workload):
    """PyTorch eager's first two losses and first loss after a reset, from the suite's initial weights."""
    if workload not in _REFERENCE:
        state = suite.initial_weights(workload)
        t = frameworks.load("torch_eager")(workload, state)
        losses = [t.value(t.step()), t.value(t.step())]
        _REFERENCE[workload] = state, losses
    return _REFERENCE[workload]


# TensorFlow runs in a process of its own, as in the suite: other test modules switch this process's TF
# to graph mode for good (tf1.disable_eager_execution cannot be undone), which tf.function cannot run under
_TF_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import frameworks, suite
out = {}
for workload, framework, cheap in json.loads(sys.argv[2]):
    f = frameworks.load(framework)(workload, suite.initial_weights(workload))
    losses = [f.value(f.step()), f.value(f.step())]
    if cheap:
        f.reset()
        losses.append(f.value(f.step()))
    out[workload + "/" + framework] = losses
sys.stdout.write("\\n" + json.dumps(out) + "\\n")
"""
_TF_LOSSES = {}


def _framework_losses(workload, framework, state):
    """Two losses (and, on the cheap workloads, the first loss after a reset) of one framework."""
    if not framework.startswith("tf_"):
        f = frameworks.load(framework)(workload, state)
        losses = [f.value(f.step()), f.value(f.step())]
        if workload in CHEAP:
            f.reset()
            losses.append(f.value(f.step()))
        return losses
    if not _TF_LOSSES:
        import subprocess

        todo = [(w, fw, w in CHEAP) for w, fw in _cases() if fw.startswith("tf_")]
        r = subprocess.run(
            [sys.executable, "-c", _TF_SCRIPT, BENCH, json.dumps(todo)], capture_output=True, text=True, timeout=600
        )
        assert r.returncode == 0, r.stderr[-3000:]
        _TF_LOSSES.update(json.loads(r.stdout.strip().splitlines()[-1]))
    return _TF_LOSSES[f"{workload}/{framework}"]


@pytest.mark.parametrize("workload,framework", list(_cases()))
def test_framework_trains_like_pytorch(workload, framework):
    state, (t1, t2) = _torch_losses(workload)
    losses = _framework_losses(workload, framework, state)
    l1, l2 = losses[0], losses[1]
    assert suite.first_loss_ok(l1, t1), (l1, t1)
    # the second loss follows one optimizer update: the optimizer formulas match torch.optim's
    # (TF1's Adam differs from torch's in the epsilon term only, far below this tolerance)
    assert abs(l2 - t2) <= 1e-3 * abs(t2), (l2, t2)
    if workload in CHEAP:
        assert suite.first_loss_ok(losses[2], t1)  # a reset restarts from the initial weights


def test_linreg_guard_checks_w_b_and_loss():
    assert suite.linreg_guard({"w": 2.01, "b": 1.55, "loss": 0.08}, 0.08) is None
    assert "w=2.2000" in suite.linreg_guard({"w": 2.2, "b": 1.55, "loss": 0.08}, 0.08)
    assert "b=1.3000" in suite.linreg_guard({"w": 2.0, "b": 1.3, "loss": 0.08}, 0.08)
    assert "within 1%" in suite.linreg_guard({"w": 2.0, "b": 1.5, "loss": 0.09}, 0.08)


def test_others_cores_subtracts_the_workers_own_cpu():
    tick = os.sysconf("SC_CLK_TCK")
    total = 2 * tick * os.cpu_count()  # two seconds of every core
    busy = 3 * tick  # three core-seconds busy in all, one of them the worker's
    got = suite.others_cores((0, 0), (total, total - busy), 1.0)
    assert got == pytest.approx(2 * tick / total * os.cpu_count())


TAMPERED = """
from frameworks.ember_fw import EmberEager


class OffLoss(EmberEager):
    def value(self, handle):
        return super().value(handle) * 1.001


class OffLinreg(EmberEager):
    def linreg_params(self):
        w, b = super().linreg_params()
        return w + 0.5, b
"""


def test_suite_marks_tampered_frameworks_failed_and_times_the_rest(tmp_path, monkeypatch):
    (tmp_path / "tampered_fw.py").write_text(TAMPERED)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setitem(frameworks.FRAMEWORKS, "off_loss", ("tampered_fw", "OffLoss", (), None))
    monkeypatch.setitem(frameworks.FRAMEWORKS, "off_linreg", ("tampered_fw", "OffLinreg", (), None))
    cfg = {"windows": 2, "window": 0.02, "max_steps": 5, "warmup": 5, "retries": 0, "lat_warmup": 1,
           "lat_calls": 2, "setup_timeout": 120, "log_dir": str(tmp_path)}  # fmt: skip
    res = suite.run_workload("linreg", ["ember_eager", "off_loss", "off_linreg", "ember_v1"], cfg, log=lambda s: None)
    assert res["off_loss"]["status"] == "failed" and "first-step loss" in res["off_loss"]["reason"]
    assert res["off_linreg"]["status"] == "failed" and "w=2.5" in res["off_linreg"]["reason"]
    for name in ("off_loss", "off_linreg"):
        assert "steps_per_s" not in res[name] and "windows" not in res[name]
    for name in ("torch_eager", "ember_eager", "ember_v1"):
        r = res[name]
        assert r["status"] == "ok", r
        assert len(r["windows"]) == 2 and r["steps_per_s"] > 0 and r["peak_rss_mb"] > 0
        assert abs(r["guard"]["w"] - 2) <= 0.1 and abs(r["guard"]["b"] - 1.5) <= 0.1
    assert res["ember_eager"]["ratio_vs_torch_eager"] == pytest.approx(
        res["ember_eager"]["steps_per_s"] / res["torch_eager"]["steps_per_s"]
    )


def _fake_result():
    ok = {"status": "ok", "first_loss": 2.3, "warmup_s": 1.0, "compile_s": 0.5, "steps_per_s": 100.0,
          "ratio_vs_torch_eager": 1.0, "peak_rss_mb": 300.0, "others_cores": 0.1, "windows": []}  # fmt: skip
    return {
        "created": "2026-01-01T00:00:00Z",
        "settings": {
            "windows": 5,
            "window": 2.0,
            "max_steps": 200,
            "warmup": 5,
            "retries": 2,
            "lat_warmup": 20,
            "lat_calls": 200,
        },  # fmt: skip
        "machine": {"cpu": "Test CPU", "cores": 2, "blas": "openblas", "platform": "Linux"},
        "versions": {"python": "3.11", "numpy": "2.4"},
        "gemm_peak_gflops": 100.0,
        "frameworks": ["torch_eager", "ember_compiled", "tf_function"],
        "workloads": {
            "mlp_large": {
                "torch_eager": dict(ok, latency_ms=1.5, gflops=20.0, gflops_share_of_peak=0.2),
                "ember_compiled": dict(ok, steps_per_s=150.0, ratio_vs_torch_eager=1.5, peak_rss_mb=200.0),
                "tf_function": {"status": "failed", "reason": "first-step loss 2.4 vs torch_eager's 2.3"},
            },
            "lenet": {
                "torch_eager": ok,
                "ember_compiled": ok,
                "tf_function": {"status": "skipped", "reason": "tensorflow not installed"},
                "tf_v1": {"status": "n/a", "reason": "no implementation of this workload"},
            },
        },
    }


def test_report_writes_valid_json_markdown_and_png():
    import matplotlib.image

    out = tempfile.mkdtemp(prefix="bench_report_")
    try:
        fake = _fake_result()
        paths = report.write(fake, out)
        with open(paths[0]) as f:
            assert json.load(f) == fake
        with open(paths[1]) as f:
            assert json.load(f) == fake  # the timestamped copy
        with open(paths[2]) as f:
            md = f.read()
        assert "| workload | torch_eager | ember_compiled | tf_function |" in md
        assert "| mlp_large | 100.0 (1.00x) | 150.0 (1.50x) | failed |" in md
        assert "| lenet | 100.0 (1.00x) | 100.0 (1.00x) | skipped |  |" in md
        assert "failed: first-step loss 2.4" in md and "Test CPU" in md
        assert "| mlp_large: ember compiled / PyTorch eager step/s | 1.500 |" in md
        with open(paths[3], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        img = matplotlib.image.imread(paths[3])
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
        assert not [n for n in os.listdir(out) if n.startswith(".tmp_")]  # atomic writes leave no temp files
    finally:
        shutil.rmtree(out)


def test_report_refuses_nan():
    fake = _fake_result()
    fake["gemm_peak_gflops"] = float("nan")
    out = tempfile.mkdtemp(prefix="bench_report_")
    try:
        with pytest.raises(ValueError):
            report.write(fake, out)
        assert os.listdir(out) == []
    finally:
        shutil.rmtree(out)


def test_machine_info_names_cpu_cores_and_blas():
    m = report.machine()
    assert m["cores"] == os.cpu_count() and m["cpu"] and m["blas"] != "unknown"
    assert np.__version__ == report.versions()["numpy"]
