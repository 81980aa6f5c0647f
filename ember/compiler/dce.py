"""Dead-code elimination: keep only what the graph's roots need.

Roots are ``graph.outputs`` (for a TF1 Session graph, the caller passes the
fetches as outputs) and ``graph.state_writes``; assigns and groups that are
not listed are dead like any other node. Everything a root reads, directly or
through control dependencies, stays; unneeded host getters and random ops go
too. Input nodes always stay: they are the graph's signature. A graph with no
roots at all is returned unchanged (nothing says what it is for).
"""

from __future__ import annotations

from ..graph import ir
from .rewrite import Rewriter


def dce(graph):
    if not graph.outputs and not graph.state_writes:
        return graph
    live = live_nodes(graph)
    if all(n.id in live or n.kind == ir.INPUT for n in graph.nodes):
        return graph
    rw = Rewriter(graph)
    for n in graph.nodes:
        if n.id in live or n.kind == ir.INPUT:
            rw.keep(n)
        else:
            rw.drop(n)
    return rw.finish()


def live_nodes(graph):
    """Ids of the nodes the outputs and state writes need (an iterative walk: long graphs are fine)."""
    live = set()
    stack = [v.node for v in graph.outputs] + list(graph.state_writes)
    while stack:
        n = stack.pop()
        if n.id in live:
            continue
        live.add(n.id)
        stack.extend(a.node for a in n.inputs if isinstance(a, ir.Value))
        stack.extend(n.control)
    return live
