"""Convolution, pooling, normalisation, interpolation and im2col: ``torch.nn.functional`` forms.

conv and max-pool run on the primitives of ``ember/ops/conv.py``; the others are
compositions (avg pools are a depthwise conv of ones divided by PyTorch's divisor,
adaptive pools and interpolation are products with small averaging matrices), so
their gradients of every order come from the table.
"""

from __future__ import annotations

import math

import numpy as np

from .. import ops as F
from ..autograd.grad_mode import no_grad
from ..ops import conv as C

__all__ = [
    "conv1d",
    "conv2d",
    "conv_transpose1d",
    "conv_transpose2d",
    "max_pool1d",
    "max_pool2d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "avg_pool1d",
    "avg_pool2d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "batch_norm",
    "layer_norm",
    "group_norm",
    "interpolate",
    "unfold",
    "fold",
]


def _pair(v, name="argument"):
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            return (int(v[0]), int(v[0]))
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair, got {v!r}")
        return (int(v[0]), int(v[1]))
    return (int(v), int(v))


def _single(v):
    if isinstance(v, (list, tuple)):
        return int(v[0])
    return int(v)


def _const(arr, like):
    return F.tensor(np.asarray(arr), dtype=like.dtype, device=like.device)


def _batched(input, ndim, name):
    """Add a batch dim to an unbatched input (PyTorch accepts both); returns (input, squeeze?)."""
    if input.ndim == ndim - 1:
        return F.unsqueeze(input, 0), True
    if input.ndim != ndim:
        raise RuntimeError(
            f"{name}: Expected {ndim - 1}D (unbatched) or {ndim}D (batched) input, but got input of size: "
            f"{list(input.shape)}"
        )
    return input, False


# ---- convolution ----------------------------------------------------------------------------
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    input, squeeze = _batched(input, 4, "conv2d")
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            pads = []
            for i in range(2):
                total = dilation[i] * (weight.shape[2 + i] - 1)
                pads.append((total // 2, total - total // 2))
            if all(lo == hi for lo, hi in pads):
                padding = (pads[0][0], pads[1][0])
            else:
                input = F.pad(input, (pads[1][0], pads[1][1], pads[0][0], pads[0][1]))
                padding = (0, 0)
        else:
            raise ValueError(f"Invalid padding string {padding!r}, should be one of ('valid', 'same')")
    else:
        padding = _pair(padding, "padding")
    out = C.conv2d(input, weight, stride=stride, padding=padding, dilation=dilation, groups=int(groups))
    if bias is not None:
        out = out + F.reshape(bias, (1, -1, 1, 1))
    return F.squeeze(out, 0) if squeeze else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    input, squeeze = _batched(input, 3, "conv1d")
    if not isinstance(padding, str):
        padding = (0, _single(padding))
    out = conv2d(
        F.unsqueeze(input, 2),
        F.unsqueeze(weight, 2),
        bias,
        (1, _single(stride)),
        padding,
        (1, _single(dilation)),
        groups,
    )
    out = F.squeeze(out, 2)
    return F.squeeze(out, 0) if squeeze else out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    input, squeeze = _batched(input, 4, "conv_transpose2d")
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    output_padding = _pair(output_padding)
    for i in range(2):
        if output_padding[i] >= max(stride[i], dilation[i]):
            raise RuntimeError("output padding must be smaller than either stride or dilation")
    out = C.conv_transpose2d(
        input,
        weight,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        groups=int(groups),
    )
    if bias is not None:
        out = out + F.reshape(bias, (1, -1, 1, 1))
    return F.squeeze(out, 0) if squeeze else out


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    input, squeeze = _batched(input, 3, "conv_transpose1d")
    out = conv_transpose2d(
        F.unsqueeze(input, 2),
        F.unsqueeze(weight, 2),
        bias,
        (1, _single(stride)),
        (0, _single(padding)),
        (0, _single(output_padding)),
        groups,
        (1, _single(dilation)),
    )
    out = F.squeeze(out, 2)
    return F.squeeze(out, 0) if squeeze else out


# ---- pooling --------------------------------------------------------------------------------
def max_pool2d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=True
):
    input, squeeze = _batched(input, 4, "max_pool2d")
    kernel = _pair(kernel_size)
    stride = kernel if stride is None or (isinstance(stride, (list, tuple)) and not stride) else _pair(stride)
    out, idx = C.max_pool2d_with_indices(
        input, kernel=kernel, stride=stride, padding=_pair(padding), dilation=_pair(dilation), ceil_mode=bool(ceil_mode)
    )
    if squeeze:
        out, idx = F.squeeze(out, 0), F.squeeze(idx, 0)
    return out, idx


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    out, idx = max_pool2d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)
    return (out, idx) if return_indices else out


def max_pool1d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=True
):
    input, squeeze = _batched(input, 3, "max_pool1d")
    k = _single(kernel_size)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) else _single(stride)
    out, idx = max_pool2d_with_indices(
        F.unsqueeze(input, 2), (1, k), (1, s), (0, _single(padding)), (1, _single(dilation)), ceil_mode
    )
    out, idx = F.squeeze(out, 2), F.squeeze(idx, 2)
    if squeeze:
        out, idx = F.squeeze(out, 0), F.squeeze(idx, 0)
    return out, idx


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    out, idx = max_pool1d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)
    return (out, idx) if return_indices else out


def _avg_divisor(n, k, s, p, out, count_include_pad):
    starts = np.arange(out) * s - p
    ends = np.minimum(starts + k, n + p)
    size = ends - starts
    starts_c, ends_c = np.maximum(starts, 0), np.minimum(ends, n)
    return size if count_include_pad else (ends_c - starts_c)


def avg_pool2d(
    input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
):
    input, squeeze = _batched(input, 4, "avg_pool2d")
    kernel = _pair(kernel_size)
    stride = kernel if stride is None or (isinstance(stride, (list, tuple)) and not stride) else _pair(stride)
    padding = _pair(padding)
    n, c, h, w = input.shape
    for i in range(2):
        if padding[i] * 2 > kernel[i]:
            raise RuntimeError(
                f"avg_pool2d: pad should be at most half of effective kernel size, but got pad={padding[i]}, "
                f"kernel_size={kernel[i]}"
            )
    ho = C.pool_out_len(h, kernel[0], stride[0], padding[0], 1, ceil_mode)
    wo = C.pool_out_len(w, kernel[1], stride[1], padding[1], 1, ceil_mode)
    if ho <= 0 or wo <= 0:
        raise RuntimeError(f"avg_pool2d: Given input size {list(input.shape)}, calculated output size is too small")
    # pad explicitly (asymmetric when ceil_mode needs a right tail), then a depthwise conv of ones
    extra_h = max((ho - 1) * stride[0] + kernel[0] - h - 2 * padding[0], 0)
    extra_w = max((wo - 1) * stride[1] + kernel[1] - w - 2 * padding[1], 0)
    x = F.reshape(input, (n * c, 1, h, w))
    if padding[0] or padding[1] or extra_h or extra_w:
        x = F.pad(x, (padding[1], padding[1] + extra_w, padding[0], padding[0] + extra_h))
    ones = F.ones((1, 1) + kernel, dtype=input.dtype, device=input.device)
    s = C.conv2d(x, ones, stride=stride, padding=(0, 0), dilation=(1, 1), groups=1)
    s = F.reshape(s, (n, c, ho, wo))
    if divisor_override:
        out = s / divisor_override
    else:
        dh = _avg_divisor(h, kernel[0], stride[0], padding[0], ho, count_include_pad)
        dw = _avg_divisor(w, kernel[1], stride[1], padding[1], wo, count_include_pad)
        out = s / _const(np.outer(dh, dw).astype(np.float64), input)
    return F.squeeze(out, 0) if squeeze else out


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    input, squeeze = _batched(input, 3, "avg_pool1d")
    k = _single(kernel_size)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) else _single(stride)
    out = F.squeeze(
        avg_pool2d(F.unsqueeze(input, 2), (1, k), (1, s), (0, _single(padding)), ceil_mode, count_include_pad), 2
    )
    return F.squeeze(out, 0) if squeeze else out


def _adaptive_matrix(n, out):
    m = np.zeros((out, n))
    for i in range(out):
        start = (i * n) // out
        end = -((-(i + 1) * n) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m


def adaptive_avg_pool2d(input, output_size):
    input, squeeze = _batched(input, 4, "adaptive_avg_pool2d")
    h, w = input.shape[-2:]
    if isinstance(output_size, (list, tuple)):
        oh, ow = output_size
    else:
        oh = ow = output_size
    oh = h if oh is None else int(oh)
    ow = w if ow is None else int(ow)
    if (oh, ow) == (h, w):
        out = input * 1.0
    else:
        out = F.matmul(input, _const(_adaptive_matrix(w, ow).T, input))
        out = F.matmul(_const(_adaptive_matrix(h, oh), input), out)
    return F.squeeze(out, 0) if squeeze else out


def adaptive_avg_pool1d(input, output_size):
    o = _single(output_size)
    out = adaptive_avg_pool2d(F.unsqueeze(input, -2), (1, o))
    return F.squeeze(out, -2)


# ---- normalisation --------------------------------------------------------------------------
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected at least 2-D input, got {input.ndim}-D")
    dims = (0,) + tuple(range(2, input.ndim))
    shape = (1, -1) + (1,) * (input.ndim - 2)
    if training:
        count = input.numel() // input.shape[1]
        if count <= 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size {list(input.shape)}"
            )
        mean = F.mean(input, dim=dims)
        var = F.var(input, dim=dims, unbiased=False)
        if running_mean is not None or running_var is not None:
            with no_grad():
                m = 0.0 if momentum is None else momentum
                if running_mean is not None:
                    running_mean.copy_(mean.detach() * m + running_mean * (1 - m))
                if running_var is not None:
                    unbiased = var.detach() * (count / (count - 1))
                    running_var.copy_(unbiased * m + running_var * (1 - m))
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm: running_mean and running_var must be defined in evaluation mode")
        mean, var = running_mean, running_var
    out = (input - F.reshape(mean, shape)) * F.reshape(F.rsqrt(var + eps), shape)
    if weight is not None:
        out = out * F.reshape(weight, shape)
    if bias is not None:
        out = out + F.reshape(bias, shape)
    return out


def _layer_norm_reference(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """The composition that the fused primitive replaces (the tests' reference)."""
    dims = tuple(range(input.ndim - len(normalized_shape), input.ndim))
    mean = F.mean(input, dim=dims, keepdim=True)
    var = F.var(input, dim=dims, unbiased=False, keepdim=True)
    out = (input - mean) * F.rsqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(int(s) for s in normalized_shape)
    k = len(normalized_shape)
    if tuple(input.shape[input.ndim - k :]) != normalized_shape or k > input.ndim:
        raise RuntimeError(
            f"Given normalized_shape={list(normalized_shape)}, expected input with shape [*, "
            f"{', '.join(str(s) for s in normalized_shape)}], but got input of size{list(input.shape)}"
        )
    out = C.layer_norm_lastdims(input, ndim=k, eps=float(eps))[0]
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    n, c = input.shape[:2]
    if c % num_groups:
        raise RuntimeError(
            f"Expected number of channels in input to be divisible by num_groups, but got input of shape {list(input.shape)} and num_groups={num_groups}"
        )
    x = F.reshape(input, (n, num_groups, -1))
    mean = F.mean(x, dim=2, keepdim=True)
    var = F.var(x, dim=2, unbiased=False, keepdim=True)
    out = F.reshape((x - mean) * F.rsqrt(var + eps), tuple(input.shape))
    shape = (1, -1) + (1,) * (input.ndim - 2)
    if weight is not None:
        out = out * F.reshape(weight, shape)
    if bias is not None:
        out = out + F.reshape(bias, shape)
    return out


# ---- interpolation ----------------------------------------------------------------------------
def _nearest_matrix(n, out, scale):
    s = np.float32(n / out) if scale is None else np.float32(1.0 / scale)
    src = np.minimum(np.floor(np.arange(out, dtype=np.float32) * s).astype(np.int64), n - 1)
    m = np.zeros((out, n))
    m[np.arange(out), src] = 1.0
    return m


def _linear_matrix(n, out, scale, align_corners):
    if align_corners:
        s = (n - 1) / (out - 1) if out > 1 else 0.0
        src = np.arange(out, dtype=np.float64) * s
    else:
        s = n / out if scale is None else 1.0 / scale
        src = np.maximum((np.arange(out, dtype=np.float64) + 0.5) * s - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    l1 = src - i0
    m = np.zeros((out, n))
    np.add.at(m, (np.arange(out), i0), 1.0 - l1)
    np.add.at(m, (np.arange(out), i1), l1)
    return m


def interpolate(
    input,
    size=None,
    scale_factor=None,
    mode="nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias=False,
):
    sdims = input.ndim - 2
    if sdims not in (1, 2):
        raise NotImplementedError(f"interpolate: only 3-D and 4-D inputs are supported, got {input.ndim}-D")
    if mode in ("nearest", "area") and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    in_sizes = tuple(input.shape[2:])
    if size is not None:
        sizes = tuple(int(s) for s in size) if isinstance(size, (list, tuple)) else (int(size),) * sdims
        scales = (None,) * sdims
    else:
        sf = tuple(scale_factor) if isinstance(scale_factor, (list, tuple)) else (scale_factor,) * sdims
        sizes = tuple(int(math.floor(n * s)) for n, s in zip(in_sizes, sf))
        scales = (None,) * sdims if recompute_scale_factor else tuple(float(s) for s in sf)
    if mode == "nearest":
        mats = [_nearest_matrix(n, o, s) for n, o, s in zip(in_sizes, sizes, scales)]
    elif mode in ("linear", "bilinear"):
        if (mode == "linear") != (sdims == 1):
            raise NotImplementedError(f"interpolate: mode {mode!r} does not fit a {input.ndim}-D input")
        mats = [_linear_matrix(n, o, s, bool(align_corners)) for n, o, s in zip(in_sizes, sizes, scales)]
    elif mode == "area":
        mats = [_adaptive_matrix(n, o) for n, o in zip(in_sizes, sizes)]
    else:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported (nearest, linear, bilinear, area)")
    out = F.matmul(input, _const(mats[-1].T, input))
    if sdims == 2:
        out = F.matmul(_const(mats[0], input), out)
    return out


# ---- im2col ---------------------------------------------------------------------------------
def _patch_weight(c, kernel, like):
    kk = kernel[0] * kernel[1]
    w = np.tile(np.eye(kk).reshape(kk, 1, kernel[0], kernel[1]), (c, 1, 1, 1))
    return _const(w, like)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    input, squeeze = _batched(input, 4, "unfold")
    kernel = _pair(kernel_size)
    n, c = input.shape[:2]
    out = C.conv2d(
        input,
        _patch_weight(c, kernel, input),
        stride=_pair(stride),
        padding=_pair(padding),
        dilation=_pair(dilation),
        groups=c,
    )
    out = F.reshape(out, (n, out.shape[1], -1))
    return F.squeeze(out, 0) if squeeze else out


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    input, squeeze = _batched(input, 3, "fold")
    kernel, dilation, padding, stride = _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride)
    size = _pair(output_size)
    n, ckk, L = input.shape
    kk = kernel[0] * kernel[1]
    if ckk % kk:
        raise RuntimeError(
            f"fold: expected size of input's dimension 1 to be divisible by the product of kernel_size, but got input.size(1)={ckk} and kernel_size={kernel}"
        )
    c = ckk // kk
    ho = C._out_len(size[0], kernel[0], stride[0], padding[0], dilation[0])
    wo = C._out_len(size[1], kernel[1], stride[1], padding[1], dilation[1])
    if ho * wo != L:
        raise RuntimeError(
            f"fold: expected input's dimension 2 to match the calculated number of sliding blocks {ho} * {wo} = {ho * wo}, but got input.size(2)={L}"
        )
    x = F.reshape(input, (n, ckk, ho, wo))
    op = C._transpose_output_padding(size, (ho, wo), kernel, stride, padding, dilation)
    out = C.conv_transpose2d(
        x,
        _patch_weight(c, kernel, input),
        stride=stride,
        padding=padding,
        output_padding=op,
        dilation=dilation,
        groups=c,
    )
    return F.squeeze(out, 0) if squeeze else out
