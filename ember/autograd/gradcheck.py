"""Finite-difference checks of gradients (``gradcheck``) and of gradients of gradients.

Central differences in float64 against the analytical vector-Jacobian
products of the backward engine, one output element at a time.
"""

from __future__ import annotations

import numpy as np


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical gradients disagree."""


def _tensors(inputs):
    from ..tensor import Tensor

    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    return tuple(inputs)


def _outputs(func, inputs):
    from ..tensor import Tensor

    out = func(*inputs)
    if isinstance(out, Tensor):
        return (out,)
    return tuple(o for o in out if isinstance(o, Tensor))


def _numerical(func, inputs, diff_idx, eps):
    """J[k][i]: d(all outputs flattened)/d(input k element i), by central differences."""
    jac = []
    if True:  # grad mode stays on: gradgradcheck's function calls autograd.grad inside
        for k in diff_idx:
            data = inputs[k]._data  # perturbed in place, whatever its strides
            cols = []
            for i in np.ndindex(*data.shape):
                orig = data[i].copy()
                data[i] = orig + eps
                plus = [o._data.astype(np.float64).reshape(-1).copy() for o in _outputs(func, inputs)]
                data[i] = orig - eps
                minus = [o._data.astype(np.float64).reshape(-1).copy() for o in _outputs(func, inputs)]
                data[i] = orig
                cols.append(np.concatenate([(p - m) / (2 * eps) for p, m in zip(plus, minus)]) if plus else np.zeros(0))
            if not cols:
                n_out = sum(o._data.size for o in _outputs(func, inputs))
                jac.append(np.zeros((n_out, 0)))
            else:
                jac.append(np.stack(cols, 1))
    return jac


def _analytical(func, inputs, diff_idx):
    from .. import ops
    from .engine import grad

    outs = _outputs(func, inputs)
    sizes = [o._data.size for o in outs]
    total = sum(sizes)
    jac = [np.zeros((total, inputs[k]._data.size)) for k in diff_idx]
    row = 0
    for oi, o in enumerate(outs):
        if not o._rg:
            row += sizes[oi]
            continue
        for j in range(sizes[oi]):
            seed = np.zeros(o._data.size, dtype=o._data.dtype)
            seed[j] = 1
            gs = grad(
                [o],
                [inputs[k] for k in diff_idx],
                [ops.from_numpy(seed.reshape(o._data.shape))],
                retain_graph=True,
                allow_unused=True,
            )
            for c, g in enumerate(gs):
                if g is not None:
                    jac[c][row + j] = g._data.astype(np.float64).reshape(-1)
        row += sizes[oi]
    return jac


def gradcheck(
    func,
    inputs,
    *,
    eps=1e-6,
    atol=1e-5,
    rtol=1e-3,
    raise_exception=True,
    nondet_tol=0.0,
    check_undefined_grad=True,
    check_grad_dtypes=False,
    check_batched_grad=False,
    fast_mode=False,
    masked=None,
):
    """True when the backward engine's gradients match finite differences."""
    inputs = _tensors(inputs)
    diff_idx = [k for k, x in enumerate(inputs) if hasattr(x, "_rg") and x._rg]
    for k in diff_idx:
        if inputs[k]._data.dtype != np.float64:
            import warnings

            warnings.warn(
                f"gradcheck: input {k} is {inputs[k].dtype}, not float64; finite differences will be inaccurate",
                stacklevel=2,
            )
    numerical = _numerical(func, inputs, diff_idx, eps)
    analytical = _analytical(func, inputs, diff_idx)
    for c, k in enumerate(diff_idx):
        a, n = analytical[c], numerical[c]
        if not np.allclose(a, n, atol=atol, rtol=rtol):
            bad = np.unravel_index(np.argmax(np.abs(a - n) - rtol * np.abs(n)), a.shape) if a.size else ()
            msg = (
                f"Jacobian mismatch for output 0 with respect to input {k},\n"
                f"numerical:{n}\nanalytical:{a}\n"
                f"first mismatch at (output element, input element) {tuple(int(b) for b in bad)}"
            )
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradgradcheck(
    func,
    inputs,
    grad_outputs=None,
    *,
    eps=1e-6,
    atol=1e-5,
    rtol=1e-3,
    gen_non_contig_grad_outputs=False,
    raise_exception=True,
    nondet_tol=0.0,
    check_undefined_grad=True,
    check_grad_dtypes=False,
    check_batched_grad=False,
    fast_mode=False,
    masked=False,
):
    """gradcheck of the gradient itself: second derivatives through ``create_graph=True``."""
    from .. import ops
    from .engine import grad

    inputs = _tensors(inputs)
    outs = _outputs(func, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(
            ops.tensor(rng.standard_normal(o._data.shape), dtype=o.dtype, requires_grad=True) for o in outs
        )
    grad_outputs = _tensors(grad_outputs)
    n_in = len(inputs)
    diff_idx = [k for k, x in enumerate(inputs) if hasattr(x, "_rg") and x._rg]

    def first_grads(*args):
        xs, gos = args[:n_in], args[n_in:]
        o = _outputs(func, xs)
        gs = grad(o, [xs[k] for k in diff_idx], gos, create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_grads, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception)
