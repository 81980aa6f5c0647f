"""ember: one op table, two programming models (PyTorch-style eager, TF1-style graphs).

This module only re-exports: ``import ember as torch`` should read like PyTorch.
"""

import numpy as _np

from . import _malloc
from . import dtypes as _dtype_mod
from . import eager as _eager  # noqa: F401  (installs the eager interpreter)

_malloc.tune()  # large temporaries reuse heap blocks instead of fresh pages (see ember/_malloc.py)
from . import ops as _ops
from . import tensor_methods as _tensor_methods  # noqa: F401  (operators and methods on Tensor)
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .autograd.anomaly import is_anomaly_enabled
from .autograd.grad_mode import is_inference_mode_enabled
from .devices import device
from .dtypes import (
    bfloat16,
    bool_ as bool,  # noqa: A001 - torch.bool
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    int8,
    int16,
    int32,
    int64,
    set_default_dtype,
    uint8,
)
from .errors import ShapeError
from .op import REGISTRY
from .random import (
    Generator,
    bernoulli,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    multinomial,
    normal,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    seed,
    set_rng_state,
)
from .tensor import Size, Tensor

from . import autograd  # noqa: E402,F401
from . import cuda, linalg, nn  # noqa: E402,F401
from . import optim, utils  # noqa: E402,F401
from . import amp, backends  # noqa: E402,F401
from .amp import autocast, is_autocast_enabled  # noqa: E402,F401
from .backends import get_float32_matmul_precision, set_float32_matmul_precision  # noqa: E402,F401
from .compile_api import compile  # noqa: E402,A004  (ember.compile, like torch.compile)
from .serialization import load, save  # noqa: E402  (ember.save / ember.load, like torch; never pickled)

__version__ = "0.1.0"

# PyTorch prints no warnings for log(0), 0/0 or overflow; neither does ember.
_np.seterr(divide="ignore", invalid="ignore", over="ignore", under="ignore")

half, float, double = float16, float32, float64  # noqa: A001
short, int, long = int16, int32, int64  # noqa: A001
uint8 = uint8
cfloat = None

globals().update(
    {
        k: v
        for k, v in vars(_ops).items()
        if not k.startswith("_") and callable(v) and (k not in globals() or isinstance(globals()[k], type(_np)))
    }
)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def is_floating_point(input):
    return input.is_floating_point()


def numel(input):
    return input.numel()


def is_nonzero(input):
    if input.numel() != 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return __builtins__["bool"](input.item()) if isinstance(__builtins__, dict) else input.item() != 0


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """PyTorch's print options (precision, summarization threshold, line width, ...)."""
    from ._format import set_printoptions as _set

    _set(precision, threshold, edgeitems, linewidth, profile, sci_mode)


del _dtype_mod


# submodules with optional dependencies load on first use: ``import ember`` stays NumPy-only,
# yet ``ember.onnx.export(...)`` works right after ``import ember``, as ``torch.onnx`` does
_LAZY_SUBMODULES = ("onnx", "export", "serve", "serialization")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'ember' has no attribute {name!r}")
