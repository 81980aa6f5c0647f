"""TF1's ``tf.nn`` namespace: activations, softmax and cross-entropies, NHWC conv and pooling, dropout.

Functions take TF's argument names and defaults and are compositions of
ember ops, so they build graph nodes and differentiate through the op
table's VJPs. Where TF's gradient differs from the plain composition's (ties
at a kink, labels in the v1 cross-entropy) the composition is arranged to
give TF's. Images are NHWC with HWIO filters; ember's NCHW kernels run on
transposed views, with TF's asymmetric SAME padding applied explicitly.
"""

from __future__ import annotations

import types

import numpy as np

from ... import dtypes as _dt
from ... import ops as F
from ...ops import conv as C
from . import math_ops
from ._convert import (
    axes_of,
    constant_tensor,
    dtype_name,
    is_tensor_like,
    named,
    one_axis,
    to_tensor,
    to_tensors,
    with_user_line,
    wrap_exports,
)
from .array_ops import gather, squeeze
from .math_ops import reduce_mean, reduce_sum, rsqrt, sigmoid, squared_difference, tanh


def _float(x, op):
    x = to_tensor(x)
    if not x.dtype.is_floating_point:
        raise TypeError(f"{op}: expected a floating-point tensor, got {dtype_name(x.dtype)}")
    return x


# ---- activations ------------------------------------------------------------------------------------
def relu(features, name=None):
    return named(F.relu(to_tensor(features)), name)


def relu6(features, name=None):
    """min(max(x, 0), 6); the gradient passes only where 0 < x < 6, as TF's Relu6Grad."""
    x = _float(features, "relu6")
    inside = F.logical_and(F.gt(x, 0.0), F.lt(x, 6.0))
    return named(F.where(inside, x, F.stop_gradient(F.clamp(x, 0.0, 6.0))), name)


def elu(features, name=None):
    x = _float(features, "elu")
    return named(F.where(F.gt(x, 0.0), x, F.expm1(F.clamp_max(x, 0.0))), name)


def selu(features, name=None):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    x = _float(features, "selu")
    return named(F.mul(F.where(F.gt(x, 0.0), x, F.mul(F.expm1(F.clamp_max(x, 0.0)), alpha)), scale), name)


def leaky_relu(features, alpha=0.2, name=None):
    """TF's default slope is 0.2 (PyTorch's is 0.01)."""
    x = _float(features, "leaky_relu")
    return named(F.where(F.gt(x, 0.0), x, F.mul(x, float(alpha))), name)


def softplus(features, name=None):
    x = _float(features, "softplus")
    # log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))
    return named(F.add(F.clamp_min(x, 0.0), F.log1p(F.exp(F.neg(F.abs(x))))), name)


def softsign(features, name=None):
    x = _float(features, "softsign")
    return named(F.div(x, F.add(F.abs(x), 1.0)), name)


def swish(features, beta=1.0, name=None):
    x = _float(features, "swish")
    return named(F.mul(x, F.sigmoid(F.mul(x, float(beta)) if beta != 1.0 else x)), name)


silu = swish


def _softmax_axis(axis, dim):
    if axis is not None and dim is not None:
        raise ValueError("Cannot specify both 'axis' and 'dim'")
    return -1 if axis is None and dim is None else (axis if axis is not None else dim)


def softmax(logits, axis=None, name=None, dim=None):
    x = _float(logits, "softmax")
    return named(F.softmax(x, one_axis(_softmax_axis(axis, dim), x.ndim, "softmax")), name)


def log_softmax(logits, axis=None, name=None, dim=None):
    x = _float(logits, "log_softmax")
    return named(F.log_softmax(x, one_axis(_softmax_axis(axis, dim), x.ndim, "log_softmax")), name)


# ---- cross-entropies ---------------------------------------------------------------------------------
def _xent(labels, logits, axis):
    labels, logits = to_tensors(labels, logits, "SoftmaxCrossEntropyWithLogits")
    a = one_axis(axis, logits.ndim, "softmax_cross_entropy_with_logits")
    return F.neg(F.sum(F.mul(labels, F.log_softmax(logits, a)), dim=a))


def softmax_cross_entropy_with_logits_v2(_sentinel=None, labels=None, logits=None, dim=-1, name=None, axis=None):
    """-sum(labels * log_softmax(logits)); gradients flow into labels too (v2)."""
    if _sentinel is not None:
        raise ValueError("Only call softmax_cross_entropy_with_logits_v2 with named arguments (labels=..., logits=...)")
    return named(_xent(labels, logits, dim if axis is None else axis), name)


def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1, name=None, axis=None):
    """TF1's version: as v2, but no gradient flows into labels."""
    if _sentinel is not None:
        raise ValueError("Only call softmax_cross_entropy_with_logits with named arguments (labels=..., logits=...)")
    labels = F.stop_gradient(to_tensor(labels)) if labels is not None else None
    return named(_xent(labels, logits, dim if axis is None else axis), name)


def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """logsumexp(logits) - logits[label] per row; labels are int32/int64 class indices."""
    if _sentinel is not None:
        raise ValueError("Only call sparse_softmax_cross_entropy_with_logits with named arguments")
    logits = _float(logits, "sparse_softmax_cross_entropy_with_logits")
    labels = to_tensor(labels)
    if labels.dtype not in (_dt.int32, _dt.int64):
        raise TypeError(
            f"sparse_softmax_cross_entropy_with_logits: labels must be int32 or int64, got {dtype_name(labels.dtype)}"
        )
    if labels.ndim != logits.ndim - 1:
        raise ValueError(
            f"Rank mismatch: Rank of labels (received {labels.ndim}) should equal rank of logits minus 1 "
            f"(received {logits.ndim})."
        )
    n = logits.shape[-1]
    if n is None:
        raise NotImplementedError("sparse_softmax_cross_entropy_with_logits: the number of classes must be known")
    hot = F.eq(F.unsqueeze(F.cast(labels, _dt.int64), -1), constant_tensor(np.arange(n, dtype=np.int64)))
    picked = F.sum(F.where(hot, F.log_softmax(logits, -1), 0.0), dim=-1)
    return named(F.neg(picked), name)


def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """max(x, 0) - x * z + log(1 + exp(-|x|)), built as TF builds it (so the gradient at x = 0 matches)."""
    if _sentinel is not None:
        raise ValueError("Only call sigmoid_cross_entropy_with_logits with named arguments")
    labels, logits = to_tensors(labels, logits, "logistic_loss")
    cond = F.ge(logits, 0.0)
    relu_logits = F.where(cond, logits, 0.0)
    neg_abs = F.where(cond, F.neg(logits), logits)
    return named(F.add(F.sub(relu_logits, F.mul(logits, labels)), F.log1p(F.exp(neg_abs))), name)


def weighted_cross_entropy_with_logits(labels=None, logits=None, pos_weight=None, name=None, targets=None):
    labels = targets if labels is None else labels
    labels, logits = to_tensors(labels, logits, "logistic_loss")
    # (1 - z) * x + (1 + (q - 1) * z) * log(1 + exp(-x)), TF's stable form
    log_weight = F.add(F.mul(labels, float(pos_weight) - 1.0), 1.0)
    soft = F.add(F.log1p(F.exp(F.neg(F.abs(logits)))), F.relu(F.neg(logits)))
    return named(F.add(F.mul(F.rsub(labels, 1.0), logits), F.mul(log_weight, soft)), name)


# ---- convolution and pooling (NHWC) ---------------------------------------------------------------------
def _hw(v, op, what):
    """TF's strides/ksize/dilations: an int, [h, w], or [1, h, w, 1] (NHWC) / [1, 1, h, w] (NCHW)."""
    if isinstance(v, int):
        return (v, v)
    v = [int(s) for s in v]
    if len(v) == 1:
        return (v[0], v[0])
    if len(v) == 2:
        return tuple(v)
    if len(v) == 4:
        return None  # decided by the data format
    raise ValueError(f"{op}: {what} must be an int or a list of 1, 2 or 4 ints, got {v}")


def _spatial(v, data_format, op, what):
    got = _hw(v, op, what)
    if got is not None:
        return got
    v = [int(s) for s in v]
    if data_format == "NHWC":
        if v[0] != 1 or v[3] != 1:
            raise ValueError(f"{op}: {what} in the batch and depth dimensions must be 1, got {v}")
        return (v[1], v[2])
    if v[0] != 1 or v[1] != 1:
        raise ValueError(f"{op}: {what} in the batch and depth dimensions must be 1, got {v}")
    return (v[2], v[3])


def _same_pads(size, k, s, d, op):
    """TF's SAME padding: output ceil(size / stride), the odd pixel of padding going after."""
    if size is None:
        raise NotImplementedError(f"{op}: SAME padding needs the spatial size known when the graph is built")
    eff = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _pads(padding, x_hw, k, s, d, data_format, op):
    """((top, bottom), (left, right)) for 'SAME', 'VALID' or TF's explicit padding list."""
    if isinstance(padding, str):
        p = padding.upper()
        if p == "VALID":
            return ((0, 0), (0, 0))
        if p == "SAME":
            return tuple(_same_pads(x_hw[i], k[i], s[i], d[i], op) for i in range(2))
        raise ValueError(f"{op}: padding must be 'SAME' or 'VALID', got {padding!r}")
    pairs = [tuple(int(v) for v in p) for p in padding]
    if len(pairs) != 4:
        raise ValueError(f"{op}: explicit padding must list 4 [before, after] pairs, got {padding}")
    if data_format == "NHWC":
        if pairs[0] != (0, 0) or pairs[3] != (0, 0):
            raise ValueError(f"{op}: explicit padding of the batch and depth dimensions must be 0, got {padding}")
        return (pairs[1], pairs[2])
    return (pairs[2], pairs[3])


def _to_nchw(x, data_format):
    return F.permute(x, 0, 3, 1, 2) if data_format == "NHWC" else x


def _from_nchw(x, data_format):
    return F.permute(x, 0, 2, 3, 1) if data_format == "NHWC" else x


def _check_format(data_format, op):
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"{op}: data_format must be 'NHWC' or 'NCHW', got {data_format!r}")


def _padded(x, pads, value=0.0):
    """Pad an NCHW tensor; symmetric padding is left to the kernel, so only asymmetric pads pay a copy."""
    (t, b), (left, r) = pads
    if t == b and left == r:
        return x, (t, left)
    return F.pad(x, (left, r, t, b), value=value), (0, 0)


def conv2d(
    input=None,  # noqa: A002 - TF's name
    filter=None,  # noqa: A002
    strides=None,
    padding=None,
    use_cudnn_on_gpu=True,
    data_format="NHWC",
    dilations=(1, 1, 1, 1),
    name=None,
    filters=None,
):
    """TF's conv2d: NHWC input, HWIO filter; ember's NCHW kernel on transposed tensors."""
    _check_format(data_format, "conv2d")
    w = filter if filter is not None else filters
    x, w = to_tensors(input, w, "Conv2D")
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d: input and filter must be 4-d, got shapes {list(x.shape)} and {list(w.shape)}")
    cin = x.shape[3] if data_format == "NHWC" else x.shape[1]
    if cin is not None and w.shape[2] is not None and cin != w.shape[2]:
        raise ValueError(
            f"conv2d: input depth {cin} must match the filter's in_channels {w.shape[2]} "
            f"(input {list(x.shape)}, filter {list(w.shape)})"
        )
    if strides is None or padding is None:
        raise ValueError("conv2d: strides and padding are required")
    s = _spatial(strides, data_format, "conv2d", "strides")
    d = _spatial(dilations, data_format, "conv2d", "dilations")
    xc = _to_nchw(x, data_format)
    k = (w.shape[0], w.shape[1])
    pads = _pads(padding, tuple(xc.shape[2:]), k, s, d, data_format, "conv2d")
    xc, sym = _padded(xc, pads)
    wc = F.permute(w, 3, 2, 0, 1)  # HWIO -> OIHW
    out = C.conv2d(xc, wc, stride=s, padding=sym, dilation=d, groups=1)
    return named(_from_nchw(out, data_format), name)


def _pool_args(ksize, strides, data_format, op):
    _check_format(data_format, op)
    return _spatial(ksize, data_format, op, "ksize"), _spatial(strides, data_format, op, "strides")


def max_pool(value=None, ksize=None, strides=None, padding=None, data_format="NHWC", name=None, input=None):  # noqa: A002
    x = _float(value if value is not None else input, "max_pool")
    k, s = _pool_args(ksize, strides, data_format, "max_pool")
    xc = _to_nchw(x, data_format)
    pads = _pads(padding, tuple(xc.shape[2:]), k, s, (1, 1), data_format, "max_pool")
    xc, sym = _padded(xc, pads, value=float("-inf"))  # padding never wins a max
    out, _ = C.max_pool2d_with_indices(xc, kernel=k, stride=s, padding=sym, dilation=(1, 1), ceil_mode=False)
    return named(_from_nchw(out, data_format), name)


max_pool2d = max_pool


def avg_pool(value=None, ksize=None, strides=None, padding=None, data_format="NHWC", name=None, input=None):  # noqa: A002
    """Mean over each window's valid pixels: SAME padding is not counted, as in TF."""
    x = _float(value if value is not None else input, "avg_pool")
    k, s = _pool_args(ksize, strides, data_format, "avg_pool")
    xc = _to_nchw(x, data_format)
    c, h, w = xc.shape[1:]
    if c is None or h is None or w is None:
        raise NotImplementedError("avg_pool: channels and spatial size must be known when the graph is built")
    pads = _pads(padding, (h, w), k, s, (1, 1), data_format, "avg_pool")
    xp, sym = _padded(xc, pads)
    ones = constant_tensor(np.ones((c, 1) + k, dtype=x.dtype.np))
    total = C.conv2d(xp, ones, stride=s, padding=sym, dilation=(1, 1), groups=c)  # per-channel window sums
    counts = np.pad(np.ones((h, w)), pads)  # 1 for a real pixel, 0 for padding
    windows = np.lib.stride_tricks.sliding_window_view(counts, k)[:: s[0], :: s[1]]
    win = windows.sum(axis=(-1, -2))
    out = F.div(total, constant_tensor(win.astype(x.dtype.np)))
    return named(_from_nchw(out, data_format), name)


avg_pool2d = avg_pool


def bias_add(value, bias, data_format=None, name=None):
    x, b = to_tensors(value, bias, "BiasAdd")
    if b.ndim != 1:
        raise ValueError(f"bias_add: bias must be 1-d, got shape {list(b.shape)}")
    if data_format in ("NCHW", "NCW", "NCDHW") and x.ndim > 2:
        b = F.reshape(b, [-1] + [1] * (x.ndim - 2))
    return named(F.add(x, b), name)


def xw_plus_b(x, weights, biases, name=None):
    from .math_ops import matmul

    return named(bias_add(matmul(x, weights), biases), name)


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name=None, rate=None):
    """Zero each element with probability rate (= 1 - keep_prob), scale the rest by 1 / (1 - rate).

    TF's rule: keep where a uniform [0, 1) draw >= rate. A fresh mask is drawn at every run.
    """
    x = _float(x, "dropout")
    if rate is None and keep_prob is None:
        raise ValueError("dropout: give rate (or TF1's keep_prob)")
    if rate is not None and keep_prob is not None:
        raise ValueError("Cannot specify both 'rate' and 'keep_prob'")
    if keep_prob is not None and is_tensor_like(keep_prob):  # a keep_prob fed at each run
        kp = to_tensor(keep_prob, dtype=x.dtype)
        u = _noise(x, noise_shape, seed)
        return named(F.mul(F.div(x, kp), F.cast(F.ge(u, F.rsub(kp, 1.0)), x.dtype)), name)
    if keep_prob is not None:
        rate = 1.0 - float(keep_prob)
    rate = float(rate)
    if not 0 <= rate < 1:
        raise ValueError(f"rate must be a scalar tensor or a float in the range [0, 1), got {rate}")
    if rate == 0:
        return x
    keep = F.cast(F.ge(_noise(x, noise_shape, seed), rate), x.dtype)
    return named(F.mul(F.mul(x, 1.0 / (1.0 - rate)), keep), name)


def _noise(x, noise_shape, seed):
    """Uniform [0, 1) draws of x's shape (known at run time) or of noise_shape (broadcast over x)."""
    from .random_ops import generator_for, random_uniform

    if noise_shape is None:
        return F.uniform_like(x, generator=generator_for(seed))
    return random_uniform(noise_shape, dtype=x.dtype, seed=seed)


def top_k(input, k=1, sorted=True, name=None):  # noqa: A002
    """The k largest entries of the last dim and their indices (int32, as TF)."""
    x = to_tensor(input)
    values, indices = F.topk(x, int(k), dim=-1, largest=True, sorted=True)
    return TopKV2(named(values, name), F.cast(indices, _dt.int32))


class TopKV2(tuple):
    """(values, indices), also by name as TF's result."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])


def l2_loss(t, name=None):
    x = _float(t, "l2_loss")
    return named(F.div(F.sum(F.mul(x, x)), 2.0), name)


def embedding_lookup(params, ids, partition_strategy="mod", name=None, validate_indices=True, max_norm=None):
    if isinstance(params, (list, tuple)):
        if len(params) != 1:
            raise NotImplementedError("embedding_lookup: partitioned params (a list of several tensors)")
        params = params[0]
    if max_norm is not None:
        raise NotImplementedError("embedding_lookup: max_norm")
    return gather(params, ids, name=name)


def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    """(mean, variance) over ``axes``, computed as TF does (variance around a stop-gradient mean)."""
    x = _float(x, "moments")
    keep = bool(keepdims if keepdims is not None else keep_dims)
    mean = reduce_mean(x, axes, keepdims=True)
    variance = reduce_mean(squared_difference(x, F.stop_gradient(mean)), axes, keepdims=True)
    if not keep:
        ax = axes_of(axes, x.ndim, "moments")
        mean, variance = squeeze(mean, ax), squeeze(variance, ax)
    return mean, variance


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """(x - mean) * scale / sqrt(variance + eps) + offset, arranged as TF arranges it."""
    x = _float(x, "batch_normalization")
    inv = rsqrt(F.add(to_tensor(variance, hint=x.dtype), float(variance_epsilon)))
    if scale is not None:
        inv = F.mul(inv, to_tensor(scale, hint=x.dtype))
    off = F.neg(F.mul(to_tensor(mean, hint=x.dtype), inv))
    if offset is not None:
        off = F.add(to_tensor(offset, hint=x.dtype), off)
    return named(F.add(F.mul(x, inv), off), name)


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    x = _float(x, "l2_normalize")
    axis = axis if axis is not None else dim
    square_sum = reduce_sum(F.mul(x, x), axis, keepdims=True)
    inv = F.rsqrt(F.clamp_min(square_sum, float(epsilon)))
    return named(F.mul(x, inv), name)


def in_top_k(predictions, targets, k, name=None):
    """Whether each row's target class is among its k largest predictions (ties count as in, as TF)."""
    p = _float(predictions, "in_top_k")
    t = to_tensor(targets)
    if t.dtype not in (_dt.int32, _dt.int64):
        raise TypeError(f"in_top_k: targets must be int32 or int64, got {dtype_name(t.dtype)}")
    n = p.shape[-1]
    hot = F.eq(F.unsqueeze(F.cast(t, _dt.int64), -1), constant_tensor(np.arange(n, dtype=np.int64)))
    target_score = F.sum(F.where(hot, p, 0.0), dim=-1, keepdim=True)
    above = F.sum(F.cast(F.gt(p, target_score), _dt.int32), dim=-1)
    ok = F.logical_and(F.lt(above, int(k)), F.isfinite(F.squeeze(target_score, -1)))
    return named(ok, name)


__all__ = [
    "relu",
    "relu6",
    "elu",
    "selu",
    "leaky_relu",
    "softplus",
    "softsign",
    "swish",
    "silu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "softmax_cross_entropy_with_logits",
    "softmax_cross_entropy_with_logits_v2",
    "sparse_softmax_cross_entropy_with_logits",
    "sigmoid_cross_entropy_with_logits",
    "weighted_cross_entropy_with_logits",
    "conv2d",
    "max_pool",
    "max_pool2d",
    "avg_pool",
    "avg_pool2d",
    "bias_add",
    "xw_plus_b",
    "dropout",
    "l2_loss",
    "embedding_lookup",
    "moments",
    "batch_normalization",
    "l2_normalize",
    "in_top_k",
    "top_k",
]

wrap_exports(globals())

for _name in ("softplus", "softsign", "in_top_k", "l2_normalize", "log_softmax", "softmax", "sigmoid", "tanh"):
    setattr(math_ops.math, _name, globals()[_name])

# tf.nn.rnn_cell, tf.nn.static_rnn & co., and the sampled losses (their modules import this one)
from .rnn_ops import (  # noqa: E402,F401
    bidirectional_dynamic_rnn,
    dynamic_rnn,
    rnn_cell,
    static_bidirectional_rnn,
    static_rnn,
)
from .sampled_ops import log_uniform_candidate_sampler, nce_loss, sampled_softmax_loss  # noqa: E402,F401

_later = ["bidirectional_dynamic_rnn", "dynamic_rnn", "rnn_cell", "static_bidirectional_rnn", "static_rnn",
          "log_uniform_candidate_sampler", "nce_loss", "sampled_softmax_loss"]  # fmt: skip
__all__ += _later
for _name in _later:
    if isinstance(globals()[_name], types.FunctionType):  # errors name the user's line
        globals()[_name] = with_user_line(globals()[_name])
