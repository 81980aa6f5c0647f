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


def test_tf1_linear_regression_example_fits_the_seed_data():
    r = _run("examples/tf1_linear_regression.py")
    assert r.returncode == 0, r.stderr
    last_step = next(line for line in r.stdout.splitlines() if line.startswith("200 "))
    w, b = (float(v.strip("[]")) for v in last_step.split()[1:3])
    assert abs(w - 2.0) < 0.1 and abs(b - 1.5) < 0.1, last_step
    assert "%matmul = matmul(%Placeholder, %Variable)" in r.stdout  # it prints the graph it ran


def test_compile_train_step_example_is_bitwise_equal_to_eager():
    pytest.importorskip("sklearn")
    r = _run("examples/compile_train_step.py")
    assert r.returncode == 0, r.stderr
    assert "bitwise equal losses: True" in r.stdout and "bitwise equal weights: True" in r.stdout
    assert "def step(" in r.stdout and "plan_memory:" in r.stdout
