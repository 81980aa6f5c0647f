"""``nn.Parameter``: a leaf tensor that a Module registers as one of its parameters."""

from __future__ import annotations

from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that requires grad by default and that ``Module.__setattr__`` registers."""

    _is_param = True

    def __new__(cls, data=None, requires_grad=True):
        from ..ops.creation import empty

        if data is None:
            data = empty(0)
        t = object.__new__(cls)
        t._data = data._data  # shares storage with ``data``, as in PyTorch
        t._node = None
        t._idx = 0
        t._rg = False
        if requires_grad:
            t.requires_grad = True
        return t

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        import numpy as np

        return (_rebuild_parameter, (np.asarray(self.__array__()), self._rg))


def _rebuild_parameter(array, requires_grad):
    from ..tensor import _make

    return Parameter(_make(array), requires_grad)


class Buffer(Tensor):
    """``nn.Buffer(tensor, persistent=True)``: marks a tensor to register as a buffer."""

    def __new__(cls, data, persistent=True):
        t = object.__new__(cls)
        t._data = data._data
        t._node = None
        t._idx = 0
        t._rg = False
        t.persistent = persistent
        return t

    def __init__(self, data, persistent=True):
        pass
