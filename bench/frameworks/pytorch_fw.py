"""PyTorch eager, and torch.compile of the model with its loss (Inductor; the optimizer stays eager)."""

from __future__ import annotations

import torch

from frameworks.torch_api import TorchAPI


class TorchEager(TorchAPI):
    lib = torch


class TorchCompile(TorchAPI):
    """Forward and loss compiled (AOTAutograd also compiles their backward); optimizer.step eager."""

    lib = torch

    def __init__(self, workload, state):
        super().__init__(workload, state)
        self.compiled_loss = torch.compile(lambda x, y: self.loss_fn(self.model, x, y))

    def train_step(self, x, y):
        self.opt.zero_grad()
        loss = self.compiled_loss(x, y)
        loss.backward()
        self.opt.step()
        return loss

    def inference_model(self):
        return torch.compile(self.model)
