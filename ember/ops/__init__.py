"""The op table and every public op function.

Importing this package registers all primitives (``ember.op.REGISTRY``) and
exposes, under PyTorch's names, the primitive functions and the composite
ops of ``composite.py`` (which win where both exist).
"""

from __future__ import annotations

from ..op import REGISTRY
from ..tensor import Tensor  # noqa: F401  (VJPs test isinstance through this namespace)
from . import conv, dynamic_shape, elementwise, indexing, linalg, movement, nll, nn_kernels, random, recurrent, reduce  # noqa: F401  (registers the table)
from .creation import (  # noqa: F401
    arange,
    as_tensor,
    asarray,
    empty,
    empty_like,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    ones,
    ones_like,
    scalar_tensor,
    tensor,
    zeros,
    zeros_like,
)
from .indexing import index_put_prim, replay_view, view_scatter  # noqa: F401

globals().update({name: op.fn for name, op in REGISTRY.items()})

from . import composite as _composite  # noqa: E402

globals().update({k: v for k, v in vars(_composite).items() if not k.startswith("_") and callable(v)})
