"""Serve ember models over TensorFlow Serving's REST API (needs the serve extra: fastapi/starlette, uvicorn).

``serve(path_or_predictor, name=...)`` runs a server; ``create_app`` builds the ASGI app for embedding.
A predictor is any object with ``signature`` ({"inputs": {name: {"shape", "dtype"}}, "outputs": ...})
and ``predict(dict[str, ndarray]) -> dict[str, ndarray]``.
"""

from .app import DEFAULT_MAX_BODY_BYTES, create_app
from .server import BackgroundServer, load_predictor_for, main, serve

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BackgroundServer", "create_app", "load_predictor_for", "main", "serve"]
