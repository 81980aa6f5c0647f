"""The smaller TF1 APIs tutorials lean on: gradient clipping (against TF), flags, logging, tf.contrib.rnn."""

from __future__ import annotations

import numpy as np
import pytest

import ember.compat.v1 as etf

tf1 = pytest.importorskip("tensorflow.compat.v1")
tf1.disable_eager_execution()


def _clip_program(tf):
    rng = np.random.RandomState(0)
    a, b = rng.randn(3, 4).astype(np.float32), rng.randn(5).astype(np.float32)
    with tf.Graph().as_default():
        x, y = tf.Variable(a), tf.Variable(b)
        loss = tf.reduce_sum(tf.square(x)) * 3.0 + tf.reduce_sum(y * y * y)
        grads = tf.gradients(loss, [x, y])
        clipped, norm = tf.clip_by_global_norm(grads, 5.0)
        small, _ = tf.clip_by_global_norm(grads, 1e6)  # no clipping: the scale is exactly 1
        by_norm = tf.clip_by_norm(grads[0], 1.5)
        rows = tf.clip_by_norm(grads[0], 1.5, axes=[1])
        zero = tf.clip_by_norm(tf.zeros([3]), 1.0)
        step = tf.train.GradientDescentOptimizer(0.1).apply_gradients(zip(clipped, [x, y]))
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            out = sess.run([clipped, norm, small, by_norm, rows, zero, tf.global_norm(grads)])
            sess.run(step)
            return out, sess.run([x, y])


def test_gradient_clipping_matches_tf():
    ours, ref = _clip_program(etf), _clip_program(tf1)
    flat = lambda s: [a for x in s for a in (flat(x) if isinstance(x, (list, tuple)) else [x])]  # noqa: E731
    for a, b in zip(flat(ours), flat(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert ours[0][1] > 5.0  # the global norm really was clipped


def test_flags_parse_like_tf_app_flags():
    flags = etf.app.flags
    flags.DEFINE_integer("tut_steps", 10, "steps")
    flags.DEFINE_float("tut_lr", 0.1, "learning rate")
    flags.DEFINE_boolean("tut_fast", False, "fast")
    flags.DEFINE_string("tut_dir", "/tmp/x", "dir")
    FLAGS = flags.FLAGS
    rest = FLAGS(["prog", "--tut_steps=3", "--tut_lr", "0.5", "--tut_fast", "extra"])
    assert (FLAGS.tut_steps, FLAGS.tut_lr, FLAGS.tut_fast, FLAGS.tut_dir, rest) == (
        3,
        0.5,
        True,
        "/tmp/x",
        ["prog", "extra"],
    )
    with pytest.raises(AttributeError, match="Unknown command line flag 'nope'"):
        FLAGS.nope  # noqa: B018
    seen = []
    with pytest.raises(SystemExit):
        etf.app.run(lambda argv: seen.append(argv), argv=["prog", "--notut_fast"])
    assert seen == [["prog"]] and FLAGS.tut_fast is False


def test_logging_version_and_errors_exist_under_tf_names(caplog):
    etf.logging.set_verbosity(etf.logging.INFO)
    with caplog.at_level("INFO", logger="tensorflow"):
        etf.logging.info("step %d", 3)
    assert "step 3" in caplog.text
    assert etf.VERSION.startswith("1.") and not etf.test.is_gpu_available()
    assert issubclass(etf.errors.OutOfRangeError, Exception)
    assert etf.contrib.rnn.BasicLSTMCell is etf.nn.rnn_cell.BasicLSTMCell
    assert etf.contrib.rnn.static_rnn is etf.nn.static_rnn


def _cond_program(tf):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3])
        training = tf.placeholder(tf.bool, [])
        w = tf.Variable(np.arange(3, dtype=np.float32))
        y = tf.cond(training, lambda: x * w + 1.0, lambda: x - w)
        pair = tf.cond(training, lambda: (tf.reduce_sum(x), x), lambda: (tf.reduce_max(x), x * 2.0))
        sq = tf.map_fn(lambda r: tf.reduce_sum(r * r), tf.constant([[1.0, 2.0], [3.0, 4.0]]))
        (g,) = tf.gradients(tf.reduce_sum(y), [w])
        feed = np.arange(6, dtype=np.float32).reshape(2, 3)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            return [sess.run([y, pair, g], {x: feed, training: t}) for t in (True, False)] + [sess.run(sq)]


def test_cond_and_map_fn_match_tf():
    ours, ref = _cond_program(etf), _cond_program(tf1)
    flat = lambda s: [a for x in s for a in (flat(x) if isinstance(x, (list, tuple)) else [x])]  # noqa: E731
    for a, b in zip(flat(ours), flat(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_cond_refuses_state_changes_and_while_loop_says_why():
    with etf.Graph().as_default():
        v = etf.Variable(1.0)
        p = etf.placeholder(etf.bool, [])
        with pytest.raises(NotImplementedError, match="true branch assigns variable"):
            etf.cond(p, lambda: etf.assign(v, 2.0), lambda: v + 0.0)
        with pytest.raises(NotImplementedError, match="no loops"):
            etf.while_loop(lambda i: i < 3, lambda i: i + 1, [etf.constant(0)])
