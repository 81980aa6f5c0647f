"""The backward engine: an iterative walk of the tape in reverse creation order.

It counts each node's consumers, then runs nodes from a heap keyed by
creation order (as PyTorch does), so deep unrolled graphs never touch the
recursion limit and accumulation order is deterministic. VJPs are ember ops,
run with grad mode on only when ``create_graph`` asks for a differentiable
backward. Broadcasting is undone here, once, for every op.
"""

from __future__ import annotations

import heapq

from ..devices import xp_of as _xp_of
from ..tensor import Tensor, _make
from .grad_mode import state
from .node import Node

_FREED_MSG = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)


def _tensor_cls():
    from ..tensor import Tensor

    return Tensor


def _as_list(x):
    if x is None:
        return None
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _make_root_grads(tensors, grads, who):
    from .. import ops

    Tensor = _tensor_cls()
    grads = _as_list(grads) or [None] * len(tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"{who}: got {len(tensors)} tensors and {len(grads)} gradients")
    out = []
    for i, (t, g) in enumerate(zip(tensors, grads)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{who}: expected a Tensor, got {type(t).__name__}")
        if not t._rg:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if t._data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs (got shape {tuple(t._data.shape)}); "
                    "pass gradient= to backward() with the output's shape"
                )
            g = ops.ones_like(t)
        elif not isinstance(g, Tensor):
            g = ops.as_tensor(g, dtype=t.dtype)
        if tuple(g._data.shape) != tuple(t._data.shape):
            raise RuntimeError(
                f"{who}: Mismatch in shape: grad_output[{i}] has a shape of {tuple(g._data.shape)} and "
                f"output[{i}] has a shape of {tuple(t._data.shape)}."
            )
        out.append((t, g))
    return out


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """``ember.autograd.backward``: accumulate gradients of ``tensors`` into leaves' ``.grad``."""
    tensors = _as_list(tensors)
    roots = _make_root_grads(tensors, grad_tensors, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    inputs = _as_list(inputs)
    if inputs is not None and len(inputs) == 0:
        raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    got = _run(roots, retain_graph, create_graph, inputs, accumulate=True)
    if inputs is not None:  # only the given inputs accumulate, non-leaves included
        from ..tensor import _make

        for t, g in zip(inputs, got):
            if g is None:
                continue
            if create_graph:
                t.grad = g if t.grad is None else t.grad + g
            elif t.grad is None:
                t.grad = _make(g._data.copy())
            elif (
                t.grad._node is None
                and t.grad._data.shape == g._data.shape
                and getattr(t.grad._data.flags, "writeable", True)
            ):
                t.grad._data += g._data
            else:
                t.grad = _make(t.grad._data + g._data)


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph=False,
    only_inputs=True,
    allow_unused=None,
    is_grads_batched=False,
    materialize_grads=False,
):
    """``ember.autograd.grad``: gradients of ``outputs`` w.r.t. ``inputs``, without touching ``.grad``."""
    from .. import ops

    single = not isinstance(inputs, (list, tuple))
    inputs = _as_list(inputs)
    outputs = _as_list(outputs)
    if allow_unused is None:
        allow_unused = materialize_grads
    for t in inputs:
        if not t._rg:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    roots = _make_root_grads(outputs, grad_outputs, "grad")
    if retain_graph is None:
        retain_graph = create_graph
    got = _run(roots, retain_graph, create_graph, inputs, accumulate=False)
    result = []
    for t, g in zip(inputs, got):
        if g is None:
            if materialize_grads:
                g = ops.zeros_like(t)
            elif not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the graph. "
                    "Set allow_unused=True if this is the desired behavior."
                )
        elif not create_graph:
            g = g.detach()
        result.append(g)
    return tuple(result) if not single else (result[0],)


def _nout(node):
    meta = node.out_meta
    return 1 if meta is None else len(meta)  # eager nodes of one output keep no out_meta


def _collect(root_nodes):
    """Consumer counts of every node reachable from the roots, and a topological order."""
    deps = {}
    order = []
    roots = set(root_nodes)
    stack = list(root_nodes)
    pop, push, visit = stack.pop, stack.append, order.append
    while stack:
        n = pop()
        visit(n)
        for e in n.edges:
            if e is None:
                continue
            if type(e) is tuple:
                m = e[0]
                if m in deps:
                    deps[m] += 1
                else:  # first sight of m (a root is already on the stack)
                    deps[m] = 1
                    if m not in roots:
                        push(m)
            elif e._hooks:  # a leaf with hooks: they see its summed grad, once
                deps[id(e)] = deps.get(id(e), 0) + 1
    return deps, order


def _needed(order, leaf_targets, node_targets):
    """Nodes whose VJP leads to one of the requested inputs (autograd.grad prunes the rest).

    A requested non-leaf's own node runs only when it leads further to another input.
    """
    needed = set()
    reach = set()  # needed, or the node of a requested non-leaf
    # reverse-topological by creation order: producers are older than consumers
    for n in sorted(order, key=lambda n: n.seq):
        for e in n.edges:
            if e is None:
                continue
            if type(e) is tuple:
                if e[0] in reach:
                    needed.add(n)
                    break
            elif id(e) in leaf_targets:
                needed.add(n)
                break
        if n in needed or n in node_targets:
            reach.add(n)
    return needed


def _run(roots, retain_graph, create_graph, inputs, accumulate):
    from .. import ops

    Tensor = _tensor_cls()
    capture = None
    leaf_targets = {}
    node_targets = {}
    if inputs is not None:
        capture = [None] * len(inputs)
        for k, t in enumerate(inputs):
            if not isinstance(t, Tensor):
                raise TypeError(f"inputs must be Tensors, got {type(t).__name__}")
            if t._node is None:
                leaf_targets[id(t)] = k
            else:
                node_targets.setdefault(t._node, {})[t._idx] = k

    prev = state.enabled
    state.enabled = bool(create_graph)
    try:
        buffers = {}
        root_nodes = []
        for t, g in roots:
            if t._node is None:  # backward() called on a leaf itself
                _deliver_leaf(t, g, accumulate, capture, leaf_targets, create_graph, set())
                continue
            buf = buffers.get(t._node)
            if buf is None:
                buf = buffers[t._node] = [None] * _nout(t._node)
                root_nodes.append(t._node)
            buf[t._idx] = g if buf[t._idx] is None else buf[t._idx] + g
        deps, order = _collect(root_nodes)
        needed = _needed(order, leaf_targets, node_targets) if inputs is not None else None
        heap = [(-n.seq, n) for n in root_nodes if deps.get(n, 0) == 0]
        heapq.heapify(heap)
        handed = set()  # ids of grad arrays already given to a leaf: later ones are copied
        leaf_grads = {}  # id(leaf) -> grad summed so far, for leaves with hooks
        for _, g in roots:
            handed.add(id(g._data))
        heappop, heappush = heapq.heappop, heapq.heappush
        while heap:
            _, node = heappop(heap)
            grads = buffers.pop(node, None)
            if grads is None:
                grads = [None] * _nout(node)
            if node_targets or node.hooks or node.retains:
                _node_side_effects(node, grads, node_targets, needed, capture, create_graph)
            if needed is None or node in needed:
                for g in grads:
                    if g is not None:
                        in_grads = _call_vjp(node, grads, retain_graph, create_graph, ops)
                        break
                else:
                    in_grads = ()
            else:
                in_grads = ()
            n_in = len(in_grads)
            in_meta = node.in_meta
            for i, e in enumerate(node.edges):
                if e is None:
                    continue
                gi = in_grads[i] if i < n_in else None
                if gi is not None:
                    shape, dtype = in_meta[i]
                    d = gi._data
                    if d.shape != shape or d.dtype != dtype:
                        gi = _fit(gi, shape, dtype, ops)
                if type(e) is tuple:
                    m, k = e
                    if gi is not None:
                        buf = buffers.get(m)
                        if buf is None:
                            meta = m.out_meta
                            buf = buffers[m] = [None] if meta is None else [None] * len(meta)
                        buf[k] = gi if buf[k] is None else buf[k] + gi
                    left = deps[m] - 1
                    deps[m] = left
                    if left == 0:
                        heappush(heap, (-m.seq, m))
                elif e._hooks and id(e) in deps:
                    if gi is not None:
                        lg = leaf_grads.get(id(e))
                        leaf_grads[id(e)] = gi if lg is None else lg + gi
                    deps[id(e)] -= 1
                    if deps[id(e)] == 0 and id(e) in leaf_grads:
                        _deliver_leaf(e, leaf_grads.pop(id(e)), accumulate, capture, leaf_targets, create_graph, handed)
                elif gi is not None:
                    _deliver_leaf(e, gi, accumulate, capture, leaf_targets, create_graph, handed)
    finally:
        state.enabled = prev
    return capture


def _node_side_effects(node, grads, node_targets, needed, capture, create_graph):
    """Hooks, retain_grad and autograd.grad captures of a node's output gradients."""
    # PyTorch captures a requested non-leaf's grad before its hooks when its node runs on
    # to other inputs, and after them when it does not
    early = node in node_targets and needed is not None and node in needed
    if early:
        _capture(node_targets[node], grads, capture)
    if node.hooks:
        for idx, hooks in node.hooks.items():
            g = grads[idx]
            if g is not None:
                for h in list(hooks):
                    r = h(g)
                    if r is not None:
                        g = r
                grads[idx] = g
    if node.retains:
        for idx, ref in node.retains.items():
            t = ref()
            g = grads[idx]
            if t is not None and g is not None:
                g = g if create_graph else g.detach()
                t.grad = g if t.grad is None else t.grad + g
    if not early and node in node_targets:
        _capture(node_targets[node], grads, capture)


def _capture(targets, grads, capture):
    for idx, k in targets.items():
        if grads[idx] is not None:
            capture[k] = grads[idx] if capture[k] is None else capture[k] + grads[idx]


def _call_vjp(node, grads, retain_graph, create_graph, ops):
    op = node.op
    if node.fn is not None:  # a custom autograd.Function
        in_grads = node.fn._backward(node, grads, retain_graph)
        if state.anomaly and state.anomaly_check_nan:
            _check_nan(node, in_grads)
        return in_grads
    if op.vjp is None:
        raise RuntimeError(
            f"the derivative for '{op.name}' is not implemented (it has no vjp in the op table); "
            "compute it without requires_grad or detach() its inputs"
        )
    saved, versions = node.saved
    if node.freed and (versions or op.saves_out):
        raise RuntimeError(_FREED_MSG)
    for i, vc, v in versions:
        if vc[0] != v:
            t = saved[i]
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: [{t.dtype} {list(t.shape)}] is at version {vc[0]}; expected version {v} instead. "
                f"It was input {i} of {node.name()}. Hint: enable anomaly detection with "
                "ember.autograd.set_detect_anomaly(True) to find the operation that failed to compute its gradient."
            )
    out = None
    if op.saves_out:
        if node.out_version[0] != 0:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an inplace "
                f"operation: output 0 of {node.name()} is at version {node.out_version[0]}; expected version 0 "
                "instead."
            )
        if op.nout == 1:
            out = _make(node.out, node, 0, True)
        else:
            out = tuple(_make(o, node, i, o.dtype.kind == "f") for i, o in enumerate(node.out))
    g = grads[0] if op.nout == 1 else tuple(grads)
    kw = op.vjp_kwargs  # only what this VJP names: building unused kwargs costs more than most VJPs
    if kw is None:
        in_grads = op.vjp(g, *saved, **node.attrs)
    else:
        extra = {}
        if "out" in kw:
            extra["out"] = out
        if "need" in kw:
            extra["need"] = [e is not None for e in node.edges]
        if "in_shapes" in kw:
            extra["in_shapes"] = [m[0] if m is not None else None for m in node.in_meta]
        in_grads = op.vjp(g, *saved, **extra, **node.attrs)
    if state.anomaly and state.anomaly_check_nan:
        _check_nan(node, in_grads)
    if not retain_graph:
        if versions:
            node.saved = ([None if isinstance(s, Tensor) else s for s in saved], versions)
        node.out = None
        node.freed = True
    return in_grads


def _fit(g, shape, dtype, ops):
    """Undo broadcasting and restore the input's dtype: once here for every op."""
    if g._data.shape != shape:
        g = ops.sum_to_shape(g, shape)
    if g._data.dtype != dtype:
        g = ops.cast(g, dtype=dtype)
    return g


def _deliver_leaf(leaf, g, accumulate, capture, leaf_targets, create_graph, handed):
    if leaf._hooks:
        for h in list(leaf._hooks):
            r = h(g)
            if r is not None:
                g = r
    if capture is not None:
        k = leaf_targets.get(id(leaf))
        if k is not None:
            capture[k] = g if capture[k] is None else capture[k] + g
        return
    if not accumulate:
        return
    if not create_graph:
        data = g._data
        if id(data) in handed or data.base is not None or not getattr(data.flags, "writeable", True):
            data = data.copy()  # never let two .grad fields share memory
        handed.add(id(data))
        if leaf.grad is None:
            leaf.grad = _make(data)
        elif (
            leaf.grad._data.shape == data.shape
            and getattr(leaf.grad._data.flags, "writeable", True)
            and leaf.grad._node is None
        ):
            leaf.grad._data += data
        else:
            leaf.grad = _make(leaf.grad._data + data)
    else:
        leaf.grad = g if leaf.grad is None else leaf.grad + g


def _check_nan(node, grads):
    for i, g in enumerate(grads):
        if hasattr(g, "_data") and g._data.dtype.kind == "f" and bool(_xp_of(g._data).isnan(g._data).any()):
            where = ""
            if node.trace:
                fr = node.trace[-1]
                where = f"\nThe forward op was created at {fr.filename}:{fr.lineno}: {fr.line}"
            raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th output.{where}")


__all__ = ["backward", "grad", "Node"]
