"""TF1 odds and ends: tf.Print / tf.print, tf.assert_equal, tf.diag and tf.trace.

Printing and asserting happen when the graph runs, so they are HOST nodes
whose Python function runs at every Session.run (never constant-folded: the
compiler folds only table ops; each node has its own function, so CSE never
merges two of them). tf.Print passes its input through.
"""

from __future__ import annotations

import sys

import numpy as np

from ... import ops as F
from ...graph import ir
from ...graph.build import frame_of_user, symbolic_tensor
from ...graph.execute import InvalidArgumentError
from ._convert import named, to_tensor, with_user_line
from .framework import building, convert_to_tensor
from .ops_api import Operation


def _values(tensors):
    return [convert_to_tensor(t)._data.value for t in tensors]


def _host_node(graph, fn, inputs, out, name):
    return graph.add(ir.HOST, None, inputs, {"fn": fn}, [out], name=name, frame=frame_of_user())


def _fmt(a, summarize):
    a = np.asarray(a)
    flat = a.reshape(-1)
    n = 3 if summarize is None else (flat.size if summarize < 0 else summarize)
    return "[" + " ".join(str(v) for v in flat[:n]) + ("..." if flat.size > n else "") + "]"


@with_user_line
def Print(input_, data, message=None, first_n=None, summarize=None, name=None):  # noqa: N802 - TF's name
    """Return ``input_``; each run prints ``message`` and ``data``'s values to stderr (as TF's op)."""
    x = convert_to_tensor(input_)
    count = [0]

    def print_(value, *arrays):
        count[0] += 1
        if first_n is None or first_n < 0 or count[0] <= first_n:
            sys.stderr.write((message or "") + "".join(_fmt(a, summarize) for a in arrays) + "\n")
        return value

    v = x._data.value
    node = _host_node(x.graph, print_, [v, *_values(data)], (v.shape, v.dtype), name or "Print")
    return symbolic_tensor(node.out)


def print(*inputs, output_stream=None, summarize=3, sep=" ", end="\n", name=None):  # noqa: A001 - TF's name
    """tf.print: an op that prints ``inputs`` (tensors printed as NumPy prints them) when run."""
    tensors = [i for i, x in enumerate(inputs) if not isinstance(x, str)]
    values = _values([inputs[i] for i in tensors])

    def print_(*arrays):
        parts = list(inputs)
        for i, a in zip(tensors, arrays):
            parts[i] = np.array2string(np.asarray(a), threshold=1000 if summarize in (None, -1) else 2 * summarize)
        stream = output_stream if output_stream is not None and not isinstance(output_stream, str) else sys.stderr
        stream.write(sep.join(str(p) for p in parts) + end)
        return 0.0

    from .framework import get_default_graph

    g = values[0].node.graph if values else get_default_graph()
    return Operation(_host_node(g, print_, values, ((), float), name or "PrintV2"))


def assert_equal(x, y, data=None, summarize=None, message=None, name=None):
    """An op that raises tf.errors.InvalidArgumentError when run with x != y anywhere (broadcasting)."""
    x, y = convert_to_tensor(x), convert_to_tensor(y)
    where = frame_of_user()

    def check(a, b, *arrays):
        if not np.all(np.asarray(a) == np.asarray(b)):
            text = (message + "\n" if message else "") + "Condition x == y did not hold element-wise:"
            text += f"\nx = {_fmt(a, summarize)}\ny = {_fmt(b, summarize)}"
            text += "".join(f"\n{_fmt(d, summarize)}" for d in arrays)
            if where is not None:
                text += f"\n  (assert created at {where[0]}:{where[1]})"
            raise InvalidArgumentError(text)
        return 0.0

    extra = _values([d for d in (data or []) if not isinstance(d, str)])
    node = _host_node(x.graph, check, _values([x, y]) + extra, ((), float), name or "assert_equal")
    return Operation(node)


@with_user_line
def diag(diagonal, name=None):
    """A square matrix with ``diagonal`` (1-D) on its diagonal."""
    d = to_tensor(diagonal)
    if d.ndim != 1:
        raise NotImplementedError(f"tf.diag: only 1-D diagonals are supported, got shape {list(d.shape)}")
    with building(d.graph):
        return named(F.diag(d), name)


@with_user_line
def trace(x, name=None):
    """The sum of the diagonal of each innermost matrix of ``x``."""
    x = to_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"tf.trace: input must be at least 2-d, got shape {list(x.shape)}")
    with building(x.graph):
        return named(F.sum(F.diagonal(x, 0, -2, -1), -1), name)
