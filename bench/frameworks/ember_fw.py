"""ember eager, ember.compile of the whole train step, and ember.compat.v1 Sessions."""

from __future__ import annotations

from workloads import reset_in_place

import ember
import ember.compat.v1 as tf1
from frameworks.tensorflow_fw import SessionBase
from frameworks.torch_api import TorchAPI


class EmberEager(TorchAPI):
    lib = ember


class EmberCompiled(TorchAPI):
    """ember.compile(step) as in bench/compile_speed.py: zero_grad, loss, backward and optimizer.step in one
    program. A reset writes the initial weights and zeroed optimizer state into the arrays the program holds
    (the same arithmetic as a fresh optimizer) so the compiled program stays valid."""

    lib = ember

    def __init__(self, workload, state):
        super().__init__(workload, state)
        self.compiled = ember.compile(super().train_step)

    def reset(self):
        if self.opt is None:
            return super().reset()
        reset_in_place(ember, self.model, self.opt, self.state)
        self.i = 0

    def train_step(self, x, y):
        return self.compiled(x, y)

    def inference_model(self):
        return ember.compile(self.model)


class EmberSession(SessionBase):
    tf = tf1
