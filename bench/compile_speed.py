"""ember eager vs ember.compile: train step/s and peak step memory on the standard workloads.

Follows shared/BENCHMARKS.md: both runs use the same model, weights, batches
and optimizer; 5 warm-up steps (the compiled step's eager warm-up and its
trace happen here; the trace is reported as *compile s*), then windows of
about ``--window`` seconds (at most 200 steps), each restarting from the
initial weights with the optimizer state zeroed in place (the same arithmetic
as a fresh optimizer, and the compiled program keeps its cache), interleaved
eager/compiled; the median window is quoted with the CPU other processes held.
Peak memory is what one step needs beyond what lives between steps in both
runs (weights, optimizer state, the last step's .grad arrays): tracemalloc's
peak of NumPy allocations during the step, minus what was allocated before
it, plus, for the compiled run, the buffers its program keeps between calls
(allocated once, so not seen during the step, but resident all the same).
Eager frees the old gradients at ``zero_grad`` inside the step; so does the
compiled step, so both peaks are measured against the same base.
Usage: python bench/compile_speed.py [--quick] [names...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(__file__))
from train_speed import interleaved_windows  # noqa: E402
from workloads import WORKLOADS, build, data, initial_state, load_state, reset_in_place  # noqa: E402

import ember  # noqa: E402


class Runner:
    def __init__(self, name, compiled, state=None):
        self.batches = [(ember.from_numpy(x.copy()), ember.from_numpy(y.copy())) for x, y in data(name)]
        self.model, make_opt, self.loss_fn = build(ember, name)
        if state is not None:
            load_state(ember, self.model, state)
        self.state = initial_state(self.model)
        self.model.train()
        self.opt = make_opt(self.model.parameters())
        self.i = 0
        self.compile_s = 0.0
        step = self._step
        self.step_fn = ember.compile(step) if compiled else step

    def _step(self, x, y):
        self.opt.zero_grad()
        loss = self.loss_fn(self.model, x, y)
        loss.backward()
        self.opt.step()
        return loss

    def step(self):
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        return self.step_fn(x, y)

    def warm_up(self, n=5):
        for _ in range(n):
            traces = getattr(self.step_fn, "traces", 0)
            t0 = time.perf_counter()
            self.step()
            if getattr(self.step_fn, "traces", 0) > traces:  # this call traced, optimised and generated
                self.compile_s += time.perf_counter() - t0

    def reset(self):
        """Initial weights and a zeroed optimizer state, written into the existing arrays."""
        reset_in_place(ember, self.model, self.opt, self.state)
        self.i = 0

    def window(self, seconds, max_steps=200):
        self.reset()
        t0 = time.perf_counter()
        n = 0
        while n < max_steps and time.perf_counter() - t0 < seconds:
            self.step()
            n += 1
        return n / (time.perf_counter() - t0)

    def peak_bytes(self):
        """NumPy's peak allocation during one step, plus the buffers a compiled program keeps between
        steps (preallocated once, so they are not allocated during the step but are resident)."""
        tracemalloc.start()
        try:
            self.step()
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            self.step()
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        return peak + self.held_bytes(), self.held_bytes()

    def held_bytes(self):
        prog = getattr(self.step_fn, "_last", None)
        runner = getattr(prog, "runner", None)
        compiled = getattr(runner, "compiled", None)
        bufs = getattr(compiled, "_buffers", {}) or {}
        return sum(b.nbytes for group in bufs.values() for b in group)


def run(names, windows, seconds):
    rows = []
    for name in names:
        e = Runner(name, compiled=False)
        c = Runner(name, compiled=True, state=e.state)
        l_e, l_c = e.step().item(), c.step().item()
        for r in (e, c):
            r.reset()
            r.warm_up()
        med, others = interleaved_windows({"eager": e.window, "compiled": c.window}, windows, seconds)
        es, cs = med["eager"], med["compiled"]
        (me, _), (mc, held) = e.peak_bytes(), c.peak_bytes()
        rows.append((name, es, cs, cs / es, me, mc, mc / max(1, me), c.compile_s, l_e == l_c, others, held))
        print(
            f"{name:10s} eager {es:8.2f} step/s  compiled {cs:8.2f} step/s  speed-up {cs / es:5.2f}x  "
            f"peak MB eager {me / 2**20:7.2f} compiled {mc / 2**20:7.2f} (held buffers {held / 2**20:.2f}) "
            f"ratio {mc / max(1, me):4.2f}  "
            f"compile {c.compile_s:5.2f}s  first loss {'equal' if l_e == l_c else 'DIFFERENT'}  "
            f"others' CPU {others:.2f} cores",
            flush=True,
        )
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("names", nargs="*", default=WORKLOADS)
    p.add_argument("--quick", action="store_true", help="1 short window per run")
    p.add_argument("--window", type=float, default=1.0)
    p.add_argument("--windows", type=int, default=3)
    a = p.parse_args(argv)
    if a.quick:
        a.window, a.windows = 0.3, 1
    rows = run(a.names, a.windows, a.window)
    print(
        "\n| workload | eager step/s | compiled step/s | speed-up | peak MB eager | peak MB compiled "
        "(held buffers) | memory ratio | compile s | others' CPU |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, es, cs, sp, me, mc, mr, comp, _, others, held in rows:
        print(
            f"| {name} | {es:.1f} | {cs:.1f} | {sp:.2f}x | {me / 2**20:.1f} | {mc / 2**20:.1f} ({held / 2**20:.1f}) "
            f"| {mr:.2f} | {comp:.2f} | {others:.2f} |"
        )
    return 0 if all(r[8] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
