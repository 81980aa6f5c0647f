"""SGD with momentum, dampening, Nesterov, weight decay and maximize (PyTorch's update order)."""

from __future__ import annotations

from ..devices import xp_of
from .optimizer import Optimizer, _hyper, _make, _params_with_grad, check_nonnegative, required


class SGD(Optimizer):
    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0,
        dampening=0,
        weight_decay=0,
        nesterov=False,
        *,
        maximize=False,
        foreach=None,
        differentiable=False,
        fused=None,
    ):
        if lr is not required:
            check_nonnegative(lr=lr)
        check_nonnegative(momentum=momentum, weight_decay=weight_decay)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            fused=fused,
        )
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _step_group(self, group):
        lr, wd, momentum = _hyper(group, "lr"), group["weight_decay"], group["momentum"]
        dampening, nesterov, maximize = group["dampening"], group["nesterov"], group["maximize"]
        for p, g in _params_with_grad(group):
            d = p._data
            if maximize:
                g = -g
            if wd != 0:
                g = g + d * wd
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = state["momentum_buffer"] = _make(xp_of(d).array(g, dtype=d.dtype, copy=True))
                else:
                    b = buf._data
                    b *= momentum
                    b += g * (1 - dampening) if dampening != 0 else g
                    buf._bump_version()
                g = g + buf._data * momentum if nesterov else buf._data
            d -= g if type(lr) is float and lr == 1 else g * lr  # (a traced lr is a host scalar: g * 1.0 == g)
            p._bump_version()
