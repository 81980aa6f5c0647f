"""The graph-building interpreter: ``apply(op, args, attrs)`` adds a node instead of running a kernel.

The eager interpreter hands an op to ``apply`` here whenever one of its
arguments is symbolic, so every op function, composite and VJP builds graphs
with no per-op graph code. The node gets its output shapes and dtypes from
the op's shape and dtype rules (a mismatch raises now, naming the op, the
shapes and the user's line), the kernel casts resolved once (as eager does),
and, when an input needs a gradient, an ordinary tape node, so
``loss.backward()`` inside a trace emits gradient nodes through the same VJPs.
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as dt
from ..autograd.grad_mode import state as grad_state
from ..errors import ShapeError
from ..op import REGISTRY, ShapeDtype, zero_dim
from ..tensor import Tensor, _make
from . import ir
from .symbolic import Symbolic, SymbolicValueError


class Building:
    """Which graph new nodes go to when no argument is symbolic, and how eager tensors enter it.

    capture="const": an eager tensor becomes a constant (TF1 graphs).
    capture="state": it becomes a state read, re-read at every run and written
    back if the graph updates it in place (``ember.compile`` traces).
    """

    stack: list = []

    def __init__(self, graph, capture="const"):
        self.graph = graph
        self.capture = capture
        self.captured = {}  # id(tensor) -> (tensor, real data, read Value)
        self.names = {}  # id(tensor) -> a readable name for its slot ("0.weight", "0.weight.exp_avg")
        self.consts = {}  # id(array) -> (array, Value)

    def __enter__(self):
        Building.stack.append(self)
        return self

    def __exit__(self, *exc):
        Building.stack.pop()


def current():
    return Building.stack[-1] if Building.stack else None


def building_for(graph):
    for b in reversed(Building.stack):
        if b.graph is graph:
            return b
    return None


def frame_of_user():
    """(file, line, source) of the innermost caller outside ember: walks frames directly, since
    every graph node records it and a full ``traceback.extract_stack`` was a fifth of trace time."""
    import linecache
    import sys

    from ..errors import _PACKAGE_DIR

    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_PACKAGE_DIR):
        f = f.f_back
    if f is None:
        return None
    filename, lineno = f.f_code.co_filename, f.f_lineno
    return (filename, lineno, linecache.getline(filename, lineno).strip())


def finalized_error(graph, what):
    fr = frame_of_user()
    where = f" at {fr[0]}:{fr[1]}: {fr[2]}" if fr else ""
    by = f" (it was finalized when {graph.finalized_by} first ran it)" if graph.finalized_by else ""
    name = getattr(what, "name", what)
    return RuntimeError(
        f"Graph is finalized and cannot be modified: creating a new '{name}' op{where}{by}.\n"
        "Building ops inside a training loop adds nodes at every step (the classic TF1 memory leak): "
        "create the op once before the loop and run it with Session.run."
    )


def leak_error(graph, what, first_run):
    fr = frame_of_user()
    where = f"{fr[0]}:{fr[1]}: {fr[2]}" if fr else "this line"
    name = getattr(what, "name", what)
    return RuntimeError(
        f"An op is being built inside a training loop: {where}\n"
        f"adds a new '{name}' op after Session.run #{graph.runs}, and it already added ops after run "
        f"#{first_run}. Each iteration grows the graph (the classic TF1 memory leak): build the op once, "
        "before the loop, and run it with Session.run."
    )


# ---- turning arguments into graph inputs -------------------------------------------------
def _value_of(t, graph):
    d = t._data
    if isinstance(d, Symbolic):
        v = d.value
        if v.node.graph is not graph:
            raise ValueError(
                f"Tensor {v.name} must be from the same graph as the other inputs of this op "
                f"(it belongs to {v.node.graph.name}, the op is being added to {graph.name})"
            )
        return v
    return capture(t, graph)


def capture(t, graph):
    """An eager tensor used by a graph op: a constant, or (in a trace) a state read."""
    b = building_for(graph)
    mode = b.capture if b is not None else "const"
    if mode == "const":
        return constant(graph, t._data, b)
    got = b.captured.get(id(t))
    if got is not None:  # captured and then restored by a nested trace: should not happen
        return got[2]
    hint = b.names.get(id(t))
    slot = ir.TensorSlot(hint or f"captured_{len(b.captured)}", t)
    node = graph.add(
        ir.READ, None, (), {"slot": slot}, [(slot.shape, slot.dtype)], name=hint or "read", frame=frame_of_user()
    )
    b.captured[id(t)] = (t, t._data, node.out)
    t._data = Symbolic(node.out)  # later in-place updates re-point this handle; restored after the trace
    return node.out


def constant(graph, array, b=None, name="Const"):
    if b is None:
        b = building_for(graph)
    key = id(array)
    if b is not None:
        got = b.consts.get(key)
        if got is not None and got[0] is array:
            return got[1]
    node = graph.add(ir.CONST, None, (), {"value": array}, [(array.shape, array.dtype)], name=name)
    if b is not None:
        b.consts[key] = (array, node.out)
    return node.out


def _graph_of(args):
    for a in args:
        d = getattr(a, "_data", None)
        if isinstance(d, Symbolic):
            return d.value.node.graph
        if isinstance(a, HostScalarBase):
            return a.value.node.graph
    b = current()
    if b is None:
        raise RuntimeError("ember.graph: no graph is being built")
    return b.graph


class HostScalarBase:
    """Marker base for host scalars (defined in host.py): a Python number known at run time."""

    __slots__ = ("value",)


def _spec(v):
    if v.dtype is float or v.dtype is int:
        return v.dtype(1)
    return ShapeDtype(v.shape, dt.from_numpy_dtype(v.dtype))


def _sig(v):
    if v.dtype is float or v.dtype is int:
        return v.dtype
    return zero_dim(v.dtype) if v.shape == () else v.dtype


def apply(op, args, attrs):
    """Add ``op(*args, **attrs)`` to the graph of its symbolic arguments; return symbolic tensors."""
    graph = _graph_of(args)
    inputs, specs, sig = [], [], []
    for a in args:
        if isinstance(a, Tensor):
            v = _value_of(a, graph)
            inputs.append(v)
            specs.append(_spec(v))
            sig.append(_sig(v))
        elif isinstance(a, HostScalarBase):
            inputs.append(a.value)
            specs.append(_spec(a.value))
            sig.append(a.value.dtype)
        else:
            if isinstance(a, np.generic):
                a = a.item()
            elif isinstance(a, np.ndarray):
                raise TypeError(f"{op.name}: expected ember Tensors or Python numbers, got a numpy.ndarray")
            inputs.append(a)
            specs.append(a)
            sig.append(type(a))
    sig = tuple(sig)
    try:
        casts = op._casts[sig]
    except KeyError:
        casts = op.casts_for(sig)
    out_dtypes = op.out_dtype(sig)
    frame = frame_of_user()
    try:
        rule = op.shape(*specs, **attrs)
    except (ShapeError, ValueError, IndexError, TypeError, RuntimeError) as e:
        raise _with_line(e, frame) from None
    rules = rule if op.nout > 1 else (rule,)
    out_dtypes = out_dtypes if isinstance(out_dtypes, tuple) else (out_dtypes,) * op.nout
    outs = []
    for r, d in zip(rules, out_dtypes):
        if isinstance(r, ShapeDtype):
            r, d = r.shape, r.dtype
        if r is None:
            raise NotImplementedError(
                f"{op.name}: its shape rule cannot tell the output shape; it cannot run in a graph"
            )
        outs.append((tuple(r), d.np))
    node = graph.add(ir.OP, op, inputs, dict(attrs), outs, frame=frame, casts=casts)
    syms = [Symbolic(v) for v in node.values]
    cls = graph.tensor_class
    rg = grad_state.enabled and any(isinstance(a, Tensor) and a._rg for a in args)
    if rg and any(o[1].kind == "f" for o in outs):
        from ..eager import _record

        arrays = [a._data if isinstance(a, Tensor) else a for a in args]
        tape = _record(op, args, attrs, arrays, tuple(syms))
        if op.nout == 1:
            t = _wrap(cls, syms[0], tape, 0, True)
            if op.saves_out:
                t._version_counter = tape.out_version
            return t
        return tuple(_wrap(cls, s, tape, i, s.dtype.kind == "f") for i, s in enumerate(syms))
    if op.nout == 1:
        t = _wrap(cls, syms[0])
        if op.view and args and isinstance(args[0], Tensor):
            _mark_symbolic_view(t, op, args, attrs)
        return t
    return tuple(_wrap(cls, s) for s in syms)


def _mark_symbolic_view(t, op, args, attrs):
    """A view op's graph result remembers its base, so an in-place write through it updates the base
    (``z[:, 1:2].mul_(3)`` changes ``z``), as eager's shared memory does."""
    src = args[0]
    base = getattr(src, "_base", None)
    t._base = base if base is not None else src
    t._view_chain = (src._view_chain if base is not None else ()) + ((op, args[1:], attrs),)


def _wrap(cls, sym, node=None, idx=0, rg=False):
    """A graph's tensors are of its ``tensor_class`` (TF1 graphs use one with TF's methods)."""
    if cls is Tensor:
        return _make(sym, node, idx, rg and node is not None)
    t = object.__new__(cls)
    t._data, t._node, t._idx, t._rg = sym, node, idx, rg and node is not None
    return t


def _with_line(e, frame):
    if frame is None or getattr(e, "_graph_line", False):
        return e
    new = type(e)(f"{e}\n  (while building the graph, at {frame[0]}:{frame[1]}: {frame[2]})")
    new._ember = True
    new._graph_line = True
    return new


# ---- the NumPy-style calls Symbolic forwards here ----------------------------------------
def array_op(name, args, attrs):
    """Run table op ``name`` on symbolic arrays / scalars without recording a gradient."""
    op = REGISTRY[name]
    wrapped = [_make(a) if isinstance(a, Symbolic) else a for a in args]
    with _no_grad():
        out = apply(op, wrapped, attrs)
    return out._data


def array_full_like(sym, value):
    """A constant array of ``sym``'s shape and dtype (``ndarray.fill`` on a symbolic array)."""
    graph = sym.value.node.graph
    arr = np.full(sym.shape, value, dtype=sym.dtype)
    return Symbolic(constant(graph, arr))


class _no_grad:
    def __enter__(self):
        self.prev = grad_state.enabled
        grad_state.enabled = False

    def __exit__(self, *exc):
        grad_state.enabled = self.prev


def is_symbolic(t):
    return isinstance(getattr(t, "_data", None), Symbolic)


def symbolic_tensor(value, requires_grad=False):
    t = _wrap(value.node.graph.tensor_class, Symbolic(value))
    if requires_grad:
        t._rg = True
    return t


__all__ = ["Building", "apply", "capture", "constant", "is_symbolic", "symbolic_tensor", "SymbolicValueError"]


def placeholder(graph, shape, dtype, name="Placeholder"):
    """A value fed at run time; ``None`` dims are checked only when it is fed."""
    np_dtype = np.dtype(dtype.np if hasattr(dtype, "np") else dtype)
    node = graph.add(ir.INPUT, None, (), {}, [(tuple(shape), np_dtype)], name=name, frame=frame_of_user())
    graph.inputs.append(node.out)
    return symbolic_tensor(node.out)
