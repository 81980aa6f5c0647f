"""The graph core: building through the op table, printing, errors with the user's line,
run-time dims, symbolic gradients, the interpreter's debugging aids."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember.graph import Building, Graph, SymbolicValueError, gradients
from ember.graph.build import placeholder
from ember.graph.execute import InvalidArgumentError, NumericsError, run


def _mlp_graph():
    g = Graph("mlp")
    rng = np.random.default_rng(0)
    W = ember.from_numpy(rng.standard_normal((3, 4)).astype(np.float32))
    with Building(g):
        x = placeholder(g, (None, 3), ember.float32, "x")
        h = (x @ W).relu()  # the line the printer points at
        loss = (h * h).mean()
    return g, x, W, loss


def test_graph_prints_as_a_program_with_types_and_lines():
    g, x, W, loss = _mlp_graph()
    text = str(g)
    assert text.startswith("graph mlp(%x: f32[?,3]) {")
    assert "%matmul = matmul(%x, %Const)" in text
    assert "f32[?,4]" in text
    assert "test_graph_core.py:" in text  # each node points at the user's line
    assert text.rstrip().endswith("}")


def test_dot_export_has_a_node_and_edges_per_op():
    g, *_ = _mlp_graph()
    dot = g.to_dot()
    assert dot.startswith('digraph "mlp"')
    for n in g.nodes:
        assert f"n{n.id} [label=" in dot
    assert dot.count("->") == sum(1 for n in g.nodes for a in n.inputs if hasattr(a, "node"))


def test_graph_matches_eager_with_a_runtime_batch_dim():
    g, x, W, loss = _mlp_graph()
    (gx,) = gradients(loss, [x])
    for batch in (1, 5):
        xv = np.random.default_rng(batch).standard_normal((batch, 3)).astype(np.float32)
        got_loss, got_gx = run(g, [loss._data.value, gx._data.value], feeds={x._data.value: xv})
        xe = ember.from_numpy(xv.copy()).requires_grad_()
        h = (xe @ W).relu()
        le = (h * h).mean()
        le.backward()
        assert np.array_equal(got_loss, le._data) and np.array_equal(got_gx, xe.grad._data)


def test_shape_error_is_raised_while_building_and_names_op_shapes_and_line():
    g = Graph()
    with Building(g):
        a = placeholder(g, (None, 3), ember.float32, "a")
        b = placeholder(g, (4, 2), ember.float32, "b")
        with pytest.raises(RuntimeError) as e:
            a @ b  # mismatched inner dims
    msg = str(e.value)
    assert "matmul" in msg and "(None, 3)" in msg and "(4, 2)" in msg
    assert "test_graph_core.py" in msg and "a @ b" in msg


def test_finalized_graph_refuses_new_ops_and_names_the_line():
    g, x, W, loss = _mlp_graph()
    g.finalize(where="Session.run")
    with pytest.raises(RuntimeError, match="finalized") as e:
        loss * 2.0  # a new op inside a "training loop"
    assert "loss * 2.0" in str(e.value) and "memory leak" in str(e.value)


def test_feeds_are_checked_against_placeholder_shapes():
    g, x, W, loss = _mlp_graph()
    with pytest.raises(InvalidArgumentError, match="You must feed a value for placeholder tensor 'x'"):
        run(g, [loss._data.value])


def test_python_control_flow_on_a_symbolic_value_raises_with_line_and_alternative():
    g, x, W, loss = _mlp_graph()
    with pytest.raises(SymbolicValueError) as e:
        if loss > 0:  # noqa: SIM108 - the point of the test
            pass
    msg = str(e.value)
    assert "if loss > 0" in msg and "ember.where" in msg
    with pytest.raises(SymbolicValueError):
        float(loss)
    with pytest.raises(SymbolicValueError):
        loss.numpy()


def test_check_numerics_names_the_op_and_its_line():
    g = Graph()
    with Building(g):
        x = placeholder(g, (2,), ember.float32, "x")
        y = x.log()  # NaN for negative inputs
        z = y * 2.0
    assert np.array_equal(run(g, [z._data.value], feeds={x._data.value: np.ones(2, np.float32)})[0], np.zeros(2))
    with pytest.raises(NumericsError) as e:
        run(g, [z._data.value], feeds={x._data.value: np.array([1.0, -1.0], np.float32)}, check_numerics=True)
    assert "log" in str(e.value) and "NaN" in str(e.value) and "y = x.log()" in str(e.value)


def test_record_keeps_every_intermediate_value():
    g, x, W, loss = _mlp_graph()
    rec = {}
    xv = np.ones((2, 3), np.float32)
    run(g, [loss._data.value], feeds={x._data.value: xv}, record=rec)
    names = {v.node.name for v in rec}
    assert {"x", "matmul", "relu", "mul", "sum", "div"} <= names
    relu = next(a for v, a in rec.items() if v.node.name == "relu")
    assert np.array_equal(relu, np.maximum(xv @ W._data, 0))


def test_gradients_of_unconnected_inputs_are_none_and_second_order_works():
    g = Graph()
    with Building(g):
        x = placeholder(g, (3,), ember.float32, "x")
        u = placeholder(g, (3,), ember.float32, "u")
        y = (x * x * x).sum()
        (gx, gu) = gradients(y, [x, u])
        (ggx,) = gradients(gx.sum(), [x])
    assert gu is None
    xv = np.array([1.0, 2.0, -3.0], np.float32)
    got_g, got_gg = run(g, [gx._data.value, ggx._data.value], feeds={x._data.value: xv, u._data.value: xv})
    np.testing.assert_allclose(got_g, 3 * xv**2, rtol=1e-6)
    np.testing.assert_allclose(got_gg, 6 * xv, rtol=1e-6)


def test_eager_tensors_used_in_a_graph_become_constants():
    g = Graph()
    c = ember.tensor([1.0, 2.0])
    with Building(g):
        x = placeholder(g, (2,), ember.float32, "x")
        y = x + c
        y2 = x * c
    consts = [n for n in g.nodes if n.kind == "const"]
    assert len(consts) == 1  # the same eager tensor is captured once
    out = run(g, [y._data.value, y2._data.value], feeds={x._data.value: np.ones(2, np.float32)})
    assert np.array_equal(out[0], [2.0, 3.0]) and np.array_equal(out[1], [1.0, 2.0])


def test_mixing_graphs_is_an_error():
    g1, g2 = Graph("one"), Graph("two")
    with Building(g1):
        a = placeholder(g1, (2,), ember.float32, "a")
    with Building(g2):
        b = placeholder(g2, (2,), ember.float32, "b")
    with pytest.raises(ValueError, match="same graph"):
        a + b


def _build_in_loop(g, x, runs):
    out = []
    for _ in range(runs):
        out.append(x * 2.0)  # the same line every iteration
        g.note_run()
    return out


def test_ops_built_in_a_run_loop_raise_naming_the_line():
    g = Graph()
    with Building(g):
        x = placeholder(g, (2,), ember.float32, "x")
    g.note_run()
    with pytest.raises(RuntimeError) as e:
        _build_in_loop(g, x, 3)
    msg = str(e.value)
    assert "training loop" in msg and "out.append(x * 2.0)" in msg and "memory leak" in msg


def test_one_off_ops_after_a_run_are_allowed():
    g = Graph()
    with Building(g):
        x = placeholder(g, (2,), ember.float32, "x")
    g.note_run()
    y = x + 1.0  # e.g. an accuracy op built after training, once
    g.note_run()
    z = x + 1.0  # another line: fine too
    assert y._data.value.node in g.nodes and z._data.value.node in g.nodes
