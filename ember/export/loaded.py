"""``load_model``: a model directory as a callable with a signature, run by ember's graph interpreter.

The graph is rebuilt per batch size (a few are cached) from the checked
template; every input is checked against the signature before anything runs.
It needs only ember and NumPy (and safetensors to read the weights), never the
Python code that defined the model.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ..graph import execute, ir
from . import graph_json as gj
from .model_dir import MAX_CONST_ELEMENTS, has_batch_dims, read_dir
from .template import instantiate


def load_model(path):
    """Load a directory written by ``save_model`` (or ``compat.v1.saved_model.simple_save``)."""
    template, tb, sig, clean = read_dir(path)
    return LoadedModel(template, tb, sig, clean)


class LoadedModel:
    """A loaded export: ``.signature``, ``.predict({name: array}) -> {name: array}``, ``model(*inputs)``."""

    _MAX_CACHED = 8

    def __init__(self, template, trace_batch, raw_signature, signature):
        self._template = template
        self.signature = signature
        self.tags = list(raw_signature["tags"])
        self.dynamic_batch = raw_signature["dynamic_batch"]
        self.static_reason = raw_signature["static_reason"]
        self._batched = has_batch_dims(template)
        self._input_dims = [template.nodes[i].outputs[0][0] for _, i in template.inputs]
        self._graphs = {}
        self._lock = threading.Lock()
        batch = trace_batch if self._batched else None
        dry_run(template, batch, self._graph_for(batch))  # shape rules and one run check every node now

    def _graph_for(self, batch):
        with self._lock:
            g = self._graphs.get(batch)
            if g is None:
                if len(self._graphs) >= self._MAX_CACHED:
                    self._graphs.pop(next(iter(self._graphs)))
                g = self._graphs[batch] = instantiate(self._template, batch)
            return g

    # ---- checking inputs --------------------------------------------------------------------------
    def _arrays(self, feeds):
        from ..tensor import Tensor

        if not isinstance(feeds, dict):
            raise TypeError(f"predict: expected a dict input name -> array, got {type(feeds).__name__}")
        spec = self.signature["inputs"]
        missing = [n for n in spec if n not in feeds]
        extra = [n for n in feeds if n not in spec]
        if missing or extra:
            raise ValueError(
                f"predict: expected inputs {list(spec)}"
                + (f"; missing {missing}" if missing else "")
                + (f"; unexpected {extra}" if extra else "")
            )
        arrays = []
        for name, s in spec.items():
            x = feeds[name]
            if isinstance(x, Tensor):
                x = x.numpy()
            want = np.dtype(s["dtype"])
            if not isinstance(x, np.ndarray):
                try:
                    x = np.asarray(x, dtype=want)
                except (TypeError, ValueError) as e:
                    raise ValueError(f"input {name!r}: cannot convert to {want.name}: {e}") from None
            if x.dtype != want:
                raise ValueError(f"input {name!r}: expected dtype {want.name}, got {x.dtype.name}")
            shape = s["shape"]
            if x.ndim != len(shape) or any(w is not None and w != g for w, g in zip(shape, x.shape)):
                note = f" (exported with a static batch size: {self.static_reason})" if self.static_reason else ""
                raise ValueError(f"input {name!r}: expected shape {_shape_str(shape)}, got {list(x.shape)}{note}")
            arrays.append(x)
        return arrays

    def _batch(self, arrays):
        if not self._batched:
            return None
        batch = None
        for (name, _), dims, x in zip(self._template.inputs, self._input_dims, arrays):
            for i, d in enumerate(dims):
                if isinstance(d, gj.BatchInt):
                    if batch is None:
                        batch, first = (x.shape[i] - d.d) // d.a, name
                    if d.at(batch) != x.shape[i]:
                        raise ValueError(
                            f"input {name!r}: dim {i} is {x.shape[i]}, but input {first!r} has batch size {batch}"
                        )
        return batch

    # ---- running ------------------------------------------------------------------------------
    def _run(self, arrays):
        graph, ins, outs, store = self._graph_for(self._batch(arrays))
        results = execute.run(graph, outs, feeds=dict(zip(ins, arrays)), store=store)
        return [
            np.array(r, copy=True) if v.node.kind in (ir.READ, ir.CONST, ir.INPUT) else np.asarray(r)
            for v, r in zip(outs, results)
        ]

    def predict(self, inputs):
        """``{input name: array}`` -> ``{output name: array}``, inputs checked against the signature."""
        results = self._run(self._arrays(inputs))
        return dict(zip(self.signature["outputs"], results))

    def __call__(self, *inputs):
        """Positional inputs (arrays or Tensors) in signature order; a Tensor, or a tuple of them."""
        from ..ops.creation import tensor

        names = list(self.signature["inputs"])
        if len(inputs) != len(names):
            raise ValueError(f"expected {len(names)} inputs {names}, got {len(inputs)}")
        results = [tensor(r) for r in self._run(self._arrays(dict(zip(names, inputs))))]
        return results[0] if len(results) == 1 else tuple(results)

    def __repr__(self):
        return f"<LoadedModel inputs={self.signature['inputs']} outputs={self.signature['outputs']}>"


def _shape_str(shape):
    return "[" + ", ".join("None" if s is None else str(s) for s in shape) + "]"


def dry_run(template, batch, built=None):
    """Run the graph once on zero-filled inputs: an attribute of the wrong type that the shape rules let
    through fails here, at load time and as a ValueError, not in the first request."""
    graph, ins, outs, store = built or instantiate(template, batch)
    feeds = {}
    for v in ins:
        shape = tuple(1 if d is None else d for d in v.shape)
        if math.prod(shape) > MAX_CONST_ELEMENTS:
            raise ValueError(f"{gj.GRAPH_FILE}: input '{v.node.name}' of shape {list(v.shape)} is too large")
        feeds[v] = np.zeros(shape, v.dtype)
    try:
        with np.errstate(all="ignore"):
            execute.run(graph, outs, feeds=feeds, store=store)
    except Exception as e:
        raise ValueError(
            f"{gj.GRAPH_FILE}: the graph does not run on zero-filled inputs: {type(e).__name__}: {e}"
        ) from None
