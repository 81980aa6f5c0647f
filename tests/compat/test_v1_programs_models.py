"""Whole TF1 programs on scikit-learn's digits, under ember.compat.v1 and tensorflow.compat.v1.

Each model is one function written in TF1 style against a ``tf`` argument,
run with real TensorFlow and with ``ember.compat.v1``: the same initial
weights (NumPy arrays given as constant initializers), the same mini-batches,
~20 optimizer steps. Losses at every step, the variable names, and the final
weights must agree to float32 tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

tf1 = pytest.importorskip("tensorflow.compat.v1")
sklearn_datasets = pytest.importorskip("sklearn.datasets")

import ember.compat.v1 as etf  # noqa: E402


class _TF1Layers:
    """tf.compat.v1.layers as TF 1.x defined it, from TF primitives: TF 2.21 with Keras 3 has no
    ``tf.compat.v1.layers``. Scopes and variables are named as TF1's layers name them."""

    def __init__(self, tf):
        self.tf = tf

    def dense(self, inputs, units, activation=None, use_bias=True, kernel_initializer=None, name=None):
        tf = self.tf
        with tf.variable_scope(name, default_name="dense"):
            k = tf.get_variable("kernel", [inputs.shape[-1], units], initializer=kernel_initializer)
            out = tf.matmul(inputs, k)
            if use_bias:
                out = tf.nn.bias_add(out, tf.get_variable("bias", [units], initializer=tf.zeros_initializer()))
            return activation(out) if activation is not None else out

    def conv2d(self, inputs, filters, kernel_size, padding="valid", activation=None, use_bias=True,
               kernel_initializer=None):  # fmt: skip
        tf = self.tf
        with tf.variable_scope(None, default_name="conv2d"):
            shape = [kernel_size, kernel_size, inputs.shape[-1], filters]
            k = tf.get_variable("kernel", shape, initializer=kernel_initializer)
            out = tf.nn.conv2d(inputs, k, [1, 1, 1, 1], padding.upper())
            if use_bias:
                out = tf.nn.bias_add(out, tf.get_variable("bias", [filters], initializer=tf.zeros_initializer()))
            return activation(out) if activation is not None else out

    def batch_normalization(self, inputs, momentum=0.99, epsilon=1e-3, training=False):
        """Keras 2's BatchNormalization in TF1 graph mode: 4-d inputs run the fused kernel (whose
        batch variance is Bessel-corrected; the layer removes the correction for the moving
        average), others nn.moments; moving -= (moving - batch) * (1 - momentum)."""
        tf = self.tf
        c = int(inputs.shape[-1])
        with tf.variable_scope(None, default_name="batch_normalization"):
            gamma = tf.get_variable("gamma", [c], initializer=tf.ones_initializer())
            beta = tf.get_variable("beta", [c], initializer=tf.zeros_initializer())
            mm = tf.get_variable("moving_mean", [c], initializer=tf.zeros_initializer(), trainable=False)
            mv = tf.get_variable("moving_variance", [c], initializer=tf.ones_initializer(), trainable=False)

        def train():
            if inputs.shape.ndims == 4:
                y, mean, var = tf.nn.fused_batch_norm(inputs, gamma, beta, epsilon=epsilon, is_training=True)
                n = tf.cast(tf.size(inputs) // c, tf.float32)
                return y, mean, var * (n - 1.0) / n
            mean, var = tf.nn.moments(inputs, list(range(inputs.shape.ndims - 1)))
            return tf.nn.batch_normalization(inputs, mean, var, beta, gamma, epsilon), mean, var

        def infer():
            return tf.nn.batch_normalization(inputs, mm, mv, beta, gamma, epsilon), mm, mv

        y, mean, var = tf.cond(training, train, infer)
        decay = tf.cond(training, lambda: tf.constant(1.0 - momentum), lambda: tf.constant(0.0))
        for moving, batch in ((mm, mean), (mv, var)):
            tf.add_to_collection(tf.GraphKeys.UPDATE_OPS, tf.assign_sub(moving, (moving - batch) * decay))
        return y

    def max_pooling2d(self, inputs, pool_size, strides, padding="valid"):
        k, s = [1, pool_size, pool_size, 1], [1, strides, strides, 1]
        return self.tf.nn.max_pool(inputs, k, s, padding.upper())

    def flatten(self, inputs):
        return self.tf.reshape(inputs, [-1, int(np.prod(inputs.shape[1:]))])


class _TF1:
    """tensorflow.compat.v1 with TF1's ``layers`` namespace restored."""

    def __init__(self, tf):
        self._tf = tf
        self.layers = _TF1Layers(tf)

    def __getattr__(self, name):
        return getattr(self._tf, name)


STEPS = 20
BATCH = 32


@pytest.fixture(scope="module")
def digits():
    x, y = sklearn_datasets.load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return x, y.astype(np.int32)


def _batches(x, y, steps, batch):
    rng = np.random.default_rng(0)
    for _ in range(steps):
        idx = rng.choice(len(x), batch, replace=False)
        yield x[idx], y[idx]


def _init(rng, shape, scale):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# ---- the programs: TF1 code, written once, run under either ``tf`` -------------------------------
def logistic_regression(tf, init):
    x = tf.placeholder(tf.float32, [None, 64], name="x")
    y = tf.placeholder(tf.int32, [None], name="y")
    w = tf.get_variable("w", initializer=tf.constant_initializer(init["w"]), shape=[64, 10])
    b = tf.get_variable("b", initializer=tf.constant_initializer(init["b"]), shape=[10])
    logits = tf.matmul(x, w) + b
    onehot = tf.one_hot(y, 10)
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=onehot, logits=logits))
    train = tf.train.GradientDescentOptimizer(0.5).minimize(loss)
    acc = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), y), tf.float32))
    return x, y, loss, train, [acc]


def mlp(tf, init):
    x = tf.placeholder(tf.float32, [None, 64], name="x")
    y = tf.placeholder(tf.int32, [None], name="y")
    h = tf.layers.dense(x, 32, activation=tf.nn.relu, kernel_initializer=tf.constant_initializer(init["k1"]))
    h = tf.layers.dense(h, 32, activation=tf.tanh, kernel_initializer=tf.constant_initializer(init["k2"]))
    logits = tf.layers.dense(h, 10, kernel_initializer=tf.constant_initializer(init["k3"]), name="logits")
    loss = tf.losses.sparse_softmax_cross_entropy(labels=y, logits=logits)
    l2 = 1e-4 * tf.add_n([tf.nn.l2_loss(v) for v in tf.trainable_variables() if "kernel" in v.name])
    train = tf.train.AdamOptimizer(0.01).minimize(loss + l2)
    correct = tf.nn.in_top_k(logits, y, 1)
    return x, y, loss, train, [tf.reduce_mean(tf.cast(correct, tf.float32))]


def cnn(tf, init):
    x = tf.placeholder(tf.float32, [None, 64], name="x")
    y = tf.placeholder(tf.int32, [None], name="y")
    img = tf.reshape(x, [-1, 8, 8, 1])
    c = tf.layers.conv2d(img, 8, 3, padding="same", activation=tf.nn.relu,
                         kernel_initializer=tf.constant_initializer(init["c1"]))  # fmt: skip
    c = tf.layers.max_pooling2d(c, 2, 2)  # 4x4
    w2 = tf.get_variable("c2", initializer=tf.constant_initializer(init["c2"]), shape=[3, 3, 8, 16])
    c = tf.nn.relu(tf.nn.conv2d(c, w2, strides=[1, 2, 2, 1], padding="SAME"))  # 2x2
    c = tf.nn.avg_pool(c, ksize=[1, 2, 2, 1], strides=[1, 1, 1, 1], padding="SAME")
    flat = tf.layers.flatten(c)
    logits = tf.layers.dense(flat, 10, kernel_initializer=tf.constant_initializer(init["d"]))
    loss = tf.losses.softmax_cross_entropy(tf.one_hot(y, 10), logits)
    train = tf.train.MomentumOptimizer(0.1, 0.9).minimize(loss)
    probs = tf.nn.softmax(logits)
    return x, y, loss, train, [tf.reduce_max(probs)]


def batchnorm_cnn(tf, init):
    x = tf.placeholder(tf.float32, [None, 64], name="x")
    y = tf.placeholder(tf.int32, [None], name="y")
    training = tf.placeholder(tf.bool, [], name="training")
    img = tf.reshape(x, [-1, 8, 8, 1])
    # no bias before a batch norm: its gradient is zero up to rounding, which Adam would amplify
    c = tf.layers.conv2d(
        img, 8, 3, padding="same", use_bias=False, kernel_initializer=tf.constant_initializer(init["c1"])
    )
    c = tf.nn.relu(tf.layers.batch_normalization(c, momentum=0.9, training=training))
    c = tf.layers.max_pooling2d(c, 2, 2)
    h = tf.layers.dense(
        tf.layers.flatten(c), 16, use_bias=False, kernel_initializer=tf.constant_initializer(init["d1"])
    )
    h = tf.nn.relu(tf.layers.batch_normalization(h, training=training))
    logits = tf.layers.dense(h, 10, kernel_initializer=tf.constant_initializer(init["d2"]))
    loss = tf.losses.sparse_softmax_cross_entropy(y, logits)
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
        train = tf.train.AdamOptimizer(0.01).minimize(loss)
    return x, y, loss, train, [tf.reduce_mean(logits)], training


def _inits(name):
    rng = np.random.default_rng(42)
    if name == "logistic_regression":
        return {"w": _init(rng, (64, 10), 0.1), "b": _init(rng, (10,), 0.1)}
    if name == "mlp":
        return {"k1": _init(rng, (64, 32), 0.2), "k2": _init(rng, (32, 32), 0.2), "k3": _init(rng, (32, 10), 0.2)}
    if name == "batchnorm_cnn":
        return {"c1": _init(rng, (3, 3, 1, 8), 0.3), "d1": _init(rng, (128, 16), 0.1), "d2": _init(rng, (16, 10), 0.2)}
    return {"c1": _init(rng, (3, 3, 1, 8), 0.3), "c2": _init(rng, (3, 3, 8, 16), 0.1), "d": _init(rng, (64, 10), 0.1)}


def run(tf, model, data):
    """Train for STEPS steps; return the per-step (loss, metrics), variable names and final weights."""
    init = _inits(model.__name__)
    g = tf.Graph()
    with g.as_default():
        x, y, loss, train, metrics, *flag = model(tf, init)
        variables = tf.global_variables()
        with tf.Session(graph=g) as s:
            s.run(tf.global_variables_initializer())
            history = []
            for xb, yb in _batches(*data, STEPS, BATCH):
                feed = {x: xb, y: yb, **{f: True for f in flag}}
                out = s.run([loss, train] + metrics, feed_dict=feed)
                history.append([out[0]] + out[2:])
            if flag:  # inference with the moving statistics
                feed = {x: data[0][:100], y: data[1][:100], flag[0]: False}
                history.append(s.run([loss] + metrics, feed_dict=feed))
            final = s.run(variables)
    return np.array(history, dtype=np.float64), [v.name for v in variables], final


@pytest.mark.parametrize("model", [logistic_regression, mlp, cnn, batchnorm_cnn], ids=lambda m: m.__name__)
def test_program_matches_tf(model, digits):
    want, want_names, want_w = run(_TF1(tf1), model, digits)
    got, got_names, got_w = run(etf, model, digits)
    assert got_names == want_names
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)
    assert want[-1, 0] < want[0, 0]  # the program trains: the oracle's loss went down
    for name, a, b in zip(want_names, got_w, want_w):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4, err_msg=name)
