"""TF Serving's JSON tensor encoding: request bodies to named NumPy arrays, results back to JSON.

Kept apart from the HTTP layer so the rules (row vs columnar format, strict dtype and shape checks)
can be read and tested on their own. Every rejection raises ``RequestError`` whose message names the
field, what the model expects and what the request held.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"

# numpy dtype name -> TensorFlow DataType enum name (as TF Serving's metadata writes it)
_TF_DTYPES = {
    "float16": "DT_HALF",
    "bfloat16": "DT_BFLOAT16",
    "float32": "DT_FLOAT",
    "float64": "DT_DOUBLE",
    "int8": "DT_INT8",
    "int16": "DT_INT16",
    "int32": "DT_INT32",
    "int64": "DT_INT64",
    "uint8": "DT_UINT8",
    "uint16": "DT_UINT16",
    "uint32": "DT_UINT32",
    "uint64": "DT_UINT64",
    "bool": "DT_BOOL",
    "string": "DT_STRING",
}


_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


class RequestError(ValueError):
    """A request the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output: shape with None for unknown dims, dtype name ("float32", "string")."""

    name: str
    shape: tuple
    dtype: str

    def describe(self) -> str:
        return f"shape {shape_text(self.shape)} {self.dtype}"

    def to_tf(self) -> dict:
        """TF Serving's TensorInfo JSON: dims as int64 strings (proto3 JSON), -1 for unknown."""
        if self.shape is None:
            shape = {"unknown_rank": True}
        else:
            shape = {
                "dim": [{"size": str(-1 if d is None else d), "name": ""} for d in self.shape],
                "unknown_rank": False,
            }
        return {
            "dtype": _TF_DTYPES.get(self.dtype, "DT_INVALID"),
            "tensor_shape": shape,
            "name": f"{self.name}:0",
        }


def shape_text(shape) -> str:
    if shape is None:
        return "[any rank]"
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"


def _spec(name, entry, where, strict) -> TensorSpec:
    if not isinstance(name, str) or not name:
        raise ValueError(f"signature {where} names must be non-empty strings, got {name!r}")
    if not isinstance(entry, dict) or "shape" not in entry or "dtype" not in entry:
        raise ValueError(f'signature {where}["{name}"] must be {{"shape": [...], "dtype": "..."}}, got {entry!r}')
    shape = entry["shape"]  # None: unknown rank
    if shape is not None and not all(
        d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0) for d in shape
    ):
        raise ValueError(f'signature {where}["{name}"] shape must list ints >= 0 or None, got {shape!r}')
    dtype = entry["dtype"]
    if not isinstance(dtype, str):  # np.float32, np.dtype("float32")
        try:
            dtype = np.dtype(dtype).name
        except TypeError:
            dtype = str(dtype)
    dtype = {"str": "string", "object": "string", "bytes": "string"}.get(dtype, dtype)
    if strict and dtype not in _TF_DTYPES:
        raise ValueError(
            f'signature {where}["{name}"] dtype {dtype!r} cannot be sent as JSON; expected one of {sorted(_TF_DTYPES)}'
        )
    return TensorSpec(name, None if shape is None else tuple(None if d is None else int(d) for d in shape), dtype)


def parse_signature(signature) -> tuple[dict[str, TensorSpec], dict[str, TensorSpec]]:
    """Check a Predictor's ``signature`` dict once, at server start, and return (inputs, outputs)."""
    if not isinstance(signature, dict) or not isinstance(signature.get("inputs"), dict):
        raise ValueError(f'predictor.signature must be {{"inputs": {{...}}, "outputs": {{...}}}}, got {signature!r}')
    outputs = signature.get("outputs") or {}
    if not isinstance(outputs, dict):
        raise ValueError(f'predictor.signature["outputs"] must be a dict, got {outputs!r}')
    if not signature["inputs"]:
        raise ValueError("predictor.signature has no inputs")
    ins = {n: _spec(n, e, "inputs", strict=True) for n, e in signature["inputs"].items()}
    if any(s.dtype == "bfloat16" for s in ins.values()):
        try:
            import ml_dtypes  # noqa: F401
        except ImportError as e:
            raise ImportError("serving bfloat16 inputs needs the bf16 extra: pip install 'ember[bf16]'") from e
    outs = {n: _spec(n, e, "outputs", strict=False) for n, e in outputs.items()}  # only described, never parsed
    return ins, outs


def signature_def(inputs: dict[str, TensorSpec], outputs: dict[str, TensorSpec]) -> dict:
    """The ``serving_default`` SignatureDef in TF Serving's metadata JSON layout."""
    return {
        "inputs": {n: s.to_tf() for n, s in inputs.items()},
        "outputs": {n: s.to_tf() for n, s in outputs.items()},
        "method_name": PREDICT_METHOD,
    }


# ---- parsing -----------------------------------------------------------------------------------


def _reject_constant(token):
    raise RequestError(f"non-finite number {token} is not allowed in a request")


def parse_json(body: bytes):
    """Decode a request body; malformed JSON and NaN/Infinity tokens are 400s.

    Numbers like 1e999 parse to inf here and are refused by ``to_array``'s finiteness check, which
    is far cheaper than a Python ``parse_float`` hook called once per number.
    """
    if not body:
        raise RequestError("request body is empty; expected a JSON object")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RequestError:
        raise
    except RecursionError:
        raise RequestError("request JSON is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, int digits limit
        raise RequestError(f"malformed JSON in request body: {e}") from None


# ---- requests ----------------------------------------------------------------------------------


def _leaf_kind(types: set) -> str:
    if not types:
        return "empty"
    plural = {int: "numbers", float: "numbers", bool: "booleans", str: "strings", list: "lists", dict: "objects"}
    return " and ".join(sorted({plural.get(t, "nulls" if t is type(None) else t.__name__) for t in types}))


def to_array(value, spec: TensorSpec, field: str) -> np.ndarray:
    """One JSON tensor (nested lists of scalars) as an array of ``spec``'s dtype, or RequestError."""
    try:
        obj = np.array(value, dtype=object)
    except ValueError as e:  # inconsistent nesting numpy cannot even lay out
        raise RequestError(f"{field}: nested lists are ragged ({e}); expected {spec.describe()}") from None
    types = set(map(type, obj.flat))
    got = f"got shape {shape_text(obj.shape)} of {_leaf_kind(types)}"
    if list in types or dict in types:
        raise RequestError(f"{field}: expected {spec.describe()}; lists are ragged or hold objects ({got})")
    if spec.dtype == "bool":
        ok = types <= {bool}
    elif spec.dtype == "string":
        ok = types <= {str}
    elif spec.dtype.startswith(("int", "uint")):
        ok = types <= {int}
    else:
        ok = types <= {int, float}
    if not ok:
        raise RequestError(f"{field}: expected {spec.describe()}, {got}")
    if spec.shape is not None and (
        len(obj.shape) != len(spec.shape) or any(d is not None and d != g for d, g in zip(spec.shape, obj.shape))
    ):
        raise RequestError(f"{field}: expected {spec.describe()}, {got}")
    if spec.dtype == "string":
        return obj
    dtype = _np_dtype(spec.dtype)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            arr = obj.astype(dtype)
    except (OverflowError, ValueError) as e:
        raise RequestError(f"{field}: a value does not fit {spec.dtype} ({e})") from None
    if spec.dtype in _FLOAT_DTYPES and not np.isfinite(arr).all():
        raise RequestError(f"{field}: a value overflows {spec.dtype} (non-finite numbers are not allowed)")
    return arr


def _np_dtype(name: str):
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(name)


def _check_names(given, inputs: dict[str, TensorSpec], where: str):
    missing = [n for n in inputs if n not in given]
    extra = [n for n in given if n not in inputs]
    if missing or extra:
        expected = ", ".join(f'"{n}" ({s.describe()})' for n, s in inputs.items())
        parts = []
        if missing:
            parts.append("missing " + ", ".join(f'"{n}"' for n in missing))
        if extra:
            parts.append("unknown " + ", ".join(f'"{n}"' for n in extra))
        raise RequestError(f"{where}: {'; '.join(parts)}; the model's inputs are {expected}")


def decode_predict(payload, inputs: dict[str, TensorSpec]) -> tuple[dict[str, np.ndarray], bool]:
    """A parsed :predict body as ({input name: array}, row_format); row format stacks instances on dim 0."""
    if not isinstance(payload, dict):
        raise RequestError(f'request must be a JSON object with "instances" or "inputs", got {type(payload).__name__}')
    extra = [k for k in payload if k not in ("signature_name", "instances", "inputs")]
    if extra:
        raise RequestError(
            f'unknown request field(s) {", ".join(map(repr, extra))}; expected "instances" or "inputs" '
            '(and optionally "signature_name")'
        )
    sig = payload.get("signature_name", DEFAULT_SIGNATURE)
    if sig not in ("", DEFAULT_SIGNATURE):
        raise RequestError(f"signature_name {sig!r} not found; this model serves only {DEFAULT_SIGNATURE!r}")
    has_rows, has_cols = "instances" in payload, "inputs" in payload
    if has_rows == has_cols:
        which = "both" if has_rows else "neither"
        raise RequestError(f'request has {which} of "instances" and "inputs"; send exactly one')
    if has_rows:
        return _decode_rows(payload["instances"], inputs), True
    return _decode_columns(payload["inputs"], inputs), False


def _decode_rows(instances, inputs):
    if not isinstance(instances, list) or not instances:
        raise RequestError(f'"instances" must be a non-empty list, got {_short(instances)}')
    named = [isinstance(i, dict) for i in instances]
    if all(named):
        columns = {}
        for idx, inst in enumerate(instances):
            _check_names(inst, inputs, f"instances[{idx}]")
        for n in inputs:
            columns[n] = [inst[n] for inst in instances]
    elif any(named):
        raise RequestError('"instances" mixes objects and plain values; use one form for every instance')
    elif len(inputs) == 1:
        columns = {next(iter(inputs)): instances}
    else:
        raise RequestError(
            f"the model has {len(inputs)} inputs ({', '.join(inputs)}); each instance must be an object naming them"
        )
    return {n: to_array(columns[n], inputs[n], f'instances: input "{n}"') for n in inputs}


def _decode_columns(value, inputs):
    if isinstance(value, dict):
        _check_names(value, inputs, '"inputs"')
        return {n: to_array(value[n], inputs[n], f'inputs: input "{n}"') for n in inputs}
    if len(inputs) != 1:
        raise RequestError(
            f'the model has {len(inputs)} inputs ({", ".join(inputs)}); "inputs" must be an object naming each one'
        )
    name = next(iter(inputs))
    return {name: to_array(value, inputs[name], f'inputs: input "{name}"')}


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---- responses ---------------------------------------------------------------------------------


def _jsonable(arr) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind == "V" or arr.dtype.name == "bfloat16":
        arr = arr.astype(np.float32)
    return arr


def encode_predict(outputs: dict[str, np.ndarray], row_format: bool) -> bytes:
    """Predictions as TF Serving writes them: one output unnamed, several as objects (per row in row format)."""
    arrays = {n: _jsonable(a) for n, a in outputs.items()}
    if row_format:
        if len(arrays) == 1:
            body = {"predictions": next(iter(arrays.values())).tolist()}
        else:
            sizes = {n: (a.shape[0] if a.ndim else None) for n, a in arrays.items()}
            if len(set(sizes.values())) != 1 or None in sizes.values():
                raise RequestError(
                    f"outputs have different batch sizes {sizes}, so they cannot be split into rows; "
                    'send the request in columnar format ("inputs")'
                )
            lists = {n: a.tolist() for n, a in arrays.items()}
            rows = next(iter(sizes.values()))
            body = {"predictions": [{n: v[i] for n, v in lists.items()} for i in range(rows)]}
    elif len(arrays) == 1:
        body = {"outputs": next(iter(arrays.values())).tolist()}
    else:
        body = {"outputs": {n: a.tolist() for n, a in arrays.items()}}
    return json.dumps(body, separators=(",", ":")).encode()


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()
