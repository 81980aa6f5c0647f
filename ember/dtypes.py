"""dtypes and PyTorch's type-promotion rules.

Every Tensor carries a NumPy (or CuPy) array; this module maps those array
dtypes to ember's public dtype objects (``ember.float32`` ...) and decides the
result dtype of an op the way PyTorch does: dimensioned tensors outrank 0-d
tensors, which outrank Python scalars, unless a lower group is of a higher
category (bool < integer < floating).
"""

from __future__ import annotations

from functools import cache

import numpy as np

try:  # bfloat16 is an optional extra: NumPy has no native bfloat16
    import ml_dtypes as _ml_dtypes
except ImportError:  # pragma: no cover - depends on the environment
    _ml_dtypes = None


class dtype:
    """A tensor element type, printed and compared like ``torch.float32``."""

    __slots__ = ("name", "np", "category", "itemsize", "is_floating_point", "is_signed")

    def __init__(self, name: str, np_dtype, category: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.category = category  # 0 bool, 1 integer, 2 floating
        self.itemsize = self.np.itemsize
        self.is_floating_point = category == FLOAT
        self.is_signed = category == FLOAT or (category == INT and self.np.kind == "i")

    def __repr__(self):
        return f"ember.{self.name}"

    def __reduce__(self):  # dtypes are singletons
        return (_by_name, (self.name,))

    @property
    def is_complex(self):
        return False

    def to_numpy(self):
        return self.np


BOOL, INT, FLOAT = 0, 1, 2

bool_ = dtype("bool", np.bool_, BOOL)
uint8 = dtype("uint8", np.uint8, INT)
int8 = dtype("int8", np.int8, INT)
int16 = dtype("int16", np.int16, INT)
int32 = dtype("int32", np.int32, INT)
int64 = dtype("int64", np.int64, INT)
float16 = dtype("float16", np.float16, FLOAT)
float32 = dtype("float32", np.float32, FLOAT)
float64 = dtype("float64", np.float64, FLOAT)
bfloat16 = dtype("bfloat16", _ml_dtypes.bfloat16, FLOAT) if _ml_dtypes else None

ALL = [d for d in (bool_, uint8, int8, int16, int32, int64, float16, float32, float64, bfloat16) if d]
FLOATS = [d for d in ALL if d.is_floating_point]
_FROM_NP = {d.np: d for d in ALL}
_by_name_table = {d.name: d for d in ALL}
_by_name_table.update(
    {"half": float16, "float": float32, "double": float64, "short": int16, "int": int32, "long": int64}
)


def _by_name(name):
    return _by_name_table[name]


_default_float = [float32]


def get_default_dtype() -> dtype:
    return _default_float[0]


def set_default_dtype(d: dtype) -> None:
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the default type, got {d}")
    if d is not _default_float[0]:
        _default_float[0] = d
        from .op import REGISTRY  # promotion results cached per dtype signature depend on the default

        for op in REGISTRY.values():
            op._casts.clear()


def from_numpy_dtype(np_dtype) -> dtype:
    """The ember dtype of a NumPy dtype; float64 arrays stay float64 (as torch.from_numpy)."""
    try:
        return _FROM_NP[np_dtype]
    except KeyError:
        pass
    np_dtype = np.dtype(np_dtype)
    if np_dtype in _FROM_NP:
        return _FROM_NP[np_dtype]
    if np_dtype.kind == "u":  # uint16/32/64: PyTorch has limited support; widen to int64
        return int64
    raise TypeError(f"ember does not support arrays of dtype {np_dtype}")


def as_dtype(d) -> dtype:
    """Accept ember dtypes, NumPy dtypes/types, Python types and dtype names."""
    if isinstance(d, dtype):
        return d
    if d is float:  # torch maps the Python type float to float64
        return float64
    if d is int:
        return int64
    if d is bool:
        return bool_
    if isinstance(d, str) and d in _by_name_table:
        return _by_name_table[d]
    return from_numpy_dtype(np.dtype(d))


# ---- promotion ------------------------------------------------------------


@cache
def promote_types(a: dtype, b: dtype) -> dtype:
    """PyTorch's ``promote_types`` for two dtypes of the same priority group."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if a.category == FLOAT:
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if a.itemsize > b.itemsize else b
    if a.category == BOOL:
        return a
    return _FROM_NP[np.promote_types(a.np, b.np)]


SCALAR_TYPES = (bool, int, float)


def scalar_dtype(value) -> dtype:
    """The dtype a Python scalar takes when it stands alone (torch.tensor(3.0))."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    return get_default_dtype()


def _combine(higher: dtype | None, lower: dtype | None) -> dtype | None:
    """c10's combine_categories: a lower priority group only wins by category."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    if higher.category == FLOAT:
        return higher
    if higher.category == BOOL or lower.category == FLOAT:
        return promote_types(higher, lower)
    return higher


def result_type(dims, zero_dims, scalars) -> dtype:
    """Result dtype from dtypes of dimensioned tensors, 0-d tensors and Python scalar types."""

    def fold(ds):
        out = None
        for d in ds:
            out = d if out is None else promote_types(out, d)
        return out

    wrapped = fold(bool_ if t is bool else (int64 if t is int else get_default_dtype()) for t in scalars)
    out = _combine(fold(dims), _combine(fold(zero_dims), wrapped))
    return out if out is not None else get_default_dtype()


def to_float(d: dtype) -> dtype:
    """The dtype of a float-valued op (exp, div, mean) on an input of dtype d."""
    return d if d.category == FLOAT else get_default_dtype()
