"""tf.nn.rnn_cell cells and static_rnn / dynamic_rnn against TensorFlow's (tf_keras's legacy cells).

Same weights loaded into both (variables matched by TF's names, which must
agree), then outputs, final states and gradients compared.
"""

from __future__ import annotations

import numpy as np
import pytest

import ember.compat.v1 as etf

tf1 = pytest.importorskip("tensorflow.compat.v1")
tf1.disable_eager_execution()
_cells_mod = pytest.importorskip("tf_keras.src.layers.rnn.legacy_cells")
_wrappers = pytest.importorskip("tf_keras.src.layers.rnn.legacy_cell_wrappers")
legacy = type(
    "rnn_cell", (), {**vars(_cells_mod), "DropoutWrapper": _wrappers.DropoutWrapper}
)  # TF 1.x's tf.nn.rnn_cell

X = np.random.RandomState(0).randn(3, 5, 4).astype(np.float32)
LENGTHS = np.array([5, 2, 3], np.int32)


def _cells(tf):
    return tf.nn.rnn_cell if tf is etf else legacy


CELLS = {
    "basic_lstm": lambda c: c.BasicLSTMCell(6, forget_bias=1.0),
    "lstm_peephole_proj": lambda c: c.LSTMCell(6, use_peepholes=True, num_proj=3, cell_clip=2.0),
    "gru": lambda c: c.GRUCell(6),
    "basic_rnn": lambda c: c.BasicRNNCell(6),
    "multi": lambda c: c.MultiRNNCell([c.BasicLSTMCell(5), c.GRUCell(4)]),
    "dropout_keep1": lambda c: c.DropoutWrapper(c.LSTMCell(6), output_keep_prob=1.0),
}


def _flat(s):
    return [x for y in s for x in _flat(y)] if isinstance(s, (tuple, list)) else [s]


def _program(tf, make, mode):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 5, 4])
        cell = make(_cells(tf))
        if mode == "static":
            outs, state = tf.nn.static_rnn(cell, tf.unstack(x, 5, 1), dtype=tf.float32)
            out = tf.stack(outs, 1)
        else:
            out, state = tf.nn.dynamic_rnn(cell, x, sequence_length=LENGTHS, dtype=tf.float32)
        loss = tf.reduce_sum(tf.square(out)) + sum(tf.reduce_sum(s) for s in _flat(state))
        params = tf.trainable_variables()
        grads = tf.gradients(loss, params + [x])
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            rng = np.random.RandomState(1)
            for v in params:
                v.load(rng.uniform(-0.5, 0.5, v.shape.as_list()).astype(np.float32), sess)
            got = sess.run([out, _flat(state), grads], {x: X})
        return [v.name for v in params], got


@pytest.mark.parametrize("mode", ["static", "dynamic"])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_cell_matches_tf(name, mode):
    names, (out, state, grads) = _program(etf, CELLS[name], mode)
    tnames, (tout, tstate, tgrads) = _program(tf1, CELLS[name], mode)
    assert names == tnames
    np.testing.assert_allclose(out, tout, rtol=1e-5, atol=1e-5)
    for a, b in zip(state, tstate):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    for a, b in zip(grads, tgrads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    if mode == "dynamic":
        assert not out[1, 2:].any()  # past its length a sequence's outputs are zeros


def test_cell_errors_name_the_problem():
    with etf.Graph().as_default():
        x = etf.placeholder(etf.float32, [None, None, 4])
        with pytest.raises(NotImplementedError, match="time dimension"):
            etf.nn.dynamic_rnn(etf.nn.rnn_cell.GRUCell(3), x, dtype=etf.float32)
        with pytest.raises(ValueError, match="dtype must be specified"):
            etf.nn.static_rnn(etf.nn.rnn_cell.GRUCell(3), [x[:, 0]])


def _bidirectional(tf):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 5, 4])
        c = _cells(tf)
        outs, st_fw, st_bw = tf.nn.static_bidirectional_rnn(
            c.BasicLSTMCell(3), c.BasicLSTMCell(3), tf.unstack(x, 5, 1), dtype=tf.float32
        )
        params = tf.trainable_variables()
        grads = tf.gradients(tf.reduce_sum(tf.square(outs[-1])), params)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            rng = np.random.RandomState(2)
            for v in params:
                v.load(rng.uniform(-0.5, 0.5, v.shape.as_list()).astype(np.float32), sess)
            return [v.name for v in params], sess.run([outs, _flat(st_fw), _flat(st_bw), grads], {x: X})


def test_static_bidirectional_rnn_matches_tf():
    names, got = _bidirectional(etf)
    tnames, want = _bidirectional(tf1)
    assert names == tnames and names[0] == "bidirectional_rnn/fw/basic_lstm_cell/kernel:0"
    for a, b in zip(_flat(got), _flat(want)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _bidirectional_dynamic(tf, lengths):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 5, 4])
        c = _cells(tf)
        (out_fw, out_bw), (st_fw, st_bw) = tf.nn.bidirectional_dynamic_rnn(
            c.LSTMCell(3), c.GRUCell(3), x, sequence_length=lengths, dtype=tf.float32
        )
        out = tf.concat([out_fw, out_bw], 2)
        rev = tf.reverse_sequence(x, LENGTHS, seq_axis=1, batch_axis=0)
        params = tf.trainable_variables()
        grads = tf.gradients(tf.reduce_sum(tf.square(out)) + tf.reduce_sum(st_bw), params + [x])
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            rng = np.random.RandomState(3)
            for v in params:
                v.load(rng.uniform(-0.5, 0.5, v.shape.as_list()).astype(np.float32), sess)
            return [v.name for v in params], sess.run([out, _flat(st_fw), st_bw, rev, grads], {x: X})


@pytest.mark.parametrize("lengths", [None, LENGTHS])
def test_bidirectional_dynamic_rnn_and_reverse_sequence_match_tf(lengths):
    names, got = _bidirectional_dynamic(etf, lengths)
    tnames, want = _bidirectional_dynamic(tf1, lengths)
    assert names == tnames and names[0] == "bidirectional_rnn/fw/lstm_cell/kernel:0"
    for a, b in zip(_flat(got), _flat(want)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
