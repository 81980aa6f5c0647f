"""This machine's float32 GEMM peak as NumPy's BLAS delivers it: the best of a few 2048^3 matmuls.

Usage: python bench/gemm_peak.py [N] prints GFLOP/s.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def gemm_peak_gflops(n=2048, repeats=5):
    """Best GFLOP/s (2 n^3 flops per product) over ``repeats`` timed products after one warm-up."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), np.float32)
    np.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def mlp_flops_per_step(batch=512, sizes=(784, 2048, 2048, 10)):
    """Forward + backward GEMM flops of one MLP train step: 3 GEMMs of 2*M*N*K per linear layer."""
    return sum(6 * batch * sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))


if __name__ == "__main__":
    print(f"{gemm_peak_gflops(int(sys.argv[1]) if len(sys.argv) > 1 else 2048):.1f} GFLOP/s")
