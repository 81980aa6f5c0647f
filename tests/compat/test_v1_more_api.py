"""More TF1 API (tf.data, conv2d_transpose, Adadelta, tf.metrics, misc ops) against tensorflow.compat.v1 in graph mode.

Each test builds the same program with ``ember.compat.v1`` and TF's v1 API,
runs both in a Session on the same inputs and compares the numbers.
"""

import numpy as np
import pytest

import ember.compat.v1 as etf

tf = pytest.importorskip("tensorflow").compat.v1


def _drain(lib, make, init=False, max_runs=50):
    """Run ``make(lib)``'s get_next() until OutOfRangeError; a list of fetched results per run."""
    g = lib.Graph()
    with g.as_default():
        it, fetch = make(lib)
        out = []
        with lib.Session(graph=g) as sess:
            if init:
                sess.run(it.initializer)
            for _ in range(max_runs):
                try:
                    out.append(sess.run(fetch))
                except lib.errors.OutOfRangeError:
                    break
    return out


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        if isinstance(x, dict):
            assert sorted(x) == sorted(y)
            _same([x[k] for k in sorted(x)], [y[k] for k in sorted(y)])
        elif isinstance(x, (list, tuple)):
            _same(list(x), list(y))
        else:
            assert np.shape(x) == np.shape(y)
            np.testing.assert_allclose(x, y, rtol=1e-6)
            assert np.asarray(x).dtype == np.asarray(y).dtype


X = np.arange(14, dtype=np.float32).reshape(7, 2)
Y = np.arange(7, dtype=np.int64) % 3


def test_from_tensor_slices_tuple_batch_one_shot():
    def make(lib):
        ds = lib.data.Dataset.from_tensor_slices((X, Y)).batch(3)
        it = ds.make_one_shot_iterator()
        a, b = it.get_next()
        assert a.shape.as_list() == [None, 2]
        return it, [a * 2.0, b]  # one run pulls one element for both components

    _same(_drain(etf, make), _drain(tf, make))


def test_dict_repeat_take_map_module_iterator():
    def make(lib):
        ds = (
            lib.data.Dataset.from_tensor_slices({"x": X, "y": Y})
            .repeat(2)
            .map(lambda d: {"x": d["x"] + 1, "y": d["y"]})
        )
        ds = ds.take(10).batch(4, drop_remainder=True).prefetch(1)
        it = lib.data.make_one_shot_iterator(ds)
        return it, it.get_next()

    e, t = _drain(etf, make), _drain(tf, make)
    assert len(e) == 2
    _same(e, t)


def test_map_tuple_args_range_and_from_tensors():
    def make(lib):
        ds = lib.data.Dataset.range(5).map(lambda i: (i * 2, i + 1)).batch(2)
        it = ds.make_one_shot_iterator()
        return it, list(it.get_next())

    _same(_drain(etf, make), _drain(tf, make))

    def make2(lib):
        it = lib.data.Dataset.from_tensors(X).repeat(3).make_one_shot_iterator()
        return it, lib.reduce_sum(it.get_next(), axis=0)

    _same(_drain(etf, make2), _drain(tf, make2))

    def make3(lib):  # a Python list is one component; ember's map runs eager ember ops on it
        if lib is etf:
            import ember

            fn = lambda x: (ember.tensor(x) * 2).exp()  # noqa: E731
        else:
            fn = lambda x: tf.exp(x * 2)  # noqa: E731
        it = lib.data.Dataset.from_tensor_slices([1.0, 2.0, 0.5]).map(fn).make_one_shot_iterator()
        return it, it.get_next()

    _same(_drain(etf, make3), _drain(tf, make3))


def test_initializable_iterator_resets_and_compiled_runs_pull_every_run():
    def make(lib):
        it = lib.data.Dataset.from_tensor_slices(X).batch(2).make_initializable_iterator()
        return it, lib.reduce_mean(it.get_next()) * 3.0

    def epochs(lib):
        g = lib.Graph()
        with g.as_default():
            it, fetch = make(lib)
            out = []
            with lib.Session(graph=g) as sess:
                for _ in range(3):  # later epochs run on ember's compiled path
                    sess.run(it.initializer)
                    while True:
                        try:
                            out.append(sess.run(fetch))
                        except lib.errors.OutOfRangeError:
                            out.append("end")
                            break
                if lib is etf:  # the get_next run signature went through ember's compiler, not a fallback
                    from ember.compat.v1.compiled_runs import _NOT_COMPILABLE

                    assert any(fn is not _NOT_COMPILABLE for fn in sess._compiled_runs.compiled.values())
        return out

    e, t = epochs(etf), epochs(tf)
    assert e.count("end") == 3
    assert [x for x in e if isinstance(x, str)] == [x for x in t if isinstance(x, str)]
    _same([x for x in e if not isinstance(x, str)], [x for x in t if not isinstance(x, str)])


def test_uninitialized_iterator_raises():
    with etf.Graph().as_default():
        it = etf.data.Dataset.from_tensor_slices(X).make_initializable_iterator()
        with etf.Session() as sess, pytest.raises(etf.errors.FailedPreconditionError):
            sess.run(it.get_next())


def test_shuffle_is_a_permutation_per_epoch():
    # ember's shuffle uses NumPy's RNG (the order differs from TF's): compare the multiset per epoch
    def make(lib):
        ds = lib.data.Dataset.from_tensor_slices(Y * 10 + np.arange(7)).shuffle(4, seed=1).repeat(2)
        it = ds.make_one_shot_iterator()
        return it, it.get_next()

    e, t = _drain(etf, make), _drain(tf, make)
    assert sorted(e[:7]) == sorted(t[:7]) and sorted(e[7:]) == sorted(t[7:])
    assert e[:7] != sorted(e[:7]) or e[7:] != sorted(e[7:])


@pytest.mark.parametrize(
    "in_hw,out_hw,k,s,padding",
    [((3, 4), (6, 8), (3, 3), 2, "SAME"), ((3, 3), (7, 7), (3, 2), 2, "VALID"), ((4, 2), (5, 3), (2, 2), 1, "VALID"),
     ((2, 3), (5, 7), (3, 3), 3, "SAME"), ((2, 2), (6, 6), (3, 3), 2, "VALID")],
)  # fmt: skip
def test_conv2d_transpose_and_gradients(in_hw, out_hw, k, s, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *in_hw, 3)).astype(np.float32)
    w = rng.standard_normal((*k, 4, 3)).astype(np.float32)
    gy = rng.standard_normal((2, *out_hw, 4)).astype(np.float32)

    def run(lib):
        with lib.Graph().as_default():
            xt, wt = lib.constant(x), lib.constant(w)
            y = lib.nn.conv2d_transpose(xt, wt, [2, *out_hw, 4], [1, s, s, 1], padding=padding)
            gx, gw = lib.gradients(y, [xt, wt], grad_ys=lib.constant(gy))
            with lib.Session() as sess:
                return sess.run([y, gx, gw])

    for a, b in zip(run(etf), run(tf)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_adadelta_matches_tf_step_by_step():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    w0 = rng.standard_normal((3, 1)).astype(np.float32)

    def run(lib):
        with lib.Graph().as_default():
            w = lib.Variable(w0)
            b = lib.Variable(np.zeros(1, np.float32))
            loss = lib.reduce_mean(lib.square(lib.matmul(x, w) + b - y))
            step = lib.train.AdadeltaOptimizer(learning_rate=1.0, rho=0.9, epsilon=1e-6).minimize(loss)
            out = []
            with lib.Session() as sess:
                sess.run(lib.global_variables_initializer())
                for _ in range(6):  # ember compiles this run signature after 2 calls
                    sess.run(step)
                    out.append(sess.run([w, b, loss]))
        return out

    for a, b in zip(run(etf), run(tf)):
        for p, q in zip(a, b):
            np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)


def test_metrics_accuracy_and_mean_stream_and_reset():
    labels = [np.array([1, 2, 0, 1]), np.array([0, 0, 2]), np.array([1, 1])]
    preds = [np.array([1, 0, 0, 1]), np.array([0, 1, 2]), np.array([0, 0])]
    vals = [np.array([1.0, 2.0, 4.0], np.float32), np.array([-3.0], np.float32)]

    def run(lib):
        with lib.Graph().as_default():
            lab = lib.placeholder(lib.int64, [None])
            pre = lib.placeholder(lib.int64, [None])
            v = lib.placeholder(lib.float32, [None])
            acc, acc_up = lib.metrics.accuracy(lab, pre)
            m, m_up = lib.metrics.mean(v)
            out = []
            with lib.Session() as sess:
                for _ in range(2):  # the local initializer resets the streams
                    sess.run(lib.local_variables_initializer())
                    out.append(sess.run([acc, m]))
                    for a, b in zip(labels, preds):
                        out.append(sess.run(acc_up, {lab: a, pre: b}))
                        out.append(sess.run(acc))
                    for x in vals:
                        out.append(sess.run(m_up, {v: x}))
                    out.append(sess.run([acc, m]))
        return out

    _same(run(etf), run(tf))


def test_print_passes_through_and_prints_every_run(capsys):
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)

    def run(lib):
        with lib.Graph().as_default():
            p = lib.placeholder(lib.float32, [None, 2])
            y = lib.Print(p * 2.0, [lib.reduce_sum(p)], message="sum=") + 1.0
            op = lib.print("hello", lib.reduce_max(p))
            with lib.Session() as sess:
                return [sess.run([y, op], {p: x + i})[0] for i in range(4)]  # compiled after 2 runs

    ours = run(etf)
    err = capsys.readouterr().err
    assert err.count("sum=[") == 4 and err.count("hello") == 4
    assert "sum=[10.0]" in err and "sum=[22.0]" in err
    _same(ours, run(tf))


def test_assert_equal_raises_when_run_with_unequal_values():
    def run(lib, b):
        with lib.Graph().as_default():
            p = lib.placeholder(lib.int32, [None])
            check = lib.assert_equal(p, lib.constant([1, 2, 3]), message="mismatch")
            with lib.control_dependencies([check]):
                out = lib.identity(p * 2)
            with lib.Session() as sess:
                res = [sess.run(out, {p: [1, 2, 3]}) for _ in range(3)]  # compiled path too
                try:
                    sess.run(out, {p: b})
                except lib.errors.InvalidArgumentError as e:
                    return res, "mismatch" in str(e)
                return res, None

    for b in ([1, 2, 4], [1, 2, 3]):
        (e, e_raised), (t, t_raised) = run(etf, b), run(tf, b)
        _same(e, t)
        assert e_raised == t_raised == (True if b != [1, 2, 3] else None)


def test_diag_and_trace():
    rng = np.random.default_rng(2)
    v = rng.standard_normal(4).astype(np.float32)
    m = rng.standard_normal((2, 3, 3)).astype(np.float32)

    def run(lib):
        with lib.Graph().as_default():
            vt, mt = lib.constant(v), lib.constant(m)
            d, tr = lib.diag(vt), lib.trace(mt)
            gv, gm = lib.gradients(lib.reduce_sum(d * d) + lib.reduce_sum(tr * tr), [vt, mt])
            with lib.Session() as sess:
                return sess.run([d, tr, gv, gm])

    for a, b in zip(run(etf), run(tf)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_initializable_iterator_over_fed_placeholders():
    rng = np.random.default_rng(3)
    feeds = [(rng.standard_normal((5, 3)).astype(np.float32), np.arange(5)),
             (rng.standard_normal((3, 3)).astype(np.float32), np.arange(3) + 7)]  # fmt: skip

    def run(lib):
        with lib.Graph().as_default():
            xp = lib.placeholder(lib.float32, [None, 3])
            yp = lib.placeholder(lib.int64, [None])
            ds = lib.data.Dataset.from_tensor_slices((xp, yp)).map(lambda x, y: (x * 2, y)).batch(2)
            it = ds.make_initializable_iterator()
            xb, yb = it.get_next()
            out = []
            with lib.Session() as sess:
                for _ in range(2):  # re-initialised with other data (and compiled runs after 2 calls)
                    for x, y in feeds:
                        sess.run(it.initializer, {xp: x, yp: y})
                        while True:
                            try:
                                out.append(sess.run([xb, yb]))
                            except lib.errors.OutOfRangeError:
                                break
        return out

    e, t = run(etf), run(tf)
    assert len(e) == 10
    _same(e, t)
    with etf.Graph().as_default(), pytest.raises(ValueError, match="initializable"):
        etf.data.Dataset.from_tensor_slices(etf.placeholder(etf.float32, [None])).make_one_shot_iterator()


def test_reinitializable_iterator_from_structure_switches_datasets():
    def run(lib):
        with lib.Graph().as_default():
            train = lib.data.Dataset.from_tensor_slices((X, Y)).batch(3)
            val = lib.data.Dataset.from_tensor_slices((X[:4] * -1, Y[:4])).batch(3)
            it = lib.data.Iterator.from_structure(train.output_types, train.output_shapes)
            x, y = it.get_next()
            sx = lib.reduce_sum(x)
            t_init, v_init = it.make_initializer(train), it.make_initializer(val)
            out = []
            with lib.Session() as sess:
                for init in (t_init, v_init, t_init, v_init):
                    sess.run(init)
                    while True:
                        try:
                            out.append(sess.run([sx, y]))
                        except lib.errors.OutOfRangeError:
                            break
        return out

    e, t = run(etf), run(tf)
    assert len(e) == 10
    _same(e, t)
