"""Specialise a graph to the shapes it runs with: dims known only at run time become the fed sizes.

A TF1 graph built from ``placeholder(tf.float32, [None, 784])`` has run-time
(None) dims. Session.run's compiled path knows the fed shapes (they are part
of its cache key), so this pass re-runs each op's shape rule with them; once
every shape is static, memory planning can preallocate and reuse buffers.
The kernels, casts and node order are untouched, so results do not change.
"""

from __future__ import annotations

from ..dtypes import from_numpy_dtype
from ..graph import ir
from ..op import ShapeDtype
from .rewrite import Rewriter


def _spec(v):
    if v.dtype is float or v.dtype is int:
        return v.dtype(1)
    return ShapeDtype(v.shape, from_numpy_dtype(v.dtype))


def specialize(graph, shapes):
    """A copy of ``graph`` where the INPUT values in ``shapes`` ({Value: shape}) have those shapes."""
    rw = Rewriter(graph)
    for n in graph.nodes:
        changed = any(isinstance(a, ir.Value) and a in rw.vmap for a in n.inputs)
        if n.kind == ir.INPUT and n.out in shapes and tuple(shapes[n.out]) != n.out.shape:
            new = rw.copy(n, ())
            new.values[0].shape = tuple(shapes[n.out])
            rw.new.nodes.append(new)
        elif changed and n.kind == ir.OP:
            new = rw.copy(n, rw.inputs(n))
            specs = [_spec(a) if isinstance(a, ir.Value) else a for a in new.inputs]
            rule = n.op.shape(*specs, **n.attrs)
            rules = rule if n.op.nout > 1 else (rule,)
            for v, r in zip(new.values, rules):
                if isinstance(r, ShapeDtype):
                    r = r.shape
                if r is not None:
                    v.shape = tuple(r)
            rw.new.nodes.append(new)
        elif changed and n.kind == ir.ASSIGN:
            new = rw.copy(n, rw.inputs(n))
            new.values[0].shape = new.inputs[0].shape
            rw.new.nodes.append(new)
        else:
            rw.keep(n)
    return rw.finish()
