"""The import guard for ember.onnx: ONNX is an optional extra, so its absence is a clear ImportError."""

from __future__ import annotations


def require_onnx():
    """Import and return the ``onnx`` package, or say which extra installs it."""
    try:
        import onnx
    except ImportError as e:
        raise ImportError("ember.onnx needs the onnx extra: pip install 'ember[onnx]'") from e
    return onnx
