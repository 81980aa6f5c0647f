"""Neural-network building blocks (PyTorch's ``torch.nn``); the functional forms live in ``functional``."""

from . import functional  # noqa: F401
