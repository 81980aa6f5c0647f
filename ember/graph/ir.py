"""The graph IR: a Graph of Nodes over the op table, shared by the TF1 API and ``ember.compile``.

A Node is one op applied to Values (outputs of earlier nodes) and literal
attributes, with its output shapes/dtypes and the user's source line. Nodes
are kept in creation order, which is always a topological order and is the
program order used to run them. Besides table ops there are a few node kinds
the graph itself needs: fed inputs, constants, state reads and writes
(variables, captured tensors), host scalars and groups. ``print(graph)``
shows it as a program; ``graph.to_dot()`` as Graphviz.
"""

from __future__ import annotations

import itertools

import numpy as np

OP = "op"  # a table primitive: node.op is an ember.op.Op
INPUT = "input"  # a value fed at run time (placeholder, traced argument)
CONST = "const"  # attrs["value"] is the array
READ = "read"  # reads state: attrs["slot"]
ASSIGN = "assign"  # writes inputs[0] to attrs["slot"]; its output is the new value
HOST = "host"  # a Python scalar: attrs["fn"](*inputs) or, with no inputs, attrs["get"]()
GROUP = "group"  # no output: runs its inputs (tf.group, a train op)


class Value:
    """One output of a node: what flows along an edge."""

    __slots__ = ("node", "index", "shape", "dtype")

    def __init__(self, node, index, shape, dtype):
        self.node = node
        self.index = index
        self.shape = tuple(shape)
        self.dtype = dtype  # a NumPy dtype, or the Python type float/int for a host scalar

    @property
    def name(self):
        return f"{self.node.name}:{self.index}"

    def __repr__(self):
        return f"%{self.node.name}" + (f".{self.index}" if len(self.node.values) > 1 else "")


class Slot:
    """A piece of state a graph reads and writes (a TF1 Variable, a captured eager tensor)."""

    def __init__(self, name, shape, dtype):
        self.name = name
        self.shape = tuple(shape)
        self.dtype = dtype

    def read(self, store):
        return store[self]

    def write(self, store, array):
        store[self] = array

    def __repr__(self):
        return self.name


class TensorSlot(Slot):
    """State that lives in an eager Tensor (a parameter, an optimizer buffer, a .grad)."""

    def __init__(self, name, tensor, attr="_data"):
        self.tensor = tensor
        self.attr = attr  # "_data", or "grad" for the tensor's gradient
        arr = tensor._data if attr == "_data" else tensor.grad._data
        super().__init__(name, arr.shape, arr.dtype)

    def read(self, store):
        if self.attr == "_data":
            return self.tensor._data
        g = self.tensor.grad
        return None if g is None else g._data

    def write(self, store, array):
        if self.attr == "_data":
            t = self.tensor
            if t._data.shape == array.shape and t._data.dtype == array.dtype:
                t._data[...] = array  # in place: views and optimizers holding it see the update
            else:
                t._data = array
            t._bump_version()
        else:
            from ..tensor import _make

            g = self.tensor.grad
            if g is not None and g._data.shape == array.shape and g._data is not array:
                g._data[...] = array
            else:
                self.tensor.grad = _make(array)


class Node:
    __slots__ = ("graph", "id", "kind", "op", "inputs", "attrs", "values", "name", "frame", "casts", "control", "meta")

    def __init__(self, graph, kind, op, inputs, attrs, outs, name, frame=None, casts=None, control=()):
        self.graph = graph
        self.id = next(graph._ids)
        self.kind = kind
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = attrs
        self.values = [Value(self, i, s, d) for i, (s, d) in enumerate(outs)]
        self.name = name
        self.frame = frame  # (filename, lineno, source line) where the user created it
        self.casts = casts  # per-input NumPy dtypes the kernel wants (resolved once, like eager)
        self.control = tuple(control)  # nodes that must run first (tf.control_dependencies)
        self.meta = {}

    @property
    def out(self):
        return self.values[0]

    @property
    def op_name(self):
        return self.op.name if self.kind == OP else self.kind

    def arg_values(self):
        return [a for a in self.inputs if isinstance(a, Value)]

    def where(self):
        if not self.frame:
            return ""
        f, line, src = self.frame
        return f"{f}:{line}" + (f": {src}" if src else "")

    def __repr__(self):
        return f"<Node {self.name} ({self.op_name})>"


class Graph:
    """Nodes in creation (= topological = program) order, plus TF1's bookkeeping."""

    def __init__(self, name="graph"):
        self.name = name
        self.nodes: list[Node] = []
        self._ids = itertools.count()
        self._names: dict[str, int] = {}
        self.finalized = False
        self.finalized_by = None
        self.runs = 0  # Session.run calls so far (note_run): ops built between runs are watched
        self._built_after = {}  # user call stack -> the run count when it last added a node
        self.collections: dict[str, list] = {}
        self.inputs: list[Value] = []  # fed values, in declaration order
        self.outputs: list[Value] = []  # for traced/compiled graphs: what the function returns
        self.state_writes: list[Node] = []  # for traced graphs: ASSIGN nodes run after each call
        self.scope: list[str] = []  # name_scope stack
        self.control: list[list[Node]] = []  # control_dependencies stack
        self.seed = None  # graph-level random seed (tf.set_random_seed)
        self._op_seed = 0
        from ..tensor import Tensor

        self.tensor_class = Tensor  # what ops on this graph return (compat.v1 uses a TF-style subclass)

    # ---- naming (TF's "add", "add_1", scoped "layer1/add") ---------------------------
    def unique_name(self, base):
        base = "/".join(self.scope + [base]) if self.scope else base
        n = self._names.get(base)
        if n is None:
            self._names[base] = 1
            return base
        while True:
            cand = f"{base}_{n}"
            n += 1
            if cand not in self._names:
                self._names[base] = n
                self._names[cand] = 1
                return cand

    def add(self, kind, op, inputs, attrs, outs, name=None, frame=None, casts=None):
        if self.finalized:
            from .build import finalized_error

            raise finalized_error(self, op if kind == OP else kind)
        if self.runs:
            self._check_leak(op if kind == OP else kind)
        control = [n for deps in self.control for n in deps]
        base = name or (op.name if kind == OP else kind)
        node = Node(self, kind, op, inputs, attrs, outs, self.unique_name(base), frame, casts, control)
        self.nodes.append(node)
        return node

    def finalize(self, where=None):
        self.finalized = True
        self.finalized_by = where

    def note_run(self):
        """A Session ran this graph: from now on, one call stack adding ops after two different runs
        is the classic TF1 leak (ops built inside the training loop) and raises."""
        self.runs += 1

    def _check_leak(self, what):
        from ..errors import user_frames

        # the call stack down to the column, and the op: `run(a + b), run(a * b)` on one line is not a loop
        stack = (getattr(what, "name", what),) + tuple(
            (f.filename, f.lineno, getattr(f, "colno", None)) for f in user_frames()
        )
        last = self._built_after.get(stack)
        if last is not None and last != self.runs:
            from .build import leak_error

            raise leak_error(self, what, last)
        self._built_after[stack] = self.runs

    def get_node(self, name):
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"The name '{name}' refers to an Operation not in the graph.")

    def copy_with(self, nodes, outputs=None, state_writes=None):
        """A new Graph sharing Node objects (passes build new graphs; nodes are treated as values)."""
        g = Graph.__new__(Graph)
        g.__dict__.update(self.__dict__)
        g.nodes = list(nodes)
        g.outputs = list(self.outputs if outputs is None else outputs)
        g.state_writes = list(self.state_writes if state_writes is None else state_writes)
        return g

    # ---- printing --------------------------------------------------------------------
    def __str__(self):
        from .printer import format_graph

        return format_graph(self)

    def to_dot(self):
        from .printer import to_dot

        return to_dot(self)

    def to_svg(self, path=None):
        from .printer import to_svg

        return to_svg(self, path)

    def __len__(self):
        return len(self.nodes)


def type_str(shape, dtype):
    """``f32[None,784]`` — the compact type printed next to each value."""
    if dtype is float or dtype is int or dtype is bool:
        return dtype.__name__
    names = {
        "float32": "f32",
        "float64": "f64",
        "float16": "f16",
        "int64": "i64",
        "int32": "i32",
        "int16": "i16",
        "int8": "i8",
        "uint8": "u8",
        "bool": "bool",
        "bfloat16": "bf16",
    }
    d = names.get(np.dtype(dtype).name, np.dtype(dtype).name)
    return f"{d}[{','.join('?' if s is None else str(s) for s in shape)}]"
