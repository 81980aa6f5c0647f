"""tf.Session: runs a graph with ``ember.graph.execute.run``; the Session owns the variables' values.

``run(fetches, feed_dict)`` flattens any nesting of tensors, Variables,
Operations and "name:0" strings, checks feeds against their placeholders, runs
the needed nodes once and rebuilds the structure. As in TF, ops may be added
between runs (tutorials build their test-set cost after training), but a line
that adds ops after two different runs — ops built inside a training loop,
the classic TF1 leak — raises, naming that line (``Graph.note_run``).

Debugging: ``Session(debug=True)`` checks every op's output for NaN/Inf and
raises naming the op and the line that created it. ``sess.run_debug(fetches,
feed_dict)`` (or ``sess.run(..., run_metadata=tf.RunMetadata())``, then
``run_metadata.values``) gives every intermediate value of one run, keyed by
tensor name ("node:0") in execution order: a step-through of the graph.
"""

from __future__ import annotations

import collections as _collections

import numpy as np

from ...errors import user_frames
from ...graph import ir
from ...graph.execute import FailedPreconditionError, InvalidArgumentError, NumericsError
from ...graph.execute import run as _run
from ...graph.symbolic import Symbolic
from .compiled_runs import CompiledRuns
from .framework import Graph, _DefaultGraph, get_default_graph
from .ops_api import Operation
from .unknown_rank import check_run as check_unknown_rank

_stack: list = []  # default sessions (with sess:, sess.as_default(), InteractiveSession)


class RunMetadata:
    """What ``Session.run(run_metadata=...)`` fills: ``values`` maps "node:0" to its array in run order."""

    def __init__(self):
        self.values = {}
        self.nodes = []

    @property
    def step_stats(self):
        return self.nodes


class RunOptions:
    """Accepted for compatibility; ember has no tracing levels."""

    FULL_TRACE = 3
    NO_TRACE = 0

    def __init__(self, trace_level=0, **kwargs):
        self.trace_level = trace_level


class ConfigProto:
    """Accepted for compatibility (device counts, threading, GPU options have no effect)."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


def _where_here():
    frames = user_frames()
    if not frames:
        return ""
    f = frames[-1]
    return f"{f.filename}:{f.lineno}"


class BaseSession:
    def __init__(self, target="", graph=None, config=None, debug=False):
        self._graph = graph if graph is not None else get_default_graph()
        if not isinstance(self._graph, ir.Graph):
            raise TypeError(f"graph must be a tf.Graph, but got {type(self._graph).__name__}")
        self._store = {}  # ir.Slot -> array: the variables' values live here
        self._closed = False
        self._closed_at = ""
        self._debug = debug
        self._watch_leaks = True  # ops built inside the run loop raise (Graph.note_run)
        self._context = []
        self._compiled_runs = CompiledRuns()  # repeated run signatures run as generated code

    # ---- lifecycle -------------------------------------------------------------------------------
    @property
    def graph(self):
        return self._graph

    @property
    def graph_def(self):
        return self._graph

    @property
    def sess_str(self):
        return ""

    def close(self):
        if not self._closed:
            self._closed = True
            self._closed_at = _where_here()
            self._store = {}

    def _check_open(self):
        if self._closed:
            where = f" It was closed at {self._closed_at}" if self._closed_at else ""
            raise RuntimeError(
                "Attempted to use a closed Session." + where + " (a `with tf.Session() as sess:` block closes "
                "the session when it ends: run everything that needs it inside the block)."
            )

    def as_default(self):
        return _AsDefault(self)

    def __enter__(self):
        dg = _DefaultGraph(self._graph) if isinstance(self._graph, Graph) else None
        if dg is not None:
            dg.__enter__()
        _stack.append(self)
        self._context.append(dg)
        return self

    def __exit__(self, *exc):
        if _stack and _stack[-1] is self:
            _stack.pop()
        dg = self._context.pop() if self._context else None
        if dg is not None:
            dg.__exit__(*exc)
        self.close()

    # ---- run -----------------------------------------------------------------------------------------
    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Evaluate ``fetches`` (any nesting of tensors/ops/names); Operations come back as None."""
        record = {} if run_metadata is not None else None
        out = self._run(fetches, feed_dict, record)
        if run_metadata is not None:
            run_metadata.values = {v.name: _result(a) for v, a in record.items()}
            run_metadata.nodes = list(dict.fromkeys(v.node.name for v in record))
        return out

    def run_debug(self, fetches, feed_dict=None):
        """Step through one run: ``(results, {"node:0": value, ...})`` with every intermediate value."""
        record = {}
        out = self._run(fetches, feed_dict, record)
        return out, {v.name: _result(a) for v, a in record.items()}

    def _run(self, fetches, feed_dict, record):
        self._check_open()
        leaves = []
        build = _flatten_fetches(self, fetches, leaves)
        values, targets = [], []
        for kind, x in leaves:
            if kind == "value":
                values.append(x)
            else:
                targets.append(x)
        feeds = self._feeds(feed_dict)
        if self._watch_leaks:
            self._graph.note_run()
        uniq = list(dict.fromkeys(values))
        arrays = None
        wide = check_unknown_rank(self._graph, uniq, targets, feeds)  # compiled runs specialise on ranks
        if not self._debug and record is None and not wide:
            fast = self._compiled_runs.get(self._graph, uniq, targets, feeds)
            if fast is not None:
                arrays = fast(feeds, self._store)
        if arrays is None:
            arrays = _run(self._graph, uniq, targets, feeds, self._store, check_numerics=self._debug, record=record)
        got = {v: _result(a) for v, a in zip(uniq, arrays)}
        return build(got)

    def _feeds(self, feed_dict):
        feeds = {}
        if not feed_dict:
            return feeds
        for key, value in feed_dict.items():
            v = _feed_value(self, key)  # any tensor can be fed: its node is then skipped
            feeds[v] = _check_feed(v, value)
        return feeds

    def make_callable(self, fetches, feed_list=None, accept_options=False):
        feed_list = list(feed_list or [])

        def call(*args, **kwargs):
            if len(args) != len(feed_list):
                raise TypeError(f"callable expects {len(feed_list)} feed values, got {len(args)}")
            return self.run(fetches, feed_dict=dict(zip(feed_list, args)))

        return call

    def list_devices(self):
        return []


class Session(BaseSession):
    """tf.Session(target='', graph=None, config=None, debug=False)."""


class InteractiveSession(BaseSession):
    """A session that makes itself the default at creation (``t.eval()`` works right away).

    It does not watch for ops built between runs: interactive use adds them freely.
    """

    def __init__(self, target="", graph=None, config=None, debug=False):
        super().__init__(target, graph, config, debug)
        self._watch_leaks = False
        _stack.append(self)

    def close(self):
        if self in _stack:
            _stack.remove(self)
        super().close()


class _AsDefault:
    def __init__(self, sess):
        self.sess = sess

    def __enter__(self):
        _stack.append(self.sess)
        return self.sess

    def __exit__(self, *exc):
        _stack.remove(self.sess)


def get_default_session():
    return _stack[-1] if _stack else None


def _session_for(session, graph, what):
    sess = session if session is not None else get_default_session()
    if sess is None:
        raise ValueError(
            f"Cannot evaluate tensor using `{what}`: No default session is registered. Use `with sess.as_default()` "
            "or pass an explicit session to `eval(session=sess)`"
        )
    if sess.graph is not graph:
        raise ValueError(
            f"Cannot use the given session to evaluate tensor: the tensor's graph is different from the session's "
            f"graph ({what})."
        )
    return sess


# ---- fetches -----------------------------------------------------------------------------------------
def _fetch_leaf(sess, x):
    """("value", Value) for something with a value, ("target", Node) for an op."""
    g = sess.graph
    if isinstance(x, Operation):
        node = x._node
        if node.graph is not g:
            raise ValueError(
                f"Fetch argument {x!r} cannot be interpreted as a Tensor. ({x.name} is not an element of this graph.)"
            )
        return ("target", node)
    if isinstance(x, str):
        name, _, idx = x.partition(":")
        try:
            node = g.get_node(name)
        except KeyError as e:
            raise ValueError(f"Fetch argument {x!r} cannot be interpreted as a Tensor. ({e.args[0]})") from None
        if not idx:
            return ("target", node)
        if int(idx) >= len(node.values):
            raise ValueError(f"Fetch argument {x!r}: operation {name} has {len(node.values)} outputs")
        return ("value", node.values[int(idx)])
    d = getattr(x, "_data", None)
    if isinstance(d, Symbolic):
        v = d.value
        if v.node.graph is not g:
            raise ValueError(
                f"Fetch argument {x!r} cannot be interpreted as a Tensor. (Tensor {v.name} is not an element of "
                "this graph.)"
            )
        return ("value", v)
    raise TypeError(f"Fetch argument {x!r} has invalid type {type(x)!r}, must be a string or Tensor. "
                    "(Can not convert a " + type(x).__name__ + " into a Tensor or Operation.)")  # fmt: skip


def _flatten_fetches(sess, fetches, leaves):
    """Collect leaves into ``leaves``; return a function rebuilding the structure from results."""
    if isinstance(fetches, (list, tuple)) and not hasattr(fetches, "_data"):
        parts = [_flatten_fetches(sess, f, leaves) for f in fetches]
        if hasattr(fetches, "_fields"):  # namedtuple
            return lambda got: type(fetches)(*[p(got) for p in parts])
        if isinstance(fetches, tuple):
            return lambda got: tuple(p(got) for p in parts)
        return lambda got: [p(got) for p in parts]
    if isinstance(fetches, dict):
        keys = list(fetches)
        parts = [_flatten_fetches(sess, fetches[k], leaves) for k in keys]
        cls = type(fetches)

        def rebuild(got):
            d = cls() if cls is not _collections.defaultdict else cls(fetches.default_factory)
            for k, p in zip(keys, parts):
                d[k] = p(got)
            return d

        return rebuild
    if fetches is None:
        raise TypeError('Argument `fetch` = None has invalid type "NoneType". Cannot be None')
    kind, x = _fetch_leaf(sess, fetches)
    leaves.append((kind, x))
    if kind == "target":
        return lambda got: None
    return lambda got: got[x]


def _result(a):
    """TF returns NumPy arrays (0-d as NumPy scalars), never the session's own storage."""
    if isinstance(a, (bool, int, float)):
        return a
    a = np.array(a, copy=True) if type(a) is np.ndarray else np.asarray(a.get() if hasattr(a, "get") else a)
    return a[()] if a.ndim == 0 else a


# ---- feeds ---------------------------------------------------------------------------------------------
def _feed_value(sess, key):
    g = sess.graph
    if isinstance(key, str):
        name, _, idx = key.partition(":")
        try:
            return g.get_node(name).values[int(idx or 0)]
        except KeyError as e:
            raise ValueError(f"Cannot interpret feed_dict key {key!r} as Tensor: {e.args[0]}") from None
    d = getattr(key, "_data", None)
    if isinstance(d, Symbolic):
        v = d.value
        if v.node.graph is not g:
            raise ValueError(
                f"Cannot interpret feed_dict key as Tensor: Tensor {v.name} is not an element of this graph."
            )
        return v
    raise TypeError(f"Cannot interpret feed_dict key as Tensor: {key!r} (a {type(key).__name__})")


def _check_feed(v, value):
    dtype = np.dtype(v.dtype)
    src = value._data if hasattr(value, "_data") else value  # an eager ember tensor feeds its data
    if isinstance(getattr(value, "_data", None), Symbolic):
        raise TypeError(
            f"The value of a feed cannot be a tf.Tensor object. Acceptable feed values include Python scalars, "
            f"strings, lists, numpy ndarrays, or TensorHandles. (feeding {v.name})"
        )
    if isinstance(src, int) and not isinstance(src, np.ndarray) and dtype.type(src) != src:
        raise TypeError(
            f"Type of feed value {src} with type {type(src)} is not compatible with Tensor type {dtype.name}."
        )
    arr = np.array(src, dtype=dtype, order="C")  # cast to the placeholder's dtype, as TF does
    shape = v.shape
    if v.node.meta.get("unknown_rank"):
        return arr  # any shape; unknown_rank.check_run checks the graph it flows through
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        want = "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"Cannot feed value of shape {tuple(arr.shape)} for Tensor {v.name}, which has shape {want}")
    return arr


class OutOfRangeError(Exception):
    """TF's end-of-input error; ember has no input queues, so only ``except`` clauses name it."""


class _Errors:
    """tf.errors: the exception classes ember raises under TF's names."""

    FailedPreconditionError = FailedPreconditionError
    InvalidArgumentError = InvalidArgumentError
    NumericsError = NumericsError
    OutOfRangeError = OutOfRangeError
    OpError = (FailedPreconditionError, InvalidArgumentError, NumericsError, OutOfRangeError)

    @property
    def NotFoundError(self):  # noqa: N802 - TF's name
        from .saver import NotFoundError

        return NotFoundError


errors = _Errors()
