"""TF1's ``tf.placeholder(dtype)`` with no shape: a value of unknown rank.

ember's shape rules need a rank, so such a placeholder is built as a scalar
and marked. A feed of any shape is accepted, but only where the graph between
it and the fetches is rank-agnostic: elementwise ops (NumPy broadcasting gives
TF's answer) up to full reductions (axis=None), whose result really is a
scalar. Anything else fed a non-scalar (a reshape, a matmul, a gradient update
built for the scalar shape) raises naming the op and its line instead of
silently computing with the wrong shape.
"""

from __future__ import annotations

from ...graph import ir
from ...graph.execute import plan
from ...op import ELEMENTWISE

# Ops that keep a rank-agnostic value rank-agnostic (besides elementwise ones).
_PASS = {"clone", "cast", "stop_gradient", "shape_of"}
# Full reductions (axis=None): their output is a true scalar whatever the input's rank.
_FULL_REDUCTIONS = {"sum", "prod", "amax", "amin", "all", "any"}


def _resets(node):
    return node.kind == ir.OP and node.op.name in _FULL_REDUCTIONS and node.attrs.get("axis") is None


def _passes(node):
    return node.kind == ir.OP and (node.op.kind == ELEMENTWISE or node.op.name in _PASS)


def is_unknown_rank_input(node):
    return node.kind == ir.INPUT and node.meta.get("unknown_rank", False)


def depends_on_unknown_rank(value) -> bool:
    """Whether ``value`` (an ir.Value) may hold a non-scalar array because of an unknown-rank placeholder."""
    g = value.node.graph
    memo = g.__dict__.setdefault("_unknown_rank_memo", {})
    if not any(is_unknown_rank_input(v.node) for v in g.inputs):
        return False
    stack = [value.node]
    while stack:
        n = stack[-1]
        if n.id in memo:
            stack.pop()
            continue
        if is_unknown_rank_input(n):
            memo[n.id] = True
            stack.pop()
            continue
        todo = [a.node for a in n.inputs if isinstance(a, ir.Value) and a.node.id not in memo]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        memo[n.id] = (not _resets(n)) and any(memo[a.node.id] for a in n.inputs if isinstance(a, ir.Value))
    return memo[value.node.id]


def has_unknown_rank(t) -> bool:
    """Whether graph tensor ``t`` flows from a shapeless placeholder (its static shape () is then not its shape)."""
    d = getattr(t, "_data", None)
    return hasattr(d, "value") and isinstance(d.value, ir.Value) and depends_on_unknown_rank(d.value)


def check_run(graph, fetches, targets, feeds):
    """Raise if a non-scalar feed of an unknown-rank placeholder reaches an op that is not rank-agnostic.

    Returns True when such a feed is present (the
    caller then runs the graph interpreter, whose kernels take whatever shapes they get).
    """
    wide = {v for v, a in feeds.items() if is_unknown_rank_input(v.node) and getattr(a, "ndim", 0) > 0}
    if not wide:
        return False
    tainted = set(wide)
    for n in plan(graph, fetches, targets, feeds):
        if n.values and n.values[0] in feeds:
            continue
        hit = [a for a in n.inputs if isinstance(a, ir.Value) and a in tainted]
        if not hit:
            continue
        if _resets(n):
            continue
        if not _passes(n):
            src = sorted({v.node.name for v in wide})
            raise ValueError(
                f"Cannot feed a non-scalar value for placeholder {', '.join(src)} (created with no shape, i.e. of "
                f"unknown rank): it reaches {n.op_name} '{n.name}' (created at {n.where()}), which was built for a "
                "scalar. ember runs unknown-rank placeholders only through elementwise ops and full reductions; "
                "give the placeholder a shape (None for dimensions known only at run time) to use it here."
            )
        tainted.update(n.values)
    return True
