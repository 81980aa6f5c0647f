"""Neural-network building blocks (PyTorch's ``torch.nn``); the functional forms live in ``functional``."""

from . import functional  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import Module  # noqa: F401
from .parameter import Buffer, Parameter  # noqa: F401
