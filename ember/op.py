"""The op table: one ``Op`` record per primitive, and the dispatcher.

Every subsystem is an interpreter over this table. An op's row holds its
kernel (``impl``, given the array module), a data-free shape rule, a dtype
rule, a VJP written in ember ops, what the VJP needs saved, and its ONNX
mapping. Calling an op goes through ``dispatch.apply``, which the current
interpreter (eager by default) provides.
"""

from __future__ import annotations

import types

from . import dtypes as dt

ELEMENTWISE = "elementwise"
REDUCE = "reduce"
MOVEMENT = "movement"
INDEX = "index"
LINALG = "linalg"
NN = "nn"
RANDOM = "random"
OTHER = "other"

REGISTRY: dict[str, Op] = {}

# The current interpreter's entry point. ``apply(op, args, attrs)``; eager
# installs itself at import time and other interpreters swap it in.
dispatch = types.SimpleNamespace(apply=None)


class ShapeDtype:
    """What a shape rule knows about a value: its shape (None for an unknown dim) and dtype."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = tuple(shape)
        self.dtype = dtype

    @property
    def ndim(self):
        return len(self.shape)

    def __repr__(self):
        return f"ShapeDtype({self.shape}, {self.dtype})"

    def __eq__(self, other):
        return isinstance(other, ShapeDtype) and (self.shape, self.dtype) == (other.shape, other.dtype)


class ZeroDim:
    """Marks a 0-d tensor in a dtype signature: it promotes with lower priority."""

    __slots__ = ("dtype",)

    def __init__(self, d):
        self.dtype = d


_ZERO_DIM = {}


def zero_dim(np_dtype):
    z = _ZERO_DIM.get(np_dtype)
    if z is None:
        z = _ZERO_DIM[np_dtype] = ZeroDim(np_dtype)
    return z


def _split_signature(sig):
    """Sort a dtype signature into PyTorch's three promotion groups."""
    dims, zeros, scalars = [], [], []
    for s in sig:
        if isinstance(s, ZeroDim):
            zeros.append(dt.from_numpy_dtype(s.dtype))
        elif isinstance(s, type) and s in dt.SCALAR_TYPES:
            scalars.append(s)
        elif isinstance(s, type):
            continue  # None or another non-numeric positional
        else:
            dims.append(dt.from_numpy_dtype(s))
    return dims, zeros, scalars


def _promoted(sig):
    return dt.result_type(*_split_signature(sig))


def _first_dtype(sig):
    for s in sig:
        if isinstance(s, ZeroDim):
            return dt.from_numpy_dtype(s.dtype)
        if not isinstance(s, type):
            return dt.from_numpy_dtype(s)
    raise TypeError("expected at least one tensor argument")


# Python scalars are converted to these compute dtypes before the kernel runs: PyTorch wraps
# out-of-range ints (uint8 - 1 -> 255) where NumPy raises, and NumPy's bfloat16 would turn
# ``bf16 + 2.5`` into float32. (float16/float32/float64/int64 keep the scalar: NumPy agrees.)
_SCALAR_CAST = frozenset(d for d in (dt.uint8, dt.int8, dt.int16, dt.int32, dt.bfloat16) if d is not None)


# Named dtype rules: sig -> (dtype every tensor arg is cast to or None, out dtype(s)).
def _rule_same(sig):
    return None, _first_dtype(sig)


def _rule_promote(sig):
    d = _promoted(sig)
    return d, d


def _rule_float(sig):
    d = dt.to_float(_promoted(sig))
    return d, d


def _rule_compare(sig):
    return _promoted(sig), dt.bool_


def _rule_bool(sig):
    return None, dt.bool_


def _rule_int64(sig):
    return None, dt.int64


def _rule_sum(sig):
    d = _first_dtype(sig)
    return None, (d if d.is_floating_point else dt.int64)


DTYPE_RULES = {
    "same": _rule_same,
    "promote": _rule_promote,
    "float": _rule_float,
    "compare": _rule_compare,
    "bool": _rule_bool,
    "int64": _rule_int64,
    "sum": _rule_sum,
}


class Op:
    """One row of the op table. See ``primitive`` for the meaning of each field."""

    __slots__ = (
        "name",
        "kind",
        "impl",
        "shape",
        "vjp",
        "dtype_rule",
        "saves",
        "saves_out",
        "view",
        "nout",
        "onnx",
        "doc",
        "sample",
        "_casts",
        "_saves_by_mask",
        "differentiable",
        "nondiff_args",
        "fn",
        "all_shapes",
        "vjp_kwargs",
    )

    def __init__(self, name, kind, impl, shape, vjp, dtype, saves, view, nout, onnx, doc, sample, nondiff_args):
        self.name = name
        self.kind = kind
        self.impl = impl
        self.shape = shape
        self.vjp = vjp
        self.dtype_rule = DTYPE_RULES[dtype] if isinstance(dtype, str) else dtype
        self.differentiable = vjp is not None
        self.saves = saves
        self.saves_out = False
        self.view = view
        self.nout = nout
        self.onnx = onnx
        self.doc = doc
        self.sample = sample
        self.nondiff_args = nondiff_args
        self._casts = {}
        self._saves_by_mask = {}
        self.all_shapes = False
        self.vjp_kwargs = None

    def __repr__(self):
        return f"<ember op {self.name}>"

    # -- dtype resolution (cached per signature; the eager hot path reads _casts) --
    def casts_for(self, sig):
        """NumPy dtypes to cast each positional arg to (None = leave), from the dtype rule."""
        try:
            compute, _ = self.dtype_rule(sig)
        except TypeError as e:
            raise TypeError(f"{self.name}: {e}") from None
        casts = None
        if compute is not None:
            targets = compute if isinstance(compute, tuple) else (compute,) * len(sig)
            casts = tuple(
                t.np
                if t is not None
                and (
                    (not isinstance(s, type) and (s.dtype if isinstance(s, ZeroDim) else s) != t.np)
                    or (isinstance(s, type) and s in dt.SCALAR_TYPES and t in _SCALAR_CAST)
                )
                else None
                for s, t in zip(sig, targets)
            )
            if not any(c is not None for c in casts):
                casts = None
        self._casts[sig] = casts
        return casts

    def out_dtype(self, sig):
        return self.dtype_rule(sig)[1]

    def saved_indices(self, mask, key=None):
        """Which args the VJP needs when the args flagged in ``mask`` need gradients.

        Cached under ``key`` (the eager interpreter passes the mask as an int bitmask).
        """
        key = mask if key is None else key
        got = self._saves_by_mask.get(key)
        if got is None:
            saves = self.saves
            if saves is None:  # default: everything
                got = tuple(range(len(mask)))
            elif isinstance(saves, dict):
                need = set()
                for i, m in enumerate(mask):
                    if m:
                        need.update(saves.get(i, ()))
                got = tuple(sorted(i for i in need if i != "out" and i < len(mask)))
            else:
                got = tuple(i for i in saves if i != "out" and i < len(mask))
            self._saves_by_mask[key] = got
        return got


def _vjp_kwargs(vjp):
    """Which of the engine's keyword arguments (out, need, in_shapes) a VJP names."""
    if vjp is None:
        return None
    import inspect

    params = inspect.signature(vjp).parameters
    names = tuple(n for n in ("out", "need", "in_shapes") if n in params)
    return names or None


def _saves_out(saves):
    if saves is None:
        return False
    if isinstance(saves, dict):
        return any("out" in v for v in saves.values())
    return "out" in saves


def primitive(
    name,
    *,
    kind,
    impl,
    shape,
    vjp=None,
    dtype="same",
    saves=None,
    view=False,
    nout=1,
    onnx=None,
    sample=None,
    nondiff_args=(),
    all_shapes=False,
    doc=None,
):
    """Register a primitive and return the function users call.

    impl(xp, *arrays, **attrs)      the kernel; xp is numpy or cupy
    shape(*specs, **attrs)          output shape(s) from ShapeDtype inputs, no data
    dtype                           a named rule ("same", "promote", "float", "compare",
                                    "bool", "int64", "sum") or a callable sig -> (cast, out)
    vjp(g, *args, out, need, **attrs)  input gradients, written in ember ops; args the VJP
                                    does not need (see saves) arrive as None
    saves                           which args (indices) and/or "out" the VJP reads; a dict
                                    {i: (...)} says what the gradient of arg i needs; None = all
    view                            the output may share memory with arg 0
    all_shapes                      the VJP reads ``in_shapes`` of args that need no gradient
    sample                          how the op-table tests generate inputs (see tests/sweep)
    """
    if name in REGISTRY:
        raise ValueError(f"op {name!r} registered twice")
    op = Op(name, kind, impl, shape, vjp, dtype, saves, view, nout, onnx, doc, sample, nondiff_args)
    op.saves_out = _saves_out(saves)
    op.all_shapes = all_shapes
    op.vjp_kwargs = _vjp_kwargs(vjp)
    REGISTRY[name] = op

    def fn(*args, **attrs):
        return dispatch.apply(op, args, attrs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc or f"The ``{name}`` primitive."
    fn.op = op
    op.fn = fn
    return fn
