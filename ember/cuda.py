"""``torch.cuda``-style helpers over CuPy (the GPU backend); all safe to call without a GPU."""

from __future__ import annotations

from .devices import cupy, device_count, is_available  # noqa: F401


def manual_seed(seed):
    from .random import manual_seed as _seed

    _seed(seed)


manual_seed_all = manual_seed


def synchronize(device=None):
    cp = cupy()
    if cp is not None:
        cp.cuda.Device().synchronize()


def current_device():
    return 0
