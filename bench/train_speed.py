"""Eager train step/s of the standard workloads: ember vs PyTorch, one process, one run.

Follows shared/BENCHMARKS.md: both frameworks start from the same initial
weights (PyTorch's, copied through NumPy), the first-step losses must agree to
1e-4 relative, 5 warm-up steps, then windows of about ``--window`` seconds
(at most 200 steps) that each restart from the initial weights with a fresh
optimizer; the median window is quoted, with the CPU share other processes
held during the run. Usage: python bench/train_speed.py [--quick] [names...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from workloads import WORKLOADS, build, data, initial_state, load_state  # noqa: E402


def _cpu_ticks():
    with open("/proc/stat") as f:
        parts = [int(v) for v in f.readline().split()[1:]]
    return sum(parts), parts[3] + parts[4]  # total, idle+iowait


def interleaved_windows(windows_of, windows, seconds):
    """Median step/s per runner over ``windows`` interleaved windows, and the cores other processes held.

    ``windows_of`` maps a label to a function running one window of ``seconds`` and returning step/s;
    runners alternate so each sees the same machine state (shared/BENCHMARKS.md).
    """
    res = {k: [] for k in windows_of}
    tot0, idle0 = _cpu_ticks()
    cpu0 = sum(os.times()[:2])
    for _ in range(windows):
        for k, window in windows_of.items():
            res[k].append(window(seconds))
    tot1, idle1 = _cpu_ticks()
    busy = (tot1 - tot0) - (idle1 - idle0)
    mine = (sum(os.times()[:2]) - cpu0) * os.sysconf("SC_CLK_TCK")
    others = max(0.0, (busy - mine) / max(1, tot1 - tot0) * os.cpu_count())
    return {k: statistics.median(v) for k, v in res.items()}, others


class Runner:
    def __init__(self, lib, name, state=None):
        self.lib = lib
        self.batches = [(lib.from_numpy(x.copy()), lib.from_numpy(y.copy())) for x, y in data(name)]
        self.model, self.make_opt, self.loss_fn = build(lib, name)
        if state is not None:
            load_state(lib, self.model, state)
        self.state = initial_state(self.model)
        self.reset()

    def reset(self):
        load_state(self.lib, self.model, self.state)
        self.model.train()
        self.opt = self.make_opt(self.model.parameters())
        self.i = 0

    def step(self):
        x, y = self.batches[self.i % len(self.batches)]
        self.i += 1
        self.opt.zero_grad()
        loss = self.loss_fn(self.model, x, y)
        loss.backward()
        self.opt.step()
        return loss

    def window(self, seconds, max_steps=200):
        self.reset()
        t0 = time.perf_counter()
        n = 0
        while n < max_steps and time.perf_counter() - t0 < seconds:
            self.step()
            n += 1
        loss = self.step().item()  # forces pending work, keeps the loss honest
        dt = time.perf_counter() - t0
        return (n + 1) / dt, loss


def run(names, windows, seconds):
    import torch

    import ember

    torch.manual_seed(0)
    rows = []
    for name in names:
        t = Runner(torch, name)
        e = Runner(ember, name, t.state)
        l_t, l_e = t.step().item(), e.step().item()
        ok = abs(l_t - l_e) <= 1e-4 * max(1.0, abs(l_t))
        for r in (t, e):
            r.reset()
            for _ in range(5):  # warm-up
                r.step()
        med, others = interleaved_windows(
            {"torch": lambda s, r=t: r.window(s)[0], "ember": lambda s, r=e: r.window(s)[0]}, windows, seconds
        )
        ts, es = med["torch"], med["ember"]
        rows.append((name, ts, es, es / ts, l_t, l_e, ok, others))
        print(
            f"{name:10s} torch {ts:8.2f} step/s  ember {es:8.2f} step/s  ratio {es / ts:5.2f}  "
            f"first loss torch {l_t:.6f} ember {l_e:.6f} {'ok' if ok else 'MISMATCH'}  others' CPU {others:.2f} cores",
            flush=True,
        )
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("names", nargs="*", default=WORKLOADS)
    p.add_argument("--quick", action="store_true", help="1 short window per framework")
    p.add_argument("--window", type=float, default=2.0)
    p.add_argument("--windows", type=int, default=5)
    a = p.parse_args(argv)
    if a.quick:
        a.window, a.windows = 0.3, 1
    rows = run(a.names, a.windows, a.window)
    return 0 if all(r[6] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
