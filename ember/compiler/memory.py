"""Memory planning: which buffer each templated op writes into, reused across values and calls.

Shapes of a traced graph are static, so every value a kernel template computes
gets a buffer sized at code-generation time, allocated on the first call and
reused by later calls and by later values whose lifetimes do not overlap
(liveness from program order). An op writes into an input's buffer when that
input dies there. Never written: arrays the caller passes in, constants, state
(except a state update written straight into its array when nothing reads the
old value later), anything that escapes to the caller (outputs and values
handed to state are written into fresh per-call buffers), and a buffer while
any view of it lives (ops that call their own kernel may return views, so
their outputs are taken to alias every input).
"""

from __future__ import annotations

import numpy as np

from ..graph import ir
from .fuse import emission_order, exec_nodes, fingerprint, groups_for, static
from .kernels import template_for


class Buffer:
    __slots__ = ("index", "shape", "dtype", "per_call", "values")

    def __init__(self, index, shape, dtype):
        self.index = index
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self.per_call = False  # escapes to the caller: a fresh array every call
        self.values = []  # values written into it, in order

    @property
    def nbytes(self):
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


class MemoryPlan:
    """The decisions code generation reads, for one list of nodes in emission order."""

    def __init__(self, nodes, order, groups, key):
        self.nodes = nodes  # program order
        self.order = order  # emission order (fusion groups run back to back)
        self.groups = groups
        self.key = key
        self.static = static(nodes)
        self.templates = {}  # id(node) -> Template (inline kernels)
        self.buffer_of = {}  # Value -> Buffer it is written into
        self.inplace = {}  # id(node) -> arg position whose buffer it overwrites
        self.direct = {}  # id(node) -> Slot whose array the op writes (a state update in place)
        self.assign_done = set()  # id(ASSIGN) whose value is already in the state array
        self.buffers: list[Buffer] = []
        self.last_use = {}  # Value -> index in order of its last reader (len(order): returned)
        self.naive_bytes = 0
        self.generic_bytes = 0

    @property
    def preallocated(self):
        return [b for b in self.buffers if not b.per_call]

    @property
    def planned_bytes(self):
        return sum(b.nbytes for b in self.buffers)

    def report(self, name="graph"):
        pre = self.preallocated
        per = [b for b in self.buffers if b.per_call]
        nvals = sum(len(b.values) for b in self.buffers)
        lines = [f"memory plan for '{name}':"]
        if not self.static:
            lines.append("  shapes are not all known (None dims): no buffers planned, kernels allocate")
        lines += [
            f"  naive (every op output a new array): {self.naive_bytes:,} bytes",
            f"  planned: {self.planned_bytes:,} bytes in {len(self.buffers)} buffers for {nvals} values "
            f"({sum(b.nbytes for b in pre):,} preallocated once, {sum(b.nbytes for b in per):,} fresh per call "
            "because they are returned or stored)",
            f"  in place: {len(self.inplace)} ops; state arrays updated in place: {len(self.direct)}"
            + (f" ({', '.join(s.name for s in self.direct.values())})" if self.direct else ""),
            f"  fused groups: {len(self.groups)}; outputs of ops that run their own kernel: "
            f"{self.generic_bytes:,} bytes (not planned)",
        ]
        return "\n".join(lines)


def _nbytes(v):
    if v.dtype is float or v.dtype is int or None in v.shape:
        return 0
    return int(np.prod(v.shape, dtype=np.int64)) * np.dtype(v.dtype).itemsize


def make_plan(graph, outputs=None, targets=None):
    outputs = list(graph.outputs if outputs is None else outputs)
    nodes = exec_nodes(graph, outputs, targets)
    groups = groups_for(graph, nodes, outputs)
    order = emission_order(nodes, groups)
    plan = MemoryPlan(nodes, order, groups, fingerprint(nodes, outputs))
    for n in order:
        t = template_for(n)
        if t is not None:
            plan.templates[id(n)] = t
    end = len(order)
    last = plan.last_use
    for i, n in enumerate(order):
        for v in n.values:
            last.setdefault(v, i)  # produced and never read: dead right away
        for a in n.inputs:
            if isinstance(a, ir.Value):
                last[a] = i
    for v in outputs:
        last[v] = end
    for n in order:
        if n.kind == ir.OP:
            b = sum(_nbytes(v) for v in n.values)
            t = plan.templates.get(id(n))
            if not n.op.view and not (t is not None and t.view):
                plan.naive_bytes += b
                if t is None or t.into is None:
                    plan.generic_bytes += b
    if not plan.static:
        return plan
    _plan_buffers(plan, outputs)
    return plan


def _bufferable(plan, n):
    t = plan.templates.get(id(n))
    return t is not None and t.into is not None


def _aliases(plan, order):
    """Value -> slots whose array it may be (state reads, and ops that may return views of them)."""
    state = {}
    for n in order:
        if n.kind == ir.READ:
            state[n.out] = {n.attrs["slot"]}
        elif n.kind == ir.ASSIGN:
            state[n.out] = state.get(n.inputs[0], set())
        elif n.kind == ir.OP and not _bufferable(plan, n):
            s = set()
            for a in n.inputs:
                if isinstance(a, ir.Value):
                    s |= state.get(a, set())
            for v in n.values:
                state[v] = s
    return state


def _direct_writes(plan, outputs):
    """State updates computed by a template straight into the state array (``out=param``)."""
    order, last = plan.order, plan.last_use
    pos = {id(n): i for i, n in enumerate(order)}
    state = _aliases(plan, order)
    by_slot = {}  # slot -> values that may be its array
    for w, slots in state.items():
        for s in slots:
            by_slot.setdefault(s, []).append(w)
    assigns_to = {}
    for n in order:
        if n.kind == ir.ASSIGN:
            assigns_to.setdefault(n.attrs["slot"], []).append(n)
    for slot, assigns in assigns_to.items():
        if len(assigns) != 1 or not isinstance(slot, ir.TensorSlot) or slot.attr != "_data":
            continue  # a plain Slot's array may be held by whoever fetched it: rebind, never overwrite
        a = assigns[0]
        v = a.inputs[0]
        p = v.node
        if not _bufferable(plan, p) or v.shape != slot.shape or np.dtype(v.dtype) != np.dtype(slot.dtype):
            continue
        if v in outputs or a.out in outputs:
            continue
        i = pos[id(p)]
        if not _stays_inside(order, i, v, a, outputs, plan):
            continue
        if any(m.kind == ir.READ and m.attrs["slot"] is slot and pos[id(m)] > i for m in order):
            continue  # a later read must see the old value
        t = plan.templates[id(p)]
        ok = True
        for w in by_slot.get(slot, ()):  # the old state must be dead once p has run
            if last.get(w, -1) < i:
                continue
            if last[w] > i:
                ok = False
                break
            at = [j for j, b in enumerate(p.inputs) if b is w]
            if w.node.kind != ir.READ or not at or any(j not in t.inplace for j in at):
                ok = False
                break
            if t.exclusive and len(at) > 1:
                ok = False
                break
        if ok and t.exclusive:  # the state must not also sit under another argument as a view
            views = [j for j, b in enumerate(p.inputs) if isinstance(b, ir.Value) and slot in state.get(b, ())]
            ok = len(views) <= 1
        if ok:
            plan.direct[id(p)] = slot
            plan.assign_done.add(id(a))


def _stays_inside(order, i, v, assign, outputs, plan):
    """``v`` will be the state array itself: neither it nor a view of it may be returned or stored."""
    reach = {v}
    for m in order[i + 1 :]:
        if m is assign or not any(isinstance(x, ir.Value) and x in reach for x in m.inputs):
            continue
        if m.kind == ir.ASSIGN:
            return False
        if m.kind == ir.OP and not _bufferable(plan, m):
            reach.update(m.values)
    return not any(x in reach for x in outputs)


def _plan_buffers(plan, outputs):
    order, last = plan.order, plan.last_use
    _direct_writes(plan, outputs)
    end = len(order)
    for n in order:  # a value handed to state lives on in the state: its buffer is never reused this call
        if n.kind == ir.ASSIGN and id(n) not in plan.assign_done:
            last[n.inputs[0]] = end
            last[n.out] = end
    pred = {}  # fusion: id(member) -> the previous member's value
    for g in plan.groups:
        for p, n in zip(g, g[1:]):
            pred[id(n)] = p.out
    aliases = {}  # Value -> set of Buffers it may be (a view of)
    holders = {}  # Buffer -> values that may alias it
    free = {}  # (shape, dtype) -> [Buffer] whose values are all dead
    for i, n in enumerate(order):
        if n.kind == ir.OP and _bufferable(plan, n) and id(n) not in plan.direct:
            t = plan.templates[id(n)]
            v = n.out
            buf = None
            cands = []
            if id(n) in pred:
                cands.append(pred[id(n)])
            cands += [n.inputs[j] for j in t.inplace]
            for a in cands:
                if not isinstance(a, ir.Value):
                    continue
                b = plan.buffer_of.get(a)
                if b is None or a.shape != v.shape or np.dtype(a.dtype) != np.dtype(v.dtype):
                    continue
                at = [j for j, x in enumerate(n.inputs) if x is a]
                if any(j not in t.inplace or (n.casts is not None and n.casts[j] is not None) for j in at):
                    continue
                if any(last[w] > i for w in holders[b]):
                    continue  # something reads the old contents later
                others = [x for j, x in enumerate(n.inputs) if j not in at and isinstance(x, ir.Value)]
                if t.exclusive and (len(at) > 1 or any(b in aliases.get(x, ()) for x in others)):
                    continue
                if any(b in aliases.get(x, ()) and aliases[x] != {b} for x in others):
                    continue  # a view of the buffer under another argument: keep it simple, do not overwrite
                buf = b
                plan.inplace[id(n)] = at[0]
                break
            if buf is None:
                key = (v.shape, np.dtype(v.dtype))
                pool = free.get(key)
                if pool:
                    buf = pool.pop()
                else:
                    buf = Buffer(len(plan.buffers), v.shape, v.dtype)
                    plan.buffers.append(buf)
                    holders[buf] = []
            buf.values.append(v)
            plan.buffer_of[v] = buf
            aliases[v] = {buf}
            holders[buf].append(v)
        elif n.kind == ir.OP:  # its own kernel: outputs may be views of any input
            s = set()
            for a in n.inputs:
                if isinstance(a, ir.Value):
                    s |= aliases.get(a, set())
            for v in n.values:
                aliases[v] = s
                for b in s:
                    holders[b].append(v)
        elif n.kind == ir.ASSIGN:
            s = aliases.get(n.inputs[0], set())
            aliases[n.out] = s
            for b in s:
                holders[b].append(n.out)
        # buffers whose every value is now dead go back to the pool
        touched = set()
        for a in list(n.inputs) + list(n.values):
            if isinstance(a, ir.Value):
                touched |= aliases.get(a, set())
        for b in touched:
            if all(last[w] <= i for w in holders[b]) and b not in _in_pool(free, b):
                free.setdefault((b.shape, b.dtype), []).append(b)
    # what the caller keeps (outputs) or state keeps (assigned values) must be new every call
    for v in outputs:
        for b in aliases.get(v, ()):
            b.per_call = True
    for n in order:
        if n.kind == ir.ASSIGN and id(n) not in plan.assign_done:
            for b in aliases.get(n.inputs[0], ()):
                b.per_call = True


def _in_pool(free, b):
    return free.get((b.shape, b.dtype), ())


def plan_memory(graph: ir.Graph) -> ir.Graph:
    """Pass: attach the memory plan (``graph.memory_plan``); nodes are not touched."""
    g = graph.copy_with(graph.nodes)
    g.memory_plan = make_plan(g)
    return g


def plan_for(graph, outputs=None, targets=None):
    """The graph's memory plan if it was made for exactly these nodes, else a new one."""
    got = getattr(graph, "memory_plan", None)
    if got is not None and outputs is None and targets is None:
        nodes = exec_nodes(graph)
        if got.key == fingerprint(nodes, graph.outputs):
            return got
    return make_plan(graph, outputs, targets)
