"""Custom ops with their own backward: ``ember.autograd.Function`` (PyTorch's API).

``forward`` runs with grad recording off; the output gets one tape node whose
VJP is the user's ``backward``. Both the classic ``forward(ctx, ...)`` and the
newer ``forward(...)`` + ``setup_context(ctx, inputs, output)`` styles work.
"""

from __future__ import annotations

from .grad_mode import state
from .node import Node


class FunctionCtx:
    """The ``ctx`` object: saves tensors for backward and carries flags."""

    def __init__(self):
        self._saved = ()
        self._versions = ()
        self._freed = False
        self.needs_input_grad = ()
        self.non_differentiable = set()
        self.materialize_grads = True
        self.dirty = ()

    def save_for_backward(self, *tensors):
        self._saved = tensors
        self._versions = tuple((t._counter(), t._counter()[0]) if t is not None else None for t in tensors)

    def save_for_forward(self, *tensors):
        self.saved_for_forward = tensors

    @property
    def saved_tensors(self):
        from .engine import _FREED_MSG

        if self._freed:
            raise RuntimeError(_FREED_MSG)
        for t, v in zip(self._saved, self._versions):
            if v is not None and v[0][0] != v[1]:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: [{t.dtype} {list(t.shape)}] is at version {v[0][0]}; expected version {v[1]} instead."
                )
        return self._saved

    def mark_non_differentiable(self, *tensors):
        self.non_differentiable.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors):
        self.dirty = tensors

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


class Function:
    """Subclass with static ``forward`` and ``backward``; call ``MyOp.apply(...)``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom autograd.Function to use it with backward mode AD."
        )

    vjp = backward

    @classmethod
    def apply(cls, *args, **kwargs):
        from ..tensor import Tensor, _make

        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._rg for a in args)
        prev = state.enabled
        state.enabled = False
        try:
            if hasattr(cls, "setup_context"):
                out = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, out)
            else:
                out = cls.forward(ctx, *args, **kwargs)
        finally:
            state.enabled = prev
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        dirty = {id(t) for t in ctx.dirty}
        for o in outs:
            if isinstance(o, Tensor) and id(o) in dirty:  # mark_dirty: modified in place, returned as itself
                o._bump_version()
        if not (state.enabled and any(ctx.needs_input_grad)):
            return out
        edges = tuple(
            ((a._node, a._idx) if a._node is not None else a) if m else None for a, m in zip(args, ctx.needs_input_grad)
        )
        in_meta = tuple((a._data.shape, a._data.dtype) if m else None for a, m in zip(args, ctx.needs_input_grad))
        out_meta = tuple((o._data.shape, o._data.dtype) if isinstance(o, Tensor) else ((), None) for o in outs)
        node = Node(None, ctx, edges, None, None, None, in_meta, out_meta)
        node.fn = cls
        wrapped = []
        for i, o in enumerate(outs):
            if isinstance(o, Tensor):
                diff = o.is_floating_point() and id(o) not in ctx.non_differentiable
                if id(o) in dirty:
                    if o._node is None and o._rg:
                        raise RuntimeError("a leaf Variable that requires grad has been used in an in-place operation.")
                    if diff:
                        o._node, o._idx, o._rg = node, i, True
                    wrapped.append(o)
                    continue
                t = _make(o._data, node if diff else None, i, diff)
                t._version_counter = o._counter()
                wrapped.append(t)
            else:
                wrapped.append(o)
        if ctx._saved:  # a saved output is the returned one: differentiable, and its in-place changes seen
            by_id = {id(o): w for o, w in zip(outs, wrapped) if isinstance(o, Tensor)}
            ctx._saved = tuple(by_id.get(id(t), t) if t is not None else None for t in ctx._saved)
        return wrapped[0] if single else tuple(wrapped)

    @classmethod
    def _backward(cls, node, grads, retain_graph):
        from .. import ops

        ctx = node.attrs
        if ctx.materialize_grads:
            grads = [
                g if g is not None else ops.zeros(meta[0], dtype=meta[1]) if meta[1] is not None else None
                for g, meta in zip(grads, node.out_meta)
            ]
        result = cls.backward(ctx, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        n_in = len(node.edges)
        if len(result) != n_in:
            if len(result) > n_in and all(r is None for r in result[n_in:]):
                result = result[:n_in]
            else:
                raise RuntimeError(
                    f"function {cls.__name__}Backward returned an incorrect number of gradients (expected {n_in}, got {len(result)})"
                )
        if not retain_graph and ctx._saved:
            ctx._freed = True
            ctx._saved = ()  # free them (and the cycle a saved output makes with its node)
        return result


class once_differentiable:  # noqa: N801 - PyTorch's name
    """Decorator accepted for compatibility: ember backward functions run under grad mode as asked."""

    def __new__(cls, fn):
        return fn
