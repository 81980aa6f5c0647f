"""Ember's graph IR as a TensorBoard GraphDef, for the Graphs tab.

One NodeDef per IR node: ``op`` is the ember op name (or the node kind:
input, read, const, assign, host, group), ``input`` lists the producing
nodes (``name:i`` for a second output, ``^name`` for control edges), and the
attributes carry the op's own attributes plus ``_output_shapes`` and
``dtype``. A traced model's nodes are named by module path (``0/matmul``,
parameter reads ``0/weight``) so TensorBoard folds each submodule into a box;
the values it returns become ``output`` nodes.
"""

from __future__ import annotations

import numpy as np

from ...graph import ir

_MAX_CONST_BYTES = 1024  # constants up to this size are stored with their values
_DTYPES = {
    "float32": "DT_FLOAT", "float64": "DT_DOUBLE", "float16": "DT_HALF", "bfloat16": "DT_BFLOAT16",
    "int8": "DT_INT8", "int16": "DT_INT16", "int32": "DT_INT32", "int64": "DT_INT64",
    "uint8": "DT_UINT8", "uint16": "DT_UINT16", "uint32": "DT_UINT32", "uint64": "DT_UINT64",
    "bool": "DT_BOOL", "complex64": "DT_COMPLEX64", "complex128": "DT_COMPLEX128",
}  # fmt: skip


def _pb():
    try:
        from tensorboardX.proto import attr_value_pb2, graph_pb2, node_def_pb2, tensor_shape_pb2, versions_pb2
    except ImportError as e:
        raise ImportError(
            "ember.utils.tensorboard graphs need the tensorboard extra (tensorboardX): pip install 'ember[tensorboard]'"
        ) from e
    return attr_value_pb2, graph_pb2, node_def_pb2, tensor_shape_pb2, versions_pb2


def dtype_enum(dtype):
    """TensorBoard's DataType name for a value's dtype (Python float/int/bool for host scalars)."""
    if dtype is float:
        return "DT_DOUBLE"
    if dtype is bool:
        return "DT_BOOL"
    if dtype is int:
        return "DT_INT64"
    try:
        return _DTYPES.get(np.dtype(dtype).name, "DT_INVALID")
    except TypeError:
        return "DT_INVALID"


def _shape_proto(shape):
    _, _, _, tensor_shape_pb2, _ = _pb()
    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=-1 if d is None else int(d)) for d in shape]
    return tensor_shape_pb2.TensorShapeProto(dim=dims)


def _attr(value):
    """An AttrValue for an IR attribute or literal input (reprs for what has no proto field)."""
    attr_value_pb2 = _pb()[0]
    AttrValue = attr_value_pb2.AttrValue
    if isinstance(value, (bool, np.bool_)):
        return AttrValue(b=bool(value))
    if isinstance(value, (int, np.integer)):
        return AttrValue(i=int(value))
    if isinstance(value, (float, np.floating)):
        return AttrValue(f=float(value))
    if isinstance(value, str):
        return AttrValue(s=value.encode())
    if isinstance(value, (tuple, list)) and value:
        if all(isinstance(v, (bool, np.bool_)) for v in value):
            return AttrValue(list=AttrValue.ListValue(b=[bool(v) for v in value]))
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
            return AttrValue(list=AttrValue.ListValue(i=[int(v) for v in value]))
        if all(isinstance(v, (int, float, np.integer, np.floating)) for v in value):
            return AttrValue(list=AttrValue.ListValue(f=[float(v) for v in value]))
    if isinstance(value, ir.Slot):
        return AttrValue(s=value.name.encode())
    if isinstance(value, np.ndarray):
        return _tensor_attr(value)
    if isinstance(value, (type, np.dtype)):
        try:
            from tensorboardX.proto import types_pb2

            return AttrValue(type=types_pb2.DataType.Value(dtype_enum(value)))
        except (TypeError, ValueError):
            pass
    if callable(value):
        return AttrValue(s=getattr(value, "__qualname__", type(value).__name__).encode())
    return AttrValue(s=repr(value)[:256].encode())


def _tensor_attr(arr):
    """A constant as a TensorProto: shape and dtype always, the values when it is small."""
    from tensorboardX.proto import tensor_pb2, types_pb2

    attr_value_pb2 = _pb()[0]
    enum = dtype_enum(arr.dtype)
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DataType.Value(enum), tensor_shape=_shape_proto(arr.shape))
    if enum != "DT_INVALID" and arr.nbytes <= _MAX_CONST_BYTES:
        proto.tensor_content = np.ascontiguousarray(arr).tobytes()
    return attr_value_pb2.AttrValue(tensor=proto)


def _node_names(graph, scopes):
    """Each node's GraphDef name: unique; scoped by module path when ``scopes`` is given."""
    names, taken = {}, set()
    for n in graph.nodes:
        slot = n.attrs.get("slot") if n.kind in (ir.READ, ir.ASSIGN) else None
        if isinstance(slot, ir.TensorSlot):  # an eager tensor's state: "0.weight" -> "0/weight"
            base = slot.name.replace(".", "/") + ("" if n.kind == ir.READ else "/assign")
            if slot.attr != "_data":
                base += "/grad"
        elif scopes and n.name in scopes:
            base = scopes[n.name].replace(".", "/") + "/" + n.name
        else:
            base = n.name
        name, k = base, 1
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        names[n] = name
    return names, taken


def to_graph_def(graph, scopes=None, module_types=None):
    """A ``GraphDef`` for ember ``graph`` (an IR graph: traced, compiled or compat.v1).

    ``scopes`` maps IR node names to the module path they were created in (``add_graph`` records
    it while tracing); ``module_types`` maps module paths to class names (the ``_module`` attr).
    """
    attr_value_pb2, graph_pb2, node_def_pb2, _, versions_pb2 = _pb()
    from tensorboardX.proto import types_pb2

    AttrValue = attr_value_pb2.AttrValue
    names, taken = _node_names(graph, scopes)

    def ref(v):
        return names[v.node] if v.index == 0 else f"{names[v.node]}:{v.index}"

    def shapes_attr(values):
        return AttrValue(list=AttrValue.ListValue(shape=[_shape_proto(v.shape) for v in values]))

    # source lines help when they differ; a built-in model traced by add_graph points every node at the call
    with_source = len({n.frame for n in graph.nodes if n.frame}) > 1
    nodes = []
    for n in graph.nodes:
        nd = node_def_pb2.NodeDef(name=names[n], op=n.op_name)
        for i, a in enumerate(n.inputs):
            if isinstance(a, ir.Value):
                nd.input.append(ref(a))
            elif a is not None:
                nd.attr[f"input_{i}"].CopyFrom(_attr(a))
        for c in n.control:
            if c in names:
                nd.input.append("^" + names[c])
        for k, v in n.attrs.items():
            if k == "value" and n.kind == ir.CONST:
                nd.attr["value"].CopyFrom(_tensor_attr(np.asarray(v)))
            elif v is not None:
                nd.attr[k].CopyFrom(_attr(v))
        if n.values:
            nd.attr["_output_shapes"].CopyFrom(shapes_attr(n.values))
            if "dtype" not in n.attrs:  # an op's own dtype attribute (cast, sum) wins
                nd.attr["dtype"].CopyFrom(AttrValue(type=types_pb2.DataType.Value(dtype_enum(n.values[0].dtype))))
            if len(n.values) > 1:
                types = [types_pb2.DataType.Value(dtype_enum(v.dtype)) for v in n.values]
                nd.attr["_output_types"].CopyFrom(AttrValue(list=AttrValue.ListValue(type=types)))
        if scopes and module_types and n.name in scopes and scopes[n.name] in module_types:
            nd.attr["_module"].CopyFrom(AttrValue(s=module_types[scopes[n.name]].encode()))
        if with_source and n.frame:
            nd.attr["_source"].CopyFrom(AttrValue(s=n.where().encode()))
        nodes.append(nd)
    for i, v in enumerate(graph.outputs):
        base = "output" if len(graph.outputs) == 1 else f"output_{i}"
        name, k = base, 1
        while name in taken:
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        nd = node_def_pb2.NodeDef(name=name, op="output", input=[ref(v)])
        nd.attr["_output_shapes"].CopyFrom(shapes_attr([v]))
        nd.attr["dtype"].CopyFrom(AttrValue(type=types_pb2.DataType.Value(dtype_enum(v.dtype))))
        nodes.append(nd)
    return graph_pb2.GraphDef(node=nodes, versions=versions_pb2.VersionDef(producer=22))


# ---- tracing a model -----------------------------------------------------------------------------
def _as_inputs(input_to_model, what):
    from ...tensor import Tensor, _make

    items = input_to_model if isinstance(input_to_model, (tuple, list)) else (input_to_model,)
    out = []
    for i, x in enumerate(items):
        if isinstance(x, Tensor):
            out.append(x)
        elif isinstance(x, (np.ndarray, np.number, int, float)):
            out.append(_make(np.asarray(x)))
        else:
            raise TypeError(
                f"{what}: input_to_model[{i}] must be an ember Tensor or NumPy array, got {type(x).__name__}"
            )
    return out


def trace_model(model, input_to_model):
    """Trace ``model(*inputs)`` with ``ember.compile`` in eval mode under no_grad.

    Returns the traced graph, the module path each node was created in, and each path's class name.
    Training flags are restored afterwards; hooks used to record module paths are removed.
    """
    from ... import compile_api
    from ...autograd.grad_mode import no_grad
    from ...graph import trace as tr
    from ...nn.modules.module import Module

    what = "SummaryWriter.add_graph"
    if not callable(model):
        raise TypeError(f"{what}: model must be an nn.Module or a function, got {type(model).__name__}")
    if input_to_model is None:
        raise ValueError(f"{what}: input_to_model is required to trace {type(model).__name__} (a tensor or a tuple)")
    inputs = _as_inputs(input_to_model, what)
    scopes, types, stack, handles, modes = {}, {}, [], [], []

    def pre(path):
        def hook(module, args):
            t = tr.current()
            if t is not None:
                stack.append((path, len(t.graph.nodes)))

        return hook

    def post(path):
        def hook(module, args, result):
            t = tr.current()
            if t is not None and stack and stack[-1][0] == path:
                _, start = stack.pop()
                for n in t.graph.nodes[start:]:
                    scopes.setdefault(n.name, path)  # inner modules finished first and keep their nodes

        return hook

    if isinstance(model, Module):
        modes = [(m, m.training) for m in model.modules()]
        for path, m in model.named_modules():
            if path:
                types[path] = type(m).__name__
                handles.append(m.register_forward_pre_hook(pre(path)))
                handles.append(m.register_forward_hook(post(path)))
        model.eval()
    try:
        compiled = compile_api.compile(model, backend="interpreter")
        with no_grad():
            compiled(*inputs)
        graph = compiled.graph
    finally:
        for h in handles:
            h.remove()
        for m, training in modes:
            m.training = training
    return graph, scopes, types


def graph_def_of(model, input_to_model=None, verbose=False):
    """What ``add_graph`` writes: a GraphDef for a model, a compiled function, a graph or a session."""
    from ...compile_api import CompiledFunction, CompiledModule

    graph_pb2 = _pb()[1]
    if isinstance(model, graph_pb2.GraphDef):
        return model
    if type(model).__name__ == "GraphDef" and hasattr(model, "SerializeToString"):  # tensorboard's own proto
        return graph_pb2.GraphDef.FromString(model.SerializeToString())
    scopes = types = None
    if isinstance(model, ir.Graph):
        graph = model
    elif isinstance(getattr(model, "graph", None), ir.Graph) and not isinstance(
        model, (CompiledFunction, CompiledModule)
    ):
        graph = model.graph  # a compat.v1 Session (or anything holding a graph)
    elif isinstance(model, (CompiledFunction, CompiledModule)) and input_to_model is None:
        graph = model.graph
        if graph is None:
            raise ValueError(
                "SummaryWriter.add_graph: the compiled function has not run yet; call it once or pass input_to_model"
            )
    else:
        if isinstance(model, CompiledModule):
            model = model._orig_mod
        elif isinstance(model, CompiledFunction):
            model = model.fn
        graph, scopes, types = trace_model(model, input_to_model)
    if verbose:
        print(graph)
    return to_graph_def(graph, scopes, types)
