"""ember's graph IR as JSON, and back: the ``graph.json`` of an exported model directory.

Values that JSON cannot hold (tuples, slices, dtypes, inf/nan, small arrays)
are tagged objects like ``{"$tuple": [...]}``. A dimension or integer that
grows with the batch size is ``{"$b": [a, d]}`` (``a * batch + d``), so one
file serves every batch size. Decoding never evaluates anything: it checks
every field, resolves op names only in ``ember.op.REGISTRY`` and host functions
only from a fixed allow-list, and raises ``ValueError`` naming the file and the
field on anything else.
"""

from __future__ import annotations

import math
import operator
import re

import numpy as np

from .. import dtypes as dt
from ..ops.indexing import Idx  # getitem keys name their index-tensor arguments with Idx(k)

FORMAT = "ember.graph"
VERSION = 1
GRAPH_FILE = "graph.json"
NODE_KINDS = ("input", "op", "const", "read", "fill", "host")
MAX_INLINE_BYTES = 256  # larger constants go to weights.safetensors


class BatchInt:
    """An integer that depends on the batch size: ``a * batch + d``."""

    __slots__ = ("a", "d")

    def __init__(self, a, d):
        self.a, self.d = int(a), int(d)

    def at(self, batch):
        return self.a * batch + self.d

    def __eq__(self, other):
        return isinstance(other, BatchInt) and (self.a, self.d) == (other.a, other.d)

    def __hash__(self):
        return hash((self.a, self.d))

    def __repr__(self):
        return f"BatchInt({self.a}*B+{self.d})"


# ---- host functions: resolved by name from this table only ------------------------------------
def _item(a):
    return a.item()


HOST_FUNCTIONS = {f"operator.{n}": getattr(operator, n) for n in (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "neg", "pos", "abs",
)}  # fmt: skip
HOST_FUNCTIONS.update({f"math.{n}": getattr(math, n) for n in (
    "sqrt", "exp", "log", "log2", "log10", "sin", "cos", "tan", "tanh", "floor", "ceil", "fabs", "pow",
)})  # fmt: skip
HOST_FUNCTIONS["ember.item"] = _item


def host_function_name(fn):
    """The allow-list name of ``fn``, or None when it is not a known function."""
    from ..graph import host

    if fn is host._item or fn is _item:
        return "ember.item"
    for name, known in HOST_FUNCTIONS.items():
        if fn is known:
            return name
    return None


# ---- dtypes -----------------------------------------------------------------------------------
_DTYPES = {d.name: d for d in dt.ALL}
_PY_TYPES = {"py:float": float, "py:int": int, "py:bool": bool}


def dtype_name(d):
    """The name of a NumPy dtype, an ember dtype or a host scalar type (``float`` -> ``py:float``)."""
    if d is float or d is int or d is bool:
        return f"py:{d.__name__}"
    if isinstance(d, dt.dtype):
        return d.name
    name = np.dtype(d).name
    if name not in _DTYPES:
        raise TypeError(f"dtype {name} cannot be exported (known: {sorted(_DTYPES)})")
    return name


def np_dtype(name, where):
    """A NumPy dtype (or host scalar type) by name; anything else is a ValueError naming ``where``."""
    if isinstance(name, str):
        if name in _PY_TYPES:
            return _PY_TYPES[name]
        if name in _DTYPES:
            return _DTYPES[name].np
    raise ValueError(f"{where}: unknown dtype {name!r} (expected one of {sorted(_DTYPES)})")


# ---- encoding values --------------------------------------------------------------------------
def encode(v, where):
    """A JSON-able form of an attribute or literal ``v``; ``where`` names it in errors."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, BatchInt):
        return {"$b": [v.a, v.d]}
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        if math.isfinite(v):
            return v
        return {"$float": "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")}
    if isinstance(v, tuple):
        return {"$tuple": [encode(x, where) for x in v]}
    if isinstance(v, list):
        return [encode(x, where) for x in v]
    if isinstance(v, slice):
        return {"$slice": [encode(v.start, where), encode(v.stop, where), encode(v.step, where)]}
    if v is Ellipsis:
        return {"$ellipsis": True}
    if isinstance(v, dt.dtype):
        return {"$dtype": v.name}
    if isinstance(v, np.dtype):
        return {"$npdtype": dtype_name(v)}
    if isinstance(v, type) and issubclass(v, np.generic):
        return {"$npdtype": dtype_name(v)}
    if isinstance(v, np.generic):
        return {"$npscalar": [dtype_name(v.dtype), encode(v.item(), where)]}
    if isinstance(v, np.ndarray):
        if v.nbytes > MAX_INLINE_BYTES:
            raise TypeError(f"{where}: an array attribute of {v.nbytes} bytes is too large to export inline")
        return encode_array(v)
    if isinstance(v, dict):
        return {"$dict": [[encode(k, where), encode(x, where)] for k, x in v.items()]}
    if isinstance(v, Idx):
        return {"$idx": int(v.k)}
    raise TypeError(f"{where}: a value of type {type(v).__name__} ({v!r:.80}) cannot be exported")


def encode_array(a):
    a = np.ascontiguousarray(a)
    return {"$array": {"dtype": dtype_name(a.dtype), "shape": list(a.shape), "hex": a.tobytes().hex()}}


def _fail(where, msg):
    raise ValueError(f"{where}: {msg}")


def decode(v, where):
    """The value ``encode`` wrote; anything malformed is a ValueError naming ``where``."""
    if v is None or isinstance(v, (bool, str, int)):
        return v
    if isinstance(v, float):
        return v
    if isinstance(v, list):
        return [decode(x, f"{where}[{i}]") for i, x in enumerate(v)]
    if not isinstance(v, dict) or len(v) != 1:
        _fail(where, f"expected a JSON value or a one-key tagged object, got {_short(v)}")
    ((tag, body),) = v.items()
    if tag == "$tuple":
        if not isinstance(body, list):
            _fail(where, "$tuple must hold a list")
        return tuple(decode(x, f"{where}[{i}]") for i, x in enumerate(body))
    if tag == "$b":
        if not (isinstance(body, list) and len(body) == 2 and all(_is_int(x) for x in body)):
            _fail(where, f"$b must be [a, d] integers, got {_short(body)}")
        return BatchInt(*body)
    if tag == "$float":
        if body not in ("nan", "inf", "-inf"):
            _fail(where, f"$float must be 'nan', 'inf' or '-inf', got {_short(body)}")
        return float(body)
    if tag == "$slice":
        if not (isinstance(body, list) and len(body) == 3):
            _fail(where, "$slice must be [start, stop, step]")
        parts = [decode(x, f"{where}.slice") for x in body]
        if not all(p is None or _is_int(p) or isinstance(p, BatchInt) for p in parts):
            _fail(where, f"$slice parts must be integers or null, got {_short(body)}")
        return slice(*parts)
    if tag == "$ellipsis":
        if body is not True:
            _fail(where, "$ellipsis must be true")
        return Ellipsis
    if tag == "$dtype":
        if body not in _DTYPES:
            _fail(where, f"unknown dtype {_short(body)}")
        return _DTYPES[body]
    if tag == "$npdtype":
        d = np_dtype(body, where)
        if not isinstance(d, np.dtype):
            _fail(where, f"$npdtype must name an array dtype, got {_short(body)}")
        return d
    if tag == "$npscalar":
        if not (isinstance(body, list) and len(body) == 2):
            _fail(where, "$npscalar must be [dtype, value]")
        d = np_dtype(body[0], where)
        x = decode(body[1], where)
        if not isinstance(d, np.dtype) or not isinstance(x, (bool, int, float)):
            _fail(where, f"bad $npscalar {_short(body)}")
        try:
            return d.type(x)
        except (TypeError, ValueError, OverflowError) as e:
            _fail(where, f"bad $npscalar {_short(body)}: {e}")
    if tag == "$array":
        return decode_array(body, where)
    if tag == "$idx":
        if not (_is_int(body) and 0 <= body < 64):
            _fail(where, f"$idx must be an index-argument number, got {_short(body)}")
        return Idx(body)
    if tag == "$dict":
        if not isinstance(body, list) or not all(isinstance(p, list) and len(p) == 2 for p in body):
            _fail(where, "$dict must be a list of [key, value] pairs")
        out = {}
        for k, x in body:
            key = decode(k, f"{where}.key")
            try:
                out[key] = decode(x, f"{where}[{key!r}]")
            except TypeError:
                _fail(where, f"unhashable dict key {_short(k)}")
        return out
    _fail(where, f"unknown tag {_short(tag)}")


def decode_array(body, where):
    if not isinstance(body, dict) or set(body) != {"dtype", "shape", "hex"}:
        _fail(where, "$array must have exactly dtype, shape and hex")
    d = np_dtype(body["dtype"], f"{where}.dtype")
    shape = body["shape"]
    if not isinstance(d, np.dtype) or not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
        _fail(where, f"$array: bad dtype or shape {_short(body)}")
    if len(shape) > 32 or math.prod(shape) > 1 << 24:
        _fail(where, f"$array: shape {shape} is too large for an inline constant")
    if not isinstance(body["hex"], str):
        _fail(where, "$array: hex must be a string")
    try:
        raw = bytes.fromhex(body["hex"])
    except ValueError:
        _fail(where, "$array: hex is not hexadecimal")
    if len(raw) != math.prod(shape) * d.itemsize:
        _fail(where, f"$array: {len(raw)} bytes do not fill shape {shape} of {d.name}")
    return np.frombuffer(raw, dtype=d).reshape(shape).copy()


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _short(v):
    s = repr(v)
    return s if len(s) <= 80 else s[:77] + "..."


# ---- dims -------------------------------------------------------------------------------------
def encode_shape(shape):
    return [None if s is None else ({"$b": [s.a, s.d]} if isinstance(s, BatchInt) else int(s)) for s in shape]


def decode_shape(v, where):
    if not isinstance(v, list) or len(v) > 64:
        _fail(where, f"a shape must be a list of dims, got {_short(v)}")
    out = []
    for i, s in enumerate(v):
        if s is None:
            out.append(None)
        elif _is_int(s) and s >= 0:
            out.append(s)
        elif isinstance(s, dict):
            b = decode(s, f"{where}[{i}]")
            if not isinstance(b, BatchInt):
                _fail(f"{where}[{i}]", f"expected a dim, got {_short(s)}")
            out.append(b)
        else:
            _fail(f"{where}[{i}]", f"a dim must be a non-negative integer, null or $b, got {_short(s)}")
    return tuple(out)


def substitute(v, batch):
    """``v`` with every BatchInt replaced by its value at ``batch`` (None: unknown dims stay None)."""
    if isinstance(v, BatchInt):
        return None if batch is None else v.at(batch)
    if isinstance(v, tuple):
        return tuple(substitute(x, batch) for x in v)
    if isinstance(v, list):
        return [substitute(x, batch) for x in v]
    if isinstance(v, slice):
        return slice(substitute(v.start, batch), substitute(v.stop, batch), substitute(v.step, batch))
    if isinstance(v, dict):
        return {k: substitute(x, batch) for k, x in v.items()}
    return v


def has_batch(v):
    if isinstance(v, BatchInt):
        return True
    if isinstance(v, (tuple, list)):
        return any(has_batch(x) for x in v)
    if isinstance(v, slice):
        return has_batch((v.start, v.stop, v.step))
    if isinstance(v, dict):
        return any(has_batch(x) for x in v.values())
    return False


# ---- templates <-> JSON documents --------------------------------------------------------------
_NAME = re.compile(r"[A-Za-z0-9_.:#/\-]{1,256}")


def safe_name(name):
    """A node or weight name in TF's character set: names end up in generated code and in tensor names."""
    name = re.sub(r"[^A-Za-z0-9_.:#/\-]", "_", str(name))[:256]
    return name or "_"


def _check_name(v, where):
    if not isinstance(v, str) or not _NAME.fullmatch(v):
        _fail(where, f"a name must be 1-256 characters of [A-Za-z0-9_.:#/-], got {_short(v)}")
    return v


def to_json(template, trace_batch=None):
    """(graph.json document, weights dict) for a Template; weights are read/large const arrays."""
    from .template import Ref

    weights = {}

    def weight(key, arr):
        k, n = key, 1
        while k in weights and not (weights[k] is arr or _same(weights[k], arr)):
            k, n = f"{key}#{n}", n + 1
        weights[k] = arr
        return k

    def arg(a, where):
        return {"$ref": [a.node, a.out]} if isinstance(a, Ref) else encode(a, where)

    nodes = []
    for t in template.nodes:
        where = f"node '{t.name}'"
        d = {
            "name": safe_name(t.name),
            "kind": t.kind,
            "outputs": [{"shape": encode_shape(s), "dtype": dtype_name(dd)} for s, dd in t.outputs],
        }
        if t.kind == "op":
            d["op"] = t.op
            d["inputs"] = [arg(a, f"{where} input {i}") for i, a in enumerate(t.inputs)]
            d["attrs"] = {k: encode(v, f"{where} attr {k!r}") for k, v in t.attrs.items()}
        elif t.kind == "host":
            d["fn"] = t.fn
            d["inputs"] = [arg(a, f"{where} input {i}") for i, a in enumerate(t.inputs)]
        elif t.kind == "read" or (t.kind == "const" and t.value.nbytes > MAX_INLINE_BYTES):
            d["weight"] = weight(safe_name(t.key or f"const:{t.name}"), np.ascontiguousarray(t.value))
        elif t.kind == "const":
            d["value"] = encode_array(t.value)
        elif t.kind == "fill":
            d["value"] = encode(t.value, where)
        nodes.append(d)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "trace_batch": trace_batch,
        "nodes": nodes,
        "inputs": [{"name": n, "node": i} for n, i in template.inputs],
        "outputs": [{"name": n, "node": r.node, "index": r.out} for n, r in template.outputs],
    }
    return doc, weights


def _same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def _field(d, key, where, types):
    if not isinstance(d, dict) or key not in d:
        _fail(where, f"missing field {key!r}")
    v = d[key]
    if not isinstance(v, types) or (
        isinstance(v, bool) and bool not in (types if isinstance(types, tuple) else (types,))
    ):
        _fail(f"{where}.{key}", f"expected {_type_names(types)}, got {_short(v)}")
    return v


def _type_names(types):
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join({"dict": "an object", "list": "a list", "str": "a string", "int": "an integer"}.get(
        t.__name__, t.__name__) for t in types)  # fmt: skip


def _index(v, n, where):
    if not _is_int(v) or not 0 <= v < n:
        _fail(where, f"expected a node index in [0, {n}), got {_short(v)}")
    return v


def from_json(doc, weights):
    """A Template from a graph.json document and the weights file's arrays; ValueError on anything wrong."""
    from .template import Ref, Template, TNode

    f = GRAPH_FILE
    if not isinstance(doc, dict):
        _fail(f, "the document must be a JSON object")
    if doc.get("format") != FORMAT:
        _fail(f"{f}: format", f"expected {FORMAT!r}, got {_short(doc.get('format'))}")
    if doc.get("version") != VERSION:
        _fail(f"{f}: version", f"this ember reads version {VERSION}, the file is {_short(doc.get('version'))}")
    tb = doc.get("trace_batch")
    if tb is not None and not (_is_int(tb) and tb >= 0):
        _fail(f"{f}: trace_batch", f"expected a non-negative integer or null, got {_short(tb)}")
    raw_nodes = _field(doc, "nodes", f, list)
    nodes = []
    for i, d in enumerate(raw_nodes):
        where = f"{f}: nodes[{i}]"
        if not isinstance(d, dict):
            _fail(where, "expected an object")
        name = _check_name(_field(d, "name", where, str), f"{where}.name")
        kind = _field(d, "kind", where, str)
        if kind not in NODE_KINDS:
            _fail(f"{where}.kind", f"expected one of {NODE_KINDS}, got {_short(kind)}")
        outs = []
        for j, o in enumerate(_field(d, "outputs", where, list)):
            ow = f"{where}.outputs[{j}]"
            shape = decode_shape(_field(o, "shape", ow, list), f"{ow}.shape")
            outs.append((shape, np_dtype(_field(o, "dtype", ow, str), f"{ow}.dtype")))
        if not outs:
            _fail(f"{where}.outputs", "a node needs at least one output")
        if kind != "op" and len(outs) != 1:
            _fail(f"{where}.outputs", f"a {kind} node has exactly one output")
        if kind in ("input", "const", "read", "fill") and not isinstance(outs[0][1], np.dtype):
            _fail(f"{where}.outputs[0].dtype", "an array node needs an array dtype")
        t = TNode(name, kind, outs)
        if kind in ("op", "host"):
            t.inputs = [_arg(a, nodes, f"{where}.inputs[{k}]", Ref) for k, a in
                        enumerate(_field(d, "inputs", where, list))]  # fmt: skip
        if kind == "op":
            t.op = _field(d, "op", where, str)
            from ..op import REGISTRY

            if t.op not in REGISTRY:
                _fail(f"{where}.op", f"unknown op {_short(t.op)} (not in ember.op.REGISTRY)")
            attrs = _field(d, "attrs", where, dict)
            t.attrs = {}
            for k, v in attrs.items():
                if not k.isidentifier():
                    _fail(f"{where}.attrs", f"attribute name {_short(k)} is not an identifier")
                t.attrs[k] = decode(v, f"{where}.attrs.{k}")
        elif kind == "host":
            t.fn = _field(d, "fn", where, str)
            if t.fn not in HOST_FUNCTIONS:
                _fail(f"{where}.fn", f"{_short(t.fn)} is not an allowed host function ({sorted(HOST_FUNCTIONS)})")
        elif kind == "fill":
            t.value = decode(d.get("value"), f"{where}.value")
            if not isinstance(t.value, (bool, int, float)):
                _fail(f"{where}.value", f"a fill value must be a number, got {_short(d.get('value'))}")
        elif kind in ("read", "const"):
            _load_array(t, d, weights, where)
        nodes.append(t)
    inputs, seen = [], set()
    for i, d in enumerate(_field(doc, "inputs", f, list)):
        where = f"{f}: inputs[{i}]"
        name = _field(d, "name", where, str)
        idx = _index(_field(d, "node", where, int), len(nodes), f"{where}.node")
        if nodes[idx].kind != "input":
            _fail(f"{where}.node", f"node {idx} is a {nodes[idx].kind} node, not an input")
        if name in seen:
            _fail(f"{where}.name", f"duplicate input name {name!r}")
        seen.add(name)
        inputs.append((name, idx))
    if sum(t.kind == "input" for t in nodes) != len(inputs):
        _fail(f"{f}: inputs", "every input node must be listed exactly once")
    if len({i for _, i in inputs}) != len(inputs):
        _fail(f"{f}: inputs", "two inputs name the same node")
    outputs, seen = [], set()
    for i, d in enumerate(_field(doc, "outputs", f, list)):
        where = f"{f}: outputs[{i}]"
        name = _field(d, "name", where, str)
        idx = _index(_field(d, "node", where, int), len(nodes), f"{where}.node")
        out = _field(d, "index", where, int)
        if not 0 <= out < len(nodes[idx].outputs):
            _fail(f"{where}.index", f"node {idx} has {len(nodes[idx].outputs)} outputs, got index {out}")
        if not isinstance(nodes[idx].outputs[out][1], np.dtype):
            _fail(f"{where}", "an output must be an array, not a host scalar")
        if name in seen:
            _fail(f"{where}.name", f"duplicate output name {name!r}")
        seen.add(name)
        outputs.append((name, Ref(idx, out)))
    if not outputs:
        _fail(f"{f}: outputs", "a model needs at least one output")
    return Template(nodes, inputs, outputs), tb


def _arg(a, nodes, where, Ref):
    if isinstance(a, dict) and set(a) == {"$ref"}:
        r = a["$ref"]
        if not (isinstance(r, list) and len(r) == 2 and all(_is_int(x) for x in r)):
            _fail(where, f"$ref must be [node, index], got {_short(r)}")
        node = _index(r[0], len(nodes), f"{where}.$ref[0]")
        if not 0 <= r[1] < len(nodes[node].outputs):
            _fail(where, f"node {node} has {len(nodes[node].outputs)} outputs, got index {r[1]}")
        return Ref(node, r[1])
    return decode(a, where)


def _load_array(t, d, weights, where):
    shape, dtype = t.outputs[0]
    if any(not _is_int(s) for s in shape):
        _fail(f"{where}.outputs[0].shape", f"a {t.kind} node needs a fixed shape, got {list(shape)}")
    if "weight" in d:
        key = _check_name(_field(d, "weight", where, str), f"{where}.weight")
        if key not in weights:
            _fail(f"{where}.weight", f"weights.safetensors has no tensor {key!r}")
        arr = weights[key]
        t.key = key
    elif t.kind == "const" and "value" in d:
        arr = decode(d["value"], f"{where}.value")
        if not isinstance(arr, np.ndarray):
            _fail(f"{where}.value", "expected an $array")
    else:
        _fail(where, f"a {t.kind} node needs a 'weight'" + (" or 'value'" if t.kind == "const" else ""))
    if tuple(arr.shape) != tuple(shape) or arr.dtype != dtype:
        _fail(where, f"the array is {list(arr.shape)} {arr.dtype.name}, the node records {list(shape)} {dtype.name}")
    t.value = arr
