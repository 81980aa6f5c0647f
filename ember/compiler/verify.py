"""The verifier run after every pass: a pass whose result fails it is rolled back.

``check(graph)`` raises ``GraphVerificationError`` listing every problem:
an input read before (or without) its producer, a node listed twice, outputs
or state writes that no node produces, and OP nodes whose recorded shapes,
dtypes or kernel casts disagree with what the op's own rules say for its
inputs (Grappler's graph verifier does the same after each optimizer).
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as dt
from ..graph import ir
from ..op import REGISTRY, ShapeDtype, zero_dim


class GraphVerificationError(RuntimeError):
    """A graph breaks an invariant of the IR (raised by ``check``)."""


def check(graph):
    """Raise ``GraphVerificationError`` if ``graph`` is not well formed; return it otherwise."""
    found = problems(graph)
    if found:
        more = f"\n  ... and {len(found) - 20} more" if len(found) > 20 else ""
        raise GraphVerificationError(
            f"graph '{graph.name}' failed verification ({len(found)} problem(s)):\n  " + "\n  ".join(found[:20]) + more
        )
    return graph


def problems(graph):
    """Every broken invariant of ``graph``, as readable lines (empty when it is well formed)."""
    out = []
    seen = set()  # id(node) of nodes already listed
    names = set()
    for n in graph.nodes:
        if id(n) in seen:
            out.append(f"node '{n.name}' appears twice in the node list")
            continue
        if n.name in names:
            out.append(f"two nodes are named '{n.name}'")
        for a in n.inputs:
            if isinstance(a, ir.Value):
                p = _producer_problem(a, seen)
                if p:
                    out.append(f"node '{n.name}' ({n.op_name}) reads {a!r}, which {p}")
        for c in n.control:
            if id(c) not in seen:
                out.append(f"node '{n.name}' has a control dependency on '{c.name}', which does not run before it")
        out.extend(_node_problems(n))
        seen.add(id(n))
        names.add(n.name)
    for v in graph.inputs:
        p = _producer_problem(v, seen)
        if p:
            out.append(f"graph input {v!r} {p}")
        elif v.node.kind != ir.INPUT:
            out.append(f"graph input {v!r} is produced by a {v.node.kind} node, not an input node")
    for v in graph.outputs:
        p = _producer_problem(v, seen) if isinstance(v, ir.Value) else "is not a graph Value"
        if p:
            out.append(f"graph output {v!r} {p}")
    for n in graph.state_writes:  # assigns (or, for a Session, any target node run for its effect)
        if not isinstance(n, ir.Node):
            out.append(f"state write {n!r} is not a node")
        elif id(n) not in seen:  # kept outside the node list (runs after it): its input must be in the graph
            for a in n.inputs:
                p = _producer_problem(a, seen) if isinstance(a, ir.Value) else None
                if p:
                    out.append(f"state write '{n.name}' reads {a!r}, which {p}")
    return out


def _producer_problem(v, seen):
    if id(v.node) not in seen:
        return f"is produced by '{v.node.name}', which is not an earlier node of this graph"
    if v.index >= len(v.node.values) or v.node.values[v.index] is not v:
        return f"is not one of the outputs of its node '{v.node.name}'"
    return None


def _node_problems(n):
    kind = n.kind
    if kind == ir.OP:
        return _op_problems(n)
    if kind == ir.INPUT and n.inputs:
        return [f"input node '{n.name}' has inputs"]
    if kind == ir.CONST:
        val = n.attrs.get("value")
        if val is None or not hasattr(val, "shape"):
            return [f"constant '{n.name}' has no array value"]
        v = n.out
        if tuple(val.shape) != v.shape or np.dtype(val.dtype) != np.dtype(v.dtype):
            return [f"constant '{n.name}' holds {val.dtype}{list(val.shape)} but is typed {_type(v.shape, v.dtype)}"]
    if kind in (ir.READ, ir.ASSIGN) and "slot" not in n.attrs:
        return [f"{kind} node '{n.name}' has no slot"]
    if kind == ir.ASSIGN and (len(n.inputs) != 1 or not isinstance(n.inputs[0], ir.Value)):
        return [f"assign node '{n.name}' must read exactly one value"]
    if kind == ir.HOST and "fn" not in n.attrs and "get" not in n.attrs:
        return [f"host node '{n.name}' has neither fn nor get"]
    return []


def _op_problems(n):
    op = n.op
    if op is None or not callable(getattr(op, "shape", None)):
        return [f"op node '{n.name}' has no op with a shape rule"]
    specs, sig = [], []
    for a in n.inputs:
        if isinstance(a, ir.Value):
            if a.dtype is float or a.dtype is int:  # a host scalar: a Python number at run time
                specs.append(a.dtype(1))
                sig.append(a.dtype)
            else:
                specs.append(ShapeDtype(a.shape, dt.from_numpy_dtype(a.dtype)))
                sig.append(zero_dim(a.dtype) if a.shape == () else a.dtype)
        else:
            specs.append(a)
            sig.append(type(a))
    sig = tuple(sig)
    where = f" (created at {n.where()})" if n.frame else ""
    try:
        rule = op.shape(*specs, **n.attrs)
        out_dtypes = op.out_dtype(sig)
        if REGISTRY.get(op.name) is op:
            casts = op._casts[sig] if sig in op._casts else op.casts_for(sig)
        else:  # an op made by a pass (a fused kernel): its casts are its own business
            casts = n.casts
    except Exception as e:  # the op's own rules reject these inputs
        return [f"{op.name} '{n.name}': its rules reject the inputs {_sig_text(n)}: {e}{where}"]
    rules = rule if op.nout > 1 else (rule,)
    out_dtypes = out_dtypes if isinstance(out_dtypes, tuple) else (out_dtypes,) * op.nout
    if len(rules) != len(n.values):
        return [f"{op.name} '{n.name}' has {len(n.values)} outputs, its op has {len(rules)}{where}"]
    found = []
    for v, r, d in zip(n.values, rules, out_dtypes):
        if isinstance(r, ShapeDtype):
            r, d = r.shape, r.dtype
        want_shape = None if r is None else tuple(r)
        want_dtype = np.dtype(d.np)
        if want_shape != v.shape or want_dtype != np.dtype(v.dtype):
            found.append(
                f"{op.name} '{n.name}' output {v.index} is typed {_type(v.shape, v.dtype)}, but its rules give "
                f"{_type(want_shape or (), want_dtype)} for inputs {_sig_text(n)}{where}"
            )
    if not _same_casts(casts, n.casts):
        found.append(f"{op.name} '{n.name}' records kernel casts {n.casts}, its dtype rule gives {casts}{where}")
    return found


def _same_casts(a, b):
    if a is None or b is None:
        return a is None and b is None
    return len(a) == len(b) and all(
        (x is None and y is None) or (x is not None and y is not None and np.dtype(x) == np.dtype(y))
        for x, y in zip(a, b)
    )


def _type(shape, dtype):
    return ir.type_str(shape, dtype)


def _sig_text(n):
    return "(" + ", ".join(_type(a.shape, a.dtype) if isinstance(a, ir.Value) else repr(a) for a in n.inputs) + ")"
