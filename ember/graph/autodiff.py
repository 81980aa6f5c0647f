"""Symbolic reverse-mode autodiff: ``gradients(ys, xs)`` adds gradient nodes to the graph.

It walks the graph backwards from ``ys`` and calls each op's VJP, the same
rules the eager backward engine calls, on symbolic tensors, so the gradient
is built by the graph interpreter. Broadcasting is undone and dtypes restored
with the engine's own ``_fit``. One source of truth for derivatives.
"""

from __future__ import annotations

from ..autograd.engine import _fit
from ..autograd.grad_mode import no_grad
from . import ir
from .build import symbolic_tensor
from .symbolic import Symbolic


def _value(t):
    d = getattr(t, "_data", None)
    if not isinstance(d, Symbolic):
        raise TypeError(f"gradients: expected symbolic (graph) tensors, got {type(t).__name__}")
    return d.value


def _reaching(graph_nodes, ys, xs):
    """Nodes on a path from some x to some y: only those need their VJP called."""
    xset = {v for v in xs}
    from_x = set(xset)
    for n in graph_nodes:
        if any(isinstance(a, ir.Value) and a in from_x for a in n.inputs):
            from_x.update(n.values)
    to_y = set(ys)
    on_path = set()
    for n in reversed(graph_nodes):
        if any(v in to_y for v in n.values):
            for a in n.inputs:
                if isinstance(a, ir.Value):
                    to_y.add(a)
            if any(v in from_x for v in n.values):
                on_path.add(n)
    return on_path, from_x


def gradients(ys, xs, grad_ys=None, ops=None):
    """d(sum of ys)/d(each x) as symbolic tensors (None where an x does not affect ys)."""
    from .. import ops as F

    single = not isinstance(xs, (list, tuple))
    ys = list(ys) if isinstance(ys, (list, tuple)) else [ys]
    xs = [xs] if single else list(xs)
    yv = [_value(y) for y in ys]
    xv = [_value(x) for x in xs]
    graph = yv[0].node.graph
    if grad_ys is None:
        grad_ys = [None] * len(ys)
    elif not isinstance(grad_ys, (list, tuple)):
        grad_ys = [grad_ys]
    grads = {}
    with no_grad():
        for v, gy in zip(yv, grad_ys):
            if gy is None:
                g = _ones(v) if None not in v.shape else ones_like_symbolic(v)
            elif isinstance(gy, (int, float)):
                g = _ones(v, gy)
            else:
                g = gy
            grads[v] = g if v not in grads else grads[v] + g
        on_path, from_x = _reaching(graph.nodes, yv, xv)
        for n in reversed(graph.nodes):
            if n not in on_path or n.kind != ir.OP:
                continue
            outs = [grads.get(v) for v in n.values]
            if all(g is None for g in outs):
                continue
            op = n.op
            if op.vjp is None:
                raise LookupError(
                    f"gradients: no gradient defined for operation '{n.name}' (op type: {op.name}), "
                    f"created at {n.where()}"
                )
            args = [symbolic_tensor(a) if isinstance(a, ir.Value) else a for a in n.inputs]
            need = [
                isinstance(a, ir.Value)
                and a in from_x
                and a.dtype is not float
                and a.dtype is not int
                and a.dtype.kind == "f"
                for a in n.inputs
            ]
            extra = {}
            kw = op.vjp_kwargs or ()
            if "out" in kw:
                out = [symbolic_tensor(v) for v in n.values]
                extra["out"] = out[0] if op.nout == 1 else tuple(out)
            if "need" in kw:
                extra["need"] = need
            if "in_shapes" in kw:
                extra["in_shapes"] = [_shape(a) if isinstance(a, ir.Value) else None for a in n.inputs]
            if op.nout == 1:
                g = outs[0]
            else:
                g = tuple(
                    o if o is not None else _zeros(v) if v.dtype.kind == "f" else None for o, v in zip(outs, n.values)
                )
            in_grads = op.vjp(g, *args, **extra, **n.attrs)
            for a, gi, nd in zip(n.inputs, in_grads, need):
                if gi is None or not nd:
                    continue
                if a.shape != tuple(gi._data.shape) or gi._data.dtype != a.dtype:
                    gi = _fit(gi, _shape(a), a.dtype, F)
                grads[a] = gi if a not in grads else grads[a] + gi
    out = [grads.get(v) for v in xv]
    return out[0] if single else out


class DynShape(tuple):
    """An input's shape with dims known only at run time (None); ``like`` is the input itself,
    so ``expand``/``sum_to_shape`` can take the size from it when the graph runs."""

    like = None


def _shape(v):
    if None not in v.shape:
        return v.shape
    s = DynShape(v.shape)
    s.like = symbolic_tensor(v)
    return s


def _ones(v, fill=1.0):
    import numpy as np

    from .build import constant

    return symbolic_tensor(constant(v.node.graph, np.full(v.shape, fill, dtype=v.dtype), name="grad_ys"))


def _zeros(v):
    return _ones(v, 0.0)


def ones_like_symbolic(v):
    """A ones tensor shaped like ``v`` when some dims are only known at run time."""
    from .. import ops as F

    return F.add(F.mul(symbolic_tensor(v), 0.0), 1.0)
