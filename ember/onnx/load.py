"""Import an ONNX model as an ember ``nn.Module`` that interprets the graph with ember ops.

``load(model)`` checks the model, refuses unsupported ops before anything runs,
turns float initializers into Parameters (so the model can be fine-tuned) and
keeps integer ones as constants. Its ``forward`` walks the nodes in order: values
computed only from constants and static shapes are folded eagerly in NumPy-backed
tensors (so ``ember.compile`` sees static reshapes, not shape arithmetic); the
rest run as ember ops, with autograd. ``load_predictor(path)`` wraps it for
serving. ``python -m ember.onnx.load --report`` runs ONNX's backend node tests.
"""

from __future__ import annotations

import keyword
import os
import re
import sys

import numpy as np

import ember
from ember import nn
from ember.autograd.grad_mode import no_grad
from ember.tensor import Tensor

from .importers import CONVERTERS, NOT_FOLDABLE, STATIC_INPUTS, Node, to_tensor


def _onnx():
    try:
        import onnx
    except ImportError as e:
        raise ImportError("ember.onnx needs the onnx extra: pip install 'ember[onnx]'") from e
    return onnx


def supported_ops():
    """The ONNX op types (default domain) the importer converts."""
    return sorted(CONVERTERS)


# ---- reading and checking -----------------------------------------------------------------------
def _read_model(source):
    onnx = _onnx()
    from google.protobuf.message import DecodeError

    if isinstance(source, onnx.ModelProto):
        model, where = source, "<ModelProto>"
    elif isinstance(source, (bytes, bytearray, memoryview)):
        where = "<bytes>"
        try:
            model = onnx.load_model_from_string(bytes(source))
        except (DecodeError, ValueError, RuntimeError) as e:
            raise ValueError(f"ember.onnx.load({where}): not a valid ONNX model: {e}") from e
    elif isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
        try:
            model = onnx.load(where)
        except (DecodeError, ValueError, RuntimeError) as e:
            raise ValueError(f"ember.onnx.load('{where}'): not a valid ONNX model: {e}") from e
    else:
        raise TypeError(f"ember.onnx.load: expected a path, bytes or onnx.ModelProto, got {type(source).__name__}")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise ValueError(f"ember.onnx.load({where!r}): the model fails onnx.checker: {e}") from e
    return model


def _opset(model):
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 1


def _check_supported(graph):
    """Refuse a graph with any op the importer lacks, naming the first one (before anything runs)."""
    for n in graph.node:
        if n.domain not in ("", "ai.onnx") or n.op_type not in CONVERTERS:
            op = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
            raise NotImplementedError(
                f"ONNX op '{op}' (node '{n.name}') is not supported by ember; supported: {', '.join(supported_ops())}"
            )


def _attrs(node):
    onnx = _onnx()
    from onnx import numpy_helper

    out = {}
    for a in node.attribute:
        if a.type == onnx.AttributeProto.TENSOR:
            out[a.name] = numpy_helper.to_array(a.t)
        elif a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS, onnx.AttributeProto.SPARSE_TENSOR):
            raise NotImplementedError(
                f"ONNX op '{node.op_type}' (node '{node.name}'): attribute '{a.name}' of type "
                f"{onnx.AttributeProto.AttributeType.Name(a.type)} is not supported by ember"
            )
        else:
            v = onnx.helper.get_attribute_value(a)
            if isinstance(v, bytes):
                v = v.decode()
            elif isinstance(v, list):
                v = [x.decode() if isinstance(x, bytes) else x for x in v]
            out[a.name] = v
    return out


def _type_info(value_info):
    from onnx import helper

    tt = value_info.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim] if tt.HasField("shape") else None
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).name
    except Exception:
        dtype = f"onnx:{tt.elem_type}"
    return {"shape": dims, "dtype": dtype}


_IDENT = re.compile(r"\W")


def _attr_name(name, taken):
    """A module attribute name for an initializer (identifier, no dots, not already used)."""
    s = _IDENT.sub("_", name) or "param"
    if s[0].isdigit() or keyword.iskeyword(s):
        s = "p_" + s
    base, i = s, 1
    while s in taken:
        s = f"{base}_{i}"
        i += 1
    taken.add(s)
    return s


# ---- the module ---------------------------------------------------------------------------------
class OnnxModule(nn.Module):
    """An ONNX graph run with ember ops; float initializers are Parameters (named after the initializer),
    except those an op needs as constants (Resize scales, Clip bounds, ...), which stay constants like
    integer initializers."""

    def __init__(self, model):
        super().__init__()
        from onnx import numpy_helper

        graph = model.graph
        _check_supported(graph)
        self.opset = _opset(model)
        self.graph_name = graph.name
        self._nodes = []
        for i, n in enumerate(graph.node):
            node = Node(n.op_type, n.name or f"{n.op_type}_{i}", _attrs(n), self.opset, len(n.output))
            self._nodes.append((node, list(n.input), list(n.output)))
        self._constants = {}  # ONNX name -> NumPy array (integer/bool initializers)
        self.param_names = {}  # ONNX initializer name -> Parameter attribute name
        taken = set(dir(self))
        static = {name for n in graph.node for i, name in enumerate(n.input) if i in STATIC_INPUTS.get(n.op_type, ())}
        for init in graph.initializer:
            arr = numpy_helper.to_array(init)
            if arr.dtype.kind == "f" and init.name not in static:
                attr = _attr_name(init.name, taken)
                self.register_parameter(attr, nn.Parameter(ember.as_tensor(np.array(arr, copy=True))))
                self.param_names[init.name] = attr
            else:
                self._constants[init.name] = np.array(arr, copy=True)
        inits = {i.name for i in graph.initializer}
        self.input_names = [v.name for v in graph.input if v.name not in inits]
        self.output_names = [v.name for v in graph.output]
        self.signature = {
            "inputs": {v.name: _type_info(v) for v in graph.input if v.name not in inits},
            "outputs": {v.name: _type_info(v) for v in graph.output},
        }

    def forward(self, *inputs):
        if len(inputs) != len(self.input_names):
            raise TypeError(
                f"OnnxModule.forward: the model takes {len(self.input_names)} inputs {self.input_names}, "
                f"got {len(inputs)}"
            )
        env = dict(self._constants)
        for onnx_name, attr in self.param_names.items():
            env[onnx_name] = getattr(self, attr)
        for name, x in zip(self.input_names, inputs):
            env[name] = x if isinstance(x, Tensor) else to_tensor(x)
        for node, ins, outs in self._nodes:
            args = [env[n] if n else None for n in ins]
            while args and args[-1] is None:
                args.pop()
            try:
                results = _run_node(node, args)
            except Exception as e:
                e.add_note(f"while running ONNX node '{node.name}' ({node.op_type})")
                raise
            for n, r in zip(outs, results):
                if n:
                    env[n] = r
        result = tuple(env[n] if isinstance(env[n], Tensor) else to_tensor(env[n]) for n in self.output_names)
        return result[0] if len(result) == 1 else result

    def extra_repr(self):
        return f"graph={self.graph_name!r}, opset={self.opset}, nodes={len(self._nodes)}"


def _run_node(node, args):
    fn = CONVERTERS[node.op_type]
    if node.op_type not in NOT_FOLDABLE and not any(isinstance(a, Tensor) for a in args):
        return _fold(fn, node, args)
    return fn(node, *args)


def _fold(fn, node, args):
    """Run a node whose inputs are all constants eagerly (also inside an ember.compile trace), as NumPy."""
    from ember.eager import apply as eager_apply
    from ember.op import dispatch

    prev = dispatch.apply
    dispatch.apply = eager_apply
    try:
        with no_grad():
            outs = fn(node, *args)
            return [o.numpy() if isinstance(o, Tensor) else o for o in outs]
    finally:
        dispatch.apply = prev


def load(source):
    """An ``OnnxModule`` for a path, serialized bytes or an ``onnx.ModelProto``."""
    return OnnxModule(_read_model(source))


# ---- serving ------------------------------------------------------------------------------------
class Predictor:
    """Runs an imported model under ``no_grad`` on dicts of NumPy arrays (what the REST server calls)."""

    def __init__(self, module):
        self.module = module
        self.signature = module.signature

    def predict(self, feeds):
        names = self.module.input_names
        missing = [n for n in names if n not in feeds]
        unknown = [n for n in feeds if n not in names]
        if missing or unknown:
            raise KeyError(f"predict: expected inputs {names}; missing {missing}, unknown {unknown}")
        args = []
        for n in names:
            spec = self.signature["inputs"][n]
            try:
                arr = np.asarray(feeds[n], dtype=spec["dtype"])
            except (TypeError, ValueError) as e:
                raise ValueError(f"predict: input '{n}' cannot be converted to {spec['dtype']}: {e}") from e
            shape = spec["shape"]
            if shape is not None and (
                arr.ndim != len(shape) or any(d is not None and d != s for d, s in zip(shape, arr.shape))
            ):
                raise ValueError(
                    f"predict: input '{n}' has shape {arr.shape}, expected {[d if d is not None else '?' for d in shape]}"
                )
            args.append(ember.as_tensor(arr))
        with no_grad():
            out = self.module(*args)
        out = out if isinstance(out, tuple) else (out,)
        return {n: o.numpy() for n, o in zip(self.module.output_names, out)}


def load_predictor(path):
    """A ``Predictor`` for an ONNX file, with ``.signature`` and ``.predict(dict) -> dict``."""
    return Predictor(load(path))


# ---- ONNX backend node tests --------------------------------------------------------------------
def backend_cases():
    """ONNX's backend node test cases (generated by the onnx package), warnings suppressed."""
    import warnings

    _onnx()
    from onnx.backend.test.case import node as node_cases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return node_cases.collect_testcases(None)


def case_ops(case):
    return {n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}" for n in case.model.graph.node}


def case_supported(case):
    g = case.model.graph
    return all(n.domain in ("", "ai.onnx") and n.op_type in CONVERTERS for n in g.node) and not case.model.functions


def _as_array(v):
    from onnx import TensorProto, numpy_helper

    return numpy_helper.to_array(v) if isinstance(v, TensorProto) else np.asarray(v)


def run_case(case):
    """Import and run one backend case; raise AssertionError on a mismatch (dtype, shape or values)."""
    module = load(case.model)
    for inputs, expected in case.data_sets:
        inputs, expected = [_as_array(a) for a in inputs], [_as_array(e) for e in expected]
        with no_grad():
            got = module(*[to_tensor(a) for a in inputs])
        got = got if isinstance(got, tuple) else (got,)
        if len(got) != len(expected):
            raise AssertionError(f"{case.name}: {len(got)} outputs, expected {len(expected)}")
        for i, (g, e) in enumerate(zip(got, expected)):
            g, e = g.numpy(), np.asarray(e)
            if g.dtype != e.dtype or g.shape != e.shape:
                raise AssertionError(f"{case.name} output {i}: got {g.dtype}{g.shape}, expected {e.dtype}{e.shape}")
            np.testing.assert_allclose(g, e, rtol=case.rtol, atol=case.atol, err_msg=f"{case.name} output {i}")


def backend_report(cases=None, out=print):
    """Per-op-type pass counts over ONNX's backend node cases; returns ({op: (passed, runnable, all)}, passed,
    runnable). A case is runnable when all its ops are in the importer's table; each case counts once for every
    op type in its graph (so "expanded" cases, written as functions of simpler ops, count for those ops)."""
    import warnings

    cases = backend_cases() if cases is None else cases
    counts, passed, total = {}, 0, 0
    for case in cases:
        runnable = case_supported(case)
        ok = False
        if runnable:
            total += 1
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    run_case(case)
                ok = True
            except Exception:
                ok = False
            passed += ok
        for op in case_ops(case):
            p, r, a = counts.get(op, (0, 0, 0))
            counts[op] = (p + ok, r + runnable, a + 1)
    out("| ONNX op | passed / runnable cases | cases using the op |")
    out("|---|---|---|")
    for op, (p, r, a) in sorted(counts.items()):
        if r:
            out(f"| {op} | {p} / {r} | {a} |")
    missing = sorted(op for op, (_, r, _) in counts.items() if not r)
    out(f"\nTotal: {passed} / {total} runnable cases pass ({len(cases)} cases generated).")
    out(f"\nOps in the backend cases that no runnable case exercises ({len(missing)}): {', '.join(missing)}.")
    return counts, passed, total


if __name__ == "__main__":
    if "--report" in sys.argv:
        backend_report()
    else:
        print(__doc__)
