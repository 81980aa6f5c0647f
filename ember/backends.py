"""``torch.backends``-style flags (TF32, cuDNN, MPS) so PyTorch scripts that set them run unchanged.

ember has no TF32, cuDNN or MPS code paths: these flags are accepted, recorded and
read back with PyTorch's defaults, but they change no kernel. ``allow_tf32`` on
``cuda.matmul`` and ``set_float32_matmul_precision`` share one setting, as in PyTorch.
"""

from __future__ import annotations

import importlib.util
import warnings

_PRECISIONS = ("highest", "high", "medium")
_state = {"float32_matmul_precision": "highest"}


def set_float32_matmul_precision(precision):
    """Record the float32 matmul precision ("highest", "high" or "medium"); ember always computes in full fp32."""
    if not isinstance(precision, str):
        raise RuntimeError(f"set_float32_matmul_precision expects a str, but got {type(precision).__name__}")
    if precision not in _PRECISIONS:
        # PyTorch warns and ignores the call rather than raising (checked against torch 2.13).
        warnings.warn(
            f"{precision} is not one of 'highest', 'high', or 'medium'; "
            "the current setFloat32MatmulPrecision call has no effect.",
            UserWarning,
            stacklevel=2,
        )
        return
    _state["float32_matmul_precision"] = precision


def get_float32_matmul_precision():
    return _state["float32_matmul_precision"]


class _Flags:
    """An object with a fixed set of settable flags; unknown names raise AttributeError like PyTorch's."""

    _defaults: dict = {}

    def __init__(self):
        for name, value in self._defaults.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        if name not in self._defaults:
            raise AttributeError(f"Unknown attribute {name}")
        object.__setattr__(self, name, value)

    def __getattr__(self, name):  # only called for names that are not set
        raise AttributeError(f"Unknown attribute {name}")


class _CudaMatmul(_Flags):
    _defaults = {"allow_fp16_reduced_precision_reduction": True, "allow_bf16_reduced_precision_reduction": True}

    # allow_tf32 is a view of the matmul precision: True means "not highest" (PyTorch's legacy API).
    @property
    def allow_tf32(self):
        return _state["float32_matmul_precision"] != "highest"

    @allow_tf32.setter
    def allow_tf32(self, value):
        _state["float32_matmul_precision"] = "high" if value else "highest"

    def __setattr__(self, name, value):
        if name == "allow_tf32":
            object.__setattr__(self, name, value)  # goes through the property
        else:
            super().__setattr__(name, value)


class _Cuda:
    matmul = _CudaMatmul()

    @staticmethod
    def is_built():
        """True when ember's CUDA backend (CuPy) is installed, whether or not a GPU is visible."""
        return importlib.util.find_spec("cupy") is not None


class _Cudnn(_Flags):
    _defaults = {"allow_tf32": True, "benchmark": False, "deterministic": False, "enabled": True}

    @staticmethod
    def is_available():
        from .devices import cupy

        return cupy() is not None

    @staticmethod
    def version():
        return None  # ember does not link cuDNN


class _Mps:
    @staticmethod
    def is_available():
        return False

    @staticmethod
    def is_built():
        return False


cuda = _Cuda()
cudnn = _Cudnn()
mps = _Mps()
