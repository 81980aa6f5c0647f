"""One framework on one workload, in its own process, driven by suite.py over JSON lines.

Usage: python bench/worker.py FRAMEWORK WORKLOAD STATE.npz, FRAMEWORK a name in
frameworks.FRAMEWORKS or ``module:Class``. Commands arrive
one JSON object per line on stdin; each gets one JSON line back on the
process's original stdout (anything the frameworks print goes to stderr):
  {"cmd": "setup", "warmup": 5}           -> first_loss, warmup_s (the warm-up steps, compilation included)
  {"cmd": "guard", "steps": 200}          -> linreg's w, b and loss after that many steps from the start
  {"cmd": "window", "seconds", "max_steps"} -> steps, steps_per_s, loss, cpu_s (this process's CPU time)
  {"cmd": "latency", "warmup", "calls"}  -> latency_ms (median batch-1 eval forward), or skipped
  {"cmd": "rss"}                          -> peak_rss_mb
  {"cmd": "quit"}
Errors come back as {"error": "..."} and the worker keeps serving.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from frameworks import load  # noqa: E402


def load_state_file(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def peak_rss_mb():
    """This process's peak RSS. VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a
    worker forked from a large coordinator would report the coordinator's size."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Worker:
    def __init__(self, framework, workload, state):
        self.framework, self.workload, self.state = framework, workload, state
        self.impl = None

    def setup(self, warmup=5):
        t0 = time.perf_counter()
        self.impl = load(self.framework)(self.workload, self.state)
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        first = self.impl.value(self.impl.step())
        last = None
        for _ in range(warmup - 1):
            last = self.impl.step()
        if last is not None:
            self.impl.value(last)
        return {"first_loss": first, "warmup_s": time.perf_counter() - t0, "build_s": build_s}

    def guard(self, steps=200):
        self.impl.reset()
        last = None
        for _ in range(steps):
            last = self.impl.step()
        loss = self.impl.value(last)
        w, b = self.impl.linreg_params()
        return {"w": w, "b": b, "loss": loss}

    def window(self, seconds, max_steps=200):
        self.impl.reset()
        t0 = time.perf_counter()
        n, last = 0, None
        while n == 0 or (n < max_steps and time.perf_counter() - t0 < seconds):
            last = self.impl.step()
            n += 1
        loss = self.impl.value(last)  # forces pending work
        dt = time.perf_counter() - t0
        return {"steps": n, "steps_per_s": n / dt, "loss": loss}

    def latency(self, warmup=20, calls=200):
        call = self.impl.infer()
        if call is None:
            return {"skipped": "no inference path"}
        t0 = time.perf_counter()
        for _ in range(warmup):
            call()
        warm_s = time.perf_counter() - t0
        times = []
        for _ in range(calls):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        return {"latency_ms": statistics.median(times) * 1e3, "warmup_s": warm_s}

    def rss(self):
        return {"peak_rss_mb": peak_rss_mb()}

    def handle(self, msg):
        cmd = msg.pop("cmd")
        if cmd not in ("setup", "guard", "window", "latency", "rss"):
            return {"error": f"unknown command {cmd!r}"}
        if cmd != "setup" and cmd != "rss" and self.impl is None:
            return {"error": f"{cmd} before a successful setup"}
        cpu0 = sum(os.times()[:2])
        out = getattr(self, cmd)(**msg)
        out["cpu_s"] = sum(os.times()[:2]) - cpu0
        return out


def serve(worker, inp, out):
    for line in inp:
        msg = json.loads(line)
        if msg.get("cmd") == "quit":
            break
        try:
            reply = worker.handle(msg)
        except Exception as e:  # reported to the coordinator, which marks the framework failed
            tb = traceback.format_exc(limit=-3)
            print(tb, file=sys.stderr, flush=True)
            reply = {"error": f"{type(e).__name__}: {e}"[:500]}
        out.write(json.dumps(reply) + "\n")
        out.flush()


def main(argv=None):
    framework, workload, state_path = (argv or sys.argv[1:])[:3]
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # stray prints from frameworks must not reach the protocol stream
    serve(Worker(framework, workload, load_state_file(state_path)), sys.stdin, proto)
    return 0


if __name__ == "__main__":
    sys.exit(main())
