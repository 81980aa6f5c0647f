"""The ``ember`` command line: each subcommand run as a user would, results checked with the libraries' own readers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ember
from ember.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "ember", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_info_names_numpy_blas_and_extras():
    r = _run("info")
    assert r.returncode == 0, r.stderr
    assert f"numpy {np.__version__}" in r.stdout and "BLAS:" in r.stdout
    assert "safetensors" in r.stdout and "ember[onnx]" in r.stdout


def test_unknown_command_and_help():
    r = _run("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
    r = _run("--help")
    assert r.returncode == 0 and all(c in r.stdout for c in ("info", "serve", "export", "convert", "bench"))


def test_convert_pytorch_safetensors_to_ember_and_back(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    st.save_file(tm.state_dict(), str(tmp_path / "torch.safetensors"))
    assert main(["convert", str(tmp_path / "torch.safetensors"), "-o", str(tmp_path / "ember.safetensors")]) == 0
    em = ember.nn.Sequential(ember.nn.Linear(4, 8), ember.nn.ReLU(), ember.nn.Linear(8, 3))
    em.load_state_dict(ember.load(str(tmp_path / "ember.safetensors")))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(
        em(ember.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )
    # and back to a plain file that PyTorch's loader reads with strict key checking
    out = tmp_path / "back.safetensors"
    assert main(["convert", str(tmp_path / "ember.safetensors"), "--to", "torch", "-o", str(out)]) == 0
    tm2 = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    tm2.load_state_dict(st.load_file(str(out)))
    for a, b in zip(tm.state_dict().values(), tm2.state_dict().values()):
        assert torch.equal(a, b)


def test_convert_to_torch_refuses_non_tensor_state(tmp_path):
    ember.save({"w": ember.ones(2), "step": 3}, str(tmp_path / "ck.safetensors"))
    with pytest.raises(SystemExit, match="not tensors: \\['step'\\]"):
        main(["convert", str(tmp_path / "ck.safetensors"), "--to", "torch", "-o", str(tmp_path / "x.safetensors")])
    assert not (tmp_path / "x.safetensors").exists()


FACTORY = textwrap.dedent(
    """
    import ember

    def make():
        ember.manual_seed(0)
        return ember.nn.Sequential(ember.nn.Linear(4, 8), ember.nn.Tanh(), ember.nn.Linear(8, 2))
    """
)


def test_export_model_dir_and_onnx_then_convert_onnx_to_model_dir(tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    (tmp_path / "clifactory.py").write_text(FACTORY)
    r = _run("export", "clifactory:make", "--input-shape", "2,4", "-o", str(tmp_path / "mdir"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = _run(
        "export",
        "clifactory:make",
        "--input-shape",
        "2,4",
        "--format",
        "onnx",
        "-o",
        str(tmp_path / "m.onnx"),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr

    sys.path.insert(0, str(tmp_path))
    try:
        import clifactory
    finally:
        sys.path.remove(str(tmp_path))
    model = clifactory.make().eval()
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)  # another batch size than traced
    with ember.no_grad():
        want = model(ember.tensor(x)).numpy()

    from ember.export import load_model

    loaded = load_model(str(tmp_path / "mdir"))
    (got,) = loaded.predict({next(iter(loaded.signature["inputs"])): x}).values()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)

    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    assert main(["convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "from_onnx")]) == 0
    again = load_model(str(tmp_path / "from_onnx"))
    (got,) = again.predict({next(iter(again.signature["inputs"])): x}).values()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_export_rejects_a_bad_model_spec(tmp_path):
    with pytest.raises(SystemExit, match="MODULE:CALLABLE"):
        main(["export", "no_colon_here", "--input-shape", "1,4", "-o", str(tmp_path / "x")])


def test_bench_subcommand_reaches_the_suite():
    r = _run("bench", "--help")
    assert r.returncode == 0, r.stderr
    assert "--workload" in r.stdout and "--framework" in r.stdout
