"""TF1's graph plumbing over ember.graph: the default graph, tf.Tensor, dtypes, placeholder, constant.

A TF1 tensor is an ember Tensor whose data is symbolic (``ember.graph``), of
the subclass ``Tensor`` below so it also has TF's methods (``eval``,
``name``, ``op``, ``get_shape``) and TF1's identity ``==`` (tensors are dict
keys in ``feed_dict``). Every ember op works on it and adds a graph node.
"""

from __future__ import annotations

import numpy as np

from ... import dtypes as _dt
from ...graph import ir
from ...graph.build import Building
from ...graph.build import constant as _constant
from ...graph.build import placeholder as _placeholder
from ...graph.symbolic import Symbolic
from ...ops._rules import numel
from ...tensor import Tensor as _EmberTensor

# ---- dtypes: TF's names for ember's dtypes ---------------------------------------------------
float16, float32, float64 = _dt.float16, _dt.float32, _dt.float64
int8, int16, int32, int64, uint8 = _dt.int8, _dt.int16, _dt.int32, _dt.int64, _dt.uint8
bool = _dt.bool_  # noqa: A001 - TF's name
bfloat16 = _dt.bfloat16
half, double = float16, float64


_TF_NAMES = {"float": "float32", "double": "float64", "half": "float16"}


def as_dtype(d):
    """tf.float32, "float32", np.float32, ember.float32 -> an ember dtype."""
    if d is None:
        return None
    if isinstance(d, _dt.dtype):
        return d
    if isinstance(d, str):
        d = _TF_NAMES.get(d, d)  # TF's own names: "float" is float32 there, float64 in NumPy
        return _dt.from_numpy_dtype(np.dtype(d))
    return _dt.from_numpy_dtype(np.dtype(d))


class TensorShape(tuple):
    """TF's static shape: a tuple whose unknown dims are None, with ``as_list``/``ndims``."""

    def as_list(self):
        return list(self)

    @property
    def ndims(self):
        return len(self)

    rank = ndims

    def num_elements(self):
        return numel(self)

    def is_fully_defined(self):
        return None not in self

    def __repr__(self):
        return f"TensorShape({list(self)})"


class _UnknownRankShape(TensorShape):
    """TF's ``TensorShape(None)``: the static shape of a shapeless placeholder and what flows from it."""

    def as_list(self):
        raise ValueError("as_list() is not defined on an unknown TensorShape.")

    @property
    def ndims(self):
        return None

    rank = ndims

    def num_elements(self):
        return None

    def is_fully_defined(self):
        return False

    def __repr__(self):
        return "TensorShape(None)"


class Tensor(_EmberTensor):
    """A symbolic tensor in a TF1 graph."""

    __slots__ = ()

    @property
    def _value(self):
        return self._data.value

    @property
    def name(self):
        return self._value.name

    @property
    def op(self):
        from .ops_api import Operation

        return Operation(self._value.node)

    @property
    def graph(self):
        return self._value.node.graph

    @property
    def shape(self):
        from .unknown_rank import depends_on_unknown_rank

        v = self._value
        if not v.shape and depends_on_unknown_rank(v):
            return _UnknownRankShape()
        return TensorShape(v.shape)

    def get_shape(self):
        return self.shape

    def set_shape(self, shape):
        pass  # static shapes here come from the shape rules; accepted for compatibility

    @property
    def dtype(self):
        return _dt.from_numpy_dtype(self._value.dtype)

    def eval(self, feed_dict=None, session=None):
        from .session import _session_for

        return _session_for(session, self.graph, "Tensor.eval()").run(self, feed_dict=feed_dict)

    def consumers(self):
        from .ops_api import Operation

        return [Operation(n) for n in self.graph.nodes if self._value in n.inputs]

    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def __repr__(self):
        shape = "<unknown>" if self.shape.ndims is None else self.shape.as_list()
        return f"<tf.Tensor '{self.name}' shape={shape} dtype={self.dtype.name if hasattr(self.dtype, 'name') else self.dtype}>"

    def __bool__(self):
        raise TypeError(
            "Using a `tf.Tensor` as a Python `bool` is not allowed. Use `if t is not None:` instead of `if t:` "
            "to test if a tensor is defined, and use TensorFlow ops such as tf.cond to execute subgraphs "
            "conditioned on the value of a tensor."
        )

    def __iter__(self):
        n = self._value.shape[0] if self._value.shape else None
        if n is None:
            raise TypeError("Tensor objects are only iterable when the first dimension is known.")
        return (self[i] for i in range(n))

    # TF tensors are immutable: ``x += 1`` rebinds the Python name to a new tensor
    # (ember's in-place operators would re-point every reference to this tensor).
    def __iadd__(self, other):
        return self + other

    def __isub__(self, other):
        return self - other

    def __imul__(self, other):
        return self * other

    def __itruediv__(self, other):
        return self / other

    def __ipow__(self, other):
        return self**other

    def __imatmul__(self, other):
        return self @ other


def _operand(other):
    """TF's operators take NumPy arrays and lists too: they become constants of the graph."""
    if isinstance(other, (np.ndarray, list, tuple)):
        return constant(other)
    return other


def _tf_binary(name):
    base = getattr(_EmberTensor, name)

    def method(self, other):
        return base(self, _operand(other))

    method.__name__ = name
    return method


for _name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__pow__", "__rpow__", "__matmul__", "__rmatmul__", "__lt__", "__le__", "__gt__", "__ge__",
    "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__",
):  # fmt: skip
    setattr(Tensor, _name, _tf_binary(_name))
del _name


# ---- graphs ------------------------------------------------------------------------------------
class Graph(ir.Graph):
    """tf.Graph: ember's IR graph with TF's context-manager and lookup methods."""

    def __init__(self):
        super().__init__(name="graph")
        self.tensor_class = Tensor
        self._building = Building(self, capture="const")
        self._var_store = {}  # get_variable's store: full name -> Variable
        self._var_scopes = []  # variable_scope stack (VariableScope objects)
        self._var_scope_counts = {}  # default_name -> how many scopes used it (TF's "name_1")

    def as_default(self):
        return _DefaultGraph(self)

    def get_operations(self):
        from .ops_api import Operation

        return [Operation(n) for n in self.nodes]

    def get_operation_by_name(self, name):
        from .ops_api import Operation

        return Operation(self.get_node(name))

    def get_tensor_by_name(self, name):
        from ...graph.build import symbolic_tensor

        op, _, idx = name.partition(":")
        return symbolic_tensor(self.get_node(op).values[int(idx or 0)])

    def add_to_collection(self, name, value):
        self.collections.setdefault(name, []).append(value)

    def get_collection(self, name, scope=None):
        items = list(self.collections.get(name, []))
        if scope is not None:
            items = [v for v in items if getattr(v, "name", "").startswith(scope)]
        return items

    def get_collection_ref(self, name):
        return self.collections.setdefault(name, [])

    @property
    def version(self):
        return len(self.nodes)


_default_stack: list[Graph] = []
_global_graph = [None]


class _DefaultGraph:
    def __init__(self, g):
        self.g = g

    def __enter__(self):
        _default_stack.append(self.g)
        Building.stack.append(self.g._building)
        return self.g

    def __exit__(self, *exc):
        Building.stack.pop()
        _default_stack.pop()


def get_default_graph() -> Graph:
    if _default_stack:
        return _default_stack[-1]
    if _global_graph[0] is None:
        _global_graph[0] = Graph()
    return _global_graph[0]


def reset_default_graph():
    if _default_stack:
        raise AssertionError("Do not use tf.reset_default_graph() to clear nested graphs.")
    _global_graph[0] = Graph()


class building:
    """Run ember ops with the default graph as the graph new nodes (and constants) go to."""

    def __init__(self, graph=None):
        self.g = graph or get_default_graph()

    def __enter__(self):
        Building.stack.append(self.g._building)
        return self.g

    def __exit__(self, *exc):
        Building.stack.pop()


# ---- making tensors ------------------------------------------------------------------------------
def constant(value, dtype=None, shape=None, name="Const"):
    g = get_default_graph()
    if isinstance(value, _EmberTensor) and not isinstance(value._data, Symbolic):
        value = value._data
    from ._convert import array_for  # TF's inference: Python floats -> float32, ints -> int32

    arr = np.asarray(value, dtype=as_dtype(dtype).np) if dtype is not None else array_for(value, None)
    if shape is not None:
        arr = np.broadcast_to(arr, tuple(shape)).copy() if arr.size == 1 else arr.reshape(tuple(shape))
    from ...graph.build import symbolic_tensor

    return symbolic_tensor(_constant(g, np.array(arr, order="C"), name=name))


def convert_to_tensor(value, dtype=None, name=None):
    """A graph tensor for ``value``: symbolic tensors and Variables pass; data becomes a constant."""
    if hasattr(value, "_as_graph_tensor"):
        value = value._as_graph_tensor()
    if isinstance(value, _EmberTensor) and isinstance(value._data, Symbolic):
        if dtype is not None and as_dtype(dtype) != value.dtype:
            raise ValueError(
                f"Tensor conversion requested dtype {as_dtype(dtype).name} for Tensor with dtype "
                f"{value.dtype.name}: {value!r}"
            )
        return value
    return constant(value, dtype=dtype, name=name or "Const")


def placeholder(dtype, shape=None, name=None):
    """A value fed at Session.run; None dims (or shape=None for any rank) are checked when fed."""
    g = get_default_graph()
    if shape is None:
        # TF allows any rank; ember's shape rules need one. The common use (keep_prob, a learning
        # rate) is a scalar, so it is one, and feeding anything else says what to do.
        t = _placeholder(g, (), as_dtype(dtype), name=name or "Placeholder")
        t._data.value.node.meta["unknown_rank"] = True
        return t
    shape = tuple(None if s is None or (isinstance(s, int) and s < 0) else int(s) for s in shape)
    return _placeholder(g, shape, as_dtype(dtype), name=name or "Placeholder")


def placeholder_with_default(input, shape, name=None):  # noqa: A002 - TF's argument name
    """``input`` unless a value is fed for it (then checked against ``shape``, which may have None dims)."""
    from ... import ops as F

    x = convert_to_tensor(input)
    shape = tuple(None if s is None or s < 0 else int(s) for s in shape)
    have = x._value.shape
    if len(have) != len(shape) or any(s is not None and s != h for s, h in zip(shape, have)):
        raise ValueError(
            f"placeholder_with_default: default value of shape {list(have)} does not fit shape {list(shape)}"
        )
    with building(x.graph):
        out = F.clone(x)
    node = out._value.node
    node.name = node.graph.unique_name(name or "PlaceholderWithDefault")
    node.values[0].shape = shape  # what a feed is checked against, and what ops built on it see
    return out
