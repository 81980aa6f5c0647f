"""Flatten parameters into one vector and back (``parameters_to_vector`` / ``vector_to_parameters``)."""

from __future__ import annotations

from ...tensor import Tensor


def _check_device(param, device):
    if device is None:
        return param.device
    if param.device != device:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return device


def parameters_to_vector(parameters):
    """One 1-d tensor holding every parameter, flattened, in order (differentiable, as PyTorch's ``cat``)."""
    from ...ops.composite import cat

    device = None
    vec = []
    for p in parameters:
        device = _check_device(p, device)
        vec.append(p.reshape(-1))
    return cat(vec)


def vector_to_parameters(vec, parameters):
    """Point each parameter's data at its slice of ``vec`` (shares memory with ``vec``, as PyTorch)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    device = None
    ptr = 0
    for p in parameters:
        device = _check_device(p, device)
        n = p.numel()
        p._data = vec._data[ptr : ptr + n].reshape(p._data.shape)
        ptr += n
