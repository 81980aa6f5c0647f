"""Tracing a model for export, with a batch dimension that stays a variable.

ember's nn modules compute with concrete shapes (``x.view(x.size(0), -1)``,
an LSTM's zero state of ``(layers, batch, hidden)``), so a placeholder with a
``None`` batch dim does not get through them. Instead the model is traced at
three batch sizes; where the three graphs differ only in integers that are a
linear function of the batch size (reshape targets, dims) and in constant
arrays filled with one value, those become ``a * batch + d`` and the graph
works for any batch size. Anything else (a different graph structure, data
that depends on the batch) is reported as the reason the export is static.
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import build, ir
from ..graph import trace as tr
from ..graph.symbolic import Symbolic
from ..op import dispatch
from ..tensor import Tensor
from .graph_json import BatchInt
from .template import Ref, Template, TNode, from_graph


class NotPolymorphic(Exception):
    """The traces at different batch sizes differ in a way a batch variable cannot express."""


def trace(fn, specs, input_names, output_names):
    """Trace ``fn`` on symbolic inputs of ``specs`` [(shape, numpy dtype)]; return (Template, output names)."""
    from ..autograd.grad_mode import no_grad

    graph = ir.Graph(name="export")
    tracer = tr.Tracer(graph)
    prev = dispatch.apply
    tr._tracers.append(tracer)
    dispatch.apply = tr._trace_apply
    try:
        with tracer.building, no_grad():
            syms = []
            for name, (shape, dtype) in zip(input_names, specs):
                node = graph.add(ir.INPUT, None, (), {}, [(tuple(shape), dtype)], name=name)
                graph.inputs.append(node.out)
                syms.append(build.symbolic_tensor(node.out))
            modules, optims = tr.discover(fn)
            tracer.building.names.update(tr._state_names(modules, optims))
            result = fn(*syms)
            names, tensors = output_tensors(result, output_names)
            outs = []
            for t in tensors:
                d = t._data
                outs.append(d.value if type(d) is Symbolic else build.constant(graph, np.array(d, copy=True)))
    finally:
        dispatch.apply = prev
        tr._tracers.pop()
        tracer.restore()
    template = from_graph(
        graph, list(zip(input_names, graph.inputs)), list(zip(names, outs)), lambda slot: slot.read(None)
    )
    return template, names


def output_tensors(result, output_names):
    if isinstance(result, Tensor):
        names, tensors = ["output_0"], [result]
    elif isinstance(result, (tuple, list)) and all(isinstance(t, Tensor) for t in result):
        names, tensors = [f"output_{i}" for i in range(len(result))], list(result)
    elif isinstance(result, dict) and all(isinstance(k, str) and isinstance(t, Tensor) for k, t in result.items()):
        names, tensors = list(result), list(result.values())
    else:
        raise TypeError(
            "save_model: the model must return a Tensor, a tuple/list of Tensors or a dict str -> Tensor, "
            f"got {type(result).__name__}"
        )
    if output_names is not None:
        output_names = list(output_names)
        if len(output_names) != len(tensors):
            raise ValueError(f"output_names has {len(output_names)} names, the model returns {len(tensors)} outputs")
        names = output_names
    return names, tensors


# ---- merging traces at three batch sizes into one template -----------------------------------------
def merge(templates, sizes):
    """One Template with BatchInt wherever the traces at ``sizes`` differ linearly; else NotPolymorphic."""
    first = templates[0]
    if any(len(t.nodes) != len(first.nodes) for t in templates):
        raise NotPolymorphic(f"the graph has {[len(t.nodes) for t in templates]} nodes at batch sizes {sizes}")
    nodes = []
    for group in zip(*(t.nodes for t in templates)):
        n0 = group[0]
        where = f"node '{n0.name}'"
        if any((n.kind, n.op, n.fn) != (n0.kind, n0.op, n0.fn) for n in group):
            raise NotPolymorphic(f"{where}: the graph's structure depends on the batch size")
        if any(len(n.outputs) != len(n0.outputs) for n in group):
            raise NotPolymorphic(f"{where}: its number of outputs depends on the batch size")
        outs = []
        for per in zip(*(n.outputs for n in group)):
            if any(d != per[0][1] for _, d in per) or any(len(s) != len(per[0][0]) for s, _ in per):
                raise NotPolymorphic(f"{where}: its rank or dtype depends on the batch size")
            outs.append((tuple(_merge(list(dims), sizes, where) for dims in zip(*(s for s, _ in per))), per[0][1]))
        t = TNode(n0.name, n0.kind, outs, op=n0.op, fn=n0.fn, key=n0.key)
        if any(len(n.inputs) != len(n0.inputs) or n.attrs.keys() != n0.attrs.keys() for n in group):
            raise NotPolymorphic(f"{where}: its inputs or attributes depend on the batch size")
        t.inputs = [_merge(list(a), sizes, f"{where} input {i}") for i, a in enumerate(zip(*(n.inputs for n in group)))]
        t.attrs = {k: _merge([n.attrs[k] for n in group], sizes, f"{where} attr {k!r}") for k in n0.attrs}
        if n0.kind in ("const", "read"):
            _merge_array(t, [n.value for n in group], where)
        nodes.append(t)
    return Template(nodes, first.inputs, first.outputs)


def _merge_array(t, arrays, where):
    a0 = arrays[0]
    if all(a.shape == a0.shape and a.dtype == a0.dtype and np.array_equal(a, a0, equal_nan=True) for a in arrays):
        t.value = a0
        return
    flat = [a.reshape(-1) for a in arrays]
    if all(f.size for f in flat) and all(np.array_equal(f, f[:1].repeat(f.size), equal_nan=True) for f in flat):
        values = {f[0].item() for f in flat}
        if len(values) == 1 or all(math.isnan(v) for v in values):
            t.kind, t.value, t.key = "fill", flat[0][0].item(), None
            return
    raise NotPolymorphic(f"{where}: a constant whose values depend on the batch size")


def _merge(values, sizes, where):
    v0 = values[0]
    if any(type(v) is not type(v0) for v in values):
        raise NotPolymorphic(f"{where}: {values} differ in type across batch sizes")
    if isinstance(v0, Ref):
        if any(v != v0 for v in values):
            raise NotPolymorphic(f"{where}: the graph's edges depend on the batch size")
        return v0
    if isinstance(v0, int) and not isinstance(v0, bool):
        if all(v == v0 for v in values):
            return v0
        (s0, s1), (x0, x1) = sizes[:2], values[:2]
        a, rem = divmod(x1 - x0, s1 - s0)
        d = x0 - a * s0
        if rem or any(a * s + d != v for s, v in zip(sizes, values)):
            raise NotPolymorphic(f"{where}: {values} at batch sizes {list(sizes)} is not linear in the batch size")
        return BatchInt(a, d)
    if isinstance(v0, (tuple, list)):
        if any(len(v) != len(v0) for v in values):
            raise NotPolymorphic(f"{where}: its length depends on the batch size")
        return type(v0)(_merge(list(p), sizes, where) for p in zip(*values))
    if isinstance(v0, slice):
        parts = [_merge([getattr(v, a) for v in values], sizes, where) for a in ("start", "stop", "step")]
        return slice(*parts)
    if isinstance(v0, dict):
        if any(v.keys() != v0.keys() for v in values):
            raise NotPolymorphic(f"{where}: its keys depend on the batch size")
        return {k: _merge([v[k] for v in values], sizes, where) for k in v0}
    if v0 is None:
        return None
    if isinstance(v0, np.ndarray):
        if all(np.array_equal(v, v0) for v in values):
            return v0
        raise NotPolymorphic(f"{where}: an array attribute depends on the batch size")
    same = all(v == v0 or (isinstance(v, float) and math.isnan(v) and math.isnan(v0)) for v in values)
    if not same:
        raise NotPolymorphic(f"{where}: {values} depend on the batch size (only integers may)")
    return v0
