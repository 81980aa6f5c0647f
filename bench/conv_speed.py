"""conv2d forward+backward: ember (NumPy im2col + one matmul per group) vs PyTorch CPU.

Two workloads, float32, bias included, gradients for input, weight and bias:
LeNet-sized (64, 1, 28, 28) -> 6 filters of 5x5, and ResNet-sized
(32, 16, 32, 32) -> 16 filters of 3x3 with padding 1. One process, one run;
milliseconds per step (median of repeats) and the ratio ember / PyTorch.
Both run single-threaded (PyTorch via set_num_threads, NumPy's OpenBLAS via
OPENBLAS_NUM_THREADS set before NumPy loads): on a shared, loaded machine a
multi-threaded OpenBLAS can stall for seconds on spinning threads.
Usage: python bench/conv_speed.py [--quick]
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import timeit  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORKLOADS = [
    ("LeNet (64,1,28,28) 6x5x5", (64, 1, 28, 28), (6, 1, 5, 5), 0),
    ("ResNet (32,16,32,32) 16x3x3 p1", (32, 16, 32, 32), (16, 16, 3, 3), 1),
]


def _step(lib, x_shape, w_shape, padding):
    rng = np.random.default_rng(0)
    x = lib.from_numpy(rng.standard_normal(x_shape).astype(np.float32)).requires_grad_(True)
    w = lib.from_numpy(rng.standard_normal(w_shape).astype(np.float32)).requires_grad_(True)
    b = lib.from_numpy(rng.standard_normal(w_shape[0]).astype(np.float32)).requires_grad_(True)
    conv2d = lib.nn.functional.conv2d

    def step():
        x.grad = w.grad = b.grad = None
        conv2d(x, w, b, padding=padding).sum().backward()

    return step


def _ms(fn, number, repeat):
    fn()
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e3


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    import torch

    import ember

    torch.set_num_threads(1)
    number, repeat = (2, 3) if args.quick else (5, 5)
    print(f"{'workload (fwd+bwd)':34s} {'ember ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    for name, xs, ws, pad in WORKLOADS:
        e = _ms(_step(ember, xs, ws, pad), number, repeat)
        t = _ms(_step(torch, xs, ws, pad), number, repeat)
        print(f"{name:34s} {e:9.2f} {t:9.2f} {e / t:6.2f}")


if __name__ == "__main__":
    main()
