"""linreg and mlp_small as TF1 graph programs, written once against a ``tf`` module.

The same code runs under ``tensorflow.compat.v1`` and ``ember.compat.v1``:
placeholders fed per step, Variables holding PyTorch's initial weights
(Linear W^T), GradientDescentOptimizer(0.5) for linreg and AdamOptimizer(1e-3)
for mlp_small (TF1's Adam folds the bias correction into the step size, so
its updates differ from torch.optim.Adam's in the epsilon term only).
"""

from __future__ import annotations

WORKLOADS = ("linreg", "mlp_small")


def build(tf, name, state):
    """Placeholders x, y, the loss, the train op and the parameter variables of ``name``."""
    if name == "linreg":
        x = tf.placeholder(tf.float32, [None, 1])
        y = tf.placeholder(tf.float32, [None, 1])
        w = tf.Variable(state["weight"].T.copy())
        b = tf.Variable(state["bias"].copy())
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
        return x, y, loss, tf.train.GradientDescentOptimizer(0.5).minimize(loss), [w, b]
    if name == "mlp_small":
        x = tf.placeholder(tf.float32, [None, 64])
        y = tf.placeholder(tf.int64, [None])
        h, params = x, []
        for i in (0, 2, 4):
            w = tf.Variable(state[f"{i}.weight"].T.copy())
            b = tf.Variable(state[f"{i}.bias"].copy())
            params += [w, b]
            h = tf.matmul(h, w) + b
            if i < 4:
                h = tf.nn.relu(h)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=h))
        return x, y, loss, tf.train.AdamOptimizer(1e-3).minimize(loss), params
    raise KeyError(f"{name} has no TF1 program (have {WORKLOADS})")


class SessionProgram:
    """A workload's graph in its own tf.Graph and Session; reset re-runs the initializer (weights and slots)."""

    def __init__(self, tf, name, state):
        self.graph = tf.Graph()
        with self.graph.as_default():
            self.x, self.y, self.loss, self.train, self.params = build(tf, name, state)
            self.init = tf.global_variables_initializer()  # after minimize: covers the optimizer's slots too
        self.sess = tf.Session(graph=self.graph)
        self.reset()

    def reset(self):
        self.sess.run(self.init)

    def step(self, x, y):
        return self.sess.run([self.train, self.loss], feed_dict={self.x: x, self.y: y})[1]

    def values(self):
        return self.sess.run(self.params)
