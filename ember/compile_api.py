"""``ember.compile(fn_or_module)``: a cached, traced, optimised and generated version of eager code.

The first call with a new signature (input shapes, dtypes, static arguments,
grad mode, training flags) traces the function (``graph/trace.py``), runs the
compiler's passes and code generation, and caches the program; later calls
only feed arrays to it. Semantics are eager's, bit for bit: ``EMBER_CHECK=1``
reruns each call with the graph interpreter and names the first node that
differs; ``EMBER_DEBUG=1`` logs every retrace with the reason.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from .autograd.grad_mode import state as grad_state
from .graph import execute, ir
from .graph import trace as tr
from .tensor import Tensor, _make


class CompileCheckError(AssertionError):
    """EMBER_CHECK=1: the compiled program and the reference interpreter disagree."""


class _Program:
    """One cached trace: the traced graph, the optimised graph and the callable that runs it."""

    def __init__(self, traced, backend):
        self.traced = traced
        self.source_graph = traced.graph
        self.graph = traced.graph
        self.code = None
        self.runner = None
        self.fallback_reason = None
        if backend in (None, "ember", "inductor"):
            self._compile()
        if self.runner is None:
            self.runner = self._interpret
        out_nodes = {id(v.node): v.node.kind for v in self.graph.outputs}
        # returned values that are state or constants would alias arrays the graph keeps: copy them
        self.copy_out = [out_nodes[id(v.node)] in (ir.READ, ir.CONST, ir.INPUT) for v in self.graph.outputs]

    def _compile(self):
        try:
            from .compiler import optimize
        except ImportError as e:  # pragma: no cover - the compiler is part of ember
            self.fallback_reason = f"no compiler ({e})"
            return
        try:
            self.graph = optimize(self.source_graph)
        except Exception as e:  # passes skip themselves on errors; this is a last guard
            self.fallback_reason = f"optimize failed: {type(e).__name__}: {e}"
            tr.log.warning("ember.compile: %s; running the traced graph unoptimised", self.fallback_reason)
            self.graph = self.source_graph
        try:
            from .compiler.codegen import compile_graph
        except ImportError:
            self.fallback_reason = "no code generator (ember.compiler.codegen)"
            return
        try:
            compiled = compile_graph(self.graph, name=_identifier(self.source_graph.name))
        except Exception as e:
            self.fallback_reason = f"code generation failed: {type(e).__name__}: {e}"
            tr.log.warning("ember.compile: %s; using the graph interpreter", self.fallback_reason)
            return
        self.code = getattr(compiled, "code", None)
        self.runner = _codegen_runner(compiled, self.graph)

    def _interpret(self, arrays):
        g = self.graph
        return execute.run(g, g.outputs, g.state_writes, feeds=dict(zip(g.inputs, arrays)))

    def reference(self, arrays, record=None):
        """The traced (unoptimised) graph run by the graph interpreter: eager's semantics, node by node."""
        g = self.source_graph
        return execute.run(g, g.outputs, g.state_writes, feeds=dict(zip(g.inputs, arrays)), record=record)


def _identifier(name):
    ident = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return ident if ident and not ident[0].isdigit() else f"fn_{ident}"


def _codegen_runner(compiled, graph):
    """Adapt H2b's CompiledGraph to ``run(arrays) -> outputs`` (its call takes the inputs in order)."""
    run = getattr(compiled, "run", None) or compiled

    def runner(arrays):
        out = run(*arrays)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    runner.compiled = compiled
    return runner


class CompiledFunction:
    """What ``ember.compile(fn)`` returns: call it like ``fn``."""

    def __init__(self, fn, *, fullgraph=True, dynamic=False, backend=None, mode=None, name=None):
        self.fn = fn
        self.fullgraph = fullgraph
        self.dynamic = dynamic
        self.backend = backend
        self.mode = mode
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        self._cache = {}  # key -> _Program
        self._last_key = None
        self._last = None  # the last program run (for .code / .graph)
        self._calls = 0
        self._modules = None  # discovered on the first call: their training flags are part of the key
        self._optims = None
        self._eager_keys = set()  # keys that run eagerly (untraceable with fullgraph=False, or outer backward)
        self._warned_backward = False
        self.traces = 0  # how many times the function was traced (tests and logs read it)

    # ---- introspection ------------------------------------------------------------------------
    @property
    def graph(self):
        """The optimised graph of the last call."""
        return self._last.graph if self._last is not None else None

    @property
    def traced_graph(self):
        return self._last.source_graph if self._last is not None else None

    @property
    def code(self):
        """The generated Python source of the last call's program (or the printed graph when interpreted)."""
        if self._last is None:
            return None
        return self._last.code if self._last.code is not None else str(self._last.graph)

    # ---- calling ------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if tr.current() is not None:  # called while another function is being traced: inline
            return self.fn(*args, **kwargs)
        if self.backend == "eager":
            return self.fn(*args, **kwargs)
        if self._modules is None:
            self._modules, self._optims = tr.discover(self.fn, args, kwargs)
        self._calls += 1
        if self._calls == 1 and self._optims:
            # warm-up: optimizers create their state lazily at the first step; run that step eagerly
            return self.fn(*args, **kwargs)
        if not kwargs and all(type(a) is Tensor for a in args):  # the common call: tensors only
            tensors = args
            spec_key = [("tuple", 2), ("tuple", len(args))]
            for a in args:
                d = a._data
                spec_key.append(("T", d.shape, d.dtype, type(d), a._rg))
            spec_key.append(("dict", ()))
        else:
            tensors, spec_key = [], []
            tr.flatten((args, kwargs), tensors, spec_key)
        key = (tuple(spec_key), grad_state.enabled, tuple(m.training for m in self._modules))
        if key in self._eager_keys:
            return self.fn(*args, **kwargs)
        prog = self._cache.get(key)
        reason = None
        if prog is not None:
            reason = _guard_failure(prog.traced)
            if reason is not None:
                prog = None
        elif self._last_key is not None:
            reason = _key_change(self._last_key, key)
        if prog is None:
            prog = self._trace(args, kwargs, key, reason)
            if prog is None:
                return self.fn(*args, **kwargs)
        self._last_key = key
        self._last = prog
        return self._run(prog, tensors)

    def _trace(self, args, kwargs, key, reason):
        if reason is not None:
            tr.debug_log(f"retrace {self.name}: {reason}")
        try:
            traced, _ = tr.trace(self.fn, args, kwargs, name=self.name)
        except tr.TraceAborted as e:
            tr.debug_log(f"{self.name}: {e}; this call runs eagerly and the next one traces")
            return None
        except tr.GradientsLeaveTrace as e:
            # torch.compile(model) then loss.backward(): correct results first; this signature runs eagerly
            if not self._warned_backward:
                self._warned_backward = True
                warnings.warn(
                    f"ember.compile({self.name}): {e}, so calls like this one run eagerly (same results, no "
                    "speed-up). Compile the whole training step (forward, loss.backward(), optimizer.step()) "
                    "as one function to run it compiled; under ember.no_grad() the compiled program is used.",
                    stacklevel=3,
                )
            self._eager_keys.add(key)
            return None
        except Exception as e:
            if self.fullgraph or isinstance(e, NotImplementedError):
                raise
            from .graph.symbolic import SymbolicValueError

            if not isinstance(e, SymbolicValueError):
                raise
            warnings.warn(f"ember.compile({self.name}): cannot trace ({e}); running it eagerly", stacklevel=3)
            self._eager_keys.add(key)
            return None
        self.traces += 1
        prog = _Program(traced, self.backend)
        if prog.fallback_reason:
            tr.debug_log(f"{self.name}: {prog.fallback_reason}")
        if tr.debug_level() >= 2:
            tr.debug_log(f"traced {self.name}:\n{prog.graph}")
        self._cache[key] = prog
        return prog

    def _run(self, prog, tensors):
        arrays = [t._data for t in tensors]
        check = os.environ.get("EMBER_CHECK", "0") not in ("", "0")
        if check:
            return self._run_checked(prog, tensors, arrays)
        outs = prog.runner(arrays)
        return self._finish(prog, tensors, outs)

    def _finish(self, prog, tensors, outs):
        traced = prog.traced
        for p in traced.clears:
            p._grad = None
        for i, j in traced.input_grads:
            t, g = tensors[i], outs[j]
            if t._grad is None:
                t._grad = _make(g)
            else:
                t._grad._data = t._grad._data + g
        leaves = [
            _make(o.copy() if c else o) if not isinstance(o, (float, int)) else o for o, c in zip(outs, prog.copy_out)
        ]
        return tr.rebuild(traced.out_spec, leaves)

    # ---- EMBER_CHECK=1 ------------------------------------------------------------------------
    def _run_checked(self, prog, tensors, arrays):
        """Run the reference interpreter on copies of the state, then the program; compare everything."""
        slots = _slots(prog.source_graph)
        start = [(s, _read_slot(s)) for s in slots]  # copies of the state before the call
        record = {}
        with _sandbox(start):
            ref = prog.reference([a.copy() for a in arrays], record=record)
            ref_state = [(s, _read_slot(s)) for s in slots]
        outs = prog.runner(arrays)
        got_state = [(s, _read_slot(s)) for s in slots]
        bad = _first_difference(prog, ref, outs, ref_state, got_state, record, arrays, start)
        if bad:
            raise CompileCheckError(bad)
        return self._finish(prog, tensors, outs)


class _sandbox:
    """Give each slot's tensor a copy of ``start`` for the duration; put the real objects back after."""

    def __init__(self, start):
        self.start = start

    def __enter__(self):
        self.real = [(s, s.tensor._data, s.tensor._grad) for s, _ in self.start]
        for s, a in self.start:
            _write_slot(s, None if a is None else a.copy())

    def __exit__(self, *exc):
        for s, data, grad in reversed(self.real):  # reversed: a tensor's first record holds the real objects
            s.tensor._data, s.tensor._grad = data, grad


def _same(a, b):
    if a is None or b is None:
        return a is b
    if isinstance(a, (float, int)) or isinstance(b, (float, int)):
        return float(a) == float(b) or (a != a and b != b)
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def _first_difference(prog, ref, outs, ref_state, got_state, record, arrays, start):
    """None when the program matches the reference; else which node diverged first, and where."""
    mismatch = [i for i, (a, b) in enumerate(zip(ref, outs)) if not _same(a, b)]
    mismatch_state = [s for (s, a), (_, b) in zip(ref_state, got_state) if not _same(a, b)]
    if not mismatch and not mismatch_state:
        return None
    # find the first node of the optimised graph whose value differs from the reference's
    node_msg = ""
    got_record = _program_record(prog, arrays, start)
    record = {(v.node.name, v.index): a for v, a in record.items()}
    for n in prog.graph.nodes:
        for v in n.values:
            k = (n.name, v.index)
            if k in record and k in got_record and not _same(record[k], got_record[k]):
                kind = v.dtype.__name__ if isinstance(v.dtype, type) else np.dtype(v.dtype).name
                node_msg = f"\n  first diverging node: {n.name} ({n.op_name}) {v.shape} {kind}"
                node_msg += f"\n  created at {n.where()}" if n.frame else ""
                break
        if node_msg:
            break
    what = [f"output {i}" for i in mismatch] + [f"state {s.name}" for s in mismatch_state]
    return f"EMBER_CHECK: the compiled program differs from eager execution in {', '.join(what)}{node_msg}"


def _program_record(prog, arrays, start):
    """Every node value of the compiled program, by (node name, output index).

    The optimised graph is generated again with every value as an output (same passes, same
    kernels); where code generation is not available the graph interpreter runs it."""
    g = prog.graph
    vals = [v for n in g.nodes if n.kind not in (ir.ASSIGN, ir.GROUP) for v in n.values]
    got = {}
    with _sandbox(start):
        feeds = [a.copy() for a in arrays]
        try:
            from .compiler.codegen import compile_graph

            outs = compile_graph(g, name="check", outputs=vals, targets=g.state_writes)(*feeds)
            got = {v: o.copy() if hasattr(o, "copy") else o for v, o in zip(vals, outs)}
        except Exception:
            execute.run(g, g.outputs, g.state_writes, feeds=dict(zip(g.inputs, feeds)), record=got)
    return {(v.node.name, v.index): a for v, a in got.items()}


def _slots(graph):
    seen, out = set(), []
    for n in graph.nodes:
        if n.kind in (ir.READ, ir.ASSIGN):
            s = n.attrs["slot"]
            if id(s) not in seen:
                seen.add(id(s))
                out.append(s)
    return out


def _read_slot(s):
    a = s.read(None)
    return None if a is None else a.copy()


def _write_slot(s, a):
    t = s.tensor
    if s.attr == "_data":
        t._data = a
    elif a is None:
        t._grad = None
    else:
        t._grad = _make(a)


def _guard_failure(traced):
    """Why a cached trace no longer fits the state it captured (None when it still does)."""
    for t, shape, dtype in traced.captured:  # every call: identity checks first (dtypes are singletons)
        d = t._data
        if d.shape != shape or (d.dtype is not dtype and d.dtype != dtype):
            return f"captured tensor shape/dtype changed {shape} {np.dtype(dtype).name} -> {tuple(d.shape)} {d.dtype}"
    for p, had in traced.grads:
        if (p._grad is not None) != had:
            return (
                f"a parameter's .grad is {'set' if p._grad is not None else 'None'} (it was {'set' if had else 'None'})"
            )
    for st, k, t in traced.state_guards:
        if st.get(k) is not t:
            return f"optimizer state '{k}' was replaced"
    return None


def _key_change(old, new):
    """Which part of the cache key changed: 'input 0 shape (32, 64) -> (16, 64)'."""
    (ospec, ograd, otrain), (nspec, ngrad, ntrain) = old, new
    if ograd != ngrad:
        return f"grad mode {'enabled' if ograd else 'disabled'} -> {'enabled' if ngrad else 'disabled'}"
    if otrain != ntrain:
        return "module training mode changed (train() / eval())"
    if len(ospec) != len(nspec):
        return "argument structure changed"
    ti = -1
    for a, b in zip(ospec, nspec):
        if a[0] == "T":
            ti += 1
        if a == b:
            continue
        if a[0] == "T" and b[0] == "T":
            if a[1] != b[1]:
                return f"input {ti} shape {a[1]} -> {b[1]}"
            if a[2] != b[2]:
                return f"input {ti} dtype {np.dtype(a[2]).name} -> {np.dtype(b[2]).name}"
            if a[3] != b[3]:
                return f"input {ti} device changed"
            return f"input {ti} requires_grad {a[4]} -> {b[4]}"
        if a[0] == "S" and b[0] == "S":
            return f"static argument {a[1]!r} -> {b[1]!r}"
        return f"argument structure changed ({a[0]} -> {b[0]})"
    return "new signature"


class CompiledModule:
    """``ember.compile(module)``: calls go through the compiled forward; everything else is the module."""

    def __init__(self, module, **options):
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "_compiled", CompiledFunction(module, name=type(module).__name__, **options))

    def __call__(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    def forward(self, *args, **kwargs):
        return self._compiled(*args, **kwargs)

    @property
    def code(self):
        return self._compiled.code

    @property
    def graph(self):
        return self._compiled.graph

    def __getattr__(self, name):
        return getattr(self._orig_mod, name)

    def __setattr__(self, name, value):
        setattr(self._orig_mod, name, value)

    def __repr__(self):
        return f"Compiled({self._orig_mod!r})"


def compile(fn=None, *, fullgraph=True, dynamic=False, backend=None, mode=None):  # noqa: A001
    """Trace ``fn`` (a function or an ``nn.Module``) into a graph and run it compiled (``torch.compile``).

    ``backend``: None/"ember" (optimise + generate Python), "interpreter" (run the traced graph with
    the graph interpreter), "eager" (no tracing). ``fullgraph=False``: a function that cannot be traced
    (Python control flow on tensor values) runs eagerly instead of raising. ``mode`` is accepted and
    ignored; ``dynamic=True`` is accepted but shapes are still specialised (a new shape retraces).
    Python side effects in ``fn`` run when it is traced, not at every call (tf.function's rule); the
    first call of a function that reaches an optimizer runs eagerly so the optimizer creates its state.
    """
    if fn is None:  # used as @ember.compile(...)
        return lambda f: compile(f, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode)
    from .nn.modules.module import Module

    opts = dict(fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode)
    if isinstance(fn, Module):
        return CompiledModule(fn, **opts)
    return CompiledFunction(fn, **opts)


__all__ = ["compile", "CompiledFunction", "CompiledModule", "CompileCheckError"]
