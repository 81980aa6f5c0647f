"""TF1's sampled losses for large vocabularies: ``tf.nn.nce_loss``, ``tf.nn.sampled_softmax_loss``.

The logits are computed as TF's ``_compute_sampled_logits`` does (true and
sampled rows of ``weights`` gathered in one lookup, log Q subtracted,
accidental hits masked for sampled softmax), so with the same
``sampled_values`` the losses match TF. The default sampler is log-uniform
(Zipfian) like TF's, drawn at run time; it draws *with replacement* (TF's
``unique=True`` rejects repeats), and the expected counts are
``num_sampled * P(class)`` accordingly, so the draws and the loss values
differ from TF's while their distribution and the estimator stay the same.
"""

from __future__ import annotations

import numpy as np

from ... import dtypes as _dt
from . import array_ops as A
from . import math_ops as M
from . import random_ops
from ._convert import to_tensor


def _log_uniform_prob(ids, range_max):
    """P(k) = log((k + 2) / (k + 1)) / log(range_max + 1), as float32."""
    k = M.cast(ids, _dt.float64)
    p = (M.log(k + 2.0) - M.log(k + 1.0)) / float(np.log(range_max + 1.0))
    return M.cast(p, _dt.float32)


def log_uniform_candidate_sampler(true_classes, num_true, num_sampled, unique, range_max, seed=None, name=None):
    """(sampled_candidates, true_expected_count, sampled_expected_count); sampled with replacement."""
    true_classes = M.cast(to_tensor(true_classes), _dt.int64)
    u = random_ops.random_uniform([int(num_sampled)], dtype=_dt.float64, seed=seed)
    k = M.floor(M.exp(u * float(np.log(range_max + 1.0)))) - 1.0  # the log-uniform inverse CDF
    sampled = M.cast(M.clip_by_value(k, 0.0, float(range_max - 1)), _dt.int64)
    sampled = M.stop_gradient(sampled)
    true_expected = M.stop_gradient(_log_uniform_prob(true_classes, range_max) * float(num_sampled))
    sampled_expected = M.stop_gradient(_log_uniform_prob(sampled, range_max) * float(num_sampled))
    return sampled, true_expected, sampled_expected


def _compute_sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true, sampled_values,
                            subtract_log_q, remove_accidental_hits, seed=None):  # fmt: skip
    from .nn_ops import embedding_lookup

    if isinstance(weights, (list, tuple)):
        if len(weights) != 1:
            raise NotImplementedError("sampled losses: partitioned weights (a list of several tensors)")
        weights = weights[0]
    inputs = to_tensor(inputs)
    labels = M.cast(to_tensor(labels), _dt.int64)
    if labels.ndim != 2 or (labels.shape[1] is not None and labels.shape[1] != num_true):
        raise ValueError(f"labels must have shape [batch_size, num_true={num_true}], got {list(labels.shape)}")
    labels_flat = A.reshape(labels, [-1])
    if sampled_values is None:
        sampled_values = log_uniform_candidate_sampler(labels, num_true, num_sampled, True, num_classes, seed=seed)
    sampled, true_expected_count, sampled_expected_count = (M.stop_gradient(to_tensor(s)) for s in sampled_values)
    sampled = M.cast(sampled, _dt.int64)

    all_ids = A.concat([labels_flat, sampled], 0)
    all_w = embedding_lookup(weights, all_ids)
    n_true = A.size(labels_flat) if labels_flat.shape[0] is None else labels_flat.shape[0]
    true_w = all_w[:n_true]
    sampled_w = all_w[n_true:]
    sampled_logits = M.matmul(inputs, sampled_w, transpose_b=True)  # [batch, num_sampled]
    all_b = embedding_lookup(biases, all_ids)
    true_b = all_b[:n_true]
    sampled_b = all_b[n_true:]

    dim = inputs.shape[-1]
    row_wise_dots = M.multiply(A.expand_dims(inputs, 1), A.reshape(true_w, [-1, num_true, dim]))
    true_logits = M.reduce_sum(row_wise_dots, axis=2) + A.reshape(true_b, [-1, num_true])
    sampled_logits = sampled_logits + sampled_b

    if remove_accidental_hits:  # a sampled class that is a true label gets a logit of -FLT_MAX
        hits = M.reduce_any(M.equal(A.expand_dims(labels, 2), A.reshape(sampled, [1, 1, -1])), axis=1)
        big = float(np.finfo(np.float32).max)
        sampled_logits = sampled_logits + A.where(hits, A.fill(A.shape(sampled_logits), -big),
                                                  A.zeros_like(sampled_logits))  # fmt: skip
    if subtract_log_q:
        true_logits = true_logits - M.log(true_expected_count)
        sampled_logits = sampled_logits - M.log(sampled_expected_count)

    out_logits = A.concat([true_logits, sampled_logits], 1)
    out_labels = A.concat([A.ones_like(true_logits) / float(num_true), A.zeros_like(sampled_logits)], 1)
    return out_logits, out_labels


def nce_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1, sampled_values=None,
             remove_accidental_hits=False, partition_strategy="mod", name="nce_loss", seed=None):  # fmt: skip
    """Noise-contrastive estimation: per-example sum of sigmoid cross-entropies over true + sampled classes."""
    from .nn_ops import sigmoid_cross_entropy_with_logits

    logits, labels = _compute_sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                                             sampled_values, True, remove_accidental_hits, seed)  # fmt: skip
    return M.reduce_sum(sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=1)


def sampled_softmax_loss(weights, biases, labels, inputs, num_sampled, num_classes, num_true=1, sampled_values=None,
                         remove_accidental_hits=True, partition_strategy="mod", name="sampled_softmax_loss",
                         seed=None):  # fmt: skip
    """Softmax cross-entropy over the true class(es) and the sampled ones; one loss per example."""
    from .nn_ops import softmax_cross_entropy_with_logits_v2

    logits, labels = _compute_sampled_logits(weights, biases, labels, inputs, num_sampled, num_classes, num_true,
                                             sampled_values, True, remove_accidental_hits, seed)  # fmt: skip
    return softmax_cross_entropy_with_logits_v2(labels=M.stop_gradient(labels), logits=logits)
