"""How TF1's ops take their inputs: conversion to graph tensors with TF's dtype rules, names, axes.

Shared by every ``compat.v1`` op module: Python floats become float32 and
ints int32, a Python value next to a tensor takes the tensor's dtype, mixed
tensor dtypes are a TypeError; ``named`` gives a node the user's name;
``wrap_exports`` makes errors raised while building name the user's line.
"""

from __future__ import annotations

import builtins
import functools
import types

import numpy as np

from ...graph import ir
from ...graph.build import _with_line, frame_of_user, symbolic_tensor
from ...graph.build import constant as _graph_constant
from ...graph.symbolic import Symbolic
from ...tensor import Tensor as _EmberTensor
from . import framework as fw


def with_user_line(fn):
    """Errors raised while ``fn`` builds its nodes name the user's line (TF names the op's creator)."""

    @functools.wraps(fn)
    def op(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (TypeError, ValueError, IndexError, NotImplementedError, RuntimeError) as e:
            if getattr(e, "_graph_line", False):
                raise
            raise _with_line(e, frame_of_user()) from None

    return op


def wrap_exports(namespace):
    """Apply ``with_user_line`` to a module's public functions (those in its ``__all__``)."""
    for name in namespace["__all__"]:
        f = namespace[name]
        if isinstance(f, types.FunctionType):
            namespace[name] = with_user_line(f)


def dtype_name(d):
    return getattr(d, "name", str(d))


def is_tensor_like(x):
    """A graph tensor, or something that becomes one without a dtype guess (a Variable)."""
    return hasattr(x, "_as_graph_tensor") or (isinstance(x, _EmberTensor) and isinstance(x._data, Symbolic))


def _graph_tensor(x):
    if hasattr(x, "_as_graph_tensor"):
        x = x._as_graph_tensor()
    if isinstance(x, _EmberTensor) and isinstance(x._data, Symbolic):
        return x
    return None


def _contains_graph_tensor(value):
    if isinstance(value, (list, tuple)):
        return builtins.any(_contains_graph_tensor(v) for v in value)
    return _graph_tensor(value) is not None


def array_for(value, dtype):
    """NumPy data for a constant: TF's inference, or ``dtype`` (refusing lossy Python floats -> ints)."""
    if isinstance(value, _EmberTensor):
        value = value.numpy()
    if dtype is None:
        arr = np.asarray(value)
        if isinstance(value, (np.ndarray, np.generic)):
            return arr
        if arr.dtype == np.float64:
            return arr.astype(np.float32)
        if arr.dtype == np.int64:
            return arr.astype(np.int32)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"Failed to convert object of type {type(value).__name__} to Tensor: {value!r}")
        return arr
    arr = np.asarray(value)
    python = not isinstance(value, (np.ndarray, np.generic))
    if arr.dtype.kind == "f" and dtype.np.kind in "iub" and python:  # TF refuses Python floats (NumPy truncates)
        raise TypeError(f"Expected {dtype_name(dtype)}, but got {value!r} of type '{type(value).__name__}'.")
    if arr.dtype.kind in "iuf" and dtype.np.kind == "b":
        raise TypeError(f"Expected bool, but got {value!r} of type '{type(value).__name__}'.")
    return arr.astype(dtype.np)


def constant_tensor(arr, name="Const"):
    """A graph constant holding ``arr`` (0-d arrays stay 0-d) in the default graph."""
    arr = np.array(arr, copy=True, order="C")
    return symbolic_tensor(_graph_constant(fw.get_default_graph(), arr, name=name))


def to_tensor(value, dtype=None, name=None, hint=None):
    """TF's ``convert_to_tensor``: graph tensors pass, Variables are read, data becomes a constant.

    ``dtype`` is required (a mismatch raises); ``hint`` is preferred for Python data when the
    value fits it (a scalar next to a float32 tensor becomes float32), else TF's inference.
    """
    dtype = fw.as_dtype(dtype)
    t = _graph_tensor(value)
    if t is not None:
        if dtype is not None and t.dtype != dtype:
            raise ValueError(
                f"Tensor conversion requested dtype {dtype_name(dtype)} for Tensor with dtype {dtype_name(t.dtype)}: {t!r}"
            )
        return t
    if isinstance(value, (list, tuple)) and _contains_graph_tensor(value):
        from .array_ops import stack

        return stack([to_tensor(v, dtype, hint=hint) for v in value])  # TF packs a list of tensors
    if dtype is None and hint is not None and not isinstance(value, _EmberTensor):
        try:
            return constant_tensor(array_for(value, fw.as_dtype(hint)), name or "Const")
        except (TypeError, ValueError):
            pass
    return constant_tensor(array_for(value, dtype), name or "Const")


def to_tensors(x, y, op):
    """Convert two operands as TF's binary ops do: a Python value takes the other's dtype; dtypes must agree."""
    if is_tensor_like(x) and not is_tensor_like(y):
        x = to_tensor(x)
        y = to_tensor(y, hint=x.dtype)
    elif is_tensor_like(y) and not is_tensor_like(x):
        y = to_tensor(y)
        x = to_tensor(x, hint=y.dtype)
    else:
        x, y = to_tensor(x), to_tensor(y)
    if x.dtype != y.dtype:
        raise TypeError(
            f"Input 'y' of '{op}' Op has type {dtype_name(y.dtype)} that does not match type "
            f"{dtype_name(x.dtype)} of argument 'x'."
        )
    return x, y


def named(t, name):
    """Give the node that made ``t`` the user's name (unique in its graph, under the name scope)."""
    if name is not None and isinstance(t, _EmberTensor) and isinstance(t._data, Symbolic):
        node = t._data.value.node
        if node.kind == ir.OP or node.kind == ir.CONST:
            node.name = node.graph.unique_name(name)
    return t


def static_value(x):
    """The NumPy value of a constant (Python data, or a graph constant), else None."""
    t = _graph_tensor(x)
    if t is None:
        if isinstance(x, (list, tuple)) and _contains_graph_tensor(x):
            vals = [static_value(v) for v in x]
            return None if builtins.any(v is None for v in vals) else np.array(vals)
        return None if x is None else np.asarray(x.numpy() if isinstance(x, _EmberTensor) else x)
    node = t._data.value.node
    if node.kind == ir.CONST:
        return np.asarray(node.attrs["value"])
    if node.kind == ir.OP and node.op.name == "shape_of" and None not in node.inputs[0].shape:
        return np.asarray(node.inputs[0].shape)
    return None


def shape_hint(shape_tensor):
    """What the graph knows of the dims a 1-d shape tensor will hold (TF's constant_value_as_shape):
    ``tf.shape(x)`` holds x's static shape; other tensors give unknown dims."""
    t = _graph_tensor(shape_tensor)
    if t is None or t.ndim != 1 or t.shape[0] is None:
        return None
    node = t._data.value.node
    while node.kind == ir.OP and node.op.name == "cast":  # an int32 <-> int64 cast keeps the values
        node = node.inputs[0].node
    if node.kind == ir.OP and node.op.name == "shape_of":
        return tuple(node.inputs[0].shape)
    return (None,) * t.shape[0]


def axes_of(axis, ndim, op):
    """TF's axis argument (None, int, list, constant tensor) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(builtins.range(ndim))
    val = static_value(axis)
    if val is None:
        raise NotImplementedError(f"{op}: the axis must be known when the graph is built, got {axis!r}")
    out = []
    for a in np.asarray(val).reshape(-1).tolist():
        if not -builtins.max(ndim, 1) <= a < builtins.max(ndim, 1):
            raise ValueError(f"{op}: Invalid reduction dimension {a} for input with {ndim} dimensions.")
        out.append(a % ndim if ndim else 0)
    return tuple(sorted(set(out)))


def one_axis(axis, ndim, op):
    val = static_value(axis)
    if val is None or np.ndim(val) != 0:
        raise ValueError(f"{op}: axis must be a Python int or a scalar constant, got {axis!r}")
    a = int(val)
    if not -ndim <= a < ndim:
        raise ValueError(f"{op}: axis {a} is out of range for a tensor of rank {ndim}")
    return a % ndim
