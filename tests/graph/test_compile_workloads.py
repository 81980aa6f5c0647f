"""The 7 standard workloads (shared/BENCHMARKS.md): compiled training steps == eager, bitwise.

Both runs start from the same weights and see the same batches; after every
step the loss, every parameter and buffer (BatchNorm's running stats too)
and every gradient must be equal bit for bit. Call 1 of the compiled step is
its eager warm-up (optimizer state), call 2 traces, call 3 hits the cache.
The heavy workloads (resnet20, lstm_lm, gpt_mini, mlp_large) use the standard
models on smaller batches and shorter sequences so the file stays under a minute.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import ember

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
from workloads import WORKLOADS, build, data  # noqa: E402

STEPS = 3
# workload -> how many leading rows of each batch to keep (None: the standard batch)
BATCH = {"resnet20": 4, "lstm_lm": 4, "gpt_mini": 2, "mlp_large": 64}
BATCH_DIM = {"lstm_lm": 1}  # lstm_lm is sequence-first
SEQ = {"lstm_lm": (0, 12), "gpt_mini": (1, 32)}  # (axis, length): shorter sequences, same model


def _batches(name):
    out, pool = [], data(name)
    for x, y in (pool[i % len(pool)] for i in range(STEPS)):  # linreg has one full batch
        n, dim = BATCH.get(name), BATCH_DIM.get(name, 0)
        if n is not None:
            x, y = np.take(x, range(n), axis=dim), np.take(y, range(n), axis=dim)
        if name in SEQ:
            ax, t = SEQ[name]
            x, y = np.take(x, range(t), axis=ax), np.take(y, range(t), axis=ax)
        out.append((ember.from_numpy(np.ascontiguousarray(x)), ember.from_numpy(np.ascontiguousarray(y))))
    return out


def _setup(name):
    ember.manual_seed(0)
    model, make_opt, loss_fn = build(ember, name)
    twin, _, _ = build(ember, name)
    twin.load_state_dict(model.state_dict())
    return (model, make_opt(model.parameters())), (twin, make_opt(twin.parameters())), loss_fn


def _step(model, opt, loss_fn):
    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model, x, y)
        loss.backward()
        opt.step()
        return loss

    return step


@pytest.mark.parametrize("name", WORKLOADS)
def test_workload_compiled_steps_match_eager(name):
    (m_e, o_e), (m_c, o_c), loss_fn = _setup(name)
    eager, compiled = _step(m_e, o_e, loss_fn), ember.compile(_step(m_c, o_c, loss_fn))
    for i, (x, y) in enumerate(_batches(name)):
        le, lc = eager(x, y), compiled(x, y)
        assert np.array_equal(le._data, lc._data), f"{name} step {i}: loss {le.item()} vs {lc.item()}"
        se, sc = m_e.state_dict(), m_c.state_dict()
        for k in se:
            assert np.array_equal(se[k]._data, sc[k]._data), f"{name} step {i}: {k}"
        for (k, pe), pc in zip(m_e.named_parameters(), m_c.parameters()):
            assert np.array_equal(pe.grad._data, pc.grad._data), f"{name} step {i}: grad of {k}"
    assert compiled.traces == 1
    assert compiled._last.fallback_reason is None, compiled._last.fallback_reason  # optimised + generated
