"""The graph compiler: passes that rewrite a Graph, verified after each, then code generation.

``optimize(graph)`` runs ``PASSES`` (see ``pipeline.py``); each pass is a pure
function ``Graph -> Graph`` in a module of its own and of the same name
(``ember.compiler.cse.cse``; the modules are not shadowed by their functions,
so they can be imported and patched). ``explain(fn_or_graph)`` shows what
every pass did, as diffs of the printed graph.
"""

from .explain import Explanation, explain
from .pipeline import PASSES, PassRecord, optimize
from .verify import GraphVerificationError

__all__ = ["PASSES", "Explanation", "GraphVerificationError", "PassRecord", "explain", "optimize"]
