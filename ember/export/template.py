"""A graph template: the part of a graph an exported model needs, independent of one batch size.

``from_graph`` cuts the nodes that compute the outputs from the fed inputs out
of an IR graph, turning state reads and constants into arrays. ``instantiate``
rebuilds an IR graph at a given batch size, re-deriving each op's casts and
output dtypes with the same rules as graph building and checking its shape
rule against the recorded shapes, so a corrupted file fails at load time with
an error naming the node, not somewhere inside a kernel.
"""

from __future__ import annotations

import inspect

import numpy as np

from ..graph import build, ir
from ..op import REGISTRY, ShapeDtype
from .graph_json import HOST_FUNCTIONS, host_function_name, substitute


class Ref:
    """Output ``out`` of template node ``node`` (an edge)."""

    __slots__ = ("node", "out")

    def __init__(self, node, out):
        self.node, self.out = node, out

    def __eq__(self, other):
        return isinstance(other, Ref) and (self.node, self.out) == (other.node, other.out)

    def __hash__(self):
        return hash((self.node, self.out))


class TNode:
    """kind: input | op | const | read | fill | host. ``value``: the array (const/read) or fill scalar."""

    __slots__ = ("name", "kind", "op", "inputs", "attrs", "outputs", "value", "fn", "key")

    def __init__(self, name, kind, outputs, op=None, inputs=(), attrs=None, value=None, fn=None, key=None):
        self.name, self.kind, self.outputs = name, kind, list(outputs)
        self.op, self.inputs, self.attrs = op, list(inputs), dict(attrs or {})
        self.value, self.fn, self.key = value, fn, key


class Template:
    def __init__(self, nodes, inputs, outputs):
        self.nodes = nodes
        self.inputs = inputs  # [(name, node index)]
        self.outputs = outputs  # [(name, Ref)]


def needed_nodes(graph, fetches, fed):
    """The nodes ``fetches`` need, stopping at fed values; control edges are not followed (inference)."""
    need, stack = set(), [v.node for v in fetches]
    fed_nodes = {v.node.id for v in fed}
    while stack:
        n = stack.pop()
        if n.id in need:
            continue
        need.add(n.id)
        if n.id in fed_nodes:
            continue
        stack.extend(a.node for a in n.inputs if isinstance(a, ir.Value))
    return [n for n in graph.nodes if n.id in need]


def from_graph(graph, inputs, outputs, read_slot):
    """A Template of ``graph``: ``inputs``/``outputs`` are [(name, ir.Value)]; ``read_slot(slot)`` its array."""
    fed = {v: name for name, v in inputs}
    nodes, index = [], {}
    in_index = {}
    for n in needed_nodes(graph, [v for _, v in outputs], [v for _, v in inputs]):
        outs = [(v.shape, v.dtype) for v in n.values]
        if any(v in fed for v in n.values):
            if len(n.values) != 1:
                raise ValueError(f"input {fed[n.values[0]]!r}: node '{n.name}' has several outputs; feed a single one")
            t = TNode(n.name, "input", outs)
            in_index[fed[n.values[0]]] = len(nodes)
        elif n.kind == ir.OP:
            args = [Ref(index[a.node.id], a.index) if isinstance(a, ir.Value) else a for a in n.inputs]
            t = TNode(n.name, "op", outs, op=n.op.name, inputs=args, attrs=n.attrs)
        elif n.kind == ir.CONST:
            t = TNode(n.name, "const", outs, value=np.asarray(n.attrs["value"]))
        elif n.kind == ir.READ:
            slot = n.attrs["slot"]
            arr = read_slot(slot)
            if arr is None:
                raise ValueError(f"cannot export node '{n.name}': its state {slot.name} is uninitialized")
            t = TNode(n.name, "read", outs, value=np.asarray(arr), key=slot.name)
        elif n.kind == ir.HOST:
            fn = n.attrs.get("fn")
            fname = host_function_name(fn) if fn is not None else None
            if fname is None:
                what = getattr(fn, "__qualname__", None) or "a value read at run time (attrs['get'])"
                raise ValueError(
                    f"cannot export host node '{n.name}': it calls {what}, which is not a known function "
                    f"(allowed: {sorted(HOST_FUNCTIONS)})"
                )
            args = [Ref(index[a.node.id], a.index) if isinstance(a, ir.Value) else a for a in n.inputs]
            t = TNode(n.name, "host", outs, inputs=args, fn=fname)
        elif n.kind == ir.INPUT:
            raise ValueError(
                f"the outputs need placeholder '{n.name}' (shape {list(n.out.shape)}), which is not among the inputs"
            )
        else:
            raise ValueError(f"cannot export node '{n.name}' of kind {n.kind!r}: an inference graph has no {n.kind}")
        index[n.id] = len(nodes)
        nodes.append(t)
    tin = [(name, in_index[name]) for name, _ in inputs if name in in_index]
    missing = [name for name, _ in inputs if name not in in_index]
    if missing:
        raise ValueError(f"inputs {missing} are not used by any output")
    tout = [(name, Ref(index[v.node.id], v.index)) for name, v in outputs]
    return Template(nodes, tin, tout)


# ---- rebuilding a graph ------------------------------------------------------------------------
def _bad(node, msg):
    return ValueError(f"graph.json: node '{node.name}': {msg}")


def _compatible(want, got):
    return len(want) == len(got) and all(w is None or g is None or w == g for w, g in zip(want, got))


_signatures = {}


def _signature_of(op):
    sig = _signatures.get(op.name)
    if sig is None:
        sig = _signatures[op.name] = inspect.signature(op.impl)
    return sig


def _check_arguments(op, inputs, attrs):
    """The kernel's arity, (xp, *arrays, **attrs), and None only where the kernel's default is None."""
    sig = _signature_of(op)
    bound = sig.bind(None, *inputs, **attrs)
    for name, value in list(bound.arguments.items())[1:]:
        p = sig.parameters[name]
        if p.kind is p.VAR_POSITIONAL:
            if any(v is None for v in value):
                raise TypeError(f"None is not a valid operand of {op.name}")
        elif p.kind is not p.VAR_KEYWORD and name not in attrs and value is None and p.default is not None:
            raise TypeError(f"argument {name!r} of {op.name} cannot be None")


def add_op(graph, t, inputs, batch):
    """Add template op node ``t`` as graph building would: casts and dtypes from the op's own rules."""
    op = REGISTRY.get(t.op)
    if op is None:
        raise _bad(t, f"unknown op {t.op!r}")
    attrs = substitute(t.attrs, batch)
    specs, sig = [], []
    for a in inputs:
        if isinstance(a, ir.Value):
            specs.append(build._spec(a))
            sig.append(build._sig(a))
        else:
            if isinstance(a, np.generic):
                a = a.item()
            if a is not None and not isinstance(a, (bool, int, float)):
                raise _bad(t, f"op {op.name}: an operand must be a tensor or a number, got {type(a).__name__}")
            specs.append(a)
            sig.append(type(a))
    sig = tuple(sig)
    try:
        _check_arguments(op, inputs, attrs)
        casts = op.casts_for(sig)
        out_dtypes = op.out_dtype(sig)
        rule = op.shape(*specs, **attrs)
    except Exception as e:  # a corrupted file can make a rule fail in any way: report it cleanly
        raise _bad(t, f"op {op.name} does not accept these inputs/attrs: {type(e).__name__}: {e}") from None
    rules = rule if op.nout > 1 else (rule,)
    out_dtypes = out_dtypes if isinstance(out_dtypes, tuple) else (out_dtypes,) * op.nout
    if not isinstance(rules, (tuple, list)) or len(rules) != len(t.outputs):
        raise _bad(t, f"op {op.name} has {op.nout} outputs, the file records {len(t.outputs)}")
    outs = []
    for (want, want_dtype), r, d in zip(t.outputs, rules, out_dtypes):
        if isinstance(r, ShapeDtype):
            r, d = r.shape, r.dtype
        want = tuple(substitute(list(want), batch))
        if r is None or not _compatible(want, tuple(r)):
            raise _bad(t, f"op {op.name} gives shape {None if r is None else list(r)}, the file records {list(want)}")
        if np.dtype(d.np) != want_dtype:
            raise _bad(t, f"op {op.name} gives dtype {d.name}, the file records {np.dtype(want_dtype).name}")
        outs.append((want, d.np))
    return graph.add(ir.OP, op, inputs, attrs, outs, name=t.name, casts=casts)


def instantiate(template, batch, graph=None, store=None, slot_type=ir.Slot):
    """An IR graph for ``template`` at ``batch`` (None when it has no batch dims).

    Returns (graph, input Values, output Values, store); reads get ``slot_type`` slots whose arrays go
    in ``store`` (a Session's store when loading into one).
    """
    graph = ir.Graph(name="exported") if graph is None else graph
    store = {} if store is None else store
    values = []
    for t in template.nodes:
        outs = [(tuple(substitute(list(s), batch)), d) for s, d in t.outputs]
        if t.kind == "input":
            node = graph.add(ir.INPUT, None, (), {}, outs, name=t.name)
            graph.inputs.append(node.out)
        elif t.kind == "op":
            args = [values[a.node][a.out] if isinstance(a, Ref) else substitute(a, batch) for a in t.inputs]
            node = add_op(graph, t, args, batch)
        elif t.kind == "const":
            node = graph.add(ir.CONST, None, (), {"value": t.value}, outs, name=t.name)
        elif t.kind == "fill":
            shape, d = outs[0]
            node = graph.add(ir.CONST, None, (), {"value": np.full(shape, t.value, dtype=d)}, outs, name=t.name)
        elif t.kind == "read":
            shape, d = outs[0]
            slot = slot_type(t.key, shape, d)
            store[slot] = t.value
            node = graph.add(ir.READ, None, (), {"slot": slot}, outs, name=t.name)
        elif t.kind == "host":
            args = [values[a.node][a.out] if isinstance(a, Ref) else a for a in t.inputs]
            node = graph.add(ir.HOST, None, args, {"fn": HOST_FUNCTIONS[t.fn]}, outs, name=t.name)
        else:
            raise _bad(t, f"unknown node kind {t.kind!r}")
        values.append(node.values)
    ins = [values[i][0] for _, i in template.inputs]
    outs = [values[r.node][r.out] for _, r in template.outputs]
    graph.outputs = list(outs)
    return graph, ins, outs, store
