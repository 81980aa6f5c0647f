"""``torch.nn.grad``: the input and weight gradients of a convolution, as functions."""

from __future__ import annotations

from ..ops import conv as C
from ._functional_conv import _pair, _single

__all__ = ["conv1d_input", "conv1d_weight", "conv2d_input", "conv2d_weight"]


def conv2d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    input_size = tuple(int(s) for s in input_size)
    op = C._transpose_output_padding(
        input_size[-2:], tuple(grad_output.shape[-2:]), tuple(weight.shape[-2:]), stride, padding, dilation
    )
    return C.conv_transpose2d(
        grad_output, weight, stride=stride, padding=padding, output_padding=op, dilation=dilation, groups=int(groups)
    )


def conv2d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    return C.conv2d_weight(
        input,
        grad_output,
        kernel=tuple(int(s) for s in weight_size[-2:]),
        stride=_pair(stride),
        padding=_pair(padding),
        dilation=_pair(dilation),
        groups=int(groups),
    )


def conv1d_input(input_size, weight, grad_output, stride=1, padding=0, dilation=1, groups=1):
    out = conv2d_input(
        (*input_size[:2], 1, input_size[2]),
        weight.unsqueeze(2),
        grad_output.unsqueeze(2),
        (1, _single(stride)),
        (0, _single(padding)),
        (1, _single(dilation)),
        groups,
    )
    return out.squeeze(2)


def conv1d_weight(input, weight_size, grad_output, stride=1, padding=0, dilation=1, groups=1):
    out = conv2d_weight(
        input.unsqueeze(2),
        (*weight_size[:2], 1, weight_size[2]),
        grad_output.unsqueeze(2),
        (1, _single(stride)),
        (0, _single(padding)),
        (1, _single(dilation)),
        groups,
    )
    return out.squeeze(2)
