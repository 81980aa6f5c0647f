"""Static dataflow graphs: the IR, the graph-building interpreter, symbolic autodiff, execution.

``ember.compat.v1`` (TensorFlow 1's API) and ``ember.compile`` (tracing eager
code) both build these graphs; ``ember.compiler`` optimises them and turns
them into Python source.
"""

from .build import Building, apply, capture, constant, is_symbolic, symbolic_tensor
from .ir import ASSIGN, CONST, GROUP, HOST, INPUT, OP, READ, Graph, Node, Slot, TensorSlot, Value
from .symbolic import Symbolic, SymbolicValueError


def __getattr__(name):  # heavier parts import the op library: load them on first use
    if name == "gradients":
        from .autodiff import gradients

        return gradients
    if name in ("run", "plan"):
        from . import execute

        return getattr(execute, name)
    raise AttributeError(f"module 'ember.graph' has no attribute {name!r}")


__all__ = [
    "ASSIGN",
    "CONST",
    "GROUP",
    "HOST",
    "INPUT",
    "OP",
    "READ",
    "Building",
    "Graph",
    "Node",
    "Slot",
    "Symbolic",
    "SymbolicValueError",
    "TensorSlot",
    "Value",
    "apply",
    "capture",
    "constant",
    "gradients",
    "is_symbolic",
    "run",
    "symbolic_tensor",
]
