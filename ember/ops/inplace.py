"""In-place ops (``add_``, ``x[i] = v``, ``copy_``...) with PyTorch's autograd semantics.

An in-place op computes its result with the ordinary out-of-place op, then
writes it into the tensor's storage and bumps the version counter shared with
its views. When gradients are recorded the tensor takes the new tape node; an
in-place change to a view rewrites its base's history through
``view_scatter`` (PyTorch's CopySlices). Without recording, only the write.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as dt
from .. import ops as F
from ..autograd.grad_mode import state
from ..errors import ShapeError
from ..tensor import Tensor, _make


def _check_cast(t, new_dtype, allow_cast, name):
    if allow_cast or new_dtype is t._data.dtype or new_dtype == t._data.dtype:
        return
    src, dst = dt.from_numpy_dtype(new_dtype), dt.from_numpy_dtype(t._data.dtype)
    if src.category > dst.category:
        raise RuntimeError(f"{name}: result type {src.name} can't be cast to the desired output type {dst.name}")


def _check_leaf(t, name):
    if t._node is None and t._rg:
        raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an in-place operation.")
    base = t._base
    if base is not None and base._node is None and base._rg:
        raise RuntimeError(
            f"{name}: a view of a leaf Variable that requires grad is being used in an in-place operation."
        )


def commit(t, new, name="in-place op", allow_cast=False):
    """Make ``t`` hold ``new`` in place (``new`` may broadcast to ``t``'s shape)."""
    if not isinstance(new, Tensor):
        new = _make(np.asarray(new))
    recording = state.enabled and (t._rg or new._rg)
    if recording:
        _check_leaf(t, name)
    _check_cast(t, new._data.dtype, allow_cast, name)
    if tuple(new._data.shape) != tuple(t._data.shape):
        try:
            target = np.broadcast_shapes(new._data.shape, t._data.shape)
        except ValueError:
            target = None
        if target != tuple(t._data.shape):
            raise ShapeError(
                f"{name}: output with shape {list(t._data.shape)} doesn't match the broadcast shape "
                f"{list(target) if target is not None else list(new._data.shape)}"
            )
    if not getattr(t._data.flags, "writeable", True):
        raise RuntimeError(
            f"{name}: unsupported operation: the tensor is a read-only view (e.g. from expand()) and more than one "
            "element of it refers to a single memory location. Please clone() the tensor before performing the "
            "operation."
        )
    if not recording:
        if t._base is not None and t._view_chain is not None and _symbolic(t._data):
            # a graph has no shared memory: the write through a view becomes a new value of the base
            base = t._base
            base._data[...] = F.view_scatter(base, new, chain=t._view_chain)._data
            t._data[...] = F.replay_view(base, t._view_chain)._data
            return t
        t._data[...] = new._data
        t._bump_version()
        return t
    if new._data.dtype != t._data.dtype:
        new = F.cast(new, dtype=dt.from_numpy_dtype(t._data.dtype))
    if not new._rg:  # overwritten by a constant: the old history gets zero gradient
        new = new + t * 0.0
    base = t._base
    if base is not None and t._view_chain is not None:
        nb = F.view_scatter(base, new, chain=t._view_chain)
        base._data[...] = nb._data  # writes through to t, which shares the memory
        base._bump_version()
        _rebind(base, nb._node, 0)
        v = F.replay_view(base, t._view_chain)
        _rebind(t, v._node, v._idx)
        return t
    t._data[...] = new._data
    t._bump_version()
    _rebind(t, new._node, new._idx)
    return t


def _symbolic(data):
    return type(data).__name__ == "Symbolic"


def _rebind(t, node, idx):
    """Give ``t`` its new history; a retain_grad() moves with it, as in PyTorch."""
    old, old_idx = t._node, t._idx
    t._node, t._idx, t._rg = node, idx, True
    if t._retain and old is not None and old.retains:
        old.retains.pop(old_idx, None)
        t.retain_grad()


def write_inplace(t, array):
    """Fill ``t`` from raw data (random fills): no gradient flows from the new values."""
    new = _make(np.asarray(array).astype(t._data.dtype, copy=False))
    if t.device.type != "cpu":
        from ..devices import move

        new = _make(move(new._data, t.device))
    return commit(t, new, "fill", allow_cast=True)


def make_inplace(fn, name):
    """``x.op_(...)`` from the out-of-place ``fn``: same result, written into x."""

    def method(self, *args, **kwargs):
        if not state.enabled or not (self._rg or _any_rg(args, kwargs)):
            with _NoGrad():
                new = fn(self, *args, **kwargs)
        else:
            # PyTorch's original_self: what the op saves of self must survive this very write
            src = _make(self._data.copy(), self._node, self._idx, self._rg)
            new = fn(src, *args, **kwargs)
        return commit(self, new, name)

    method.__name__ = name
    method.__doc__ = f"In-place version of ``{fn.__name__}``."
    return method


def _any_rg(args, kwargs):
    for a in args:
        if isinstance(a, Tensor) and a._rg:
            return True
    for a in kwargs.values():
        if isinstance(a, Tensor) and a._rg:
            return True
    return False


class _NoGrad:
    def __enter__(self):
        self.prev = state.enabled
        state.enabled = False

    def __exit__(self, *a):
        state.enabled = self.prev


def zero_(t):
    return commit(t, t.new_zeros(()), "zero_")


def fill_(t, value):
    if isinstance(value, Tensor):
        if value.dim() != 0:
            raise RuntimeError(
                f"fill_ only supports 0-dimension value tensor but got tensor with {value.dim()} dimensions."
            )
        return commit(t, F.cast(value, dtype=t.dtype), "fill_", allow_cast=True)
    try:
        new = np.asarray(value, dtype=t._data.dtype)
    except OverflowError as e:
        raise RuntimeError(f"fill_: value cannot be converted to type {t.dtype} without overflow ({e})") from None
    return commit(t, _make(new), "fill_", allow_cast=True)


def copy_(t, src, non_blocking=False):
    if not isinstance(src, Tensor):
        src = F.as_tensor(src)
    if src.device != t.device:
        from ..devices import move

        src = F.Tensor._to_device(src, t.device)
        _ = move
    if src._data.dtype != t._data.dtype:
        src = F.cast(src, dtype=t.dtype)
    return commit(t, src, "copy_", allow_cast=True)


def setitem(t, key, value):
    """``t[key] = value``: a write into t's storage, recorded as index_put when grads flow."""
    from .indexing import decode_key, encode_key, select_first

    enc, idx = encode_key(key)
    v_rg = isinstance(value, Tensor) and value._rg
    if not (state.enabled and (t._rg or v_rg)):
        if not getattr(t._data.flags, "writeable", True):
            raise RuntimeError("setitem: unsupported operation on a read-only (expanded) tensor; clone() it first")
        v = value._data if isinstance(value, Tensor) else value
        try:
            view, k = select_first(t._data, decode_key(enc, [i._data for i in idx]))
            view[k] = v
        except OverflowError as e:  # PyTorch: "value cannot be converted to type uint8_t without overflow"
            raise RuntimeError(f"setitem: {e}") from None
        except IndexError as e:  # NumPy checks the whole index before it writes
            raise IndexError(f"setitem: {e} (tensor of shape {tuple(t.shape)}, index {_key_repr(key)})") from None
        except ValueError as e:
            raise ShapeError(
                f"setitem: cannot assign value of shape {np.shape(v)} to index {key!r} of a tensor of shape {list(t.shape)}: {e}"
            ) from None
        t._bump_version()
        return
    if isinstance(value, Tensor) and value._data.dtype != t._data.dtype:
        value = F.cast(value, dtype=t.dtype)
    new = F.index_put_prim(t, value, *idx, key=enc)
    commit(t, new, "setitem")


def _key_repr(key):
    """An index for an error message, with tensors shown by shape and dtype rather than by value."""
    parts = key if isinstance(key, tuple) else (key,)
    shown = [f"<tensor {tuple(k.shape)} {k.dtype.name}>" if isinstance(k, Tensor) else repr(k) for k in parts]
    return "(" + ", ".join(shown) + ("," if len(shown) == 1 else "") + ")"


def index_put_(t, indices, values, accumulate=False):
    from .indexing import encode_key

    enc, idx = encode_key(tuple(indices))
    if isinstance(values, Tensor) and values._data.dtype != t._data.dtype:
        raise RuntimeError(
            f"Index put requires the source and destination dtypes match, got {values.dtype} for the source "
            f"and {t.dtype} for the destination."
        )
    return commit(t, F.index_put_prim(t, values, *idx, key=enc, accumulate=accumulate), "index_put_")
