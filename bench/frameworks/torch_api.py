"""Shared driver for the frameworks with PyTorch's API (PyTorch itself and ember), over workloads.build."""

from __future__ import annotations

from workloads import build, data, load_state


class TorchAPI:
    lib = None  # the torch-like module, set by subclasses

    def __init__(self, workload, state):
        lib = self.lib
        self.workload = workload
        self.batches = [(lib.from_numpy(x.copy()), lib.from_numpy(y.copy())) for x, y in data(workload)]
        self.model, self.make_opt, self.loss_fn = build(lib, workload)
        self.state = state
        self.opt = None
        self.reset()

    def reset(self):
        load_state(self.lib, self.model, self.state)
        self.model.train()
        self.opt = self.make_opt(self.model.parameters())
        self.i = 0

    def train_step(self, x, y):
        self.opt.zero_grad()
        loss = self.loss_fn(self.model, x, y)
        loss.backward()
        self.opt.step()
        return loss

    def step(self):
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        return self.train_step(x, y)

    def value(self, handle):
        return float(handle.item())

    def linreg_params(self):
        return float(self.model.weight.item()), float(self.model.bias.item())

    def inference_model(self):
        return self.model

    def infer(self):
        self.model.eval()
        model, x, lib = self.inference_model(), self.batches[0][0][:1], self.lib

        def call():
            with lib.no_grad():
                return model(x).numpy()

        return call
