"""Tape nodes (``grad_fn``): what the backward engine walks.

A Node is recorded by the eager interpreter when an op's output needs a
gradient. Its edges are captured at creation — (producer node, output index)
or the leaf tensor itself — so later in-place changes cannot rewire the graph;
saved tensors carry a version snapshot so such changes are detected.
"""

from __future__ import annotations

import itertools

_seq = itertools.count()


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


# primitives whose PyTorch grad_fn is named otherwise than after the op
_TORCH_NAMES = {
    "cast": "ToCopyBackward0",
    "contiguous": "CloneBackward0",
    "log1p": "Log1PBackward0",
    "view_scatter": "CopySlices",
}


class Node:
    __slots__ = (
        "op",
        "attrs",
        "edges",
        "saved",
        "out",
        "out_version",
        "in_meta",
        "out_meta",
        "seq",
        "__dict__",
        "__weakref__",
    )
    # rarely set: class defaults, so recording a node assigns only the fields above
    hooks = None  # {out_idx: [hook]} from Tensor.register_hook on non-leaves
    retains = None  # {out_idx: weakref to Tensor} from retain_grad()
    freed = False
    trace = None  # creation stack, recorded under detect_anomaly
    fn = None  # the autograd.Function class of a custom op

    def __init__(self, op, attrs, edges, saved, out, out_version, in_meta, out_meta):
        self.op = op  # an Op, or None for custom Functions (see fn)
        self.attrs = attrs
        self.edges = edges  # per arg: None | (Node, out_idx) | leaf Tensor
        self.saved = saved  # per arg: None | (Tensor, version_counter, version)
        self.out = out  # saved output array(s) when the VJP reads them
        self.out_version = out_version
        self.in_meta = in_meta  # per arg: None | (shape, np dtype) for tensor args
        self.out_meta = out_meta  # per output: (shape, np dtype)
        self.seq = next(_seq)

    def name(self) -> str:
        if self.fn is not None:
            return f"{self.fn.__name__}Backward"
        name = _TORCH_NAMES.get(self.op.name)
        return name if name is not None else f"{_camel(self.op.name)}Backward0"

    def __getattr__(self, name):
        # a custom Function's grad_fn is its ctx in PyTorch: ctx attributes read through
        fn = object.__getattribute__(self, "fn")
        if fn is not None and not name.startswith("__"):
            return getattr(object.__getattribute__(self, "attrs"), name)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __repr__(self):
        return f"<{self.name()} object>"

    @property
    def next_functions(self):
        out = []
        for e in self.edges:
            if e is None:
                out.append((None, 0))
            elif type(e) is tuple:
                out.append(e)
            else:
                out.append((AccumulateGrad(e), 0))
        return tuple(out)

    def register_hook(self, fn):
        raise NotImplementedError("ember: hooks on grad_fn nodes are not supported; use Tensor.register_hook")


class AccumulateGrad:
    """The grad_fn-like handle of a leaf tensor, as seen in ``next_functions``."""

    __slots__ = ("variable",)
    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return "<AccumulateGrad object>"
