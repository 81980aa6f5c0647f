"""Smoke tests: the PyTorch-style examples run end to end (``--quick`` for the CNN)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ember

ROOT = Path(__file__).resolve().parent.parent


def _run(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.skipif(not hasattr(ember.nn, "Linear") or not hasattr(ember.nn, "MSELoss"), reason="needs nn.Linear")
def test_linear_regression_torch_style():
    r = _run("examples/linear_regression_torch_style.py")
    assert r.returncode == 0, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    w = float(last.split("w = ")[1].split()[0])
    b = float(last.split("b = ")[1].split()[0])
    assert abs(w - 2.0) < 0.1 and abs(b - 1.5) < 0.1, last


@pytest.mark.skipif(
    not all(hasattr(ember.nn, n) for n in ("Conv2d", "MaxPool2d", "Linear", "ReLU", "CrossEntropyLoss")),
    reason="needs the conv layers",
)
def test_digits_cnn_quick():
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    r = _run("examples/digits_cnn.py", "--quick")
    assert r.returncode == 0, r.stderr
    assert "test accuracy:" in r.stdout
