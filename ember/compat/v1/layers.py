"""TF1's ``tf.layers`` functions: dense, conv2d, pooling, flatten, dropout.

Each layer opens a variable scope named like TF's (``dense``, ``dense_1``, or
the given ``name``; ``reuse`` shares) and makes its weights with
``get_variable`` (``dense/kernel`` of shape [in, units], ``dense/bias``), so
checkpoints and ``trainable_variables()`` read as in TF. The computation is
the ``tf.nn``/``tf.matmul`` composition TF's layers run.
"""

from __future__ import annotations

from ... import ops as F
from . import nn_ops
from ._convert import named, to_tensor, wrap_exports
from .math_ops import matmul


def _scope_and_variable():
    from .variables import get_variable, variable_scope  # H1a's module: imported when a layer is built

    return variable_scope, get_variable


def _zeros():
    from .initializers import zeros_initializer

    return zeros_initializer()


def _activate(out, activation):
    return activation(out) if activation is not None else out


def dense(
    inputs,
    units,
    activation=None,
    use_bias=True,
    kernel_initializer=None,
    bias_initializer=None,
    kernel_regularizer=None,
    bias_regularizer=None,
    activity_regularizer=None,
    kernel_constraint=None,
    bias_constraint=None,
    trainable=True,
    name=None,
    reuse=None,
):
    """inputs @ kernel + bias over the last axis (kernel: [in, units]); default init glorot_uniform, zeros."""
    variable_scope, get_variable = _scope_and_variable()
    x = to_tensor(inputs)
    n_in = x.shape[-1]
    if n_in is None:
        raise ValueError("The last dimension of the inputs to `Dense` should be defined. Found `None`.")
    with variable_scope(name, default_name="dense", reuse=reuse):
        kernel = get_variable(
            "kernel", [n_in, int(units)], dtype=x.dtype, initializer=kernel_initializer,
            regularizer=kernel_regularizer, trainable=trainable,
        )  # fmt: skip
        bias = None
        if use_bias:
            bias = get_variable(
                "bias", [int(units)], dtype=x.dtype, initializer=bias_initializer or _zeros(),
                regularizer=bias_regularizer, trainable=trainable,
            )  # fmt: skip
        if x.ndim == 2:
            out = matmul(x, kernel)
        else:  # TF's tensordot over the last axis
            out = F.matmul(x, to_tensor(kernel))
        if bias is not None:
            out = nn_ops.bias_add(out, bias)
        return _activate(out, activation)


def _pair(v, what):
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(s) for s in v)
    if len(v) != 2:
        raise ValueError(f"The `{what}` argument must be a tuple of 2 integers. Received: {v}")
    return v


def _format(data_format):
    fmt = {"channels_last": "NHWC", "channels_first": "NCHW"}.get(data_format)
    if fmt is None:
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return fmt


def conv2d(
    inputs,
    filters,
    kernel_size,
    strides=(1, 1),
    padding="valid",
    data_format="channels_last",
    dilation_rate=(1, 1),
    activation=None,
    use_bias=True,
    kernel_initializer=None,
    bias_initializer=None,
    kernel_regularizer=None,
    bias_regularizer=None,
    activity_regularizer=None,
    kernel_constraint=None,
    bias_constraint=None,
    trainable=True,
    name=None,
    reuse=None,
):
    """A 2-d convolution layer: kernel [kh, kw, in, filters] (``conv2d/kernel``), bias ``conv2d/bias``."""
    variable_scope, get_variable = _scope_and_variable()
    x = to_tensor(inputs)
    fmt = _format(data_format)
    n_in = x.shape[-1] if fmt == "NHWC" else x.shape[1]
    if n_in is None:
        raise ValueError("The channel dimension of the inputs should be defined. Found `None`.")
    k = _pair(kernel_size, "kernel_size")
    with variable_scope(name, default_name="conv2d", reuse=reuse):
        kernel = get_variable(
            "kernel", [k[0], k[1], n_in, int(filters)], dtype=x.dtype, initializer=kernel_initializer,
            regularizer=kernel_regularizer, trainable=trainable,
        )  # fmt: skip
        out = nn_ops.conv2d(
            x, kernel, strides=list(_pair(strides, "strides")), padding=padding.upper(), data_format=fmt,
            dilations=list(_pair(dilation_rate, "dilation_rate")),
        )  # fmt: skip
        if use_bias:
            bias = get_variable(
                "bias", [int(filters)], dtype=x.dtype, initializer=bias_initializer or _zeros(),
                regularizer=bias_regularizer, trainable=trainable,
            )  # fmt: skip
            out = nn_ops.bias_add(out, bias, data_format=fmt)
        return _activate(out, activation)


def _pool(fn, inputs, pool_size, strides, padding, data_format, name):
    fmt = _format(data_format)
    k, s = _pair(pool_size, "pool_size"), _pair(strides, "strides")
    return named(fn(to_tensor(inputs), ksize=list(k), strides=list(s), padding=padding.upper(), data_format=fmt), name)


def max_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    return _pool(nn_ops.max_pool, inputs, pool_size, strides, padding, data_format, name)


def average_pooling2d(inputs, pool_size, strides, padding="valid", data_format="channels_last", name=None):
    return _pool(nn_ops.avg_pool, inputs, pool_size, strides, padding, data_format, name)


def flatten(inputs, name=None, data_format="channels_last"):
    """[batch, ...] -> [batch, prod(...)]; channels_first data is moved to channels_last order first."""
    x = to_tensor(inputs)
    if data_format == "channels_first" and x.ndim > 2:
        x = F.permute(x, 0, *range(2, x.ndim), 1)
    rest = 1
    for s in x.shape[1:]:
        if s is None:
            raise NotImplementedError("flatten: the non-batch dims must be known when the graph is built")
        rest *= s
    return named(F.reshape(x, [-1 if x.shape[0] is None else x.shape[0], rest]), name)


def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False, name=None):
    """Dropout when ``training`` (a Python bool, or a bool tensor chosen at run time); else the inputs."""
    x = to_tensor(inputs)
    if isinstance(training, bool):
        return named(nn_ops.dropout(x, rate=rate, noise_shape=noise_shape, seed=seed), name) if training else x
    flag = to_tensor(training)
    dropped = nn_ops.dropout(x, rate=rate, noise_shape=noise_shape, seed=seed)
    return named(F.where(flag, dropped, x), name)


def batch_normalization(
    inputs,
    axis=-1,
    momentum=0.99,
    epsilon=1e-3,
    center=True,
    scale=True,
    beta_initializer=None,
    gamma_initializer=None,
    moving_mean_initializer=None,
    moving_variance_initializer=None,
    beta_regularizer=None,
    gamma_regularizer=None,
    beta_constraint=None,
    gamma_constraint=None,
    training=False,
    trainable=True,
    name=None,
    reuse=None,
    renorm=False,
    renorm_clipping=None,
    renorm_momentum=0.99,
    fused=None,
    virtual_batch_size=None,
    adjustment=None,
):
    """TF1's batch norm layer: batch statistics when ``training`` (a bool or a bool tensor), else the
    moving averages. In training it adds the moving-average updates (``moving -= (moving - batch) *
    (1 - momentum)``, with the biased batch variance, as TF1's layer does in graph mode) to
    ``tf.GraphKeys.UPDATE_OPS``: run them with the train op (``tf.control_dependencies``)."""
    if renorm or virtual_batch_size is not None or adjustment is not None:
        raise NotImplementedError("batch_normalization: renorm, virtual_batch_size and adjustment")
    from .initializers import ones_initializer
    from .variables import GraphKeys, assign_sub

    variable_scope, get_variable = _scope_and_variable()
    x = to_tensor(inputs)
    if not isinstance(axis, int):
        if len(axis) != 1:
            raise NotImplementedError("batch_normalization: normalising over several axes")
        axis = axis[0]
    a = axis % x.ndim
    c = x.shape[a]
    if c is None:
        raise ValueError(
            f"batch_normalization: the axis {axis} dimension of the inputs must be known, got {list(x.shape)}"
        )
    with variable_scope(name, default_name="batch_normalization", reuse=reuse):
        gamma = beta = None
        if scale:
            gamma = get_variable("gamma", [c], x.dtype, gamma_initializer or ones_initializer(),
                                 regularizer=gamma_regularizer, trainable=trainable)  # fmt: skip
        if center:
            beta = get_variable("beta", [c], x.dtype, beta_initializer or _zeros(),
                                regularizer=beta_regularizer, trainable=trainable)  # fmt: skip
        moving_mean = get_variable("moving_mean", [c], x.dtype, moving_mean_initializer or _zeros(), trainable=False)
        moving_var = get_variable("moving_variance", [c], x.dtype, moving_variance_initializer or ones_initializer(),
                                  trainable=False)  # fmt: skip
    shape = [1] * x.ndim
    shape[a] = c

    def along_axis(t):  # a [c] parameter broadcast against the inputs
        return None if t is None else (t if a == x.ndim - 1 else F.reshape(to_tensor(t), shape))

    def normalize(mean, var):
        return nn_ops.batch_normalization(
            x, along_axis(mean), along_axis(var), along_axis(beta), along_axis(gamma), epsilon
        )

    if training is False:
        return named(normalize(moving_mean, moving_var), None)
    mean, var = nn_ops.moments(x, [i for i in range(x.ndim) if i != a])
    out = normalize(mean, var)
    if training is True:
        decay = 1.0 - momentum
    else:  # chosen at run time: the moving statistics, and no update, when training is false
        flag = to_tensor(training)
        out = F.where(flag, out, normalize(moving_mean, moving_var))
        decay = F.where(flag, 1.0 - momentum, 0.0)
    g = x.graph
    for moving, batch in ((moving_mean, mean), (moving_var, var)):
        update = assign_sub(moving, F.mul(F.sub(to_tensor(moving), batch), decay))
        g.add_to_collection(GraphKeys.UPDATE_OPS, update)
    return out


__all__ = ["batch_normalization", "dense", "conv2d", "max_pooling2d", "average_pooling2d", "flatten", "dropout"]

wrap_exports(globals())
