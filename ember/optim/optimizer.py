"""``Optimizer``: parameter groups, per-parameter state and PyTorch's state_dict format.

Steps run under ``no_grad`` and update each parameter's array in place with the
array module's in-place ufuncs (NumPy or CuPy), then bump its version counter.
"""

from __future__ import annotations

import copy
from collections import OrderedDict, defaultdict
from itertools import chain

import numpy as np

from ..autograd.grad_mode import enable_grad, no_grad
from ..tensor import Tensor, _make


class _RequiredParameter:
    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


class _Handle:
    def __init__(self, store, key):
        self._store, self._key = store, key

    def remove(self):
        self._store.pop(self._key, None)


def check_nonnegative(**hyperparameters):
    """Refuse negative hyper-parameters with PyTorch's messages ("Invalid learning rate: -1")."""
    for name, value in hyperparameters.items():
        if not 0.0 <= value:
            label = {"lr": "learning rate", "eps": "epsilon value"}.get(name, f"{name} value")
            raise ValueError(f"Invalid {label}: {value}")


class Optimizer:
    """Base class of all optimizers (``torch.optim.Optimizer``)."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        self._step_pre_hooks = OrderedDict()
        self._step_post_hooks = OrderedDict()
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or dicts, but got "
                + type(params).__name__
            )
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ---- groups -------------------------------------------------------------
    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the ordering of tensors in "
                "sets will change between runs. Please use a list instead."
            )
        else:
            param_group["params"] = list(params)
        params = param_group["params"]
        if params and isinstance(params[0], tuple):  # named parameters
            param_group["param_names"] = [n for n, _ in params]
            param_group["params"] = params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + type(p).__name__)
            if not self.defaults.get("differentiable", None) and not (p.is_leaf or getattr(p, "retains_grad", False)):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        if len({id(p) for p in params}) != len(params):
            import warnings

            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, this will cause an error",
                stacklevel=3,
            )
        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ---- gradients ----------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True):
        if _tracing():  # inside ember.compile: a cleared .grad is replayed at every call
            from ..graph.trace import capture_optimizer

            capture_optimizer(self, state=False)
        for group in self.param_groups:
            for p in group["params"]:
                g = p._grad
                if g is None:
                    continue
                if set_to_none:
                    p._grad = None
                else:
                    g._node, g._rg = None, False
                    g._data[...] = 0
                    g._bump_version()

    # ---- step ---------------------------------------------------------------
    def step(self, closure=None):
        for hook in list(self._step_pre_hooks.values()):
            res = hook(self, (), {})
            if res is not None:
                raise RuntimeError("optimizer step pre-hooks may not return new arguments in ember")
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            if _tracing():  # inside ember.compile: state and params become graph state first
                from ..graph.trace import capture_optimizer

                capture_optimizer(self)
            for group in self.param_groups:
                self._step_group(group)
        self._opt_called = True
        for hook in list(self._step_post_hooks.values()):
            hook(self, (), {})
        return loss

    def _step_group(self, group):  # pragma: no cover - every optimizer overrides it
        raise NotImplementedError

    def register_step_pre_hook(self, hook):
        key = object()
        self._step_pre_hooks[key] = hook
        return _Handle(self._step_pre_hooks, key)

    def register_step_post_hook(self, hook):
        key = object()
        self._step_post_hooks[key] = hook
        return _Handle(self._step_post_hooks, key)

    # ---- state_dict ---------------------------------------------------------
    def state_dict(self):
        """``{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]}``, as PyTorch."""
        index = {}
        start = 0

        def pack(group):
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                index.setdefault(id(p), i)
            packed["params"] = [index[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        groups = [pack(g) for g in self.param_groups]
        state = {index[id(p)]: v for p, v in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state dict from ``state_dict()`` (PyTorch's format; torch tensors are converted)."""
        state_dict = dict(state_dict)
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
            )
        id_map = dict(
            zip(
                chain.from_iterable(s["params"] for s in saved_groups), chain.from_iterable(g["params"] for g in groups)
            )
        )
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                p = id_map[k]
                state[p] = {key: _cast(p, val, key) for key, val in v.items()} if isinstance(v, dict) else v
            else:
                state[k] = v
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            new_groups.append(saved)
        self.state = state
        self.param_groups = new_groups

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._step_pre_hooks = OrderedDict()
        self._step_post_hooks = OrderedDict()

    def __repr__(self):
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}"
            for key in sorted(group):
                if key != "params":
                    s += f"\n    {key}: {group[key]}"
        return s + "\n)"


def _to_array(value):
    if isinstance(value, Tensor):
        return value._data
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch.Tensor from a PyTorch checkpoint
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _cast(param, value, key):
    """A loaded state value as an ember tensor: floats take the parameter's dtype and device ('step' stays)."""
    if isinstance(value, dict):
        return {k: _cast(param, v, k) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        if key == "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return _make(np.asarray(float(value), dtype=np.float32))
        return value
    if not isinstance(value, Tensor) and not hasattr(value, "__array__"):
        return value
    arr = _to_array(value)
    if key == "step":
        return _make(np.array(arr, dtype=arr.dtype if arr.dtype.kind == "f" else np.float32))
    from ..devices import move

    if arr.dtype.kind == "f" and param.is_floating_point():
        arr = (
            arr.astype(param._data.dtype, copy=True)
            if not isinstance(arr, np.ndarray)
            else np.array(arr, dtype=param._data.dtype)
        )
        if param.device.type != "cpu":
            arr = move(arr, param.device)
    else:
        arr = arr.copy()
    return _make(arr)


# ---- helpers for the in-place steps ---------------------------------------------
def _tracing():
    from ..graph.build import Building

    return bool(Building.stack) and Building.stack[-1].capture == "state"


def _hyper(group, name):
    """A hyper-parameter as a Python float; inside ``ember.compile`` one read again at every call
    (a scheduler changes ``group["lr"]`` between steps)."""
    if _tracing():
        from ..graph.host import host_input

        return host_input(lambda: float(group[name]), name=name)
    return float(group[name])


def _zeros_like(p, fill=0):
    from ..devices import xp_of

    xp = xp_of(p._data)
    return _make(xp.zeros_like(p._data) if fill == 0 else xp.full_like(p._data, fill))


def _step_tensor():
    from ..dtypes import get_default_dtype

    return _make(np.zeros((), dtype=np.float64 if get_default_dtype().np == np.float64 else np.float32))


def _params_with_grad(group):
    for p in group["params"]:
        if p._grad is not None:
            g = p._grad
            if getattr(g, "is_sparse", False):
                raise RuntimeError("ember optimizers do not support sparse gradients")
            yield p, g._data
