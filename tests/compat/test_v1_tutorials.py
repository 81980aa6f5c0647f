"""Classic TF1 tutorials run unchanged on ``ember.compat.v1`` and on TensorFlow, numbers compared.

Each program in ``tutorials/`` is a copy of a well-known script taking the
``tf`` module as its only change; both frameworks start from the same
weights (the scripts' own NumPy values, zeros, or ``Data.on_init``) and see
the same batches, so losses, accuracies and weights must agree to float32
rounding at every recorded step.
"""

from __future__ import annotations

import importlib.util
import pathlib
import types

import numpy as np
import pytest

import ember.compat.v1 as etf

tf1 = pytest.importorskip("tensorflow.compat.v1")
tf1.disable_eager_execution()

HERE = pathlib.Path(__file__).parent / "tutorials"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"tutorials_{name}", HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


data_mod = _load("data")


def _tf_with_cells():
    """TF 2.x keeps TF1's cells in tf_keras; give the TF run TF 1.x's ``tf.nn.rnn_cell`` spelling."""
    cells = pytest.importorskip("tf_keras.src.layers.rnn.legacy_cells")
    nn = types.SimpleNamespace(**{k: getattr(tf1.nn, k) for k in dir(tf1.nn) if not k.startswith("_")})
    nn.rnn_cell = cells
    mod = types.SimpleNamespace(**{k: getattr(tf1, k) for k in dir(tf1) if not k.startswith("__")})
    mod.nn = nn
    return mod


def _run(name, framework, *args, **kw):
    mod = _load(name)
    graph = framework.Graph()
    with graph.as_default():
        return mod.main(framework, *args, **kw)


def _close(a, b, rtol=1e-4, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=rtol, atol=atol)


def test_linear_regression_shapeless_placeholders():
    ours = _run("linear_regression", etf, training_epochs=200, display_step=25)
    ref = _run("linear_regression", tf1, training_epochs=200, display_step=25)
    assert len(ours[0]) == 8
    _close(ours[0], ref[0])
    _close(ours[1:], ref[1:])


def test_logistic_regression():
    ours = _run("logistic_regression", etf, data_mod.mnist(), training_epochs=3)
    ref = _run("logistic_regression", tf1, data_mod.mnist(), training_epochs=3)
    _close(ours[0], ref[0])
    assert ours[0][-1] < ours[0][0]
    assert ours[1] == pytest.approx(ref[1], abs=1e-6)
    _close(ours[2], ref[2])


def test_mnist_for_beginners():
    ours = _run("mnist_softmax", etf, data_mod.mnist(), steps=60)
    ref = _run("mnist_softmax", tf1, data_mod.mnist(), steps=60)
    _close(ours[0], ref[0])
    assert ours[1] == pytest.approx(ref[1], abs=1e-6) and ours[1] > 0.8
    _close(ours[2], ref[2])


def test_deep_mnist_for_experts():
    da, db = data_mod.mnist(), data_mod.mnist()
    kw = dict(steps=40, train_keep_prob=1.0, display=10)  # keep_prob=1: dropout draws differ between frameworks
    ours = _run("mnist_deep", etf, da, on_init=da.on_init, **kw)
    ref = _run("mnist_deep", tf1, db, on_init=db.on_init, **kw)
    _close(ours[0], ref[0])
    assert ours[1] == pytest.approx(ref[1], abs=1e-6)
    for a, b in zip(ours[2], ref[2]):
        _close(a, b)


def test_deep_mnist_trains_with_dropout():
    d = data_mod.mnist()
    hist, acc, _ = _run("mnist_deep", etf, d, steps=30, train_keep_prob=0.5, display=10, on_init=d.on_init)
    assert np.isfinite([h[1] for h in hist]).all() and 0.0 <= acc <= 1.0


def test_multilayer_perceptron():
    da, db = data_mod.mnist(init_std=1.0), data_mod.mnist(init_std=1.0)
    ours = _run("multilayer_perceptron", etf, da, training_epochs=3, on_init=da.on_init)
    ref = _run("multilayer_perceptron", tf1, db, training_epochs=3, on_init=db.on_init)
    _close(ours[0], ref[0])
    assert ours[1] == pytest.approx(ref[1], abs=1e-6)
    _close(ours[2], ref[2], rtol=1e-3, atol=1e-4)


def test_recurrent_network_static_rnn_lstm():
    da, db = data_mod.mnist(init_std=0.5), data_mod.mnist(init_std=0.5)
    ours = _run("recurrent_network", etf, da, training_steps=30, on_init=da.on_init)
    ref = _run("recurrent_network", _tf_with_cells(), db, training_steps=30, on_init=db.on_init)
    assert (
        ours[2]
        == ref[2]
        == ["Variable:0", "Variable_1:0", "rnn/basic_lstm_cell/kernel:0", "rnn/basic_lstm_cell/bias:0"]
    )
    _close(ours[0], ref[0])
    assert ours[1] == pytest.approx(ref[1], abs=1e-6)
    for a, b in zip(ours[3], ref[3]):
        _close(a, b)


def test_word2vec_nce_with_fixed_negatives_matches_tf():
    """With the same negatives each step (sampled_values) and the same weights, NCE training matches TF."""
    V, S = 200, 8
    sampled = np.arange(3, 3 + S, dtype=np.int64) * 7 % V
    p = (np.log(sampled + 2.0) - np.log(sampled + 1.0)) / np.log(V + 1.0)
    sampled_values = (sampled, np.full((32, 1), 0.05, np.float32), (p * S).astype(np.float32))
    da, db = data_mod.Data(init_std=0.3), data_mod.Data(init_std=0.3)
    ours = _run("word2vec_basic", etf, num_steps=60, nce_sampled_values=sampled_values, on_init=da.on_init)
    ref = _run("word2vec_basic", tf1, num_steps=60, nce_sampled_values=sampled_values, on_init=db.on_init)
    _close(ours[0], ref[0], rtol=1e-4, atol=1e-4)
    _close(ours[1], ref[1], rtol=1e-3, atol=1e-4)
    _close(ours[2], ref[2], rtol=1e-3, atol=1e-4)


def test_word2vec_nce_with_sampling_trains():
    """Random negatives differ from TF's draws: check shapes, finiteness and a falling loss instead."""
    hist, sim, emb = _run("word2vec_basic", etf, num_steps=300)
    assert sim.shape == (8, 200) and emb.shape == (200, 16)
    assert np.isfinite(hist).all() and np.isfinite(sim).all()
    assert np.mean(hist[-50:]) < 0.7 * np.mean(hist[:50])
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)


def test_summaries_and_saver(tmp_path):
    ours = _run("tensorboard_basic", etf, data_mod.mnist(), tmp_path / "e_logs", str(tmp_path / "e_model.ckpt"))
    ref = _run("tensorboard_basic", tf1, data_mod.mnist(), str(tmp_path / "t_logs"), str(tmp_path / "t_model.ckpt"))
    _close(ours[0], ref[0])  # the last loss is from the restored session: restore worked
    assert ours[1] == pytest.approx(ref[1], abs=1e-6)
    writer = ours[2]
    assert (tmp_path / "e_logs").is_dir()
    losses = [v for _, tag, v in writer.scalars if tag == "loss"]
    assert len(losses) == 30 and [s for s, tag, _ in writer.scalars if tag == "accuracy"] == list(range(30))
    _close(losses, ref[0][:30])


def test_shapeless_placeholder_guards_shape_dependent_ops():
    """A non-scalar feed of a shapeless placeholder runs through elementwise ops and full reductions only."""
    with etf.Graph().as_default():
        x = etf.placeholder("float")
        w = etf.Variable(2.0)
        total = etf.reduce_sum(x * w) + etf.reduce_mean(x) + etf.reduce_max(x)
        step = etf.train.GradientDescentOptimizer(0.1).minimize(etf.reduce_sum(etf.square(x * w)))
        sq = etf.reshape(x, [1])
        assert x.shape.ndims is None and (x * w).get_shape().ndims is None  # TF: TensorShape(None)
        assert etf.reduce_sum(x).shape.as_list() == []
        with etf.Session() as sess:
            sess.run(etf.global_variables_initializer())
            feed = np.arange(6, dtype=np.float32).reshape(2, 3)
            assert sess.run(total, {x: feed}) == pytest.approx(feed.sum() * 2 + feed.mean() + feed.max())
            assert sess.run(x * w, {x: feed}).shape == (2, 3)
            shape, size, rank = sess.run([etf.shape(x), etf.size(x), etf.rank(x)], {x: feed})
            assert shape.tolist() == [2, 3] and size == 6 and rank == 2  # the fed array's, not the scalar's
            sess.run(step, {x: 3.0})  # scalar feeds train as usual
            assert sess.run(w) == pytest.approx(2.0 - 0.1 * 2 * 9 * 2.0)
            with pytest.raises(ValueError, match="unknown rank.*Assign|unknown rank.*assign"):
                sess.run(step, {x: feed})  # the gradient was built for a scalar
            with pytest.raises(ValueError, match="reshape"):
                sess.run(sq, {x: feed})


def test_basic_operations():
    ours = _run("basic_operations", etf)
    ref = _run("basic_operations", tf1)
    assert len(ours) == len(ref) == 6
    for a, b in zip(ours, ref):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_array_equal(a, b)


def test_nearest_neighbor():
    ours = _run("nearest_neighbor", etf, data_mod.mnist())
    ref = _run("nearest_neighbor", tf1, data_mod.mnist())
    assert [int(i) for i in ours[0]] == [int(i) for i in ref[0]]
    assert ours[1] == pytest.approx(ref[1]) and ours[1] > 0.8


def test_autoencoder_rmsprop():
    da, db = data_mod.mnist(init_std=1.0), data_mod.mnist(init_std=1.0)
    ours = _run("autoencoder", etf, da, num_steps=40, on_init=da.on_init)
    ref = _run("autoencoder", tf1, db, num_steps=40, on_init=db.on_init)
    _close(ours[0], ref[0])
    assert ours[0][-1] < ours[0][0]
    _close(ours[1], ref[1])


def test_dynamic_rnn_variable_length_sequences():
    da, db = data_mod.Data(init_std=0.5), data_mod.Data(init_std=0.5)
    ours = _run("dynamic_rnn", etf, on_init=da.on_init)
    ref = _run("dynamic_rnn", _tf_with_cells(), on_init=db.on_init)
    _close(ours[0], ref[0])
    assert ours[1] == pytest.approx(ref[1], abs=1e-6)
    for a, b in zip(ours[2], ref[2]):
        _close(a, b)


@pytest.mark.parametrize("args", [(0, "n"), ("n",), (1, "n", 2), (0.5, "n", 0.25)])
def test_range_with_a_run_time_limit_matches_tf(args):
    def program(tf):
        with tf.Graph().as_default():
            x = tf.placeholder(tf.float32, [None, 2])
            n = tf.shape(x)[0]
            r = tf.range(*[n if a == "n" else a for a in args])
            with tf.Session() as sess:
                return [sess.run(r, {x: np.zeros((k, 2), np.float32)}) for k in (1, 2, 5)]

    for a, b in zip(program(etf), program(tf1)):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
