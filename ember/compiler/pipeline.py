"""The optimisation pipeline: ``PASSES``, one list of pure functions ``Graph -> Graph``, run in order.

``optimize`` runs each pass, verifies its result (``verify.check``) and logs
"pass: nodes before -> after, ms" to the ``ember.compiler`` logger. A pass
that raises, or whose result fails verification, is skipped with a warning
naming the pass and the reason; the graph it was given goes on to the next.
``EMBER_DEBUG=2`` prints the graph before and after, ``=3`` after every pass;
``EMBER_FAST_MATH=1`` (or ``fast_math=True``) swaps in the inexact simplifier.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from . import verify
from .constant_fold import constant_fold
from .cse import cse
from .dce import dce
from .fuse import fuse_elementwise
from .keepdims import share_keepdims
from .memory import plan_memory
from .simplify import simplify, simplify_fast_math

logger = logging.getLogger("ember.compiler")

# dce first so no work is spent folding dead code; again after cse, which leaves merged nodes dead;
# share_keepdims before cse, which then merges what read the values it unified
PASSES = [dce, constant_fold, simplify, share_keepdims, cse, dce, fuse_elementwise, plan_memory]


class PassRecord:
    """What one pass did: its name, node counts, time, the graphs before and after, or why it was skipped."""

    __slots__ = ("name", "before", "after", "nodes_before", "nodes_after", "ms", "error")

    def __init__(self, name, before, after, ms, error=None):
        self.name = name
        self.before = before
        self.after = after
        self.nodes_before = len(before.nodes)
        self.nodes_after = len(after.nodes)
        self.ms = ms
        self.error = error  # None, or the reason the pass was skipped

    def __repr__(self):
        if self.error:
            return f"{self.name}: skipped ({self.error.splitlines()[0]})"
        return f"{self.name}: {self.nodes_before} -> {self.nodes_after} nodes, {self.ms:.2f} ms"


def debug_level():
    try:
        return int(os.environ.get("EMBER_DEBUG", "0") or 0)
    except ValueError:
        return 0


def fast_math_enabled():
    return os.environ.get("EMBER_FAST_MATH", "0") not in ("", "0")


def pass_name(p):
    return getattr(p, "__name__", None) or type(p).__name__


def optimize(graph, passes=None, *, fast_math=None, log=None):
    """Run ``passes`` (default ``PASSES``) over ``graph``; return the optimised graph.

    ``log``: a list that receives one ``PassRecord`` per pass (``explain`` reads it).
    """
    passes = list(PASSES if passes is None else passes)
    if fast_math if fast_math is not None else fast_math_enabled():
        passes = [simplify_fast_math if p is simplify else p for p in passes]
    debug = debug_level()
    if debug >= 2:
        print(f"[ember.compiler] graph before optimisation:\n{graph}", file=sys.stderr)
    known = set(verify.problems(graph))  # problems the input already has are not a pass's fault
    if known:
        logger.warning("graph '%s' fails verification before any pass:\n  %s", graph.name, "\n  ".join(sorted(known)))
    for p in passes:
        name = pass_name(p)
        t0 = time.perf_counter()
        error = None
        try:
            new = p(graph)
            if new is None:
                raise TypeError(f"pass {name} returned None instead of a Graph")
            found = [m for m in verify.problems(new) if m not in known]
            if found:
                raise verify.GraphVerificationError(
                    f"its result failed verification: {found[0]}"
                    + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
                )
        except Exception as e:  # a broken pass must not break the program: skip it and say why
            error = f"{type(e).__name__}: {e}"
            new = graph
            logger.warning("pass %s failed and was skipped (graph left unchanged): %s", name, error)
        ms = (time.perf_counter() - t0) * 1e3
        record = PassRecord(name, graph, new, ms, error)
        if error is None:
            logger.info("%s: %d -> %d nodes, %.2f ms", name, record.nodes_before, record.nodes_after, ms)
        if log is not None:
            log.append(record)
        if debug >= 3:
            print(f"[ember.compiler] after {record!r}:\n{new}", file=sys.stderr)
        graph = new
    if debug >= 2:
        print(f"[ember.compiler] graph after optimisation:\n{graph}", file=sys.stderr)
    return graph
