"""Model export: a self-contained directory (graph.json, weights.safetensors, signature.json).

``save_model(model, example_inputs, path)`` traces an nn.Module or function (or
takes an ``ember.compile`` graph or a ``compat.v1`` Session); ``load_model(path)``
rebuilds and runs it in any process, without the model's Python code.
"""

from .loaded import LoadedModel, load_model
from .save import save_model

__all__ = ["LoadedModel", "load_model", "save_model"]
