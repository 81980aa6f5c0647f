"""Neural-network building blocks (PyTorch's ``torch.nn``); the functional forms live in ``functional``."""

from . import (
    functional,  # noqa: F401
    grad,  # noqa: F401  (torch.nn.grad: convolution gradients)
    init,  # noqa: F401,E402
    utils,  # noqa: F401,E402
)
from .modules import *  # noqa: F401,F403
from .modules import Module  # noqa: F401
from .parameter import Buffer, Parameter  # noqa: F401
