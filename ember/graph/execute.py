"""The graph interpreter: run the nodes a set of fetches needs, in program order.

This is what ``Session.run`` does, and the reference the compiler's
generated code must match bitwise: each node runs its op's kernel with the
casts resolved when it was built, exactly as the eager interpreter would.
Values are dropped after their last use. Two debugging aids ride along:
``check_numerics`` raises at the first NaN/Inf, naming the op and the line
that created it, and ``record`` keeps every intermediate value of the run.
"""

from __future__ import annotations

import numpy as np

from ..devices import xp_of
from ..errors import op_error
from . import ir

_ndarray = np.ndarray
_SCALARS = (float, int, bool)


class InvalidArgumentError(ValueError):
    """A fed value does not fit its placeholder, or a required feed is missing (TF's class name)."""


class FailedPreconditionError(RuntimeError):
    """State was read before it was initialized (TF's class name)."""


class NumericsError(FloatingPointError):
    """check_numerics found a NaN or Inf."""


def plan(graph, fetch_values, targets=(), fed=()):
    """The nodes needed for ``fetch_values`` and ``targets`` (nodes), in program order.

    A node whose value is in ``fed`` (TF1 feeds any tensor) does not need its inputs.
    """
    need = set()
    stack = [v.node for v in fetch_values] + list(targets)
    while stack:
        n = stack.pop()
        if n.id in need:
            continue
        need.add(n.id)
        if fed and n.values and n.values[0] in fed:
            continue
        for a in n.inputs:
            if isinstance(a, ir.Value):
                stack.append(a.node)
        stack.extend(n.control)
    return [n for n in graph.nodes if n.id in need]


def last_uses(nodes, keep):
    """Value -> index of the last node in ``nodes`` that reads it (values in ``keep`` never die)."""
    last = {}
    for i, n in enumerate(nodes):
        for a in n.inputs:
            if isinstance(a, ir.Value):
                last[a] = i
    for v in keep:
        last[v] = len(nodes)
    return last


def cast_args(args, casts):
    """Apply a node's resolved casts to its arguments, exactly as the eager interpreter does."""
    from ..eager import _scalar_as

    return [
        a if c is None else (a.astype(c) if type(a) not in _SCALARS else _scalar_as(a, c)) for a, c in zip(args, casts)
    ]


def run_op(node, args):
    op = node.op
    if node.casts is not None:
        args = cast_args(args, node.casts)
    first = next((a for a in args if hasattr(a, "dtype") and hasattr(a, "shape")), None)
    xp = np if first is None or type(first) is _ndarray else xp_of(first)
    try:
        out = op.impl(xp, *args, **node.attrs)
    except Exception as e:
        from ..tensor import _make

        err = op_error(op, [_make(a) if hasattr(a, "shape") else a for a in args], node.attrs, e)
        msg = f"{err}\n  (node '{node.name}', created at {node.where()})"
        try:
            located = type(err)(msg)
        except Exception:  # an error class whose constructor wants more than a message (NumPy's ufunc errors)
            located = RuntimeError(msg)
        raise located from e
    if op.nout == 1:
        return (out if type(out) is _ndarray else _as_array(xp, out),)
    return tuple(o if type(o) is _ndarray else _as_array(xp, o) for o in out)


def _as_array(xp, out):
    if hasattr(out, "shape") and not isinstance(out, np.generic):
        return out
    return xp.asarray(out)


def check_feed(v, array):
    shape = v.shape
    if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
        want = "[" + ",".join("?" if s is None else str(s) for s in shape) + "]"
        raise InvalidArgumentError(
            f"Cannot feed value of shape {tuple(array.shape)} for Tensor '{v.name}', which has shape {want}"
        )
    return array


def run(graph, fetches, targets=(), feeds=None, store=None, *, check_numerics=False, record=None):
    """Evaluate ``fetches`` (Values) after running ``targets`` (Nodes); return their arrays."""
    feeds = feeds or {}
    nodes = plan(graph, fetches, targets, feeds)
    last = last_uses(nodes, fetches)
    env = {}
    for i, n in enumerate(nodes):
        kind = n.kind
        if feeds and kind != ir.INPUT and n.values and n.values[0] in feeds:
            outs = (feeds[n.values[0]],)  # a fed intermediate value replaces its node
        elif kind == ir.OP:
            args = [env[a] if isinstance(a, ir.Value) else a for a in n.inputs]
            outs = run_op(n, args)
        elif kind == ir.INPUT:
            v = n.out
            if v not in feeds:
                raise InvalidArgumentError(
                    f"You must feed a value for placeholder tensor '{n.name}' with dtype {np.dtype(v.dtype).name} "
                    f"and shape {list(v.shape)}" + (f"\n  (created at {n.where()})" if n.frame else "")
                )
            outs = (feeds[v],)
        elif kind == ir.CONST:
            outs = (n.attrs["value"],)
        elif kind == ir.READ:
            a = n.attrs["slot"].read(store)
            if a is None:
                raise FailedPreconditionError(
                    f"Attempting to use uninitialized value {n.attrs['slot'].name}"
                    + (f"\n  (read at {n.where()})" if n.frame else "")
                )
            outs = (a,)
        elif kind == ir.ASSIGN:
            a = env[n.inputs[0]]
            n.attrs["slot"].write(store, a)
            outs = (a,)
        elif kind == ir.HOST:
            fn = n.attrs.get("fn")
            outs = (fn(*[env[a] if isinstance(a, ir.Value) else a for a in n.inputs]) if fn else n.attrs["get"](),)
        elif kind == ir.GROUP:
            outs = ()
        else:
            raise RuntimeError(f"unknown node kind {kind!r}")
        for v, o in zip(n.values, outs):
            env[v] = o
            if check_numerics and kind == ir.OP:
                _check(n, o)
            if record is not None:
                record[v] = o
        for a in n.inputs:  # free values after their last use
            if isinstance(a, ir.Value) and last.get(a) == i:
                env.pop(a, None)
    return [env[v] for v in fetches]


def _check(node, array):
    if getattr(array, "dtype", None) is None or array.dtype.kind != "f" or array.size == 0:
        return
    xp = xp_of(array)
    if not bool(xp.isfinite(array).all()):
        bad = "NaN" if bool(xp.isnan(array).any()) else "Inf"
        raise NumericsError(
            f"check_numerics: {node.op_name} '{node.name}' produced {bad} (output shape {tuple(array.shape)})"
            + (f"\n  created at {node.where()}" if node.frame else "")
        )
