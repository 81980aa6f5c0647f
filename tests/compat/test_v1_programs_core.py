"""Whole TF1 programs run under tensorflow.compat.v1 and ember.compat.v1, compared step by step.

Each program is written once as a function of the ``tf`` module; the same
inputs and initial values go to both, and every step's numbers must agree to
float32 rounding.
"""

import collections

import numpy as np
import pytest

import ember.compat.v1 as etf

tf1 = pytest.importorskip("tensorflow.compat.v1")

RTOL, ATOL = 2e-6, 1e-7


def close(a, b, rtol=RTOL, atol=ATOL):
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def regression_data(n=100, seed=0):
    rs = np.random.RandomState(seed)
    x_data = rs.rand(n, 1).astype(np.float32)
    y_data = 2 * x_data + 1 + rs.rand(n, 1).astype(np.float32) * 0.1
    return x_data, y_data


# ---- the seed program -------------------------------------------------------------------------------------
def seed_program(tf, x_data, y_data):
    """The issue's program, only ``tf`` changed; returns (w, b, loss) after every step and the test output."""
    trace = []
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 1])
        y = tf.placeholder(tf.float32, [None, 1])
        w = tf.Variable(tf.zeros([1, 1]))
        b = tf.Variable(tf.zeros([1]))
        y_pred = tf.matmul(x, w) + b
        loss = tf.reduce_mean(tf.square(y_pred - y))
        train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _step in range(201):
                sess.run(train, feed_dict={x: x_data, y: y_data})
                trace.append((sess.run(w), sess.run(b), loss.eval(feed_dict={x: x_data, y: y_data})))
            x_test = np.array([[0.0], [0.5], [1.0]], np.float32)
            pred = sess.run(y_pred, feed_dict={x: x_test})
    return trace, pred


def test_seed_program_matches_tensorflow_every_step():
    x_data, y_data = regression_data()
    ours, our_pred = seed_program(etf, x_data, y_data)
    theirs, their_pred = seed_program(tf1, x_data, y_data)
    assert len(ours) == len(theirs) == 201
    for step, (a, b) in enumerate(zip(ours, theirs)):
        try:
            close(a, b)
        except AssertionError as e:
            raise AssertionError(f"step {step} differs") from e
    close([our_pred], [their_pred])
    assert abs(float(ours[-1][0][0, 0]) - 2.0) < 0.05  # it learned y = 2x + 1 (+ noise mean 0.05)


def seed_program_with_bug(tf, x_data, y_data):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 1])
        w = tf.Variable(tf.zeros([1, 1]))
        y_pred = tf.matmul(x, w)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
        return sess.run(y_pred, feed_dict={x: x_data})  # the original bug: after the with block


def test_seed_program_bug_closed_session_error():
    x_data, y_data = regression_data()
    with pytest.raises(RuntimeError) as theirs:
        seed_program_with_bug(tf1, x_data, y_data)
    with pytest.raises(RuntimeError) as ours:
        seed_program_with_bug(etf, x_data, y_data)
    assert "Attempted to use a closed Session." in str(theirs.value)
    msg = str(ours.value)
    assert msg.startswith("Attempted to use a closed Session.")  # TF's text first...
    assert "test_v1_programs_core.py" in msg and "with" in msg  # ...then where it was closed and why


# ---- linear regression with several features and Adam, global step ------------------------------------
def linreg_program(tf, X, Y, W0, steps=30):
    trace = []
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, X.shape[1]], name="x")
        y = tf.placeholder(tf.float32, [None, 1], name="y")
        W = tf.Variable(W0, name="W")
        b = tf.Variable(np.zeros([1], np.float32), name="b")
        gs = tf.train.get_or_create_global_step()
        loss = tf.reduce_mean(tf.square(tf.matmul(x, W) + b - y))
        train = tf.train.AdamOptimizer(0.05).minimize(loss, global_step=gs)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(steps):
                _, lv = sess.run([train, loss], feed_dict={x: X, y: Y})
                trace.append((lv, *sess.run([W, b]), sess.run(gs)))
    return trace


def test_linear_regression_adam_global_step():
    rs = np.random.RandomState(1)
    X = rs.randn(64, 3).astype(np.float32)
    Y = (X @ np.array([[1.5], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)
    W0 = (rs.randn(3, 1) * 0.1).astype(np.float32)
    ours, theirs = linreg_program(etf, X, Y, W0), linreg_program(tf1, X, Y, W0)
    for a, b in zip(ours, theirs, strict=True):
        close(a[:3], b[:3], rtol=1e-5, atol=1e-6)
        assert int(a[3]) == int(b[3])
    assert [int(a[3]) for a in ours] == list(range(1, 31))
    assert ours[-1][0] < ours[0][0]


# ---- variable_scope / get_variable sharing --------------------------------------------------------------
def scoped_program(tf, X, Y, inits, steps=10):
    def layer(inp, n_out, name, init):
        with tf.variable_scope(name):
            w = tf.get_variable("w", shape=init[0].shape, initializer=tf.constant_initializer(init[0]))
            b = tf.get_variable("b", shape=[n_out], initializer=tf.zeros_initializer())
            return tf.tanh(tf.matmul(inp, w) + b)

    def tower(inp):
        h = layer(inp, 8, "l1", inits[0])
        return layer(h, 1, "l2", inits[1])

    trace = []
    with tf.Graph().as_default():
        x1 = tf.placeholder(tf.float32, [None, 4])
        x2 = tf.placeholder(tf.float32, [None, 4])
        y = tf.placeholder(tf.float32, [None, 1])
        with tf.variable_scope("model"):
            out1 = tower(x1)
        with tf.variable_scope("model", reuse=True):
            out2 = tower(x2)  # the same variables
        with tf.variable_scope("model", reuse=tf.AUTO_REUSE):
            out3 = tower(x1)
        loss = tf.reduce_mean(tf.square(out1 - y)) + tf.reduce_mean(tf.square(out2 - y))
        train = tf.train.MomentumOptimizer(0.1, 0.9).minimize(loss)
        names = sorted(v.name for v in tf.trainable_variables())
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(steps):
                sess.run(train, {x1: X[:8], x2: X[8:], y: Y[:8]})
                vals = sess.run({v.name: v for v in tf.trainable_variables()})
                trace.append((sess.run(loss, {x1: X[:8], x2: X[8:], y: Y[:8]}), *[vals[n] for n in names]))
            same = np.array_equal(*sess.run([out1, out3], {x1: X[:8]}))
    return names, trace, same


def test_variable_scope_reuse_program():
    rs = np.random.RandomState(2)
    X = rs.randn(16, 4).astype(np.float32)
    Y = rs.randn(16, 1).astype(np.float32)
    inits = [(rs.randn(4, 8) * 0.5).astype(np.float32), None], [(rs.randn(8, 1) * 0.5).astype(np.float32), None]
    n1, ours, same1 = scoped_program(etf, X, Y, inits)
    n2, theirs, same2 = scoped_program(tf1, X, Y, inits)
    assert n1 == n2 == ["model/l1/b:0", "model/l1/w:0", "model/l2/b:0", "model/l2/w:0"]
    assert same1 and same2
    for a, b in zip(ours, theirs, strict=True):
        close(a, b, rtol=1e-5, atol=1e-6)


def test_get_variable_errors_match_tensorflow():
    for tf in (tf1, etf):
        with tf.Graph().as_default():
            with tf.variable_scope("s"):
                tf.get_variable("v", [2])
            with pytest.raises(ValueError, match="Variable s/v already exists, disallowed"):
                with tf.variable_scope("s"):
                    tf.get_variable("v", [2])
            with pytest.raises(ValueError, match="Variable s/u does not exist"):
                with tf.variable_scope("s", reuse=True):
                    tf.get_variable("u", [2])
            with pytest.raises(ValueError, match="Trying to share variable s/v, but specified shape"):
                with tf.variable_scope("s", reuse=True):
                    tf.get_variable("v", [3])


# ---- Saver: train, save, restore in a new Session, continue ---------------------------------------------
def saver_program(tf, X, Y, W0, ckpt_dir, split):
    """Train ``split`` steps, save, restore into a new Session, train on; returns every step's loss and W."""
    trace = []
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3])
        y = tf.placeholder(tf.float32, [None, 1])
        W = tf.Variable(W0, name="W")
        b = tf.Variable(np.zeros([1], np.float32), name="b")
        gs = tf.train.get_or_create_global_step()
        loss = tf.reduce_mean(tf.square(tf.matmul(x, W) + b - y))
        train = tf.train.RMSPropOptimizer(0.01, momentum=0.5).minimize(loss, global_step=gs)
        saver = tf.train.Saver(max_to_keep=2)
        init = tf.global_variables_initializer()
        feed = {x: X, y: Y}
        with tf.Session() as sess:
            sess.run(init)
            for _ in range(split):
                trace.append(sess.run([train, loss, W], feed)[1:])
            path = saver.save(sess, str(ckpt_dir / "model"), global_step=gs)
        with tf.Session() as sess:
            saver.restore(sess, tf.train.latest_checkpoint(str(ckpt_dir)))
            assert sess.run(gs) == split
            for _ in range(20 - split):
                trace.append(sess.run([train, loss, W], feed)[1:])
    return trace, path


def test_saver_continuation_is_bitwise_and_matches_tensorflow(tmp_path):
    rs = np.random.RandomState(3)
    X = rs.randn(32, 3).astype(np.float32)
    Y = rs.randn(32, 1).astype(np.float32)
    W0 = (rs.randn(3, 1) * 0.1).astype(np.float32)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "c").mkdir()
    stopped, path = saver_program(etf, X, Y, W0, tmp_path / "a", split=8)
    never, _ = saver_program(etf, X, Y, W0, tmp_path / "b", split=20)
    for a, b in zip(stopped, never, strict=True):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])  # bitwise
    assert path.endswith("model-8") and (tmp_path / "a" / "model-8.safetensors").exists()
    theirs, _ = saver_program(tf1, X, Y, W0, tmp_path / "c", split=8)
    for a, b in zip(stopped, theirs, strict=True):
        close(a, b, rtol=1e-5, atol=1e-6)


# ---- every optimizer against TensorFlow ---------------------------------------------------------------------
OPTIMIZERS = {
    "sgd": lambda tf: tf.train.GradientDescentOptimizer(0.1),
    "momentum": lambda tf: tf.train.MomentumOptimizer(0.05, 0.9),
    "nesterov": lambda tf: tf.train.MomentumOptimizer(0.05, 0.9, use_nesterov=True),
    "adam": lambda tf: tf.train.AdamOptimizer(0.01),
    "adam_params": lambda tf: tf.train.AdamOptimizer(0.1, beta1=0.8, beta2=0.99, epsilon=1e-3),
    "rmsprop": lambda tf: tf.train.RMSPropOptimizer(0.01),
    "rmsprop_centered_momentum": lambda tf: tf.train.RMSPropOptimizer(0.01, decay=0.8, momentum=0.9, centered=True),
    "adagrad": lambda tf: tf.train.AdagradOptimizer(0.1),
    "adagrad_init": lambda tf: tf.train.AdagradOptimizer(0.3, initial_accumulator_value=0.5),
}


def optimizer_program(tf, make, A, c, x0, steps=8):
    """Minimise a quadratic 0.5*|A x - c|^2 plus a bias; returns x and the slots after every step."""
    trace = []
    with tf.Graph().as_default():
        x = tf.Variable(x0, name="x")
        bias = tf.Variable(np.float32(0.5), name="bias")
        r = tf.matmul(tf.constant(A), x) - tf.constant(c) + bias
        loss = 0.5 * tf.reduce_sum(tf.square(r))
        opt = make(tf)
        train = opt.minimize(loss)
        slots = {n: opt.get_slot(x, n) for n in opt.get_slot_names()}
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(steps):
                sess.run(train)
                got = sess.run({"x": x, "bias": bias, "slots": slots})
                trace.append([got["x"], got["bias"]] + [got["slots"][k] for k in sorted(got["slots"])])
    return sorted(slots), trace


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_matches_tensorflow(name):
    rs = np.random.RandomState(4)
    A = rs.randn(5, 3).astype(np.float32)
    c = rs.randn(5, 1).astype(np.float32)
    x0 = rs.randn(3, 1).astype(np.float32)
    s1, ours = optimizer_program(etf, OPTIMIZERS[name], A, c, x0)
    s2, theirs = optimizer_program(tf1, OPTIMIZERS[name], A, c, x0)
    assert s1 == s2
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        try:
            close(a, b, rtol=1e-5, atol=1e-6)
        except AssertionError as e:
            raise AssertionError(f"{name}: step {step} differs") from e
    assert not np.allclose(ours[-1][0], x0)  # it moved


Pair = collections.namedtuple("Pair", "w b")


def schedule_program(tf, A, c, x0, steps=6):
    """A learning rate that is a tensor: a fed placeholder, and exponential_decay of the global step."""
    trace = []
    with tf.Graph().as_default():
        x = tf.Variable(x0)
        lr = tf.placeholder(tf.float32, [])
        gs = tf.train.get_or_create_global_step()
        decayed = tf.train.exponential_decay(0.1, gs, 2, 0.5, staircase=False)
        loss = tf.reduce_sum(tf.square(tf.matmul(tf.constant(A), x) - tf.constant(c)))
        fed = tf.train.MomentumOptimizer(lr, 0.5).minimize(loss)
        sched = tf.train.AdamOptimizer(decayed).minimize(loss, global_step=gs)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for i in range(steps):
                sess.run(fed, {lr: 0.01 * (i + 1)})
                sess.run(sched)
                trace.append((sess.run(x), sess.run(decayed)))
    return trace


def test_tensor_learning_rates_match_tensorflow():
    rs = np.random.RandomState(5)
    A, c, x0 = (rs.randn(4, 2).astype(np.float32), rs.randn(4, 1).astype(np.float32), rs.randn(2, 1).astype(np.float32))
    for a, b in zip(schedule_program(etf, A, c, x0), schedule_program(tf1, A, c, x0), strict=True):
        close(a, b, rtol=1e-5, atol=1e-6)


def tf_dense(tf, inputs, units, activation=None, kernel_initializer=None):
    """What tf.layers.dense builds (TF 2.21's tf.compat.v1.layers needs Keras 2, absent here)."""
    with tf.variable_scope(None, default_name="dense"):
        kernel = tf.get_variable("kernel", [inputs.shape[-1], units], initializer=kernel_initializer)
        bias = tf.get_variable("bias", [units], initializer=tf.zeros_initializer())
        out = tf.nn.bias_add(tf.matmul(inputs, kernel), bias)
        return activation(out) if activation is not None else out


def mlp_program(tf, X, labels, k1, k2, steps=8):
    """dense layers (variables through get_variable) + tf.losses + Adam, as a TF1 classifier is written."""
    trace = []
    dense = tf.layers.dense if tf is etf else lambda *a, **k: tf_dense(tf, *a, **k)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 4])
        y = tf.placeholder(tf.int32, [None])
        h = dense(x, 8, activation=tf.nn.relu, kernel_initializer=tf.constant_initializer(k1))
        logits = dense(h, 3, kernel_initializer=tf.constant_initializer(k2))
        loss = tf.losses.sparse_softmax_cross_entropy(labels=y, logits=logits)
        train = tf.train.AdamOptimizer(0.01).minimize(loss)
        names = [v.name for v in tf.trainable_variables()]
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for _ in range(steps):
                _, lv = sess.run([train, loss], {x: X, y: labels})
                trace.append((lv, *sess.run(tf.trainable_variables())))
    return names, trace


def test_layers_and_losses_program_matches_tensorflow():
    rs = np.random.RandomState(6)
    X = rs.randn(16, 4).astype(np.float32)
    labels = rs.randint(0, 3, 16).astype(np.int32)
    k1, k2 = (rs.randn(4, 8) * 0.5).astype(np.float32), (rs.randn(8, 3) * 0.5).astype(np.float32)
    n1, ours = mlp_program(etf, X, labels, k1, k2)
    n2, theirs = mlp_program(tf1, X, labels, k1, k2)
    assert n1 == n2 == ["dense/kernel:0", "dense/bias:0", "dense_1/kernel:0", "dense_1/bias:0"]
    for a, b in zip(ours, theirs, strict=True):
        close(a, b, rtol=1e-5, atol=1e-6)
