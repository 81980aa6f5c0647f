"""ONNX interchange: ``export`` a model or function to an ONNX file, ``load`` one back as ember code.

Needs the onnx extra (``pip install 'ember[onnx]'``); importing ``ember.onnx`` works
without it and the calls raise an ImportError that says so.
"""

from __future__ import annotations

from .emitters import NOT_EXPORTED, UnsupportedOperatorError
from .export import export
from .load import load, load_predictor

__all__ = ["export", "load", "load_predictor", "UnsupportedOperatorError", "NOT_EXPORTED"]
