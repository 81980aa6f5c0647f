"""Recurrent layers: ``RNN`` (tanh/relu), ``LSTM``, ``GRU`` and their single-step cells.

Parameters, names, gate layouts (LSTM ``i,f,g,o``; GRU ``r,z,n``) and the default
init ``U(-1/sqrt(hidden), 1/sqrt(hidden))`` follow PyTorch. The loop is written for
eager speed: the input projection of every time step is ONE matmul before the loop
(with the hidden bias folded in where the math allows), and each step is one
matmul for all gates plus a handful of elementwise ops.
"""

from __future__ import annotations

import math
import numbers

from ... import ops as _ops
from ... import random as _random
from ...autograd.function import Function
from ...autograd.grad_mode import no_grad
from ...ops.recurrent import lstm_recurrence
from ..parameter import Parameter
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_matmul = _ops.matmul
_sigmoid = _ops.sigmoid
_tanh = _ops.tanh
_relu = _ops.relu


def _dropout(x, p, training):
    if not training or p == 0.0:
        return x
    from .. import functional as F

    fn = getattr(F, "dropout", None)
    if fn is not None:
        return fn(x, p, True)
    if p == 1.0:
        return x * 0.0
    keep = (_random.rand(*x.shape, dtype=x.dtype, device=x.device) >= p).to(x.dtype)
    return x * keep * (1.0 / (1.0 - p))


def _new_param(shape, factory_kwargs):
    return Parameter(_ops.empty(*shape, **factory_kwargs))


class _Split(Function):
    """``n`` equal pieces of ``x`` along ``dim`` as ONE tape node whose backward is one ``cat``.

    Slicing with ``getitem`` costs a full-size zero tensor per piece in backward; for the
    per-time-step pieces of the input projection that was most of the LSTM's backward time.
    """

    @staticmethod
    def forward(ctx, x, n, dim, unbind):
        ctx.dim, ctx.unbind = dim, unbind  # unbind: the ``n`` pieces of size 1 lose that dim
        return tuple(x.unbind(dim)) if ctx.unbind else tuple(x.chunk(n, dim))

    @staticmethod
    def backward(ctx, *grads):
        return (_ops.stack if ctx.unbind else _ops.cat)(grads, ctx.dim), None, None, None


def _split(x, n, dim, unbind=False):
    out = _Split.apply(x, n, dim, unbind)
    return out if isinstance(out, tuple) else (out,)


# ---- one layer, one direction, whole sequence ---------------------------------------------
def _rnn_layer(mode, x, h, c, w_ih, w_hh, b_ih, b_hh, w_hr, reverse):
    """Run one direction of one layer over ``x`` (L, N, I); returns (out (L, N, Hout), h, c)."""
    L, N = x.shape[0], x.shape[1]
    steps = range(L - 1, -1, -1) if reverse else range(L)
    outs = [None] * L
    w_hh_t = w_hh.t()
    # one 2-D GEMM for every time step's input projection (a 3-D matmul is slower in NumPy)
    xw = _matmul(x.reshape(L * N, x.shape[2]), w_ih.t())
    if mode == "GRU":
        H = w_hh.shape[1]
        if b_ih is not None:
            # r and z may take both biases up front; n keeps b_hn inside r * (...)
            xw = xw + _ops.cat([b_ih[: 2 * H] + b_hh[: 2 * H], b_ih[2 * H :]])
            b_hn = b_hh[2 * H :]
        xr, xz, xn = (_split(p, L, 0, True) for p in _split(xw.reshape(L, N, 3 * H), 3, 2))
        for t in steps:
            hr, hz, hn = _split(_matmul(h, w_hh_t), 3, 1)
            r = _sigmoid(xr[t] + hr)
            z = _sigmoid(xz[t] + hz)
            if b_ih is not None:
                hn = hn + b_hn
            n = _tanh(xn[t] + r * hn)
            h = (h - n) * z + n
            outs[t] = h
        return _ops.stack(outs), h, None
    if b_ih is not None:
        xw = xw + (b_ih + b_hh)
    if mode == "LSTM" and w_hr is None:
        # the whole time loop is one primitive (ops/recurrent.py): no per-step tape nodes
        out, h, c, _, _ = lstm_recurrence(xw.reshape(L, N, w_ih.shape[0]), h, c, w_hh_t, reverse=reverse)
        return out, h, c
    xs = _split(xw.reshape(L, N, w_ih.shape[0]), L, 0, True)
    if mode == "LSTM":
        w_hr_t = w_hr.t() if w_hr is not None else None
        for t in steps:
            i, f, g, o = _split(xs[t] + _matmul(h, w_hh_t), 4, 1)
            c = _sigmoid(f) * c + _sigmoid(i) * _tanh(g)
            h = _sigmoid(o) * _tanh(c)
            if w_hr_t is not None:
                h = _matmul(h, w_hr_t)
            outs[t] = h
        return _ops.stack(outs), h, c
    act = _tanh if mode == "RNN_TANH" else _relu
    for t in steps:
        h = act(xs[t] + _matmul(h, w_hh_t))
        outs[t] = h
    return _ops.stack(outs), h, None


class RNNBase(Module):
    """Shared machinery of ``RNN``, ``LSTM`` and ``GRU`` (PyTorch's ``nn.RNNBase``)."""

    def __init__(
        self,
        mode,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        proj_size=0,
        device=None,
        dtype=None,
    ):
        super().__init__()
        factory_kwargs = {"device": device, "dtype": dtype}
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        if not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"
            )
        if not isinstance(hidden_size, int) or isinstance(hidden_size, bool):
            raise TypeError(f"hidden_size should be of type int, got: {type(hidden_size).__name__}")
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if dropout > 0 and num_layers == 1:
            import warnings

            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=2,
            )
        gate_size = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
        if mode not in gate_size:
            raise ValueError(f"Unrecognized RNN mode: {mode}")
        gate_size = gate_size[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input = input_size if layer == 0 else real_hidden * num_directions
                suffix = "_reverse" if direction == 1 else ""
                params = [
                    (f"weight_ih_l{layer}{suffix}", (gate_size, layer_input)),
                    (f"weight_hh_l{layer}{suffix}", (gate_size, real_hidden)),
                ]
                if bias:
                    params += [(f"bias_ih_l{layer}{suffix}", (gate_size,)), (f"bias_hh_l{layer}{suffix}", (gate_size,))]
                if proj_size > 0:
                    params.append((f"weight_hr_l{layer}{suffix}", (proj_size, hidden_size)))
                for name, shape in params:
                    setattr(self, name, _new_param(shape, factory_kwargs))
                self._flat_weights_names.extend(n for n, _ in params)
                self._all_weights.append([n for n, _ in params])
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        with no_grad():
            for w in self.parameters():
                _random.uniform_(w, -stdv, stdv)

    def flatten_parameters(self):
        pass

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    def _layer_weights(self, layer, direction):
        suffix = "_reverse" if direction == 1 else ""
        g = self._parameters
        b_ih = g.get(f"bias_ih_l{layer}{suffix}")
        b_hh = g.get(f"bias_hh_l{layer}{suffix}")
        w_hr = g.get(f"weight_hr_l{layer}{suffix}")
        return g[f"weight_ih_l{layer}{suffix}"], g[f"weight_hh_l{layer}{suffix}"], b_ih, b_hh, w_hr

    def forward(self, input, hx=None):
        is_lstm = self.mode == "LSTM"
        if input.ndim not in (2, 3):
            raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got {input.ndim}D instead")
        batched = input.ndim == 3
        if input.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {input.shape[-1]}"
            )
        x = input
        if not batched:
            x = x.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        D = 2 if self.bidirectional else 1
        N = x.shape[1]
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        if hx is None:
            z = dict(dtype=x.dtype, device=x.device)
            h0 = _ops.zeros(self.num_layers * D, N, real_hidden, **z)
            c0 = _ops.zeros(self.num_layers * D, N, self.hidden_size, **z) if is_lstm else None
        else:
            if is_lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise RuntimeError("lstm: hx must be a tuple of (h_0, c_0)")
                h0, c0 = hx
            else:
                h0, c0 = hx, None
            want = 2 if not batched else 3
            for t in (h0,) + ((c0,) if is_lstm else ()):
                if t.ndim != want:
                    raise RuntimeError(
                        f"For {'un' if not batched else ''}batched {want}-D input, hx should also be {want}-D but got {t.ndim}-D tensor"
                    )
            if not batched:
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if is_lstm else None
            exp_h = (self.num_layers * D, N, real_hidden)
            if tuple(h0.shape) != exp_h:
                raise RuntimeError(f"Expected hidden size {exp_h}, got {list(h0.shape)}")
            if is_lstm and tuple(c0.shape) != (self.num_layers * D, N, self.hidden_size):
                raise RuntimeError(
                    f"Expected hidden size {(self.num_layers * D, N, self.hidden_size)}, got {list(c0.shape)}"
                )
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            if layer > 0:
                x = _dropout(x, self.dropout, self.training)
            outs = []
            for d in range(D):
                k = layer * D + d
                w_ih, w_hh, b_ih, b_hh, w_hr = self._layer_weights(layer, d)
                out, h, c = _rnn_layer(
                    self.mode, x, h0[k], c0[k] if is_lstm else None, w_ih, w_hh, b_ih, b_hh, w_hr, d == 1
                )
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = outs[0] if D == 1 else _ops.cat(outs, -1)
        output = x
        hn = _ops.stack(h_n)
        cn = _ops.stack(c_n) if is_lstm else None
        if not batched:
            output = output.squeeze(1)
            hn = hn.squeeze(1)
            cn = cn.squeeze(1) if is_lstm else None
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, ((hn, cn) if is_lstm else hn)


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` with ``act`` tanh or relu."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from 'tanh' or 'relu'.")
        nl = self.nonlinearity
        super().__init__(mode, *args, **kwargs)
        self.nonlinearity = nl


class LSTM(RNNBase):
    """Long short-term memory; gates ``i, f, g, o`` stacked in that order in each weight."""

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit; gates ``r, z, n``, ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``."""

    def __init__(self, *args, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)


# ---- cells ------------------------------------------------------------------------------
class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        factory_kwargs = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = _new_param((num_chunks * hidden_size, input_size), factory_kwargs)
        self.weight_hh = _new_param((num_chunks * hidden_size, hidden_size), factory_kwargs)
        if bias:
            self.bias_ih = _new_param((num_chunks * hidden_size,), factory_kwargs)
            self.bias_hh = _new_param((num_chunks * hidden_size,), factory_kwargs)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        with no_grad():
            for w in self.parameters():
                _random.uniform_(w, -stdv, stdv)

    def _prep(self, input, hx, n_states):
        if input.ndim not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {input.ndim}D instead")
        if hx is not None:
            for h in hx if n_states == 2 else (hx,):
                if h.ndim not in (1, 2):
                    raise ValueError(f"{type(self).__name__}: Expected hidden to be 1D or 2D, got {h.ndim}D instead")
        batched = input.ndim == 2
        if not batched:
            input = input.unsqueeze(0)
        if hx is None:
            z = _ops.zeros(input.shape[0], self.hidden_size, dtype=input.dtype, device=input.device)
            hx = (z, z) if n_states == 2 else z
        elif not batched:
            hx = tuple(h.unsqueeze(0) for h in hx) if n_states == 2 else hx.unsqueeze(0)
        return input, hx, batched

    def _gates(self, x, h):
        gi = _matmul(x, self.weight_ih.t())
        gh = _matmul(h, self.weight_hh.t())
        if self.bias_ih is not None:
            gi = gi + self.bias_ih
            gh = gh + self.bias_hh
        return gi, gh


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        if nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, h, batched = self._prep(input, hx, 1)
        gi, gh = self._gates(x, h)
        h = (_tanh if self.nonlinearity == "tanh" else _relu)(gi + gh)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, (h, c), batched = self._prep(input, hx, 2)
        gi, gh = self._gates(x, h)
        i, f, g, o = _split(gi + gh, 4, 1)
        c = _sigmoid(f) * c + _sigmoid(i) * _tanh(g)
        h = _sigmoid(o) * _tanh(c)
        if not batched:
            return h.squeeze(0), c.squeeze(0)
        return h, c


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        x, h, batched = self._prep(input, hx, 1)
        gi, gh = self._gates(x, h)
        ir, iz, in_ = _split(gi, 3, 1)
        hr, hz, hn = _split(gh, 3, 1)
        r = _sigmoid(ir + hr)
        z = _sigmoid(iz + hz)
        n = _tanh(in_ + r * hn)
        h = (h - n) * z + n
        return h if batched else h.squeeze(0)
