"""``nn.Linear`` and ``nn.Bilinear`` with PyTorch's default initialisation."""

from __future__ import annotations

import math

from .. import _functional_basic as FB
from .. import init
from ..parameter import Parameter
from .container import Identity
from .module import Module

__all__ = ["Identity", "Linear", "LazyLinear", "Bilinear"]


def _empty(*shape, device=None, dtype=None):
    from ...ops.creation import empty

    return empty(*shape, device=device, dtype=dtype)


class Linear(Module):
    """``y = x @ W.T + b`` with ``W`` of shape (out_features, in_features)."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(_empty(out_features, in_features, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as PyTorch does
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        shape = tuple(input.shape)
        if not shape or shape[-1] != self.in_features:
            hint = ""
            if len(shape) == 1 and self.in_features == 1:
                hint = (
                    f" A 1-D input is one sample of {shape[0]} features; for {shape[0]} samples of one feature "
                    "pass shape (N, 1), e.g. x.unsqueeze(1) or x.reshape(-1, 1)."
                )
            raise RuntimeError(
                f"{self!r}: expected input with last dimension in_features={self.in_features}, got input of shape "
                f"{list(shape)} (last dimension {shape[-1] if shape else 'none: a 0-d tensor'}).{hint}"
            )
        return FB.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class LazyLinear(Linear):
    """``Linear`` whose ``in_features`` is taken from the first input."""

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        Module.__init__(self)
        self.in_features = 0
        self.out_features = out_features
        self._lazy = dict(bias=bias, device=device, dtype=dtype)
        self.weight = Parameter(_empty(0, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(0, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)

    def forward(self, input):
        if self.in_features == 0:
            with_bias = self._lazy["bias"]
            Linear.__init__(
                self, input.shape[-1], self.out_features, with_bias, self._lazy["device"], self._lazy["dtype"]
            )
            self.__class__ = Linear
        return Linear.forward(self, input)


class Bilinear(Module):
    """``y = x1^T A x2 + b`` with ``A`` of shape (out_features, in1_features, in2_features)."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = Parameter(_empty(out_features, in1_features, in2_features, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.size(1))
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        if input1.ndim == 0 or input1.shape[-1] != self.in1_features:
            raise RuntimeError(
                f"{self!r}: expected input1 with last dimension in1_features={self.in1_features}, got shape "
                f"{list(input1.shape)}"
            )
        if input2.ndim == 0 or input2.shape[-1] != self.in2_features:
            raise RuntimeError(
                f"{self!r}: expected input2 with last dimension in2_features={self.in2_features}, got shape "
                f"{list(input2.shape)}"
            )
        return FB.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )
