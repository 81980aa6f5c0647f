"""TF1 Variables over graph state: a Variable is a READ of an ``ir.Slot`` whose storage is the Session's.

A Variable is a graph tensor (the read of its slot, named like TF's variable
op, ``w:0``), so every op takes it; ``initializer`` and ``assign*`` are ASSIGN
nodes. The values live in the running Session's store, never in the graph.
``get_variable``/``variable_scope`` add TF's sharing rules on a per-graph
store of variables.
"""

from __future__ import annotations

import numpy as np

from ...graph import ir
from ...graph.build import frame_of_user, symbolic_tensor
from ...graph.symbolic import Symbolic
from .framework import Tensor as _Tensor
from .framework import TensorShape, as_dtype, building, convert_to_tensor, float32, get_default_graph
from .ops_api import Operation, _group_node, name_scope


class GraphKeys:
    """Standard collection names (TF's values, so code comparing strings keeps working)."""

    GLOBAL_VARIABLES = "variables"
    VARIABLES = "variables"
    LOCAL_VARIABLES = "local_variables"
    MODEL_VARIABLES = "model_variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    MOVING_AVERAGE_VARIABLES = "moving_average_variables"
    REGULARIZATION_LOSSES = "regularization_losses"
    LOSSES = "losses"
    UPDATE_OPS = "update_ops"
    GLOBAL_STEP = "global_step"
    TRAIN_OP = "train_op"
    INIT_OP = "init_op"
    SAVERS = "savers"
    SUMMARIES = "summaries"
    QUEUE_RUNNERS = "queue_runners"
    ACTIVATIONS = "activations"
    WEIGHTS = "weights"
    BIASES = "biases"


class _AutoReuse:
    def __repr__(self):
        return "tf.AUTO_REUSE"


AUTO_REUSE = _AutoReuse()


class VariableSlot(ir.Slot):
    """A Variable's storage in a Session's store; unset until its initializer (or a restore) runs."""

    def read(self, store):
        return store.get(self)


def _add_exact(g, kind, inputs, attrs, outs, name, frame):
    """Add a node named exactly ``name`` (variables keep their names; TF would not uniquify them)."""
    saved_scope, g.scope = g.scope, []
    count = g._names.pop(name, None)
    try:
        node = g.add(kind, None, inputs, attrs, outs, name=name, frame=frame)
    finally:
        g.scope = saved_scope
        if count is not None:
            g._names[name] = max(count, g._names.get(name, 1))
    node.name = name
    return node


class Variable(_Tensor):
    """tf.Variable: usable as a tensor (its read); ``initializer``/``assign`` are graph ops."""

    def __init__(self, initial_value=None, trainable=None, collections=None, validate_shape=True,
                 caching_device=None, name=None, variable_def=None, dtype=None, expected_shape=None,
                 import_scope=None, constraint=None, use_resource=None, synchronization=None,
                 aggregation=None, shape=None, *, _exact_name=None):  # fmt: skip
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        g = get_default_graph()
        frame = frame_of_user()
        trainable = True if trainable is None else bool(trainable)
        # TF builds variables in an "init scope": outer control dependencies do not apply.
        saved_control, g.control = g.control, []
        saved_scope = g.scope
        try:
            vname = _exact_name or g.unique_name(name or "Variable")
            g.scope = [vname]
            with building(g):
                if callable(initial_value):
                    with name_scope("Initializer"):
                        initial_value = initial_value()
                init = convert_to_tensor(initial_value, dtype=dtype, name="initial_value")
            value = init._data.value
            vshape = value.shape if shape is None else tuple(shape)
            if validate_shape and None in vshape:
                raise ValueError(
                    f"Variable {vname}: initial value must have a fully defined shape when validate_shape=True, "
                    f"got {list(value.shape)}"
                )
            self._slot = VariableSlot(vname, vshape, value.dtype)
            self._init_node = g.add(ir.ASSIGN, None, (value,), {"slot": self._slot}, [(vshape, value.dtype)],
                                    name="Assign", frame=frame)  # fmt: skip
            g.scope = []
            read = _add_exact(g, ir.READ, (), {"slot": self._slot}, [(vshape, value.dtype)], vname, frame)
        finally:
            g.control = saved_control
            g.scope = saved_scope
        self._data, self._node, self._idx, self._rg = Symbolic(read.out), None, 0, False
        self._read = read.out
        self._initial = value
        self._trainable = trainable
        self._frame = frame
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
        for c in collections:
            g.add_to_collection(c, self)
        if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            g.add_to_collection(GraphKeys.TRAINABLE_VARIABLES, self)

    # ---- identity and metadata -----------------------------------------------------------------
    @property
    def name(self):
        return self._slot.name + ":0"

    @property
    def op(self):
        return Operation(self._read.node)

    @property
    def graph(self):
        return self._read.node.graph

    @property
    def shape(self):
        return TensorShape(self._slot.shape)

    @property
    def dtype(self):
        return as_dtype(self._slot.dtype)

    @property
    def trainable(self):
        return self._trainable

    @property
    def device(self):
        return ""

    @property
    def initializer(self):
        return Operation(self._init_node)

    @property
    def initial_value(self):
        return symbolic_tensor(self._initial)

    def initialized_value(self):
        return self.initial_value

    def __repr__(self):
        return f"<tf.Variable '{self.name}' shape={tuple(self._slot.shape)} dtype={self.dtype.name}_ref>"

    # ---- reads ---------------------------------------------------------------------------------
    def value(self):
        """The variable's read tensor (the one ops on the Variable use)."""
        return symbolic_tensor(self._read)

    def read_value(self):
        """A new read: it runs after the control dependencies in scope (it sees their writes)."""
        g = self.graph
        node = g.add(ir.READ, None, (), {"slot": self._slot}, [(self._slot.shape, self._slot.dtype)],
                     name=self._slot.name + "/read", frame=frame_of_user())  # fmt: skip
        return symbolic_tensor(node.out)

    def _all_reads(self):
        """Every read of this variable in its graph: tf.gradients sums through all of them."""
        return [n.out for n in self.graph.nodes if n.kind == ir.READ and n.attrs.get("slot") is self._slot]

    def _as_graph_tensor(self):
        return self

    # ---- writes --------------------------------------------------------------------------------
    def _write(self, value, name):
        g = self.graph
        with building(g):
            t = convert_to_tensor(value, dtype=self.dtype)
        v = t._data.value
        if len(v.shape) != len(self._slot.shape) or any(
            a is not None and b is not None and a != b for a, b in zip(v.shape, self._slot.shape)
        ):
            raise ValueError(
                f"Shapes {list(self._slot.shape)} and {list(v.shape)} are incompatible: "
                f"cannot assign a value of shape {list(v.shape)} to variable {self.name}"
            )
        node = g.add(ir.ASSIGN, None, (v,), {"slot": self._slot}, [(self._slot.shape, self._slot.dtype)],
                     name=name, frame=frame_of_user())  # fmt: skip
        return symbolic_tensor(node.out)

    def assign(self, value, use_locking=None, name=None, read_value=True):
        """An op writing ``value``; fetching it returns the new value (as TF1's ref assign)."""
        return self._write(value, name or "Assign")

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        with building(self.graph):
            new = self.read_value() + convert_to_tensor(delta, dtype=self.dtype)
        return self._write(new, name or "AssignAdd")

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        with building(self.graph):
            new = self.read_value() - convert_to_tensor(delta, dtype=self.dtype)
        return self._write(new, name or "AssignSub")

    def load(self, value, session=None):
        """Write ``value`` straight into the session's store (no graph op), as TF's Variable.load."""
        from .session import _session_for

        sess = _session_for(session, self.graph, "Variable.load()")
        sess._check_open()
        arr = np.array(value, dtype=self._slot.dtype)
        if arr.shape != tuple(self._slot.shape):
            raise ValueError(f"Variable.load: shape {arr.shape} does not match variable {self.name} {self._slot.shape}")
        sess._store[self._slot] = arr


def assign(ref, value, validate_shape=None, use_locking=None, name=None):
    """tf.assign(ref, value): ``ref.assign(value)``."""
    return ref.assign(value, name=name)


def assign_add(ref, value, use_locking=None, name=None):
    return ref.assign_add(value, name=name)


def assign_sub(ref, value, use_locking=None, name=None):
    return ref.assign_sub(value, name=name)


# ---- collections and initializers ------------------------------------------------------------------
def global_variables(scope=None):
    return get_default_graph().get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


all_variables = global_variables


def trainable_variables(scope=None):
    return get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def local_variables(scope=None):
    return get_default_graph().get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def model_variables(scope=None):
    return get_default_graph().get_collection(GraphKeys.MODEL_VARIABLES, scope)


def moving_average_variables(scope=None):
    return get_default_graph().get_collection(GraphKeys.MOVING_AVERAGE_VARIABLES, scope)


def variables_initializer(var_list, name="init"):
    """One op running the initializers of ``var_list`` (a no-op for an empty list)."""
    g = get_default_graph()
    return Operation(_group_node(g, [v._init_node for v in var_list], name))


def global_variables_initializer():
    return variables_initializer(global_variables())


initialize_all_variables = global_variables_initializer


def local_variables_initializer():
    return variables_initializer(local_variables(), name="init_1")


initialize_local_variables = local_variables_initializer


# ---- variable scopes and get_variable ---------------------------------------------------------------
class VariableScope:
    """tf.VariableScope: a name prefix for get_variable plus its defaults (reuse, initializer, dtype)."""

    def __init__(self, reuse, name="", initializer=None, regularizer=None, dtype=float32, name_scope=""):
        self._reuse = reuse
        self.name = name
        self.initializer = initializer
        self.regularizer = regularizer
        self.dtype = dtype
        self.original_name_scope = name_scope

    @property
    def reuse(self):
        return self._reuse

    def reuse_variables(self):
        self._reuse = True

    def set_initializer(self, initializer):
        self.initializer = initializer

    def set_regularizer(self, regularizer):
        self.regularizer = regularizer

    def set_dtype(self, dtype):
        self.dtype = dtype

    def get_variable(self, name, *args, **kwargs):
        return get_variable(name, *args, **kwargs)

    def global_variables(self):
        return global_variables(self.name)

    def trainable_variables(self):
        return trainable_variables(self.name)

    def __repr__(self):
        return f"<tf.VariableScope '{self.name}' reuse={self._reuse}>"


def _root_scope(g):
    root = g.__dict__.get("_root_var_scope")
    if root is None:
        root = g._root_var_scope = VariableScope(False)
    return root


def get_variable_scope():
    g = get_default_graph()
    return g._var_scopes[-1] if g._var_scopes else _root_scope(g)


class variable_scope:  # noqa: N801 - TF's name
    """Prefix get_variable names with a scope (and open a name scope of the same name)."""

    def __init__(self, name_or_scope, default_name=None, values=None, initializer=None, regularizer=None,
                 caching_device=None, partitioner=None, custom_getter=None, reuse=None, dtype=None,
                 use_resource=None, constraint=None, auxiliary_name_scope=True):  # fmt: skip
        if name_or_scope is None and default_name is None:
            raise TypeError("If default_name is None then name_or_scope is required")
        self._name_or_scope = name_or_scope
        self._default_name = default_name
        self._initializer = initializer
        self._regularizer = regularizer
        self._reuse = reuse
        self._dtype = dtype
        self._aux = auxiliary_name_scope

    def __enter__(self):
        g = self._graph = get_default_graph()
        parent = get_variable_scope()
        nos = self._name_or_scope
        if isinstance(nos, VariableScope):
            full = nos.name
            ns_name = nos.original_name_scope or (full + "/" if full else "")
            base = nos
        else:
            if nos is None:  # default_name: uniquified among scopes ("dense", "dense_1")
                cand = (parent.name + "/" if parent.name else "") + self._default_name
                n = g._var_scope_counts.get(cand, 0)
                g._var_scope_counts[cand] = n + 1
                short = self._default_name if n == 0 else f"{self._default_name}_{n}"
            else:
                short = nos
                cand = (parent.name + "/" if parent.name else "") + short
                g._var_scope_counts[cand] = g._var_scope_counts.get(cand, 0) + 1
            full = (parent.name + "/" if parent.name else "") + short
            ns_name = short
            base = parent
        reuse = self._reuse or parent.reuse or (base.reuse if base is not parent else False)
        if self._reuse is False and isinstance(nos, VariableScope):
            reuse = parent.reuse
        scope = VariableScope(
            reuse,
            full,
            self._initializer or base.initializer or parent.initializer,
            self._regularizer or base.regularizer or parent.regularizer,
            as_dtype(self._dtype) if self._dtype is not None else base.dtype,
        )
        self._ns = name_scope(ns_name) if self._aux else None
        if self._ns is not None:
            scope.original_name_scope = self._ns.__enter__()
        g._var_scopes.append(scope)
        return scope

    def __exit__(self, *exc):
        self._graph._var_scopes.pop()
        if self._ns is not None:
            self._ns.__exit__(*exc)


def _where(v):
    fr = getattr(v, "_frame", None)
    return f"\n\nOriginally defined at:\n  {fr[0]}:{fr[1]}: {fr[2]}" if fr else ""


def _call_initializer(init, shape, dtype):
    try:
        return init(shape, dtype=dtype, partition_info=None)
    except TypeError:
        return init(shape, dtype=dtype)


def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None, trainable=None, collections=None,
                 caching_device=None, partitioner=None, validate_shape=True, use_resource=None, custom_getter=None,
                 constraint=None, synchronization=None, aggregation=None):  # fmt: skip
    """Create the variable ``scope/name`` or, in a reusing scope, return the existing one (TF's rules)."""
    g = get_default_graph()
    scope = get_variable_scope()
    full = (scope.name + "/" if scope.name else "") + name
    store = g._var_store
    want_dtype = as_dtype(dtype) if dtype is not None else None
    shape = None if shape is None else tuple(int(s) for s in shape)
    if full in store:
        v = store[full]
        if not scope.reuse:
            raise ValueError(
                f"Variable {full} already exists, disallowed. Did you mean to set reuse=True or "
                f"reuse=tf.AUTO_REUSE in VarScope?{_where(v)}"
            )
        if shape is not None and tuple(shape) != tuple(v.shape):
            raise ValueError(
                f"Trying to share variable {full}, but specified shape {list(shape)} and found shape {list(v.shape)}."
            )
        if want_dtype is not None and want_dtype != v.dtype:
            raise ValueError(
                f"Trying to share variable {full}, but specified dtype {want_dtype.name} and found dtype "
                f"{v.dtype.name}."
            )
        return v
    if scope.reuse is True:
        raise ValueError(
            f"Variable {full} does not exist, or was not created with tf.get_variable(). "
            "Did you mean to set reuse=tf.AUTO_REUSE in VarScope?"
        )
    dtype = want_dtype or scope.dtype or float32
    init = initializer if initializer is not None else scope.initializer
    if init is not None and not callable(init):  # a constant initial value
        if shape is not None and isinstance(init, _Tensor):
            raise ValueError("If initializer is a constant, do not specify shape.")
        initial = init
    else:
        if shape is None:
            raise ValueError(f"Shape of a new variable ({full}) must be fully defined, but instead was {shape}.")
        if init is None:
            from . import initializers

            init = (
                initializers.glorot_uniform_initializer()
                if np.dtype(dtype.np).kind == "f"
                else initializers.zeros_initializer()
            )
        if isinstance(init, type):
            init = init()
        fn = init

        def initial():
            return _call_initializer(fn, shape, dtype)

    v = Variable(initial, trainable=trainable, collections=collections, dtype=dtype, validate_shape=validate_shape,
                 _exact_name=full)  # fmt: skip
    store[full] = v
    reg = regularizer if regularizer is not None else scope.regularizer
    if reg is not None:
        with name_scope(full + "/Regularizer/"), building(g):
            loss = reg(v)
        if loss is not None:
            g.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
    return v
