"""TF1's ``tf.losses``: per-example losses, weighted and reduced as ``compute_weighted_loss`` does.

The default reduction is SUM_BY_NONZERO_WEIGHTS: the weighted sum divided by
the number of elements whose weight is not zero (0 when all are). Each loss
is added to the graph's ``losses`` collection, as TF does, so
``tf.losses.get_total_loss()`` finds it.
"""

from __future__ import annotations

import numpy as np

from ... import dtypes as _dt
from ... import ops as F
from . import framework as fw
from ._convert import constant_tensor, is_tensor_like, named, static_value, to_tensor, wrap_exports
from .nn_ops import (
    sigmoid_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits_v2,
    sparse_softmax_cross_entropy_with_logits,
)

LOSSES = "losses"  # GraphKeys.LOSSES
REGULARIZATION_LOSSES = "regularization_losses"


class Reduction:
    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls):
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE, cls.SUM_OVER_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key):
        if key not in cls.all():
            raise ValueError(f"Invalid Reduction Key {key}.")


def _f32(x):
    x = to_tensor(x, hint=_dt.float32)
    return x if x.dtype is _dt.float32 else F.cast(x, _dt.float32)


def _broadcast_weights(weights, losses):
    """TF requires weights of rank 0 or of the losses' rank, each dim 1 or the losses' size."""
    if weights.ndim == 0:
        return weights
    if weights.ndim != losses.ndim:
        raise ValueError(
            f"weights can not be broadcast to values. values.rank={losses.ndim}. weights.rank={weights.ndim}. "
            f"values.shape={list(losses.shape)}. weights.shape={list(weights.shape)}."
        )
    for w, v in zip(weights.shape, losses.shape):
        if w is not None and v is not None and w != 1 and w != v:
            raise ValueError(
                f"weights can not be broadcast to values: weights.shape={list(weights.shape)}, "
                f"values.shape={list(losses.shape)}."
            )
    return weights


def _num_elements(losses):
    if None not in losses.shape:
        return constant_tensor(np.array(np.prod(losses.shape, dtype=np.int64), dtype=np.float32))
    return F.cast(F.prod(F.shape_of(losses)), _dt.float32)


def _num_present(losses, weights, weights_value):
    """How many loss elements have a nonzero weight (every element for a nonzero Python weight)."""
    if weights_value is not None and np.ndim(weights_value) == 0 and float(weights_value) != 0.0:
        return _num_elements(losses)
    present = F.cast(F.ne(weights, 0.0), _dt.float32)
    return F.sum(F.expand_like(present, losses))  # broadcast to the losses' shape, as TF's broadcast_weights


def _safe_div(total, n):
    """total / n, and 0 where n is 0 (TF's div_no_nan)."""
    zero = F.eq(n, 0.0)
    return F.where(zero, 0.0, F.div(total, F.where(zero, 1.0, n)))


def compute_weighted_loss(
    losses, weights=1.0, scope=None, loss_collection=LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS
):
    Reduction.validate(reduction)
    losses = to_tensor(losses)
    input_dtype = losses.dtype
    losses = _f32(losses)
    weights_value = static_value(weights) if not is_tensor_like(weights) else None
    w = _broadcast_weights(_f32(weights), losses)
    weighted = F.mul(losses, w)
    if reduction == Reduction.NONE:
        loss = weighted
    else:
        total = F.sum(weighted)
        if reduction == Reduction.MEAN:
            loss = _safe_div(total, F.sum(F.expand_like(w, losses)))
        elif reduction == Reduction.SUM_OVER_BATCH_SIZE:
            loss = _safe_div(total, _num_elements(losses))
        elif reduction == Reduction.SUM_BY_NONZERO_WEIGHTS:
            loss = _safe_div(total, _num_present(losses, w, weights_value))
        else:
            loss = total
    if input_dtype != _dt.float32:
        loss = F.cast(loss, input_dtype)
    if loss_collection:
        fw.get_default_graph().add_to_collection(loss_collection, loss)
    return named(loss, scope)


def _pair(labels, predictions, op):
    p, y = _f32(predictions), _f32(labels)
    ps, ys = tuple(p.shape), tuple(y.shape)
    if len(ps) != len(ys) or any(a is not None and b is not None and a != b for a, b in zip(ps, ys)):
        raise ValueError(f"{op}: Shapes {list(ps)} and {list(ys)} are incompatible")
    return y, p


def mean_squared_error(labels, predictions, weights=1.0, scope=None, loss_collection=LOSSES,
                       reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):  # fmt: skip
    y, p = _pair(labels, predictions, "mean_squared_error")
    d = F.sub(p, y)
    return compute_weighted_loss(F.mul(d, d), weights, scope, loss_collection, reduction)


def absolute_difference(labels, predictions, weights=1.0, scope=None, loss_collection=LOSSES,
                        reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):  # fmt: skip
    y, p = _pair(labels, predictions, "absolute_difference")
    return compute_weighted_loss(F.abs(F.sub(p, y)), weights, scope, loss_collection, reduction)


def log_loss(labels, predictions, weights=1.0, epsilon=1e-7, scope=None, loss_collection=LOSSES,
             reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):  # fmt: skip
    y, p = _pair(labels, predictions, "log_loss")
    pos = F.mul(F.neg(y), F.log(F.add(p, epsilon)))
    neg = F.mul(F.rsub(y, 1.0), F.log(F.add(F.rsub(p, 1.0), epsilon)))
    return compute_weighted_loss(F.sub(pos, neg), weights, scope, loss_collection, reduction)


def huber_loss(labels, predictions, weights=1.0, delta=1.0, scope=None, loss_collection=LOSSES,
               reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):  # fmt: skip
    y, p = _pair(labels, predictions, "huber_loss")
    err = F.abs(F.sub(p, y))
    quad = F.where(F.le(err, float(delta)), err, float(delta))  # minimum(err, delta), ties to err as TF
    lin = F.sub(err, quad)
    losses = F.add(F.mul(F.mul(quad, quad), 0.5), F.mul(lin, float(delta)))
    return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def hinge_loss(labels, logits, weights=1.0, scope=None, loss_collection=LOSSES,
               reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):  # fmt: skip
    y, x = _pair(labels, logits, "hinge_loss")
    signed = F.sub(F.mul(y, 2.0), 1.0)
    return compute_weighted_loss(F.relu(F.rsub(F.mul(signed, x), 1.0)), weights, scope, loss_collection, reduction)


def sigmoid_cross_entropy(multi_class_labels, logits, weights=1.0, label_smoothing=0, scope=None,
                          loss_collection=LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):  # fmt: skip
    logits = to_tensor(logits)
    y = to_tensor(multi_class_labels, hint=logits.dtype)
    y = y if y.dtype == logits.dtype else F.cast(y, logits.dtype)
    if label_smoothing:
        y = F.add(F.mul(y, 1.0 - label_smoothing), 0.5 * label_smoothing)
    losses = sigmoid_cross_entropy_with_logits(labels=y, logits=logits)
    return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def softmax_cross_entropy(onehot_labels, logits, weights=1.0, label_smoothing=0, scope=None,
                          loss_collection=LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):  # fmt: skip
    logits = to_tensor(logits)
    y = to_tensor(onehot_labels, hint=logits.dtype)
    y = y if y.dtype == logits.dtype else F.cast(y, logits.dtype)
    if label_smoothing:
        n = logits.shape[-1]
        y = F.add(F.mul(y, 1.0 - label_smoothing), label_smoothing / n)
    losses = softmax_cross_entropy_with_logits_v2(labels=F.stop_gradient(y), logits=logits)
    return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


def sparse_softmax_cross_entropy(labels, logits, weights=1.0, scope=None, loss_collection=LOSSES,
                                 reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):  # fmt: skip
    logits = to_tensor(logits)
    labels = to_tensor(labels)
    if labels.ndim == logits.ndim and labels.shape[-1] == 1:  # TF squeezes a trailing 1 off the labels
        labels = F.squeeze(labels, -1)
    losses = sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return compute_weighted_loss(losses, weights, scope, loss_collection, reduction)


# ---- the losses collection ----------------------------------------------------------------------------
def add_loss(loss, loss_collection=LOSSES):
    if loss_collection:
        fw.get_default_graph().add_to_collection(loss_collection, loss)


def get_losses(scope=None, loss_collection=LOSSES):
    return fw.get_default_graph().get_collection(loss_collection, scope)


def get_regularization_losses(scope=None):
    return fw.get_default_graph().get_collection(REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope=None, name="total_regularization_loss"):
    losses = get_regularization_losses(scope)
    if not losses:
        return constant_tensor(np.array(0.0, np.float32))
    from .math_ops import add_n

    return add_n(losses, name=name)


def get_total_loss(add_regularization_losses=True, name="total_loss", scope=None):
    from .math_ops import add_n

    losses = get_losses(scope)
    if add_regularization_losses:
        losses = losses + get_regularization_losses(scope)
    if not losses:
        raise ValueError("No losses found in the graph's losses collection")
    return add_n(losses, name=name)


__all__ = [
    "Reduction",
    "compute_weighted_loss",
    "mean_squared_error",
    "absolute_difference",
    "log_loss",
    "huber_loss",
    "hinge_loss",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
    "add_loss",
    "get_losses",
    "get_regularization_losses",
    "get_regularization_loss",
    "get_total_loss",
]

wrap_exports(globals())
