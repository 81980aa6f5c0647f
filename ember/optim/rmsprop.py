"""RMSprop (alpha, centered, momentum) and Adagrad (lr_decay, initial_accumulator_value)."""

from __future__ import annotations

from ..devices import xp_of
from .optimizer import Optimizer, _hyper, _params_with_grad, _step_tensor, _zeros_like, check_nonnegative


class RMSprop(Optimizer):
    def __init__(
        self,
        params,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0,
        momentum=0,
        centered=False,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        check_nonnegative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _step_group(self, group):
        lr, alpha, eps = _hyper(group, "lr"), group["alpha"], group["eps"]
        wd, momentum, centered, maximize = (
            group["weight_decay"],
            group["momentum"],
            group["centered"],
            group["maximize"],
        )
        for p, g in _params_with_grad(group):
            xp = xp_of(p._data)
            d = p._data
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _step_tensor()
                state["square_avg"] = _zeros_like(p)
                if momentum > 0:
                    state["momentum_buffer"] = _zeros_like(p)
                if centered:
                    state["grad_avg"] = _zeros_like(p)
            if maximize:
                g = -g
            state["step"]._data += 1
            if wd != 0:
                g = g + d * wd
            sq = state["square_avg"]._data
            sq *= alpha
            sq += g * g * (1 - alpha)
            if centered:
                ga = state["grad_avg"]._data
                ga += (g - ga) * (1 - alpha)
                avg = xp.sqrt(sq - ga * ga)
            else:
                avg = xp.sqrt(sq)
            avg += eps
            if momentum > 0:
                buf = state["momentum_buffer"]._data
                buf *= momentum
                buf += g / avg
                d -= buf * lr
            else:
                d -= (g / avg) * lr
            for v in state.values():
                v._bump_version()
            p._bump_version()


class Adagrad(Optimizer):
    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        fused=None,
    ):
        check_nonnegative(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:  # PyTorch creates Adagrad's state eagerly
            for p in group["params"]:
                state = self.state[p]
                state["step"] = _step_tensor()
                state["sum"] = _zeros_like(p, group["initial_accumulator_value"])

    def _step_group(self, group):
        lr, lr_decay, eps, wd, maximize = (
            _hyper(group, "lr"),
            group["lr_decay"],
            group["eps"],
            group["weight_decay"],
            group["maximize"],
        )
        for p, g in _params_with_grad(group):
            xp = xp_of(p._data)
            d = p._data
            state = self.state[p]
            if "sum" not in state:  # a group added after construction
                state["step"] = _step_tensor()
                state["sum"] = _zeros_like(p, group["initial_accumulator_value"])
            step_t = state["step"]
            step_t._data += 1
            step = step_t._data.item()  # a host scalar when traced
            if maximize:
                g = -g
            if wd != 0:
                g = g + d * wd
            clr = lr / (1 + (step - 1) * lr_decay)
            s = state["sum"]._data
            s += g * g
            std = xp.sqrt(s)
            std += eps
            upd = g / std
            upd *= -clr
            d += upd
            step_t._bump_version()
            state["sum"]._bump_version()
            p._bump_version()
