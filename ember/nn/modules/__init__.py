"""Layers (``torch.nn`` modules). Each family lives in its own file."""

from .container import (  # noqa: F401
    Flatten,
    Identity,
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
    Unflatten,
)
from .module import Module  # noqa: F401
