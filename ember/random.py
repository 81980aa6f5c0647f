"""Random number generation: ``Generator``, ``manual_seed`` and the sampling functions.

Streams come from NumPy's PCG64, so a seed reproduces ember's numbers across
runs and platforms (they differ from PyTorch's, which uses another generator).
"""

from __future__ import annotations

import numpy as np

from . import dtypes as dt
from .devices import device as _device
from .devices import move
from .ops.creation import _size
from .tensor import Tensor, _make


class Generator:
    """A seeded random stream, as ``torch.Generator``."""

    def __init__(self, device="cpu"):
        self.device = _device(device)
        self._seed = 67280421310721
        self._rng = np.random.Generator(np.random.PCG64(self._seed))

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < 0:
            seed += 1 << 64
        self._seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))
        return self

    def seed(self):
        s = int(np.random.SeedSequence().entropy) % (1 << 63)
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._seed

    def get_state(self):
        """The bit generator's state as a JSON-friendly dict (ember's RNG state format)."""
        st = self._rng.bit_generator.state
        return {
            "bit_generator": st["bit_generator"],
            "state": dict(st["state"]),
            "has_uint32": st["has_uint32"],
            "uinteger": st["uinteger"],
            "seed": self._seed,
        }

    def set_state(self, state):
        state = dict(state)
        self._seed = state.pop("seed", self._seed)
        bg = np.random.PCG64()
        bg.state = state
        self._rng = np.random.Generator(bg)
        return self

    @property
    def numpy(self):
        return self._rng


default_generator = Generator()


def manual_seed(seed):
    """Seed the default generator (and CUDA's, when CuPy is present)."""
    default_generator.manual_seed(seed)
    from . import devices as _dev

    cp = _dev._cupy
    if cp is not None:
        cp.random.seed(int(seed) % (1 << 32))
    return default_generator


def seed():
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(state):
    default_generator.set_state(state)


def _gen(generator):
    return (generator or default_generator)._rng


def _out(data, dtype, device, requires_grad):
    if device is not None and _device(device).type != "cpu":
        data = move(data, _device(device))
    t = _make(data)
    if requires_grad:
        t.requires_grad = True
    return t


def _float_dtype(dtype):
    d = dt.as_dtype(dtype) if dtype is not None else dt.get_default_dtype()
    if not d.is_floating_point:
        raise NotImplementedError(f"random sampling is not implemented for {d} (expected a floating-point dtype)")
    return d


def _in_graph(sampler, shape, d, generator, requires_grad):
    """While a graph is being built (``ember.compile``), draw with a RANDOM op: fresh every run."""
    from .graph.build import current

    if current() is None:
        return None
    from .ops import random as R

    t = getattr(R, sampler)(shape=shape, dtype=d, generator=generator)
    if requires_grad:
        t.requires_grad = True
    return t


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    d = _float_dtype(dtype)
    shape = _size(size)
    t = _in_graph("random_uniform", shape, d, generator, requires_grad)
    if t is not None:
        return t
    rng = _gen(generator)
    data = rng.random(shape, dtype=d.np) if d.np in (np.float32, np.float64) else rng.random(shape).astype(d.np)
    return _out(data, d, device, requires_grad)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False, out=None, layout=None):
    d = _float_dtype(dtype)
    shape = _size(size)
    t = _in_graph("random_normal", shape, d, generator, requires_grad)
    if t is not None:
        return t
    rng = _gen(generator)
    if d.np in (np.float32, np.float64):
        data = rng.standard_normal(shape, dtype=d.np)
    else:
        data = rng.standard_normal(shape).astype(d.np)
    return _out(data, d, device, requires_grad)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None, requires_grad=False, out=None):
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    d = dt.as_dtype(dtype) if dtype is not None else dt.int64
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    data = _gen(generator).integers(low, high, size=_size((size,)), dtype=np.int64).astype(d.np)
    return _out(data, d, device, requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False, out=None):
    d = dt.as_dtype(dtype) if dtype is not None else dt.int64
    return _out(_gen(generator).permutation(int(n)).astype(d.np), d, device, requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False, out=None):
    rng = _gen(generator)
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        m = mean._data if isinstance(mean, Tensor) else mean
        s = std._data if isinstance(std, Tensor) else std
        shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        ref = mean if isinstance(mean, Tensor) else std
        data = (m + s * rng.standard_normal(shape)).astype(ref._data.dtype)
        return _out(data, None, None, requires_grad)
    d = _float_dtype(dtype)
    data = (mean + std * rng.standard_normal(_size((size,)) if size is not None else ())).astype(d.np)
    return _out(data, d, device, requires_grad)


def bernoulli(input, p=None, *, generator=None, out=None):
    probs = input._data if p is None else np.full(input.shape, p)
    data = (_gen(generator).random(probs.shape) < probs).astype(input._data.dtype)
    return _make(data)


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    rng = _gen(generator)
    probs = np.asarray(input._data, dtype=np.float64)
    rows = probs.reshape(-1, probs.shape[-1]) if probs.ndim else probs.reshape(1, -1)
    if (rows < 0).any() or not np.isfinite(rows).all():
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    res = []
    for r in rows:
        total = r.sum()
        if total <= 0:
            raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > np.count_nonzero(r):
            raise RuntimeError("multinomial: cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        res.append(rng.choice(len(r), size=num_samples, replace=replacement, p=r / total))
    data = np.asarray(res, dtype=np.int64)
    if probs.ndim == 1:
        data = data[0]
    return _make(data)


def _like(fn):
    def like(input, *, dtype=None, device=None, requires_grad=False, generator=None, memory_format=None):
        return fn(
            *input.shape, dtype=dtype or input.dtype, device=device, requires_grad=requires_grad, generator=generator
        )

    return like


rand_like = _like(rand)
randn_like = _like(randn)


def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad=False, generator=None):
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), dtype=dtype or input.dtype, device=device, generator=generator)


# in-place fills, exposed as Tensor methods ---------------------------------------
def _fill(t, data):
    from .ops.inplace import write_inplace

    return write_inplace(t, data)


def normal_(t, mean=0.0, std=1.0, *, generator=None):
    return _fill(t, mean + std * _gen(generator).standard_normal(t.shape))


def uniform_(t, a=0.0, b=1.0, *, generator=None):
    return _fill(t, _gen(generator).uniform(a, b, t.shape))


def bernoulli_(t, p=0.5, *, generator=None):
    probs = p._data if isinstance(p, Tensor) else p
    return _fill(t, _gen(generator).random(t.shape) < probs)


def exponential_(t, lambd=1.0, *, generator=None):
    return _fill(t, _gen(generator).exponential(1.0 / lambd, t.shape))


def random_(t, from_=0, to=None, *, generator=None):
    if to is None:
        from_, to = 0, from_ if from_ else (2**24 if t.is_floating_point() else 2**31)
    return _fill(t, _gen(generator).integers(from_, to, t.shape))


def geometric_(t, p, *, generator=None):
    return _fill(t, _gen(generator).geometric(p, t.shape))
