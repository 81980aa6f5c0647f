"""Devices and array modules: the only file that imports CuPy.

Kernels never import NumPy or CuPy themselves; they receive the array module
(``xp``) of their inputs from here, so one op table runs on both backends.
"""

from __future__ import annotations

import numpy as np

_cupy = None
_cupy_checked = False


def cupy():
    """CuPy if it is installed and sees a GPU, else None (checked once)."""
    global _cupy, _cupy_checked
    if not _cupy_checked:
        _cupy_checked = True
        try:
            import cupy as cp

            if cp.cuda.runtime.getDeviceCount() > 0:
                _cupy = cp
        except Exception:  # no CuPy, no driver or no GPU: CPU only
            _cupy = None
    return _cupy


class device:
    """``ember.device('cpu')`` / ``ember.device('cuda', 0)``, compared like torch.device."""

    __slots__ = ("type", "index")

    def __init__(self, type_or_str="cpu", index=None):
        if isinstance(type_or_str, device):
            type_or_str, index = type_or_str.type, type_or_str.index
        kind = str(type_or_str)
        if ":" in kind:
            kind, idx = kind.split(":", 1)
            index = int(idx)
        if kind not in ("cpu", "cuda"):
            raise RuntimeError(f"Expected one of cpu, cuda device type at start of device string: {type_or_str}")
        self.type = kind
        self.index = index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and (self.index or 0) == (other.index or 0)

    def __hash__(self):
        return hash((self.type, self.index or 0))

    def __repr__(self):
        idx = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{idx})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    @property
    def xp(self):
        if self.type == "cpu":
            return np
        cp = cupy()
        if cp is None:
            raise RuntimeError(
                "ember: CUDA device requested but CuPy with a visible GPU was not found; "
                "install the 'gpu' extra (cupy) on a machine with an NVIDIA GPU"
            )
        return cp


CPU = device("cpu")
_CUDA0 = device("cuda", 0)


def xp_of(array):
    """The array module (numpy or cupy) that owns ``array``."""
    if type(array) is np.ndarray:
        return np
    ns = getattr(array, "_xp", None)  # graph (symbolic) arrays bring their own namespace
    if ns is not None:
        return ns
    if _cupy is None:
        return np
    return _cupy.get_array_module(array)


def device_of(array) -> device:
    if type(array) is np.ndarray or _cupy is None or not isinstance(array, _cupy.ndarray):
        return CPU
    return device("cuda", array.device.id)


def move(array, dev: device):
    """Copy ``array`` to ``dev`` (no copy when it is already there)."""
    if dev.type == "cpu":
        if isinstance(array, np.ndarray):
            return array
        return array.get()
    cp = dev.xp
    with cp.cuda.Device(dev.index or 0):
        return cp.asarray(array)


def is_available() -> bool:
    return cupy() is not None


def device_count() -> int:
    cp = cupy()
    return cp.cuda.runtime.getDeviceCount() if cp is not None else 0
