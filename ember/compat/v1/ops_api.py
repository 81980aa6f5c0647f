"""TF1's graph-structure API: Operation, group/no_op/identity, control_dependencies, name_scope, gradients.

An ``Operation`` is a thin view of an ``ember.graph`` node with TF's names
(``name``, ``type``, ``inputs``, ``outputs``, ``run``). Control dependencies
and name scopes are the graph's own stacks (``Graph.control``, ``Graph.scope``),
which ``Graph.add`` reads for every node it creates.
"""

from __future__ import annotations

import contextlib

from ...graph import ir
from ...graph.build import symbolic_tensor
from ...graph.symbolic import Symbolic
from ...tensor import Tensor as _EmberTensor
from .framework import building, convert_to_tensor, get_default_graph

# TF's op type names for the node kinds that are not table ops
_KIND_TYPES = {
    ir.INPUT: "Placeholder",
    ir.CONST: "Const",
    ir.READ: "VariableV2",
    ir.ASSIGN: "Assign",
    ir.HOST: "HostScalar",
    ir.GROUP: "NoOp",
}


class Operation:
    """tf.Operation: a node of the graph. Two wrappers of one node are equal."""

    __slots__ = ("_node",)

    def __init__(self, node):
        self._node = node

    @property
    def name(self):
        return self._node.name

    @property
    def type(self):
        n = self._node
        return n.op.name if n.kind == ir.OP else _KIND_TYPES.get(n.kind, n.kind)

    @property
    def graph(self):
        return self._node.graph

    @property
    def inputs(self):
        return [symbolic_tensor(a) for a in self._node.inputs if isinstance(a, ir.Value)]

    @property
    def outputs(self):
        return [symbolic_tensor(v) for v in self._node.values]

    @property
    def control_inputs(self):
        return [Operation(n) for n in self._node.control]

    @property
    def node_def(self):
        return self._node

    def get_attr(self, name):
        return self._node.attrs[name]

    def run(self, feed_dict=None, session=None):
        """Run this op in ``session`` or the default session (returns None, like TF)."""
        from .session import _session_for

        _session_for(session, self.graph, "Operation.run()").run(self, feed_dict=feed_dict)

    def __eq__(self, other):
        return isinstance(other, Operation) and other._node is self._node

    def __hash__(self):
        return hash(self._node)

    def __repr__(self):
        return f"<tf.Operation '{self.name}' type={self.type}>"


def node_of(x):
    """The graph node behind an Operation, Tensor or Variable (what control deps and group take)."""
    if isinstance(x, Operation):
        return x._node
    if isinstance(x, ir.Node):
        return x
    init = getattr(x, "_control_node", None)
    if init is not None:
        return init()
    d = getattr(x, "_data", None)
    if isinstance(d, Symbolic):
        return d.value.node
    raise TypeError(f"Can not convert a {type(x).__name__} into an Operation or Tensor of the graph: {x!r}")


def _flatten(items):
    out = []
    stack = [items]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(reversed(x))
        elif isinstance(x, dict):
            stack.extend(reversed(list(x.values())))
        elif x is not None:
            out.append(x)
    return out


def rename(node, name):
    """Give a node the user's ``name=`` (uniquified in the current name scope, as TF does)."""
    if name:
        node.name = node.graph.unique_name(name)
    return node


def _group_node(graph, deps, name):
    node = graph.add(ir.GROUP, None, (), {}, [], name=name)
    node.control = tuple(node.control) + tuple(d for d in deps if d not in node.control)
    return node


def group(*inputs, name=None):
    """One op that runs all of ``inputs`` (tensors or ops); fetching it returns None."""
    g = get_default_graph()
    deps = [node_of(x) for x in _flatten(list(inputs))]
    for d in deps:
        if d.graph is not g and g is not None:
            g = d.graph
            break
    return Operation(_group_node(g, deps, name or "group_deps"))


def no_op(name=None):
    return Operation(_group_node(get_default_graph(), [], name or "NoOp"))


def identity(input, name=None):  # noqa: A002 - TF's argument name
    """A new tensor with ``input``'s value (a new node: control dependencies apply to it)."""
    from ... import ops as F

    x = convert_to_tensor(input)
    with building(x.graph):
        out = F.clone(x)
    rename(out._data.value.node, name or "Identity")
    return out


def tuple_(tensors, name=None, control_inputs=None):
    """tf.tuple: the same tensors, each available only after all of them (and control_inputs) ran."""
    g = get_default_graph()
    gate = group(*(list(tensors) + list(control_inputs or [])), name=name or "tuple")
    out = []
    with control_dependencies([gate]):
        for t in tensors:
            out.append(None if t is None else identity(t))
    del g
    return out


@contextlib.contextmanager
def control_dependencies(control_inputs):
    """Nodes created inside run after ``control_inputs``; ``None`` clears the outer ones (as TF)."""
    g = get_default_graph()
    if control_inputs is None:
        saved, g.control = g.control, []
        try:
            yield
        finally:
            g.control = saved
        return
    deps = [node_of(x) for x in _flatten(list(control_inputs))]
    g.control.append(deps)
    try:
        yield
    finally:
        g.control.pop()


@contextlib.contextmanager
def name_scope(name, default_name=None, values=None):
    """Prefix op names with ``name/``; a used scope name becomes ``name_1`` (TF's rule).

    A name ending in "/" re-enters that exact scope; ``None`` resets to the top level.
    Yields the scope string with its trailing slash, as TF does.
    """
    g = get_default_graph()
    name = name if name is not None else default_name
    saved = list(g.scope)
    if name is None or name == "":
        g.scope = []
        try:
            yield ""
        finally:
            g.scope = saved
        return
    if name.endswith("/"):
        g.scope = [name[:-1]]
    else:
        full = g.unique_name(name)
        g.scope = [full]
    try:
        yield g.scope[0] + "/"
    finally:
        g.scope = saved


def get_name_scope():
    g = get_default_graph()
    return "/".join(g.scope)


# ---- tf.gradients ------------------------------------------------------------------------------
def _grad_sources(x):
    """The graph values that stand for ``x``: every read of a Variable, or the tensor itself."""
    reads = getattr(x, "_all_reads", None)
    if reads is not None:
        return [symbolic_tensor(v) for v in reads()]
    t = convert_to_tensor(x)
    return [t]


def gradients(ys, xs, grad_ys=None, name="gradients", colocate_gradients_with_ops=False, gate_gradients=False,
              aggregation_method=None, stop_gradients=None):  # fmt: skip
    """tf.gradients: a list with d(sum ys)/dx for each x (None where x does not reach ys).

    Built from the op table's VJPs by ``ember.graph.gradients``; for a Variable
    the gradients through all of its reads are summed, as TF does for its handle.
    """
    from ...graph.autodiff import gradients as _graph_gradients

    del name, colocate_gradients_with_ops, gate_gradients, aggregation_method
    if stop_gradients is not None:
        raise NotImplementedError("tf.gradients(stop_gradients=...): use tf.stop_gradient in the graph instead")
    ys = list(ys) if isinstance(ys, (list, tuple)) else [ys]
    xs = list(xs) if isinstance(xs, (list, tuple)) else [xs]
    ys = [convert_to_tensor(y) for y in ys]
    g = ys[0].graph
    if grad_ys is not None:
        grad_ys = list(grad_ys) if isinstance(grad_ys, (list, tuple)) else [grad_ys]
        grad_ys = [
            None if gy is None else convert_to_tensor(gy, dtype=y.dtype)
            if not isinstance(gy, _EmberTensor) else gy
            for gy, y in zip(grad_ys, ys)
        ]  # fmt: skip
    sources = [_grad_sources(x) for x in xs]
    flat = [s for group_ in sources for s in group_]
    with building(g):
        flat_grads = _graph_gradients(ys, flat, grad_ys) if flat else []
        out, i = [], 0
        for group_ in sources:
            parts = [gr for gr in flat_grads[i : i + len(group_)] if gr is not None]
            i += len(group_)
            total = None
            for p in parts:
                total = p if total is None else total + p
            out.append(total)
    return out
