"""``ember.save`` / ``ember.load``: PyTorch's call shapes, stored as safetensors plus JSON, never pickled.

A file is a plain safetensors file. Tensors are stored under flattened names (a flat ``state_dict``
keeps its own keys, so ``safetensors.torch.load_file`` reads it as is); everything else -- how dicts,
lists and tuples nest, numbers, strings, None, which leaves are tensors -- is a JSON document in the
header's ``__metadata__["ember"]``. Loading parses JSON and raw bytes only: no pickle and no eval, so
a hostile file can at worst fail to load, with a ``CheckpointError`` naming the file. A safetensors
file without the ember entry (e.g. from ``safetensors.torch.save_file``) loads as ``{name: Tensor}``.

The JSON document: null, booleans, strings, ints and finite floats stand for themselves, a JSON array
is a list, and a JSON object is always a one-key tag: ``{"tuple": [...]}``, ``{"dict": [[k, v], ...]}``
(keys of any scalar type, so an optimizer's int keys come back as ints), ``{"odict": ...}``,
``{"float": "nan" | "inf" | "-inf"}``, ``{"dtype": "float32"}``, ``{"device": "cuda:0"}`` and
``{"tensor": name}`` (plus ``"on": "cuda:0"`` for a tensor saved from a GPU).
"""

from __future__ import annotations

import json
import math
import os
from collections import OrderedDict

import numpy as np

from . import dtypes as dt
from ._atomic import atomic_write_bytes
from .devices import CPU, device, device_of, is_available, move
from .tensor import Tensor, _make

__all__ = ["save", "load", "save_checkpoint", "load_checkpoint", "CheckpointError", "PickleCheckpointError"]

_METADATA_KEY = "ember"
_FORMAT_VERSION = 1
_MAX_DEPTH = 200  # deeper nesting than any state_dict; keeps hostile files away from the recursion limit
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header

_ST_DTYPES = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype(np.uint8),
    "I8": np.dtype(np.int8),
    "I16": np.dtype(np.int16),
    "I32": np.dtype(np.int32),
    "I64": np.dtype(np.int64),
    "F16": np.dtype(np.float16),
    "F32": np.dtype(np.float32),
    "F64": np.dtype(np.float64),
}
if dt.bfloat16 is not None:
    _ST_DTYPES["BF16"] = dt.bfloat16.np
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class CheckpointError(ValueError):
    """A file that is not a valid ember / safetensors checkpoint: truncated, garbled, or of another format."""


class PickleCheckpointError(CheckpointError):
    """A pickle-based checkpoint (``torch.save``, ``pickle.dump``): refused, because unpickling can run code."""


def _safetensors():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError as e:
        raise ImportError(
            "ember.save/ember.load store tensors with the safetensors package: pip install safetensors"
        ) from e
    return safetensors


# ---- save -----------------------------------------------------------------------------------------------
class _Encoder:
    """Turns a nested object into (JSON tree, {flat name: contiguous CPU array})."""

    def __init__(self):
        self.arrays = {}

    def _name(self, path):
        base = ".".join(path) or "tensor"
        name, i = base, 1
        while name in self.arrays:
            name, i = f"{base}#{i}", i + 1
        return name

    def encode(self, obj, path, *, key=False):
        if len(path) > _MAX_DEPTH:
            raise ValueError(f"ember.save: the object is nested more than {_MAX_DEPTH} levels deep")
        if obj is None or isinstance(obj, bool):
            return None if obj is None else bool(obj)
        if isinstance(obj, str):
            return str(obj)
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            obj = float(obj)
            if math.isfinite(obj):
                return obj
            return {"float": "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")}
        if isinstance(obj, np.generic) and obj.dtype.kind in "biuf" and obj.dtype.itemsize <= 8:
            return self.encode(obj.item(), path, key=key)
        if isinstance(obj, dt.dtype):
            return {"dtype": obj.name}
        if isinstance(obj, device):
            return {"device": str(obj)}
        if isinstance(obj, tuple):
            return {"tuple": [self.encode(v, (*path, str(i)), key=key) for i, v in enumerate(obj)]}
        if not key:
            if isinstance(obj, Tensor):
                return self._tensor(obj, path)
            if isinstance(obj, list):
                return [self.encode(v, (*path, str(i))) for i, v in enumerate(obj)]
            if isinstance(obj, dict):
                pairs = [[self.encode(k, path, key=True), self.encode(v, (*path, str(k)))] for k, v in obj.items()]
                return {"odict" if isinstance(obj, OrderedDict) else "dict": pairs}
        where = ".".join(path) or "the top level"
        what = "a dict key" if key else "a value"
        hint = ""
        if hasattr(obj, "state_dict") and callable(obj.state_dict):  # torch.save(model, PATH) in tutorials
            hint = (
                "; save its state_dict() instead and load it into a module built in code, or use "
                "ember.export.save_model for a model that loads without its code"
            )
        raise TypeError(
            f"ember.save: cannot store {type(obj).__module__}.{type(obj).__qualname__} as {what} at {where}: "
            f"expected a Tensor, dict, list, tuple, int, float, bool, str or None (ember.save never pickles){hint}"
        )

    def _tensor(self, t, path):
        data = t._data
        if not isinstance(data, np.ndarray) and getattr(data, "_xp", None) is not None:
            raise TypeError(f"ember.save: {'.'.join(path) or 'the object'} is a symbolic (graph) tensor, not data")
        dev = device_of(data)
        arr = move(data, CPU)
        if not arr.flags.c_contiguous:
            arr = arr.copy(order="C")
        name = self._name(path)
        self.arrays[name] = arr
        node = {"tensor": name}
        if dev.type != "cpu":
            node["on"] = str(dev)
        return node


def _to_bytes(obj):
    st = _safetensors()
    enc = _Encoder()
    root = enc.encode(obj, ())
    doc = json.dumps({"version": _FORMAT_VERSION, "root": root}, ensure_ascii=True, allow_nan=False,
                     separators=(",", ":"))  # fmt: skip
    return st.numpy.save(enc.arrays, metadata={"format": "pt", _METADATA_KEY: doc})


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):  # fmt: skip
    """Save ``obj`` (tensors nested in dicts/lists/tuples with numbers, strings, bools, None) to ``f``.

    ``f`` is a path (written atomically: temp file, fsync, rename) or a binary file object. The pickle
    arguments exist for ``torch.save``'s call shape only: nothing is ever pickled.
    """
    data = _to_bytes(obj)  # everything that can fail on the object fails before the file is touched
    if hasattr(f, "write"):
        f.write(data)
        return
    path = os.fspath(f)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise RuntimeError(f"Parent directory {parent} does not exist.")
    atomic_write_bytes(path, data)


# ---- load -----------------------------------------------------------------------------------------------
def _read(f):
    if hasattr(f, "read"):
        data = f.read()
        name = getattr(f, "name", None)
        where = repr(name) if isinstance(name, (str, bytes, os.PathLike)) else f"the {type(f).__name__} object"
        if isinstance(data, str):
            raise TypeError(f"ember.load: {where} was opened in text mode; open it with 'rb'")
        return bytes(data), where
    path = os.fspath(f)
    with open(path, "rb") as fh:
        return fh.read(), repr(path)


def _not_safetensors(data, where, reason):
    """The error for bytes that are not safetensors, naming pickles and zips (torch.save) for what they are."""
    refuse = "ember.load reads safetensors files only and never unpickles (unpickling can run arbitrary code)"
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return PickleCheckpointError(
            f"{where} is a pickle (protocol {data[1]}), e.g. from torch.save or pickle.dump, not a safetensors "
            f"file: {refuse}. Convert it where you trust it: safetensors.torch.save_file(torch.load(...), path)"
        )
    if data[:4] == b"PK\x03\x04":
        if b"data.pkl" in data[:65536] or b".pkl" in data[-65536:]:
            return PickleCheckpointError(
                f"{where} is a PyTorch zip checkpoint (torch.save; it holds a pickle), not a safetensors file: "
                f"{refuse}. Convert it where you trust it: safetensors.torch.save_file(torch.load(...), path)"
            )
        return CheckpointError(f"{where} is a zip archive, not a safetensors file: {refuse}")
    return CheckpointError(
        f"{where} is not a safetensors file ({reason}); expected 8 bytes of little-endian header length, "
        "a JSON header and the tensor bytes"
    )


def _parse_header(data, where):
    if len(data) < 10:
        raise _not_safetensors(data, where, f"it is only {len(data)} bytes long")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise _not_safetensors(data, where, f"the header claims {n} bytes but the file has {len(data) - 8} after it")
    if n > _MAX_HEADER or data[8:9] != b"{":
        raise _not_safetensors(data, where, "the header does not start with a JSON object")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{where}: the safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{where}: the safetensors header is not a JSON object")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: the header's __metadata__ is {type(meta).__name__}, expected an object")
    return [k for k in header if k != "__metadata__"], meta


def _arrays(data, where):
    st = _safetensors()
    try:
        flat = st.deserialize(data)
    except Exception as e:
        raise CheckpointError(f"{where}: invalid safetensors data: {e}") from None
    except BaseException as e:  # a Rust panic surfaces as pyo3's PanicException, a BaseException
        if type(e).__name__ != "PanicException":
            raise
        raise CheckpointError(f"{where}: invalid safetensors data: {e}") from None
    out = {}
    for name, info in flat:
        np_dtype = _ST_DTYPES.get(info["dtype"])
        if np_dtype is None:
            extra = " (bfloat16 needs the ml_dtypes package)" if info["dtype"] == "BF16" else ""
            raise CheckpointError(
                f"{where}: tensor {name!r} has safetensors dtype {info['dtype']}, which ember does not support{extra}; "
                f"expected one of {', '.join(_ST_DTYPES)}"
            )
        try:
            arr = np.frombuffer(info["data"], dtype=np_dtype).reshape(info["shape"])
        except ValueError as e:
            raise CheckpointError(f"{where}: tensor {name!r}: {e}") from None
        if np_dtype == np.bool_ and arr.size and (arr.view(np.uint8) > 1).any():
            arr = arr.view(np.uint8) != 0  # only 0 and 1 are valid bools
        out[name] = arr
    return out


def _target_device(saved, map_location, arr):
    """Where a tensor saved on ``saved`` goes, as torch.load's ``map_location`` says; returns (device, tensor)."""
    if map_location is None:
        target = saved
    elif isinstance(map_location, dict):
        target = map_location.get(saved, saved)
    elif callable(map_location) and not isinstance(map_location, (str, device)):
        result = map_location(_make(arr), saved)
        if isinstance(result, Tensor):
            return None, result
        target = saved
    else:
        target = map_location
    target = device(target)
    if target.type == "cuda" and not is_available():
        raise RuntimeError(
            f"Attempting to deserialize object on a CUDA device ({saved}) but CUDA is not available (ember needs "
            "CuPy and a GPU). If you are running on a CPU-only machine, please use ember.load with "
            "map_location=ember.device('cpu') to map your tensors to the CPU."
        )
    return target, None


class _Decoder:
    def __init__(self, arrays, where, map_location):
        self.arrays, self.where, self.map_location = arrays, where, map_location

    def bad(self, msg):
        return CheckpointError(f"{self.where}: invalid ember structure: {msg}")

    def decode(self, node, depth=0, *, key=False):
        if depth > _MAX_DEPTH:
            raise self.bad(f"nested more than {_MAX_DEPTH} levels deep")
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if isinstance(node, list) and not key:
            return [self.decode(v, depth + 1) for v in node]
        if not isinstance(node, dict) or not node:
            raise self.bad(f"unexpected {type(node).__name__} {_short(node)}")
        tag = next(iter(node))
        val = node[tag]
        if tag == "tensor" and not key and set(node) <= {"tensor", "on"}:
            return self.tensor(val, node.get("on", "cpu"))
        if len(node) != 1:
            raise self.bad(f"unexpected object {_short(node)}")
        if tag == "tuple" and isinstance(val, list):
            return tuple(self.decode(v, depth + 1, key=key) for v in val)
        if tag in ("dict", "odict") and isinstance(val, list) and not key:
            out = OrderedDict() if tag == "odict" else {}
            for pair in val:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise self.bad(f"a dict entry must be a [key, value] pair, got {_short(pair)}")
                k = self.decode(pair[0], depth + 1, key=True)
                out[k] = self.decode(pair[1], depth + 1)
            return out
        if tag == "float" and val in _NONFINITE:
            return _NONFINITE[val]
        if tag == "dtype" and isinstance(val, str) and val in dt._by_name_table:
            return dt._by_name_table[val]
        if tag == "device" and isinstance(val, str):
            try:
                return device(val)
            except (RuntimeError, ValueError):
                raise self.bad(f"bad device {_short(val)}") from None
        raise self.bad(f"unexpected object {_short(node)}")

    def tensor(self, name, on):
        if not isinstance(name, str) or name not in self.arrays:
            raise self.bad(f"it refers to a tensor {_short(name)} that the file does not hold")
        if not isinstance(on, str):
            raise self.bad(f"bad device {_short(on)}")
        try:
            device(on)
        except (RuntimeError, ValueError):
            raise self.bad(f"bad device {_short(on)}") from None
        return _place(self.arrays[name], on, self.map_location)


def _place(arr, saved, map_location):
    target, mapped = _target_device(saved, map_location, arr)
    if mapped is not None:
        return mapped
    return _make(arr if target.type == "cpu" else move(arr, target))


def _short(x):
    s = repr(x)
    return s if len(s) <= 80 else s[:77] + "..."


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None, **pickle_load_args):
    """Load what ``ember.save`` wrote (or any safetensors file, as a flat ``{name: Tensor}`` dict).

    ``map_location`` is as in ``torch.load`` (None: where each tensor was saved; a device or string; a
    dict from saved location to new; a callable ``(tensor, location) -> Tensor or None``). Loaded tensors
    do not require grad. Nothing is ever unpickled, whatever ``weights_only`` says: files of other formats
    raise ``CheckpointError`` (``PickleCheckpointError`` for torch.save / pickle files).
    """
    data, where = _read(f)
    names, meta = _parse_header(data, where)
    arrays = _arrays(data, where)
    doc = meta.get(_METADATA_KEY)
    if doc is None:  # a plain safetensors file: its tensors, in header order
        return {n: _place(arrays[n], "cpu", map_location) for n in names if n in arrays}
    if not isinstance(doc, str):
        raise CheckpointError(f"{where}: __metadata__[{_METADATA_KEY!r}] must be a JSON string")
    try:
        parsed = json.loads(doc)
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{where}: __metadata__[{_METADATA_KEY!r}] is not valid JSON ({e})") from None
    if not (isinstance(parsed, dict) and "root" in parsed and parsed.get("version") == _FORMAT_VERSION):
        raise CheckpointError(
            f"{where}: __metadata__[{_METADATA_KEY!r}] must be an object with version {_FORMAT_VERSION} and a root"
        )
    try:
        return _Decoder(arrays, where, map_location).decode(parsed["root"])
    except RecursionError:
        raise CheckpointError(f"{where}: invalid ember structure: nested too deeply") from None
    except TypeError as e:  # e.g. an unhashable dict key
        raise CheckpointError(f"{where}: invalid ember structure: {e}") from None


# ---- checkpoint / resume --------------------------------------------------------------------------------
_RESERVED = ("model", "optimizer", "scheduler", "epoch", "step", "rng_state")


def save_checkpoint(path, *, model=None, optimizer=None, scheduler=None, epoch=None, step=None, **extra):
    """Save a training checkpoint: state_dicts, epoch/step, ember's global RNG state and ``extra`` entries."""
    from .random import get_rng_state

    clash = sorted(k for k in extra if k in _RESERVED)
    if clash:
        raise ValueError(f"save_checkpoint: extra entries {clash} clash with the reserved names {list(_RESERVED)}")
    ckpt = {}
    for name, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None:
            ckpt[name] = obj.state_dict()
    ckpt.update(epoch=epoch, step=step, rng_state=get_rng_state(), **extra)
    save(ckpt, path)


def load_checkpoint(path, *, model=None, optimizer=None, scheduler=None, map_location=None, strict=True,
                    restore_rng=True):  # fmt: skip
    """Restore what ``save_checkpoint`` wrote into the given objects (and the RNG); returns the whole dict."""
    from .random import set_rng_state

    ckpt = load(path, map_location=map_location)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path!r}: expected a checkpoint dict, got {type(ckpt).__name__}")
    wanted = (("model", model), ("optimizer", optimizer), ("scheduler", scheduler))
    missing = [name for name, obj in wanted if obj is not None and name not in ckpt]
    if restore_rng and "rng_state" not in ckpt:
        missing.append("rng_state")
    if missing:
        raise CheckpointError(f"{path!r}: the checkpoint has no {missing} entries (it holds {sorted(map(str, ckpt))})")
    if model is not None:
        model.load_state_dict(ckpt["model"], strict=strict)
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    if restore_rng:
        set_rng_state(ckpt["rng_state"])
    return ckpt
