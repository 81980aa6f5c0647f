"""Run the REST app with uvicorn: ``serve()`` for the CLI, ``BackgroundServer`` for tests and benchmarks.

uvicorn owns SIGINT/SIGTERM: on either it stops accepting connections, lets in-flight requests
finish (up to ``graceful_timeout_s``), then the app's lifespan drains the batcher and worker pool.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

from .app import DEFAULT_MAX_BODY_BYTES, create_app


def _uvicorn():
    try:
        import uvicorn
    except ImportError as e:
        raise ImportError("ember.serve needs the serve extra: pip install 'ember[serve]'") from e
    return uvicorn


def load_predictor_for(path):
    """A Predictor for a model file or directory: ``*.onnx`` via ember.onnx, a directory via ember.export."""
    path = os.fspath(path)
    if path.endswith(".onnx"):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no ONNX model file at {path!r}")
        from ember.onnx import load_predictor

        return load_predictor(path)
    if os.path.isdir(path):
        from ember.export import load_model

        return load_model(path)
    raise FileNotFoundError(f"{path!r} is neither a model directory nor an .onnx file")


def _config(app, host, port, graceful_timeout_s, log_level):
    return _uvicorn().Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=graceful_timeout_s,
        access_log=False,
    )


def serve(
    path_or_predictor,
    name: str = "model",
    host: str = "127.0.0.1",
    port: int = 8501,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch_size: int | None = None,
    batch_timeout_ms: float = 2.0,
    max_workers: int | None = None,
    graceful_timeout_s: float = 30.0,
    log_level: str = "info",
):
    """Serve a model (a path, or an object with ``signature`` and ``predict``) until SIGINT/SIGTERM."""
    predictor = path_or_predictor
    if isinstance(path_or_predictor, (str, os.PathLike)):
        predictor = load_predictor_for(path_or_predictor)
    app = create_app(
        predictor,
        name,
        max_body_bytes=max_body_bytes,
        max_batch_size=max_batch_size,
        batch_timeout_ms=batch_timeout_ms,
        max_workers=max_workers,
    )
    server = _uvicorn().Server(_config(app, host, port, graceful_timeout_s, log_level))
    server.run()


class BackgroundServer:
    """uvicorn serving ``app`` from a daemon thread on a free port (port 0): ``with BackgroundServer(app) as s:``."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, graceful_timeout_s: float = 10.0):
        self.server = _uvicorn().Server(_config(app, host, port, graceful_timeout_s, "warning"))
        self.thread = threading.Thread(target=self.server.run, name="ember-serve", daemon=True)
        self.host = host

    def start(self, timeout_s: float = 30.0):
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start (is the port free?)")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{self.port}"
        return self

    def stop(self, timeout_s: float = 30.0):
        """Graceful stop, as on SIGTERM: in-flight requests finish first."""
        self.server.should_exit = True
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            raise RuntimeError(f"server did not stop within {timeout_s} s")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def build_parser(prog: str = "ember serve") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Serve a model with TensorFlow Serving's REST API.")
    p.add_argument("model", help="model directory (ember.export) or .onnx file")
    p.add_argument("--name", default="model", help="model name in URLs: /v1/models/NAME (default: model)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8501, help="port (default: 8501, TF Serving's REST port)")
    p.add_argument("--max-batch-size", type=int, default=None, help="merge concurrent row requests up to N rows")
    p.add_argument("--batch-timeout-ms", type=float, default=2.0, help="wait this long for a batch to fill")
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES, help="largest request body")
    p.add_argument("--workers", type=int, default=None, help="threads for decoding and predict (default: min(4, CPUs))")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return p


def main(argv=None, prog: str = "ember serve") -> int:
    args = build_parser(prog).parse_args(argv)
    if args.max_batch_size is not None and args.max_batch_size < 1:
        build_parser(prog).error(f"--max-batch-size must be >= 1, got {args.max_batch_size}")
    serve(
        args.model,
        name=args.name,
        host=args.host,
        port=args.port,
        max_body_bytes=args.max_body_bytes,
        max_batch_size=args.max_batch_size,
        batch_timeout_ms=args.batch_timeout_ms,
        max_workers=args.workers,
        log_level=args.log_level,
    )
    return 0
