"""The ``ember`` command: info, serve, export, convert, bench.

Each subcommand is a thin layer over the library call that does the work
(``ember.serve.main``, ``ember.export.save_model``, ``ember.onnx``,
``ember.save``/``ember.load``, ``bench/suite.py``), so what the command does
can always be done, and tested, from Python.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import platform
import sys

EXTRAS = {
    "safetensors": ("safetensors", "ember.save/load, checkpoints, Saver"),
    "onnx": ("onnx", "ember.onnx export/import"),
    "onnxruntime": ("onnx", "checking ONNX files"),
    "fastapi": ("serve", "ember serve"),
    "uvicorn": ("serve", "ember serve"),
    "tensorboardX": ("tensorboard", "SummaryWriter"),
    "matplotlib": ("bench", "benchmark charts"),
    "sklearn": ("data", "ember.datasets"),
    "tqdm": ("data", "progress bars in examples"),
    "cupy": ("gpu", "the CUDA device"),
}


def _version(module):
    try:
        from importlib.metadata import version

        return version({"sklearn": "scikit-learn", "cupy": "cupy-cuda12x"}.get(module, module))
    except Exception:  # noqa: BLE001 - any failure means "not installed"
        return None


def _blas():
    """NumPy's BLAS (name, threads) from threadpoolctl when present, else NumPy's build config."""
    try:
        from threadpoolctl import threadpool_info

        libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if libs:
            i = libs[0]
            return f"{i.get('internal_api')} {i.get('version') or ''} ({i.get('num_threads')} threads, {i.get('architecture') or '?'})"
    except ImportError:
        pass
    import numpy as np

    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - older NumPy without mode="dicts"
        return "unknown"


def info(argv=None):
    """Print version, NumPy and its BLAS, devices and which optional extras are installed."""
    import numpy as np

    import ember

    print(f"ember {getattr(ember, '__version__', '?')}  (Python {platform.python_version()}, {platform.machine()})")
    print(f"numpy {np.__version__}, BLAS: {_blas()}")
    print(f"CPU cores: {os.cpu_count()}")
    gpu = "none"
    if importlib.util.find_spec("cupy") is not None:
        try:
            import cupy

            gpu = f"{cupy.cuda.runtime.getDeviceCount()} CUDA device(s)"
        except Exception as e:  # noqa: BLE001 - CuPy present but no driver/device
            gpu = f"CuPy installed, no usable device ({type(e).__name__})"
    print(f"devices: cpu; cuda: {gpu}")
    print("optional extras:")
    for module, (extra, what) in EXTRAS.items():
        v = _version(module) if importlib.util.find_spec(module) is not None else None
        state = v or "missing"
        print(f"  {module:14s} {state:12s} ember[{extra}]  ({what})")
    return 0


def serve(argv):
    """Serve a model directory or .onnx file over TensorFlow Serving's REST API."""
    from .serve import main

    return main(argv, prog="ember serve")


def _shape(text):
    try:
        return tuple(int(d) for d in text.split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a shape like 1,3,32,32, got {text!r}") from None


def _load_factory(spec):
    """``package.module:callable`` -> the nn.Module it returns (uvicorn's ``module:app`` convention)."""
    if ":" not in spec:
        raise SystemExit(f"ember export: expected MODULE:CALLABLE (e.g. mymodels:make_net), got {spec!r}")
    mod_name, attr = spec.split(":", 1)
    sys.path.insert(0, os.getcwd())
    obj = importlib.import_module(mod_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj() if callable(obj) and not hasattr(obj, "forward") else obj


def export(argv):
    """Trace a model from Python code into a model directory or an ONNX file."""
    p = argparse.ArgumentParser(prog="ember export", description=export.__doc__)
    p.add_argument("model", help="MODULE:CALLABLE returning an ember nn.Module (or the module object itself)")
    p.add_argument("--input-shape", type=_shape, action="append", required=True, help="example input shape, e.g. 1,4")
    p.add_argument("--dtype", default="float32", help="dtype of the example inputs (default float32)")
    p.add_argument("--weights", help="a state_dict file (ember.save or PyTorch safetensors) to load first")
    p.add_argument("--format", choices=["dir", "onnx"], default="dir")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--static-batch", action="store_true", help="do not make the batch dimension dynamic")
    p.add_argument("-o", "--out", required=True)
    a = p.parse_args(argv)
    import ember

    model = _load_factory(a.model)
    if a.weights:
        model.load_state_dict(ember.load(a.weights))
    model.eval()
    examples = tuple(ember.zeros(*s, dtype=getattr(ember, a.dtype)) for s in a.input_shape)
    if a.format == "onnx":
        from .onnx import export as onnx_export

        names = [f"input_{i}" for i in range(len(examples))]
        dyn = None if a.static_batch else {n: {0: "batch"} for n in names}
        onnx_export(model, examples, a.out, opset_version=a.opset, input_names=names, dynamic_axes=dyn)
    else:
        from .export import save_model

        save_model(model, examples, a.out, dynamic_batch=not a.static_batch)
    print(f"wrote {a.out}")
    return 0


def convert(argv):
    """Convert weights between PyTorch and ember, or an ONNX model into an ember model directory."""
    p = argparse.ArgumentParser(prog="ember convert", description=convert.__doc__)
    p.add_argument("src", help="a .safetensors state_dict or a .onnx model")
    p.add_argument("-o", "--out", required=True)
    p.add_argument(
        "--to",
        choices=["ember", "torch", "model-dir"],
        help="ember: ember.save file; torch: plain safetensors for safetensors.torch.load_file; "
        "model-dir: an ONNX model as an ember model directory (default for .onnx)",
    )
    p.add_argument("--batch", type=int, default=1, help="example batch size for dims the ONNX file leaves open")
    a = p.parse_args(argv)
    to = a.to or ("model-dir" if a.src.endswith(".onnx") else "ember")
    if to == "model-dir":
        return _onnx_to_model_dir(a.src, a.out, a.batch)
    import ember

    state = ember.load(a.src)
    if to == "ember":
        ember.save(state, a.out)
    else:
        _save_plain_safetensors(state, a.out)
    print(f"wrote {a.out}")
    return 0


def _save_plain_safetensors(state, path):
    """A flat name -> tensor dict as a plain safetensors file (no ember JSON part), written atomically."""
    from ._atomic import atomic_write_bytes
    from .tensor import Tensor

    bad = [k for k, v in (state.items() if isinstance(state, dict) else []) if not isinstance(v, Tensor)]
    if not isinstance(state, dict) or bad:
        raise SystemExit(
            "ember convert --to torch: expected a flat state_dict of tensors"
            + (f"; these entries are not tensors: {bad[:5]}" if bad else "")
        )
    from safetensors.numpy import save

    atomic_write_bytes(path, save({k: v.detach().numpy() for k, v in state.items()}))


def _onnx_to_model_dir(src, out, batch):
    import ember

    from .export import save_model
    from .onnx import load

    module = load(src)
    examples = []
    for spec in module.signature["inputs"].values():
        shape = [batch if d is None else d for d in spec["shape"]]
        examples.append(ember.zeros(*shape, dtype=getattr(ember, spec["dtype"])))
    dynamic = any(spec["shape"] and spec["shape"][0] is None for spec in module.signature["inputs"].values())
    save_model(
        module,
        tuple(examples),
        out,
        input_names=list(module.signature["inputs"]),
        output_names=list(module.signature["outputs"]),
        dynamic_batch=dynamic,
    )
    print(f"wrote {out}")
    return 0


def bench(argv):
    """Run the benchmark suite (bench/suite.py from ember's source tree)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    suite = os.path.join(root, "bench", "suite.py")
    if not os.path.exists(suite):
        raise SystemExit(
            f"ember bench: the benchmark suite ships with ember's source tree (bench/suite.py), not found at {suite}"
        )
    sys.path.insert(0, os.path.dirname(suite))
    spec = importlib.util.spec_from_file_location("ember_bench_suite", suite)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


COMMANDS = {"info": info, "serve": serve, "export": export, "convert": convert, "bench": bench}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: ember {info,serve,export,convert,bench} [args...]\n")
        for name, fn in COMMANDS.items():
            print(f"  {name:8s} {(fn.__doc__ or '').strip().splitlines()[0]}")
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        print(f"ember: unknown command {cmd!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return COMMANDS[cmd](rest) or 0


if __name__ == "__main__":
    sys.exit(main())
