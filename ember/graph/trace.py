"""``ember.compile``: trace eager code (a module, a loss, a whole training step) into one graph.

The function runs once per cache key with symbolic tensors: its tensor
arguments become graph inputs, every eager tensor it touches (parameters,
buffers, optimizer state, ``.grad``) becomes a state read, in-place updates
re-point symbolic handles, and at the end each tensor whose value changed gets
an assign, so every call writes the new values back into the real tensors, as
eager would. ``loss.backward()`` inside the trace is the ordinary engine
running VJPs on symbolic tensors. Python side effects run only at trace time
(tf.function's rule). The graph is optimised and turned into Python by
``ember.compiler`` when it is there; the graph interpreter is the fallback.
"""

from __future__ import annotations

import logging
import os
import sys
import types

import numpy as np

from ..autograd.grad_mode import state as grad_state
from ..op import dispatch
from ..tensor import Tensor
from . import build, ir
from .build import Building
from .host import HostScalar
from .symbolic import Symbolic

log = logging.getLogger("ember.compile")

_tracers: list = []  # the traces in progress (innermost last)


class TraceAborted(Exception):
    """The trace cannot finish as a graph this time (an optimizer would create its state lazily)."""


# ---- the tracing interpreter -------------------------------------------------------------
def _trace_apply(op, args, attrs):
    """dispatch.apply while tracing: every eager tensor an op touches is captured as state first."""
    tr = _tracers[-1]
    for a in args:
        if isinstance(a, Tensor) and type(a._data) is not Symbolic:
            tr.capture(a)
    return build.apply(op, args, attrs)


class Tracer:
    """One trace: the graph, what it captured, and how to put everything back afterwards."""

    def __init__(self, graph):
        self.graph = graph
        self.building = Building(graph, capture="state")
        self.grads = {}  # id(param) -> (param, grad Tensor at start or None, its real array, READ value)
        self.opt_snapshots = {}  # id(optimizer) -> (optimizer, {id(p): (p, dict(state))})
        self.state_guards = []  # (dict, key, tensor): optimizer state the graph reads and writes

    # ---- capturing -----------------------------------------------------------------------
    def capture(self, t):
        if type(t._data) is not Symbolic:
            build.capture(t, self.graph)
        if t._rg and t._node is None:
            self.track_grad(t)

    def track_grad(self, p):
        """Remember ``p.grad`` as it was; an existing grad becomes a state read (it may accumulate)."""
        if id(p) in self.grads:
            return
        g = p._grad
        if g is None or type(g._data) is Symbolic:  # none, or made earlier in this trace
            self.grads[id(p)] = (p, None, None, None)
            return
        slot = ir.TensorSlot(f"grad_{len(self.grads)}", p, attr="grad")
        node = self.graph.add(ir.READ, None, (), {"slot": slot}, [(slot.shape, slot.dtype)], name="read_grad")
        real = g._data
        g._data = Symbolic(node.out)
        self.grads[id(p)] = (p, g, real, node.out)

    def capture_optimizer(self, opt, with_state=True):
        for group in opt.param_groups:
            for p in group["params"]:
                self.capture(p)
        if not with_state or id(opt) in self.opt_snapshots:
            return
        snap = {}
        for group in opt.param_groups:
            for p in group["params"]:
                st = opt.state.get(p) if p in opt.state else None
                snap[id(p)] = (p, dict(st) if st is not None else None)
                for k, v in (st or {}).items():
                    if isinstance(v, Tensor):
                        self.capture(v)
                        self.state_guards.append((st, k, v))
        self.opt_snapshots[id(opt)] = (opt, snap)

    # ---- finishing -----------------------------------------------------------------------
    def _check_optimizer_state(self):
        """State created inside the trace (Adam's first step) would hold symbolic arrays: undo, abort."""
        changed = False
        for opt, snap in self.opt_snapshots.values():
            for p, before in snap.values():
                now = opt.state.get(p) if p in opt.state else None
                if (before or {}).keys() != (now or {}).keys() or any(
                    now[k] is not v for k, v in (before or {}).items()
                ):
                    changed = True
                    if before is None:
                        opt.state.pop(p, None)
                    else:
                        now.clear()
                        now.update(before)
        if changed:
            raise TraceAborted("an optimizer created its state during the trace")

    def state_writes(self):
        """ASSIGN nodes for every captured tensor (and .grad) the function changed; grads it cleared."""
        graph, writes, clears = self.graph, [], []
        for t, _real, read_v in self.building.captured.values():
            d = t._data
            final = d.value if type(d) is Symbolic else build.constant(graph, np.array(d, copy=True))
            if final is not read_v:
                writes.append((read_v.node.attrs["slot"], final))
        for p, g0, _real, read_v in self.grads.values():
            g = p._grad
            if g is None:
                if g0 is not None:
                    clears.append(p)
                continue
            d = g._data
            if type(d) is Symbolic:
                if g is g0 and d.value is read_v:
                    continue
                final = d.value
            else:
                final = build.constant(graph, np.array(d, copy=True))
            slot = read_v.node.attrs["slot"] if read_v is not None else ir.TensorSlot(f"grad_{id(p)}", p, "grad")
            writes.append((slot, final))
        nodes = []
        for slot, v in writes:
            if v.node.kind in (ir.READ, ir.INPUT):  # never write an array the caller or another slot still owns
                v = build.array_op("clone", (Symbolic(v),), {}).value
            nodes.append(graph.add(ir.ASSIGN, None, [v], {"slot": slot}, [(v.shape, v.dtype)], name="assign"))
        return nodes, clears

    def restore(self):
        for t, real, _ in self.building.captured.values():
            t._data = real
        for p, g0, real, _ in self.grads.values():
            if g0 is not None:
                g0._data = real
            p._grad = g0


def current():
    return _tracers[-1] if _tracers else None


def capture_optimizer(opt, state=True):
    """Called by ``Optimizer.step``/``zero_grad`` inside a trace: their raw-array code needs symbolic state."""
    tr = current()
    if tr is not None:
        tr.capture_optimizer(opt, with_state=state)


# ---- pytrees: nested arguments and results -------------------------------------------------
def flatten(obj, tensors, spec_key):
    """The tensors of ``obj`` (appended to ``tensors``) and a hashable spec of everything else."""
    if isinstance(obj, Tensor):
        tensors.append(obj)
        d = obj._data
        spec_key.append(("T", d.shape, d.dtype, type(d), obj._rg))
        return ("T", len(tensors) - 1)
    if type(obj) in (list, tuple):
        spec_key.append((type(obj).__name__, len(obj)))
        return (type(obj).__name__, [flatten(o, tensors, spec_key) for o in obj])
    if _is_namedtuple(obj):
        spec_key.append(("ntuple", type(obj), len(obj)))
        return ("ntuple", [flatten(o, tensors, spec_key) for o in obj], type(obj))
    if isinstance(obj, dict):
        keys = list(obj)
        spec_key.append(("dict", tuple(keys)))
        return ("dict", keys, [flatten(obj[k], tensors, spec_key) for k in keys])
    spec_key.append(("S", _static_key(obj)))
    return ("S", obj)


def _is_namedtuple(obj):
    return isinstance(obj, tuple) and hasattr(type(obj), "_fields")


def _static_key(obj):
    try:
        hash(obj)
        return obj if isinstance(obj, (int, float, str, bool, type(None), np.generic)) else ("id", id(obj))
    except TypeError:
        return ("id", id(obj))


def rebuild(spec, leaves):
    kind = spec[0]
    if kind == "T":
        return leaves[spec[1]]
    if kind == "S":
        return spec[1]
    if kind == "list":
        return [rebuild(s, leaves) for s in spec[1]]
    if kind == "tuple":
        return tuple(rebuild(s, leaves) for s in spec[1])
    if kind == "ntuple":  # (values, indices) = x.max(dim) and other named results keep their type
        return spec[2](*(rebuild(s, leaves) for s in spec[1]))
    if kind == "dict":
        return {k: rebuild(s, leaves) for k, s in zip(spec[1], spec[2])}
    raise AssertionError(kind)


def _flatten_result(obj, values, graph):
    """The function's result as a spec over graph values (tensors and host scalars)."""
    if isinstance(obj, Tensor):
        d = obj._data
        v = d.value if type(d) is Symbolic else build.constant(graph, np.array(d, copy=True))
        values.append((v, obj._rg))
        return ("T", len(values) - 1)
    if isinstance(obj, HostScalar):
        values.append((obj.value, False))
        return ("T", len(values) - 1)
    if type(obj) in (list, tuple):
        return (type(obj).__name__, [_flatten_result(o, values, graph) for o in obj])
    if _is_namedtuple(obj):
        return ("ntuple", [_flatten_result(o, values, graph) for o in obj], type(obj))
    if isinstance(obj, dict):
        return ("dict", list(obj), [_flatten_result(obj[k], values, graph) for k in obj])
    return ("S", obj)


# ---- finding the modules and optimizers a function reaches -----------------------------------
def discover(fn, args=(), kwargs=None):
    """Modules and optimizers reachable from ``fn`` (its globals, closure, bound self) and its args."""
    from ..nn.modules.module import Module
    from ..optim.optimizer import Optimizer

    modules, optims, seen = [], [], set()

    def visit(o, depth):
        if id(o) in seen or depth > 3:
            return
        seen.add(id(o))
        if isinstance(o, Module):
            modules.extend(m for m in o.modules() if all(m is not x for x in modules))
        elif isinstance(o, Optimizer):
            optims.append(o)
        elif isinstance(o, (list, tuple, set)):
            for x in list(o)[:64]:
                visit(x, depth + 1)
        elif isinstance(o, dict):
            for x in list(o.values())[:64]:
                visit(x, depth + 1)
        elif isinstance(o, types.MethodType):
            visit(o.__self__, depth)
            visit(o.__func__, depth)
        elif isinstance(o, types.FunctionType):
            g = o.__globals__
            for name in _names(o.__code__):
                if name in g:
                    visit(g[name], depth + 1)
            for cell in o.__closure__ or ():
                try:
                    visit(cell.cell_contents, depth + 1)
                except ValueError:
                    pass
            for d in o.__defaults__ or ():
                visit(d, depth + 1)
        elif isinstance(o, (types.ModuleType, type, Tensor, str, bytes, int, float)) or o is None:
            return
        elif hasattr(o, "__dict__") and depth < 2:  # an object holding the model (a trainer): one level
            for x in list(vars(o).values())[:64]:
                visit(x, depth + 1)

    visit(fn, 0)
    for a in list(args) + list((kwargs or {}).values()):
        visit(a, 1)
    return modules, optims


def _state_names(modules, optims):
    """id(tensor) -> its name in the model ("0.weight") or optimizer ("0.weight.exp_avg"), for readable
    slots and generated code; the outermost module that holds a tensor names it."""
    names = {}
    for m in modules:
        for n, t in list(m.named_parameters()) + list(m.named_buffers()):
            names.setdefault(id(t), n)
    for o in optims:
        for p, st in o.state.items():
            base = names.get(id(p), "param")
            for k, v in st.items():
                if isinstance(v, Tensor):
                    names.setdefault(id(v), f"{base}.{k}")
    return names


def _names(code):
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _names(c)
    return names


def debug_level():
    try:
        return int(os.environ.get("EMBER_DEBUG", "0") or 0)
    except ValueError:
        return 1


def debug_log(msg):
    if debug_level() >= 1:
        log.info(msg)
        print(f"[ember.compile] {msg}", file=sys.stderr)


# ---- tracing one call -----------------------------------------------------------------------
class Trace:
    """What one trace produced: the graph and how to map a call's arguments and results onto it."""

    def __init__(self, graph, arg_spec, out_spec, out_values, clears, input_grads, captured, grads, state_guards):
        self.graph = graph
        self.arg_spec = arg_spec
        self.out_spec = out_spec
        self.out_values = out_values
        self.clears = clears  # params whose .grad the function set to None
        self.input_grads = input_grads  # (input index, graph output index): grads of inputs needing grad
        self.captured = captured  # [(tensor, shape, dtype)]: guards on captured state
        self.grads = grads  # [(param, had a grad)]: guards on .grad presence
        self.state_guards = state_guards


class GradientsLeaveTrace(NotImplementedError):
    """The traced function returns tensors whose gradients are taken outside it (``model = compile(model)``
    then ``loss.backward()``): compiled regions do not take part in an outer backward yet."""


def trace(fn, args, kwargs, name="traced"):
    """Run ``fn(*args, **kwargs)`` with symbolic tensors and return a Trace."""
    graph = ir.Graph(name=name)
    tracer = Tracer(graph)
    tensors, spec_key = [], []
    arg_spec = flatten((args, kwargs), tensors, spec_key)
    prev_apply = dispatch.apply
    _tracers.append(tracer)
    dispatch.apply = _trace_apply
    try:
        with tracer.building:
            syms = []
            for i, t in enumerate(tensors):
                d = t._data
                node = graph.add(ir.INPUT, None, (), {}, [(tuple(d.shape), d.dtype)], name=f"arg{i}")
                graph.inputs.append(node.out)
                s = build.symbolic_tensor(node.out, requires_grad=t._rg)
                syms.append(s)
            modules, optims = discover(fn, args, kwargs)
            tracer.building.names.update(_state_names(modules, optims))
            for m in modules:
                for p in m._parameters.values():
                    if p is not None:
                        tracer.track_grad(p)
            for o in optims:
                for group in o.param_groups:
                    for p in group["params"]:
                        tracer.track_grad(p)
            sargs, skwargs = rebuild(arg_spec, syms)
            result = fn(*sargs, **skwargs)
            tracer._check_optimizer_state()
            values = []
            out_spec = _flatten_result(result, values, graph)
            input_grads = []
            for i, s in enumerate(syms):
                g = s._grad
                if g is not None:
                    d = g._data
                    v = d.value if type(d) is Symbolic else build.constant(graph, np.array(d, copy=True))
                    input_grads.append((i, len(values)))
                    values.append((v, False))
            writes, clears = tracer.state_writes()
            backward_ran = any(n.attrs["slot"].attr == "grad" for n in writes) or input_grads
            if grad_state.enabled and any(rg for _, rg in values) and not backward_ran:
                raise GradientsLeaveTrace(
                    "its result requires grad and the gradient would flow back through the compiled region "
                    "from outside (loss.backward() after the call)"
                )
            graph.outputs = [v for v, _ in values]
            graph.state_writes = writes
            schedule_writes(graph)
    finally:
        dispatch.apply = prev_apply
        _tracers.pop()
        tracer.restore()
    captured = [(t, tuple(real.shape), real.dtype) for t, real, _ in tracer.building.captured.values()]
    grads = [(p, g0 is not None) for p, g0, _, _ in tracer.grads.values()]
    return Trace(
        graph, arg_spec, out_spec, graph.outputs, clears, input_grads, captured, grads, tracer.state_guards
    ), spec_key


# ---- where the writes go ---------------------------------------------------------------------
_MAY_ALIAS = {"contiguous", "to_device", "cast"}  # ops whose kernel may return its input itself


def schedule_writes(graph):
    """Move each ASSIGN up to the first point where it is safe, so new values die early.

    An assign writes *into* the array its slot's READ returned, so it must wait for every
    node that reads that array or a view of it; and for its own value. Placed there (not at
    the end of the program), Adam's new moments and each new parameter are written and freed
    one by one instead of all living until the end of the step.
    """
    nodes = graph.nodes
    pos = {n.id: i for i, n in enumerate(nodes)}
    writes = [n for n in nodes if n.kind == ir.ASSIGN]
    if not writes:
        return
    alias_of = {}  # Value -> id(slot)
    for n in nodes:
        if n.kind == ir.READ:
            alias_of[n.out] = id(n.attrs["slot"])
        elif n.kind == ir.OP and n.inputs and isinstance(n.inputs[0], ir.Value) and n.inputs[0] in alias_of:
            if n.op.view or n.op.name in _MAY_ALIAS:
                for v in n.values:
                    alias_of[v] = alias_of[n.inputs[0]]
    last = {}  # id(slot) -> position of the last non-assign node reading an alias of it
    for i, n in enumerate(nodes):
        if n.kind == ir.ASSIGN:
            continue
        for a in n.inputs:
            if isinstance(a, ir.Value) and a in alias_of:
                last[alias_of[a]] = i
    pinned = {alias_of[v] for v in graph.outputs if v in alias_of}  # a returned alias: write at the end
    end = len(nodes)
    want = {}
    for w in writes:
        slot = id(w.attrs["slot"])
        v = w.inputs[0]
        want[w.id] = end if slot in pinned else max(pos[v.node.id], last.get(slot, -1))
    # an assign whose value aliases another slot's array must run before that slot is written
    for _ in range(len(writes)):
        changed = False
        for w in writes:
            other = alias_of.get(w.inputs[0])
            if other is None:
                continue
            for w2 in writes:
                if id(w2.attrs["slot"]) == other and want[w2.id] < want[w.id]:
                    want[w2.id] = want[w.id]
                    changed = True
        if not changed:
            break
    after = {}
    for w in writes:  # stable: writes that land on the same spot keep their order
        after.setdefault(want[w.id], []).append(w)
    out = []
    for i, n in enumerate(nodes):
        if n.kind != ir.ASSIGN:
            out.append(n)
        out.extend(after.pop(i, ()))
    for k in sorted(after):
        out.extend(after[k])
    assert len(out) == len(nodes)
    graph.nodes = out
