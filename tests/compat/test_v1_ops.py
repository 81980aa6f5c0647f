"""ember.compat.v1's op surface against tensorflow.compat.v1 in graph mode.

Each case is one function ``build(tf, *placeholders)`` run twice: with real
TensorFlow and with ``ember.compat.v1`` passed as ``tf``. Both graphs get the
same NumPy feeds; outputs must agree to float32 tolerance, and for float
inputs ``tf.gradients`` must agree with ``ember.graph.gradients`` (same
random ``grad_ys``, None where TF says the input is unconnected).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow.compat.v1")

import ember  # noqa: E402
import ember.compat.v1 as etf  # noqa: E402
from ember.compat.v1 import framework as fw  # noqa: E402
from ember.graph import execute  # noqa: E402
from ember.graph.autodiff import gradients as ember_gradients  # noqa: E402


class P:
    """One fed input: data shape, dtype, the placeholder's shape (None dims allowed), value range."""

    def __init__(self, shape, dtype="float32", ph=None, low=-2.0, high=2.0, values=None):
        self.shape, self.dtype, self.ph = tuple(shape), dtype, tuple(shape) if ph is None else tuple(ph)
        self.low, self.high, self.values = low, high, values

    def draw(self, rng):
        if self.values is not None:
            return np.asarray(self.values, dtype=self.dtype).reshape(self.shape)
        if self.dtype == "bool":
            return rng.random(self.shape) < 0.5
        if np.dtype(self.dtype).kind in "iu":
            return rng.integers(int(self.low), int(self.high), self.shape).astype(self.dtype)
        return rng.uniform(self.low, self.high, self.shape).astype(self.dtype)


class Case:
    def __init__(self, id, fn, *inputs, grad=True, rtol=1e-5, atol=1e-6):
        self.id, self.fn, self.inputs, self.grad, self.rtol, self.atol = id, fn, inputs, grad, rtol, atol

    def __repr__(self):
        return self.id


def _is_float(d):
    return np.dtype(d).kind == "f"


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def run_tf(case, feeds):
    g = tf.Graph()
    with g.as_default():
        phs = [tf.placeholder(p.dtype, p.ph) for p in case.inputs]
        outs = _as_list(case.fn(tf, *phs))
        fd = dict(zip(phs, feeds))
        with tf.Session(graph=g) as s:
            got = s.run(outs, feed_dict=fd)
            grads = None
            ys = [o for o in outs if o.dtype.is_floating]
            xs = [p for p, spec in zip(phs, case.inputs) if _is_float(spec.dtype)]
            if case.grad and ys and xs:
                gys_data = _grad_ys([v for o, v in zip(outs, got) if o.dtype.is_floating])
                gys = [tf.placeholder(y.dtype, y.shape) for y in ys]
                gs = tf.gradients(ys, xs, grad_ys=gys)
                gs = [tf.convert_to_tensor(gr) if isinstance(gr, tf.IndexedSlices) else gr for gr in gs]
                fd.update(zip(gys, gys_data))
                grads = [None if gr is None else s.run(gr, feed_dict=fd) for gr in gs]
    return got, grads


def _grad_ys(values):
    rng = np.random.default_rng(7)
    return [rng.uniform(-1, 1, np.shape(v)).astype(np.asarray(v).dtype) for v in values]


def _value(t):
    return t._data.value


def _run_grad(g, gr, fd):
    if not isinstance(gr._data, ember.graph.Symbolic):  # a VJP gave a constant (zeros for sign)
        return gr.numpy()
    return execute.run(g, [_value(gr)], feeds=fd)[0]


def run_ember(case, feeds):
    g = fw.Graph()
    with g.as_default():
        phs = [etf.placeholder(getattr(fw, p.dtype) if p.dtype != "bool" else fw.bool, p.ph) for p in case.inputs]
        outs = _as_list(case.fn(etf, *phs))
        fd = {_value(p): a for p, a in zip(phs, feeds)}
        got = execute.run(g, [_value(o) for o in outs], feeds=fd)
        grads = None
        ys = [o for o in outs if o.dtype.is_floating_point]
        xs = [p for p, spec in zip(phs, case.inputs) if _is_float(spec.dtype)]
        if case.grad and ys and xs:
            gys_data = _grad_ys([v for o, v in zip(outs, got) if o.dtype.is_floating_point])
            gys = [etf.placeholder(y.dtype, y.shape) for y in ys]
            gs = ember_gradients(ys, xs, grad_ys=gys)
            fd.update({_value(p): a for p, a in zip(gys, gys_data)})
            grads = [None if gr is None else _run_grad(g, gr, fd) for gr in gs]
    return got, grads


def _feeds(case):
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))
    return [p.draw(rng) for p in case.inputs]


def check(case):
    feeds = _feeds(case)
    want, want_g = run_tf(case, feeds)
    got, got_g = run_ember(case, feeds)
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype, f"output {i}: dtype {a.dtype} != TF's {b.dtype}"
        assert a.shape == b.shape, f"output {i}: shape {a.shape} != TF's {b.shape}"
        np.testing.assert_allclose(a, b, rtol=case.rtol, atol=case.atol, err_msg=f"output {i}")
    assert (got_g is None) == (want_g is None)
    if want_g is not None:
        for i, (a, b) in enumerate(zip(got_g, want_g)):
            assert (a is None) == (b is None), f"gradient {i}: ember {'None' if a is None else 'a value'}, TF {b}"
            if a is not None:
                np.testing.assert_allclose(
                    a, b, rtol=max(case.rtol, 1e-5), atol=max(case.atol, 1e-5), err_msg=f"grad {i}"
                )


F32 = "float32"
M = P((3, 4))
V = P((4,))
POS = P((3, 4), low=0.1, high=3.0)
I = P((3, 4), "int32", low=-5, high=6)
B = P((3, 4), "bool")
BATCH = P((5, 4), ph=(None, 4))  # the batch dim is known only when fed

MATH = [
    # arithmetic, broadcasting, Python scalars taking the tensor's dtype
    Case("add", lambda tf, x, y: tf.add(x, y), M, V),
    Case("add_scalar", lambda tf, x: tf.add(x, 2), M),
    Case("add_int", lambda tf, x, y: tf.add(x, y), I, I, grad=False),
    Case("subtract", lambda tf, x, y: tf.subtract(x, y), M, P((3, 1))),
    Case("multiply", lambda tf, x, y: tf.multiply(x, y), BATCH, P((4,))),
    Case("divide", lambda tf, x, y: tf.divide(x, y), M, POS),
    Case("truediv_int", lambda tf, x, y: tf.truediv(x, y), I, P((3, 4), "int32", low=1, high=5), grad=False),
    Case("divide_int_scalar", lambda tf, x: tf.divide(x, 2), I, grad=False),
    Case("floordiv_int", lambda tf, x, y: tf.floordiv(x, y), I, P((3, 4), "int32", low=1, high=4), grad=False),
    Case("mod_int", lambda tf, x: tf.mod(x, 3), I, grad=False),
    Case("matmul", lambda tf, a, b: tf.matmul(a, b), P((3, 5)), P((5, 2))),
    Case("matmul_ta", lambda tf, a, b: tf.matmul(a, b, transpose_a=True), P((5, 3)), P((5, 2))),
    Case("matmul_tb", lambda tf, a, b: tf.matmul(a, b, transpose_b=True), P((3, 5), ph=(None, 5)), P((2, 5))),
    Case(
        "matmul_batched",
        lambda tf, a, b: tf.matmul(a, b, transpose_a=True, transpose_b=True),
        P((2, 5, 3)),
        P((2, 4, 5)),
    ),
    Case("square", lambda tf, x: tf.square(x), M),
    Case("sqrt", lambda tf, x: tf.sqrt(x), POS),
    Case("rsqrt", lambda tf, x: tf.rsqrt(x), POS),
    Case("exp", lambda tf, x: tf.exp(x), M),
    Case("log", lambda tf, x: tf.log(x), POS),
    Case("pow", lambda tf, x, y: tf.pow(x, y), POS, M),
    Case("pow_scalar", lambda tf, x: tf.pow(x, 3.0), M),
    Case("abs", lambda tf, x: tf.abs(x), M),
    Case("negative", lambda tf, x: tf.negative(x), BATCH),
    Case("maximum", lambda tf, x, y: tf.maximum(x, y), M, V),
    Case("maximum_ties", lambda tf, x: tf.maximum(x, 0.0), P((3, 4), values=[0, 1, -1, 0] * 3)),
    Case("minimum", lambda tf, x, y: tf.minimum(x, y), M, P((3, 4), values=[0.5] * 12)),
    Case("minimum_scalar", lambda tf, x: tf.minimum(x, 0.5), M),
    Case("sigmoid", lambda tf, x: tf.sigmoid(x), M),
    Case("tanh", lambda tf, x: tf.tanh(x), M),
    Case("sign", lambda tf, x: tf.sign(x), P((3, 4), values=[0, 1.5, -2, 0.1] * 3)),
    Case("sign_batch", lambda tf, x: tf.sign(x) * x, BATCH),
    Case("floor", lambda tf, x: tf.floor(x), M),
    Case("round_half_even", lambda tf, x: tf.round(x), P((8,), values=[0.5, 1.5, 2.5, -0.5, -1.5, 0.49, 2.51, -2.6])),
    Case("clip_by_value", lambda tf, x: tf.clip_by_value(x, -1.0, 0.5), P((12,), values=[-1, 0.5, 2, -3, 0, 0.2] * 2)),
    Case("add_n", lambda tf, x, y, z: tf.add_n([x, y, z]), M, M, M),
    Case("squared_difference", lambda tf, x, y: tf.squared_difference(x, y), M, V),
    # comparison and logic
    Case("equal", lambda tf, x, y: tf.equal(x, y), I, P((4,), "int32", low=-5, high=6)),
    Case("not_equal", lambda tf, x: tf.not_equal(x, 1), I),
    Case("less", lambda tf, x, y: tf.less(x, y), M, V),
    Case("greater", lambda tf, x: tf.greater(x, 0.0), M),
    Case("less_equal", lambda tf, x: tf.less_equal(x, 0), I),
    Case("logical", lambda tf, a, b: [tf.logical_and(a, b), tf.logical_or(a, b), tf.logical_not(a)], B, B),
    Case("cast_f2i", lambda tf, x: tf.cast(x, tf.int32), P((3, 4), low=-3, high=3)),
    Case("cast_i2f", lambda tf, x: tf.cast(x, tf.float32), I, grad=False),
    Case("cast_b2f", lambda tf, x: tf.cast(x, tf.float32), B),
    Case("cast_f2f", lambda tf, x: tf.cast(x, tf.float64), M),
    # reductions
    Case("reduce_sum_all", lambda tf, x: tf.reduce_sum(x), M),
    Case("reduce_sum_axis", lambda tf, x: tf.reduce_sum(x, axis=1), BATCH),
    Case("reduce_sum_neg_keep", lambda tf, x: tf.reduce_sum(x, -1, keepdims=True), P((2, 3, 4))),
    Case("reduce_sum_list_keep_dims", lambda tf, x: tf.reduce_sum(x, [0, 2], keep_dims=True), P((2, 3, 4))),
    Case("reduce_sum_indices", lambda tf, x: tf.reduce_sum(x, reduction_indices=[1]), M),
    Case("reduce_sum_int", lambda tf, x: tf.reduce_sum(x, 0), I, grad=False),
    Case("reduce_sum_empty_axis", lambda tf, x: tf.reduce_sum(x, []), M),
    Case("reduce_mean", lambda tf, x: tf.reduce_mean(x), BATCH),
    Case("reduce_mean_axis", lambda tf, x: tf.reduce_mean(x, axis=0), BATCH),
    Case("reduce_mean_int", lambda tf, x: tf.reduce_mean(x, 1), I, grad=False),
    Case("reduce_max", lambda tf, x: tf.reduce_max(x, axis=1), M),
    Case("reduce_max_ties", lambda tf, x: tf.reduce_max(x), P((2, 3), values=[1, 3, 3, 0, 3, 2])),
    Case("reduce_min_keep", lambda tf, x: tf.reduce_min(x, 0, keepdims=True), M),
    Case("reduce_prod", lambda tf, x: tf.reduce_prod(x, [0, 1]), P((2, 3, 2), low=0.5, high=1.5)),
    Case("reduce_any_all", lambda tf, b: [tf.reduce_any(b, 1), tf.reduce_all(b, 0), tf.reduce_all(b)], B),
    Case("reduce_logsumexp", lambda tf, x: tf.reduce_logsumexp(x, 1), M),
    Case(
        "count_nonzero", lambda tf, x: [tf.count_nonzero(x), tf.count_nonzero(x, 1)], P((3, 4), "int32", low=-1, high=2)
    ),
    Case("argmax", lambda tf, x: [tf.argmax(x), tf.argmax(x, 1), tf.argmax(x, axis=1, output_type=tf.int32)], M),
    Case("argmin", lambda tf, x: tf.argmin(x, -1), BATCH),
    # shapes and layout
    Case("reshape", lambda tf, x: tf.reshape(x, [2, 6]), M),
    Case("reshape_infer", lambda tf, x: tf.reshape(x, [-1, 2]), BATCH),
    Case("reshape_flatten_batch", lambda tf, x: tf.reshape(x, [-1, 12]), P((5, 3, 4), ph=(None, 3, 4))),
    Case(
        "reshape_tensor_shape",
        lambda tf, x, y: tf.reshape(x, tf.shape(y)),
        P((5, 4), ph=(None, 4)),
        P((4, 5), ph=(None, None)),
    ),
    Case("reshape_shape_list", lambda tf, x: tf.reshape(x, [tf.shape(x)[0], 2, 2]), BATCH),
    Case("transpose", lambda tf, x: tf.transpose(x), M),
    Case("transpose_perm", lambda tf, x: tf.transpose(x, [1, 2, 0]), P((2, 3, 4), ph=(None, 3, 4))),
    Case("concat", lambda tf, x, y: tf.concat([x, y], 1), BATCH, P((5, 2), ph=(None, 2))),
    Case("concat_neg", lambda tf, x, y: tf.concat([x, y], -2), M, P((2, 4))),
    Case("stack", lambda tf, x, y: [tf.stack([x, y]), tf.stack([x, y], axis=1)], M, M),
    Case("unstack", lambda tf, x: tf.unstack(x, axis=1), P((3, 4, 2), ph=(None, 4, 2))),
    Case("squeeze", lambda tf, x: [tf.squeeze(x), tf.squeeze(x, [2])], P((3, 1, 1, 4))),
    Case("squeeze_batch", lambda tf, x: tf.squeeze(x, axis=1), P((5, 1), ph=(None, 1))),
    Case("expand_dims", lambda tf, x: [tf.expand_dims(x, 0), tf.expand_dims(x, -1)], BATCH),
    Case("tile", lambda tf, x: tf.tile(x, [2, 3]), M),
    Case("gather", lambda tf, x, i: tf.gather(x, i), P((5, 3)), P((4,), "int32", low=0, high=5)),
    Case("gather_axis", lambda tf, x, i: tf.gather(x, i, axis=1), P((2, 5, 3)), P((2, 2), "int32", low=0, high=5)),
    Case("one_hot", lambda tf, i: tf.one_hot(i, 5), P((4,), "int32", values=[0, 3, -1, 4])),
    Case(
        "one_hot_opts",
        lambda tf, i: tf.one_hot(i, 3, on_value=2.0, off_value=-1.0, axis=0),
        P((2, 2), "int32", low=0, high=3),
    ),
    Case("where_same_shape", lambda tf, c, x, y: tf.where(c, x, y), B, M, M),
    Case("where_rows", lambda tf, c, x, y: tf.where(c, x, y), P((3,), "bool"), M, M),
    Case("where_indices", lambda tf, c: tf.where(c), B),
    Case("shape_size_rank", lambda tf, x: [tf.shape(x), tf.size(x), tf.rank(x)], BATCH),
    Case("shape_static", lambda tf, x: [tf.shape(x), tf.shape(x, out_type=tf.int64), tf.size(x)], M),
    Case("zeros_ones", lambda tf, x: [x + tf.zeros([3, 4]), tf.ones([2], tf.int32), tf.zeros((2, 2), tf.float64)], M),
    Case("zeros_like", lambda tf, x: [tf.zeros_like(x), tf.ones_like(x), tf.zeros_like(x, dtype=tf.int32)], BATCH),
    Case("fill", lambda tf, x: [tf.fill([2, 3], 1.5), tf.fill(tf.shape(x), 2.0)], BATCH),
    Case("broadcast_to", lambda tf, v: tf.broadcast_to(v, [3, 4]), V),
    Case("broadcast_to_dynamic", lambda tf, v, x: tf.broadcast_to(v, tf.shape(x)), P((1, 4)), BATCH),
    Case("expand_dims_two_unknown", lambda tf, x: tf.expand_dims(x, 1), P((2, 3, 4), ph=(None, None, 4))),
    Case("squeeze_two_unknown", lambda tf, x: tf.squeeze(x, [2]), P((2, 3, 1, 4), ph=(None, None, 1, 4))),
    Case(
        "reduce_mean_int_dynamic", lambda tf, x: tf.reduce_mean(x, 0), P((5, 4), "int32", ph=(None, 4), low=-9, high=9)
    ),
    Case("gather_batch", lambda tf, x, i: tf.gather(x, i), P((5, 3), ph=(None, 3)), P((4,), "int32", low=0, high=5)),
    Case("slice", lambda tf, x: [tf.slice(x, [1, 0], [2, -1]), tf.slice(x, [0, 1], [-1, 2])], BATCH),
    Case("split", lambda tf, x: tf.split(x, 2, axis=1) + tf.split(x, [1, -1, 2], 1), P((5, 4), ph=(None, 4))),
    Case("pad", lambda tf, x: [tf.pad(x, [[1, 0], [2, 1]]), tf.pad(x, [[0, 1], [1, 2]], constant_values=3.0)], BATCH),
    Case("pad_reflect", lambda tf, x: tf.pad(x, [[1, 1], [2, 1]], mode="REFLECT"), M),
    Case("reverse", lambda tf, x: [tf.reverse(x, [0]), tf.reverse(x, [-1, 0])], M),
    Case(
        "cumsum",
        lambda tf, x: [tf.cumsum(x), tf.cumsum(x, 1, exclusive=True), tf.cumsum(x, 1, reverse=True, exclusive=True)],
        BATCH,
    ),
    Case(
        "cumprod",
        lambda tf, x: [tf.cumprod(x, 1), tf.cumprod(x, 0, exclusive=True, reverse=True)],
        P((3, 4), low=0.5, high=1.5),
    ),
    Case("boolean_mask", lambda tf, x, m: tf.boolean_mask(x, m), M, P((3,), "bool", values=[True, False, True])),
    Case("boolean_mask_2d", lambda tf, x, m: tf.boolean_mask(x, m), M, B),
    Case(
        "gather_nd",
        lambda tf, x, i: tf.gather_nd(x, i),
        P((3, 4, 2)),
        P((5, 2), "int32", values=[0, 1, 2, 3, 1, 0, 2, 3, 0, 0]),
    ),
    Case(
        "sequence_mask",
        lambda tf, n: [tf.sequence_mask(n, 5), tf.sequence_mask(n, 4, dtype=tf.float32)],
        P((3,), "int32", values=[0, 2, 5]),
    ),
    Case("reduce_variance_std", lambda tf, x: [tf.math.reduce_variance(x, 1), tf.math.reduce_std(x)], BATCH),
    Case(
        "eye_linspace",
        lambda tf: [tf.eye(3), tf.eye(2, 3, dtype=tf.int32), tf.linspace(0.0, 1.0, 5), tf.lin_space(-1.0, 2.0, 4)],
    ),
    Case("top_k", lambda tf, x: list(tf.nn.top_k(x, 3)) + [tf.nn.top_k(x).values], P((4, 6), ph=(None, 6))),
    Case("range", lambda tf: [tf.range(5), tf.range(1, 7, 2), tf.range(0.0, 1.0, 0.25), tf.range(3, dtype=tf.float32)]),
    Case("einsum", lambda tf, a, b: tf.einsum("ij,jk->ik", a, b), P((3, 5)), P((5, 2))),
    Case("einsum_batch", lambda tf, a, b: tf.einsum("bij,bj->bi", a, b), P((2, 3, 4)), P((2, 4))),
]


@pytest.mark.parametrize("case", MATH, ids=repr)
def test_math_matches_tf(case):
    check(case)


IMG = P((2, 7, 6, 3))  # NHWC, odd sizes so SAME padding is asymmetric
IMG_BATCH = P((2, 7, 6, 3), ph=(None, 7, 6, 3))
LOGITS = P((4, 5), ph=(None, 5), low=-3, high=3)
PROBS = P((4, 5), values=np.random.default_rng(1).dirichlet(np.ones(5), 4).astype(np.float32))
LABELS = P((4,), "int32", values=[0, 4, 2, 2])

NN = [
    Case("relu", lambda tf, x: tf.nn.relu(x), P((12,), values=[0, 1, -1, 2.5, -0.5, 0, 3, -3, 0.1, -0.1, 6, 7])),
    Case("relu6", lambda tf, x: tf.nn.relu6(x), P((12,), values=[0, 1, -1, 2.5, -0.5, 0, 3, -3, 6, 6.5, 7, 5.9])),
    Case("elu", lambda tf, x: tf.nn.elu(x), P((3, 4), low=-3, high=3)),
    Case("selu", lambda tf, x: tf.nn.selu(x), P((3, 4), low=-3, high=3)),
    Case("leaky_relu", lambda tf, x: [tf.nn.leaky_relu(x), tf.nn.leaky_relu(x, alpha=0.01)], M),
    Case("softplus", lambda tf, x: tf.nn.softplus(x), P((3, 4), low=-30, high=30)),
    Case("softsign", lambda tf, x: tf.nn.softsign(x), M),
    Case("nn_sigmoid_tanh", lambda tf, x: [tf.nn.sigmoid(x), tf.nn.tanh(x)], M),
    Case("softmax", lambda tf, x: tf.nn.softmax(x), LOGITS),
    Case("softmax_axis0", lambda tf, x: tf.nn.softmax(x, axis=0), M),
    Case("log_softmax", lambda tf, x: [tf.nn.log_softmax(x), tf.nn.log_softmax(x, axis=0)], M),
    Case(
        "softmax_xent",
        lambda tf, y, x: tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=x),
        PROBS,
        LOGITS,
    ),
    Case(
        "softmax_xent_v2",
        lambda tf, y, x: tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=x),
        PROBS,
        LOGITS,
    ),
    Case(
        "softmax_xent_axis0",
        lambda tf, y, x: tf.nn.softmax_cross_entropy_with_logits_v2(labels=tf.transpose(y), logits=x, axis=0),
        PROBS,
        P((5, 4)),
    ),
    Case(
        "sparse_xent",
        lambda tf, y, x: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=x),
        LABELS,
        LOGITS,
    ),
    Case(
        "sigmoid_xent",
        lambda tf, z, x: tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x),
        P((3, 4), low=0, high=1),
        P((3, 4), values=[0, 1, -1, 2, -3, 0, 0.5, -0.5, 10, -10, 0, 1]),
    ),
    Case("conv2d_same", lambda tf, x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME"), IMG_BATCH, P((3, 3, 3, 4))),
    Case("conv2d_same_stride2", lambda tf, x, w: tf.nn.conv2d(x, w, [1, 2, 2, 1], "SAME"), IMG, P((3, 2, 3, 4))),
    Case(
        "conv2d_valid_stride",
        lambda tf, x, w: tf.nn.conv2d(x, w, strides=[1, 2, 1, 1], padding="VALID"),
        IMG,
        P((2, 2, 3, 2)),
    ),
    Case("conv2d_even_kernel_same", lambda tf, x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME"), IMG, P((2, 4, 3, 2))),
    Case(
        "conv2d_dilated",
        lambda tf, x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME", dilations=[1, 2, 2, 1]),
        IMG,
        P((3, 3, 3, 2)),
        grad=False,  # TF's CPU kernels have no dilated backprop
    ),
    Case(
        "conv2d_explicit_pad",
        lambda tf, x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], [[0, 0], [1, 2], [0, 1], [0, 0]]),
        IMG,
        P((3, 3, 3, 2)),
    ),
    Case(
        "conv2d_nchw",  # TF's CPU kernels are NHWC only: its side transposes around an NHWC conv
        lambda tf, x, w: tf.transpose(
            tf.nn.conv2d(tf.transpose(x, [0, 3, 1, 2]), w, [1, 1, 2, 2], "SAME", data_format="NCHW")
            if tf is etf
            else tf.transpose(tf.nn.conv2d(x, w, [1, 2, 2, 1], "SAME"), [0, 3, 1, 2]),
            [0, 2, 3, 1],
        ),
        IMG_BATCH,
        P((3, 3, 3, 2)),
    ),
    Case(
        "conv2d_f64",
        lambda tf, x, w: tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME"),
        P((1, 5, 5, 2), "float64"),
        P((3, 3, 2, 2), "float64"),
    ),
    Case(
        "math_namespace",
        lambda tf, x, y: [tf.math.log(x), tf.math.divide_no_nan(x, y), tf.math.reduce_sum(x, 1)],
        POS,
        P((3, 4), values=[0, 1, 2, 0.5] * 3),
    ),
    Case(
        "softmax_xent_f64",
        lambda tf, y, x: tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=x),
        P((4, 5), "float64", values=PROBS.values),
        P((4, 5), "float64"),
    ),
    Case("max_pool_same", lambda tf, x: tf.nn.max_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], "SAME"), IMG_BATCH),
    Case(
        "max_pool_valid",
        lambda tf, x: tf.nn.max_pool(x, ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding="VALID"),
        IMG,
    ),
    Case(
        "max_pool_same_neg",
        lambda tf, x: tf.nn.max_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], "SAME"),
        P((1, 5, 5, 2), low=-5, high=-1),
    ),
    Case("avg_pool_same", lambda tf, x: tf.nn.avg_pool(x, [1, 3, 3, 1], [1, 2, 2, 1], "SAME"), IMG_BATCH),
    Case("avg_pool_valid", lambda tf, x: tf.nn.avg_pool(x, [1, 2, 2, 1], [1, 2, 2, 1], "VALID"), IMG),
    Case("bias_add", lambda tf, x, b: tf.nn.bias_add(x, b), IMG_BATCH, P((3,))),
    Case("l2_loss", lambda tf, x: tf.nn.l2_loss(x), M),
    Case(
        "embedding_lookup", lambda tf, p, i: tf.nn.embedding_lookup(p, i), P((6, 3)), P((2, 4), "int32", low=0, high=6)
    ),
    Case("moments", lambda tf, x: list(tf.nn.moments(x, [0])), BATCH),
    Case("moments_keep", lambda tf, x: list(tf.nn.moments(x, [0, 1, 2], keep_dims=True)), IMG),
    Case(
        "batch_normalization",
        lambda tf, x, m, v, o, s: tf.nn.batch_normalization(x, m, v, o, s, 1e-3),
        BATCH,
        V,
        P((4,), low=0.5, high=2),
        V,
        V,
    ),
    Case("l2_normalize", lambda tf, x: [tf.nn.l2_normalize(x, 1), tf.nn.l2_normalize(x, axis=[0, 1])], M),
    Case(
        "in_top_k",
        lambda tf, p, t: [tf.nn.in_top_k(p, t, 1), tf.nn.in_top_k(p, t, 3)],
        P((4, 5), values=np.r_[np.arange(15) % 4, [1, 1, 2, 0, 0]]),
        LABELS,
    ),
]


@pytest.mark.parametrize("case", NN, ids=repr)
def test_nn_matches_tf(case):
    check(case)


Y = P((4, 3), ph=(None, 3))
W_ROWS = P((4, 1), values=[1.0, 0.0, 2.0, 0.5])
W_ZERO = P((4, 3), values=[0, 1, 0, 2, 0, 0, 1, 1, 0, 0, 0, 3])

LOSSES = [
    Case("mse", lambda tf, y, p: tf.losses.mean_squared_error(y, p), Y, Y),
    Case("mse_weight_scalar", lambda tf, y, p: tf.losses.mean_squared_error(y, p, weights=2.5), Y, Y),
    Case("mse_weight_rows", lambda tf, y, p, w: tf.losses.mean_squared_error(y, p, weights=w), Y, Y, W_ROWS),
    Case("mse_weight_zeros", lambda tf, y, p, w: tf.losses.mean_squared_error(y, p, w), Y, Y, W_ZERO),
    Case("mse_weight_all_zero", lambda tf, y, p: tf.losses.mean_squared_error(y, p, weights=0.0), Y, Y),
    Case(
        "mse_reductions",
        lambda tf, y, p, w: [
            tf.losses.mean_squared_error(y, p, w, reduction=r)
            for r in (
                tf.losses.Reduction.NONE,
                tf.losses.Reduction.SUM,
                tf.losses.Reduction.MEAN,
                tf.losses.Reduction.SUM_OVER_BATCH_SIZE,
                tf.losses.Reduction.SUM_BY_NONZERO_WEIGHTS,
            )
        ],
        Y,
        Y,
        W_ZERO,
    ),
    Case("absolute_difference", lambda tf, y, p: tf.losses.absolute_difference(y, p), Y, Y),
    Case(
        "log_loss", lambda tf, y, p: tf.losses.log_loss(y, p), P((4, 3), low=0, high=1), P((4, 3), low=0.05, high=0.95)
    ),
    Case("huber_loss", lambda tf, y, p: tf.losses.huber_loss(y, p, delta=0.7), Y, Y),
    Case("hinge_loss", lambda tf, y, x: tf.losses.hinge_loss(y, x), P((4, 3), values=[0, 1] * 6), Y),
    Case(
        "sigmoid_cross_entropy",
        lambda tf, y, x: [
            tf.losses.sigmoid_cross_entropy(y, x),
            tf.losses.sigmoid_cross_entropy(y, x, label_smoothing=0.1),
        ],
        P((4, 3), values=[0, 1, 1] * 4),
        Y,
    ),
    Case(
        "softmax_cross_entropy",
        lambda tf, y, x, w: [
            tf.losses.softmax_cross_entropy(y, x),
            tf.losses.softmax_cross_entropy(y, x, weights=w, label_smoothing=0.2),
        ],
        P((4, 5), values=np.eye(5, dtype=np.float32)[[0, 4, 2, 2]]),
        LOGITS,
        P((4,), values=[1.0, 0.0, 2.0, 1.0]),
    ),
    Case(
        "sparse_softmax_cross_entropy",
        lambda tf, y, x, w: [
            tf.losses.sparse_softmax_cross_entropy(y, x),
            tf.losses.sparse_softmax_cross_entropy(y, x, w),
        ],
        LABELS,
        LOGITS,
        P((4,), values=[1.0, 0.0, 2.0, 1.0]),
    ),
]


@pytest.mark.parametrize("case", LOSSES, ids=repr)
def test_losses_match_tf(case):
    check(case)


# ---- errors: the same exception class as TF, raised while the graph is built -------------------------
ERRORS = [
    ("add_dtype_mismatch", lambda tf, f, i: tf.add(f, i), TypeError),
    ("matmul_inner_dims", lambda tf, f, i: tf.matmul(f, tf.transpose(f)[:2]), ValueError),
    ("matmul_rank", lambda tf, f, i: tf.matmul(f, tf.reduce_sum(f, 0)), ValueError),
    ("reduce_axis_range", lambda tf, f, i: tf.reduce_sum(f, 3), ValueError),
    ("concat_dtypes", lambda tf, f, i: tf.concat([f, i], 0), TypeError),
    ("squeeze_not_one", lambda tf, f, i: tf.squeeze(f, [1]), ValueError),
    (
        "sparse_xent_rank",
        lambda tf, f, i: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=f, logits=f),
        (TypeError, ValueError),
    ),
    (
        "conv2d_channels",
        lambda tf, f, i: tf.nn.conv2d(tf.reshape(f, [1, 3, 4, 1]), tf.zeros([2, 2, 3, 1]), [1, 1, 1, 1], "SAME"),
        ValueError,
    ),
    ("int_scalar_into_float_op", lambda tf, f, i: tf.add(i, 2.5), TypeError),
    ("python_float_into_int_op", lambda tf, f, i: tf.multiply(i, 2.0), TypeError),
    ("sqrt_of_int", lambda tf, f, i: tf.sqrt(i), TypeError),
]


@pytest.mark.parametrize("case", ERRORS, ids=lambda c: c[0])
def test_errors_match_tf(case):
    _, fn, cls = case
    with tf.Graph().as_default():
        f, i = tf.placeholder(tf.float32, [3, 4]), tf.placeholder(tf.int32, [3, 4])
        with pytest.raises(cls):
            fn(tf, f, i)
    with fw.Graph().as_default():
        f, i = etf.placeholder(etf.float32, [3, 4]), etf.placeholder(etf.int32, [3, 4])
        with pytest.raises(cls) as got:
            fn(etf, f, i)
    assert "test_v1_ops.py" in str(got.value)  # the message names the user's line


# ---- random ops: one RANDOM node, fresh numbers per run, TF's seed rule ------------------------------
def _run(graph, fetches, feeds=None):
    return execute.run(graph, [_value(t) for t in fetches], feeds={_value(k): v for k, v in (feeds or {}).items()})


def test_uniform_like_draws_as_rand():
    x = ember.zeros(3, 5, dtype=ember.float64)
    ember.manual_seed(11)
    want = ember.rand(3, 5, dtype=ember.float64).numpy()
    ember.manual_seed(11)
    np.testing.assert_array_equal(ember.ops.uniform_like(x).numpy(), want)
    g = ember.Generator().manual_seed(5)
    want = ember.randn(4, generator=ember.Generator().manual_seed(5)).numpy()
    np.testing.assert_array_equal(ember.ops.normal_like(ember.zeros(4), generator=g).numpy(), want)


def test_random_distributions_match_tf():
    n = 20000
    stats = {}
    for lib, graph in ((tf, tf.Graph()), (etf, fw.Graph())):
        with graph.as_default():
            ts = [
                lib.random_normal([n], mean=1.0, stddev=2.0),
                lib.truncated_normal([n], stddev=0.5),
                lib.random_uniform([n], -1.0, 3.0),
                lib.random_uniform([n], 2, 7, dtype=lib.int32),
                lib.random_normal([n], dtype=lib.float64),
            ]
            if lib is tf:
                with tf.Session(graph=graph) as s:
                    vals = s.run(ts)
            else:
                vals = _run(graph, ts)
        stats[lib is tf] = vals
    for a, b in zip(stats[False], stats[True]):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert abs(a.mean() - b.mean()) < 0.1 and abs(a.std() - b.std()) < 0.1
    ember_normal, ember_trunc, ember_unif, ember_int, _ = stats[False]
    assert np.abs(ember_trunc).max() <= 1.0  # two standard deviations
    assert ember_unif.min() >= -1.0 and ember_unif.max() < 3.0
    assert set(np.unique(ember_int)) == {2, 3, 4, 5, 6}


def test_random_ops_draw_fresh_numbers_each_run_and_dynamic_shapes():
    g = fw.Graph()
    with g.as_default():
        x = etf.placeholder(etf.float32, [None, 3])
        r = etf.random_normal(etf.shape(x))
        u = etf.random_uniform([4])
        sh = etf.random_shuffle(x)
    feed = {x: np.arange(15, dtype=np.float32).reshape(5, 3)}
    a, ua, sa = _run(g, [r, u, sh], feed)
    b, ub, sb = _run(g, [r, u, sh], feed)
    assert a.shape == (5, 3) and r.shape.as_list() == [None, 3]
    assert not np.array_equal(a, b) and not np.array_equal(ua, ub)
    for s in (sa, sb):  # a permutation of the rows
        np.testing.assert_array_equal(np.sort(s[:, 0]), feed[x][:, 0])
        np.testing.assert_array_equal(s[:, 1] - s[:, 0], np.ones(5))


def _draws(seed_graph, seed_op):
    g = fw.Graph()
    with g.as_default():
        if seed_graph is not None:
            etf.set_random_seed(seed_graph)
        a = etf.random_uniform([3], seed=seed_op)
        b = etf.random_normal([3])
    return [v.tolist() for v in _run(g, [a, b])]


def test_seed_rule():
    # a graph seed makes every op repeatable across builds, and different ops draw differently
    assert _draws(1, None) == _draws(1, None)
    assert _draws(1, None) != _draws(2, None)
    first = _draws(1, None)
    assert first[0] != first[1]
    # an op seed alone fixes that op; an op without a seed stays random
    a, b = _draws(None, 7), _draws(None, 7)
    assert a[0] == b[0] and a[1] != b[1]
    assert _draws(None, None)[0] != _draws(None, None)[0]


def test_seeded_ops_restart_like_a_new_tf_session():
    from ember.compat.v1.random_ops import restart_seeded_generators

    g = fw.Graph()
    with g.as_default():
        a = etf.random_normal([3], seed=5)
    first, second = _run(g, [a]), _run(g, [a])
    assert not np.array_equal(first, second)
    restart_seeded_generators(g)  # what a new Session does: the op's sequence starts over
    np.testing.assert_array_equal(_run(g, [a]), first)


def test_dropout_matches_tf_semantics():
    xv = np.random.default_rng(0).uniform(1, 2, (200, 50)).astype(np.float32)
    for kw in (dict(keep_prob=0.8), dict(rate=0.3)):
        keep = kw.get("keep_prob", 1 - kw.get("rate", 0))
        g = fw.Graph()
        with g.as_default():
            x = etf.placeholder(etf.float32, [None, 50])
            d = etf.nn.dropout(x, **kw)
            gx = ember_gradients([d], [x])[0]
        out, grad = _run(g, [d, gx], {x: xv})
        kept = out != 0
        np.testing.assert_allclose(out[kept], xv[kept] / np.float32(keep), rtol=1e-6)
        assert abs(kept.mean() - keep) < 0.02
        np.testing.assert_allclose(grad, kept / np.float32(keep), rtol=1e-6)  # the same mask in backward
        again = _run(g, [d], {x: xv})[0]
        assert not np.array_equal(again != 0, kept)
    with tf.Graph().as_default():  # TF scales the kept values by 1 / keep_prob the same way
        x = tf.placeholder(tf.float32, [None, 50])
        with tf.Session() as s:
            out = s.run(tf.nn.dropout(x, keep_prob=0.8), {x: xv})
        kept = out != 0
        np.testing.assert_allclose(out[kept], xv[kept] / np.float32(0.8), rtol=1e-6)


# ---- layers: variable names, shapes and outputs vs TF1's layers semantics ----------------------------
def test_layers_dense_names_and_values():
    g = fw.Graph()
    with g.as_default():
        x = etf.placeholder(etf.float32, [None, 4])
        h = etf.layers.dense(x, 3, activation=etf.nn.relu)
        h2 = etf.layers.dense(h, 2, use_bias=False)
        out = etf.layers.dense(h2, 5, name="head")
        again = etf.layers.dense(h2, 5, name="head", reuse=True)
        names = [(v.name, tuple(v.shape)) for v in etf.trainable_variables()]
        assert names == [
            ("dense/kernel:0", (4, 3)),
            ("dense/bias:0", (3,)),
            ("dense_1/kernel:0", (3, 2)),
            ("head/kernel:0", (2, 5)),
            ("head/bias:0", (5,)),
        ]
        xv = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
        with etf.Session() as s:
            s.run(etf.global_variables_initializer())
            k1, b1, k2, k3, b3, o, o2 = s.run(etf.trainable_variables() + [out, again], {x: xv})
    np.testing.assert_array_equal(b1, 0)
    limit = np.sqrt(6 / (4 + 3))  # glorot_uniform, TF's default kernel initializer
    assert np.abs(k1).max() <= limit and k1.std() > limit / 4
    want = np.maximum(xv @ k1 + b1, 0) @ k2 @ k3 + b3
    np.testing.assert_allclose(o, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(o, o2)


def test_layers_conv_pool_flatten_match_tf_nn():
    rng = np.random.default_rng(3)
    xv = rng.standard_normal((2, 7, 7, 3)).astype(np.float32)
    kv = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 7, 7, 3])
        y = tf.nn.max_pool(
            tf.nn.relu(tf.nn.conv2d(x, kv, [1, 2, 2, 1], "SAME") + 0.5), [1, 2, 2, 1], [1, 2, 2, 1], "VALID"
        )
        y = tf.reshape(y, [-1, 16])
        with tf.Session() as s:
            want = s.run(y, {x: xv})
    g = fw.Graph()
    with g.as_default():
        x = etf.placeholder(etf.float32, [None, 7, 7, 3])
        c = etf.layers.conv2d(x, 4, 3, strides=2, padding="same", activation=etf.nn.relu,
                              kernel_initializer=etf.constant_initializer(kv),
                              bias_initializer=etf.constant_initializer(0.5))  # fmt: skip
        p = etf.layers.max_pooling2d(c, 2, 2)
        flat = etf.layers.flatten(p)
        assert [v.name for v in etf.trainable_variables()] == ["conv2d/kernel:0", "conv2d/bias:0"]
        assert flat.shape.as_list() == [None, 16]
        with etf.Session() as s:
            s.run(etf.global_variables_initializer())
            got = s.run(flat, {x: xv})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# ---- the op-table rows compat.v1 added, run eagerly ---------------------------------------------------
def test_dynamic_shape_ops_eagerly():
    x = ember.tensor(np.arange(12, dtype=np.float32).reshape(3, 4), requires_grad=True)
    shp = ember.ops.shape_of(x)
    assert shp.dtype == ember.int64 and shp.tolist() == [3, 4]
    y = ember.ops.reshape_dynamic(x, ember.tensor([2, -1]))
    assert tuple(y.shape) == (2, 6)
    b = ember.ops.broadcast_dynamic(x[:1], ember.tensor([2, 3, 4]))
    assert tuple(b.shape) == (2, 3, 4)
    w = ember.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32))
    ((y * y).sum() + (b * w).sum()).backward()
    want = 2 * x.detach().numpy()
    want[0] += w.numpy().sum(axis=(0, 1))
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-6)
    s = ember.ops.stop_gradient(x)
    (s * x).sum().backward()  # only the second factor passes a gradient
    np.testing.assert_allclose(x.grad.numpy(), want + x.detach().numpy(), rtol=1e-6)


def test_random_rows_eagerly():
    g = ember.Generator().manual_seed(3)
    a = ember.ops.random_uniform(shape=(1000,), dtype=ember.int32, low=-2, high=3, generator=g)
    assert a.dtype == ember.int32 and set(np.unique(a.numpy())) == {-2, -1, 0, 1, 2}
    t = ember.ops.truncated_normal(shape=(5000,), dtype=ember.float64, mean=1.0, std=0.5, generator=g)
    assert t.dtype == ember.float64 and np.abs(t.numpy() - 1.0).max() <= 1.0
    p = ember.ops.permutation_like(ember.zeros(7), generator=ember.Generator().manual_seed(4))
    np.testing.assert_array_equal(p.numpy(), ember.randperm(7, generator=ember.Generator().manual_seed(4)).numpy())
    x = ember.ones(2, 3, requires_grad=True)
    u = ember.ops.uniform_like(x)
    (x * u).sum().backward()  # the draw itself passes no gradient to x
    np.testing.assert_array_equal(x.grad.numpy(), u.detach().numpy())
