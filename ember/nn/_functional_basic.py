"""Functional forms of the basic layers, activations and losses (``torch.nn.functional``).

Everything here is a composition of ember ops, so autograd, second
derivatives and every interpreter come for free. The numerically delicate
parts use fused primitives: cross-entropy and NLL go through ``log_softmax``
and ``gather``; log-sigmoid style terms use ``log1p(exp(-|x|))``.
"""

from __future__ import annotations

import math
import warnings

from .. import dtypes as dt
from .. import ops as F
from ..autograd.grad_mode import no_grad
from ..devices import xp_of
from ..ops.nll import checked_rows, nll_loss_rows
from ..tensor import _make

__all__ = [
    # layers
    "linear",
    "bilinear",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "alpha_dropout",
    "embedding",
    # activations
    "relu",
    "relu_",
    "relu6",
    "leaky_relu",
    "leaky_relu_",
    "elu",
    "elu_",
    "selu",
    "celu",
    "hardtanh",
    "hardtanh_",
    "prelu",
    "softmin",
    "logsigmoid",
    "hardswish",
    "hardsigmoid",
    "softsign",
    "tanhshrink",
    "softshrink",
    "hardshrink",
    "threshold",
    "glu",
    "silu",
    "mish",
    # losses and distances
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "cosine_embedding_loss",
    "margin_ranking_loss",
    "soft_margin_loss",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "multilabel_soft_margin_loss",
    "triplet_margin_loss",
    "cosine_similarity",
    "pairwise_distance",
    "normalize",
]


# ---- helpers --------------------------------------------------------------------------------
def _size(shape):
    return "torch.Size(" + str(list(shape)) + ")"


def _legacy_reduction(size_average, reduce, reduction):
    """PyTorch's mapping of the deprecated ``size_average``/``reduce`` flags to ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def _check_reduction(reduction):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _inplace(input, out, name):
    """Write ``out`` into ``input`` (``inplace=True``) with PyTorch's in-place autograd semantics."""
    from ..ops.inplace import commit

    return commit(input, out, name)


def _act(input, inplace, name, fn, *args):
    """``fn(input, *args)``, written into ``input`` when ``inplace``.

    With gradients recorded, the in-place form computes from a clone, so the
    values its backward saves are not the ones it overwrites.
    """
    if not inplace:
        return fn(input, *args)
    from ..autograd.grad_mode import state

    src = input.clone() if state.enabled and input.requires_grad else input
    return _inplace(input, fn(src, *args), name)


def _warn_size(input, target, stacklevel=3):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({_size(target.shape)}) that is different to the input size "
            f"({_size(input.shape)}). This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=stacklevel,
        )


# ---- layers -------------------------------------------------------------------------------------
def linear(input, weight, bias=None):
    """``input @ weight.T + bias``."""
    if input.ndim == 0 or input.shape[-1] != weight.shape[-1]:
        rows = 1 if input.ndim < 2 else math.prod(input.shape[:-1])
        cols = input.shape[-1] if input.ndim else 1
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{cols} and {weight.shape[-1]}x{weight.shape[0]}): "
            f"linear expects the input's last dimension to equal weight.shape[1] = {weight.shape[-1]}, "
            f"got input of shape {tuple(input.shape)}"
        )
    out = F.matmul(input, F.t(weight))
    if bias is not None:
        out = out + bias
    return out


def bilinear(input1, input2, weight, bias=None):
    """``y[..., o] = sum_ij x1[..., i] A[o, i, j] x2[..., j] + b[o]``."""
    if input1.shape[-1] != weight.shape[1] or input2.shape[-1] != weight.shape[2]:
        raise RuntimeError(
            f"bilinear: expected input1's last dimension {weight.shape[1]} and input2's last dimension "
            f"{weight.shape[2]} (weight shape {tuple(weight.shape)}), got {tuple(input1.shape)} and {tuple(input2.shape)}"
        )
    if tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise RuntimeError(
            f"bilinear: input1 and input2 must have the same leading dimensions, got {tuple(input1.shape)} and "
            f"{tuple(input2.shape)}"
        )
    out = F.einsum("...i,oij,...j->...o", input1, weight, input2)
    if bias is not None:
        out = out + bias
    return out


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _keep_mask(input, shape, p):
    """A float mask of ``shape`` with entries 1/(1-p) (kept, probability 1-p) or 0, on input's device.

    Drawn by a random op (``uniform_like``/``random_uniform``), so a compiled or graph dropout
    draws a fresh mask at every run, the same numbers eager draws from the same generator state.
    """
    if input.is_floating_point() and tuple(shape) == tuple(input.shape):
        r = F.uniform_like(input.detach())
    else:
        r = F.random_uniform(shape=tuple(shape), dtype=input.dtype if input.is_floating_point() else None)
        if input.device.type != "cpu":
            r = r.to(input.device)
    return F.cast(F.lt(r, 1.0 - p), dtype=r.dtype) * (1.0 / (1.0 - p))


def _dropout_impl(input, p, training, inplace, shape):
    _check_p(p)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    out = input * 0.0 if p == 1.0 else input * _keep_mask(input, shape, p)  # mul saves the mask, not input
    return _inplace(input, out, "dropout") if inplace else out


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (when training)."""
    return _dropout_impl(input, p, training, inplace, tuple(input.shape))


def _feature_dropout(input, p, training, inplace, nd, name):
    batched = input.ndim == nd + 2
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{name}: Expected {nd + 1}D or {nd + 2}D input, but received a {input.ndim}D input of shape "
            f"{tuple(input.shape)}"
        )
    lead = 2 if batched else 1
    shape = tuple(input.shape[:lead]) + (1,) * (input.ndim - lead)
    return _dropout_impl(input, p, training, inplace, shape)


def dropout1d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, inplace, 1, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, inplace, 2, "dropout2d")


def dropout3d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, inplace, 3, "dropout3d")


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout that keeps SELU's self-normalising mean and variance (PyTorch's constants)."""
    _check_p(p)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if p == 1.0:
        return input * 0.0
    alpha_p = -_SELU_ALPHA * _SELU_SCALE
    a = ((1 - p) * (1 + p * alpha_p**2)) ** -0.5
    keep = _keep_mask(input, tuple(input.shape), p) * (1.0 - p)  # 0/1
    b = (keep - 1.0) * (alpha_p * a) + alpha_p * a * p
    return _act(input, inplace, "alpha_dropout", lambda input: input * keep * a + b)


def embedding(
    input,
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type=2.0,
    scale_grad_by_freq=False,
    sparse=False,
):
    """Rows of ``weight`` picked by the integer ``input``; ``padding_idx``'s row gets no gradient."""
    if input.is_floating_point() or input.dtype is dt.bool_:
        raise RuntimeError(
            "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; "
            f"but got {input.dtype} instead (while checking arguments for embedding)"
        )
    num = weight.shape[0]
    if padding_idx is not None:
        if padding_idx > 0:
            assert padding_idx < num, "Padding_idx must be within num_embeddings"
        elif padding_idx < 0:
            assert padding_idx >= -num, "Padding_idx must be within num_embeddings"
            padding_idx = num + padding_idx
    idx = input._data
    symbolic = getattr(idx, "_xp", None) is not None  # in a graph the values are not known yet
    if not symbolic and idx.size and (int(idx.min()) < 0 or int(idx.max()) >= num):
        bad = int(idx.min()) if int(idx.min()) < 0 else int(idx.max())
        raise IndexError(
            f"index out of range in self: embedding index {bad} is outside [0, {num}) (weight {tuple(weight.shape)})"
        )
    if max_norm is not None:
        _embedding_renorm_(weight, input, max_norm, norm_type)
    out = weight[input]
    if scale_grad_by_freq:
        import numpy as np

        flat = np.asarray(idx.get() if hasattr(idx, "get") else idx).reshape(-1)
        counts = np.bincount(flat, minlength=num)
        scale = (1.0 / counts[flat]).reshape(tuple(input.shape) + (1,))
        if padding_idx is not None:
            scale = scale * (flat != padding_idx).reshape(tuple(input.shape) + (1,))
        s = F.tensor(scale.astype(out._data.dtype), device=out.device)
        frozen = out.detach()
        return frozen + (out - frozen) * s  # the values of ``out``, gradients scaled per index
    if padding_idx is not None:
        keep = F.unsqueeze(F.ne(input, padding_idx), -1)
        out = F.where(keep, out, out.detach())
    return out


def _embedding_renorm_(weight, input, max_norm, norm_type):
    with no_grad():
        rows = F.unique(input.reshape(-1))
        sel = weight[rows]
        norms = F.vector_norm(sel, norm_type, dim=1, keepdim=True)
        scale = F.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        weight[rows] = sel * scale
    return weight


# ---- activations --------------------------------------------------------------------------------------
def relu(input, inplace=False):
    return input.relu_() if inplace else F.relu(input)


def relu_(input):
    return input.relu_()


def silu(input, inplace=False):
    return _act(input, inplace, "silu", lambda input: F.silu(input))


def mish(input, inplace=False):
    return _act(input, inplace, "mish", lambda input: F.mish(input))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _act(input, inplace, "hardtanh", lambda input: F.clamp(input, min_val, max_val))


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _act(input, inplace, "leaky_relu", lambda input: F.where(input > 0, input, input * negative_slope))


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def _elu(input, alpha, scale=1.0, input_scale=1.0):
    neg = F.expm1(F.clamp_max(input, 0.0) * input_scale if input_scale != 1.0 else F.clamp_max(input, 0.0)) * alpha
    out = F.where(input > 0, input, neg)
    return out * scale if scale != 1.0 else out


def elu(input, alpha=1.0, inplace=False):
    return _act(input, inplace, "elu", lambda input: _elu(input, alpha))


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def selu(input, inplace=False):
    return _act(input, inplace, "selu", lambda input: _elu(input, _SELU_ALPHA, _SELU_SCALE))


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: celu's alpha must not be 0")
    return _act(input, inplace, "celu", lambda input: _elu(input, alpha, 1.0, 1.0 / alpha))


def prelu(input, weight):
    """``max(0, x) + weight * min(0, x)``; a weight with C entries applies per channel (dim 1)."""
    n = weight.numel()
    if n != 1:
        channels = input.shape[1] if input.ndim >= 2 else input.shape[0] if input.ndim == 1 else 1
        if channels != n:
            raise RuntimeError(
                "Mismatch of parameter numbers and input channel size. "
                f"Found parameter numbers = {n} and channel size = {channels}."
            )
        if input.ndim >= 2:
            weight = weight.reshape((n,) + (1,) * (input.ndim - 2))
    elif weight.ndim != 0 and input.ndim == 0:
        weight = weight.reshape(())
    return F.where(input > 0, input, input * weight)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return F.softmax(-input, dim=dim, dtype=dtype)


def logsigmoid(input):
    """``-softplus(-x)`` = ``min(x, 0) - log1p(exp(-|x|))``, stable for any x."""
    return F.clamp_max(input, 0.0) - F.log1p(F.exp(-F.abs(input)))


def hardsigmoid(input, inplace=False):
    return _act(input, inplace, "hardsigmoid", lambda input: F.clamp(input + 3.0, 0.0, 6.0) / 6.0)


def hardswish(input, inplace=False):
    return _act(input, inplace, "hardswish", lambda input: input * F.clamp(input + 3.0, 0.0, 6.0) / 6.0)


def softsign(input):
    return input / (F.abs(input) + 1)


def tanhshrink(input):
    return input - F.tanh(input)


def softshrink(input, lambd=0.5):
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return F.where(input > lambd, input - lambd, F.where(input < -lambd, input + lambd, input * 0.0))


def hardshrink(input, lambd=0.5):
    return F.where((input > lambd) | (input < -lambd), input, input * 0.0)


def threshold(input, threshold, value, inplace=False):
    return _act(input, inplace, "threshold", lambda input: F.where(input > threshold, input, F.full_like(input, value)))


def glu(input, dim=-1):
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    if input.shape[dim] % 2:
        raise RuntimeError(
            f"Halving dimension must be even, but dimension {dim % input.ndim} is size {input.shape[dim]}"
        )
    a, b = F.chunk(input, 2, dim)
    return a * F.sigmoid(b)


# ---- classification losses -----------------------------------------------------------------------------
_INDEX_DTYPES = (dt.int64, dt.uint8)


def _class_dim(input):
    return 0 if input.ndim == 1 else 1


def _check_class_target(op, input, target, weight):
    """Check ``target`` holds class indices of the right dtype and shape for ``input`` (N, C, d1, ...)."""
    if input.ndim == 0:
        raise ValueError(f"{op}: expected input of shape (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")
    if target.dtype not in _INDEX_DTYPES:
        raise RuntimeError(
            f"expected target dtype to be Long or Byte, but got {_torch_name(target.dtype)}. {op}: a target of class "
            f"indices must be int64 (or uint8) with shape {_expected_index_shape(input)}; class probabilities must be "
            f"floating point with the input's shape {tuple(input.shape)}; got target of dtype {target.dtype} and shape "
            f"{tuple(target.shape)}"
        )
    expected = _expected_index_shape(input)
    if tuple(target.shape) != expected:
        if input.ndim >= 2 and (target.ndim == 0 or target.shape[0] != input.shape[0]):
            raise ValueError(
                f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                f"({target.shape[0] if target.ndim else 1}). {op}: input {tuple(input.shape)} needs a target of "
                f"class indices of shape {expected}, got {tuple(target.shape)}"
            )
        raise RuntimeError(
            f"{op}: input of shape {tuple(input.shape)} needs a target of class indices of shape {expected}, "
            f"got {tuple(target.shape)}"
        )
    n_classes = input.shape[_class_dim(input)]
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != n_classes):
        raise RuntimeError(
            f"weight tensor should be defined either for all {n_classes} classes or no classes but got weight "
            f"tensor of shape: {list(weight.shape)}"
        )


def _expected_index_shape(input):
    if input.ndim == 1:
        return ()
    return (input.shape[0],) + tuple(input.shape[2:])


def _torch_name(d):
    return {
        dt.float32: "Float",
        dt.float64: "Double",
        dt.float16: "Half",
        dt.int32: "Int",
        dt.int16: "Short",
        dt.int8: "Char",
        dt.bool_: "Bool",
        dt.bfloat16: "BFloat16",
    }.get(d, str(d))


def _nll(logp, target, weight, ignore_index, reduction, op):
    """NLL of log-probabilities ``logp`` (C,) / (N, C, ...) at class indices ``target``."""
    cdim = _class_dim(logp)
    n_classes = logp.shape[cdim]
    t = target._data
    symbolic = getattr(t, "_xp", None) is not None  # a graph (ember.compile, TF1)
    if not symbolic:  # eager: a bad class index raises before any op runs
        ignored, any_ignored, _ = checked_rows(xp_of(t), t, n_classes, ignore_index, op)
    if weight is None and logp.ndim == 2:
        # (N, C) rows without class weights, the common case: one primitive each way (ops/nll.py)
        return nll_loss_rows(logp, target, ignore_index=ignore_index, reduction=reduction)
    if symbolic:  # see _nll_graph
        return _nll_graph(logp, target, weight, ignore_index, reduction, cdim)
    if target.dtype is not dt.int64:
        target = F.cast(target, dtype=dt.int64)
    safe = F.where(_make(ignored), 0, target) if any_ignored else target
    picked = F.gather(logp, cdim, F.unsqueeze(safe, cdim))
    if weight is None and not any_ignored and reduction != "none":
        # the common case in two recorded ops after gather: sum, then divide by -N (or negate)
        total = picked.sum()
        return total / -picked.numel() if reduction == "mean" else -total
    loss = -picked.squeeze(cdim)
    if weight is None and not any_ignored:
        return loss
    w = weight[safe] if weight is not None else None
    if any_ignored:
        keep = _make(~ignored)
        w = F.where(keep, w, 0.0) if w is not None else F.cast(keep, dtype=loss.dtype)
    loss = loss * w
    if reduction == "mean":
        return loss.sum() / w.sum()
    return _reduce(loss, reduction)


def _nll_graph(logp, target, weight, ignore_index, reduction, cdim):
    """_nll in a graph, where which targets are ignored is known only at run time: both of eager's
    paths are built and ``where(any ignored, ...)`` picks one when it runs, so results match eager
    bit for bit. (Out-of-range targets are not checked here: the gather kernel raises.)"""
    if target.dtype is not dt.int64:
        target = F.cast(target, dtype=dt.int64)
    ignored = F.eq(target, ignore_index)
    safe = F.where(ignored, 0, target)
    picked = F.gather(logp, cdim, F.unsqueeze(safe, cdim))
    loss = -picked.squeeze(cdim)
    if weight is None and reduction != "none":  # eager's path when nothing is ignored
        total = picked.sum()
        clean = total / -picked.numel() if reduction == "mean" else -total
    elif weight is None:
        clean = loss
    else:
        w = weight[safe]
        clean = (loss * w).sum() / w.sum() if reduction == "mean" else _reduce(loss * w, reduction)
    keep = F.logical_not(ignored)
    w = F.where(keep, weight[safe], 0.0) if weight is not None else F.cast(keep, dtype=loss.dtype)
    masked = loss * w
    masked = masked.sum() / w.sum() if reduction == "mean" else _reduce(masked, reduction)
    return F.where(F.any(ignored), masked, clean)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log likelihood of log-probabilities ``input`` at class indices ``target``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _check_class_target("nll_loss", input, target, weight)
    return _nll(input, target, weight, ignore_index, reduction, "nll_loss")


def cross_entropy(
    input,
    target,
    weight=None,
    size_average=None,
    ignore_index=-100,
    reduce=None,
    reduction="mean",
    label_smoothing=0.0,
):
    """``nll_loss(log_softmax(input, 1), target)`` with class indices, or soft targets (class probabilities)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if input.ndim == 0:
        raise ValueError("cross_entropy: expected input of shape (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")
    cdim = _class_dim(input)
    n_classes = input.shape[cdim]
    if target.is_floating_point() and tuple(target.shape) == tuple(input.shape):
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing, cdim, n_classes)
    if target.is_floating_point() and input.ndim == 1 and target.ndim == 0:
        raise RuntimeError(
            f"Expected floating point type for target with class probabilities, got {_torch_name(target.dtype)}"
        )
    _check_class_target("cross_entropy", input, target, weight)
    logp = F.log_softmax(input, cdim)
    nll = _nll(logp, target, weight, ignore_index, reduction, "cross_entropy")
    if label_smoothing <= 0.0:
        return nll
    ignored = F.eq(target, ignore_index)
    if weight is not None:
        shape = [1] * input.ndim
        shape[cdim] = n_classes
        smooth = -(logp * weight.reshape(tuple(shape))).sum(cdim)
    else:
        smooth = -logp.sum(cdim)
    smooth = F.where(ignored, 0.0, smooth)
    if reduction == "mean":
        if weight is not None:
            safe = F.where(ignored, 0, F.cast(target, dtype=dt.int64))
            denom = F.where(ignored, 0.0, weight[safe]).sum()
        else:
            denom = F.logical_not(ignored).sum()
        ret = smooth.sum() / denom
    elif reduction == "sum":
        ret = smooth.sum()
    else:
        ret = smooth
    return nll * (1 - label_smoothing) + ret * (label_smoothing / n_classes)


def _cross_entropy_probs(input, target, weight, reduction, label_smoothing, cdim, n_classes):
    logp = F.log_softmax(input, cdim)
    if label_smoothing > 0.0:
        target = target * (1 - label_smoothing) + (label_smoothing / n_classes)
    prod = logp * target
    if weight is not None:
        if weight.ndim != 1 or weight.shape[0] != n_classes:
            raise RuntimeError(
                f"weight tensor should be defined either for all {n_classes} classes or no classes but got weight "
                f"tensor of shape: {list(weight.shape)}"
            )
        shape = [1] * input.ndim
        shape[cdim] = n_classes
        prod = prod * weight.reshape(tuple(shape))
    if reduction == "none":
        return -prod.sum(cdim)
    if reduction == "sum":
        return -prod.sum()
    count = input.numel() // n_classes if n_classes else 0
    return -prod.sum() / (count if count else float("nan"))


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """``-w (t log x + (1 - t) log(1 - x))`` with the logs clamped at -100, as PyTorch does."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({_size(target.shape)}) that is different to the input size "
            f"({_size(input.shape)}) is deprecated. Please ensure they have the same size."
        )
    x = input._data
    if x.size and bool(((x < 0) | (x > 1)).any()):
        raise RuntimeError("all elements of input should be between 0 and 1")
    log_x = F.clamp_min(F.log(input), -100.0)
    log_1mx = F.clamp_min(F.log(1.0 - input), -100.0)
    loss = -(target * log_x + (1.0 - target) * log_1mx)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input, target, weight=None, size_average=None, reduce=None, reduction="mean", pos_weight=None
):
    """BCE on logits: ``(1 - t) x - (1 + (pos_weight - 1) t) logsigmoid(x)``, stable for any x."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({_size(target.shape)}) must be the same as input size ({_size(input.shape)})")
    log_sig = logsigmoid(input)
    if pos_weight is not None:
        log_weight = (pos_weight - 1) * target + 1
        loss = (1 - target) * input - log_weight * log_sig
    else:
        loss = (1 - target) * input - log_sig
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ---- regression losses ----------------------------------------------------------------------------------------------
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _warn_size(input, target)
    d = input - target
    loss = d * d
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _warn_size(input, target)
    loss = F.abs(input - target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    _warn_size(input, target)
    d = input - target
    z = F.abs(d)
    if beta == 0.0:
        return _reduce(z, reduction)
    loss = F.where(z < beta, (0.5 / beta) * d * d, z - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``."""
    _check_reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    _warn_size(input, target)
    d = input - target
    z = F.abs(d)
    loss = F.where(z < delta, 0.5 * d * d, delta * (z - 0.5 * delta))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise: ``target (log target - input)``, 0 where target is 0."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("none", "mean", "sum", "batchmean"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support size."
            "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
            "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
            stacklevel=2,
        )
    if log_target:
        loss = F.exp(target) * (target - input)
    else:
        pos = target > 0
        xlogx = F.where(pos, target * F.log(F.where(pos, target, 1.0)), 0.0)
        loss = xlogx - target * input
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction)


# ---- distances and embedding losses ----------------------------------------------------------------------------------
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """``sum(x1/|x1| * x2/|x2|, dim)`` with each norm clamped at ``eps`` (PyTorch's current formula)."""
    x1, x2 = F.broadcast_tensors(x1, x2)
    n1 = F.clamp_min(F.vector_norm(x1, 2, dim=dim, keepdim=True), eps)
    n2 = F.clamp_min(F.vector_norm(x2, 2, dim=dim, keepdim=True), eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    dim = -1 if max(x1.ndim, x2.ndim) else 0
    if max(x1.ndim, x2.ndim) == 0:
        return F.abs(x1 - x2 + eps)
    return F.vector_norm(x1 - x2 + eps, p, dim=dim, keepdim=keepdim)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """``input / max(||input||_p, eps)`` along ``dim``."""
    denom = F.clamp_min(F.vector_norm(input, p, dim=dim, keepdim=True), eps)
    return input / denom


def cosine_embedding_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    eps = 1e-12
    d = input1.ndim - 1
    prod = (input1 * input2).sum(d)
    m1 = (input1 * input1).sum(d) + eps
    m2 = (input2 * input2).sum(d) + eps
    cos = prod / F.sqrt(m1 * m2)
    zeros = cos * 0.0
    pos = F.where(target == 1, 1.0 - cos, zeros)
    neg = F.where(target == -1, F.clamp_min(cos - margin, 0.0), zeros)
    return _reduce(pos + neg, reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    loss = F.clamp_min(-target * (input1 - input2) + margin, 0.0)
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    loss = -logsigmoid(target * input)  # log(1 + exp(-y x)), stable
    return _reduce(loss, reduction)


def poisson_nll_loss(
    input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None, reduction="mean"
):
    """``exp(x) - t x`` (log_input) or ``x - t log(x + eps)``; ``full`` adds Stirling's term where t > 1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if log_input:
        loss = F.exp(input) - target * input
    else:
        loss = input - target * F.log(input + eps)
    if full:
        big = target > 1
        safe = F.where(big, target, 2.0)
        stirling = safe * F.log(safe) - safe + 0.5 * F.log(2 * math.pi * safe)
        loss = loss + F.where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """``0.5 (log var + (x - t)^2 / var)``; var is clamped at ``eps`` without changing its gradient (as PyTorch)."""
    _check_reduction(reduction)
    if not hasattr(var, "shape"):
        var = F.full_like(input, float(var))
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = F.unsqueeze(var, -1)
        elif tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.shape[-1] == 1:
            pass
        else:
            raise ValueError(f"var is of incorrect size: input {tuple(input.shape)}, var {tuple(var.shape)}")
    v = var._data
    if v.size and bool((v < 0).any()):
        raise ValueError("var has negative entry/entries")
    var = var + (F.clamp_min(var, eps) - var).detach()
    loss = 0.5 * (F.log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    zeros = input * 0.0
    margin_part = F.where(target != 1, F.clamp_min(margin - input, 0.0), zeros)
    self_part = F.where(target != -1, input, zeros)
    return _reduce(margin_part + self_part, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.ndim - 1
    loss = loss.sum(class_dim) / input.shape[class_dim]
    return _reduce(loss, reduction)


def triplet_margin_loss(
    anchor,
    positive,
    negative,
    margin=1.0,
    p=2,
    eps=1e-6,
    swap=False,
    size_average=None,
    reduce=None,
    reduction="mean",
):
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not (anchor.ndim == positive.ndim == negative.ndim):
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of dimensions, but "
            f"got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative {negative.ndim}D inputs"
        )
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = F.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(F.clamp_min(margin + d_pos - d_neg, 0.0), reduction)
