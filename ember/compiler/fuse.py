"""Element-wise fusion: chains of element-wise ops that compute into one buffer, in place.

A chain ``mul -> add -> relu`` where each value feeds only the next op becomes
one group: the first op writes a buffer and every later op overwrites it
(``np.multiply(a, b, out=t); np.add(t, c, out=t); np.maximum(t, 0, out=t)``).
Each op still runs as its own ufunc in program order, so results are bitwise
those of the graph interpreter; the win is one buffer instead of one per op.
The pass only annotates (``graph.fusion_groups``); memory planning and code
generation read the groups.
"""

from __future__ import annotations

from ..graph import ir
from ..graph.execute import plan
from ..op import ELEMENTWISE
from .kernels import template_for


def static(nodes):
    """Every value has a known shape: buffers can be sized when the code is generated."""
    return all(None not in v.shape for n in nodes for v in n.values)


def targets_of(graph):
    return list(graph.state_writes)


def exec_nodes(graph, outputs=None, targets=None):
    """The nodes one call runs, in program order (what ``execute.run`` would run)."""
    outputs = list(graph.outputs if outputs is None else outputs)
    targets = list(targets_of(graph) if targets is None else targets)
    nodes = plan(graph, outputs, targets)
    have = set(map(id, nodes))
    nodes += [t for t in targets if id(t) not in have]  # state writes kept outside graph.nodes
    return nodes


def fingerprint(nodes, outputs):
    """Identifies the node list an annotation was computed for (passes may rewrite the graph)."""
    return (tuple(id(n) for n in nodes), tuple(id(v) for v in outputs))


def find_groups(nodes, outputs):
    """Chains of element-wise template ops, each value consumed only by the next op of its chain."""
    if not static(nodes):
        return []
    consumers = {}
    for n in nodes:
        for a in n.inputs:
            if isinstance(a, ir.Value):
                consumers.setdefault(a, set()).add(n)
    controls = {id(c) for n in nodes for c in n.control}
    pos = {id(n): i for i, n in enumerate(nodes)}
    assigns = [i for i, n in enumerate(nodes) if n.kind == ir.ASSIGN]
    escaping = set(outputs)
    chain_of = {}  # id(node) -> its chain (a list), for chain tails
    chains = []
    for n in nodes:
        t = template_for(n)
        if t is None or t.into is None or n.op.kind != ELEMENTWISE:
            continue
        chain = None
        for i in t.inplace:
            a = n.inputs[i]
            if not isinstance(a, ir.Value) or a.node.kind != ir.OP:
                continue
            p = a.node
            c = chain_of.get(id(p))
            if c is None or c[-1] is not p:
                continue
            at = [j for j, b in enumerate(n.inputs) if b is a]
            if (
                consumers.get(a) == {n}
                and a not in escaping
                and id(p) not in controls
                and a.shape == n.out.shape
                and a.dtype == n.out.dtype
                and all(j in t.inplace and (n.casts is None or n.casts[j] is None) for j in at)
                and (not t.exclusive or len(at) == 1)
                and not any(pos[id(p)] < k < pos[id(n)] for k in assigns)  # never move an op past a state write
            ):
                chain = c
                break
        if chain is None:
            chain = [n]
            chains.append(chain)
        else:
            chain.append(n)
        chain_of[id(n)] = chain
    return [tuple(c) for c in chains if len(c) > 1]


def emission_order(nodes, groups):
    """Program order with each group's members moved down to its last member, run back to back."""
    member = {}
    for g in groups:
        for n in g[:-1]:
            member[id(n)] = g
    sinks = {id(g[-1]): g for g in groups}
    out = []
    for n in nodes:
        if id(n) in member:
            continue
        g = sinks.get(id(n))
        out.extend(g if g is not None else (n,))
    return out


def fuse_elementwise(graph: ir.Graph) -> ir.Graph:
    """Pass: annotate the element-wise chains (``graph.fusion_groups``); nodes are not touched."""
    nodes = exec_nodes(graph)
    g = graph.copy_with(graph.nodes)
    g.fusion_groups = find_groups(nodes, g.outputs)
    g.fusion_key = fingerprint(nodes, g.outputs)
    return g


def groups_for(graph, nodes, outputs):
    """The graph's fusion groups if they were computed for exactly these nodes, else fresh ones."""
    if getattr(graph, "fusion_key", None) == fingerprint(nodes, outputs):
        return graph.fusion_groups
    return find_groups(nodes, outputs)
