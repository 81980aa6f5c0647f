"""The benchmark suite of shared/BENCHMARKS.md: every framework in its own worker process, windows interleaved.

For each workload the coordinator writes PyTorch's initial weights (ember's
when PyTorch is missing) to a file, starts one worker per framework
(worker.py), and has each build and warm up (5 steps, timed: compile s is the
warm-up beyond 5 steady steps) and report its first-step loss. Guards: every
first-step loss within 1e-4 relative of the reference's (PyTorch eager, else
ember eager); linreg after 200 steps at w ~ 2, b ~ 1.5 (within 0.1) and its
loss within 1% of the reference's. A framework failing a guard is reported
"failed" and not timed. Then one worker at a time runs one window (restart
from the initial weights and a fresh optimizer, ~``--window`` s, <= 200
steps), round-robin, ``--windows`` each; a window during which other
processes held >= 0.25 core (from /proc/stat) is repeated, a bounded number of
times. The median window is quoted, with batch-1 inference latency (mlp_large,
resnet20, gpt_mini), each worker's peak RSS, this machine's float32 GEMM peak
and mlp_large's achieved GFLOP/s. Results go to bench/results/latest.{json,md,png}.

Usage: python bench/suite.py [--workload NAME ...] [--framework NAME ...] [--windows N] [--window S] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import frameworks  # noqa: E402
import numpy as np  # noqa: E402
from gemm_peak import gemm_peak_gflops, mlp_flops_per_step  # noqa: E402
from train_speed import _cpu_ticks  # noqa: E402
from workloads import WORKLOADS, build, initial_state  # noqa: E402

FIRST_LOSS_RTOL = 1e-4
NOISY_CORES = 0.25


class WorkerError(RuntimeError):
    pass


class WorkerProc:
    """A worker process and its JSON-lines channel; a request that times out kills the worker."""

    def __init__(self, framework, workload, state_path, log_dir):
        self.name = framework
        self.log_path = os.path.join(log_dir, f"{workload}.{framework}.log")
        self.log = open(self.log_path, "w")
        # a fresh Inductor cache per run, so torch.compile's compile s is a cold compile as ember's is
        inductor = os.path.join(os.path.dirname(state_path), "inductor_cache")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1", TORCHINDUCTOR_CACHE_DIR=inductor)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "worker.py"), frameworks.spec(framework), workload, state_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)

    def request(self, timeout, **msg):
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            raise WorkerError(f"worker exited ({e}); {self.log_tail()}") from None
        if not self.sel.select(timeout):
            self.close()
            raise WorkerError(f"{msg['cmd']} took longer than {timeout:.0f} s; worker stopped")
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise WorkerError(f"worker exited with {self.proc.poll()}; {self.log_tail()}")
        reply = json.loads(line)
        if "error" in reply:
            raise WorkerError(reply["error"])
        return reply

    def log_tail(self, n=300):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()[-n:].strip().replace("\n", " | ")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(5)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.sel.close()
        self.log.close()


def reference_framework(names):
    """Whose first-step loss the others must match: PyTorch eager, or ember eager without PyTorch."""
    return "torch_eager" if not frameworks.missing("torch_eager") else "ember_eager"


def initial_weights(workload):
    """PyTorch's seeded initial weights for ``workload`` (ember's without PyTorch), as NumPy arrays."""
    if not frameworks.missing("torch_eager"):
        import torch as lib
    else:
        import ember as lib
    lib.manual_seed(0)
    return initial_state(build(lib, workload)[0])


def write_initial_state(workload, path):
    """The initial weights as an .npz every worker loads (np.load without pickle)."""
    np.savez(path, **initial_weights(workload))


def first_loss_ok(loss, ref):
    return abs(loss - ref) <= FIRST_LOSS_RTOL * abs(ref)


def linreg_guard(g, ref_loss):
    """None when (w, b, loss) after 200 linreg steps pass, else why not."""
    if abs(g["w"] - 2) > 0.1 or abs(g["b"] - 1.5) > 0.1:
        return f"linreg ended at w={g['w']:.4f}, b={g['b']:.4f}; expected w~2, b~1.5 within 0.1"
    if abs(g["loss"] - ref_loss) > 0.01 * abs(ref_loss):
        return f"linreg loss after 200 steps {g['loss']:.6f} not within 1% of the reference's {ref_loss:.6f}"
    return None


def others_cores(t0, t1, worker_cpu_s):
    """Cores other processes held between two /proc/stat readings, given the worker's own CPU seconds."""
    (tot0, idle0), (tot1, idle1) = t0, t1
    total = max(1, tot1 - tot0)
    busy = total - (idle1 - idle0)
    mine = worker_cpu_s * os.sysconf("SC_CLK_TCK")
    return max(0.0, (busy - mine) / total * os.cpu_count())


def _fail(res, reason):
    res["status"], res["reason"] = "failed", reason


def run_workload(workload, names, cfg, log=print):
    """Results of ``names`` (frameworks) on ``workload``: {framework: {status, first_loss, steps_per_s, ...}}."""
    ref = reference_framework(names)
    names = [ref] + [n for n in names if n != ref]
    results, procs = {}, {}
    tmp = tempfile.mkdtemp(prefix=f"bench_{workload}_")
    state_path = os.path.join(tmp, "state.npz")
    write_initial_state(workload, state_path)
    try:
        for name in names:
            res = results[name] = {"status": "ok"}
            if not frameworks.runs(name, workload):
                res.update(status="n/a", reason="no implementation of this workload")
                continue
            if frameworks.missing(name):
                res.update(status="skipped", reason=f"{', '.join(frameworks.missing(name))} not installed")
                continue
            p = procs[name] = WorkerProc(name, workload, state_path, cfg["log_dir"])
            try:
                res.update(p.request(cfg["setup_timeout"], cmd="setup", warmup=cfg["warmup"]))
            except WorkerError as e:
                _fail(res, f"setup: {e}")
            log(f"  {workload:9s} {name:15s} setup {res.get('warmup_s', float('nan')):7.2f} s  "
                f"first loss {res.get('first_loss', float('nan')):.6f}  {res['status']} {res.get('reason', '')}")  # fmt: skip
        ref_res = results[ref]
        ref_loss = ref_res.get("first_loss") if ref_res["status"] == "ok" else None
        for res in results.values():
            if res["status"] != "ok":
                continue
            if ref_loss is None:
                _fail(res, f"no reference first-step loss ({ref} {ref_res['status']})")
            elif not first_loss_ok(res["first_loss"], ref_loss):
                _fail(res, f"first-step loss {res['first_loss']:.7g} vs {ref}'s {ref_loss:.7g} (rtol 1e-4)")
        if workload == "linreg":
            for name, res in results.items():
                if res["status"] == "ok":
                    try:
                        res["guard"] = procs[name].request(cfg["setup_timeout"], cmd="guard", steps=200)
                    except WorkerError as e:
                        _fail(res, f"guard: {e}")
            ref_guard = results[ref].get("guard")
            for res in results.values():
                if res["status"] == "ok":
                    why = linreg_guard(res["guard"], ref_guard["loss"] if ref_guard else float("nan"))
                    if why:
                        _fail(res, why)
        for name, res in results.items():
            if res["status"] != "ok" and name in procs:
                procs.pop(name).close()
        _interleave(workload, results, procs, cfg, log)
        if workload in frameworks.LATENCY_WORKLOADS:
            for name, p in procs.items():
                try:
                    t0 = _cpu_ticks()
                    r = p.request(cfg["setup_timeout"], cmd="latency", warmup=cfg["lat_warmup"], calls=cfg["lat_calls"])
                    results[name]["latency_ms"] = r.get("latency_ms")
                    results[name]["latency_others_cores"] = others_cores(t0, _cpu_ticks(), r["cpu_s"])
                    log(f"  {workload:9s} {name:15s} batch-1 latency {r.get('latency_ms', float('nan')):8.3f} ms")
                except WorkerError as e:
                    results[name]["latency_error"] = str(e)
        for name, p in procs.items():
            try:
                results[name]["peak_rss_mb"] = p.request(30, cmd="rss")["peak_rss_mb"]
            except WorkerError:
                pass
    finally:
        for p in procs.values():
            p.close()
        shutil.rmtree(tmp, ignore_errors=True)
    _derive(workload, results, cfg)
    return results


def _interleave(workload, results, procs, cfg, log):
    """Round-robin windows over the live workers; a window others disturbed is repeated (bounded)."""
    for name in procs:
        results[name]["windows"] = []
    timeout = cfg["window"] * 20 + 120
    for _ in range(cfg["windows"]):
        for name in list(procs):
            res = results[name]
            for attempt in range(cfg["retries"] + 1):
                time.sleep(cfg.get("settle_s", 0.0))  # the last worker's BLAS/OpenMP threads stop spinning
                t0 = _cpu_ticks()
                try:
                    r = procs[name].request(timeout, cmd="window", seconds=cfg["window"], max_steps=cfg["max_steps"])
                except WorkerError as e:
                    _fail(res, f"window: {e}")
                    procs.pop(name).close()
                    break
                others = others_cores(t0, _cpu_ticks(), r["cpu_s"])
                if others < NOISY_CORES or attempt == cfg["retries"]:
                    break
            if res["status"] != "ok":
                continue
            res["windows"].append({"steps_per_s": r["steps_per_s"], "steps": r["steps"], "others_cores": others,
                                   "attempts": attempt + 1})  # fmt: skip
    for name in procs:
        w = results[name]["windows"]
        if w:
            results[name]["steps_per_s"] = statistics.median(x["steps_per_s"] for x in w)
            results[name]["others_cores"] = statistics.median(x["others_cores"] for x in w)
            log(f"  {workload:9s} {name:15s} {results[name]['steps_per_s']:9.2f} step/s  "
                f"others' CPU {results[name]['others_cores']:.2f} cores")  # fmt: skip


def _derive(workload, results, cfg):
    """compile s, ratios vs PyTorch eager, and mlp_large's achieved GFLOP/s share of the GEMM peak."""
    base = results.get("torch_eager", {}).get("steps_per_s")
    for res in results.values():
        sps = res.get("steps_per_s")
        if not sps:
            continue
        res["compile_s"] = max(0.0, res["warmup_s"] - cfg["warmup"] / sps)
        if base:
            res["ratio_vs_torch_eager"] = sps / base
        if workload == "mlp_large":
            res["gflops"] = mlp_flops_per_step() * sps / 1e9
            if cfg.get("gemm_peak_gflops"):
                res["gflops_share_of_peak"] = res["gflops"] / cfg["gemm_peak_gflops"]


def settings(a):
    cfg = {
        "windows": a.windows,
        "window": a.window,
        "max_steps": 200,
        "warmup": 5,
        "retries": 2 if a.retries is None else a.retries,
        "lat_warmup": 20,
        "lat_calls": 200,
        "setup_timeout": a.compile_timeout,
        "gemm_repeats": 5,
        "settle_s": 0.25,
    }
    if a.quick:
        cfg.update(windows=a.windows or 3, window=a.window or 0.5, lat_warmup=5, lat_calls=50)
        cfg["retries"] = 1 if a.retries is None else a.retries
        cfg["gemm_repeats"] = 3
    cfg["windows"] = cfg["windows"] or 5
    cfg["window"] = cfg["window"] or 2.0
    return cfg


def run(workloads, names, cfg, log=print):
    import report

    t0 = time.time()
    before = gemm_peak_gflops(repeats=cfg["gemm_repeats"])
    cfg["gemm_peak_gflops"] = before
    log(f"float32 GEMM peak (NumPy, 2048^3): {before:.1f} GFLOP/s")
    out = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {k: v for k, v in cfg.items() if k not in ("log_dir", "gemm_peak_gflops")},
        "machine": report.machine(),
        "versions": report.versions(),
        "gemm_peak_gflops": cfg["gemm_peak_gflops"],
        "frameworks": names,
        "workloads": {},
    }
    for w in workloads:
        out["workloads"][w] = run_workload(w, names, cfg, log)
    # measured again at the end (others' load comes and goes); the better of the two is the peak
    after = gemm_peak_gflops(repeats=cfg["gemm_repeats"])
    out["gemm_peak_runs_gflops"] = [before, after]
    if after > before:
        out["gemm_peak_gflops"] = cfg["gemm_peak_gflops"] = after
        for w in workloads:
            _derive(w, out["workloads"][w], cfg)
    out["wall_s"] = time.time() - t0
    return out


def failures(result):
    return [(w, f, r.get("reason", "")) for w, fr in result["workloads"].items() for f, r in fr.items()
            if r["status"] == "failed"]  # fmt: skip


def main(argv=None):
    import report

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", action="append", choices=WORKLOADS, help="repeatable; default: all")
    p.add_argument("--framework", action="append", choices=list(frameworks.FRAMEWORKS), help="repeatable; default: all")
    p.add_argument("--windows", type=int, default=None, help="timed windows per framework (default 5, quick 3)")
    p.add_argument("--window", type=float, default=None, help="seconds per window (default 2, quick 0.5)")
    p.add_argument("--retries", type=int, default=None, help="repeats of a window others disturbed (quick: 1)")
    p.add_argument("--compile-timeout", type=float, default=600, help="cap on a worker's build+warm-up, s")
    p.add_argument("--quick", action="store_true", help="short windows, fewer latency calls")
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="results directory")
    a = p.parse_args(argv)
    cfg = settings(a)
    os.makedirs(a.out, exist_ok=True)
    cfg["log_dir"] = tempfile.mkdtemp(prefix="bench_logs_")
    result = run(a.workload or WORKLOADS, a.framework or list(frameworks.FRAMEWORKS), cfg)
    paths = report.write(result, a.out)
    print(report.markdown(result))
    print("wrote " + ", ".join(paths) + f" (worker logs in {cfg['log_dir']})")
    return 1 if failures(result) else 0


if __name__ == "__main__":
    sys.exit(main())
