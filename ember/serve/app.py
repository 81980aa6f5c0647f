"""The TF Serving-compatible REST app: model status, metadata and :predict over one Predictor.

``create_app(predictor, name)`` returns a Starlette ASGI app. Decoding, the model call and encoding
run in a thread pool so the event loop only moves bytes; request bodies are counted while they are
read and refused past ``max_body_bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import Response
    from starlette.routing import Route
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("ember.serve needs the serve extra: pip install 'ember[serve]'") from e

from . import codec
from .batching import DynamicBatcher
from .codec import RequestError

log = logging.getLogger("ember.serve")

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
VERSION = "1"  # one servable version per model, as a fresh TF Serving model base path with version 1

# <name>[/versions/<v> | /labels/<l>][/metadata | :<verb>]
_MODEL_PATH = re.compile(
    r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+)|/labels/(?P<label>[^/:]+))?"
    r"(?:(?P<metadata>/metadata)|:(?P<verb>[A-Za-z]+))?$"
)


def _json(status: int, body: bytes, headers=None) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str, headers=None) -> Response:
    return _json(status, codec.error_body(message), headers)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as the declared or received size passes ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(f"Content-Length {declared!r} is not a byte count")
        if int(declared) > limit:
            raise RequestError(f"request body of {declared} bytes exceeds the limit of {limit} bytes", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(f"request body exceeds the limit of {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


class ModelService:
    """One named model: its parsed signature, worker pool and optional batcher."""

    def __init__(self, predictor, name, max_body_bytes, max_batch_size, batch_timeout_ms, max_workers):
        if not callable(getattr(predictor, "predict", None)):
            raise TypeError(f"predictor must have a predict(dict) method, got {type(predictor).__name__}")
        if not isinstance(name, str) or not name or "/" in name or ":" in name:
            raise ValueError(f"model name must be a non-empty string without '/' or ':', got {name!r}")
        if not isinstance(max_body_bytes, int) or max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be a positive int, got {max_body_bytes!r}")
        self.predictor = predictor
        self.name = name
        self.inputs, self.outputs = codec.parse_signature(predictor.signature)
        self.max_body_bytes = max_body_bytes
        workers = max_workers or min(4, os.cpu_count() or 1)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"ember-serve-{name}")
        self.batcher = None
        if max_batch_size is not None:
            self.batcher = DynamicBatcher(self._predict, max_batch_size, batch_timeout_ms / 1000.0, workers)

    async def _in_pool(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def _decode(self, body: bytes):
        return codec.decode_predict(codec.parse_json(body), self.inputs)

    def _call_model(self, inputs):
        outputs = self.predictor.predict(inputs)
        if not isinstance(outputs, dict) or not outputs:
            raise RuntimeError(
                f"predictor.predict must return a non-empty dict of arrays, got {type(outputs).__name__}"
            )
        # ember Tensors (and anything else with .numpy()) become arrays; lists and scalars pass through asarray
        return {
            str(n): np.asarray(a.numpy() if hasattr(a, "numpy") and not isinstance(a, np.ndarray) else a)
            for n, a in outputs.items()
        }

    async def _predict(self, inputs):
        return await self._in_pool(self._call_model, inputs)

    async def predict(self, body: bytes) -> bytes:
        inputs, row_format = await self._in_pool(self._decode, body)
        try:
            if self.batcher is not None and row_format:
                outputs = await self.batcher.submit(inputs)
            else:
                outputs = await self._predict(inputs)
        except (ValueError, TypeError) as e:  # the model refused these inputs (ember ShapeError is a ValueError)
            if isinstance(e, RequestError):
                raise
            raise RequestError(f"prediction failed: {type(e).__name__}: {e}") from e
        return await self._in_pool(codec.encode_predict, outputs, row_format)

    def status(self) -> dict:
        return {
            "model_version_status": [
                {"version": VERSION, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            ]
        }

    def metadata(self) -> dict:
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": VERSION},
            "metadata": {
                "signature_def": {
                    "signature_def": {codec.DEFAULT_SIGNATURE: codec.signature_def(self.inputs, self.outputs)}
                }
            },
        }

    async def close(self):
        if self.batcher is not None:
            await self.batcher.close()
        self.pool.shutdown(wait=True)


def create_app(
    predictor,
    name: str = "model",
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch_size: int | None = None,
    batch_timeout_ms: float = 2.0,
    max_workers: int | None = None,
) -> Starlette:
    """A Starlette app serving ``predictor`` under ``/v1/models/<name>`` with TF Serving's REST API.

    ``max_batch_size`` turns on dynamic batching of row-format ("instances") requests, waiting at most
    ``batch_timeout_ms`` for a batch to fill. ``max_workers`` sizes the thread pool that decodes
    requests and calls ``predictor.predict``; the predictor must be safe to call from several threads
    (pass ``max_workers=1`` if it is not).
    """
    import json

    service = ModelService(predictor, name, max_body_bytes, max_batch_size, batch_timeout_ms, max_workers)

    async def models(request: Request) -> Response:
        match = _MODEL_PATH.match(request.path_params["rest"])
        if match is None:
            return _error(404, f"malformed model URL {request.url.path!r}")
        version, label = match["version"], match["label"]
        if match["name"] != service.name:
            spec = f"Specific({match['name']}, {version})" if version else f"Latest({match['name']})"
            return _error(404, f"Servable not found for request: {spec}")
        if version is not None and version != VERSION:
            return _error(404, f"Servable not found for request: Specific({match['name']}, {version})")
        if label is not None:
            return _error(404, f"Unrecognized servable version label: {label}")
        verb = match["verb"]
        allowed = "POST" if verb else "GET, HEAD"
        if request.method not in allowed.split(", "):
            return _error(
                405, f"{request.method} is not allowed on {request.url.path}; use {allowed}", {"Allow": allowed}
            )
        if match["metadata"]:
            return _json(200, json.dumps(service.metadata()).encode())
        if verb is None:
            return _json(200, json.dumps(service.status()).encode())
        if verb != "predict":
            return _error(400, f"the {verb!r} API is not supported; this model serves ':predict' only")
        try:
            body = await _read_body(request, service.max_body_bytes)
            return _json(200, await service.predict(body))
        except RequestError as e:
            return _error(e.status, str(e))
        except ClientDisconnect:
            return _error(400, "client disconnected before sending the whole body")
        except Exception as e:  # a bug or an unexpected model failure: log it, answer a JSON 500
            log.exception("predict failed on model %s", service.name)
            return _error(500, f"internal error: {type(e).__name__}: {e}")

    async def health(request: Request) -> Response:
        return _json(200, b'{"status":"ok"}')

    async def http_error(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.status_code)
        if exc.status_code == 404:
            detail = f"no such endpoint: {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return _error(exc.status_code, detail, exc.headers)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await service.close()

    routes = [
        Route("/v1/models/{rest:path}", models, methods=["GET", "POST"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/v1/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan)
    app.state.service = service
    return app
