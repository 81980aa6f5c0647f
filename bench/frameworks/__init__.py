"""The frameworks the suite compares, each one class run in its own worker process.

A framework class is built as ``cls(workload, state)`` (``state``: PyTorch's
initial weights as NumPy arrays) and offers ``reset()`` (initial weights, fresh
optimizer state), ``step()`` (one train step on the next pooled batch; returns
a loss handle without forcing it), ``value(handle)`` (the loss as a float,
forcing pending work), ``linreg_params()`` ((w, b) as floats) and ``infer()``
(a no-argument callable running one batch-1 forward in eval/no-grad mode).
"""

from __future__ import annotations

import importlib
import importlib.util

# name -> (module, class, the packages it needs, the workloads it runs (None: all))
FRAMEWORKS = {
    "torch_eager": ("frameworks.pytorch_fw", "TorchEager", ("torch",), None),
    "torch_compile": ("frameworks.pytorch_fw", "TorchCompile", ("torch",), None),
    "ember_eager": ("frameworks.ember_fw", "EmberEager", (), None),
    "ember_compiled": ("frameworks.ember_fw", "EmberCompiled", (), None),
    "ember_v1": ("frameworks.ember_fw", "EmberSession", (), ("linreg", "mlp_small")),
    "tf_function": ("frameworks.tensorflow_fw", "TFFunction", ("tensorflow",), None),
    "tf_v1": ("frameworks.tensorflow_fw", "TFSession", ("tensorflow",), ("linreg", "mlp_small")),
}
LATENCY_WORKLOADS = ("mlp_large", "resnet20", "gpt_mini")


def missing(name):
    """The packages framework ``name`` needs that are not installed (empty when it can run)."""
    return [m for m in FRAMEWORKS[name][2] if importlib.util.find_spec(m) is None]


def runs(name, workload):
    wl = FRAMEWORKS[name][3]
    return wl is None or workload in wl


def spec(name):
    """``module:Class`` of framework ``name``, as a worker process is told it."""
    module, cls = FRAMEWORKS[name][:2]
    return f"{module}:{cls}"


def load(name):
    """The class of a framework given by registry name or as ``module:Class``."""
    module, cls = name.split(":") if ":" in name else FRAMEWORKS[name][:2]
    return getattr(importlib.import_module(module), cls)
