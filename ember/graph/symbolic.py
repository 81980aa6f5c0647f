"""Symbolic arrays: what a graph tensor holds instead of data.

A graph-mode ``Tensor`` is an ordinary ember Tensor whose ``_data`` is a
``Symbolic``: a mutable handle on a graph value with the metadata of an array
(shape, dtype, ndim). Metadata works; anything that needs the numbers
(``bool(t)``, ``float(t)``, ``t.numpy()``) raises ``SymbolicValueError`` naming
the user's line and what to do instead. ``Symbolic`` also speaks enough of the
NumPy array API (operators, in-place operators, ``astype``, ``sum``...) that
ember's own raw-array code (the backward engine, optimizers) runs on it: each
such call becomes a graph node, and an in-place operator re-points the handle,
which is how in-place updates are functionalised.
"""

from __future__ import annotations

import operator

import numpy as np

from ..errors import user_frames


class SymbolicValueError(RuntimeError):
    """A symbolic (graph) tensor's value was needed while the graph was being built."""


def _where():
    frames = user_frames()
    if not frames:
        return ""
    f = frames[-1]
    return f" at {f.filename}:{f.lineno}: {f.line}"


def data_dependent(what, value=None):
    name = f" '{value.node.name}'" if value is not None else ""
    return SymbolicValueError(
        f"{what} of a symbolic tensor{name}{_where()}\n"
        "Its value is not known while the graph is being built, so Python control flow cannot depend on it "
        "(ember will not silently bake in one branch). Use ember.where(cond, a, b) to select values inside the "
        "graph, or pass the value as a static (non-tensor) argument."
    )


class _Flags:
    writeable = True
    # unknown while building: ``contiguous()`` then always adds its node (a copy changes how NumPy
    # sums, so eager and graph must copy in the same places); simplify drops it where provably a no-op
    c_contiguous = False
    f_contiguous = False
    owndata = True


class Symbolic:
    """A handle on a graph ``Value``; ``rebind`` moves it to a new value (in-place update)."""

    __slots__ = ("value", "__weakref__")
    __array_ufunc__ = None  # NumPy defers to our reflected operators; in-place ndarray ops raise
    __array_priority__ = 2000
    flags = _Flags()

    @property
    def base(self):
        """Non-None for a value a view op made (permute, reshape, expand, ...), as ``ndarray.base``
        is for eager's views: eager's backward copies such a gradient before it becomes a .grad
        (engine: ``data.base is not None``), so the trace records the same copy (a ``clone``) and
        the .grad and the optimizer read eager's C-ordered array, not a transposed view."""
        n = self.value.node
        return self if n.kind == "op" and n.op is not None and n.op.view else None

    def __init__(self, value):
        self.value = value

    def rebind(self, value):
        self.value = value

    # ---- metadata ----------------------------------------------------------------
    @property
    def shape(self):
        return self.value.shape

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def ndim(self):
        return len(self.value.shape)

    @property
    def size(self):
        n = 1
        for s in self.value.shape:
            if s is None:
                return None
            n *= s
        return n

    @property
    def itemsize(self):
        return self.value.dtype.itemsize

    @property
    def nbytes(self):
        n = self.size
        return None if n is None else n * self.itemsize

    @property
    def strides(self):
        raise data_dependent("strides", self.value)

    def __len__(self):
        if not self.value.shape:
            raise TypeError("len() of a 0-d tensor")
        n = self.value.shape[0]
        if n is None:
            raise data_dependent("len() of an unknown dimension", self.value)
        return n

    def __repr__(self):
        return f"<symbolic {self.value.node.name}: {self.value.shape} {self.value.dtype}>"

    # ---- values are not known ----------------------------------------------------
    def __bool__(self):
        raise data_dependent("bool()", self.value)

    def __float__(self):
        raise data_dependent("float()", self.value)

    def __int__(self):
        raise data_dependent("int()", self.value)

    def __index__(self):
        raise data_dependent("using as an index", self.value)

    def __array__(self, dtype=None, copy=None):
        raise data_dependent("converting to a NumPy array", self.value)

    def tolist(self):
        raise data_dependent("tolist()", self.value)

    def item(self):
        """A 0-d value as a host scalar: fine for arithmetic, an error in control flow."""
        from .host import item

        return item(self)

    def __iter__(self):
        raise data_dependent("iterating over the elements", self.value)

    def __hash__(self):
        return id(self)

    # ---- the array API ember's raw-array code uses -------------------------------
    def _apply(self, name, *args, **attrs):
        from .build import array_op

        return array_op(name, args, attrs)

    def astype(self, dtype, copy=True):
        from .. import dtypes as dt

        if np.dtype(dtype) == self.dtype:
            return self if not copy else self._apply("clone", self)
        return self._apply("cast", self, dtype=dt.from_numpy_dtype(np.dtype(dtype)))

    def copy(self):
        return self._apply("clone", self)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return self._apply("reshape", self, shape=tuple(shape))

    def sum(self, axis=None, keepdims=False, dtype=None):
        if axis is None:
            axis = tuple(range(self.ndim))
        elif isinstance(axis, int):
            axis = (axis,)
        return self._apply("sum", self, dim=tuple(axis), keepdim=keepdims)

    @property
    def T(self):
        return self._apply("permute", self, dims=tuple(reversed(range(self.ndim))))

    def count(self, axes):
        """How many elements ``axes`` hold, as a host integer computed at run time."""
        from .host import count

        return count(self, axes)

    @property
    def _xp(self):
        """The namespace ``xp_of`` returns for symbolic arrays: NumPy calls that build graph nodes."""
        from . import xp

        return xp

    def __setitem__(self, key, value):
        from .xp import setitem

        setitem(self, key, value)

    def fill(self, value):
        from .build import array_full_like

        self.rebind(array_full_like(self, value).value)


def _binary(name, reflected=False):
    def method(self, other):
        if reflected:
            return self._apply(name, other, self)
        return self._apply(name, self, other)

    method.__name__ = name
    return method


def _inplace(name):
    def method(self, other):
        from .build import array_op

        out = array_op(name, (self, other), {})
        if out.dtype != self.dtype:
            out = out.astype(self.dtype)
        self.rebind(out.value)
        return self

    return method


for _name, _op in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"), ("pow", "pow")):
    setattr(Symbolic, f"__{_name}__", _binary(_op))
    setattr(Symbolic, f"__r{_name}__", _binary(_op, reflected=True))
    setattr(Symbolic, f"__i{_name}__", _inplace(_op))
for _name, _op in (("lt", "lt"), ("le", "le"), ("gt", "gt"), ("ge", "ge")):
    setattr(Symbolic, f"__{_name}__", _binary(_op))
Symbolic.__matmul__ = _binary("matmul")
Symbolic.__rmatmul__ = _binary("matmul", reflected=True)
Symbolic.__neg__ = lambda self: self._apply("neg", self)
Symbolic.__getitem__ = lambda self, key: _getitem(self, key)

del _name, _op


def _getitem(sym, key):
    from ..ops import indexing
    from ..tensor import _make

    return indexing.getitem(_make(sym), key)._data


HOST_OPS = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "pow": operator.pow,
    "neg": operator.neg,
}
