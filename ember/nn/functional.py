"""``torch.nn.functional``: the functional form of layers, activations and losses.

Each family is written in its own private module and re-exported here.
"""

from __future__ import annotations

from ..ops import gelu as _gelu
from ..ops import log_softmax, mish, one_hot, pad, relu, sigmoid, silu, softmax, softplus, tanh  # noqa: F401


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _gelu(input, approximate=approximate)


# ---- families (one import line each) ----
from ._functional_conv import *  # noqa
from ._functional_attention import *  # noqa
from ._functional_basic import *  # noqa
