"""TF1's recurrent API: ``tf.nn.rnn_cell`` cells and ``tf.nn.static_rnn``/``dynamic_rnn``.

The cells compute exactly TF's formulas in TF's op order (one matmul over
``concat([inputs, h])``, gates split i, j, f, o for LSTMs; r, u for GRUs) and
make their weights with ``get_variable`` under TF's names
(``rnn/basic_lstm_cell/kernel`` [in + units, 4 * units], ``.../bias``), so a
tutorial's checkpoint names and numbers match TF's. ``dynamic_rnn`` unrolls
over the static time dimension (TF's while_loop runs the same cell ops).
"""

from __future__ import annotations

import collections

import numpy as np

from ... import dtypes as _dt
from ... import ops as F
from . import array_ops as A
from . import framework as fw
from . import math_ops as M
from . import nn_ops
from ._convert import constant_tensor, to_tensor


def _vs():
    from .variables import get_variable, variable_scope

    return variable_scope, get_variable


class LSTMStateTuple(collections.namedtuple("LSTMStateTuple", ("c", "h"))):
    """An LSTM's state: the cell state ``c`` and the output ``h``."""

    __slots__ = ()

    @property
    def dtype(self):
        return self.c.dtype


def _flat(structure):
    if isinstance(structure, (tuple, list)):
        return [x for s in structure for x in _flat(s)]
    return [structure]


def _pack_like(structure, flat):
    it = iter(flat)

    def pack(s):
        if isinstance(s, LSTMStateTuple):
            return LSTMStateTuple(pack(s.c), pack(s.h))
        if isinstance(s, (tuple, list)):
            return type(s)(pack(x) for x in s)
        return next(it)

    return pack(structure)


class RNNCell:
    """Base cell: ``cell(inputs, state) -> (output, new_state)``; weights made on the first call."""

    _base_name = "rnn_cell"

    def __init__(self, num_units=None, activation=None, reuse=None, name=None, dtype=None):
        self._num_units = num_units
        self._activation = activation or M.tanh
        self._reuse = reuse
        self._name = name
        self._dtype = dtype
        self._built = False
        self._variables = []

    @property
    def state_size(self):
        return self._num_units

    @property
    def output_size(self):
        return self._num_units

    @property
    def variables(self):
        return list(self._variables)

    trainable_variables = weights = trainable_weights = variables

    def zero_state(self, batch_size, dtype):
        """Zeros of ``[batch_size, size]`` for each part of the state (batch_size may be a tensor)."""

        def zeros(size):
            if isinstance(batch_size, int):
                return A.zeros([batch_size, size], dtype=dtype)
            # a batch known only at run time: say the other dim is known, so gradients can fit shapes
            dims = M.cast(A.stack([to_tensor(batch_size), size]), _dt.int64)
            zero = constant_tensor(np.zeros((), fw.as_dtype(dtype).np))
            return F.broadcast_dynamic(zero, dims, shape=(None, size))

        s = self.state_size
        if isinstance(s, LSTMStateTuple):
            return LSTMStateTuple(zeros(s.c), zeros(s.h))
        if isinstance(s, tuple):
            return tuple(_zeros_like_size(x, zeros) for x in s)
        return zeros(s)

    def _variable(self, name, shape, dtype, initializer=None):
        _, get_variable = _vs()
        v = get_variable(name, shape, dtype=dtype, initializer=initializer)
        self._variables.append(v)
        return v

    def __call__(self, inputs, state, scope=None):
        inputs = to_tensor(inputs)
        if not self._built:
            variable_scope, _ = _vs()
            depth = inputs.shape[-1]
            if depth is None:
                raise ValueError(f"{type(self).__name__}: the inputs' last dimension must be known, got {inputs.shape}")
            name = scope or self._name
            with variable_scope(name, default_name=None if name else self._base_name, reuse=self._reuse):
                self.build(int(depth), inputs.dtype)
            self._built = True
        return self.call(inputs, state)

    def _matmul_bias(self, inputs, h, kernel, bias):
        out = M.matmul(A.concat([inputs, h], 1), kernel)
        return nn_ops.bias_add(out, bias)


def _zeros_like_size(size, zeros):
    if isinstance(size, LSTMStateTuple):
        return LSTMStateTuple(zeros(size.c), zeros(size.h))
    if isinstance(size, tuple):
        return tuple(_zeros_like_size(s, zeros) for s in size)
    return zeros(size)


def _zeros_init():
    from .initializers import zeros_initializer

    return zeros_initializer()


class BasicRNNCell(RNNCell):
    """output = new_state = act(concat([x, h]) @ kernel + bias)."""

    _base_name = "basic_rnn_cell"

    def build(self, depth, dtype):
        self._kernel = self._variable("kernel", [depth + self._num_units, self._num_units], dtype)
        self._bias = self._variable("bias", [self._num_units], dtype, _zeros_init())

    def call(self, inputs, state):
        out = self._activation(self._matmul_bias(inputs, state, self._kernel, self._bias))
        return out, out


class BasicLSTMCell(RNNCell):
    """TF's BasicLSTMCell: gates i, j, f, o; c' = c*sig(f + forget_bias) + sig(i)*act(j); h' = act(c')*sig(o)."""

    _base_name = "basic_lstm_cell"

    def __init__(self, num_units, forget_bias=1.0, state_is_tuple=True, activation=None, reuse=None, name=None,
                 dtype=None, **kwargs):  # fmt: skip
        super().__init__(num_units, activation, reuse, name, dtype)
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple

    @property
    def state_size(self):
        n = self._num_units
        return LSTMStateTuple(n, n) if self._state_is_tuple else 2 * n

    def build(self, depth, dtype):
        n = self._num_units
        self._kernel = self._variable("kernel", [depth + n, 4 * n], dtype)
        self._bias = self._variable("bias", [4 * n], dtype, _zeros_init())

    def call(self, inputs, state):
        c, h = state if self._state_is_tuple else A.split(state, 2, axis=1)
        i, j, f, o = A.split(self._matmul_bias(inputs, h, self._kernel, self._bias), 4, axis=1)
        forget_bias = M.cast(self._forget_bias, f.dtype)
        new_c = M.add(M.multiply(c, M.sigmoid(M.add(f, forget_bias))), M.multiply(M.sigmoid(i), self._activation(j)))
        new_h = M.multiply(self._activation(new_c), M.sigmoid(o))
        new_state = LSTMStateTuple(new_c, new_h) if self._state_is_tuple else A.concat([new_c, new_h], 1)
        return new_h, new_state


class LSTMCell(RNNCell):
    """TF's LSTMCell: BasicLSTMCell's gates plus optional peepholes, cell clipping and a projection."""

    _base_name = "lstm_cell"

    def __init__(self, num_units, use_peepholes=False, cell_clip=None, initializer=None, num_proj=None,
                 proj_clip=None, num_unit_shards=None, num_proj_shards=None, forget_bias=1.0, state_is_tuple=True,
                 activation=None, reuse=None, name=None, dtype=None, **kwargs):  # fmt: skip
        super().__init__(num_units, activation, reuse, name, dtype)
        self._use_peepholes = use_peepholes
        self._cell_clip = cell_clip
        self._initializer = initializer
        self._num_proj = num_proj
        self._proj_clip = proj_clip
        self._forget_bias = forget_bias
        self._state_is_tuple = state_is_tuple

    @property
    def state_size(self):
        n, p = self._num_units, self._num_proj or self._num_units
        return LSTMStateTuple(n, p) if self._state_is_tuple else n + p

    @property
    def output_size(self):
        return self._num_proj or self._num_units

    def build(self, depth, dtype):
        n, p = self._num_units, self._num_proj or self._num_units
        self._kernel = self._variable("kernel", [depth + p, 4 * n], dtype, self._initializer)
        self._bias = self._variable("bias", [4 * n], dtype, _zeros_init())
        if self._use_peepholes:
            self._w_f_diag = self._variable("w_f_diag", [n], dtype, self._initializer)
            self._w_i_diag = self._variable("w_i_diag", [n], dtype, self._initializer)
            self._w_o_diag = self._variable("w_o_diag", [n], dtype, self._initializer)
        if self._num_proj is not None:
            variable_scope, _ = _vs()
            with variable_scope("projection"):
                self._proj_kernel = self._variable("kernel", [n, self._num_proj], dtype, self._initializer)

    def call(self, inputs, state):
        n = self._num_units
        if self._state_is_tuple:
            c_prev, m_prev = state
        else:
            c_prev, m_prev = A.split(state, [n, self._num_proj or n], axis=1)
        i, j, f, o = A.split(self._matmul_bias(inputs, m_prev, self._kernel, self._bias), 4, axis=1)
        act, sig = self._activation, M.sigmoid
        if self._use_peepholes:
            c = sig(f + self._forget_bias + self._w_f_diag * c_prev) * c_prev + sig(i + self._w_i_diag * c_prev) * act(
                j
            )
        else:
            c = sig(f + self._forget_bias) * c_prev + sig(i) * act(j)
        if self._cell_clip is not None:
            c = M.clip_by_value(c, -self._cell_clip, self._cell_clip)
        m = sig(o + self._w_o_diag * c) * act(c) if self._use_peepholes else sig(o) * act(c)
        if self._num_proj is not None:
            m = M.matmul(m, self._proj_kernel)
            if self._proj_clip is not None:
                m = M.clip_by_value(m, -self._proj_clip, self._proj_clip)
        new_state = LSTMStateTuple(c, m) if self._state_is_tuple else A.concat([c, m], 1)
        return m, new_state


class GRUCell(RNNCell):
    """TF's GRUCell: r, u = split(sig([x, h] @ gates)); c = act([x, r*h] @ candidate); h' = u*h + (1-u)*c."""

    _base_name = "gru_cell"

    def __init__(self, num_units, activation=None, reuse=None, kernel_initializer=None, bias_initializer=None,
                 name=None, dtype=None, **kwargs):  # fmt: skip
        super().__init__(num_units, activation, reuse, name, dtype)
        self._kernel_initializer = kernel_initializer
        self._bias_initializer = bias_initializer

    def build(self, depth, dtype):
        from .initializers import constant_initializer

        variable_scope, _ = _vs()
        n, ki, bi = self._num_units, self._kernel_initializer, self._bias_initializer
        with variable_scope("gates"):
            self._gate_kernel = self._variable("kernel", [depth + n, 2 * n], dtype, ki)
            self._gate_bias = self._variable("bias", [2 * n], dtype, bi or constant_initializer(1.0, dtype=dtype))
        with variable_scope("candidate"):
            self._candidate_kernel = self._variable("kernel", [depth + n, n], dtype, ki)
            self._candidate_bias = self._variable("bias", [n], dtype, bi or _zeros_init())

    def call(self, inputs, state):
        value = M.sigmoid(self._matmul_bias(inputs, state, self._gate_kernel, self._gate_bias))
        r, u = A.split(value, 2, axis=1)
        c = self._activation(self._matmul_bias(inputs, r * state, self._candidate_kernel, self._candidate_bias))
        new_h = u * state + (1 - u) * c
        return new_h, new_h


class MultiRNNCell(RNNCell):
    """Cells stacked: cell i runs in scope ``cell_i`` on the previous cell's output."""

    _base_name = "multi_rnn_cell"

    def __init__(self, cells, state_is_tuple=True):
        super().__init__(None)
        if not cells:
            raise ValueError("Must specify at least one cell for MultiRNNCell.")
        if not state_is_tuple:
            raise NotImplementedError("MultiRNNCell(state_is_tuple=False) is deprecated in TF and not supported")
        self._cells = list(cells)

    @property
    def state_size(self):
        return tuple(c.state_size for c in self._cells)

    @property
    def output_size(self):
        return self._cells[-1].output_size

    @property
    def variables(self):
        return [v for c in self._cells for v in c.variables]

    def __call__(self, inputs, state, scope=None):
        if self._built:
            return self.call(inputs, state)
        variable_scope, _ = _vs()
        with variable_scope(scope or self._name, default_name=None if scope or self._name else self._base_name):
            out = self.call(inputs, state)
        self._built = True
        return out

    def call(self, inputs, state):
        variable_scope, _ = _vs()
        cur, new_states = inputs, []
        for i, cell in enumerate(self._cells):
            if cell._built:
                cur, s = cell(cur, state[i])
            else:
                with variable_scope(f"cell_{i}"):
                    cur, s = cell(cur, state[i])
            new_states.append(s)
        return cur, tuple(new_states)


class DropoutWrapper(RNNCell):
    """Dropout on a cell's inputs and outputs (keep probabilities, TF1's arguments)."""

    def __init__(self, cell, input_keep_prob=1.0, output_keep_prob=1.0, state_keep_prob=1.0, seed=None, **kwargs):
        super().__init__(None)
        self._cell = cell
        self._in, self._out, self._seed = input_keep_prob, output_keep_prob, seed
        if not (isinstance(state_keep_prob, (int, float)) and state_keep_prob == 1.0):
            raise NotImplementedError("DropoutWrapper(state_keep_prob<1) is not supported")

    state_size = property(lambda self: self._cell.state_size)
    output_size = property(lambda self: self._cell.output_size)
    variables = property(lambda self: self._cell.variables)

    def zero_state(self, batch_size, dtype):
        return self._cell.zero_state(batch_size, dtype)

    def __call__(self, inputs, state, scope=None):
        if not (isinstance(self._in, (int, float)) and self._in == 1.0):
            inputs = nn_ops.dropout(inputs, keep_prob=self._in, seed=self._seed)
        out, new_state = self._cell(inputs, state, scope)
        if not (isinstance(self._out, (int, float)) and self._out == 1.0):
            out = nn_ops.dropout(out, keep_prob=self._out, seed=self._seed)
        return out, new_state


def _batch_size(x):
    b = x.shape[0]
    return int(b) if b is not None else A.shape(x)[0]


def _initial(cell, initial_state, dtype, first):
    if initial_state is not None:
        return initial_state
    if dtype is None:
        raise ValueError("If no initial_state is provided, dtype must be specified")
    return cell.zero_state(_batch_size(first), dtype)


def _masked(step, seq_len, new, old):
    """Where time ``step`` >= sequence_length keep ``old`` (TF copies state and zeroes outputs there)."""
    done = M.greater_equal(M.cast(step, seq_len.dtype), seq_len)  # [batch]
    return A.where(done, old, new)


def static_rnn(cell, inputs, initial_state=None, dtype=None, sequence_length=None, scope=None):
    """Run ``cell`` over a list of [batch, depth] inputs; returns (outputs list, final state)."""
    variable_scope, _ = _vs()
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise TypeError("static_rnn: inputs must be a non-empty list of tensors, one per time step")
    inputs = [to_tensor(x) for x in inputs]
    with variable_scope(scope or "rnn"):
        state = _initial(cell, initial_state, dtype, inputs[0])
        return _unroll(cell, inputs, state, sequence_length)


def _unroll(cell, inputs, state, sequence_length):
    seq = to_tensor(sequence_length) if sequence_length is not None else None
    outputs = []
    for t, x in enumerate(inputs):
        out, new_state = cell(x, state)
        if seq is not None:
            zero = M.multiply(out, 0.0)
            out = _masked(t, seq, out, zero)
            new_state = _pack_like(new_state, [_masked(t, seq, n, o) for n, o in zip(_flat(new_state), _flat(state))])
        outputs.append(out)
        state = new_state
    return outputs, state


def dynamic_rnn(cell, inputs, sequence_length=None, initial_state=None, dtype=None, parallel_iterations=None,
                swap_memory=False, time_major=False, scope=None):  # fmt: skip
    """Run ``cell`` over [batch, time, depth] (or [time, batch, depth]); unrolled over the static time dim."""
    variable_scope, _ = _vs()
    x = to_tensor(inputs)
    steps = x.shape[0 if time_major else 1]
    if steps is None:
        raise NotImplementedError(
            "dynamic_rnn: ember unrolls over the time dimension, which must be known when the graph is built "
            f"(inputs have shape {list(x.shape)}); pad to a fixed length and pass sequence_length"
        )
    seq_inputs = A.unstack(x, int(steps), axis=0 if time_major else 1)
    with variable_scope(scope or "rnn"):
        state = _initial(cell, initial_state, dtype, seq_inputs[0])
        outputs, state = _unroll(cell, seq_inputs, state, sequence_length)
    return A.stack(outputs, axis=0 if time_major else 1), state


def static_bidirectional_rnn(cell_fw, cell_bw, inputs, initial_state_fw=None, initial_state_bw=None, dtype=None,
                             sequence_length=None, scope=None):  # fmt: skip
    """Forward and backward static RNNs; outputs concatenated per step (TF's scopes fw/ and bw/)."""
    variable_scope, _ = _vs()
    if sequence_length is not None:
        raise NotImplementedError("static_bidirectional_rnn with sequence_length is not supported")
    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw"):
            fwd = [to_tensor(x) for x in inputs]
            out_fw, st_fw = _unroll(cell_fw, fwd, _initial(cell_fw, initial_state_fw, dtype, fwd[0]), None)
        with variable_scope("bw"):
            rev = [to_tensor(x) for x in reversed(inputs)]
            out_bw, st_bw = _unroll(cell_bw, rev, _initial(cell_bw, initial_state_bw, dtype, rev[0]), None)
    outputs = [A.concat([f, b], 1) for f, b in zip(out_fw, reversed(out_bw))]
    return outputs, st_fw, st_bw


def bidirectional_dynamic_rnn(cell_fw, cell_bw, inputs, sequence_length=None, initial_state_fw=None,
                              initial_state_bw=None, dtype=None, parallel_iterations=None, swap_memory=False,
                              time_major=False, scope=None):  # fmt: skip
    """((outputs_fw, outputs_bw), (state_fw, state_bw)); the backward pass reads each sequence reversed."""
    variable_scope, _ = _vs()
    x = to_tensor(inputs)
    t_axis, b_axis = (0, 1) if time_major else (1, 0)

    def reverse(v):
        if sequence_length is None:
            return A.reverse(v, [t_axis])
        return A.reverse_sequence(v, sequence_length, seq_axis=t_axis, batch_axis=b_axis)

    with variable_scope(scope or "bidirectional_rnn"):
        with variable_scope("fw") as fw_scope:
            out_fw, st_fw = dynamic_rnn(cell_fw, x, sequence_length, initial_state_fw, dtype, time_major=time_major,
                                        scope=fw_scope)  # fmt: skip
        with variable_scope("bw") as bw_scope:
            tmp, st_bw = dynamic_rnn(cell_bw, reverse(x), sequence_length, initial_state_bw, dtype,
                                     time_major=time_major, scope=bw_scope)  # fmt: skip
    return (out_fw, reverse(tmp)), (st_fw, st_bw)


rnn_cell = type(
    "rnn_cell",
    (),
    {
        "RNNCell": RNNCell,
        "BasicRNNCell": BasicRNNCell,
        "BasicLSTMCell": BasicLSTMCell,
        "LSTMCell": LSTMCell,
        "GRUCell": GRUCell,
        "MultiRNNCell": MultiRNNCell,
        "DropoutWrapper": DropoutWrapper,
        "LSTMStateTuple": LSTMStateTuple,
    },
)
