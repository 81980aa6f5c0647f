"""``torch.cuda``-style helpers over CuPy (the GPU backend); all safe to call without a GPU."""

from __future__ import annotations

import sys as _sys
import types as _types
import warnings as _warnings

from . import amp as _amp
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


def is_bf16_supported(including_emulation=True):
    """False without a GPU; ember's bfloat16 (ml_dtypes) is a host-only NumPy dtype, so CuPy cannot hold it either."""
    return False


class _CudaGradScaler(_amp.GradScaler):
    """``torch.cuda.amp.GradScaler``: ``ember.amp.GradScaler("cuda", ...)`` plus PyTorch's deprecation warning."""

    def __init__(self, init_scale=2.0**16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000, enabled=True):
        _warnings.warn(
            "`torch.cuda.amp.GradScaler(args...)` is deprecated. "
            "Please use `torch.amp.GradScaler('cuda', args...)` instead.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval, enabled)


class _CudaAutocast(_amp.autocast):
    """``torch.cuda.amp.autocast``: ``ember.amp.autocast("cuda", ...)``."""

    def __init__(self, enabled=True, dtype=None, cache_enabled=True):
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


# ``ember.cuda.amp`` as a real module so ``from ember.cuda.amp import GradScaler`` works too.
amp = _types.ModuleType(__name__ + ".amp", "Deprecated ``torch.cuda.amp`` names over ember.amp.")
amp.GradScaler, amp.autocast = _CudaGradScaler, _CudaAutocast
_sys.modules[amp.__name__] = amp
