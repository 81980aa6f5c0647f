"""Tensor: an array (NumPy or CuPy) plus autograd bookkeeping.

A Tensor holds ``_data`` (always an ndarray), the tape node that produced it
(``_node``, its ``grad_fn``), and whether it requires a gradient. Operators
and math methods are attached by ``ember.tensor_methods`` from the op table;
this file holds only what is about the tensor itself.
"""

from __future__ import annotations

import numpy as np

from . import devices as _dev
from . import dtypes as dt


class Size(tuple):
    """``tensor.shape``: a tuple that prints as ``ember.Size([2, 3])``."""

    def __repr__(self):
        return f"ember.Size({list(self)})"

    def __getitem__(self, key):
        out = tuple.__getitem__(self, key)
        return Size(out) if isinstance(key, slice) else out

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))

    def __radd__(self, other):
        return Size(tuple(other) + tuple(self))

    def __mul__(self, n):
        return Size(tuple.__mul__(self, n))

    __rmul__ = __mul__

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


class Tensor:
    # Hot fields live in slots; rarely set ones fall back to class defaults via __dict__.
    __slots__ = ("_data", "_node", "_idx", "_rg", "__dict__", "__weakref__")

    _grad = None
    _version_counter = None  # [int], shared between a tensor and its views
    _base = None  # the tensor this one is a view of
    _view_chain = None  # how to recompute this view from _base: ((fn, args, kwargs), ...)
    _hooks = None  # gradient hooks on a leaf
    _retain = False
    _is_param = False

    __array_priority__ = 1000  # make NumPy defer to Tensor's reflected operators
    __array_ufunc__ = None

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, dtype=None, device=None, requires_grad=False):
        """Legacy constructor: ``Tensor(data)`` or ``Tensor(*sizes)`` (uninitialised), float32."""
        from .ops.creation import tensor as _tensor

        if len(args) == 1 and not isinstance(args[0], int):
            t = _tensor(args[0], dtype=dtype or dt.get_default_dtype(), device=device)
            data = t._data
        else:
            shape = args if args else (0,)  # Tensor() is an empty 1-d tensor
            data = np.empty(shape, dtype=(dtype or dt.get_default_dtype()).np)
        self._data = data
        self._node = None
        self._idx = 0
        self._rg = False
        if requires_grad:
            self.requires_grad = True

    # ---- metadata -----------------------------------------------------------
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim, "size")]

    @property
    def dtype(self):
        return dt.from_numpy_dtype(self._data.dtype)

    @property
    def device(self):
        return _dev.device_of(self._data)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    ndimension = dim

    def numel(self):
        n = self._data.size
        return None if n is None else int(n)  # None: a graph tensor with a dim known only at run time

    nelement = numel

    def element_size(self):
        return self._data.itemsize

    @property
    def itemsize(self):
        return self._data.itemsize

    @property
    def nbytes(self):
        return self._data.nbytes

    def stride(self, dim=None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[_wrap_dim(dim, self._data.ndim, "stride")]

    def is_contiguous(self, memory_format=None):
        return bool(self._data.flags.c_contiguous)

    def data_ptr(self):
        return self._data.__array_interface__["data"][0] if isinstance(self._data, np.ndarray) else self._data.data.ptr

    def is_floating_point(self):
        return self._data.dtype.kind == "f" or self._data.dtype == getattr(dt.bfloat16, "np", None)

    def is_complex(self):
        return False

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    @property
    def _version(self):
        vc = self._version_counter
        return 0 if vc is None else vc[0]

    def _bump_version(self):
        vc = self._version_counter
        if vc is None:
            self._version_counter = [1]
        else:
            vc[0] += 1

    def _counter(self):
        vc = self._version_counter
        if vc is None:
            vc = self._version_counter = [0]
        return vc

    # ---- autograd flags -------------------------------------------------------
    @property
    def requires_grad(self):
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if self._node is not None:
            if value:  # PyTorch: a no-op on a non-leaf, which already requires grad
                return
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if value and not self.is_floating_point():
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients (got {self.dtype})")
        self._rg = value

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got grad of type {type(value).__name__}"
                )
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value._data.shape)}' to a tensor of size "
                    f"'{list(self._data.shape)}'. Please ensure that the gradient and the tensor are the same size"
                )
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{value.dtype}' to a tensor with dtype '{self.dtype}'. "
                    "Please ensure that the gradient and the tensor have the same dtype"
                )
        self._grad = value

    @grad.deleter
    def grad(self):
        self._grad = None

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def data(self):
        """The same storage, detached from autograd (``x.data``)."""
        return _make(self._data)

    @data.setter
    def data(self, other):
        self._data = other._data if isinstance(other, Tensor) else np.asarray(other)

    def detach(self):
        t = _make(self._data)
        t._version_counter = self._counter()
        return t

    def detach_(self):
        if self._base is not None and self._base._rg:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._node = None
        self._rg = False
        return self

    def retain_grad(self):
        if not self._rg:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._node is None:
            return
        import weakref

        node = self._node
        if node.retains is None:
            node.retains = {}
        node.retains[self._idx] = weakref.ref(self)
        self._retain = True

    @property
    def retains_grad(self):
        return bool(self._retain)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new one."""
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._node is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            node = self._node
            if node.hooks is None:
                node.hooks = {}
            hooks = node.hooks.setdefault(self._idx, [])
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        from .autograd.engine import backward

        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    # ---- conversion ---------------------------------------------------------
    def numpy(self, *, force=False):
        if self._rg and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        if self.device.type != "cpu":
            if not force:
                raise TypeError(
                    "can't convert cuda device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first."
                )
            return _dev.move(self._data, _dev.CPU)
        d = self._data
        return d if type(d) is np.ndarray else np.asarray(d)  # a graph tensor's data raises here

    def __array__(self, dtype=None, copy=None):
        arr = _dev.move(self._data, _dev.CPU)
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        return np.array(arr, copy=True) if copy else arr

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"item(): a Tensor with {self._data.size} elements cannot be converted to Scalar "
                f"(shape {tuple(self._data.shape)})"
            )
        return self._data.item()

    def tolist(self):
        return _dev.move(self._data, _dev.CPU).tolist()

    def __float__(self):
        if self._data.size != 1:
            raise ValueError(
                f"only one element tensors can be converted to Python scalars (float() of a tensor of shape "
                f"{tuple(self._data.shape)})"
            )
        return float(self.item())

    def __int__(self):
        if self._data.size != 1:
            raise ValueError(
                f"only one element tensors can be converted to Python scalars (int() of a tensor of shape "
                f"{tuple(self._data.shape)})"
            )
        return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._data.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {'no' if self._data.size == 0 else 'more than one'} value"
                f"{'s' if self._data.size == 0 else ''} is ambiguous (bool() of a tensor of shape "
                f"{tuple(self._data.shape)})"
            )
        return bool(self._data.item())

    def __complex__(self):
        return complex(self.item())

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __hash__(self):
        return id(self)

    def __dlpack__(self, *args, **kwargs):
        if self._rg:
            raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def __repr__(self):
        from ._format import format_tensor

        return format_tensor(self)

    def __reduce_ex__(self, protocol):
        # Tensors are plain arrays underneath; DataLoader workers send them between processes.
        return (_rebuild, (np.asarray(self.__array__()), self._rg))

    def __deepcopy__(self, memo):
        if self._node is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy protocol at the moment"
            )
        t = _make(self._data.copy(), None, 0, self._rg)
        if self.grad is not None:
            t.grad = self.grad.__deepcopy__(memo)
        t.__class__ = self.__class__
        memo[id(self)] = t
        return t


def _rebuild(array, requires_grad):
    t = _make(array)
    t._rg = requires_grad
    return t


_new = object.__new__


def _make(data, node=None, idx=0, rg=False):
    """The fast constructor every op uses: wrap ``data`` without copying or checking."""
    t = _new(Tensor)
    t._data = data
    t._node = node
    t._idx = idx
    t._rg = rg
    return t


def _wrap_dim(dim, ndim, opname="dim"):
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"{opname}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim % n if ndim else 0


class _RemovableHandle:
    def __init__(self, hooks, hook):
        self._hooks = hooks
        self._hook = hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)
