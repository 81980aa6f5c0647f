"""TF1's ``tf.cond`` and ``tf.map_fn`` over graphs without control-flow nodes.

ember's graphs have no branches or loops, so ``cond`` builds both branches
and selects with ``where`` (the value TF computes, when neither branch
changes state: a branch that assigns a variable is refused, since both
would run), and ``map_fn`` unrolls over a first dimension known when the
graph is built. ``while_loop`` needs real loops and says so.
"""

from __future__ import annotations

from ... import dtypes as _dt
from ... import ops as F
from ...graph import ir
from . import array_ops as A
from ._convert import to_tensor
from .framework import get_default_graph


def _flatten(s):
    if isinstance(s, (list, tuple)):
        return [x for v in s for x in _flatten(v)]
    if isinstance(s, dict):
        return [x for k in sorted(s) for x in _flatten(s[k])]
    return [s]


def _pack(structure, flat):
    it = iter(flat)

    def pack(s):
        if isinstance(s, dict):
            return type(s)((k, pack(s[k])) for k in sorted(s))
        if isinstance(s, tuple) and hasattr(s, "_fields"):
            return type(s)(*[pack(v) for v in s])
        if isinstance(s, (list, tuple)):
            return type(s)(pack(v) for v in s)
        return next(it)

    return pack(structure)


def _branch(fn, which):
    g = get_default_graph()
    start = len(g.nodes)
    out = fn()
    for n in g.nodes[start:]:
        if n.kind == ir.ASSIGN:
            raise NotImplementedError(
                f"tf.cond: the {which} branch assigns variable {n.attrs['slot'].name} (at {n.where()}); ember builds "
                "both branches of a cond and selects the result, so a branch must not change state. Compute both "
                "values and assign tf.where(pred, a, b) instead."
            )
    return out


def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """true_fn() if pred else false_fn(), for side-effect-free branches (both are built and run)."""
    true_fn = true_fn if true_fn is not None else fn1
    false_fn = false_fn if false_fn is not None else fn2
    if not callable(true_fn) or not callable(false_fn):
        raise TypeError("true_fn and false_fn must be callable.")
    if isinstance(pred, bool):
        raise TypeError("pred must not be a Python bool")
    p = to_tensor(pred)
    if p.dtype is not _dt.bool_ or p.ndim != 0:
        raise ValueError(f"tf.cond: pred must be a scalar bool tensor, got {list(p.shape)} {p.dtype}")
    a, b = _branch(true_fn, "true"), _branch(false_fn, "false")
    fa, fb = _flatten(a), _flatten(b)
    if len(fa) != len(fb):
        raise ValueError(
            f"tf.cond: true_fn and false_fn must return the same structure, got {len(fa)} and {len(fb)} values"
        )
    out = []
    for x, y in zip(fa, fb):
        if x is None and y is None:
            out.append(None)
            continue
        x, y = to_tensor(x), to_tensor(y)
        if x.dtype != y.dtype:
            raise TypeError(f"tf.cond: branches return {x.dtype} and {y.dtype} for the same output")
        out.append(F.where(p, x, y))
    res = _pack(a, out)
    if not strict and isinstance(res, (list, tuple)) and len(res) == 1 and not hasattr(res, "_fields"):
        return res[0]  # TF1 unpacks singleton lists unless strict=True
    return res


def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True, swap_memory=False, infer_shape=True,
           name=None):  # fmt: skip
    """stack([fn(e) for e in unstack(elems)]): unrolled, so elems' first dim must be known."""
    flat = [to_tensor(e) for e in _flatten(elems)]
    n = flat[0].shape[0] if flat[0].ndim else None
    if n is None:
        raise NotImplementedError(
            "tf.map_fn: ember unrolls the map, so the first dimension of elems must be known when the graph is "
            f"built (got shape {list(flat[0].shape)}); for elementwise work, apply the ops to the whole batch"
        )
    slices = [A.unstack(e, n, 0) for e in flat]
    results = [fn(_pack(elems, [s[i] for s in slices])) for i in range(n)]
    outs = [_flatten(r) for r in results]
    stacked = [A.stack([o[j] for o in outs], 0) for j in range(len(outs[0]))]
    return _pack(results[0], stacked)


def while_loop(cond, body, loop_vars, *args, **kwargs):
    raise NotImplementedError(
        "tf.while_loop: ember's graphs have no loops; unroll with a Python loop when the trip count is known "
        "while building (dynamic_rnn and map_fn are unrolled this way)"
    )


__all__ = ["cond", "map_fn", "while_loop"]
