"""Three small graphs whose generated code is kept as golden snapshots (tests/compiler/golden/).

They live in their own module so the source lines the generated code points
at do not move when the tests change.
"""

from __future__ import annotations

import numpy as np

import ember
from ember.graph import Building, Graph, TensorSlot, gradients, ir, symbolic_tensor
from ember.graph.build import placeholder
from ember.graph.host import host_input


def read_state(g, name, tensor):
    slot = TensorSlot(name, tensor)
    node = g.add(ir.READ, None, (), {"slot": slot}, [(slot.shape, slot.dtype)], name=name)
    return slot, symbolic_tensor(node.out)


def assign(g, slot, t):
    v = t._data.value
    node = g.add(ir.ASSIGN, None, [v], {"slot": slot}, [(v.shape, v.dtype)], name=f"assign_{slot.name}")
    g.state_writes.append(node)
    return node


def mlp_forward(seed=0):
    """64-128-10 MLP forward with constant weights."""
    rng = np.random.default_rng(seed)
    w1 = ember.tensor(rng.standard_normal((64, 128)).astype(np.float32) * 0.1)
    b1 = ember.tensor(rng.standard_normal(128).astype(np.float32) * 0.1)
    w2 = ember.tensor(rng.standard_normal((128, 10)).astype(np.float32) * 0.1)
    g = Graph("mlp_forward")
    with Building(g):
        x = placeholder(g, (8, 64), ember.float32, "x")
        h = (x @ w1 + b1).relu()
        logits = h @ w2
        probs = logits.softmax(-1)
    g.outputs = [logits._data.value, probs._data.value]
    feeds = [rng.standard_normal((8, 64)).astype(np.float32)]
    return g, feeds


def linreg_step(seed=0, batch=100, lr=0.1):
    """One SGD step of linear regression: forward, gradients, w -= lr * grad written back to state."""
    rng = np.random.default_rng(seed)
    w = ember.tensor(rng.standard_normal((3, 1)).astype(np.float32))
    b = ember.tensor(np.zeros(1, np.float32))
    lr_box = [lr]
    g = Graph("linreg_step")
    with Building(g, capture="state"):
        x = placeholder(g, (batch, 3), ember.float32, "x")
        y = placeholder(g, (batch, 1), ember.float32, "y")
        w_slot, wt = read_state(g, "w", w)
        b_slot, bt = read_state(g, "b", b)
        pred = x @ wt + bt
        loss = ((pred - y) * (pred - y)).mean()
        gw, gb = gradients(loss, [wt, bt])
        rate = host_input(lambda: lr_box[0], name="lr")
        assign(g, w_slot, wt - rate * gw)
        assign(g, b_slot, bt - rate * gb)
    g.outputs = [loss._data.value]
    xs = rng.standard_normal((batch, 3)).astype(np.float32)
    ys = (xs @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)
    return g, [xs, ys], {"w": w, "b": b, "lr": lr_box}


def fused_chain(seed=0):
    """An element-wise chain that computes into one buffer: mul -> add -> tanh -> mul -> relu."""
    rng = np.random.default_rng(seed)
    g = Graph("fused_chain")
    with Building(g):
        a = placeholder(g, (16, 32), ember.float32, "a")
        b = placeholder(g, (16, 32), ember.float32, "b")
        c = placeholder(g, (32,), ember.float32, "c")
        t = a * b
        t = t + c
        t = t.tanh()
        t = t * 0.5
        out = t.relu()
    g.outputs = [out._data.value]
    feeds = [rng.standard_normal(s).astype(np.float32) for s in [(16, 32), (16, 32), (32,)]]
    return g, feeds
