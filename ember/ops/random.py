"""Random sampling as op-table rows (kind RANDOM): the draw happens when the kernel runs.

Eagerly that is now; in a graph it is every time the graph runs (a TF1
``random_normal`` gives fresh numbers per ``Session.run``, a compiled trace of
dropout draws like eager). The generator is an attribute (None = ember's
default generator, looked up at run time so ``manual_seed`` applies). The
draws use the same NumPy calls as ``ember.random.rand``/``randn``, so the
numbers match the plain functions for the same generator state. Random ops
have no derivative with respect to anything: they are not differentiable
and must never be constant-folded or merged by CSE.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as dt
from ..op import RANDOM, ShapeDtype, primitive


def _rng(generator):
    if generator is None:
        from ..random import default_generator  # lazy: ember.random imports the ops package

        generator = default_generator
    return generator._rng


def _dtype(dtype):
    d = dt.as_dtype(dtype) if dtype is not None else dt.get_default_dtype()
    return d


def _no_casts(sig):
    # the output dtype comes from the ``dtype`` attribute, which the shape rule returns
    return None, dt.float32


def _run_shape(shape_t, shape):
    """The output shape: from the shape tensor's values when one is given, else the attribute."""
    if shape_t is None:
        return tuple(int(s) for s in shape)
    return tuple(int(s) for s in np.asarray(shape_t.get() if hasattr(shape_t, "get") else shape_t).reshape(-1))


def _static_shape(shape_t, shape, op):
    """Shape rule: the ``shape`` attribute (None dims allowed); a shape tensor fixes the rank only."""
    if shape_t is None:
        if shape is None or any(s is None for s in shape):
            raise ValueError(f"{op}: a shape with unknown dims needs a shape tensor argument")
        return tuple(shape)
    if not hasattr(shape_t, "shape") or len(shape_t.shape) != 1 or shape_t.shape[0] is None:
        raise ValueError(f"{op}: the shape tensor must be 1-d with a known length, got {shape_t}")
    n = shape_t.shape[0]
    if shape is not None and len(shape) == n:
        return tuple(shape)
    return (None,) * n


def _on(xp, data):
    return data if xp is np else xp.asarray(data)  # drawn on the host as ember.random does, then moved


def _draw_uniform(rng, shape, d):
    if d.np in (np.float32, np.float64):
        return rng.random(shape, dtype=d.np)  # ember.random.rand's call
    return rng.random(shape).astype(d.np)


def _draw_normal(rng, shape, d):
    if d.np in (np.float32, np.float64):
        return rng.standard_normal(shape, dtype=d.np)  # ember.random.randn's call
    return rng.standard_normal(shape).astype(d.np)


# ---- uniform -------------------------------------------------------------------------------------
def _uniform_impl(xp, shape_t=None, *, shape=None, dtype=None, low=0.0, high=1.0, generator=None):
    d = _dtype(dtype)
    rng = _rng(generator)
    s = _run_shape(shape_t, shape)
    if d.is_floating_point:
        data = _draw_uniform(rng, s, d)
        if low != 0.0 or high != 1.0:
            data = (data * d.np.type(high - low) + d.np.type(low)).astype(d.np, copy=False)
    else:  # integers in [low, high), as tf.random_uniform with an int dtype
        if high is None or low >= high:
            raise ValueError(f"random_uniform: integer sampling needs low < high, got low={low}, high={high}")
        data = rng.integers(int(low), int(high), size=s, dtype=np.int64).astype(d.np)
    return _on(xp, data)


def _uniform_shape(shape_t=None, *, shape=None, dtype=None, **attrs):
    return ShapeDtype(_static_shape(shape_t, shape, "random_uniform"), _dtype(dtype))


random_uniform = primitive(
    "random_uniform",
    kind=RANDOM,
    impl=_uniform_impl,
    shape=_uniform_shape,
    dtype=_no_casts,
    sample=dict(cases="internal"),
    doc="Uniform samples in [low, high) of ``shape`` (or of the values of a 1-d shape tensor argument).",
)


# ---- normal --------------------------------------------------------------------------------------
def _normal_impl(xp, shape_t=None, *, shape=None, dtype=None, mean=0.0, std=1.0, generator=None):
    d = _dtype(dtype)
    data = _draw_normal(_rng(generator), _run_shape(shape_t, shape), d)
    if mean != 0.0 or std != 1.0:
        data = (data * d.np.type(std) + d.np.type(mean)).astype(d.np, copy=False)
    return _on(xp, data)


def _normal_shape(shape_t=None, *, shape=None, dtype=None, **attrs):
    d = _dtype(dtype)
    if not d.is_floating_point:
        raise TypeError(f"random_normal: expected a floating-point dtype, got {d}")
    return ShapeDtype(_static_shape(shape_t, shape, "random_normal"), d)


random_normal = primitive(
    "random_normal",
    kind=RANDOM,
    impl=_normal_impl,
    shape=_normal_shape,
    dtype=_no_casts,
    sample=dict(cases="internal"),
    doc="Normal samples (mean, std) of ``shape`` (or of the values of a 1-d shape tensor argument).",
)


def _truncated_impl(xp, shape_t=None, *, shape=None, dtype=None, mean=0.0, std=1.0, generator=None):
    """TF's truncated normal: standard normal samples beyond two deviations are drawn again."""
    d = _dtype(dtype)
    rng = _rng(generator)
    data = _draw_normal(rng, _run_shape(shape_t, shape), d)
    bad = np.abs(data) > 2
    while bad.any():
        data[bad] = _draw_normal(rng, (int(bad.sum()),), d)
        bad = np.abs(data) > 2
    if mean != 0.0 or std != 1.0:
        data = (data * d.np.type(std) + d.np.type(mean)).astype(d.np, copy=False)
    return _on(xp, data)


truncated_normal = primitive(
    "truncated_normal",
    kind=RANDOM,
    impl=_truncated_impl,
    shape=_normal_shape,
    dtype=_no_casts,
    sample=dict(cases="internal"),
    doc="Normal samples (mean, std) redrawn until within two standard deviations (TF's truncated_normal).",
)


# ---- shaped like a tensor (its shape may be known only at run time) -----------------------------
def _like_shape(x, **attrs):
    if not x.dtype.is_floating_point:
        raise TypeError(f"uniform_like/normal_like: expected a floating-point tensor, got {x.dtype}")
    return x.shape


def _no_grad_to_x(g, x):
    # the samples do not depend on x's values (only its shape): nothing flows back, as
    # torch.rand_like's result does not require grad and TF's shape op has no gradient
    return (None,)


uniform_like = primitive(
    "uniform_like",
    kind=RANDOM,
    impl=lambda xp, x, generator=None: _on(xp, _draw_uniform(_rng(generator), x.shape, dt.from_numpy_dtype(x.dtype))),
    shape=_like_shape,
    dtype="same",
    vjp=_no_grad_to_x,
    saves=(),
    sample=dict(cases="internal"),
    doc="Uniform [0, 1) samples of x's shape and dtype: ``ember.rand(*x.shape, dtype=x.dtype)``, in a graph too.",
)

normal_like = primitive(
    "normal_like",
    kind=RANDOM,
    impl=lambda xp, x, generator=None: _on(xp, _draw_normal(_rng(generator), x.shape, dt.from_numpy_dtype(x.dtype))),
    shape=_like_shape,
    dtype="same",
    vjp=_no_grad_to_x,
    saves=(),
    sample=dict(cases="internal"),
    doc="Standard normal samples of x's shape and dtype: ``ember.randn(*x.shape, dtype=x.dtype)``, in a graph too.",
)


def _perm_shape(x, **attrs):
    if len(x.shape) == 0:
        raise ValueError("permutation_like: expected a tensor with at least one dim")
    return ShapeDtype((x.shape[0],), dt.int64)


permutation_like = primitive(
    "permutation_like",
    kind=RANDOM,
    impl=lambda xp, x, generator=None: _on(xp, _rng(generator).permutation(x.shape[0]).astype(np.int64)),
    shape=_perm_shape,
    dtype=lambda sig: (None, dt.int64),
    sample=dict(cases="internal"),
    doc="A random permutation of range(len(x)) (int64), as ``ember.randperm(len(x))`` draws it; for shuffles.",
)

__all__ = ["random_uniform", "random_normal", "truncated_normal", "uniform_like", "normal_like", "permutation_like"]
