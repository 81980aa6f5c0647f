"""Adam and AdamW: PyTorch's single-tensor update (lerp first moment, bias corrections in Python floats)."""

from __future__ import annotations

from ..devices import xp_of
from .optimizer import Optimizer, _hyper, _params_with_grad, _step_tensor, _zeros_like, check_nonnegative


class Adam(Optimizer):
    _decoupled = False

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
        fused=None,
        decoupled_weight_decay=None,
    ):
        check_nonnegative(lr=lr, eps=eps)
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        check_nonnegative(weight_decay=weight_decay)
        if decoupled_weight_decay is None:
            decoupled_weight_decay = self._decoupled
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _step_group(self, group):
        lr, (beta1, beta2), eps = _hyper(group, "lr"), group["betas"], group["eps"]
        wd, amsgrad, maximize = group["weight_decay"], group["amsgrad"], group["maximize"]
        decoupled = group.get("decoupled_weight_decay", self._decoupled)
        beta1, beta2 = float(beta1), float(beta2)
        for p, g in _params_with_grad(group):
            xp = xp_of(p._data)
            d = p._data
            state = self.state[p]
            if len(state) == 0:
                state["step"] = _step_tensor()
                state["exp_avg"] = _zeros_like(p)
                state["exp_avg_sq"] = _zeros_like(p)
                if amsgrad:
                    state["max_exp_avg_sq"] = _zeros_like(p)
            if maximize:
                g = -g
            step_t = state["step"]
            step_t._data += 1
            step_t._bump_version()
            if wd != 0:
                if decoupled:
                    d *= 1 - lr * wd
                else:
                    g = g + d * wd
            m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
            m += (g - m) * (1 - beta1)  # exp_avg.lerp_(grad, 1 - beta1)
            v *= beta2
            v += g * g * (1 - beta2)
            step = step_t._data.item()  # a host scalar when traced
            bias_correction1 = 1 - beta1**step
            bias_correction2 = 1 - beta2**step
            step_size = lr / bias_correction1
            bias_correction2_sqrt = bias_correction2**0.5
            if amsgrad:
                vmax = state["max_exp_avg_sq"]._data
                xp.maximum(vmax, v, out=vmax)
                denom = xp.sqrt(vmax)
            else:
                denom = xp.sqrt(v)
            denom /= bias_correction2_sqrt
            denom += eps
            upd = m / denom
            upd *= -step_size
            d += upd
            for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                if k in state:
                    state[k]._bump_version()
            p._bump_version()


class AdamW(Adam):
    _decoupled = True

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        *,
        maximize=False,
        foreach=None,
        capturable=False,
        differentiable=False,
        fused=None,
    ):
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )
