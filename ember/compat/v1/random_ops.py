"""TF1's random ops (``tf.random_normal``, ``tf.random_uniform``, ...) and its seed rule.

Each op is one RANDOM node (``ember/ops/random.py``) that draws when the graph
runs, so every ``Session.run`` sees fresh numbers. Seeds follow TF: with a
graph seed (``tf.set_random_seed``) or an op seed the op gets its own
generator seeded from the pair, so a program draws the same sequence every
time it is built; with neither it draws from ember's default generator.
The numbers differ from TensorFlow's (another generator algorithm).
"""

from __future__ import annotations

import types

import numpy as np

from ... import dtypes as _dt
from ... import ops as F
from ...graph import build
from . import framework as fw
from ._convert import is_tensor_like, named, shape_hint, static_value, to_tensor, wrap_exports

DEFAULT_GRAPH_SEED = 87654321  # TF's graph seed when only an op seed is given


def set_random_seed(seed):
    """Set the default graph's seed: ops created after it get seeds derived from it."""
    fw.get_default_graph().seed = None if seed is None else int(seed)


def get_seed(op_seed):
    """TF's rule: (graph seed, op seed), or (None, None) when neither is set."""
    g = fw.get_default_graph()
    if g.seed is not None:
        # TF uses the graph's op count as the op seed: the same program gets the same seeds
        return g.seed, int(op_seed) if op_seed is not None else len(g.nodes)
    if op_seed is not None:
        return DEFAULT_GRAPH_SEED, int(op_seed)
    return None, None


def generator_for(seed):
    """An ember Generator for an op with TF seed ``seed`` (None: ember's default generator)."""
    graph_seed, op_seed = get_seed(seed)
    if graph_seed is None:
        return None
    from ...random import Generator

    state = np.random.SeedSequence([graph_seed % (1 << 63), op_seed % (1 << 63)]).generate_state(2, np.uint64)
    gen = Generator().manual_seed(int(state[0]))
    fw.get_default_graph().collections.setdefault(SEEDED_GENERATORS, []).append(gen)
    return gen


SEEDED_GENERATORS = "_ember_seeded_generators"  # graph collection: the generators of seeded ops


def restart_seeded_generators(graph):
    """Rewind every seeded op's generator: in TF a new Session replays a seeded op's sequence."""
    for gen in graph.collections.get(SEEDED_GENERATORS, ()):
        gen.manual_seed(gen.initial_seed())


def _random(fn, shape, dtype, seed, name, **attrs):
    """One RANDOM node of a static shape or of the run-time values of a shape tensor."""
    g = fw.get_default_graph()
    d = fw.as_dtype(dtype)
    attrs = dict(attrs, dtype=d, generator=generator_for(seed))
    dims = static_value(shape)
    with fw.building(g):
        if dims is not None:
            out = build.apply(fn.op, (), dict(attrs, shape=tuple(int(s) for s in np.asarray(dims).reshape(-1))))
        else:
            st = to_tensor(shape)
            hint = shape_hint(st)
            st = st if st.dtype is _dt.int64 else F.cast(st, _dt.int64)
            out = build.apply(fn.op, (st,), dict(attrs, shape=hint))
    return named(out, name)


def _scaled(out, scale, shift, d):
    """out * scale + shift; Python numbers fold into the kernel's attributes, tensors are graph ops."""
    if is_tensor_like(scale):
        out = F.mul(out, to_tensor(scale, dtype=d))
    if is_tensor_like(shift):
        out = F.add(out, to_tensor(shift, dtype=d))
    return out


def _num(v, default):
    return default if is_tensor_like(v) else float(v)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name=None):
    d = fw.as_dtype(dtype)
    out = _random(F.random_normal, shape, d, seed, None, mean=_num(mean, 0.0), std=_num(stddev, 1.0))
    return named(_scaled(out, stddev, mean, d), name)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name=None):
    d = fw.as_dtype(dtype)
    out = _random(F.truncated_normal, shape, d, seed, None, mean=_num(mean, 0.0), std=_num(stddev, 1.0))
    return named(_scaled(out, stddev, mean, d), name)


def random_uniform(shape, minval=0, maxval=None, dtype=_dt.float32, seed=None, name=None):
    d = fw.as_dtype(dtype)
    if d.is_floating_point:
        if maxval is None:
            maxval = 1
        if is_tensor_like(minval) or is_tensor_like(maxval):  # [0, 1) scaled by graph ops
            lo, hi = to_tensor(minval, dtype=d), to_tensor(maxval, dtype=d)
            out = _random(F.random_uniform, shape, d, seed, None)
            return named(F.add(F.mul(out, F.sub(hi, lo)), lo), name)
        return _random(F.random_uniform, shape, d, seed, name, low=float(minval), high=float(maxval))
    if maxval is None:
        raise ValueError(f"Must specify maxval for integer dtype {d.name}")
    lo, hi = static_value(minval), static_value(maxval)
    if lo is None or hi is None:
        raise NotImplementedError("random_uniform: integer bounds must be known when the graph is built")
    return _random(F.random_uniform, shape, d, seed, name, low=int(lo), high=int(hi))


def random_shuffle(value, seed=None, name=None):
    """value with its first dim randomly permuted (a fresh permutation each run)."""
    x = to_tensor(value)
    perm = F.permutation_like(x, generator=generator_for(seed))
    return named(x[perm], name)


__all__ = ["set_random_seed", "random_normal", "random_uniform", "truncated_normal", "random_shuffle"]

wrap_exports(globals())

# TF 1.x also spells these under tf.random
random = types.SimpleNamespace(
    normal=random_normal,
    uniform=random_uniform,
    truncated_normal=truncated_normal,
    shuffle=random_shuffle,
    set_seed=set_random_seed,
    set_random_seed=set_random_seed,
)
__all__.append("random")
