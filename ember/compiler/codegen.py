"""Code generation: a graph becomes one readable Python function over the array module.

``compile_graph(graph)`` writes the source of a function taking the graph's
inputs and returning its outputs; it reads and writes state, evaluates host
scalars and runs every op, in program order. An op calls its own kernel
(``op_add(xp, a, b)``, with the node's casts applied exactly as the graph
interpreter does) unless a template in ``kernels.py`` computes the same bits
inline, writing into the buffer the memory plan gave it. Values are named
after their nodes, dropped after their last use, and each line ends with the
user's line that created it. ``CompiledGraph.code`` is that source.
"""

from __future__ import annotations

import itertools
import keyword
import math
import operator
import os
import re
import sys

import numpy as np

from ..devices import xp_of
from ..graph import ir
from ..graph.execute import FailedPreconditionError
from . import kernels
from .memory import FRESH_OPS, HOLD_BYTES, _nbytes, plan_for

_COMMENT_COL = 64
_serial = itertools.count()


# ---- helpers the generated code calls ------------------------------------------------------
def _arr(xp, out):
    """Kernels may return NumPy scalars (reductions to 0-d): the graph interpreter makes arrays."""
    if hasattr(out, "shape") and not isinstance(out, np.generic):
        return out
    return xp.asarray(out)


def _cast(a, c):
    """A host scalar's cast, exactly as ``execute.cast_args`` does it."""
    from ..eager import _scalar_as

    return a.astype(c) if type(a) not in (float, int, bool) else _scalar_as(a, c)


def _uninitialized(slot, where):
    raise FailedPreconditionError(
        f"Attempting to use uninitialized value {slot.name}" + (f"\n  (read at {where})" if where else "")
    )


def _state(slot, store, shape, dtype):
    """The state array an update is written into, checked against what the plan assumed."""
    a = slot.read(store)
    if a is None or a.shape != shape or a.dtype != dtype:
        got = "None" if a is None else f"{a.shape} {a.dtype}"
        raise RuntimeError(
            f"compiled graph: state '{slot.name}' is {got}, the code was generated for {shape} {dtype}; recompile"
        )
    return a


def _set_grad(slot, store, a):
    """A fresh gradient array becomes the .grad's array, as eager's backward hands over the arrays
    it computed -- copied when it is a view, as eager copies one (so a transposed gradient is
    C-ordered, as eager's is); a missing or differently shaped .grad goes through the slot's write."""
    if a.base is not None:
        a = a.copy()
    g = slot.tensor._grad
    if g is None or g._data.shape != a.shape or g._data.dtype != a.dtype:
        slot.write(store, a)
    else:
        g._data = a


# host scalar arithmetic (host.py builds it from the operator module): written as the expression
_HOST_OPS = {
    operator.add: "{} + {}",
    operator.sub: "{} - {}",
    operator.mul: "{} * {}",
    operator.truediv: "{} / {}",
    operator.pow: "{} ** {}",
    operator.neg: "-{}",
}

_HELPERS = {"_arr": _arr, "_cast": _cast, "_uninitialized": _uninitialized, "_state": _state, "_set_grad": _set_grad}


# ---- naming --------------------------------------------------------------------------------
class _Names:
    def __init__(self, reserved):
        self.used = set(reserved)

    def fresh(self, base):
        base = re.sub(r"\W", "_", base) or "v"
        if base[0].isdigit():
            base = "v" + base
        if keyword.iskeyword(base):
            base += "_"
        name, k = base, 1
        while name in self.used:
            name = f"{base}_{k}"
            k += 1
        self.used.add(name)
        return name


def _literal_attr(v):
    if v is None or type(v) in (bool, int, str):
        return True
    if type(v) is float:
        return math.isfinite(v)
    if type(v) in (tuple, list):
        return all(_literal_attr(x) for x in v)
    return False


def _where(n):
    if not n.frame:
        return ""
    f, line, src = n.frame
    return f"{os.path.basename(f)}:{line}" + (f"  {src.strip()}" if src else "")


# ---- the generator ---------------------------------------------------------------------------
class _Gen:
    def __init__(self, graph, plan, outputs, name):
        self.graph = graph
        self.plan = plan
        self.outputs = outputs
        self.fname = re.sub(r"\W", "_", name) or "compiled"
        self.globals = {"np": np, "xp": np, **_HELPERS}
        self.names = _Names(list(self.globals) + ["store", "_b", self.fname])
        self.var = {}  # Value -> expression naming it
        self.lines = []
        self.line_node = {}  # generated line number -> node (error messages)
        self.gnames = {}  # id(object) -> global name bound to it

    def bind(self, obj, base):
        """Bind ``obj`` as a global of the generated module, once."""
        got = self.gnames.get(id(obj))
        if got is not None:
            return got
        name = self.names.fresh(base)
        self.globals[name] = obj
        self.gnames[id(obj)] = name
        return name

    def emit(self, code, node=None, comment=None):
        where = comment if comment is not None else (_where(node) if node is not None else "")
        text = "    " + code
        if where:
            text = text.ljust(_COMMENT_COL) + "  # " + where
        self.lines.append(text)
        if node is not None:
            self.line_node[len(self.lines)] = node

    # ---- arguments ------------------------------------------------------------------------
    def arg(self, n, j, a):
        """Argument j of node n as an expression, with the node's cast applied."""
        c = n.casts[j] if n.casts is not None else None
        if isinstance(a, ir.Value):
            e = self.var[a]
            if c is None:
                return e
            if a.dtype is float or a.dtype is int:  # a host scalar: cast like execute.cast_args
                return f"_cast({e}, {self.bind(np.dtype(c), 'dt_' + np.dtype(c).name)})"
            return f"{e}.astype(xp.{np.dtype(c).name})"
        if c is not None and type(a) in (float, int, bool):
            from ..eager import _scalar_as

            return self.bind(_scalar_as(a, c), "k")  # computed once: the same NumPy scalar every call
        if type(a) in (float, int, bool) and (type(a) is not float or math.isfinite(a)):
            return repr(a)
        if a is None:
            return "None"
        return self.bind(a, "k")

    # ---- nodes -----------------------------------------------------------------------------
    def value_names(self, n):
        if len(n.values) == 1:
            return [self.names.fresh(n.name)]
        return [self.names.fresh(f"{n.name}_{i}") for i in range(len(n.values))]

    def node(self, i, n):
        kind = n.kind
        if kind == ir.INPUT:
            return  # a parameter
        if kind == ir.CONST:
            self.var[n.out] = self.bind(n.attrs["value"], n.name)
            return
        if kind == ir.READ:
            slot = n.attrs["slot"]
            s = self.bind(slot, "slot_" + slot.name)
            (v,) = self.value_names(n)
            if isinstance(slot, ir.TensorSlot) and slot.attr == "_data":  # what slot.read does, one call less
                self.emit(f"{v} = {self.bind(slot.tensor, 't_' + slot.name)}._data", n)
            else:
                self.emit(f"{v} = {s}.read(store)", n)
            if not (isinstance(slot, ir.TensorSlot) and slot.attr == "_data"):  # a tensor always has data
                where = self.bind(n.where(), "where_" + n.name) if n.frame else "None"
                self.emit(f"if {v} is None: _uninitialized({s}, {where})", n)
            self.var[n.out] = v
            return
        if kind == ir.ASSIGN:
            slot = n.attrs["slot"]
            s = self.bind(slot, "slot_" + slot.name)
            src = self.var[n.inputs[0]]
            if id(n) in self.plan.assign_done:
                t = self.bind(slot.tensor, "t_" + slot.name)
                self.emit(f"{t}._bump_version()", n, comment=f"{slot.name} was updated in place above")
            elif id(n) in self.handover:
                self.emit(f"_set_grad({s}, store, {src})", n)
            else:
                self.emit(f"{s}.write(store, {src})", n)
            self.var[n.out] = src
            return
        if kind == ir.HOST:
            (v,) = self.value_names(n)
            fn = n.attrs.get("fn")
            if fn is not None:
                args = [self.var[a] if isinstance(a, ir.Value) else self.arg_literal(a) for a in n.inputs]
                op = _HOST_OPS.get(fn)
                if op is not None and len(args) == (1 if fn is operator.neg else 2):  # plain Python arithmetic
                    args = [f"({a})" if a.startswith("-") else a for a in args]  # -2 ** x is -(2 ** x)
                    self.emit(f"{v} = {op.format(*args)}", n)
                else:
                    f = self.bind(fn, "host_" + getattr(fn, "__name__", "fn"))
                    self.emit(f"{v} = {f}({', '.join(args)})", n)
            else:
                g = self.bind(n.attrs["get"], "get_" + n.name)
                self.emit(f"{v} = {g}()", n)
            self.var[n.out] = v
            return
        if kind == ir.GROUP:
            self.emit(f"pass  # group {n.name}", n)
            return
        self.op_node(n)

    def arg_literal(self, a):
        if type(a) in (int, float, bool) and (type(a) is not float or math.isfinite(a)):
            return repr(a)
        return self.bind(a, "k")

    def op_node(self, n):
        if id(n) in self.implicit:  # consumers broadcast the unexpanded value into their buffers
            self.var[n.out] = self.var[n.inputs[0]]
            return
        t = self.plan.templates.get(id(n))
        args = [self.arg(n, j, a) for j, a in enumerate(n.inputs)]
        names = self.value_names(n)
        if t is not None and (t.view or t.into is None or not self.plan.static):
            attrs = kernels.template_attrs(n)
            expr = t.fresh(args, attrs)
            if n.out.shape == () and not t.view:
                expr = f"_arr(xp, {expr})"
            self.emit(f"{names[0]} = {expr}", n)
        elif t is not None:
            self.into(n, t, args, names[0])
        else:  # the op's own kernel, as the graph interpreter calls it
            impl = self.bind(n.op.impl, "op_" + n.op.name)
            call = [f"{impl}(xp"] + args
            if all(_literal_attr(v) for v in n.attrs.values()):
                call += [f"{k}={v!r}" for k, v in n.attrs.items()]
            else:  # dtypes, run-time shapes...: passed as the node's own dict
                call.append("**" + self.bind(n.attrs, "attrs_" + n.name))
            self.finish_generic(n, names, ", ".join(call) + ")")
            return
        for v, nm in zip(n.values, names):
            self.var[v] = nm

    def finish_generic(self, n, names, expr):
        if len(names) == 1:
            if n.out.shape == ():
                expr = f"_arr(xp, {expr})"
            self.emit(f"{names[0]} = {expr}", n)
        else:
            self.emit(f"{', '.join(names)} = {expr}", n)
            for v, nm in zip(n.values, names):
                if v.shape == ():
                    self.emit(f"{nm} = _arr(xp, {nm})", n)
        for v, nm in zip(n.values, names):
            self.var[v] = nm

    def into(self, n, t, args, name):
        plan = self.plan
        attrs = kernels.template_attrs(n)
        slot = plan.direct.get(id(n))
        ip = plan.inplace.get(id(n))
        head = None
        if slot is not None:  # the chain's first op already wrote (and checked) the state array
            head = next((a for a in n.inputs if isinstance(a, ir.Value) and plan.direct.get(id(a.node)) is slot), None)
        if head is not None:
            out = self.var[head]
            ip = n.inputs.index(head)
        elif slot is not None:
            s = self.bind(slot, "slot_" + slot.name)
            shape = repr(tuple(n.out.shape))
            dt = self.bind(np.dtype(n.out.dtype), "dt_" + np.dtype(n.out.dtype).name)
            # an argument that is the state array itself is now the output buffer
            pos = [j for j, a in enumerate(n.inputs) if isinstance(a, ir.Value) and a.node.kind == ir.READ]
            ip = next((j for j in pos if n.inputs[j].node.attrs["slot"] is slot), None)
            if ip is not None and args[ip] == self.var[n.inputs[ip]]:
                # the state array is in hand: check it inline (``_state`` raises the explanation)
                out = args[ip]
                self.emit(f"if {out}.shape != {shape} or {out}.dtype != {dt}: _state({s}, store, {shape}, {dt})", n)
            else:
                self.emit(f"{name} = _state({s}, store, {shape}, {dt})", n)
                out = name
        elif ip is not None:
            out = args[ip]
        else:
            buf = plan.buffer_of[n.out]
            if buf.per_call and buf.values[0] is n.out:
                dt = self.bind(np.dtype(buf.dtype), "dt_" + buf.dtype.name)
                bname = self.names.fresh(f"buf{buf.index}")
                self.bufvar[buf.index] = bname
                order = ", order='F'" if buf.order == "F" else ""
                self.emit(f"{bname} = xp.empty({tuple(buf.shape)!r}, {dt}{order})", n)
            out = self.bufvar[buf.index]
        stmts = t.into(args, attrs, out, ip)
        if len(stmts) == 1 and stmts[0].endswith(f"out={out})"):  # a ufunc call returns its out=
            self.emit(f"{name} = {stmts[0]}", n)
        else:
            for s in stmts:
                self.emit(s, n)
            self.emit(f"{name} = {out}", n)
        self.var[n.out] = name

    # ---- the function ----------------------------------------------------------------------
    def generate(self):
        plan, graph = self.plan, self.graph
        params = []
        for v in graph.inputs:
            p = self.names.fresh(v.node.name)
            self.var[v] = p
            params.append(p)
        self.bufvar = {}
        pre = plan.preallocated
        if pre:
            for b in pre:
                self.bufvar[b.index] = self.names.fresh(f"buf{b.index}")
            lhs = ", ".join(self.bufvar[b.index] for b in pre)
            self.emit(f"{lhs}{',' if len(pre) == 1 else ''} = _b", comment="buffers reused by every call")
        self.handover, held = _ownership(plan, self.outputs)
        self.implicit = _implicit_expands(plan, self.outputs)
        # a large .grad this call replaces without reading it (zero_grad ran in the traced step)
        # is dropped up front, as eager's zero_grad(set_to_none=True) drops it: its memory is free
        # for the step instead of both the old and the new gradient being alive at the end
        read_slots = {id(n.attrs["slot"]) for n in plan.order if n.kind == ir.READ}
        for n in plan.order:  # a tensor is named after its data slot, even where its .grad is used first
            slot = n.attrs.get("slot") if n.kind in (ir.READ, ir.ASSIGN) else None
            if isinstance(slot, ir.TensorSlot) and slot.attr == "_data":
                self.bind(slot.tensor, "t_" + slot.name)
        for n in plan.order:
            if id(n) in self.handover and id(n.attrs["slot"]) not in read_slots and _nbytes(n.out) > HOLD_BYTES:
                t = self.bind(n.attrs["slot"].tensor, "t_" + n.attrs["slot"].name)
                self.emit(f"{t}._grad = None", comment="released as zero_grad does; set again below")
        buf_dying = {}  # a buffer allocated per call is freed after the last use of its last value
        for b in plan.buffers:
            end = plan.buffer_end.get(b.index, len(plan.order))
            if b.per_call and end < len(plan.order):
                buf_dying.setdefault(end, []).append(b.index)
        last = plan.last_use
        dying = {}
        for v, i in last.items():
            dying.setdefault(i, []).append(v)
        group_at = {id(g[0]): g for g in plan.groups}
        name_last = {}  # name -> last use of any value bound to it (an ASSIGN's value shares its input's)
        for v in graph.inputs:
            name_last[self.var[v]] = last.get(v, -1)
        for i, n in enumerate(plan.order):
            g = group_at.get(id(n))
            if g is not None:
                self.emit(f"# fused: {' -> '.join(m.op.name for m in g)}", comment="")
            missing = [a for a in n.inputs if isinstance(a, ir.Value) and a not in self.var]
            if missing:
                raise RuntimeError(f"compile_graph: {n.name} reads {missing[0].name}, which was not computed before it")
            self.node(i, n)
            for v in n.values:
                nm = self.var.get(v)
                if nm is not None:
                    name_last[nm] = max(name_last.get(nm, -1), last.get(v, i))
            dead = [self.bufvar[k] for k in buf_dying.get(i, ()) if k in self.bufvar]
            for v in dying.get(i, ()):
                nm = self.var.get(v)
                if nm is None or nm in self.globals or nm in dead or name_last.get(nm, -1) > i or v in held:
                    continue
                dead.append(nm)
            if dead:
                self.emit(f"del {', '.join(dead)}", comment="")
        rets = [self.var[v] for v in self.outputs]
        self.emit(f"return ({', '.join(rets)}{',' if len(rets) == 1 else ''})", comment="")
        sig = ", ".join(params + ["*", "store=None", "_b=()"])
        head = f"def {self.fname}({sig}):"
        return "\n".join([head] + self.lines) + "\n"


def _implicit_expands(plan, outputs):
    """``expand`` nodes whose every consumer is an element-wise template writing into a planned
    buffer: a ufunc broadcasts its inputs to ``out``'s shape, so the consumer can read the
    unexpanded array -- the same elements, without NumPy's slow Python ``broadcast_to``."""
    if not plan.static:
        return set()
    uses = {}
    for n in plan.order:
        for a in n.inputs:
            if isinstance(a, ir.Value):
                uses.setdefault(a, []).append(n)
    found = set()
    out = set(outputs)
    for n in plan.order:
        if n.kind != ir.OP or n.op.name != "expand" or n.out in out:
            continue
        t = plan.templates.get(id(n))
        if t is None or not t.view or not isinstance(n.inputs[0], ir.Value):
            continue
        ok = bool(uses.get(n.out))
        for c in uses.get(n.out, ()):
            tc = plan.templates.get(id(c)) if c.kind == ir.OP else None
            if tc is None or not tc.elementwise or tc.into is None or c.out.shape != n.out.shape:
                ok = False
                break
        if ok:
            found.add(id(n))
    return found


def _ownership(plan, outputs):
    """(ASSIGNs of .grad that may hand their array over, values whose ``del`` would free nothing).

    A value "may alias" the arrays that outlive the call (state, the caller's inputs, constants,
    state updated in place) when it is one of them or a view some kernel may have returned of one;
    a gradient that does not is a fresh array of this call and becomes the .grad's array as is.
    Held: a state array, a buffer kept between calls, or a view of either -- deleting the name
    frees nothing, so no ``del`` is written for it."""
    risky, held = set(), set()
    bufferable = plan.static
    for n in plan.order:
        k = n.kind
        if k in (ir.READ, ir.INPUT, ir.CONST):
            risky.update(n.values)
            slot = n.attrs.get("slot") if k == ir.READ else None
            if isinstance(slot, ir.TensorSlot) and slot.attr == "_data":
                held.update(n.values)
        elif k == ir.ASSIGN:
            if n.inputs[0] in risky:
                risky.add(n.out)
        elif k == ir.OP:
            t = plan.templates.get(id(n))
            args = [a for a in n.inputs if isinstance(a, ir.Value)]
            if id(n) in plan.direct:
                risky.update(n.values)
                held.update(n.values)
            elif t is not None and not t.view:
                b = plan.buffer_of.get(n.out) if bufferable and t.into is not None else None
                if b is not None and not b.per_call:
                    held.add(n.out)
            elif t is not None:  # an inline view
                if any(a in risky for a in args):
                    risky.add(n.out)
                if args and args[0] in held:
                    held.add(n.out)
            elif n.op.name in FRESH_OPS:
                pass
            elif any(a in risky for a in args) or any(isinstance(a, np.ndarray) for a in n.inputs):
                risky.update(n.values)
    writes = {}
    for n in plan.order:
        if n.kind == ir.ASSIGN:
            writes.setdefault(n.inputs[0], []).append(n)
    out = set(outputs)
    handover = set()
    for v, assigns in writes.items():
        a = assigns[0]
        slot = a.attrs["slot"]
        if (
            len(assigns) == 1
            and isinstance(slot, ir.TensorSlot)
            and slot.attr == "grad"
            and v.node.kind == ir.OP
            and v not in risky
            and v not in out
            and a.out not in out
            and id(a) not in plan.assign_done
        ):
            handover.add(id(a))
    return handover, held


class CompiledGraph:
    """A graph as generated Python: ``compiled(*arrays, store=None)`` returns the outputs (a tuple)."""

    def __init__(self, graph, plan, code, globals_, fname, line_node, outputs):
        self.graph = graph
        self.plan = plan
        self.code = code
        self.name = fname
        self.outputs = outputs
        self._globals = globals_
        self._line_node = line_node
        self._filename = f"<ember compiled {fname} #{next(_serial)}>"  # unique: tracebacks show this source
        code_obj = compile(code, self._filename, "exec")
        exec(code_obj, globals_)
        self._fn = globals_[fname]
        self._variants = {np: self._fn}  # array module -> function bound to it
        self._buffers = {}  # array module -> preallocated buffers (first call)
        import linecache

        linecache.cache[self._filename] = (len(code), None, code.splitlines(True), self._filename)

    def _for(self, xp):
        fn = self._variants.get(xp)
        if fn is None:
            import types

            g = dict(self._globals, xp=xp)
            fn = self._variants[xp] = types.FunctionType(self._fn.__code__, g, self.name)
            g[self.name] = fn
        bufs = self._buffers.get(xp)
        if bufs is None:
            bufs = self._buffers[xp] = tuple(xp.empty(b.shape, b.dtype, order=b.order) for b in self.plan.preallocated)
        return fn, bufs

    def __call__(self, *arrays, store=None):
        first = arrays[0] if arrays else None
        xp = np if first is None or type(first) is np.ndarray else xp_of(first)
        fn, bufs = self._for(xp)
        try:
            return fn(*arrays, store=store, _b=bufs)
        except Exception as e:
            raise self._explain(e) from e

    def _explain(self, e):
        """Name the node (and the user's line) whose generated line raised."""
        tb = sys.exc_info()[2]
        node = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self._filename:
                node = self._line_node.get(tb.tb_lineno - 1)
            tb = tb.tb_next
        if node is None or getattr(e, "_compiled_node", False):
            return e
        try:
            new = type(e)(
                f"{e}\n  (compiled graph '{self.name}', node '{node.name}' ({node.op_name}), created at {node.where()})"
            )
        except Exception:
            return e
        new._compiled_node = True
        return new

    def memory_report(self):
        return self.plan.report(self.name)

    def __repr__(self):
        return f"<CompiledGraph {self.name}: {len(self.plan.order)} nodes, {len(self.plan.buffers)} buffers>"


def compile_graph(graph, name="compiled", outputs=None, targets=None):
    """Generate, compile and return the function for ``graph`` (outputs: ``graph.outputs``;
    state writes: ``graph.state_writes``, or the given ``outputs``/``targets``)."""
    plan = plan_for(graph, outputs, targets)
    outputs = list(graph.outputs if outputs is None else outputs)
    gen = _Gen(graph, plan, outputs, name)
    code = gen.generate()
    return CompiledGraph(graph, plan, code, gen.globals, gen.fname, gen.line_node, outputs)
