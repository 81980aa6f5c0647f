"""TensorFlow: the tf.function train step of tf_workloads.py, and tf.compat.v1 Sessions (tf1_workloads.py).

SessionBase is shared with ember.compat.v1, which runs the same TF1 programs.
"""

from __future__ import annotations

import os

from tf1_workloads import SessionProgram
from workloads import data

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class SessionBase:
    tf = None  # a TF1-style module, set by subclasses

    def __init__(self, workload, state):
        self.batches = data(workload)
        self.program = SessionProgram(self.tf, workload, state)
        self.i = 0

    def reset(self):
        self.program.reset()
        self.i = 0

    def step(self):
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        return self.program.step(x, y)

    def value(self, handle):
        return float(handle)

    def linreg_params(self):
        w, b = self.program.values()
        return float(w.ravel()[0]), float(b.ravel()[0])

    def infer(self):
        return None


class TFSession(SessionBase):
    def __init__(self, workload, state):
        import tensorflow.compat.v1 as tf

        self.tf = tf
        super().__init__(workload, state)


class TFFunction:
    def __init__(self, workload, state):
        import tensorflow as tf
        from tf_workloads import TFWorkload, tf_batches

        self.tf = tf
        self.w = TFWorkload(workload, state)
        self.batches = tf_batches(workload)
        self.i = 0

    def reset(self):
        self.w.reset()
        self.i = 0

    def step(self):
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        return self.w.train_step(x, y)

    def value(self, handle):
        return float(handle.numpy())

    def linreg_params(self):
        return float(self.w.p["weight"].numpy().ravel()[0]), float(self.w.p["bias"].numpy().ravel()[0])

    def infer(self):
        tf, x = self.tf, self.batches[0][0][:1]
        fwd = tf.function(lambda x: self.w.forward(x, training=False), autograph=False)

        def call():
            return fwd(x).numpy()

        return call
