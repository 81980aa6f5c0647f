"""The model directory format: ``graph.json``, ``weights.safetensors`` and ``signature.json``.

``graph.json`` holds the graph IR (``graph_json``), ``weights.safetensors``
every state read and large constant (its SHA-256 is in ``graph.json``, so a
flipped byte fails the load instead of giving wrong numbers), and
``signature.json`` the named inputs and outputs (shapes with ``null`` for a
variable batch dim, dtypes, tags). ``write_dir`` builds the directory in a
temporary directory next to the target and renames it into place, so a crash
leaves the old export or the new one, never a mix. ``read_dir`` parses JSON and
safetensors only (no pickle, no eval) and checks every field.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile

import numpy as np

from .._atomic import fsync_path
from . import graph_json as gj

SIGNATURE_FILE = "signature.json"
WEIGHTS_FILE = "weights.safetensors"
SIGNATURE_FORMAT = "ember.signature"
SERVING = "serve"
MAX_CONST_ELEMENTS = 1 << 28  # a fill constant larger than this in a file is treated as corrupt


def _safetensors():
    try:
        import safetensors.numpy as st
    except ImportError as e:
        raise ImportError("ember.export stores weights with the safetensors package: pip install safetensors") from e
    return st


def sig_shape(shape):
    return [None if s is None or isinstance(s, gj.BatchInt) else int(s) for s in shape]


def build_signature(template, info, tags, signature_key):
    def entry(shape, dtype):
        return {"shape": sig_shape(shape), "dtype": gj.dtype_name(dtype)}

    return {
        "format": SIGNATURE_FORMAT,
        "version": gj.VERSION,
        "tags": list(tags),
        "signature_key": signature_key,
        "dynamic_batch": info["dynamic_batch"],
        "static_reason": info["static_reason"],
        "inputs": {n: entry(*template.nodes[i].outputs[0]) for n, i in template.inputs},
        "outputs": {n: entry(*template.nodes[r.node].outputs[r.out]) for n, r in template.outputs},
    }


# ---- the directory, written atomically --------------------------------------------------------------
def write_dir(path, doc, weights, signature):
    path = os.path.abspath(os.fspath(path))
    parent, base = os.path.split(path)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise FileExistsError(f"save_model: {path} exists and is not a directory")
        if os.listdir(path) and not all(os.path.isfile(os.path.join(path, f)) for f in (gj.GRAPH_FILE, SIGNATURE_FILE)):
            raise FileExistsError(f"save_model: {path} is a non-empty directory that is not an ember model export")
    os.makedirs(parent, exist_ok=True)
    st = _safetensors()
    tmp = tempfile.mkdtemp(prefix=f".{base}.tmp-", dir=parent)
    try:
        wpath = os.path.join(tmp, WEIGHTS_FILE)
        st.save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, wpath, metadata={"format": "ember"})
        fsync_path(wpath)
        with open(wpath, "rb") as f:
            doc = dict(doc, weights_sha256=hashlib.sha256(f.read()).hexdigest())
        for name, text in ((gj.GRAPH_FILE, json.dumps(doc, allow_nan=False)),
                           (SIGNATURE_FILE, json.dumps(signature, indent=1, allow_nan=False))):  # fmt: skip
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        fsync_path(tmp)
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix=f".{base}.old-", dir=parent)
            os.rmdir(old)
            os.rename(path, old)
            try:
                os.rename(tmp, path)
            except BaseException:
                os.rename(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
        fsync_path(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---- loading ---------------------------------------------------------------------------------------
def _no_constants(name):
    raise ValueError(f"{name} is not valid JSON")


def _read_json(path, name):
    try:
        with open(os.path.join(path, name), encoding="utf-8") as f:
            return json.load(f, parse_constant=_no_constants)
    except FileNotFoundError:
        raise ValueError(f"{name}: the model directory {path} has no {name}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"{name}: not valid JSON ({e})") from None


def _read_weights(path, doc):
    """The weights, after checking the file against graph.json's checksum (a flipped byte in a weight
    would otherwise load silently and give wrong numbers)."""
    fp = os.path.join(path, WEIGHTS_FILE)
    if not os.path.isfile(fp):
        raise ValueError(f"{WEIGHTS_FILE}: the model directory {path} has no {WEIGHTS_FILE}")
    want = doc.get("weights_sha256") if isinstance(doc, dict) else None
    if not isinstance(want, str) or len(want) != 64:
        raise ValueError(f"{gj.GRAPH_FILE}: weights_sha256: expected the 64-digit SHA-256 of {WEIGHTS_FILE}")
    with open(fp, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != want:
        raise ValueError(
            f"{WEIGHTS_FILE}: its SHA-256 does not match graph.json's weights_sha256 (the file is corrupt, "
            "or comes from another export)"
        )
    try:
        return dict(_safetensors().load(data))
    except ImportError:
        raise
    except Exception as e:
        raise ValueError(f"{WEIGHTS_FILE}: not a valid safetensors file ({type(e).__name__}: {e})") from None


def _check_signature(sig, template):
    f = SIGNATURE_FILE
    if not isinstance(sig, dict) or sig.get("format") != SIGNATURE_FORMAT:
        raise ValueError(f"{f}: format: expected {SIGNATURE_FORMAT!r}")
    if sig.get("version") != gj.VERSION:
        raise ValueError(f"{f}: version: this ember reads version {gj.VERSION}, got {sig.get('version')!r}")
    tags = sig.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError(f"{f}: tags: expected a list of strings")
    if not isinstance(sig.get("signature_key", ""), str):
        raise ValueError(f"{f}: signature_key: expected a string")
    if not isinstance(sig.get("dynamic_batch"), bool):
        raise ValueError(f"{f}: dynamic_batch: expected true or false")
    if "static_reason" not in sig or not (sig["static_reason"] is None or isinstance(sig["static_reason"], str)):
        raise ValueError(f"{f}: static_reason: expected a string or null")
    clean = {}
    for part, pairs in (("inputs", [(n, template.nodes[i].outputs[0]) for n, i in template.inputs]),
                        ("outputs", [(n, template.nodes[r.node].outputs[r.out]) for n, r in template.outputs])):  # fmt: skip
        entries = sig.get(part)
        if not isinstance(entries, dict):
            raise ValueError(f"{f}: {part}: expected an object name -> {{shape, dtype}}")
        if list(entries) != [n for n, _ in pairs]:
            raise ValueError(f"{f}: {part}: names {list(entries)} do not match graph.json's {[n for n, _ in pairs]}")
        clean[part] = {}
        for name, (shape, dtype) in pairs:
            e = entries[name]
            where = f"{f}: {part}.{name}"
            if not isinstance(e, dict) or set(e) != {"shape", "dtype"}:
                raise ValueError(f"{where}: expected exactly 'shape' and 'dtype'")
            if e["shape"] != sig_shape(shape) or any(isinstance(s, bool) for s in e["shape"]):
                raise ValueError(f"{where}.shape: {e['shape']!r} does not match graph.json's {sig_shape(shape)}")
            if e["dtype"] != gj.dtype_name(dtype):
                raise ValueError(f"{where}.dtype: {e['dtype']!r} does not match graph.json's {gj.dtype_name(dtype)}")
            clean[part][name] = {"shape": list(e["shape"]), "dtype": e["dtype"]}
    return clean


def read_dir(path):
    """(Template, trace batch, raw signature, clean signature) of a model directory; ValueError if corrupt."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"load_model: no model directory at {path}")
    sig = _read_json(path, SIGNATURE_FILE)
    doc = _read_json(path, gj.GRAPH_FILE)
    weights = _read_weights(path, doc)
    try:
        template, tb = gj.from_json(doc, weights)
    except RecursionError:
        raise ValueError(f"{gj.GRAPH_FILE}: nested too deeply") from None
    clean = _check_signature(sig, template)
    if has_batch_dims(template) and tb is None:
        raise ValueError(f"{gj.GRAPH_FILE}: trace_batch: a graph with batch dims needs the batch it was traced at")
    for name, i in template.inputs:
        dims = template.nodes[i].outputs[0][0]
        if any(isinstance(d, gj.BatchInt) and (k != 0 or d != gj.BatchInt(1, 0)) for k, d in enumerate(dims)):
            raise ValueError(f"{gj.GRAPH_FILE}: input {name!r}: only the first dim of an input can be the batch")
    for t in template.nodes:
        if t.kind == "fill":
            n = math.prod(s.at(tb) if isinstance(s, gj.BatchInt) else (s or 0) for s in t.outputs[0][0])
            if n > MAX_CONST_ELEMENTS or any(s is None for s in t.outputs[0][0]):
                raise ValueError(f"{gj.GRAPH_FILE}: node '{t.name}': a fill constant of shape {t.outputs[0][0]}")
    return template, tb, sig, clean


def has_batch_dims(template):
    return any(gj.has_batch(list(s)) for t in template.nodes for s, _ in t.outputs) or any(
        gj.has_batch(t.attrs) or gj.has_batch(t.inputs) for t in template.nodes
    )
