"""TF1 initializers: callables ``init(shape, dtype)`` returning the graph tensor a Variable starts from.

They follow ``tf.compat.v1`` (init_ops.py): the same classes, defaults, fan
computations and the truncated-normal correction factor, so a layer's initial
scale matches TF's. Random ones sample with ``random_ops`` (a new draw every
time the initializer op runs, as in TF; ember's generator, not TF's).
"""

from __future__ import annotations

import math

import numpy as np

from .framework import as_dtype, float32
from .framework import constant as _constant


def _dtype(dtype, default):
    return as_dtype(dtype) if dtype is not None else as_dtype(default)


class Initializer:
    def __call__(self, shape, dtype=None, partition_info=None):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class Zeros(Initializer):
    def __init__(self, dtype=float32):
        self.dtype = as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        d = _dtype(dtype, self.dtype)
        return _constant(np.zeros(tuple(shape), dtype=d.np))


class Ones(Initializer):
    def __init__(self, dtype=float32):
        self.dtype = as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        d = _dtype(dtype, self.dtype)
        return _constant(np.ones(tuple(shape), dtype=d.np))


class Constant(Initializer):
    def __init__(self, value=0, dtype=float32, verify_shape=False):
        self.value = value
        self.dtype = as_dtype(dtype)
        self.verify_shape = verify_shape

    def __call__(self, shape, dtype=None, partition_info=None, verify_shape=None):
        d = _dtype(dtype, self.dtype)
        arr = np.asarray(self.value, dtype=d.np)
        shape = tuple(shape)
        if arr.size == 1:
            arr = np.full(shape, arr.reshape(()), dtype=d.np)
        elif arr.size == int(np.prod(shape)):
            if (self.verify_shape if verify_shape is None else verify_shape) and arr.shape != shape:
                raise TypeError(f"Expected Tensor's shape: {shape}, got {arr.shape}.")
            arr = arr.reshape(shape)
        else:
            raise TypeError(
                f"Eager/graph constant initializer: {arr.size} values cannot fill a variable of shape {list(shape)} "
                f"({int(np.prod(shape))} elements)"
            )
        return _constant(arr)

    def get_config(self):
        return {"value": self.value, "dtype": self.dtype.name, "verify_shape": self.verify_shape}


def _random():
    from . import random_ops

    return random_ops


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=float32):
        self.mean, self.stddev, self.seed, self.dtype = mean, stddev, seed, as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        d = _dtype(dtype, self.dtype)
        return _random().random_normal(list(shape), mean=self.mean, stddev=self.stddev, dtype=d, seed=self.seed)


class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=float32):
        self.mean, self.stddev, self.seed, self.dtype = mean, stddev, seed, as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        d = _dtype(dtype, self.dtype)
        return _random().truncated_normal(list(shape), mean=self.mean, stddev=self.stddev, dtype=d, seed=self.seed)


class RandomUniform(Initializer):
    def __init__(self, minval=0.0, maxval=None, seed=None, dtype=float32):
        self.minval, self.maxval, self.seed, self.dtype = minval, maxval, seed, as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        d = _dtype(dtype, self.dtype)
        maxval = self.maxval if self.maxval is not None else 1.0
        return _random().random_uniform(list(shape), minval=self.minval, maxval=maxval, dtype=d, seed=self.seed)


def _compute_fans(shape):
    """TF's fans: (in, out) for dense kernels, receptive field times channels for conv kernels."""
    shape = tuple(shape)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = 1
    for d in shape[:-2]:
        receptive *= d
    return shape[-2] * receptive, shape[-1] * receptive


class VarianceScaling(Initializer):
    """stddev (or limit) from ``scale / fan``; TF1 defaults: scale=1, fan_in, truncated_normal."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, dtype=float32):
        if scale <= 0.0:
            raise ValueError("`scale` must be positive float.")
        if mode not in {"fan_in", "fan_out", "fan_avg"}:
            raise ValueError(f"Invalid `mode` argument: {mode}")
        distribution = distribution.lower()
        if distribution not in {"normal", "uniform", "truncated_normal", "untruncated_normal"}:
            raise ValueError(f"Invalid `distribution` argument: {distribution}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed
        self.dtype = as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        d = _dtype(dtype, self.dtype)
        fan_in, fan_out = _compute_fans(shape)
        scale = self.scale
        if self.mode == "fan_in":
            scale /= max(1.0, fan_in)
        elif self.mode == "fan_out":
            scale /= max(1.0, fan_out)
        else:
            scale /= max(1.0, (fan_in + fan_out) / 2.0)
        r = _random()
        if self.distribution in ("normal", "truncated_normal"):
            stddev = math.sqrt(scale) / 0.87962566103423978  # std of a unit normal truncated at 2 sigma
            return r.truncated_normal(list(shape), mean=0.0, stddev=stddev, dtype=d, seed=self.seed)
        if self.distribution == "untruncated_normal":
            return r.random_normal(list(shape), mean=0.0, stddev=math.sqrt(scale), dtype=d, seed=self.seed)
        limit = math.sqrt(3.0 * scale)
        return r.random_uniform(list(shape), minval=-limit, maxval=limit, dtype=d, seed=self.seed)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


class GlorotUniform(VarianceScaling):
    def __init__(self, seed=None, dtype=float32):
        super().__init__(1.0, "fan_avg", "uniform", seed, dtype)


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None, dtype=float32):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed, dtype)


def he_normal(seed=None):
    return VarianceScaling(2.0, "fan_in", "truncated_normal", seed)


def he_uniform(seed=None):
    return VarianceScaling(2.0, "fan_in", "uniform", seed)


def lecun_normal(seed=None):
    return VarianceScaling(1.0, "fan_in", "truncated_normal", seed)


def lecun_uniform(seed=None):
    return VarianceScaling(1.0, "fan_in", "uniform", seed)


# TF1's names: tf.zeros_initializer(), tf.initializers.zeros(), tf.glorot_uniform_initializer(), ...
zeros_initializer = zeros = Zeros
ones_initializer = ones = Ones
constant_initializer = constant = Constant
random_normal_initializer = random_normal = RandomNormal
truncated_normal_initializer = truncated_normal = TruncatedNormal
random_uniform_initializer = random_uniform = RandomUniform
variance_scaling_initializer = variance_scaling = VarianceScaling
glorot_uniform_initializer = glorot_uniform = GlorotUniform
glorot_normal_initializer = glorot_normal = GlorotNormal


def global_variables():
    from .variables import global_variables_initializer

    return global_variables_initializer()


def variables(var_list, name="init"):
    from .variables import variables_initializer

    return variables_initializer(var_list, name)
