"""Constant folding: an op whose tensor inputs are all constants runs now and becomes a constant.

It runs the node's own kernel with the node's own casts (``execute.run_op``,
as the graph interpreter and eager do), so the folded array is bitwise what
the graph would have computed at run time. Not folded: random ops (each run
draws anew), nodes with control dependencies, values that leave the graph
(a returned constant would be the same array object at every call, where
eager returns a fresh one), and results that would be huge (> MAX_ELEMENTS)
when their inputs were not (``expand`` of a scalar stays a cheap view).
"""

from __future__ import annotations

import numpy as np

from ..graph import ir
from ..graph.execute import run_op
from ..op import RANDOM
from ..ops._rules import numel
from .rewrite import Rewriter, root_values

MAX_ELEMENTS = 1 << 20


def constant_fold(graph):
    rw = Rewriter(graph)
    roots = root_values(graph)
    for n in graph.nodes:
        folded = _fold(rw, n, roots)
        if folded is None:
            rw.keep(n)
            continue
        values = []
        for v, arr in zip(n.values, folded):
            c = rw.emit(ir.CONST, None, (), {"value": arr}, _Like(v, n.frame), name=_name(rw, n, v))
            values.append(c.out)
        rw.replace(n, values)
    return rw.finish()


def _fold(rw, n, roots):
    """The folded arrays of ``n``, or None when it must stay."""
    if n.kind != ir.OP or n.op.kind == RANDOM or n.control or any(v in roots for v in n.values):
        return None
    inputs = rw.inputs(n)
    arrays = [a for a in inputs if isinstance(a, ir.Value)]
    if any(a.node.kind != ir.CONST for a in arrays):
        return None
    biggest = max((a.node.attrs["value"].size for a in arrays), default=1)
    for v in n.values:
        size = numel(v.shape)
        if size is None or (size > MAX_ELEMENTS and size > biggest):
            return None
    args = [a.node.attrs["value"] if isinstance(a, ir.Value) else a for a in inputs]
    try:
        outs = run_op(n, args)
    except Exception:  # the graph would raise at run time: keep the node, so it still does (with its line)
        return None
    for v, arr in zip(n.values, outs):
        if tuple(arr.shape) != v.shape or np.dtype(arr.dtype) != np.dtype(v.dtype):
            return None  # a kernel that disagrees with its shape rule: leave it to run time
    return outs


def _name(rw, n, v):
    return n.name if len(n.values) == 1 else rw.new.unique_name(f"{n.name}.{v.index}")


class _Like:
    """What ``Rewriter.emit`` copies output types and the source line from."""

    def __init__(self, v, frame):
        self.values = [ir.Value(None, 0, v.shape, v.dtype)]
        self.frame = frame
