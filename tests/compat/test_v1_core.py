"""ember.compat.v1's core API (Session, Variables, scopes, control flow of state, Saver) against tensorflow.compat.v1.

Where TF defines the behaviour, the same code runs under both (``tf1`` and
``etf``) and results, types and error classes are compared; ember's own
additions (graph finalization, debug mode, step-through, atomic checkpoints)
are checked directly.
"""

import collections
import os
import pickle

import numpy as np
import pytest

import ember.compat.v1 as etf

tf1 = pytest.importorskip("tensorflow.compat.v1")

BOTH = pytest.mark.parametrize("tf", [tf1, etf], ids=["tensorflow", "ember"])
Pair = collections.namedtuple("Pair", "a b")


def small_graph(tf):
    x = tf.placeholder(tf.float32, [None, 2], name="x")
    w = tf.Variable(np.array([[1.0], [2.0]], np.float32), name="w")
    y = tf.matmul(x, w, name="y") if tf is tf1 else tf.identity(tf.matmul(x, w), name="y")
    return x, w, y


# ---- fetches --------------------------------------------------------------------------------------------
def nested_fetch(tf):
    with tf.Graph().as_default():
        x, w, y = small_graph(tf)
        s = tf.reduce_sum(y)
        init = tf.global_variables_initializer()
        with tf.Session() as sess:
            sess.run(init)
            feed = {x: np.array([[1, 1], [2, 0]], np.float32)}
            return sess.run(
                {"list": [y, s], "tuple": (s, init), "pair": Pair(w, s), "nested": {"k": [(s,)]}, "op": init,
                 "name": "y:0"},
                feed_dict=feed,
            )  # fmt: skip


def test_nested_fetches_match_tensorflow():
    ours, theirs = nested_fetch(etf), nested_fetch(tf1)
    assert set(ours) == set(theirs)
    assert isinstance(ours["tuple"], tuple) and ours["tuple"][1] is None and theirs["tuple"][1] is None
    assert isinstance(ours["pair"], Pair) and isinstance(theirs["pair"], Pair)
    assert isinstance(ours["list"], list) and ours["op"] is None and theirs["op"] is None
    np.testing.assert_array_equal(ours["list"][0], theirs["list"][0])
    np.testing.assert_array_equal(ours["name"], theirs["name"])
    assert ours["nested"]["k"][0][0] == theirs["nested"]["k"][0][0] == 5.0
    assert type(ours["tuple"][0]) is type(theirs["tuple"][0]) is np.float32  # 0-d fetches are NumPy scalars
    np.testing.assert_array_equal(ours["pair"].a, theirs["pair"].a)


@BOTH
def test_fetch_errors(tf):
    with tf.Graph().as_default():
        x, w, y = small_graph(tf)
        with tf.Session() as sess:
            with pytest.raises(TypeError, match="None has invalid type"):
                sess.run(None)
            with pytest.raises((ValueError, KeyError)):
                sess.run("nope:0")
    other = tf.Graph()
    with other.as_default():
        z = tf.constant(1.0)
    with tf.Graph().as_default(), tf.Session() as sess:
        tf.constant(0.0)
        with pytest.raises(ValueError, match="is not an element of this graph"):
            sess.run(z)


# ---- feeds -------------------------------------------------------------------------------------------
@BOTH
def test_feed_checks_and_casts(tf):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 2], name="x")
        n = tf.placeholder(tf.int32, [], name="n")
        y = x * 2.0
        m = n + 1
        with tf.Session() as sess:
            with pytest.raises(ValueError, match=r"Cannot feed value of shape \(3,\) for Tensor"):
                sess.run(y, {x: np.ones(3)})
            with pytest.raises(ValueError, match=r"Cannot feed value of shape \(2, 3\)"):
                sess.run(y, {x: np.ones((2, 3))})
            out = sess.run(y, {x: [[1, 2]]})  # a list of ints: cast to the placeholder's float32
            assert out.dtype == np.float32 and out.tolist() == [[2.0, 4.0]]
            assert sess.run(y, {"x:0": np.ones((1, 2))}).tolist() == [[2.0, 2.0]]  # by name
            assert sess.run(m, {n: 4}) == 5 and sess.run(m, {n: 4}).dtype == np.int32
            with pytest.raises(TypeError, match="feed"):
                sess.run(y, {x: y})  # a tensor is not a feed value
            with pytest.raises(tf.errors.InvalidArgumentError, match="You must feed a value for placeholder tensor"):
                sess.run(y)


# ---- session lifecycle ----------------------------------------------------------------------------------
@BOTH
def test_closed_session_raises(tf):
    with tf.Graph().as_default():
        c = tf.constant(3.0)
        sess = tf.Session()
        assert sess.run(c) == 3.0
        sess.close()
        with pytest.raises(RuntimeError, match="Attempted to use a closed Session."):
            sess.run(c)


def test_closed_session_message_says_where():
    with etf.Graph().as_default():
        c = etf.constant(3.0)
        with etf.Session() as sess:
            pass
        with pytest.raises(RuntimeError) as e:
            sess.run(c)
    assert "test_v1_core.py" in str(e.value) and "with tf.Session()" in str(e.value)


def test_ops_added_after_a_run_work_but_ops_built_in_the_loop_raise():
    with etf.Graph().as_default():
        x = etf.placeholder(etf.float32, [None])
        y = x + 1.0
        with etf.Session() as sess:
            sess.run(y, {x: [1.0]})
            z = x * 3.0  # as in TF: a test-set op built after training runs
            assert sess.run(z, {x: [2.0]}).tolist() == [6.0]
            n = len(sess.graph.nodes)
            with pytest.raises(RuntimeError) as e:
                for _ in range(12):
                    w = x * 2.0  # the classic leak: an op built inside the loop
                    sess.run(w, {x: [1.0]})
            assert len(sess.graph.nodes) == n + 1  # caught at the second iteration
    msg = str(e.value)
    assert "training loop" in msg and "test_v1_core.py" in msg and "w = x * 2.0" in msg


def test_interactive_session_allows_building_between_runs():
    with etf.Graph().as_default():
        x = etf.placeholder(etf.float32, [None])
        sess = etf.InteractiveSession()
        try:
            for i in range(3):
                assert (x * 2.0).eval({x: [float(i)]}).tolist() == [2.0 * i]  # notebooks do this
        finally:
            sess.close()


@BOTH
def test_default_session_eval_and_run(tf):
    with tf.Graph().as_default():
        v = tf.Variable(2.0)
        y = v * 3.0
        with pytest.raises(ValueError, match="No default session is registered"):
            y.eval()
        with tf.Session() as sess:
            assert tf.get_default_session() is sess
            v.initializer.run()
            assert y.eval() == 6.0
            assert v.eval() == 2.0
            assert tf.get_default_graph() is sess.graph
        assert tf.get_default_session() is None
        sess2 = tf.Session()
        with sess2.as_default():
            v.initializer.run()
            assert y.eval() == 6.0
        assert y.eval(session=sess2) == 6.0
        sess2.close()


@BOTH
def test_interactive_session(tf):
    with tf.Graph().as_default():
        sess = tf.InteractiveSession()
        try:
            v = tf.Variable([1.0, 2.0])
            v.initializer.run()
            s = tf.reduce_sum(v * v)
            assert s.eval() == 5.0
            t = s + 1.0  # interactive: ops may be added after a run
            assert t.eval() == 6.0
            tf.assign(v, [3.0, 4.0]).eval() if hasattr(tf, "assign") else v.assign([3.0, 4.0]).eval()
            assert t.eval() == 26.0
        finally:
            sess.close()
        assert tf.get_default_session() is None


# ---- variables ---------------------------------------------------------------------------------------------
def variable_facts(tf):
    with tf.Graph().as_default():
        a = tf.Variable(np.zeros((2, 3), np.float32), name="a")
        b = tf.Variable(1, name="a")  # a used name becomes a_1
        c = tf.Variable(tf.ones([2]), trainable=False)
        with tf.name_scope("scope"):
            d = tf.Variable(0.5, name="d")
            i1 = tf.identity(d, name="out")
        with tf.name_scope("scope"):
            i2 = tf.identity(d, name="out")
        return dict(
            names=[v.name for v in (a, b, c, d)],
            shapes=[v.shape.as_list() for v in (a, b, c, d)],
            dtypes=[v.dtype.name.replace("_ref", "") for v in (a, b, c, d)],
            trainable=[v.name for v in tf.trainable_variables()],
            all=[v.name for v in tf.global_variables()],
            ids=[i1.name, i2.name],
        )


def test_variable_properties_match_tensorflow():
    assert variable_facts(etf) == variable_facts(tf1)


def control_program(tf):
    with tf.Graph().as_default():
        v = tf.Variable(0.0)
        a1 = v.assign_add(1.0)
        with tf.control_dependencies([a1]):
            a2 = v.assign_add(10.0)
        set5 = v.assign(5.0)
        with tf.control_dependencies([set5]):
            after = v.read_value()
            ident = tf.identity(after * 2.0)
        with tf.control_dependencies([a2]):
            noop = tf.no_op()
        grouped = tf.group(a1, set5)
        with tf.Session() as sess:
            sess.run(v.initializer)
            r1 = sess.run(a2)
            r2 = sess.run(v)
            r3 = sess.run(after)
            r4 = sess.run(ident)
            sess.run(noop)
            r5 = sess.run(v)
            r6 = sess.run(grouped)
            return [r1, r2, r3, r4, r5, r6], noop.type


def test_control_dependencies_ordering_matches_tensorflow():
    ours, our_type = control_program(etf)
    theirs, their_type = control_program(tf1)
    assert ours == theirs
    assert ours[:5] == [11.0, 11.0, 5.0, 10.0, 16.0] and ours[5] is None
    assert our_type == their_type == "NoOp"


@BOTH
def test_uninitialized_variable_is_failed_precondition(tf):
    with tf.Graph().as_default():
        v = tf.Variable(1.0, name="never_initialized")
        with tf.Session() as sess:
            with pytest.raises(tf.errors.FailedPreconditionError) as e:
                sess.run(v * 2.0)
    assert type(e.value).__name__ == "FailedPreconditionError"
    if tf is etf:
        assert "never_initialized" in str(e.value) and "test_v1_core.py" in str(e.value)


@BOTH
def test_assign_shape_mismatch(tf):
    with tf.Graph().as_default():
        v = tf.Variable(np.zeros(3, np.float32))
        with pytest.raises(ValueError, match="incompatible"):
            v.assign(np.zeros(4, np.float32))


# ---- gradients ------------------------------------------------------------------------------------------------
def gradient_program(tf):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 3])
        w = tf.Variable(np.arange(6, dtype=np.float32).reshape(3, 2) / 5)
        u = tf.Variable(1.0)  # unconnected
        y = tf.tanh(tf.matmul(x, w))
        gy = tf.placeholder(tf.float32, [None, 2])
        gx, gw, gu = tf.gradients(y, [x, w, u], grad_ys=gy)
        (gs,) = tf.gradients(tf.reduce_sum(y * y), [w])
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            feed = {x: np.random.RandomState(0).randn(4, 3).astype(np.float32), gy: np.ones((4, 2), np.float32) / 3}
            return sess.run([gx, gw, gs], feed), gu


def test_gradients_match_tensorflow():
    (ours, gu1), (theirs, gu2) = gradient_program(etf), gradient_program(tf1)
    assert gu1 is None and gu2 is None
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-6)


# ---- operations -----------------------------------------------------------------------------------------
@BOTH
def test_operation_wrapper(tf):
    with tf.Graph().as_default() as g:
        x = tf.placeholder(tf.float32, [2], name="inp")
        y = tf.identity(x, name="out")
        op = y.op
        assert op.name == "out" and y.name == "out:0"
        assert [t.name for t in op.inputs] == ["inp:0"] and [t.name for t in op.outputs] == ["out:0"]
        assert op.graph is g and x.op.type == "Placeholder"
        assert g.get_tensor_by_name("out:0").name == "out:0"
        assert g.get_operation_by_name("out") == op
        n = tf.no_op(name="nothing")
        with tf.Session() as sess:
            assert sess.run(n) is None
            with sess.as_default():
                assert n.run() is None


# ---- debugging: check_numerics and step-through -----------------------------------------------------------
def test_debug_mode_names_op_and_line():
    with etf.Graph().as_default():
        x = etf.placeholder(etf.float32, [None])
        y = etf.log(x)  # NaN for negative inputs
        z = y * 2.0
        with etf.Session() as sess:
            out = sess.run(z, {x: [-1.0, 1.0]})  # no debug: NaN flows through, as in TF
        with etf.Session(debug=True) as sess:
            with pytest.raises(FloatingPointError) as e:
                sess.run(z, {x: [-1.0, 1.0]})
    assert np.isnan(out[0]) and out[1] == 0.0
    msg = str(e.value)
    assert "log" in msg and "NaN" in msg and "y = etf.log(x)" in msg and "test_v1_core.py" in msg


def test_step_through_records_every_value():
    rs = np.random.RandomState(0)
    X, W0 = rs.randn(4, 3).astype(np.float32), rs.randn(3, 2).astype(np.float32)
    with etf.Graph().as_default():
        x = etf.placeholder(etf.float32, [None, 3], name="x")
        w = etf.Variable(W0, name="w")
        h = etf.identity(etf.matmul(x, w), name="h")
        loss = etf.identity(etf.reduce_sum(h * h), name="loss")
        with etf.Session() as sess:
            sess.run(w.initializer)
            got, values = sess.run_debug(loss, {x: X})
            md = etf.RunMetadata()
            again = sess.run(loss, {x: X}, run_metadata=md)
    np.testing.assert_allclose(values["h:0"], X @ W0, rtol=1e-6)
    np.testing.assert_array_equal(values["w:0"], W0)
    np.testing.assert_array_equal(values["x:0"], X)
    assert values["loss:0"] == got == again
    assert list(md.values) == list(values)  # the same record, in run order
    assert list(values).index("x:0") < list(values).index("h:0") < list(values).index("loss:0")


# ---- Saver: atomic writes and no pickles -------------------------------------------------------------------
def _saver_graph():
    v = etf.Variable(np.arange(4, dtype=np.float32), name="v")
    inc = v.assign_add(np.ones(4, np.float32))
    return v, inc, etf.train.Saver()


def test_saver_crash_between_write_and_rename_keeps_previous(tmp_path, monkeypatch):
    with etf.Graph().as_default():
        v, inc, saver = _saver_graph()
        with etf.Session() as sess:
            sess.run(v.initializer)
            first = saver.save(sess, str(tmp_path / "m"), global_step=1)
            sess.run(inc)

            def crash(src, dst):
                raise OSError("simulated crash before rename")

            monkeypatch.setattr(os, "replace", crash)
            with pytest.raises(OSError, match="simulated crash"):
                saver.save(sess, str(tmp_path / "m"), global_step=2)
            monkeypatch.undo()
        assert sorted(os.listdir(tmp_path)) == ["checkpoint", "m-1.safetensors"]  # no partial files
        assert etf.train.latest_checkpoint(str(tmp_path)) == first
        with etf.Session() as sess:
            saver.restore(sess, etf.train.latest_checkpoint(str(tmp_path)))
            np.testing.assert_array_equal(sess.run(v), np.arange(4, dtype=np.float32))


UNPICKLED = []


def _mark(what):
    UNPICKLED.append(what)


class _Boom:
    def __reduce__(self):
        return (_mark, ("unpickled!",))


def test_restore_refuses_pickle(tmp_path):
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"v": _Boom()}))
    with etf.Graph().as_default():
        v, _, saver = _saver_graph()
        with etf.Session() as sess:
            with pytest.raises(ValueError, match="pickle"):
                saver.restore(sess, str(tmp_path / "evil"))
    assert UNPICKLED == []
    assert pickle.loads(pickle.dumps(_Boom())) is None and UNPICKLED == ["unpickled!"]  # the file was a live pickle


def test_saver_keeps_max_to_keep_and_checks_shapes(tmp_path):
    with etf.Graph().as_default():
        v, inc, _ = _saver_graph()
        saver = etf.train.Saver(max_to_keep=2)
        with etf.Session() as sess:
            sess.run(v.initializer)
            for step in range(4):
                sess.run(inc)
                saver.save(sess, str(tmp_path / "m"), global_step=step)
        assert sorted(os.listdir(tmp_path)) == ["checkpoint", "m-2.safetensors", "m-3.safetensors"]
        assert saver.last_checkpoints == [str(tmp_path / "m-2"), str(tmp_path / "m-3")]
    with etf.Graph().as_default():
        etf.Variable(np.zeros(5, np.float32), name="v")
        with etf.Session() as sess, pytest.raises(ValueError, match="shapes"):
            etf.train.Saver().restore(sess, str(tmp_path / "m-3"))
    with etf.Graph().as_default():
        etf.Variable(np.zeros(4, np.float32), name="other")
        with etf.Session() as sess, pytest.raises(ValueError, match="Key other not found"):
            etf.train.Saver().restore(sess, str(tmp_path / "m-3"))
    assert etf.train.latest_checkpoint(str(tmp_path / "missing")) is None


def test_make_callable_and_config():
    with etf.Graph().as_default():
        x = etf.placeholder(etf.float32, [2])
        y = x * 2.0
        with etf.Session(config=etf.ConfigProto(log_device_placement=False)) as sess:
            f = sess.make_callable(y, [x])
            assert f(np.array([1.0, 2.0], np.float32)).tolist() == [2.0, 4.0]


# ---- initializers ----------------------------------------------------------------------------------------
INITIALIZERS = {
    "zeros": lambda tf: tf.zeros_initializer(),
    "ones": lambda tf: tf.ones_initializer(),
    "constant": lambda tf: tf.constant_initializer(0.25),
    "random_normal": lambda tf: tf.random_normal_initializer(1.0, 2.0),
    "truncated_normal": lambda tf: tf.truncated_normal_initializer(0.0, 0.5),
    "random_uniform": lambda tf: tf.random_uniform_initializer(-0.3, 0.7),
    "glorot_uniform": lambda tf: tf.glorot_uniform_initializer(),
    "glorot_normal": lambda tf: tf.glorot_normal_initializer(),
    "variance_scaling": lambda tf: tf.variance_scaling_initializer(2.0, mode="fan_out", distribution="uniform"),
    "variance_scaling_default": lambda tf: tf.variance_scaling_initializer(),
    "default": lambda tf: None,  # get_variable's default: glorot_uniform
}


def init_sample(tf, make, shape=(200, 300)):
    with tf.Graph().as_default():
        v = tf.get_variable("v", shape=shape, initializer=make(tf))
        with tf.Session() as sess:
            sess.run(v.initializer)
            return sess.run(v)


@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_initializer_distributions_match_tensorflow(name):
    ours, theirs = init_sample(etf, INITIALIZERS[name]), init_sample(tf1, INITIALIZERS[name])
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == np.float32
    if theirs.std() == 0:
        np.testing.assert_array_equal(ours, theirs)
        return
    # different generators: compare the distributions (60000 draws each)
    assert abs(ours.mean() - theirs.mean()) < 0.03 * theirs.std() + 1e-3
    assert abs(ours.std() / theirs.std() - 1) < 0.03
    if name != "random_normal":  # bounded distributions: the same support
        span = theirs.max() - theirs.min()
        assert ours.min() >= theirs.min() - 0.01 * span and ours.max() <= theirs.max() + 0.01 * span


def test_constant_initializer_values_and_errors():
    for tf in (tf1, etf):
        with tf.Graph().as_default():
            v = tf.get_variable("v", shape=[2, 2], initializer=tf.constant_initializer([1, 2, 3, 4]))
            with tf.Session() as sess:
                sess.run(tf.global_variables_initializer())
                assert sess.run(v).tolist() == [[1, 2], [3, 4]]
            with pytest.raises(ValueError, match="fully defined"):
                tf.get_variable("u", initializer=tf.zeros_initializer())


def test_placeholder_without_shape_takes_any_rank():
    with etf.Graph().as_default():
        keep = etf.placeholder(etf.float32)
        x = etf.constant([1.0, 2.0])
        y = x * keep
        with etf.Session() as sess:
            assert sess.run(y, {keep: 0.5}).tolist() == [0.5, 1.0]
            assert sess.run(y, {keep: [0.5, 2.0]}).tolist() == [0.5, 4.0]  # unknown rank, as in TF


def variable_reads_program(tf):
    with tf.Graph().as_default():
        v = tf.Variable(2.0)
        loss = v.read_value() * 2.0 + v * 3.0 + tf.square(v.value())
        (g,) = tf.gradients(loss, [v])
        with tf.Session() as sess:
            sess.run(v.initializer)
            return sess.run(g)


def test_gradient_sums_over_every_read_of_a_variable():
    assert variable_reads_program(etf) == variable_reads_program(tf1) == 9.0


def test_saver_with_dict_var_list(tmp_path):
    with etf.Graph().as_default():
        a = etf.Variable(np.float32(1.5), name="a")
        b = etf.Variable(np.ones(2, np.float32), name="b")
        saver = etf.train.Saver({"renamed_a": a, "b": b})
        with etf.Session() as sess:
            sess.run(etf.global_variables_initializer())
            path = saver.save(sess, str(tmp_path / "x"))
        from safetensors.numpy import load_file

        stored = load_file(path + ".safetensors")
        assert sorted(stored) == ["b", "renamed_a"] and stored["renamed_a"] == np.float32(1.5)
        with etf.Session() as sess:
            with pytest.raises(etf.errors.FailedPreconditionError):
                sess.run(a)
            saver.restore(sess, path)
            assert sess.run(a) == 1.5


def feed_anything_program(tf):
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 2])
        w = tf.Variable(np.array([[1.0], [-1.0]], np.float32))
        h = tf.matmul(x, w)
        y = h * 2.0 + 1.0
        scale = tf.placeholder_with_default(np.float32(3.0), shape=[])
        batch = tf.placeholder_with_default(np.ones((1, 2), np.float32), shape=[None, 2])
        z = tf.reduce_sum(batch) * scale
        with tf.Session() as sess:
            sess.run(w.initializer)
            X = np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)
            return [
                sess.run(y, {x: X}),
                sess.run(y, {h: np.array([[10.0]], np.float32)}),  # an intermediate fed: x not needed
                sess.run(w),
                sess.run(z),
                sess.run(z, {scale: 0.5, batch: np.ones((3, 2))}),
            ]


def test_feeding_intermediates_variables_and_defaults_matches_tensorflow():
    ours, theirs = feed_anything_program(etf), feed_anything_program(tf1)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_saver_without_safetensors_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)  # makes the import fail
    with etf.Graph().as_default():
        etf.Variable(1.0)
        with pytest.raises(ImportError, match="pip install safetensors"):
            etf.train.Saver()
