"""``explain``: what each compiler pass did to a graph, as unified diffs of its printed text.

``print(ember.compiler.explain(fn, x))`` traces ``fn`` (as ``ember.compile``
does) or takes a Graph, runs the pipeline, and shows for every pass its node
counts and time, then a diff of the graph before and after it (or why the
pass was skipped); ``.steps`` holds the records, ``.final`` the result.
"""

from __future__ import annotations

import difflib

from ..graph import ir
from .pipeline import optimize


class Step:
    """One pass: its record (``PassRecord``) plus the graph text before/after and their diff."""

    def __init__(self, record):
        self.record = record
        self.name = record.name
        self.before = str(record.before)
        self.after = str(record.after)
        self.diff = "\n".join(
            difflib.unified_diff(
                self.before.splitlines(),
                self.after.splitlines(),
                f"before {self.name}",
                f"after {self.name}",
                lineterm="",
            )
        )

    @property
    def changed(self):
        return self.record.after is not self.record.before and self.before != self.after

    def __str__(self):
        r = self.record
        if r.error:
            return f"== {self.name}: skipped, graph unchanged ==\n{r.error}"
        head = f"== {self.name}: {r.nodes_before} -> {r.nodes_after} nodes, {r.ms:.2f} ms =="
        return f"{head}\n{self.diff if self.changed else '(no change)'}"


class Explanation:
    """Printable: the input graph, one diff per pass, the optimised graph."""

    def __init__(self, graph, steps, final):
        self.graph = graph
        self.steps = steps
        self.final = final

    def step(self, name):
        """The first step of the pass called ``name``."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"no pass named {name!r}; passes run: {[s.name for s in self.steps]}")

    def __str__(self):
        parts = [f"ember.compiler.explain: {len(self.graph.nodes)} -> {len(self.final.nodes)} nodes", str(self.graph)]
        parts += [str(s) for s in self.steps]
        parts += ["== optimised graph ==", str(self.final)]
        return "\n\n".join(parts)

    def __repr__(self):
        return f"<Explanation {len(self.graph.nodes)} -> {len(self.final.nodes)} nodes, {len(self.steps)} passes>"


def explain(target, *args, passes=None, fast_math=None):
    """Run the pipeline on ``target`` (a Graph, an ``ember.compile``d function that has run, or a
    function traced with ``args``) and explain it."""
    if isinstance(target, ir.Graph):
        graph = target
    elif getattr(target, "traced_graph", None) is not None:
        graph = target.traced_graph  # what ember.compile traced last time it (re)traced
    else:
        graph = _trace(target, args)
    records = []
    final = optimize(graph, passes, fast_math=fast_math, log=records)
    return Explanation(graph, [Step(r) for r in records], final)


def _trace(fn, args):
    """Trace ``fn`` on ``args`` as ``ember.compile`` does (state is read, not changed: nothing runs)."""
    from ..graph.trace import TraceAborted, trace

    try:
        got = trace(fn, tuple(args), {}, name=getattr(fn, "__name__", "traced"))
    except TraceAborted as e:
        raise RuntimeError(
            f"explain: {e}. Pass the ember.compile'd function after it has run a step "
            "(explain(compiled_step)), or run one step eagerly first so the optimizer has its state."
        ) from None
    got = got[0] if isinstance(got, tuple) else got
    return got.graph
