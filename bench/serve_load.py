"""Load test for ember.serve: closed-loop clients against a server this script starts on 127.0.0.1.

The server runs in its own process (``python -m ember.serve MODEL`` for a model path, or a built-in
demo MLP 64-256-256-10), so client and server do not share a GIL. ``--concurrency`` clients each send
one :predict request at a time for ``--duration`` seconds (after ``--warmup``) and the script reports
throughput, p50/p99 latency and errors as one printed line and as JSON (default
bench/results/serve_load.json). The client costs CPU too: on a small or loaded machine the numbers
bound the pair, not the server alone.

Usage: python bench/serve_load.py [MODEL] [--duration 30] [--concurrency 16] [--rows 1]
       [--max-batch-size N] [--batch-timeout-ms 2] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEMO_SIZES = (64, 256, 256, 10)


# ---- the demo model (runs in the server process) -----------------------------------------------


class DemoMLP:
    """A 64-256-256-10 ReLU MLP as a Predictor; a lock keeps ember's process-wide grad mode consistent."""

    def __init__(self):
        import threading

        import ember
        from ember import nn

        ember.manual_seed(0)
        layers = []
        for a, b in zip(DEMO_SIZES[:-1], DEMO_SIZES[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.ember, self.module, self.lock = ember, nn.Sequential(*layers[:-1]), threading.Lock()
        self.signature = {
            "inputs": {"x": {"shape": [None, DEMO_SIZES[0]], "dtype": "float32"}},
            "outputs": {"logits": {"shape": [None, DEMO_SIZES[-1]], "dtype": "float32"}},
        }

    def predict(self, inputs):
        with self.lock, self.ember.no_grad():
            return {"logits": self.module(self.ember.from_numpy(inputs["x"])).numpy()}


def serve_demo(args):
    from ember.serve import serve

    serve(
        DemoMLP(),
        name=args.name,
        port=args.port,
        max_batch_size=args.max_batch_size,
        batch_timeout_ms=args.batch_timeout_ms,
        max_workers=args.workers,
        log_level="warning",
    )


# ---- the load generator ------------------------------------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, port):
    extra = ["--port", str(port), "--name", args.name]
    if args.max_batch_size:
        extra += ["--max-batch-size", str(args.max_batch_size), "--batch-timeout-ms", str(args.batch_timeout_ms)]
    if args.workers:
        extra += ["--workers", str(args.workers)]
    if args.model:
        cmd = [sys.executable, "-m", "ember.serve", args.model, "--log-level", "warning", *extra]
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--serve-demo", *extra]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(cmd, env=env)


def wait_ready(httpx, url, proc, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with status {proc.returncode} before it was ready")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server not ready after {timeout_s} s")


def request_body(metadata, rows, seed=0):
    """Random inputs matching the served signature: row format when every input has a batch dim."""
    sig = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, info in sig.items():
        dims = [int(d["size"]) for d in info["tensor_shape"].get("dim", [])]
        shape = [rows if i == 0 and d == -1 else max(d, 1) for i, d in enumerate(dims)]
        dtype = info["dtype"]
        if dtype in ("DT_FLOAT", "DT_DOUBLE", "DT_HALF", "DT_BFLOAT16"):
            arrays[name] = rng.standard_normal(shape).round(4)
        elif dtype == "DT_BOOL":
            arrays[name] = rng.random(shape) < 0.5
        elif dtype.startswith(("DT_INT", "DT_UINT")):
            arrays[name] = rng.integers(0, 2, shape)
        else:
            raise SystemExit(f"cannot generate input {name!r} of {dtype}")
    if all(a.ndim and a.shape[0] == rows for a in arrays.values()):
        if len(arrays) == 1:
            return {"instances": next(iter(arrays.values())).tolist()}
        return {"instances": [{n: a[i].tolist() for n, a in arrays.items()} for i in range(rows)]}
    return {"inputs": {n: a.tolist() for n, a in arrays.items()}}


async def run_load(httpx, url, name, body, concurrency, warmup_s, duration_s):
    """Closed loop: each client sends its next request when the previous one is answered."""
    payload = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    latencies, errors, error_samples = [], 0, []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=10.0, limits=limits) as client:
        start = time.perf_counter()
        measure_from, stop_at = start + warmup_s, start + warmup_s + duration_s

        async def worker():
            nonlocal errors
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                try:
                    r = await client.post(f"/v1/models/{name}:predict", content=payload, headers=headers)
                    ok = r.status_code == 200
                    if not ok and len(error_samples) < 3:
                        error_samples.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as e:
                    ok = False
                    if len(error_samples) < 3:
                        error_samples.append(f"{type(e).__name__}: {e}")
                t1 = time.perf_counter()
                if t0 >= measure_from and t1 <= stop_at:
                    if ok:
                        latencies.append(t1 - t0)
                    else:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return np.array(latencies), errors, error_samples


def _atomic_write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", help="model directory or .onnx file (default: built-in demo MLP)")
    p.add_argument("--name", default="model")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds (default 30)")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first (default 2)")
    p.add_argument("--concurrency", type=int, default=16, help="clients in flight (default 16)")
    p.add_argument("--rows", type=int, default=1, help="rows per request (default 1)")
    p.add_argument("--max-batch-size", type=int, default=None, help="turn on server-side dynamic batching")
    p.add_argument("--batch-timeout-ms", type=float, default=2.0)
    p.add_argument("--workers", type=int, default=None, help="server worker threads")
    p.add_argument("--port", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--serve-demo", action="store_true", help=argparse.SUPPRESS)  # internal: be the server
    p.add_argument("--out", default=os.path.join(HERE, "results", "serve_load.json"))
    args = p.parse_args(argv)
    if args.serve_demo:
        return serve_demo(args)
    if args.duration <= 0 or args.concurrency < 1 or args.rows < 1:
        p.error("--duration must be > 0, --concurrency and --rows >= 1")

    import httpx

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_server(args, port)
    try:
        wait_ready(httpx, url, proc)
        metadata = httpx.get(f"{url}/v1/models/{args.name}/metadata", timeout=10).json()
        body = request_body(metadata, args.rows)
        lat, errors, samples = asyncio.run(
            run_load(httpx, url, args.name, body, args.concurrency, args.warmup, args.duration)
        )
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful stop, as in production
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    n = len(lat)
    ms = (lambda q: round(float(np.percentile(lat, q)) * 1e3, 3)) if n else (lambda q: None)
    result = {
        "model": args.model or "demo MLP " + "-".join(map(str, DEMO_SIZES)),
        "duration_s": args.duration,
        "concurrency": args.concurrency,
        "rows_per_request": args.rows,
        "max_batch_size": args.max_batch_size,
        "batch_timeout_ms": args.batch_timeout_ms if args.max_batch_size else None,
        "requests_ok": n,
        "errors": errors,
        "error_samples": samples,
        "throughput_rps": round(n / args.duration, 1),
        "latency_ms": {"p50": ms(50), "p99": ms(99), "mean": round(float(lat.mean()) * 1e3, 3) if n else None},
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _atomic_write(args.out, json.dumps(result, indent=2) + "\n")
    batching = f"batch<={args.max_batch_size}" if args.max_batch_size else "no batching"
    print(
        f"serve_load: {result['throughput_rps']} req/s, p50 {result['latency_ms']['p50']} ms, "
        f"p99 {result['latency_ms']['p99']} ms, {errors} errors ({n} ok in {args.duration:g} s, "
        f"concurrency {args.concurrency}, {args.rows} row(s)/request, {batching}, "
        f"loadavg {result['machine']['loadavg_1m']} on {result['machine']['cpus']} CPUs) -> {args.out}"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
