"""Session.run's fast path: a run signature seen before is optimised and compiled to Python once.

A TF1 training loop calls ``sess.run(train_op, feed_dict=...)`` with the same
fetches and feeds thousands of times. The first ``COMPILE_AFTER`` calls of a
signature (fetches, targets, fed placeholders with their shapes and dtypes)
run on the graph interpreter, which raises TF's errors for bad feeds; then
the signature's subgraph goes through ``ember.compiler.optimize`` and code
generation, and later calls run the generated code — bitwise the same
results (the numerics contract), without the interpreter's per-node cost.
"""

from __future__ import annotations

import logging

from ...graph import ir
from ...graph.execute import plan

COMPILE_AFTER = 2
logger = logging.getLogger("ember.compiler")


class CompiledRuns:
    def __init__(self):
        self.seen = {}
        self.compiled = {}

    def get(self, graph, values, targets, feeds):
        """A callable for this run signature once it has been seen often enough, else None."""
        if any(v.node.kind != ir.INPUT for v in feeds):
            return None  # feeding an intermediate tensor: the interpreter handles that
        fed = sorted(feeds, key=lambda v: v.node.id)
        key = (tuple(values), tuple(targets), tuple((v, feeds[v].shape, feeds[v].dtype.str) for v in fed))
        fn = self.compiled.get(key)
        if fn is not None:
            return fn
        n = self.seen.get(key, 0) + 1
        self.seen[key] = n
        if n <= COMPILE_AFTER:
            return None
        fn = self.compiled[key] = _compile(graph, values, targets, fed, {v: feeds[v].shape for v in fed})
        return fn


def _compile(graph, values, targets, fed, shapes):
    from ...compiler import optimize
    from ...compiler.codegen import compile_graph
    from ...compiler.specialize import specialize

    try:
        nodes = plan(graph, values, targets)
        sub = graph.copy_with(nodes, outputs=list(values), state_writes=list(targets))
        sub.inputs = list(fed)
        sub = specialize(sub, shapes)  # the fed shapes are part of the key: make every dim static
        compiled = compile_graph(optimize(sub), name="session_run")
    except Exception as e:  # never worse than the interpreter: say why and keep interpreting
        logger.warning("Session.run: could not compile this run signature (%s); interpreting it", e)
        return _NOT_COMPILABLE

    def call(feeds, store):
        return compiled(*[feeds[v] for v in fed], store=store)

    call.compiled = compiled
    return call


def _not_compilable(feeds, store):
    return None


_NOT_COMPILABLE = _not_compilable
