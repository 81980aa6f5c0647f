"""The suite's results as files: latest.json (+ a timestamped copy), latest.md (tables) and latest.png (chart).

Every file is written atomically (temp file in the same directory, fsync, os.replace).
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from importlib import metadata

LATENCY = ("mlp_large", "resnet20", "gpt_mini")  # the workloads whose batch-1 latency is measured
ORDER = ["torch_eager", "torch_compile", "ember_eager", "ember_compiled", "ember_v1", "tf_function", "tf_v1"]


def machine():
    """CPU model, core count and NumPy's BLAS (ember's GEMMs run there; PyTorch and TF bring their own)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    blas = "unknown"
    try:
        import numpy  # noqa: F401
        from threadpoolctl import threadpool_info

        libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if libs:
            i = libs[0]
            blas = (
                f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads, {i.get('architecture')})"
            )
    except ImportError:
        import numpy as np

        cfg = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        blas = f"{cfg.get('name')} {cfg.get('version')}"
    return {"cpu": cpu, "cores": os.cpu_count(), "blas": blas, "platform": platform.platform()}


def versions():
    out = {"python": platform.python_version()}
    for dist in ("ember", "numpy", "torch", "tensorflow-cpu", "tensorflow"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _atomic_write(path, data):
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp_")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _order(names):
    return [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]


def _frameworks(result):
    names = set(result.get("frameworks", []))
    for fr in result["workloads"].values():
        names.update(fr)
    return _order(names)


def _cell(res, key, fmt):
    if res is None or res["status"] == "n/a":
        return ""
    if res["status"] != "ok":
        return res["status"]
    v = res.get(key)
    return "" if v is None else fmt.format(v)


def _table(result, names, title, render, only=None):
    lines = [f"### {title}", "", "| workload | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for w, fr in result["workloads"].items():
        if only is not None and w not in only:
            continue
        lines.append(f"| {w} | " + " | ".join(render(fr.get(n)) for n in names) + " |")
    return lines + [""]


def _speed(res):
    if res is None or res["status"] == "n/a":
        return ""
    if res["status"] != "ok" or res.get("steps_per_s") is None:
        return res["status"]
    ratio = res.get("ratio_vs_torch_eager")
    return f"{res['steps_per_s']:.1f}" + (f" ({ratio:.2f}x)" if ratio is not None else "")


def _guard(res):
    if res is None or res["status"] == "n/a":
        return ""
    if res["status"] == "ok":
        g = res.get("guard")
        return "ok" + (f" (w={g['w']:.3f}, b={g['b']:.3f})" if g else "")
    return f"{res['status']}: {res.get('reason', '')}".replace("|", "/")


def headline(result):
    """The ratios that count (shared/BENCHMARKS.md), as (label, value) pairs."""
    rows = []
    for w, fr in result["workloads"].items():
        c, e, t = (fr.get(k, {}) for k in ("ember_compiled", "ember_eager", "torch_eager"))
        if c.get("steps_per_s") and t.get("steps_per_s"):
            rows.append((f"{w}: ember compiled / PyTorch eager step/s", c["steps_per_s"] / t["steps_per_s"]))
        if c.get("steps_per_s") and e.get("steps_per_s"):
            rows.append((f"{w}: ember compiled / ember eager step/s", c["steps_per_s"] / e["steps_per_s"]))
        for label, r in (("eager", e), ("compiled", c)):
            if r.get("peak_rss_mb") and t.get("peak_rss_mb"):
                rows.append((f"{w}: ember {label} / PyTorch eager peak RSS", r["peak_rss_mb"] / t["peak_rss_mb"]))
        for k, r in fr.items():
            if r.get("gflops_share_of_peak") is not None:
                rows.append((f"{w}: {k} achieved {r['gflops']:.1f} GFLOP/s / GEMM peak", r["gflops_share_of_peak"]))
    return rows


def markdown(result):
    names = _frameworks(result)
    m, s = result["machine"], result["settings"]
    out = [
        f"# Benchmark suite, {result['created']}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, BLAS (NumPy) {m['blas']}; {m['platform']}.  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ".  ",
        f"Settings: {s['windows']} windows of ~{s['window']} s (<= {s['max_steps']} steps), {s['warmup']} warm-up "
        f"steps, window repeated up to {s['retries']} times when others held >= 0.25 core; latency: median of "
        f"{s['lat_calls']} after {s['lat_warmup']}. Float32 GEMM peak (NumPy 2048^3): "
        f"{result['gemm_peak_gflops']:.1f} GFLOP/s.",
        "",
    ]
    out += _table(result, names, "Train step/s (ratio vs PyTorch eager)", _speed)
    out += _table(result, names, "Compile s (warm-up beyond 5 steady steps)", lambda r: _cell(r, "compile_s", "{:.2f}"))
    out += _table(result, names, "Batch-1 inference latency, ms", lambda r: _cell(r, "latency_ms", "{:.3f}"), LATENCY)
    out += _table(
        result,
        names,
        "Others' CPU during latency, cores",
        lambda r: _cell(r, "latency_others_cores", "{:.2f}"),
        LATENCY,
    )
    out += _table(result, names, "Peak RSS, MB (whole worker process)", lambda r: _cell(r, "peak_rss_mb", "{:.0f}"))
    out += _table(
        result, names, "Others' CPU during windows, cores (median)", lambda r: _cell(r, "others_cores", "{:.2f}")
    )
    out += _table(result, names, "Guards (first-step loss vs reference; linreg w, b)", _guard)
    rows = headline(result)
    if rows:
        out += ["### Ratios that count", "", "| ratio | value |", "|---|---|"]
        out += [f"| {k} | {v:.3f} |" for k, v in rows] + [""]
    return "\n".join(out)


def chart_png(result):
    """Bar chart bytes: each framework's step/s relative to PyTorch eager, per workload (log scale)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in _frameworks(result) if n != "torch_eager"]
    wls = list(result["workloads"])
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(wls)), 4.5))
    width = 0.8 / max(1, len(names))
    for i, n in enumerate(names):
        vals = [result["workloads"][w].get(n, {}).get("ratio_vs_torch_eager") or 0 for w in wls]
        ax.bar([j + (i - (len(names) - 1) / 2) * width for j in range(len(wls))], vals, width, label=n)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(wls)), wls)
    ax.set_ylabel("train step/s relative to PyTorch eager")
    ax.set_title(f"Benchmark suite {result['created']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def write(result, out_dir):
    """Write latest.json, a timestamped JSON copy, latest.md and latest.png into ``out_dir``; their paths."""
    os.makedirs(out_dir, exist_ok=True)
    text = json.dumps(result, indent=1, sort_keys=True, allow_nan=False)
    stamp = result["created"].replace(":", "").replace("-", "")
    paths = [os.path.join(out_dir, n) for n in ("latest.json", f"suite-{stamp}.json", "latest.md", "latest.png")]
    _atomic_write(paths[0], text)
    _atomic_write(paths[1], text)
    _atomic_write(paths[2], markdown(result))
    _atomic_write(paths[3], chart_png(result))
    return paths
