"""The seven standard workloads in raw TensorFlow ops on tf.Variables, trained by a tf.function step.

Written from the PyTorch definitions in workloads.py so the arithmetic is the
same: weights come from PyTorch's initial state (Linear W^T, conv OIHW->HWIO,
LeNet's first fc rows reordered for an NHWC flatten, LSTM gates kept in
PyTorch's i, f, g, o order), images run NHWC (transposed once before timing),
and the optimizers are written out with torch.optim's SGD (momentum, weight
decay), Adam and AdamW formulas.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from workloads import data

EMBEDDINGS = {"emb.weight", "wpe.weight", "lm_head.weight"}  # used as stored; lm_head is tied to wte
OPTIMIZERS = {
    "linreg": ("sgd", {"lr": 0.5}),
    "mlp_small": ("adam", {"lr": 1e-3}),
    "mlp_large": ("sgd", {"lr": 0.01, "momentum": 0.9}),
    "lenet": ("sgd", {"lr": 0.01, "momentum": 0.9}),
    "resnet20": ("sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}),
    "lstm_lm": ("adam", {"lr": 1e-3}),
    "gpt_mini": ("adamw", {"lr": 3e-4, "weight_decay": 0.1}),
}
BN_EPS, LN_EPS = 1e-5, 1e-5


def convert_state(name, state):
    """PyTorch's state (NumPy) in this module's layouts; the causal masks stay NumPy (constants)."""
    out = {}
    for k, v in state.items():
        if k.endswith("num_batches_tracked") or k == "wte.weight":
            continue
        if v.ndim == 4 and not k.endswith(".attn.mask"):
            v = v.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        elif v.ndim == 2 and k not in EMBEDDINGS:
            v = v.T  # Linear / LSTM (out, in) -> (in, out)
        if name == "lenet" and k == "7.weight":  # flatten order (C, H, W) -> (H, W, C)
            v = v.reshape(16, 5, 5, 120).transpose(1, 2, 0, 3).reshape(400, 120)
        out[k] = np.ascontiguousarray(v)
    return out


def tf_batches(name):
    """The seeded batches as TF tensors, images NHWC."""
    out = []
    for x, y in data(name):
        if x.ndim == 4:
            x = x.transpose(0, 2, 3, 1)
        out.append((tf.constant(np.ascontiguousarray(x)), tf.constant(y)))
    return out


def _linear(x, w, b=None):
    shape = tf.shape(x)
    y = tf.matmul(tf.reshape(x, [-1, w.shape[0]]), w) if len(x.shape) != 2 else tf.matmul(x, w)
    if b is not None:
        y = y + b
    if len(x.shape) != 2:
        y = tf.reshape(y, tf.concat([shape[:-1], [w.shape[1]]], 0))
    return y


def _mlp(p, x, n):
    for i in range(n):
        x = _linear(x, p[f"{2 * i}.weight"], p[f"{2 * i}.bias"])
        if i < n - 1:
            x = tf.nn.relu(x)
    return x


def _lenet(p, x):
    x = tf.nn.relu(tf.nn.conv2d(x, p["0.weight"], 1, [[0, 0], [2, 2], [2, 2], [0, 0]]) + p["0.bias"])
    x = tf.nn.max_pool2d(x, 2, 2, "VALID")
    x = tf.nn.relu(tf.nn.conv2d(x, p["3.weight"], 1, "VALID") + p["3.bias"])
    x = tf.reshape(tf.nn.max_pool2d(x, 2, 2, "VALID"), [-1, 400])
    x = tf.nn.relu(_linear(x, p["7.weight"], p["7.bias"]))
    x = tf.nn.relu(_linear(x, p["9.weight"], p["9.bias"]))
    return _linear(x, p["11.weight"], p["11.bias"])


def _batch_norm(p, k, x, training, updates):
    rm, rv = p[k + ".running_mean"], p[k + ".running_var"]
    if training:
        mean, var = tf.nn.moments(x, axes=[0, 1, 2])
        n = float(x.shape[0] * x.shape[1] * x.shape[2])
        updates.append((rm, 0.9 * rm + 0.1 * mean))
        updates.append((rv, 0.9 * rv + 0.1 * var * (n / (n - 1))))  # running var is unbiased, as in PyTorch
    else:
        mean, var = rm, rv
    return tf.nn.batch_normalization(x, mean, var, p[k + ".bias"], p[k + ".weight"], BN_EPS)


def _conv(x, w, stride):
    pad = "VALID" if w.shape[0] == 1 else [[0, 0], [1, 1], [1, 1], [0, 0]]  # PyTorch's symmetric padding
    return tf.nn.conv2d(x, w, stride, pad)


def _resnet20(p, x, training, updates):
    x = tf.nn.relu(_batch_norm(p, "bn", _conv(x, p["conv.weight"], 1), training, updates))
    cin = 16
    for i, (cout, stride) in enumerate([(16, 1)] * 3 + [(32, 2), (32, 1), (32, 1), (64, 2), (64, 1), (64, 1)]):
        k = f"layers.{i}"
        out = tf.nn.relu(_batch_norm(p, k + ".bn1", _conv(x, p[k + ".conv1.weight"], stride), training, updates))
        out = _batch_norm(p, k + ".bn2", _conv(out, p[k + ".conv2.weight"], 1), training, updates)
        if stride != 1 or cin != cout:
            x = _batch_norm(p, k + ".shortcut.1", _conv(x, p[k + ".shortcut.0.weight"], stride), training, updates)
        x = tf.nn.relu(out + x)
        cin = cout
    return _linear(tf.reduce_mean(x, axis=[1, 2]), p["fc.weight"], p["fc.bias"])


def _lstm_lm(p, ids):
    emb = tf.gather(p["emb.weight"], ids)  # (T, B, 128)
    xw = _linear(emb, p["lstm.weight_ih_l0"], p["lstm.bias_ih_l0"] + p["lstm.bias_hh_l0"])
    batch, hidden = ids.shape[1], 256
    h = c = tf.zeros([batch, hidden])
    outs = []
    for t in range(ids.shape[0]):
        i, f, g, o = tf.split(xw[t] + tf.matmul(h, p["lstm.weight_hh_l0"]), 4, axis=1)  # PyTorch's gate order
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        outs.append(h)
    return _linear(tf.stack(outs), p["head.weight"], p["head.bias"])


def _layer_norm(p, k, x):
    mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(var + LN_EPS) * p[k + ".weight"] + p[k + ".bias"]


def _gpt_mini(p, masks, idx, n_layer=4, n_head=4, n_embd=128):
    B, T = idx.shape
    hd = n_embd // n_head
    x = tf.gather(p["lm_head.weight"], idx) + p["wpe.weight"][:T]

    def heads(t):
        return tf.transpose(tf.reshape(t, [B, T, n_head, hd]), [0, 2, 1, 3])

    for i in range(n_layer):
        k = f"h.{i}"
        q, kk, v = tf.split(_linear(_layer_norm(p, k + ".ln_1", x), p[k + ".attn.c_attn.weight"],
                                    p[k + ".attn.c_attn.bias"]), 3, axis=2)  # fmt: skip
        att = tf.matmul(heads(q), heads(kk), transpose_b=True) * (1.0 / hd**0.5)
        att = tf.nn.softmax(tf.where(masks[k][:, :, :T, :T], float("-inf"), att), axis=-1)
        y = tf.reshape(tf.transpose(tf.matmul(att, heads(v)), [0, 2, 1, 3]), [B, T, n_embd])
        x = x + _linear(y, p[k + ".attn.c_proj.weight"], p[k + ".attn.c_proj.bias"])
        h = tf.nn.gelu(_linear(_layer_norm(p, k + ".ln_2", x), p[k + ".mlp.0.weight"], p[k + ".mlp.0.bias"]), False)
        x = x + _linear(h, p[k + ".mlp.2.weight"], p[k + ".mlp.2.bias"])
    x = tf.reshape(_layer_norm(p, "ln_f", x), [-1, n_embd])
    return tf.reshape(tf.matmul(x, p["lm_head.weight"], transpose_b=True), [B, T, -1])


def _dense(g):
    return tf.convert_to_tensor(g)  # embedding gradients arrive as IndexedSlices


class SGD:
    """torch.optim.SGD: g += wd * p; buf = momentum * buf + g (buf = g at the first step); p -= lr * buf."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        self.params, self.lr, self.momentum, self.wd = params, lr, momentum, weight_decay
        self.bufs = [tf.Variable(tf.zeros_like(v), trainable=False) for v in params] if momentum else []

    def apply(self, grads):
        for i, (g, p) in enumerate(zip(grads, self.params)):
            g = _dense(g)
            if self.wd:
                g = g + self.wd * p
            if self.momentum:
                g = self.momentum * self.bufs[i] + g
                self.bufs[i].assign(g)
            p.assign_sub(self.lr * g)

    def reset(self):
        for b in self.bufs:
            b.assign(tf.zeros_like(b))


class Adam:
    """torch.optim.Adam / AdamW (decoupled: p *= 1 - lr * wd first), betas (0.9, 0.999), eps 1e-8."""

    def __init__(self, params, lr, weight_decay=0.0, decoupled=False, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.wd, self.decoupled, self.betas, self.eps = (
            params,
            lr,
            weight_decay,
            decoupled,
            betas,
            eps,
        )
        self.t = tf.Variable(0.0, trainable=False)
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in params]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in params]

    def apply(self, grads):
        b1, b2 = self.betas
        t = self.t.assign_add(1.0)
        bc1, bc2 = 1.0 - tf.pow(b1, t), 1.0 - tf.pow(b2, t)
        for g, p, m, v in zip(grads, self.params, self.m, self.v):
            g = _dense(g)
            if self.wd and self.decoupled:
                p.assign(p * (1.0 - self.lr * self.wd))
            elif self.wd:
                g = g + self.wd * p
            m_new = b1 * m + (1.0 - b1) * g
            v_new = b2 * v + (1.0 - b2) * g * g
            m.assign(m_new)
            v.assign(v_new)
            p.assign_sub((self.lr / bc1) * m_new / (tf.sqrt(v_new) / tf.sqrt(bc2) + self.eps))

    def reset(self):
        self.t.assign(0.0)
        for s in self.m + self.v:
            s.assign(tf.zeros_like(s))


def make_optimizer(name, params):
    kind, kw = OPTIMIZERS[name]
    if kind == "sgd":
        return SGD(params, **kw)
    return Adam(params, decoupled=kind == "adamw", **kw)


class TFWorkload:
    """One workload's variables, optimizer, and tf.function train step and inference."""

    def __init__(self, name, state):
        self.name = name
        init = convert_state(name, state)
        self.masks = {k[: -len(".attn.mask")]: tf.constant(v) for k, v in init.items() if k.endswith(".attn.mask")}
        self.init = {k: v for k, v in init.items() if not k.endswith(".attn.mask")}
        self.p = {
            k: tf.Variable(v, trainable="running_" not in k, name=k.replace(".", "_")) for k, v in self.init.items()
        }
        self.trainable = [v for k, v in self.p.items() if "running_" not in k]
        self.opt = make_optimizer(name, self.trainable)
        self.train_step = tf.function(self._step, autograph=False)

    def forward(self, x, training=True, updates=None):
        updates = [] if updates is None else updates
        p, n = self.p, self.name
        if n == "linreg":
            return _linear(x, p["weight"], p["bias"])
        if n in ("mlp_small", "mlp_large"):
            return _mlp(p, x, 3)
        if n == "lenet":
            return _lenet(p, x)
        if n == "resnet20":
            return _resnet20(p, x, training, updates)
        if n == "lstm_lm":
            return _lstm_lm(p, x)
        if n == "gpt_mini":
            return _gpt_mini(p, self.masks, x)
        raise KeyError(n)

    def loss(self, x, y, updates):
        out = self.forward(x, True, updates)
        if self.name == "linreg":
            return tf.reduce_mean(tf.square(out - y))
        logits = tf.reshape(out, [-1, out.shape[-1]])
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(tf.reshape(y, [-1]), logits))

    def _step(self, x, y):
        updates = []
        with tf.GradientTape() as tape:
            loss = self.loss(x, y, updates)
        self.opt.apply(tape.gradient(loss, self.trainable))
        for var, new in updates:
            var.assign(new)
        return loss

    def reset(self):
        for k, v in self.p.items():
            v.assign(self.init[k])
        self.opt.reset()
