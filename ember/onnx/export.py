"""``ember.onnx.export``: trace a model or function once and write the graph as an ONNX model.

The model is traced with ``ember.compile``'s tracer (``ember.graph.trace``, under
``ember.no_grad()``, in whatever train/eval mode the user set) without running the
program, so the model's state is untouched; this gives ember's graph IR with static
shapes. The raw traced graph is used, after dead-code
elimination only: the optimiser's other passes (simplification, fusion, memory
planning) rewrite nodes into forms that only ember's code generator runs.

Mapping: INPUT nodes become graph inputs; READ nodes of parameters and buffers
become initializers named by their slot ("0.weight"); other captured tensors and
CONST nodes become initializers too, and with ``do_constant_folding`` every op
whose inputs are all such constants runs now (with ember's own kernel, so the
value is exactly ember's) and is stored folded. Each OP node goes through its
emitter (``emitters.EMITTERS``); an op without one raises
``UnsupportedOperatorError`` naming the op, the node and the user's line.

``dynamic_axes`` (PyTorch's format) marks dims as symbolic (``dim_param``). The
trace is static, so the exporter tracks which dims derive from a dynamic one and
writes Reshape targets with 0 (copy) / -1 (infer) and Expand targets with 1 there,
so the model runs with other sizes where the computation allows it.
"""

from __future__ import annotations

import inspect
import os
import warnings

import numpy as np

from .._atomic import atomic_write_bytes
from . import emitters as em
from ._require import require_onnx

MAX_FOLDED_ELEMENTS = 1 << 22  # folded values bigger than this (and than their inputs) stay ops


def export(
    model_or_fn,
    example_inputs,
    path=None,
    opset_version=17,
    input_names=None,
    output_names=None,
    dynamic_axes=None,
    do_constant_folding=True,
    *,
    f=None,
    export_params=True,
    **torch_options,
):
    """Export ``model_or_fn(*example_inputs)`` to ONNX (``torch.onnx.export``'s arguments).

    ``path`` (or torch's ``f=``): a file path (written atomically), a binary file object, or None; the
    ``onnx.ModelProto`` is returned either way.
    ``dynamic_axes``: ``{"x": {0: "batch"}}`` or ``{"x": [0]}`` for inputs and outputs by name.
    Input names default to the function's parameter names, outputs to ``output_0``, ``output_1``, ...
    ``opset_version`` below 13 (classic tutorials ask for 9-11) is raised to 13 with a warning.
    torch's other options (``verbose``, ``training``, ``operator_export_type``, ``dynamo``, ...) are
    accepted and have no effect; ``export_params=False`` is not supported.
    """
    onnx = require_onnx()
    if f is not None:
        if path is not None:
            raise TypeError("ember.onnx.export: give the output as path or f=, not both")
        path = f
    unknown = sorted(set(torch_options) - _TORCH_OPTIONS)
    if unknown:
        raise TypeError(f"ember.onnx.export: unexpected keyword argument(s) {unknown}")
    if not export_params:
        raise NotImplementedError("ember.onnx.export: export_params=False (weights as graph inputs) is not supported")
    newest = onnx.defs.onnx_opset_version()
    if opset_version is None:
        opset_version = 17
    if isinstance(opset_version, int) and 1 <= opset_version < 13:
        warnings.warn(
            f"ember.onnx.export: ember writes ONNX opset 13 or later; exporting opset 13 instead of {opset_version}",
            stacklevel=2,
        )
        opset_version = 13
    if not isinstance(opset_version, int) or not 13 <= opset_version <= newest:
        raise ValueError(f"ember.onnx.export: opset_version must be an int in [13, {newest}], got {opset_version!r}")
    args = _as_args(example_inputs)
    graph = _trace(model_or_fn, args)
    in_names = _input_names(model_or_fn, args, graph, input_names)
    out_names = _output_names(graph, output_names)
    axes = _dynamic_axes(dynamic_axes, in_names, out_names)
    ctx = _Context(onnx, opset_version, graph, bool(do_constant_folding))
    model = ctx.build(in_names, out_names, axes)
    onnx.checker.check_model(model)
    if hasattr(path, "write"):  # a binary file object, as torch.onnx.export accepts
        path.write(model.SerializeToString())
    elif path is not None:
        atomic_write_bytes(os.fspath(path), model.SerializeToString())
    return model


# torch.onnx.export's options that change nothing in ember's exporter (accepted so tutorials run unchanged)
_TORCH_OPTIONS = {
    "verbose",
    "training",
    "operator_export_type",
    "keep_initializers_as_inputs",
    "custom_opsets",
    "export_modules_as_functions",
    "autograd_inlining",
    "dynamo",
    "external_data",
    "report",
    "verify",
    "optimize",
    "kwargs",
    "dynamic_shapes",
    "fallback",
}


# ---- tracing --------------------------------------------------------------------------------
def _as_args(example_inputs):
    from ..ops.creation import tensor

    args = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    return tuple(tensor(a) if isinstance(a, np.ndarray) else a for a in args)


def _trace(model_or_fn, args):
    from .. import no_grad
    from ..graph import trace as tr

    name = getattr(model_or_fn, "__name__", None) or type(model_or_fn).__name__
    try:
        with no_grad():  # trace only: the program never runs, so the model's state is left as it was
            traced, _ = tr.trace(model_or_fn, args, {}, name=name)
    except tr.TraceAborted as e:
        raise RuntimeError(f"ember.onnx.export: {name} could not be traced into a graph: {e}") from e
    graph = traced.graph
    from ..compiler.dce import dce

    if graph.state_writes:
        warnings.warn(
            f"ember.onnx.export: {name} updates state when it runs (e.g. BatchNorm in training mode: call "
            "model.eval() first); the exported graph does not include those updates",
            stacklevel=3,
        )
        graph = graph.copy_with(graph.nodes, state_writes=[])
    return dce(graph)


def _input_names(fn, args, graph, names):
    n = len(graph.inputs)
    if names is not None:
        names = list(names)
        if len(names) > n:
            raise ValueError(f"ember.onnx.export: {len(names)} input_names given for {n} tensor inputs")
        return names + [f"input_{i}" for i in range(len(names), n)]
    params = _param_names(fn)
    from ..tensor import Tensor

    if params is not None and all(isinstance(a, Tensor) for a in args) and len(args) == n and len(params) >= n:
        return params[:n]
    return [f"input_{i}" for i in range(n)]


def _param_names(fn):
    target = getattr(fn, "forward", fn)
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in sig.parameters.values() if p.kind in kinds]


def _output_names(graph, names):
    n = len(graph.outputs)
    if n == 0:
        raise ValueError("ember.onnx.export: the function returns no tensors")
    names = list(names or [])
    if len(names) > n:
        raise ValueError(f"ember.onnx.export: {len(names)} output_names given for {n} outputs")
    return names + [f"output_{i}" for i in range(len(names), n)]


def _dynamic_axes(dynamic_axes, in_names, out_names):
    out = {}
    known = set(in_names) | set(out_names)
    for name, spec in (dynamic_axes or {}).items():
        if name not in known:
            raise ValueError(
                f"ember.onnx.export: dynamic_axes names '{name}', which is not an input or output "
                f"(inputs {in_names}, outputs {out_names})"
            )
        if isinstance(spec, dict):
            out[name] = {int(a): str(s) for a, s in spec.items()}
        elif isinstance(spec, (list, tuple)):
            out[name] = {int(a): f"{name}_dynamic_axes_{k + 1}" for k, a in enumerate(spec)}
        else:
            raise TypeError(f"ember.onnx.export: dynamic_axes['{name}'] must be a dict or a list, got {type(spec)}")
    return out


# ---- the emit context ------------------------------------------------------------------------
class _Context:
    """What emitters see: operand names, typed constants, node emission and dynamic-dim tracking."""

    def __init__(self, onnx, opset, graph, fold):
        self.onnx = onnx
        self.helper = onnx.helper
        self.opset = opset
        self.graph = graph
        self.fold = fold
        self.names = {}  # Value -> ONNX name
        self.known = {}  # Value -> array: a folded constant not yet written
        self.dtype_of = {}  # ONNX name -> NumPy dtype, where known
        self.dyns = {}  # Value -> per-dim symbol or None
        self.nodes = []
        self.initializers = []
        self.taken = set()
        self.const_cache = {}
        self.slot_names = {}
        self.current = None
        self._sym = 0
        self.uses = {}
        for n in graph.nodes:
            for a in n.inputs:
                if _is_value(a):
                    self.uses[a] = self.uses.get(a, 0) + 1
        for v in graph.outputs:
            self.uses[v] = self.uses.get(v, 0) + 1

    # names
    def unique(self, base):
        base = base or "v"
        name, k = base, 1
        while name in self.taken:
            name = f"{base}_{k}"
            k += 1
        self.taken.add(name)
        return name

    def fresh_sym(self):
        self._sym += 1
        return f"dim_{self._sym}"

    # values
    def name(self, v):
        got = self.names.get(v)
        if got is not None:
            return got
        if v in self.known:
            n = self.const(self.known[v], hint=v.node.name if len(v.node.values) == 1 else f"{v.node.name}.{v.index}")
            self.bind(v, n)
            return n
        raise RuntimeError(f"ember.onnx.export: internal error: value {v!r} has no ONNX name yet")

    def bind(self, v, name):
        self.names[v] = name
        if not isinstance(v.dtype, type):
            self.dtype_of.setdefault(name, np.dtype(v.dtype))

    def used(self, v):
        return self.uses.get(v, 0) > 0

    def dyn(self, v):
        d = self.dyns.get(v)
        return d if d is not None else (None,) * len(v.shape)

    def set_dyn(self, v, dyn):
        self.dyns[v] = tuple(dyn)

    # constants
    def const(self, array, hint="const"):
        array = np.asarray(array)
        key = None
        if array.size <= 64:
            key = (array.dtype.str, array.shape, array.tobytes())
            got = self.const_cache.get(key)
            if got is not None:
                return got
        name = self.unique(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.array(array, order="C"), name))
        self.dtype_of[name] = array.dtype
        if key is not None:
            self.const_cache[key] = name
        return name

    def scalar(self, value, dtype):
        d = np.dtype(dtype)
        with np.errstate(all="ignore"):
            arr = np.asarray(value).astype(d) if d.kind != "b" else np.asarray(bool(value))
        return self.const(arr, hint="scalar")

    def ints(self, values):
        return self.const(np.asarray(list(values), np.int64).reshape(-1), hint="ints")

    # nodes
    def emit(self, op_type, inputs, n_out=1, **attrs):
        base = self.current.name if self.current is not None else op_type
        outs = [self.unique(f"{base}/{op_type}" if n_out == 1 else f"{base}/{op_type}.{i}") for i in range(n_out)]
        node = self.helper.make_node(op_type, list(inputs), outs, name=self.unique(f"{base}/{op_type}#node"), **attrs)
        self.nodes.append(node)
        return outs[0] if n_out == 1 else outs

    def cast(self, name, dtype):
        d = np.dtype(dtype)
        if self.dtype_of.get(name) == d:
            return name
        out = self.emit("Cast", [name], to=self.helper.np_dtype_to_tensor_dtype(d))
        self.dtype_of[out] = d
        return out

    def unsqueeze(self, x, axes):
        if self.opset >= 13:
            return self.emit("Unsqueeze", [x, self.ints(axes)])
        return self.emit("Unsqueeze", [x], axes=list(axes))

    def compute_dtype(self, node):
        """The dtype the kernel computes in: its first tensor operand's, after the node's casts."""
        for i, a in enumerate(node.inputs):
            if _is_value(a) and not isinstance(a.dtype, type):
                c = node.casts[i] if node.casts else None
                return np.dtype(c if c is not None else a.dtype)
        return np.dtype(node.out.dtype)

    def arg(self, node, i, dtype=None):
        """Operand ``i`` as an ONNX name: the node's kernel cast applied, then a cast to ``dtype`` if given."""
        a = node.inputs[i]
        cast = node.casts[i] if node.casts else None
        if _is_value(a):
            if isinstance(a.dtype, type):
                raise self.unsupported(node, "a host scalar operand (a Python number computed at run time)")
            n = self.name(a)
            if cast is not None:
                n = self.cast(n, cast)
            if dtype is not None:
                n = self.cast(n, dtype)
            return n
        if a is None:
            return ""
        target = dtype if dtype is not None else (cast if cast is not None else self.compute_dtype(node))
        return self.scalar(a, target)

    def out(self, node, name, idx=0, dtype=None):
        v = node.values[idx]
        want = np.dtype(v.dtype)
        have = np.dtype(dtype) if dtype is not None else self.dtype_of.get(name)
        if have is not None and have != want:
            self.dtype_of.setdefault(name, have)
            name = self.cast(name, want)
        self.bind(v, self._rename(node, v, name))

    def _rename(self, node, v, name):
        """Give the ONNX tensor the ember value's name ("matmul", "max_pool2d_nchw.1") when this node made it."""
        start = getattr(self, "_node_start", None)
        if start is None or not name.startswith(f"{node.name}/"):
            return name
        target = node.name if len(node.values) == 1 else f"{node.name}.{v.index}"
        if target in self.taken:
            return name
        made = [n for n in self.nodes[start:] if name in n.output]
        if len(made) != 1:
            return name
        self.taken.add(target)
        for n in self.nodes[start:]:
            for field in (n.input, n.output):
                for i, x in enumerate(field):
                    if x == name:
                        field[i] = target
        if name in self.dtype_of:
            self.dtype_of[target] = self.dtype_of[name]
        return target

    def unsupported(self, node, why=None):
        where = node.where()
        reason = f" ({why})" if why else ""
        return em.UnsupportedOperatorError(
            f"ember.onnx.export: op '{node.op_name}' (node '{node.name}') cannot be exported to ONNX"
            f"{reason}" + (f"; created at {where}" if where else "")
        )

    # the walk
    def build(self, in_names, out_names, dynamic_axes):
        from ..graph import ir

        h = self.helper
        self.taken.update(in_names)
        self.taken.update(out_names)
        graph = self.graph
        input_infos = []
        for v, name in zip(graph.inputs, in_names):
            spec = dynamic_axes.get(name, {})
            for a in spec:
                if not -len(v.shape) <= a < len(v.shape):
                    raise ValueError(
                        f"ember.onnx.export: dynamic_axes['{name}'] names axis {a}, but the input has shape {v.shape}"
                    )
            dyn = tuple(spec.get(a, spec.get(a - len(v.shape))) for a in range(len(v.shape)))
            self.bind(v, name)
            self.set_dyn(v, dyn)
            input_infos.append(self._info(name, v, dyn))
        for node in graph.nodes:
            self.current = node
            kind = node.kind
            if kind == ir.INPUT:
                continue
            if kind == ir.READ:
                self._read(node)
            elif kind == ir.CONST:
                if self.fold:
                    self.known[node.out] = node.attrs["value"]
                else:
                    self.bind(node.out, self.const(node.attrs["value"], hint=node.name))
            elif kind == ir.OP:
                if not (self.fold and self._try_fold(node)):
                    self._emit_op(node)
            elif kind == ir.HOST:
                raise self.unsupported(node, "host scalars (Python numbers computed at run time) have no ONNX form")
            # ASSIGN / GROUP: state writes are not exported
        self.current = None
        output_infos = []
        for v, name in zip(graph.outputs, out_names):
            src = self.name(v)
            self.nodes.append(h.make_node("Identity", [src], [name], name=self.unique(f"{name}#node")))
            spec = dynamic_axes.get(name, {})
            dyn = list(self.dyn(v))
            for a, s in spec.items():
                dyn[a % len(dyn)] = s
            for i, s in enumerate(v.shape):
                if s is None and dyn[i] is None:
                    dyn[i] = self.fresh_sym()
            output_infos.append(self._info(name, v, dyn))
        g = h.make_graph(self.nodes, _identifier(graph.name), input_infos, output_infos, self.initializers)
        opset = h.make_opsetid("", self.opset)
        model = h.make_model(g, opset_imports=[opset], producer_name="ember")
        try:
            model.ir_version = h.find_min_ir_version_for([opset])
        except Exception:  # older onnx: keep make_model's default
            pass
        return model

    def _info(self, name, v, dyn):
        elem = self.helper.np_dtype_to_tensor_dtype(np.dtype(v.dtype))
        shape = [d if d is not None else s for s, d in zip(v.shape, dyn)]
        return self.helper.make_tensor_value_info(name, elem, shape)

    def _read(self, node):
        slot = node.attrs["slot"]
        arr = slot.read(None)
        if arr is None:
            raise self.unsupported(node, f"state '{slot.name}' has no value")
        arr = np.asarray(arr)
        if self.fold and slot.name.startswith("captured_"):  # a tensor the code captured, not a parameter
            self.known[node.out] = arr
            return
        name = self.slot_names.get(id(slot))
        if name is None:
            name = self.slot_names[id(slot)] = self.const_named(arr, slot.name)
        self.bind(node.out, name)

    def const_named(self, arr, name):
        name = self.unique(name)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.array(arr, order="C"), name))
        self.dtype_of[name] = arr.dtype
        return name

    def _try_fold(self, node):
        from ..graph.execute import run_op
        from ..op import RANDOM

        if node.op.kind == RANDOM or node.control:
            return False
        vals = [a for a in node.inputs if _is_value(a)]
        if any(a not in self.known for a in vals):
            return False
        biggest = max((self.known[a].size for a in vals), default=1)
        for v in node.values:
            size = int(np.prod(v.shape, dtype=np.int64)) if None not in v.shape else None
            if size is None or (size > MAX_FOLDED_ELEMENTS and size > biggest):
                return False
        try:
            outs = run_op(node, [self.known[a] if _is_value(a) else a for a in node.inputs])
        except Exception:
            return False
        for v, o in zip(node.values, outs):
            self.known[v] = np.asarray(o)
        return True

    def _emit_op(self, node):
        fn = em.EMITTERS.get(node.op.name)
        if fn is None:
            why = em.NOT_EXPORTED.get(node.op.name, "no ONNX emitter is registered for it")
            raise self.unsupported(node, why)
        self._node_start = len(self.nodes)
        try:
            fn(self, node)
        finally:
            self._node_start = None
        for v in node.values:
            if v not in self.names and self.used(v):
                raise RuntimeError(
                    f"ember.onnx.export: internal error: the emitter of '{node.op.name}' left output {v.index} unbound"
                )
            if v not in self.dyns:
                self.dyns[v] = self._default_dyn(node, v)

    def _default_dyn(self, node, v):
        """Elementwise broadcasting: an output dim is dynamic where an operand's same-size dim is."""
        n = len(v.shape)
        out = [None] * n
        for a in node.inputs:
            if not _is_value(a) or isinstance(a.dtype, type):
                continue
            d = self.dyn(a)
            off = n - len(a.shape)
            for j, s in enumerate(d):
                if s is not None and 0 <= j + off < n and out[j + off] is None and a.shape[j] == v.shape[j + off]:
                    out[j + off] = s
        return tuple(out)


def _is_value(a):
    from ..graph.ir import Value

    return isinstance(a, Value)


def _identifier(name):
    ident = "".join(c if c.isalnum() or c == "_" else "_" for c in str(name))
    return ident or "graph"
