"""Building a new Graph from an old one: the one way passes change graphs.

Passes are pure functions ``Graph -> Graph``: they never mutate a Node of the
graph they are given. A ``Rewriter`` walks the old graph in program order;
each old node is kept (shared as is when none of its inputs changed, else
copied with its inputs remapped), dropped, or replaced by other values. Nodes
that are kept unchanged keep their identity, so fed inputs (``graph.inputs``)
and every untouched Value stay valid keys for ``feeds`` and ``record``.
"""

from __future__ import annotations

from ..graph import ir


class Rewriter:
    """Collects the nodes of the new graph while a pass walks the old one."""

    def __init__(self, graph):
        self.old = graph
        self.new = graph.copy_with([])
        self.new._names = dict(graph._names)  # new names must not leak into the old graph
        self.vmap = {}  # old Value -> Value in the new graph (absent: unchanged)
        self.nmap = {}  # old node id -> new Node (absent: same node, or dropped)
        self.dropped = set()  # old node ids that are gone
        self.origin = {}  # new Value -> the old Value it stands for (for reasoning about roots)

    # ---- looking up ----------------------------------------------------------------
    def value(self, a):
        """The new-graph Value standing for old Value ``a`` (literals pass through)."""
        if isinstance(a, ir.Value):
            return self.vmap.get(a, a)
        return a

    def inputs(self, node):
        return tuple(self.value(a) for a in node.inputs)

    def control(self, node):
        out = []
        for c in node.control:
            if c.id in self.dropped:  # replaced: wait for whatever now computes its value, if anything
                v = self.vmap.get(c.values[0]) if c.values else None
                if v is None:
                    continue
                c = v.node
            c = self.nmap.get(c.id, c)
            if c not in out:
                out.append(c)
        return tuple(out)

    # ---- deciding each old node's fate ---------------------------------------------------
    def keep(self, node):
        """Put ``node`` in the new graph: itself if nothing it reads changed, else a remapped copy."""
        inputs = self.inputs(node)
        control = self.control(node)
        same = all(a is b for a, b in zip(inputs, node.inputs)) and control == tuple(node.control)
        if same:
            self.new.nodes.append(node)
            return node
        new = self.copy(node, inputs, control)
        self.new.nodes.append(new)
        return new

    def copy(self, node, inputs, control=None):
        """A new Node like ``node`` (same name, op, attrs, casts, line) reading ``inputs``; not appended."""
        new = ir.Node.__new__(ir.Node)
        new.graph = self.new
        new.id = next(self.new._ids)
        new.kind = node.kind
        new.op = node.op
        new.inputs = tuple(inputs)
        new.attrs = node.attrs
        new.values = [ir.Value(new, v.index, v.shape, v.dtype) for v in node.values]
        new.name = node.name
        new.frame = node.frame
        new.casts = node.casts
        new.control = tuple(self.control(node) if control is None else control)
        new.meta = dict(node.meta)
        self.nmap[node.id] = new
        for old_v, new_v in zip(node.values, new.values):
            self.vmap[old_v] = new_v
            self.origin[new_v] = old_v
        return new

    def drop(self, node):
        self.dropped.add(node.id)

    def replace(self, node, values):
        """Drop ``node``; its outputs become ``values`` (new-graph Values, e.g. from ``self.value``)."""
        assert len(values) == len(node.values), (node, values)
        self.dropped.add(node.id)
        for old_v, new_v in zip(node.values, values):
            self.vmap[old_v] = new_v
            self.origin.setdefault(new_v, old_v)

    def emit(self, kind, op, inputs, attrs, like, *, casts=None, name=None):
        """Append a brand-new node with ``like``'s output types and source line; return it."""
        node = ir.Node.__new__(ir.Node)
        node.graph = self.new
        node.id = next(self.new._ids)
        node.kind = kind
        node.op = op
        node.inputs = tuple(inputs)
        node.attrs = attrs
        node.values = [ir.Value(node, v.index, v.shape, v.dtype) for v in like.values]
        node.name = name or self.new.unique_name(op.name if kind == ir.OP else kind)
        node.frame = like.frame
        node.casts = casts
        node.control = ()
        node.meta = {}
        self.new.nodes.append(node)
        return node

    def finish(self):
        g = self.new
        g.outputs = [self.value(v) for v in self.old.outputs]
        listed = {id(n) for n in self.old.nodes}
        g.state_writes = []
        for n in self.old.state_writes:
            if n.id in self.dropped:
                continue
            if id(n) not in listed:  # a state write kept outside the node list: remap its input
                n = self.copy(n, self.inputs(n)) if self.inputs(n) != n.inputs else n
            g.state_writes.append(self.nmap.get(n.id, n))
        g.inputs = [self.value(v) for v in self.old.inputs]
        return g


def rebuild(graph, replace=None, drop=()):
    """A new graph without the nodes in ``drop`` and with old Values mapped by ``replace``."""
    rw = Rewriter(graph)
    replace = replace or {}
    drop = {n.id if isinstance(n, ir.Node) else n for n in drop}
    for n in graph.nodes:
        if n.id in drop:
            rw.drop(n)
        elif any(v in replace for v in n.values):
            rw.replace(n, [rw.value(replace.get(v, v)) for v in n.values])
        else:
            rw.keep(n)
    return rw.finish()


def root_values(graph):
    """Values whose arrays leave the graph: outputs and what ASSIGN nodes write into state."""
    roots = set(graph.outputs)
    for n in list(graph.nodes) + list(graph.state_writes):
        if n.kind == ir.ASSIGN:
            roots.update(a for a in n.inputs if isinstance(a, ir.Value))
    return roots


def consumers(graph):
    """Value -> number of reads by nodes of ``graph`` (plus one per appearance as an output)."""
    count = {}
    for n in graph.nodes:
        for a in n.inputs:
            if isinstance(a, ir.Value):
                count[a] = count.get(a, 0) + 1
    for v in graph.outputs:
        count[v] = count.get(v, 0) + 1
    return count
