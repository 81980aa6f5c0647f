"""Speed of generated code vs the graph interpreter vs eager, for two training steps.

linreg: forward + backward + SGD update of a 3->1 linear regression, batch 100.
mlp: a 64-128-128-10 MLP step (relu, log-softmax cross entropy on one-hot
targets, SGD), batch 64. Each step is one graph with state reads and writes.
Run: ``.venv/bin/python bench/codegen_speed.py``.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import ember
from ember.compiler.codegen import compile_graph
from ember.graph import Building, Graph, TensorSlot, gradients, ir, run, symbolic_tensor
from ember.graph.build import placeholder


def read_state(g, name, tensor):
    slot = TensorSlot(name, tensor)
    node = g.add(ir.READ, None, (), {"slot": slot}, [(slot.shape, slot.dtype)], name=name)
    return slot, symbolic_tensor(node.out)


def assign(g, slot, t):
    v = t._data.value
    node = g.add(ir.ASSIGN, None, [v], {"slot": slot}, [(v.shape, v.dtype)], name=f"assign_{slot.name}")
    g.state_writes.append(node)


def linreg(batch=100, lr=0.01):
    rng = np.random.default_rng(0)
    params = [ember.tensor(rng.standard_normal((3, 1)).astype(np.float32)), ember.tensor(np.zeros(1, np.float32))]
    x = rng.standard_normal((batch, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3).astype(np.float32)

    def model(xt, yt, w, b):
        pred = xt @ w + b
        return ((pred - yt) * (pred - yt)).mean()

    return params, [x, y], model, lr


def mlp(batch=64, lr=0.01):
    rng = np.random.default_rng(0)
    sizes = [64, 128, 128, 10]
    params = []
    for a, b in zip(sizes, sizes[1:]):
        params.append(ember.tensor((rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)))
        params.append(ember.tensor(np.zeros(b, np.float32)))
    x = rng.standard_normal((batch, 64)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]

    def model(xt, yt, w1, b1, w2, b2, w3, b3):
        h = (xt @ w1 + b1).relu()
        h = (h @ w2 + b2).relu()
        logits = h @ w3 + b3
        return -(logits.log_softmax(-1) * yt).sum() / batch

    return params, [x, y], model, lr


def build_step(params, feeds, model, lr):
    g = Graph("step")
    with Building(g, capture="state"):
        xt = placeholder(g, feeds[0].shape, ember.float32, "x")
        yt = placeholder(g, feeds[1].shape, ember.float32, "y")
        slots, syms = zip(*[read_state(g, f"p{i}", p) for i, p in enumerate(params)])
        loss = model(xt, yt, *syms)
        grads = gradients(loss, list(syms))
        for slot, p, gp in zip(slots, syms, grads):
            assign(g, slot, p - lr * gp)
    g.outputs = [loss._data.value]
    return g


def eager_step(params, feeds, model, lr):
    xt, yt = ember.tensor(feeds[0]), ember.tensor(feeds[1])
    for p in params:
        p.requires_grad_(True)
        p.grad = None
    loss = model(xt, yt, *params)
    loss.backward()
    with ember.no_grad():
        for p in params:
            p.sub_(lr * p.grad)
    return loss


def timeit(fn, reps):
    fn()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t) / reps)
    return best * 1e6  # microseconds per step


def bench(name, make, reps):
    params, feeds, model, lr = make()
    start = [p._data.copy() for p in params]
    g = build_step(params, feeds, model, lr)
    c = compile_graph(g, name)
    try:
        from ember.compiler import optimize

        co = compile_graph(optimize(g), name)
    except Exception as e:  # the pipeline is someone else's work in progress
        print(f"  (optimize() failed: {e})", file=sys.stderr)
        co = None
    fd = dict(zip(g.inputs, feeds))
    # same numbers first: one step each from the same start
    (a,) = run(g, g.outputs, g.state_writes, feeds=fd)
    after = [p._data.copy() for p in params]
    for p, s in zip(params, start):
        p._data[...] = s
    (b,) = c(*feeds)
    same = a.tobytes() == b.tobytes() and all(p._data.tobytes() == q.tobytes() for p, q in zip(params, after))
    t_run = timeit(lambda: run(g, g.outputs, g.state_writes, feeds=fd), reps)
    t_code = timeit(lambda: c(*feeds), reps)
    t_opt = timeit(lambda: co(*feeds), reps) if co is not None else float("nan")
    eparams = [ember.tensor(s.copy()) for s in start]
    t_eager = timeit(lambda: eager_step(eparams, feeds, model, lr), reps)
    print(f"{name}: {len(g.nodes)} nodes, compiled == execute.run bitwise: {same}")
    print(f"  eager            {t_eager:8.1f} us/step")
    print(f"  execute.run      {t_run:8.1f} us/step")
    print(f"  compiled         {t_code:8.1f} us/step  ({t_run / t_code:.1f}x run, {t_eager / t_code:.1f}x eager)")
    if co is not None:
        print(f"  optimize+compile {t_opt:8.1f} us/step  ({len(co.plan.order)} nodes run)")
    print("  " + c.memory_report().replace("\n", "\n  "))


if __name__ == "__main__":
    bench("linreg", linreg, 300)
    bench("mlp", mlp, 100)
