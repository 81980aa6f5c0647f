"""``import ember.compat.v1 as tf``: TensorFlow 1's graph API over ember's graphs and op table.

A TF1 program builds an ``ember.graph.Graph`` (placeholders, Variables, ops
from the same table eager PyTorch-style code uses) and runs it in a Session
with the reference graph interpreter, so its numbers match eager ember and,
within float rounding, TensorFlow. This module is re-exports only.
"""
# ruff: noqa: F401 - every import here is a re-export

from . import data, initializers, layers, losses, metrics, summary, train
from . import nn_ops as nn  # tf.nn
from .clip_ops import clip_by_global_norm, clip_by_norm, global_norm
from .control_flow import cond, map_fn, while_loop
from .framework import (
    Graph,
    Tensor,
    TensorShape,
    as_dtype,
    bfloat16,
    bool,  # noqa: A004 - TF's name
    constant,
    convert_to_tensor,
    double,
    float16,
    float32,
    float64,
    get_default_graph,
    half,
    int8,
    int16,
    int32,
    int64,
    placeholder,
    placeholder_with_default,
    reset_default_graph,
    uint8,
)
from .initializers import (
    constant_initializer,
    glorot_normal_initializer,
    glorot_uniform_initializer,
    ones_initializer,
    random_normal_initializer,
    random_uniform_initializer,
    truncated_normal_initializer,
    variance_scaling_initializer,
    zeros_initializer,
)
from .math_ops import *  # noqa: F403
from .ops_api import (
    Operation,
    control_dependencies,
    get_name_scope,
    gradients,
    group,
    identity,
    name_scope,
    no_op,
)
from .ops_api import tuple_ as tuple  # noqa: A004 - TF's name
from .platform import COMPILER_VERSION, GIT_VERSION, VERSION, GPUOptions, __version__, app, flags, logging, test
from .random_ops import *  # noqa: F403
from .session import (
    ConfigProto,
    InteractiveSession,
    RunMetadata,
    RunOptions,
    Session,
    errors,
    get_default_session,
)
from .variables import (
    AUTO_REUSE,
    GraphKeys,
    Variable,
    VariableScope,
    all_variables,
    assign,
    assign_add,
    assign_sub,
    get_variable,
    get_variable_scope,
    global_variables,
    global_variables_initializer,
    initialize_all_variables,
    initialize_local_variables,
    local_variables,
    local_variables_initializer,
    model_variables,
    moving_average_variables,
    trainable_variables,
    variable_scope,
    variables_initializer,
)

dtypes = __import__("ember.dtypes", fromlist=["dtypes"])
DType = type(float32)


def add_to_collection(name, value):
    get_default_graph().add_to_collection(name, value)


def get_collection(key, scope=None):
    return get_default_graph().get_collection(key, scope)


def get_collection_ref(key):
    return get_default_graph().get_collection_ref(key)


def disable_eager_execution():
    """A no-op: ember.compat.v1 always builds graphs."""


def disable_v2_behavior():
    """A no-op: ember.compat.v1 always has TF1 behaviour."""


def enable_eager_execution(*args, **kwargs):
    raise NotImplementedError("ember.compat.v1 is graph mode only; use ember (PyTorch-style eager) for eager code")


def executing_eagerly():
    return False


def _contrib():
    """TF 1.x's ``tf.contrib.rnn`` (cells, static_rnn & co.), which tutorials spell ``tf.contrib.rnn.BasicLSTMCell``."""
    import types

    from . import rnn_ops

    cells = {k: v for k, v in vars(rnn_ops.rnn_cell).items() if not k.startswith("_")}
    rnn = types.SimpleNamespace(**cells, static_rnn=nn.static_rnn, static_bidirectional_rnn=nn.static_bidirectional_rnn)
    return types.SimpleNamespace(rnn=rnn)


contrib = _contrib()

# additions: tf.nn.conv2d_transpose (its own module, attached to the tf.nn namespace)
from .conv_transpose_ops import conv2d_transpose as _conv2d_transpose  # noqa: E402

nn.conv2d_transpose = _conv2d_transpose
from . import saved_model  # noqa: E402 - tf.saved_model (simple_save, loader.load, builder)
from .misc_ops import Print, assert_equal, diag, print, trace  # noqa: E402, A004 - TF's names
