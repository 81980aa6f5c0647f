"""``save_model``: trace a model (or take a compiled graph or a TF1 Session) and write its directory.

A module or function is traced in eval mode under no_grad, at the example's
batch size and two others so the batch dim can stay variable (``tracing``);
the exported graph must reproduce the model's own outputs on the example
inputs, and what is written is loaded back and run once before the directory
is renamed into place.
"""

from __future__ import annotations

import numpy as np

from ..graph import execute, ir
from . import graph_json as gj
from .loaded import dry_run
from .model_dir import SERVING, build_signature, write_dir
from .template import from_graph, instantiate
from .tracing import NotPolymorphic, merge, output_tensors, trace


def save_model(model_or_fn, example_inputs, path, input_names=None, output_names=None, dynamic_batch=True, *,
               outputs=None, tags=(SERVING,), signature_key="serving_default"):  # fmt: skip
    """Export a model to the directory ``path`` and return the signature it wrote.

    ``model_or_fn``: an ``nn.Module`` or function (traced in eval mode under no_grad), an
    ``ember.compile`` result (its optimised graph, static shapes) or a ``compat.v1`` Session (then
    ``example_inputs`` is a dict name -> placeholder and ``outputs`` a dict name -> tensor).
    ``dynamic_batch``: the first dim of every input is the batch and may differ at load time.
    """
    from ..compile_api import CompiledFunction, CompiledModule

    if isinstance(model_or_fn, CompiledModule):
        model_or_fn = model_or_fn._compiled
    if _is_session(model_or_fn):
        template, batch, info = _from_session(model_or_fn, example_inputs, outputs)
    elif isinstance(model_or_fn, CompiledFunction):
        template, batch, info = _from_compiled(model_or_fn, example_inputs, input_names, output_names)
    elif callable(model_or_fn):
        template, batch, info = _from_model(model_or_fn, example_inputs, input_names, output_names, dynamic_batch)
    else:
        raise TypeError(f"save_model: expected an nn.Module, a function or a Session, got {type(model_or_fn).__name__}")
    doc, weights = gj.to_json(template, trace_batch=batch)
    dry_run(gj.from_json(doc, weights)[0], batch)  # what is written must load: check it first
    signature = build_signature(template, info, tags, signature_key)
    write_dir(path, doc, weights, signature)
    return signature


def _is_session(obj):
    from ..compat.v1.session import BaseSession

    return isinstance(obj, BaseSession)


def _as_tensors(example_inputs, input_names):
    from ..ops.creation import tensor
    from ..tensor import Tensor

    if isinstance(example_inputs, dict):
        names, xs = list(example_inputs), list(example_inputs.values())
    else:
        xs = list(example_inputs) if isinstance(example_inputs, (tuple, list)) else [example_inputs]
        names = [f"input_{i}" for i in range(len(xs))]
    if input_names is not None:
        if len(input_names) != len(xs):
            raise ValueError(f"input_names has {len(input_names)} names for {len(xs)} example inputs")
        names = list(input_names)
    if len(set(names)) != len(names):
        raise ValueError(f"input names must be unique, got {names}")
    out = []
    for n, x in zip(names, xs):
        if isinstance(x, np.ndarray):
            x = tensor(x)
        if not isinstance(x, Tensor):
            raise TypeError(f"example input {n!r}: expected an ember Tensor or a numpy array, got {type(x).__name__}")
        out.append(x)
    return names, out


class _EvalMode:
    """Modules the function reaches are put in eval mode for the export and restored after."""

    def __init__(self, fn):
        from ..graph.trace import discover

        self.modules = discover(fn)[0]

    def __enter__(self):
        self.flags = [m.training for m in self.modules]
        for m in self.modules:
            m.training = False

    def __exit__(self, *exc):
        for m, f in zip(self.modules, self.flags):
            m.training = f


def _from_model(fn, example_inputs, input_names, output_names, dynamic_batch):
    from ..autograd.grad_mode import no_grad

    names, xs = _as_tensors(example_inputs, input_names)
    arrays = [x.detach().numpy() for x in xs]
    specs = [(a.shape, a.dtype) for a in arrays]
    with _EvalMode(fn):
        with no_grad():
            expected = _eager_outputs(fn, xs)
        template, out_names = trace(fn, specs, names, output_names)
        b0 = arrays[0].shape[0] if arrays and arrays[0].ndim else None
        reason = None
        if not dynamic_batch:
            reason = "dynamic_batch=False"
        elif b0 is None or any(a.ndim == 0 or a.shape[0] != b0 for a in arrays):
            reason = "the inputs do not share a first (batch) dimension"
        else:
            sizes = (b0, b0 + 1, b0 + 3) if b0 >= 2 else (2, 3, 5)
            try:
                traces = [trace(fn, [((s,) + a.shape[1:], a.dtype) for a in arrays], names, out_names)[0]
                          for s in sizes]  # fmt: skip
                dynamic = merge(traces, sizes)
                _verify(dynamic, b0, arrays, expected)
                template = dynamic
            except NotPolymorphic as e:
                reason = f"the traced graph is not batch-polymorphic: {e}"
            except Exception as e:  # the model does not trace at another batch size
                reason = f"tracing at batch sizes {list(sizes)} failed: {type(e).__name__}: {e}"
    if reason is not None:
        try:
            _verify(template, None, arrays, expected)
        except NotPolymorphic as e:
            raise ValueError(f"save_model: the traced graph does not reproduce the model: {e}") from None
    batch = b0 if reason is None else None
    return template, batch, {"dynamic_batch": reason is None, "static_reason": reason}


def _eager_outputs(fn, xs):
    _, tensors = output_tensors(fn(*xs), None)
    return [t.numpy() for t in tensors]


def _verify(template, batch, arrays, expected):
    """The exported graph must give the model's own outputs on the example inputs."""
    graph, ins, outs, store = instantiate(template, batch)
    got = execute.run(graph, outs, feeds=dict(zip(ins, arrays)), store=store)
    for (name, _), g, e in zip(template.outputs, got, expected):
        g = np.asarray(g)
        if g.shape != e.shape or not np.allclose(g, e, rtol=1e-6, atol=1e-6, equal_nan=True):
            diff = np.abs(g.astype(np.float64) - e).max() if g.shape == e.shape else f"shape {g.shape} vs {e.shape}"
            raise NotPolymorphic(f"output {name!r} of the exported graph differs from the model's ({diff})")


def _from_compiled(cm, example_inputs, input_names, output_names):
    from ..autograd.grad_mode import no_grad

    if example_inputs is not None:
        names, xs = _as_tensors(example_inputs, input_names)
        with no_grad():
            cm(*xs)
    graph = cm.graph
    if graph is None:
        raise ValueError("save_model: the compiled module has not run yet; pass example_inputs")
    if graph.state_writes:
        raise ValueError(
            "save_model: the compiled program updates state (a training step, or BatchNorm in training mode); "
            "call model.eval() and run it under ember.no_grad() before exporting"
        )
    names = list(input_names) if input_names is not None else [f"input_{i}" for i in range(len(graph.inputs))]
    onames = list(output_names) if output_names is not None else [f"output_{i}" for i in range(len(graph.outputs))]
    if len(names) != len(graph.inputs) or len(onames) != len(graph.outputs):
        raise ValueError(
            f"the compiled graph has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; got "
            f"{len(names)} input names and {len(onames)} output names"
        )
    template = from_graph(
        graph, list(zip(names, graph.inputs)), list(zip(onames, graph.outputs)), lambda s: s.read(None)
    )
    return template, None, {"dynamic_batch": False, "static_reason": "exported from an ember.compile graph"}


def _from_session(sess, inputs, outputs):
    if not isinstance(inputs, dict) or not isinstance(outputs, dict) or not outputs:
        raise TypeError("exporting a Session needs inputs and outputs as dicts name -> tensor")
    vals = {}
    for kind, d in (("input", inputs), ("output", outputs)):
        for name, t in d.items():
            v = getattr(getattr(t, "_data", None), "value", None)
            if not isinstance(name, str) or not isinstance(v, ir.Value) or v.node.graph is not sess.graph:
                raise ValueError(f"{kind} {name!r}: expected a tensor of the Session's graph, got {t!r:.80}")
            vals[(kind, name)] = v
    store = sess._store
    template = from_graph(
        sess.graph,
        [(n, vals[("input", n)]) for n in inputs],
        [(n, vals[("output", n)]) for n in outputs],
        lambda slot: store.get(slot),
    )
    dyn = all(template.nodes[i].outputs[0][0][:1] == (None,) for _, i in template.inputs)
    return template, None, {"dynamic_batch": dyn, "static_reason": None}
