"""Eager per-op overhead: ember vs PyTorch, measured in one process, one run.

Lines: a 1-element add and a 64x64 matmul, each with and without
requires_grad, and forward+backward of a 20-op chain on small tensors.
Reports microseconds per call (median of repeats) and the ratio ember/PyTorch
(goal <= 1.0). Usage: python bench/overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit

import numpy as np


def _per_call(fn, number, repeat):
    fn()  # warm caches (dtype rules, BLAS threads)
    times = timeit.repeat(fn, number=number, repeat=repeat)
    return statistics.median(times) / number * 1e6


def workloads(lib):
    """The same small programs for any torch-like module ``lib``."""
    rng = np.random.default_rng(0)
    a = lib.from_numpy(np.ones(1, np.float32))
    b = lib.from_numpy(np.ones(1, np.float32))
    ag = lib.from_numpy(np.ones(1, np.float32)).requires_grad_(True)
    m = lib.from_numpy(rng.standard_normal((64, 64)).astype(np.float32))
    mg = lib.from_numpy(rng.standard_normal((64, 64)).astype(np.float32)).requires_grad_(True)
    x = lib.from_numpy(rng.standard_normal(16).astype(np.float32)).requires_grad_(True)
    w = lib.from_numpy(rng.standard_normal(16).astype(np.float32))

    def chain():
        y = x
        for _ in range(5):  # 4 ops per round: 20 ops, then sum and backward
            y = (y * w + 1.0).tanh() - y
        y.sum().backward()
        x.grad = None

    return {
        "add 1-elem": lambda: a + b,
        "add 1-elem, requires_grad": lambda: ag + b,
        "matmul 64x64": lambda: m @ m,
        "matmul 64x64, requires_grad": lambda: mg @ m,
        "20-op chain fwd+bwd": chain,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer repeats (smoke test)")
    args = p.parse_args(argv)
    import ember

    try:
        import torch

        torch.set_num_threads(1)  # per-op overhead, not parallel speed-up
    except ImportError:
        torch = None
    repeat = 3 if args.quick else 7
    libs = {"ember": ember}
    if torch is not None:
        libs["torch"] = torch
    progs = {name: workloads(lib) for name, lib in libs.items()}
    rows = []
    for line in progs["ember"]:
        number = 200 if "chain" in line else 20000
        if args.quick:
            number //= 20
        res = {}
        for name in libs:  # interleaved: both libraries see the same machine state
            res[name] = _per_call(progs[name][line], number, repeat)
        rows.append((line, res))
    print(f"{'workload':32s} {'ember us':>10s} {'torch us':>10s} {'ratio':>7s}")
    for line, res in rows:
        t = res.get("torch")
        ratio = f"{res['ember'] / t:7.2f}" if t else "   skip"
        print(f"{line:32s} {res['ember']:10.2f} {t if t else float('nan'):10.2f} {ratio}")
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
