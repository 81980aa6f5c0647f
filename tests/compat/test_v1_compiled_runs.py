"""Session.run compiles a repeated run signature to generated code: results stay bitwise the same."""

from __future__ import annotations

import numpy as np
import pytest

import ember.compat.v1 as tf
from ember.compat.v1 import compiled_runs

OPTIMIZERS = {
    "sgd": lambda: tf.train.GradientDescentOptimizer(0.1),
    "momentum": lambda: tf.train.MomentumOptimizer(0.05, 0.9),
    "nesterov": lambda: tf.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
    "adam": lambda: tf.train.AdamOptimizer(0.01),
    "rmsprop_centered": lambda: tf.train.RMSPropOptimizer(0.01, decay=0.8, momentum=0.9, centered=True),
    "adagrad": lambda: tf.train.AdagradOptimizer(0.1),
}


def _program(make, compile_after, monkeypatch, fed, steps=6):
    monkeypatch.setattr(compiled_runs, "COMPILE_AFTER", compile_after)
    rs = np.random.RandomState(4)
    A, c = rs.randn(5, 3).astype(np.float32), rs.randn(5, 1).astype(np.float32)
    x0 = rs.randn(3, 1).astype(np.float32)
    out = []
    with tf.Graph().as_default():
        # fed: a batch dim known only at run time; const: static shapes, so buffers are planned and reused
        a = tf.placeholder(tf.float32, [None, 3]) if fed else tf.constant(A)
        x = tf.Variable(x0, name="x")
        bias = tf.Variable(np.float32(0.5), name="bias")  # a 0-d state whose buffers are small: easy to reuse wrongly
        loss = 0.5 * tf.reduce_sum(tf.square(tf.matmul(a, x) - tf.constant(c) + bias))
        train = make().minimize(loss)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(steps):
                feeds = {a: A} if fed else None
                sess.run(train, feed_dict=feeds)  # the train op alone: its buffers are all internal
                out.append(sess.run([loss, x, bias], feed_dict=feeds))
            compiled = len(sess._compiled_runs.compiled)
    return out, compiled


@pytest.mark.parametrize("fed", [True, False], ids=["fed", "const"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_compiled_session_runs_equal_interpreted_bitwise(name, fed, monkeypatch):
    interpreted, n0 = _program(OPTIMIZERS[name], 10**9, monkeypatch, fed)
    compiled, n1 = _program(OPTIMIZERS[name], 0, monkeypatch, fed)
    assert n0 == 0 and n1 >= 1  # the second run really used generated code
    for step, (a, b) in enumerate(zip(interpreted, compiled)):
        for u, v in zip(a, b):
            assert np.array_equal(u, v), f"{name}: step {step} differs between interpreted and compiled runs"
