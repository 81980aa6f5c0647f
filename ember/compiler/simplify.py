"""Algebraic simplification that never changes a result bit.

Rewrites: ``x*1``, ``1*x``, ``x/1``, ``x-0``, ``x+(-0.0)`` and (integers) ``x+0``
to ``x``; ``neg(neg(x))``, a cast to the same dtype, ``clone``, ``contiguous``,
``expand``/``reshape`` to the same shape and identity permutes to ``x``;
``permute(permute(x))`` and ``reshape(reshape(x))`` to one op. A rewrite
applies only when it is exact: same dtype, no broadcasting, no kernel cast of
``x``, and the same memory layout (``node_layout``), because NumPy's reductions
sum in an order that depends on strides: ``a.T.sum(0)`` and
``ascontiguousarray(a.T).sum(0)`` differ in the last bits. (Layouts are known
statically; fed inputs and plain state are assumed C-contiguous, captured
tensors are looked at when the graph is optimised.) Values that leave the
graph are never made the same array as an input, state or another output.

``x + 0.0 -> x`` is not exact (``-0.0 + 0.0`` is ``+0.0``), nor is ``x - (-0.0)``;
they are applied only by ``simplify_fast_math`` (``optimize(..., fast_math=True)``
or ``EMBER_FAST_MATH=1``), which breaks the eager == compiled bitwise contract
for signed zeros and says so.
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import ir
from ..op import ELEMENTWISE, LINALG, NN, REDUCE, REGISTRY
from .rewrite import Rewriter, root_values

# ---- layout: what a value's strides are known to be, statically ---------------------------
C = "c"  # C-contiguous
COMPACT = "compact"  # dense, each element once, axes in some order (what a ufunc writes for it)
ANY = "any"  # may be strided, broadcast (stride 0) or aliased: keep every op that touches it

_FRESH_KINDS = (ELEMENTWISE, REDUCE, LINALG, NN)  # kernels that write a new array, never return an input
_NOT_FRESH = frozenset({"einsum"})  # np.einsum("ij->ji", a) is a view of a
# kernels whose new array is dense (each element once): ufuncs write in the order of their
# inputs' strides, reductions and GEMMs allocate. NN kernels may hand back a strided view of
# a bigger buffer, so they are not claimed.
_COMPACT_KINDS = (ELEMENTWISE, REDUCE)


def _array_layout(arr):
    if not hasattr(arr, "strides"):
        return C
    if arr.flags.c_contiguous:
        return C
    dims = sorted((abs(s), n) for s, n in zip(arr.strides, arr.shape) if n > 1)
    step = arr.itemsize
    for s, n in dims:
        if s != step:
            return ANY
        step *= n
    return COMPACT


def node_layout(n, layout):
    """The layout of ``n``'s outputs from its inputs' (fed inputs are assumed C-contiguous)."""
    kind = n.kind
    if kind == ir.INPUT:
        return C  # an assumption: a strided feed may sum in a different order after simplification
    if kind == ir.CONST:
        return _array_layout(n.attrs["value"])
    if kind == ir.READ:
        slot = n.attrs["slot"]
        if isinstance(slot, ir.TensorSlot):
            try:
                return _array_layout(slot.read(None))
            except Exception:
                return ANY
        return C
    if kind != ir.OP:
        return ANY
    arrays = [layout.get(a, ANY) for a in n.inputs if isinstance(a, ir.Value) and not _host(a)]
    first = arrays[0] if arrays else C
    name = n.op.name
    if name in ("clone", "contiguous"):
        return C
    if name == "cast":
        return first if first != ANY else COMPACT
    if name == "reshape":
        return first if first != ANY else ANY
    if name == "permute":
        if "axes" not in n.attrs:
            return ANY
        axes = tuple(a % max(len(n.values[0].shape), 1) for a in n.attrs["axes"])
        if axes == tuple(sorted(axes)):
            return first
        return COMPACT if first != ANY else ANY
    if name in ("expand", "expand_like"):
        x = n.inputs[0]
        return first if isinstance(x, ir.Value) and x.shape == n.values[0].shape else ANY
    if n.op.view or REGISTRY.get(name) is not n.op or (n.op.kind not in _COMPACT_KINDS and name != "matmul"):
        return ANY
    if n.op.kind == ELEMENTWISE and all(a == C for a in arrays):
        return C
    return COMPACT


# ---- the rewrite rules ---------------------------------------------------------------------
def _literal(a):
    """The Python number a scalar literal or a one-element constant holds, else None."""
    if type(a) in (int, float, bool):
        return a
    if isinstance(a, ir.Value) and a.node.kind == ir.CONST:
        arr = a.node.attrs["value"]
        if type(arr) is np.ndarray and arr.size == 1:
            return arr.reshape(()).item()
    return None


def _host(v):
    """A host scalar's Value (a Python number at run time), not an array."""
    return v.dtype is float or v.dtype is int or v.dtype is bool


def _is(x, want):
    """``x`` equals ``want`` (1, +0.0 or -0.0), signs of zero included (an integer 0 is +0.0)."""
    if x is None or isinstance(x, complex):
        return False
    if want != 0:
        return x == want
    if type(x) in (int, bool):
        return x == 0 and math.copysign(1.0, want) > 0
    x = float(x)
    return x == 0 and math.copysign(1.0, x) == math.copysign(1.0, want)


class _Ctx:
    def __init__(self, graph, fast_math):
        self.rw = Rewriter(graph)
        self.roots = root_values(graph)
        self.layout = {}
        self.fast_math = fast_math
        self.claimed = set()  # values now standing for a root: they must not stand for a second one

    def arg(self, n, i):
        return self.rw.value(n.inputs[i])

    def producer(self, v, name):
        """The node computing ``v`` when it is op ``name`` with no control dependencies."""
        if isinstance(v, ir.Value) and v.node.kind == ir.OP and v.node.op.name == name and not v.node.control:
            return v.node
        return None

    def is_root(self, n):
        return any(v in self.roots for v in n.values)

    def fresh(self, x):
        """``x`` is a kernel's own new array that nothing else returns."""
        node = x.node
        if node.kind != ir.OP or node.op.view or node.op.kind not in _FRESH_KINDS or node.op.name in _NOT_FRESH:
            return False
        return self.rw.origin.get(x, x) not in self.roots and x not in self.claimed


def _passthrough(ctx, n, x, i, need=(C, COMPACT)):
    """``n``'s output may become ``x`` (its i-th input): same type, no cast, same layout, no new alias."""
    out = n.values[0]
    if not isinstance(x, ir.Value) or _host(x):
        return None
    if x.shape != out.shape or np.dtype(x.dtype) != np.dtype(out.dtype):
        return None
    if n.casts is not None and n.casts[i] is not None:
        return None
    if ctx.layout.get(x, ANY) not in need:
        return None
    if ctx.is_root(n) and not ctx.fresh(x):
        return None  # the caller would get an input/state array (or another output) back, not a new one
    return x


def _is_int(v):
    return isinstance(v, ir.Value) and not _host(v) and np.dtype(v.dtype).kind in "biu"


def _mul(ctx, n):
    a, b = ctx.arg(n, 0), ctx.arg(n, 1)
    if _is(_literal(b), 1):
        return _passthrough(ctx, n, a, 0)
    if _is(_literal(a), 1):
        return _passthrough(ctx, n, b, 1)
    return None


def _div(ctx, n):
    a, b = ctx.arg(n, 0), ctx.arg(n, 1)
    return _passthrough(ctx, n, a, 0) if _is(_literal(b), 1) else None


def _add(ctx, n):
    for i, j in ((0, 1), (1, 0)):
        x, z = ctx.arg(n, i), _literal(ctx.arg(n, j))
        # x + (-0.0) is x for every x; x + 0.0 turns -0.0 into +0.0 (exact only for integers)
        if _is(z, -0.0) or (_is(z, 0.0) and (_is_int(x) or ctx.fast_math)):
            got = _passthrough(ctx, n, x, i)
            if got is not None:
                return got
    return None


def _sub(ctx, n):
    x, z = ctx.arg(n, 0), _literal(ctx.arg(n, 1))
    # x - 0.0 is x for every x; x - (-0.0) is x + 0.0 (see _add)
    if _is(z, 0.0) or (_is(z, -0.0) and (_is_int(x) or ctx.fast_math)):
        return _passthrough(ctx, n, x, 0)
    return None


def _neg(ctx, n):
    inner = ctx.producer(ctx.arg(n, 0), "neg")
    if inner is None:
        return None
    return _passthrough(ctx, n, ctx.rw.value(inner.inputs[0]), 0)


def _cast(ctx, n):
    x = ctx.arg(n, 0)
    return _passthrough(ctx, n, x, 0)  # dtype equality is checked there


def _copy(ctx, n):
    """clone / contiguous: the copy is C-contiguous, so only a C-contiguous ``x`` can stand for it."""
    x = ctx.arg(n, 0)
    if n.op.name == "contiguous" and isinstance(x, ir.Value) and ctx.layout.get(x) == C:
        return _view_passthrough(ctx, n, x)  # ascontiguousarray returns x itself here, as eager does
    return _passthrough(ctx, n, x, 0, need=(C,))


def _view_passthrough(ctx, n, x):
    """A view op that changes nothing: the output may be ``x`` itself (eager aliases it already)."""
    out = n.values[0]
    if not isinstance(x, ir.Value) or x.shape != out.shape or np.dtype(x.dtype) != np.dtype(out.dtype):
        return None
    return x


def _same_shape(x, out, target):
    """``reshape(x, target)`` gives ``x``'s shape, also when one dim is unknown (-1 there)."""
    if x.shape != out.shape:
        return False
    unknown = [i for i, s in enumerate(x.shape) if s is None]
    if not unknown:
        return True
    return len(unknown) == 1 and len(target) == len(x.shape) and target[unknown[0]] == -1


def _reshape(ctx, n):
    if len(n.inputs) != 1 or "shape" not in n.attrs:
        return None
    x, out, target = ctx.arg(n, 0), n.values[0], tuple(n.attrs["shape"])
    inner = ctx.producer(x, "reshape")
    if inner is not None and len(inner.inputs) == 1 and ctx.layout.get(ctx.rw.value(inner.inputs[0])) == C:
        x = ctx.rw.value(inner.inputs[0])  # reshape of a C-contiguous reshape: the same view either way
        if _same_shape(x, out, target):
            return _view_passthrough(ctx, n, x)
        return ctx.rw.emit(ir.OP, n.op, (x,), dict(n.attrs), n, casts=n.casts, name=n.name).out
    if isinstance(x, ir.Value) and _same_shape(x, out, target):
        return _view_passthrough(ctx, n, x)
    return None


def _permute(ctx, n):
    if len(n.inputs) != 1 or "axes" not in n.attrs:
        return None
    x = ctx.arg(n, 0)
    nd = len(n.values[0].shape)
    axes = tuple(a % max(nd, 1) for a in n.attrs["axes"])
    inner = ctx.producer(x, "permute")
    if inner is not None and (len(inner.inputs) != 1 or "axes" not in inner.attrs):
        inner = None
    if inner is not None:
        first = tuple(a % max(nd, 1) for a in inner.attrs["axes"])
        axes = tuple(first[a] for a in axes)  # transpose(transpose(y, first), axes) == transpose(y, first[axes])
        x = ctx.rw.value(inner.inputs[0])
    if axes == tuple(range(nd)):
        return _view_passthrough(ctx, n, x)
    if inner is None:
        return None
    return ctx.rw.emit(ir.OP, n.op, (x,), {**n.attrs, "axes": axes}, n, casts=n.casts, name=n.name).out


def _expand(ctx, n):
    x, out = ctx.arg(n, 0), n.values[0]
    if isinstance(x, ir.Value) and None not in x.shape and x.shape == out.shape:
        return _view_passthrough(ctx, n, x)
    return None


RULES = {
    "mul": _mul,
    "div": _div,
    "add": _add,
    "sub": _sub,
    "neg": _neg,
    "cast": _cast,
    "clone": _copy,
    "contiguous": _copy,
    "reshape": _reshape,
    "permute": _permute,
    "expand": _expand,
    "expand_like": _expand,
}


def _simplify(graph, fast_math):
    ctx = _Ctx(graph, fast_math)
    rw = ctx.rw
    for n in graph.nodes:
        rule = RULES.get(n.op.name) if n.kind == ir.OP and not n.control and len(n.values) == 1 else None
        if rule is not None and REGISTRY.get(n.op.name) is n.op:
            mark = len(rw.new.nodes)
            got = rule(ctx, n)
            if got is not None:
                for new in rw.new.nodes[mark:]:  # nodes the rule emitted
                    ctx.layout[new.out] = node_layout(new, ctx.layout)
                rw.replace(n, [got])
                if ctx.is_root(n):
                    ctx.claimed.add(got)
                continue
        new = rw.keep(n)
        lay = node_layout(new, ctx.layout)
        for v in new.values:
            ctx.layout[v] = lay
    return rw.finish()


def simplify(graph):
    """Exact algebraic simplification (bitwise-identical results)."""
    return _simplify(graph, fast_math=False)


def simplify_fast_math(graph):
    """``simplify`` plus rewrites that may flip the sign of a zero (``x + 0.0 -> x``): opt-in."""
    return _simplify(graph, fast_math=True)
