"""Tensor creation: tensor/as_tensor/from_numpy, zeros/ones/full/empty(_like), ranges, eye.

These make leaves from host data; they are not ops in the table, since a
graph sees their results as constants (TF1's ``constant``/``zeros`` wrap them).
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import devices as _dev
from .. import dtypes as dt
from ..tensor import Tensor, _make


def _size(args):
    """Accept ``zeros(2, 3)``, ``zeros((2, 3))`` and ``zeros([2, 3])`` / ``zeros(ember.Size)``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    out = []
    for a in args:
        if isinstance(a, Tensor):
            a = a.item()
        if not isinstance(a, (int, np.integer)):
            raise TypeError(f"size must be a sequence of ints, got {type(a).__name__} ({a!r})")
        if a < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {a}: {list(args)}")
        out.append(int(a))
    return tuple(out)


def _finish(data, device, requires_grad):
    if device is not None:
        data = _dev.move(data, _dev.device(device))
    t = _make(data)
    if requires_grad:
        t.requires_grad = True
    return t


def _xp(device):
    return np if device is None else _dev.device(device).xp


def _infer_dtype(data):
    """PyTorch's inference for Python data: floats -> default dtype, ints -> int64, bools -> bool."""
    arr = np.asarray(data)
    kind = arr.dtype.kind
    if kind == "c":
        raise TypeError("ember does not support complex tensors")
    if kind not in "biuf":
        raise TypeError(f"Could not infer dtype of {type(data).__name__}")
    if isinstance(data, (np.ndarray, np.generic)):  # NumPy data keeps its dtype
        return arr, dt.from_numpy_dtype(arr.dtype)
    if isinstance(data, (list, tuple)):
        return arr, _sequence_dtype(data) or dt.get_default_dtype()
    return arr, dt.scalar_dtype(data)


def _sequence_dtype(data):
    """PyTorch's dtype for a nested list: each leaf's dtype (NumPy scalars keep theirs), promoted."""
    types, arrays = set(), []

    def walk(x):
        if x and isinstance(x[0], (list, tuple)):
            for y in x:
                walk(y)
        else:
            ts = set(map(type, x))
            if np.ndarray in ts:
                arrays.extend(y.dtype for y in x if isinstance(y, np.ndarray))
            types.update(ts)

    walk(data)
    out = None
    for t in types:
        if t is np.ndarray:
            continue
        if t is bool or t is int or t is float:
            d = dt.scalar_dtype(t())
        elif issubclass(t, np.generic):
            d = dt.from_numpy_dtype(np.dtype(t))
        else:
            return None
        out = d if out is None else dt.promote_types(out, d)
    for a in arrays:
        d = dt.from_numpy_dtype(a)
        out = d if out is None else dt.promote_types(out, d)
    return out


def _contains_tensor(data):
    if isinstance(data, Tensor):
        return True
    if isinstance(data, (list, tuple)) and data:
        return _contains_tensor(data[0])
    return False


def _to_host(data):
    if isinstance(data, Tensor):
        return np.asarray(data.__array__())
    if isinstance(data, (list, tuple)):
        return [_to_host(d) for d in data]
    return data


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor that copies ``data`` (a Python scalar, nested list, array or tensor)."""
    if isinstance(data, Tensor):
        arr = np.array(data.__array__(), copy=True)
        d = data.dtype
    elif _contains_tensor(data):
        arr = np.array(_to_host(data))
        d = dt.from_numpy_dtype(arr.dtype)
    elif hasattr(data, "__dlpack__") and not isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(np.from_dlpack(data), copy=True)
        d = dt.from_numpy_dtype(arr.dtype)
    else:
        if isinstance(data, (list, tuple)):
            _check_nested(data)
        arr, d = _infer_dtype(data)
        arr = np.array(arr, copy=True)
    if dtype is not None:
        d = dt.as_dtype(dtype)
    arr = arr.astype(d.np, order="C", copy=False)  # np.ascontiguousarray would make 0-d arrays 1-d
    return _finish(arr, device, requires_grad)


def _check_nested(data):
    """Refuse a ragged nested list as PyTorch does: ValueError for a wrong length, TypeError for a mix."""
    seq = (list, tuple)
    shape = []
    d = data
    while isinstance(d, seq):
        shape.append(len(d))
        if not d:
            break
        d = d[0]

    def walk(x, dim):
        if dim == len(shape):
            if isinstance(x, seq):
                raise TypeError(f"tensor(): expected a number at dim {dim}, got a sequence of length {len(x)}")
            return
        if not isinstance(x, seq):
            raise TypeError(f"tensor(): expected a sequence of length {shape[dim]} at dim {dim}, got {x!r}"[:200])
        if len(x) != shape[dim]:
            raise ValueError(
                f"tensor(): expected sequence of length {shape[dim]} at dim {dim} (got {len(x)}); "
                f"the first element gives shape {tuple(shape)}"
            )
        for e in x:
            walk(e, dim + 1)

    walk(data, 0)


def as_tensor(data, dtype=None, device=None):
    """Like ``tensor`` but shares memory with a NumPy array or Tensor when it can."""
    if isinstance(data, Tensor):
        t = data
        if dtype is not None and dt.as_dtype(dtype) is not data.dtype:
            t = data.to(dt.as_dtype(dtype))
        if device is not None and _dev.device(device) != t.device:
            t = t.to(device)
        return t
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        arr = data if dtype is None else data.astype(dt.as_dtype(dtype).np, copy=False)
        dt.from_numpy_dtype(arr.dtype)
        return _finish(arr, device, False)
    return tensor(data, dtype=dtype, device=device)


asarray = as_tensor


def from_numpy(array):
    """A tensor sharing memory with ``array`` (changes to one show in the other)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dt.from_numpy_dtype(array.dtype)
    t = _make(array)
    return t


def from_dlpack(ext):
    """Zero-copy import from any object with ``__dlpack__`` (PyTorch, NumPy, CuPy tensors)."""
    if hasattr(ext, "__dlpack_device__") and ext.__dlpack_device__()[0] != 1:
        cp = _dev.cupy()
        if cp is None:
            raise RuntimeError("from_dlpack: a GPU tensor needs CuPy")
        return _make(cp.from_dlpack(ext))
    return _make(np.from_dlpack(ext))


def as_index_tensor(value):
    """Index lists/arrays/bools become int64 or bool tensors (for __getitem__)."""
    arr = np.asarray(value.__array__() if isinstance(value, Tensor) else value)
    if arr.dtype.kind == "b":
        return _make(arr)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise IndexError(f"tensors used as indices must be long, int, byte or bool tensors (got {arr.dtype})")
    return _make(arr.astype(np.int64, copy=False))


def _filled(maker, size, dtype, device, requires_grad):
    d = dt.as_dtype(dtype) if dtype is not None else dt.get_default_dtype()
    xp = _xp(device)
    with _on(device):
        data = maker(xp, _size(size), d.np)
    t = _make(data)
    if requires_grad:
        t.requires_grad = True
    return t


class _on:
    """Allocate on the right GPU when a CUDA device index is given."""

    def __init__(self, device):
        self.ctx = None
        if device is not None:
            dv = _dev.device(device)
            if dv.type == "cuda":
                self.ctx = dv.xp.cuda.Device(dv.index or 0)

    def __enter__(self):
        if self.ctx:
            self.ctx.__enter__()

    def __exit__(self, *a):
        if self.ctx:
            self.ctx.__exit__(*a)


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    return _filled(lambda xp, s, d: xp.zeros(s, d), size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    return _filled(lambda xp, s, d: xp.ones(s, d), size, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False, out=None, layout=None, memory_format=None):
    return _filled(lambda xp, s, d: xp.empty(s, d), size, dtype, device, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if dtype is None:
        dtype = dt.scalar_dtype(fill_value)
    return _filled(lambda xp, s, d: xp.full(s, fill_value, d), (size,), dtype, device, requires_grad)


def _like(maker, input, dtype, device, requires_grad):
    d = dt.as_dtype(dtype) if dtype is not None else input.dtype
    if None in tuple(input.shape):  # a graph value whose dims are known only at run time
        from . import movement

        return movement.clone_(movement.expand_like(_make(maker(np, (), d.np)), input))
    dev = device if device is not None else (None if input.device.type == "cpu" else input.device)
    xp = _xp(dev)
    with _on(dev):
        data = maker(xp, tuple(input.shape), d.np)
    t = _make(data)
    if requires_grad:
        t.requires_grad = True
    return t


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None):
    return _like(lambda xp, s, d: xp.zeros(s, d), input, dtype, device, requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None):
    return _like(lambda xp, s, d: xp.ones(s, d), input, dtype, device, requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None):
    return _like(lambda xp, s, d: xp.empty(s, d), input, dtype, device, requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False, layout=None, memory_format=None):
    return _like(lambda xp, s, d: xp.full(s, fill_value, d), input, dtype, device, requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) / step < 0:
        raise RuntimeError(
            f"arange: upper bound and lower bound inconsistent with step sign (start={start}, end={end}, step={step})"
        )
    if dtype is None:
        dtype = dt.int64 if all(isinstance(v, numbers.Integral) for v in vals) else dt.get_default_dtype()
    d = dt.as_dtype(dtype)
    n = int(np.ceil((end - start) / step))
    data = (start + step * np.arange(n, dtype=np.float64 if d.is_floating_point else np.int64)).astype(d.np)
    return _finish(data, device, requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    d = dt.as_dtype(dtype) if dtype is not None else dt.get_default_dtype()
    steps = int(steps)
    if steps < 0:
        raise RuntimeError("linspace(): number of steps must be non-negative")
    start, end = (v.item() if isinstance(v, Tensor) else v for v in (start, end))
    if d.is_floating_point:
        ct = d.np.type  # computed in the dtype itself, rounding after each operation as PyTorch's kernel does
        start, end = np.asarray(start).astype(ct)[()], np.asarray(end).astype(ct)[()]
    else:  # integer linspace converts the endpoints first, then steps in double
        ct = np.float64
        start, end = ct(int(start)), ct(int(end))
    if steps <= 1:
        data = np.full(steps, start, dtype=ct)
    else:  # PyTorch's kernel: the first half counts up from start, the second half down from end
        step = (end - start) / ct(steps - 1)
        idx = np.arange(steps, dtype=ct)
        data = np.where(idx < steps // 2, start + step * idx, end - step * (ct(steps - 1) - idx))
    return _finish(data.astype(d.np), device, requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    d = dt.as_dtype(dtype) if dtype is not None else dt.get_default_dtype()
    data = np.logspace(float(start), float(end), int(steps), base=base).astype(d.np)
    return _finish(data, device, requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    d = dt.as_dtype(dtype) if dtype is not None else dt.get_default_dtype()
    return _finish(np.eye(n, n if m is None else m, dtype=d.np), device, requires_grad)


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    d = dt.as_dtype(dtype) if dtype is not None else dt.get_default_dtype()
    return _finish(np.asarray(s, dtype=d.np), device, requires_grad)
