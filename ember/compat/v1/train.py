"""tf.train: TF1 optimizers as graph ops, written in ember ops with TF's kernel formulas.

``minimize`` = ``compute_gradients`` (tf.gradients, i.e. the op table's VJPs)
+ ``apply_gradients``, which builds each variable's update from its reads and
its slot Variables and writes it with ASSIGN nodes. Each update follows the
arithmetic of TF's C++ kernel (training_ops.cc), in the variable's dtype, so
results match TensorFlow to float rounding. Saver lives in saver.py.
"""

from __future__ import annotations

import numpy as np

from ... import ops as F
from .framework import building, convert_to_tensor, get_default_graph, int64
from .ops_api import Operation, control_dependencies, gradients, group, name_scope
from .saver import Saver, checkpoint_exists, get_checkpoint_state, latest_checkpoint  # noqa: F401
from .variables import GraphKeys, Variable, get_variable, trainable_variables, variable_scope


# ---- global step -----------------------------------------------------------------------------------
def get_global_step(graph=None):
    g = graph or get_default_graph()
    got = g.get_collection(GraphKeys.GLOBAL_STEP)
    if len(got) > 1:
        raise TypeError("There are multiple items in collection global_step. There should be only one.")
    return got[0] if got else None


def create_global_step(graph=None):
    g = graph or get_default_graph()
    if get_global_step(g) is not None:
        raise ValueError('"global_step" already exists.')
    from .initializers import zeros_initializer

    with variable_scope("", reuse=False, auxiliary_name_scope=False):
        return get_variable(
            "global_step", shape=[], dtype=int64, initializer=zeros_initializer(), trainable=False,
            collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP],
        )  # fmt: skip


def get_or_create_global_step(graph=None):
    return get_global_step(graph) or create_global_step(graph)


def global_step(sess, global_step_tensor):
    return int(sess.run(global_step_tensor))


# ---- optimizers ----------------------------------------------------------------------------------------
def _f(dtype, x):
    """A hyper-parameter as a scalar of the variable's dtype (TF casts them before the kernel).

    ``1 - beta`` etc. are computed in that dtype, as TF's kernels do; a NumPy
    scalar passes through the op exactly (a Python float of the same value).
    """
    if hasattr(x, "_data"):
        return x if x.dtype.np == dtype else F.cast(x, dtype=_ember_dtype(dtype))
    return float(np.dtype(dtype).type(x))


def _one_minus(dtype, x):
    """``1 - x`` rounded in ``dtype`` (TF computes ``T(1) - beta()`` in the kernel's type)."""
    t = np.dtype(dtype).type
    return float(t(1) - t(x))


def _ember_dtype(np_dtype):
    from ... import dtypes as dt

    return dt.from_numpy_dtype(np.dtype(np_dtype))


class Optimizer:
    """The TF1 optimizer protocol: slots per variable, one dense update per (grad, var), then ``_finish``."""

    GATE_NONE, GATE_OP, GATE_GRAPH = 0, 1, 2

    def __init__(self, use_locking, name):
        if not name:
            raise ValueError("Must specify the optimizer name")
        self._name = name
        self._slots = {}  # slot name -> {variable: slot Variable}
        self._non_slots = {}

    def get_name(self):
        return self._name

    # ---- gradients ------------------------------------------------------------------------------------
    def compute_gradients(self, loss, var_list=None, gate_gradients=GATE_OP, aggregation_method=None,
                          colocate_gradients_with_ops=False, grad_loss=None):  # fmt: skip
        if callable(loss):
            raise NotImplementedError("compute_gradients(callable): graph mode takes the loss tensor")
        if var_list is None:
            var_list = trainable_variables()
        var_list = list(var_list)
        if not var_list:
            raise ValueError("No variables to optimize.")
        grads = gradients(loss, var_list, grad_ys=grad_loss)
        return list(zip(grads, var_list))

    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=GATE_OP, aggregation_method=None,
                 colocate_gradients_with_ops=False, name=None, grad_loss=None):  # fmt: skip
        grads_and_vars = self.compute_gradients(loss, var_list=var_list, grad_loss=grad_loss)
        if not any(g is not None for g, _ in grads_and_vars):
            names = [v.name for _, v in grads_and_vars]
            raise ValueError(
                f"No gradients provided for any variable, check your graph for ops that do not support gradients, "
                f"between variables {names} and loss {loss!r}."
            )
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        pairs = [(g, v) for g, v in grads_and_vars]
        if not pairs:
            raise ValueError("No variables provided.")
        for _, v in pairs:
            if not isinstance(v, Variable):
                raise TypeError(f"Can not optimize {v!r}: it is not a tf.Variable")
        pairs = [(g, v) for g, v in pairs if g is not None]
        if not pairs:
            raise ValueError(f"No gradients provided for any variable: {[v.name for _, v in grads_and_vars]}.")
        graph = pairs[0][1].graph
        with building(graph):
            self._create_slots([v for _, v in pairs])
            with name_scope(name or self._name):
                self._prepare()
                updates = []
                for g, v in pairs:
                    g = convert_to_tensor(g)
                    if g.dtype != v.dtype:
                        raise TypeError(
                            f"{self._name}: gradient dtype {g.dtype.name} does not match {v.name} {v.dtype.name}"
                        )
                    with name_scope("update_" + v._slot.name):
                        updates.append(self._apply_dense(g, v))
                finish = self._finish(updates, "update")
                if global_step is None:
                    return finish
                with control_dependencies([finish]):
                    return Operation(global_step.assign_add(1, name=name or self._name)._data.value.node)

    # ---- slots ----------------------------------------------------------------------------------------
    def _slot_variable(self, var, slot_name, op_name, init):
        """A non-trainable Variable named ``var/op_name`` starting from ``init`` (an array)."""
        per = self._slots.setdefault(slot_name, {})
        if var in per:
            return per[var]
        with name_scope(None):
            s = Variable(init, trainable=False, name=f"{var._slot.name}/{op_name}")
        per[var] = s
        return s

    def _zeros_slot(self, var, slot_name, op_name):
        return self._slot_variable(var, slot_name, op_name, np.zeros(var._slot.shape, var._slot.dtype))

    def _filled_slot(self, var, slot_name, op_name, value):
        return self._slot_variable(var, slot_name, op_name, np.full(var._slot.shape, value, var._slot.dtype))

    def _non_slot(self, name, value, dtype):
        got = self._non_slots.get(name)
        if got is None:
            with name_scope(None):
                got = Variable(np.asarray(value, dtype=dtype), trainable=False, name=name)
            self._non_slots[name] = got
        return got

    def get_slot(self, var, name):
        return self._slots.get(name, {}).get(var)

    def get_slot_names(self):
        return sorted(self._slots)

    def variables(self):
        out = list(self._non_slots.values())
        for per in self._slots.values():
            out.extend(per.values())
        return out

    def _create_slots(self, var_list):
        pass

    def _prepare(self):
        pass

    def _finish(self, update_ops, name_scope_):
        return group(*update_ops, name=name_scope_)

    def _apply_dense(self, grad, var):
        raise NotImplementedError


class GradientDescentOptimizer(Optimizer):
    """var -= lr * grad."""

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(use_locking, name)
        self._lr = learning_rate

    def _apply_dense(self, grad, var):
        lr = _f(var._slot.dtype, self._lr)
        return var.assign(var - grad * lr)


class MomentumOptimizer(Optimizer):
    """accum = accum * momentum + grad; var -= lr * accum (Nesterov: var -= grad*lr + accum*momentum*lr)."""

    def __init__(self, learning_rate, momentum, use_locking=False, name="Momentum", use_nesterov=False):
        super().__init__(use_locking, name)
        self._lr, self._momentum, self._nesterov = learning_rate, momentum, use_nesterov

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "momentum", self._name)

    def _apply_dense(self, grad, var):
        dt = var._slot.dtype
        lr, mu = _f(dt, self._lr), _f(dt, self._momentum)
        acc = self.get_slot(var, "momentum")
        new_acc = acc.assign(acc * mu + grad)
        if self._nesterov:
            new_var = var - (grad * lr + new_acc * mu * lr)
        else:
            new_var = var - new_acc * lr
        return group(new_acc, var.assign(new_var))


class AdamOptimizer(Optimizer):
    """TF1 Adam: lr_t = lr*sqrt(1-beta2^t)/(1-beta1^t); var -= m*lr_t / (sqrt(v) + epsilon)."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, use_locking=False, name="Adam"):
        super().__init__(use_locking, name)
        self._lr, self._beta1, self._beta2, self._eps = learning_rate, beta1, beta2, epsilon

    def _create_slots(self, var_list):
        first = min(var_list, key=lambda v: v._slot.name)
        dt = first._slot.dtype
        self._non_slot("beta1_power", self._beta1, dt)
        self._non_slot("beta2_power", self._beta2, dt)
        for v in var_list:
            self._zeros_slot(v, "m", self._name)
            self._zeros_slot(v, "v", self._name + "_1")

    def _get_beta_accumulators(self):
        return self._non_slots["beta1_power"], self._non_slots["beta2_power"]

    def _apply_dense(self, grad, var):
        dt = var._slot.dtype
        b1p, b2p = self._get_beta_accumulators()
        lr, eps = _f(dt, self._lr), _f(dt, self._eps)
        alpha = lr * F.sqrt(1.0 - b2p) / (1.0 - b1p)
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        new_m = m.assign(m + (grad - m) * _one_minus(dt, self._beta1))
        new_v = v.assign(v + (grad * grad - v) * _one_minus(dt, self._beta2))
        new_var = var.assign(var - (new_m * alpha) / (F.sqrt(new_v) + eps))
        return group(new_m, new_v, new_var)

    def _finish(self, update_ops, name_scope_):
        b1p, b2p = self._get_beta_accumulators()
        dt = b1p._slot.dtype
        with control_dependencies(update_ops):
            u1 = b1p.assign(b1p.read_value() * _f(dt, self._beta1))
            u2 = b2p.assign(b2p.read_value() * _f(dt, self._beta2))
        return group(*update_ops, u1, u2, name=name_scope_)


class RMSPropOptimizer(Optimizer):
    """ms += (g^2 - ms)(1-decay); mom = mom*momentum + lr*g/sqrt(ms + eps); var -= mom (centered: ms - mg^2)."""

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10, use_locking=False, centered=False,
                 name="RMSProp"):  # fmt: skip
        super().__init__(use_locking, name)
        self._lr, self._decay, self._momentum, self._eps, self._centered = (
            learning_rate, decay, momentum, epsilon, centered,
        )  # fmt: skip

    def _create_slots(self, var_list):
        for v in var_list:
            self._filled_slot(v, "rms", self._name, 1.0)  # TF1 starts the mean square at ones
            if self._centered:
                self._zeros_slot(v, "mg", self._name + "_1")
            self._zeros_slot(v, "momentum", self._name + ("_2" if self._centered else "_1"))

    def _apply_dense(self, grad, var):
        dt = var._slot.dtype
        lr, mu, eps = _f(dt, self._lr), _f(dt, self._momentum), _f(dt, self._eps)
        one_minus_rho = _one_minus(dt, self._decay)
        ms, mom = self.get_slot(var, "rms"), self.get_slot(var, "momentum")
        new_ms = ms.assign(ms + (grad * grad - ms) * one_minus_rho)
        outs = [new_ms]
        if self._centered:
            mg = self.get_slot(var, "mg")
            new_mg = mg.assign(mg + (grad - mg) * one_minus_rho)
            outs.append(new_mg)
            denom = (new_ms - new_mg * new_mg) + eps
        else:
            denom = new_ms + eps
        new_mom = mom.assign(mom * mu + (grad * lr) / F.sqrt(denom))
        outs += [new_mom, var.assign(var - new_mom)]
        return group(*outs)


class AdagradOptimizer(Optimizer):
    """accum += g^2; var -= lr * g / sqrt(accum) (TF's rsqrt), accum starting at initial_accumulator_value."""

    def __init__(self, learning_rate, initial_accumulator_value=0.1, use_locking=False, name="Adagrad"):
        if initial_accumulator_value <= 0.0:
            raise ValueError(f"initial_accumulator_value must be positive: {initial_accumulator_value}")
        super().__init__(use_locking, name)
        self._lr, self._init = learning_rate, initial_accumulator_value

    def _create_slots(self, var_list):
        for v in var_list:
            self._filled_slot(v, "accumulator", self._name, self._init)

    def _apply_dense(self, grad, var):
        lr = _f(var._slot.dtype, self._lr)
        acc = self.get_slot(var, "accumulator")
        new_acc = acc.assign(acc + grad * grad)
        return group(new_acc, var.assign(var - grad * lr * F.rsqrt(new_acc)))


class AdadeltaOptimizer(Optimizer):
    """TF's kernel: accum = accum*rho + g^2(1-rho); update = sqrt(accum_update + eps) * rsqrt(accum + eps) * g;
    accum_update = accum_update*rho + update^2(1-rho); var -= lr * update."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-8, use_locking=False, name="Adadelta"):
        super().__init__(use_locking, name)
        self._lr, self._rho, self._eps = learning_rate, rho, epsilon

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "accum", self._name)
            self._zeros_slot(v, "accum_update", self._name + "_1")

    def _apply_dense(self, grad, var):
        dt = var._slot.dtype
        lr, rho, eps = _f(dt, self._lr), _f(dt, self._rho), _f(dt, self._eps)
        one_minus_rho = _one_minus(dt, self._rho)
        acc, acc_up = self.get_slot(var, "accum"), self.get_slot(var, "accum_update")
        new_acc = acc.assign(acc * rho + grad * grad * one_minus_rho)
        update = F.sqrt(acc_up + eps) * F.rsqrt(new_acc + eps) * grad
        new_acc_up = acc_up.assign(acc_up * rho + update * update * one_minus_rho)
        return group(new_acc, new_acc_up, var.assign(var - update * lr))


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False, name=None):
    """lr * decay_rate ** (global_step / decay_steps), in float32 (floored when staircase)."""
    with building(get_default_graph()):
        step = F.cast(convert_to_tensor(global_step), dtype=_ember_dtype(np.float32))
        p = step / float(np.float32(decay_steps))
        if staircase:
            p = F.floor(p)
        return F.pow(float(np.float32(decay_rate)), p) * float(np.float32(learning_rate))


__all__ = [
    "AdadeltaOptimizer", "AdagradOptimizer", "AdamOptimizer", "GradientDescentOptimizer", "MomentumOptimizer", "Optimizer",
    "RMSPropOptimizer", "Saver", "checkpoint_exists", "create_global_step", "exponential_decay",
    "get_checkpoint_state", "get_global_step", "get_or_create_global_step", "global_step", "latest_checkpoint",
]  # fmt: skip
