"""tf.summary + FileWriter write real TensorBoard event files (read back with TensorBoard's own reader)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

pytest.importorskip("tensorboardX")
# TensorBoard's reader falls back to its TF-free stub only when this module is present
sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))
from tensorboard.backend.event_processing import event_accumulator as ea  # noqa: E402

import ember.compat.v1 as tf  # noqa: E402


def test_tf1_tutorial_summaries_reach_tensorboard(tmp_path):
    tf.reset_default_graph()
    x = tf.placeholder(tf.float32, [None, 3], name="x")
    w = tf.Variable(tf.ones([3, 1]), name="w")
    loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - 1.0))
    train = tf.train.GradientDescentOptimizer(0.1).minimize(loss)
    with tf.name_scope("stats"):
        tf.summary.scalar("loss", loss)
        tf.summary.histogram("w", w)
    merged = tf.summary.merge_all()
    data = np.random.default_rng(0).random((8, 3)).astype(np.float32)
    losses = []
    with tf.Session() as sess:
        writer = tf.summary.FileWriter(str(tmp_path), sess.graph)
        sess.run(tf.global_variables_initializer())
        for step in range(5):
            s, lv, _ = sess.run([merged, loss, train], {x: data})
            writer.add_summary(s, step)
            losses.append(lv)
        writer.close()
    acc = ea.EventAccumulator(str(tmp_path), size_guidance={k: 0 for k in (ea.SCALARS, ea.HISTOGRAMS, ea.GRAPH)})
    acc.Reload()
    events = acc.Scalars("stats/loss")
    assert [e.step for e in events] == list(range(5))
    np.testing.assert_allclose([e.value for e in events], losses, rtol=1e-6)
    hist = acc.Histograms("stats/w")
    assert len(hist) == 5 and hist[0].histogram_value.num == 3
    ops = {n.op for n in acc.Graph().node}
    assert "matmul" in ops and len(acc.Graph().node) > 5
    assert writer.scalars[0] == (0, "stats/loss", pytest.approx(float(losses[0])))
