"""tf.metrics: streaming metrics as (value, update_op) pairs over local variables.

As in TF, each metric keeps running totals in LOCAL_VARIABLES (reset by
running ``tf.local_variables_initializer()``); ``update_op`` adds a batch and
returns the updated metric, ``value`` reads the current one (0 before any data).
"""

from __future__ import annotations

import numpy as np

from . import math_ops as M
from .array_ops import ones_like, where, zeros_like
from .framework import convert_to_tensor, float32
from .ops_api import name_scope
from .variables import GraphKeys, Variable


def _local(name):
    return Variable(np.zeros((), np.float32), trainable=False, name=name,
                    collections=[GraphKeys.LOCAL_VARIABLES, "metric_variables"])  # fmt: skip


def _safe_div(num, den):
    pos = M.greater(den, 0.0)
    return where(pos, num / where(pos, den, ones_like(den)), zeros_like(num))


def mean(values, weights=None, metrics_collections=None, updates_collections=None, name=None):
    """The running (weighted) mean of ``values``: total / count, both float32."""
    with name_scope(name, "mean"):
        values = M.cast(convert_to_tensor(values), float32)
        total, count = _local("total"), _local("count")
        if weights is None:
            batch_total, batch_count = M.reduce_sum(values), M.reduce_sum(ones_like(values))
        else:
            w = M.cast(convert_to_tensor(weights), float32) * ones_like(values)
            batch_total, batch_count = M.reduce_sum(values * w), M.reduce_sum(w)
        update_total = total.assign_add(batch_total)
        update_count = count.assign_add(batch_count)
        value = _safe_div(total.read_value(), count.read_value())
        update_op = _safe_div(update_total, update_count)
    for key, t in ((metrics_collections, value), (updates_collections, update_op)):
        for c in key or ():
            value.graph.add_to_collection(c, t)
    return value, update_op


def accuracy(labels, predictions, weights=None, metrics_collections=None, updates_collections=None, name=None):
    """The running fraction of ``predictions == labels``."""
    with name_scope(name, "accuracy"):
        labels, predictions = convert_to_tensor(labels), convert_to_tensor(predictions)
        if predictions.dtype != labels.dtype:
            predictions = M.cast(predictions, labels.dtype)
        correct = M.cast(M.equal(predictions, labels), float32)
        return mean(correct, weights, metrics_collections, updates_collections, name="mean")
