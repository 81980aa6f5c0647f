"""ONNX interchange: ``export`` a model or function to an ONNX file, ``load`` one back as ember code.

Needs the onnx extra (``pip install 'ember[onnx]'``); importing ``ember.onnx`` works
without it and the calls raise an ImportError that says so.
"""

from __future__ import annotations

from .emitters import NOT_EXPORTED, UnsupportedOperatorError
from .export import export


def load(*args, **kwargs):
    """Load an ONNX model as an ember module (see ``ember.onnx.load.load``)."""
    from .load import load as _load

    return _load(*args, **kwargs)


def load_predictor(*args, **kwargs):
    """Load an ONNX model as a callable predictor (see ``ember.onnx.load.load_predictor``)."""
    from .load import load_predictor as _load_predictor

    return _load_predictor(*args, **kwargs)


__all__ = ["export", "load", "load_predictor", "UnsupportedOperatorError", "NOT_EXPORTED"]
