"""ember.serve: TF Serving's REST API over real HTTP (uvicorn on 127.0.0.1, httpx clients).

Predictions are checked against PyTorch running the same weights; errors must be JSON 4xx naming the
field, expected shape and dtype; fuzzed bodies never get a 5xx or hang; the dynamic batcher returns
what unbatched calls return; SIGTERM lets an in-flight request finish.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
pytest.importorskip("starlette")
torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import ember  # noqa: E402
from ember import nn  # noqa: E402
from ember.serve import BackgroundServer, create_app, load_predictor_for  # noqa: E402
from ember.serve.batching import DynamicBatcher  # noqa: E402

TOL = dict(rtol=1e-5, atol=1e-6)
TIMEOUT = httpx.Timeout(20.0)
# ember's grad mode is process-wide (not thread-local like PyTorch's); the test predictors hold
# this lock around no_grad so concurrent worker threads cannot leave it switched off
_GRAD_LOCK = threading.Lock()


def _np(t):
    return t.detach().numpy().copy()


class MLPPredictor:
    """One input "x" [None, 4] -> one output "y" [None, 3]: ReLU(Linear(4, 3))."""

    def __init__(self, seed=0):
        ember.manual_seed(seed)
        self.module = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
        self.signature = {
            "inputs": {"x": {"shape": [None, 4], "dtype": "float32"}},
            "outputs": {"y": {"shape": [None, 3], "dtype": "float32"}},
        }
        self.batch_sizes = []

    def predict(self, inputs):
        self.batch_sizes.append(inputs["x"].shape[0])
        with _GRAD_LOCK, ember.no_grad():
            return {"y": self.module(ember.from_numpy(inputs["x"])).numpy()}

    def oracle(self, x):
        lin = torch.nn.Linear(4, 3)
        lin.load_state_dict({k: torch.from_numpy(_np(v)) for k, v in self.module[0].state_dict().items()})
        with torch.no_grad():
            return torch.relu(lin(torch.from_numpy(np.asarray(x, np.float32)))).numpy()


class TwoInputPredictor:
    """Inputs "a" [None, 4] and "b" [None, 2]; outputs "y" = ReLU(Linear(6, 3)(cat(a, b))) and "total" = y.sum(1)."""

    def __init__(self):
        ember.manual_seed(1)
        self.linear = nn.Linear(6, 3)
        self.signature = {
            "inputs": {"a": {"shape": [None, 4], "dtype": "float32"}, "b": {"shape": [None, 2], "dtype": "float32"}},
            "outputs": {"y": {"shape": [None, 3], "dtype": "float32"}, "total": {"shape": [None], "dtype": "float32"}},
        }

    def predict(self, inputs):
        with _GRAD_LOCK, ember.no_grad():
            x = ember.cat([ember.from_numpy(inputs["a"]), ember.from_numpy(inputs["b"])], 1)
            y = ember.relu(self.linear(x))
            return {"y": y.numpy(), "total": y.sum(1).numpy()}

    def oracle(self, a, b):
        lin = torch.nn.Linear(6, 3)
        lin.load_state_dict({k: torch.from_numpy(_np(v)) for k, v in self.linear.state_dict().items()})
        with torch.no_grad():
            x = torch.cat([torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)], 1)
            y = torch.relu(lin(x))
        return {"y": y.numpy(), "total": y.sum(1).numpy()}


class RaisingPredictor:
    """Fails in predict the way a model might: ValueError (bad input) or RuntimeError (a bug)."""

    signature = {
        "inputs": {"x": {"shape": [None], "dtype": "int64"}},
        "outputs": {"y": {"shape": [None], "dtype": "int64"}},
    }

    def predict(self, inputs):
        x = inputs["x"]
        if (x < 0).any():
            raise ValueError("x must be >= 0")
        if (x == 13).any():
            raise RuntimeError("unlucky")
        return {"y": x * 2}


@pytest.fixture(scope="module")
def mlp():
    return MLPPredictor()


@pytest.fixture(scope="module")
def server(mlp):
    with BackgroundServer(create_app(mlp, "mlp", max_body_bytes=4096)) as s:
        with httpx.Client(base_url=s.url, timeout=TIMEOUT) as client:
            yield client


@pytest.fixture(scope="module")
def default_limit_server(mlp):
    """The default 10 MiB body limit (the deep-nesting body is 200 kB)."""
    with BackgroundServer(create_app(mlp, "mlp")) as s:
        with httpx.Client(base_url=s.url, timeout=TIMEOUT) as client:
            yield client


@pytest.fixture(scope="module")
def two_input():
    p = TwoInputPredictor()
    with BackgroundServer(create_app(p, "two")) as s:
        with httpx.Client(base_url=s.url, timeout=TIMEOUT) as client:
            yield p, client


@pytest.fixture(scope="module", autouse=True)
def _grad_mode_untouched():
    yield
    assert ember.is_grad_enabled(), "serving left ember's process-wide grad mode switched off"


def _rows(n, width=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, width)).astype(np.float32)


# ---- status, metadata, health ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/models/mlp", "/v1/models/mlp/versions/1"])
def test_model_status(server, path):
    r = server.get(path)
    assert r.status_code == 200
    assert r.json() == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }


def test_metadata_is_tf_serving_signature_def(server):
    def info(name, dims, dtype="DT_FLOAT"):
        return {
            "dtype": dtype,
            "tensor_shape": {"dim": [{"size": d, "name": ""} for d in dims], "unknown_rank": False},
            "name": f"{name}:0",
        }

    expected = {
        "model_spec": {"name": "mlp", "signature_name": "", "version": "1"},
        "metadata": {
            "signature_def": {
                "signature_def": {
                    "serving_default": {
                        "inputs": {"x": info("x", ["-1", "4"])},
                        "outputs": {"y": info("y", ["-1", "3"])},
                        "method_name": "tensorflow/serving/predict",
                    }
                }
            }
        },
    }
    for path in ["/v1/models/mlp/metadata", "/v1/models/mlp/versions/1/metadata"]:
        r = server.get(path)
        assert r.status_code == 200
        assert r.json() == expected


@pytest.mark.parametrize("path", ["/healthz", "/v1/health"])
def test_health(server, path):
    r = server.get(path)
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/v1/models/other", 404),
        ("GET", "/v1/models/mlp/versions/2", 404),
        ("GET", "/v1/models/mlp/labels/stable", 404),
        ("POST", "/v1/models/other:predict", 404),
        ("GET", "/nowhere", 404),
        ("GET", "/v1/models/mlp:predict", 405),
        ("PUT", "/v1/models/mlp:predict", 405),
        ("DELETE", "/v1/models/mlp", 405),
        ("POST", "/v1/models/mlp/metadata", 405),
        ("POST", "/healthz", 405),
        ("POST", "/v1/models/mlp:classify", 400),
    ],
)
def test_routing_errors_are_json(server, method, path, status):
    r = server.request(method, path, json={"instances": [[0, 0, 0, 0]]})
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert isinstance(r.json()["error"], str) and r.json()["error"]
    if status == 405:
        assert r.headers["allow"]


def test_unknown_model_message_matches_tf_serving(server):
    r = server.post("/v1/models/half:predict", json={"instances": [1.0]})
    assert r.json() == {"error": "Servable not found for request: Latest(half)"}


# ---- predict -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/models/mlp:predict", "/v1/models/mlp/versions/1:predict"])
def test_row_format_matches_torch(server, mlp, path):
    x = _rows(5)
    r = server.post(path, json={"instances": x.tolist()})
    assert r.status_code == 200, r.text
    got = np.array(r.json()["predictions"], np.float32)
    np.testing.assert_allclose(got, mlp.oracle(x), **TOL)


def test_row_format_named_single_input(server, mlp):
    x = _rows(3, seed=1)
    r = server.post("/v1/models/mlp:predict", json={"instances": [{"x": row} for row in x.tolist()]})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(np.array(r.json()["predictions"], np.float32), mlp.oracle(x), **TOL)


@pytest.mark.parametrize("inputs", ["plain", "named"])
def test_columnar_format_matches_torch(server, mlp, inputs):
    x = _rows(4, seed=2)
    value = x.tolist() if inputs == "plain" else {"x": x.tolist()}
    r = server.post("/v1/models/mlp:predict", json={"inputs": value, "signature_name": "serving_default"})
    assert r.status_code == 200, r.text
    assert list(r.json()) == ["outputs"]
    np.testing.assert_allclose(np.array(r.json()["outputs"], np.float32), mlp.oracle(x), **TOL)


def test_integers_are_accepted_for_float_inputs(server, mlp):
    r = server.post("/v1/models/mlp:predict", json={"instances": [[1, 2, 3, 4]]})
    assert r.status_code == 200
    np.testing.assert_allclose(np.array(r.json()["predictions"]), mlp.oracle([[1, 2, 3, 4]]), **TOL)


def test_two_inputs_row_format_gives_list_of_objects(two_input):
    p, client = two_input
    a, b = _rows(3, 4, seed=3), _rows(3, 2, seed=4)
    instances = [{"a": ar, "b": br} for ar, br in zip(a.tolist(), b.tolist())]
    r = client.post("/v1/models/two:predict", json={"instances": instances})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    want = p.oracle(a, b)
    assert len(preds) == 3 and all(set(row) == {"y", "total"} for row in preds)
    np.testing.assert_allclose(np.array([row["y"] for row in preds]), want["y"], **TOL)
    np.testing.assert_allclose(np.array([row["total"] for row in preds]), want["total"], **TOL)


def test_two_inputs_columnar_gives_object(two_input):
    p, client = two_input
    a, b = _rows(2, 4, seed=5), _rows(2, 2, seed=6)
    r = client.post("/v1/models/two:predict", json={"inputs": {"a": a.tolist(), "b": b.tolist()}})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    want = p.oracle(a, b)
    assert set(out) == {"y", "total"}
    np.testing.assert_allclose(np.array(out["y"]), want["y"], **TOL)
    np.testing.assert_allclose(np.array(out["total"]), want["total"], **TOL)


# ---- bad requests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, fragments",
    [
        ('{"instances": [[1, 2, 3]]}', ['"x"', "[None, 4]", "float32", "[1, 3]"]),
        ('{"inputs": [1, 2, 3, 4]}', ['"x"', "[None, 4]", "float32", "got shape [4]"]),
        ('{"instances": [["a", "b", "c", "d"]]}', ['"x"', "float32", "string"]),
        ('{"instances": [[true, false, true, false]]}', ['"x"', "float32", "boolean"]),
        ('{"instances": [[1, 2, 3, true]]}', ['"x"', "float32", "boolean"]),
        ('{"instances": [[1, 2, 3, null]]}', ['"x"', "float32", "null"]),
        ('{"instances": [[1, 2, 3, 4], [1, 2]]}', ['"x"', "ragged"]),
        ('{"instances": [[1, 2, 3, [4]]]}', ['"x"', "ragged"]),
        ('{"instances": [{"y": [1, 2, 3, 4]}]}', ['missing "x"', 'unknown "y"', "[None, 4] float32"]),
        ('{"inputs": {"x": [[1, 2, 3, 4]], "z": 1}}', ['unknown "z"']),
        ('{"instances": [[1, 2, 3, 4]], "extra": 1}', ["'extra'", "instances"]),
        ('{"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]}', ["both"]),
        ('{"signature_name": "serving_default"}', ["neither"]),
        ('{"instances": []}', ["non-empty"]),
        ('{"instances": [[1, 2, 3, 4], {"x": [1, 2, 3, 4]}]}', ["mixes"]),
        ('{"instances": [[1, 2, 3, 4]], "signature_name": "other"}', ["'other'", "serving_default"]),
        ('{"instances": [[1, 2, 3, NaN]]}', ["NaN"]),
        ('{"instances": [[1, 2, 3, Infinity]]}', ["Infinity"]),
        ('{"instances": [[1, 2, 3, -Infinity]]}', ["-Infinity"]),
        ('{"instances": [[1, 2, 3, 1e999]]}', ['"x"', "non-finite"]),
        ('{"instances": [[1, 2, 3, 1e300]]}', ['"x"', "float32"]),
        ('{"instances": [[1, 2, 3, ' + "9" * 400 + "]]}", ['"x"', "float32"]),
        ('{"instances": [[1, 2, 3, 4]]', ["malformed JSON"]),
        ("[1, 2, 3]", ["JSON object"]),
        ("", ["empty"]),
        ("[" * 100_000 + "]" * 100_000, ["nested"]),
    ],
)
def test_bad_request_is_400_naming_the_problem(default_limit_server, body, fragments):
    r = default_limit_server.post("/v1/models/mlp:predict", content=body.encode())
    assert r.status_code == 400, r.text
    message = r.json()["error"]
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_model_value_error_is_400_and_crash_is_json_500():
    with BackgroundServer(create_app(RaisingPredictor(), "r")) as s, httpx.Client(base_url=s.url, timeout=TIMEOUT) as c:
        ok = c.post("/v1/models/r:predict", json={"instances": [1, 2]})
        assert (ok.status_code, ok.json()) == (200, {"predictions": [2, 4]})
        bad = c.post("/v1/models/r:predict", json={"instances": [-1]})
        assert bad.status_code == 400 and "x must be >= 0" in bad.json()["error"]
        crash = c.post("/v1/models/r:predict", json={"instances": [13]})
        assert crash.status_code == 500 and "unlucky" in crash.json()["error"]
        floats = c.post("/v1/models/r:predict", json={"instances": [1.5]})
        assert floats.status_code == 400 and "int64" in floats.json()["error"]
        huge = c.post("/v1/models/r:predict", json={"instances": [2**63]})
        assert huge.status_code == 400 and "int64" in huge.json()["error"]


def test_predictor_breaking_its_contract_is_json_500():
    class NotADict:
        signature = {"inputs": {"x": {"shape": [None], "dtype": "float32"}}}

        def predict(self, inputs):
            return inputs["x"]

    with BackgroundServer(create_app(NotADict(), "n")) as s, httpx.Client(base_url=s.url, timeout=TIMEOUT) as c:
        r = c.post("/v1/models/n:predict", json={"instances": [1.0]})
    assert r.status_code == 500 and "dict" in r.json()["error"]


def test_body_over_limit_by_content_length_is_413(server):
    body = json.dumps({"instances": [[0.5, 0.5, 0.5, 0.5]] * 400}).encode()
    assert len(body) > 4096
    r = server.post("/v1/models/mlp:predict", content=body)
    assert r.status_code == 413
    assert "4096" in r.json()["error"]


def test_body_limit_enforced_while_reading(server):
    """A chunked body is refused once 4096 bytes arrived, before the client has sent the rest."""
    host, port = server.base_url.host, server.base_url.port
    with socket.create_connection((host, port), timeout=20) as sock:
        sock.sendall(
            b"POST /v1/models/mlp:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b'{"instances": [' + b"[0.5, 0.5, 0.5, 0.5], " * 300
        sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))  # no final chunk: the body never ends
        response = b""
        while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            response += data
    head, _, payload = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert "4096" in json.loads(payload)["error"]


# ---- fuzzing -----------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.sampled_from(["x", "y", "instances"]), inner, max_size=3)
    ),
    max_leaves=30,
)
_random_requests = st.fixed_dictionaries(
    {},
    optional={
        "instances": _json_values | st.lists(st.lists(st.floats(-10, 10), min_size=3, max_size=5), max_size=4),
        "inputs": _json_values
        | st.dictionaries(st.just("x"), st.lists(st.lists(st.integers(-5, 5), min_size=4, max_size=4), max_size=3)),
        "signature_name": st.sampled_from(["serving_default", "", "other"]) | _json_values,
        "junk": _json_values,
    },
)
_numbers = (
    st.integers(-(2**64), 2**64)
    | st.floats(width=32, allow_nan=False, allow_infinity=False)
    | st.floats(allow_nan=False)
)
_rows_st = st.lists(st.lists(_numbers, min_size=4, max_size=4), min_size=1, max_size=4)
_valid_shaped = st.one_of(
    st.builds(lambda r: {"instances": r}, _rows_st),
    st.builds(lambda r: {"instances": [{"x": row} for row in r]}, _rows_st),
    st.builds(lambda r: {"inputs": r}, _rows_st),
    st.builds(
        lambda r, sig: {"inputs": {"x": r}, "signature_name": sig}, _rows_st, st.sampled_from(["serving_default", ""])
    ),
)
_requests = _valid_shaped | _random_requests


def _garble(data, text):
    """Valid JSON text with bytes cut, repeated or replaced."""
    raw = bytearray(text.encode())
    for _ in range(data.draw(st.integers(0, 4))):
        if not raw:
            break
        i = data.draw(st.integers(0, len(raw) - 1))
        op = data.draw(st.sampled_from(["cut", "flip", "dup", "insert"]))
        if op == "cut":
            del raw[i:]
        elif op == "flip":
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "dup":
            raw[i:i] = raw[i : i + data.draw(st.integers(1, 8))]
        else:
            raw[i:i] = data.draw(st.sampled_from([b"NaN", b"[", b"}", b'"', b"\\u00", b"1e999", b"\xff", b"-", b","]))
    return bytes(raw)


def _assert_clean(response):
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.text
    payload = response.json()
    if response.status_code == 200:
        assert set(payload) <= {"predictions", "outputs"}
    else:
        assert isinstance(payload["error"], str)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_fuzzed_json_bodies_get_200_or_json_4xx(server, data):
    body = json.dumps(data.draw(_requests))
    _assert_clean(server.post("/v1/models/mlp:predict", content=body.encode()))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_garbled_bodies_get_200_or_json_4xx(server, data):
    base = data.draw(
        st.sampled_from(
            [
                '{"instances": [[1, 2, 3, 4.5], [0, 0, 0, 0]]}',
                '{"inputs": {"x": [[1, 2, 3, 4]]}}',
                '{"inputs": [[1e3, -2, 3, 4]]}',
            ]
        )
    )
    path = data.draw(st.sampled_from(["/v1/models/mlp:predict", "/v1/models/mlp/versions/1:predict"]))
    _assert_clean(server.post(path, content=_garble(data, base)))


# ---- concurrency and batching ------------------------------------------------------------------


def test_concurrent_requests_batched_equal_unbatched():
    """32 concurrent row requests (1-3 rows each) get the same answers with and without batching."""
    plain, batched = MLPPredictor(seed=7), MLPPredictor(seed=7)
    xs = [_rows(1 + i % 3, seed=100 + i) for i in range(32)]

    async def fire(url):
        async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as client:
            rs = await asyncio.gather(
                *(client.post("/v1/models/m:predict", json={"instances": x.tolist()}) for x in xs)
            )
        assert [r.status_code for r in rs] == [200] * 32, [r.text for r in rs if r.status_code != 200]
        return [np.array(r.json()["predictions"], np.float32) for r in rs]

    with BackgroundServer(create_app(plain, "m")) as s:
        unbatched = asyncio.run(fire(s.url))
    with BackgroundServer(create_app(batched, "m", max_batch_size=8, batch_timeout_ms=20)) as s:
        merged = asyncio.run(fire(s.url))
    assert sum(batched.batch_sizes) == sum(x.shape[0] for x in xs) and max(batched.batch_sizes) <= 8
    for x, u, b in zip(xs, unbatched, merged):
        assert u.shape == b.shape == (x.shape[0], 3)
        np.testing.assert_allclose(b, u, **TOL)
        np.testing.assert_allclose(u, plain.oracle(x), **TOL)


def test_batcher_merges_queued_requests_and_splits_results():
    calls = []

    async def run(inputs):
        calls.append(inputs["x"].shape)
        return {"y": inputs["x"] * 2.0, "first": inputs["x"][:, 0]}

    async def main():
        batcher = DynamicBatcher(run, max_batch_size=6, timeout_s=0.2)
        reqs = [{"x": np.full((n, 2), i, np.float32)} for i, n in enumerate([1, 2, 3, 1, 7])]
        reqs.append({"x": np.zeros((1, 5), np.float32)})  # other trailing shape: never merged with (., 2)
        outs = await asyncio.gather(*(batcher.submit(r) for r in reqs))
        await batcher.close()
        return reqs, outs

    reqs, outs = asyncio.run(main())
    for r, o in zip(reqs, outs):
        np.testing.assert_array_equal(o["y"], r["x"] * 2.0)
        np.testing.assert_array_equal(o["first"], r["x"][:, 0])
    # queued together: 1+2+3 fill a batch of 6; the 1-row request then waits its turn; 7 rows run alone
    assert calls == [(6, 2), (1, 2), (7, 2), (1, 5)]


def test_batcher_gives_every_caller_the_model_error_and_close_runs_queued_work():
    async def failing(inputs):
        raise ValueError("bad batch")

    async def main():
        batcher = DynamicBatcher(failing, max_batch_size=3, timeout_s=5.0)
        results = await asyncio.gather(
            *(batcher.submit({"x": np.ones((1, 2))}) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(e, ValueError) and "bad batch" in str(e) for e in results)

        async def drops_batch_dim(inputs):
            return {"y": inputs["x"][:1]}  # one row for a two-row batch

        batcher = DynamicBatcher(drops_batch_dim, max_batch_size=2, timeout_s=5.0)
        results = await asyncio.gather(
            *(batcher.submit({"x": np.ones((1, 2))}) for _ in range(2)), return_exceptions=True
        )
        assert all(isinstance(e, RuntimeError) and "dim 0" in str(e) for e in results)

        done = []

        async def slow(inputs):
            await asyncio.sleep(0.05)
            done.append(inputs["x"].shape[0])
            return {"y": inputs["x"]}

        batcher = DynamicBatcher(slow, max_batch_size=100, timeout_s=60.0)
        pending = [asyncio.ensure_future(batcher.submit({"x": np.ones((2, 2))})) for _ in range(3)]
        await asyncio.sleep(0)  # queued; the batch would wait 60 s to fill
        await batcher.close()
        assert all(p.done() for p in pending) and sum(done) == 6

    asyncio.run(main())


@pytest.mark.parametrize("bad", [dict(max_batch_size=0, timeout_s=1.0), dict(max_batch_size=4, timeout_s=-1.0)])
def test_batcher_rejects_bad_settings(bad):
    with pytest.raises(ValueError):
        DynamicBatcher(lambda x: x, **bad)


# ---- app construction, loading, CLI, shutdown ---------------------------------------------------


@pytest.mark.parametrize(
    "signature, fragment",
    [
        ({"inputs": {}}, "no inputs"),
        ({"inputs": {"x": {"shape": [None, -2], "dtype": "float32"}}}, "shape"),
        ({"inputs": {"x": {"shape": [None], "dtype": "complex64"}}}, "complex64"),
        ("x", "signature"),
    ],
)
def test_bad_signature_is_refused_at_startup(signature, fragment):
    class P:
        def predict(self, inputs):
            return {}

    p = P()
    p.signature = signature
    with pytest.raises(ValueError, match=fragment):
        create_app(p)


def test_load_predictor_for_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        load_predictor_for(tmp_path / "missing.onnx")
    with pytest.raises(FileNotFoundError, match="neither"):
        load_predictor_for(tmp_path / "nothing_here")


def test_cli_help_and_missing_model(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    cmd = [sys.executable, "-m", "ember.serve"]
    helped = subprocess.run(cmd + ["--help"], capture_output=True, text=True, timeout=60, env=env)
    assert helped.returncode == 0 and "--max-batch-size" in helped.stdout
    missing = subprocess.run(cmd + [str(tmp_path / "nope")], capture_output=True, text=True, timeout=60, env=env)
    assert missing.returncode != 0 and "neither a model directory nor an .onnx file" in missing.stderr


_SLOW_SERVER = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from ember.serve import serve

    class Slow:
        signature = {"inputs": {"x": {"shape": [None], "dtype": "float32"}}, "outputs": {}}

        def predict(self, inputs):
            open(sys.argv[2], "w").close()  # tell the test the request is in flight
            time.sleep(1.5)
            return {"y": inputs["x"] + 1}

    serve(Slow(), name="slow", port=int(sys.argv[1]), log_level="warning")
    """
)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url, proc, timeout_s=60):
    """Poll /healthz until the server process answers; returns the deadline for later waits."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=5).status_code == 200:
                return deadline
        except httpx.TransportError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
        time.sleep(0.1)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM semantics")
def test_sigterm_lets_in_flight_request_finish(tmp_path):
    script, marker, port = tmp_path / "slow_server.py", tmp_path / "in_flight", _free_port()
    script.write_text(_SLOW_SERVER)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, str(script), str(port), str(marker)], env=env, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = _wait_healthy(url, proc)
        result = {}

        def request():
            result["r"] = httpx.post(url + "/v1/models/slow:predict", json={"instances": [1.0, 2.0]}, timeout=30)

        t = threading.Thread(target=request)
        t.start()
        while not marker.exists():
            assert t.is_alive() and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        t.join(30)
        assert result["r"].status_code == 200 and result["r"].json() == {"predictions": [2.0, 3.0]}
        # uvicorn re-raises the signal once shut down, so the exit status says "terminated by SIGTERM"
        assert proc.wait(30) in (0, -signal.SIGTERM)
        assert b"Traceback" not in proc.stderr.read()
        with pytest.raises(httpx.TransportError):
            httpx.get(url + "/healthz", timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_onnx_file_served_end_to_end_matches_onnxruntime(tmp_path):
    """ember.onnx.export -> load_predictor_for(path.onnx) -> HTTP, checked against onnxruntime on the same file."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import ember.onnx

    ember.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    path = tmp_path / "mlp.onnx"
    ember.onnx.export(
        model, (ember.randn(2, 4),), path, input_names=["x"], output_names=["y"], dynamic_axes={"x": [0], "y": [0]}
    )
    predictor = load_predictor_for(path)
    x = _rows(5, seed=9)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    # ember.onnx's predictor toggles the process-wide grad mode: one worker thread keeps that safe
    with (
        BackgroundServer(create_app(predictor, "onnx", max_workers=1)) as s,
        httpx.Client(base_url=s.url, timeout=TIMEOUT) as c,
    ):
        meta = c.get("/v1/models/onnx/metadata").json()["metadata"]["signature_def"]["signature_def"]["serving_default"]
        assert meta["inputs"]["x"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}, {"size": "4", "name": ""}]
        assert meta["inputs"]["x"]["dtype"] == "DT_FLOAT"
        rows = c.post("/v1/models/onnx:predict", json={"instances": x.tolist()})
        cols = c.post("/v1/models/onnx:predict", json={"inputs": {"x": x.tolist()}})
    assert rows.status_code == 200 and cols.status_code == 200, (rows.text, cols.text)
    np.testing.assert_allclose(np.array(rows.json()["predictions"], np.float32), want, **TOL)
    np.testing.assert_allclose(np.array(cols.json()["outputs"], np.float32), want, **TOL)


def test_unknown_rank_and_unsendable_output_dtype_are_described():
    class P:
        signature = {
            "inputs": {"x": {"shape": None, "dtype": "float64"}},
            "outputs": {"z": {"shape": [None], "dtype": "complex64"}},
        }

        def predict(self, inputs):
            return {"z": inputs["x"].sum().reshape(1)}

    with BackgroundServer(create_app(P(), "p")) as s, httpx.Client(base_url=s.url, timeout=TIMEOUT) as c:
        sig = c.get("/v1/models/p/metadata").json()["metadata"]["signature_def"]["signature_def"]["serving_default"]
        assert sig["inputs"]["x"]["tensor_shape"] == {"unknown_rank": True}
        assert sig["outputs"]["z"]["dtype"] == "DT_INVALID"
        r = c.post("/v1/models/p:predict", json={"inputs": [[1.5, 2.0], [3.0, 4.0]]})  # any rank accepted
        assert (r.status_code, r.json()) == (200, {"outputs": [10.5]})


def test_exported_model_dir_served_end_to_end_matches_torch(tmp_path):
    """ember.export.save_model -> `python -m ember.serve DIR` in a subprocess -> HTTP, checked against PyTorch."""
    export = pytest.importorskip("ember.export")
    if not hasattr(export, "save_model"):
        pytest.skip("ember.export.save_model not available yet")
    mlp = MLPPredictor(seed=11)
    export.save_model(mlp.module, (ember.randn(2, 4),), tmp_path / "model", input_names=["x"], output_names=["y"])
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    cmd = [sys.executable, "-m", "ember.serve", str(tmp_path / "model"), "--name", "exported", "--port", str(port)]
    proc = subprocess.Popen(cmd + ["--log-level", "warning", "--max-batch-size", "4"], env=env, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc)
        x = _rows(6, seed=12)
        with httpx.Client(base_url=url, timeout=TIMEOUT) as c:
            status = c.get("/v1/models/exported").json()
            sig = c.get("/v1/models/exported/metadata").json()["metadata"]["signature_def"]["signature_def"]
            rows = c.post("/v1/models/exported:predict", json={"instances": x.tolist()})
            cols = c.post("/v1/models/exported/versions/1:predict", json={"inputs": {"x": x[:2].tolist()}})
            bad = c.post("/v1/models/exported:predict", json={"instances": [[1, 2]]})
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"
    dims = sig["serving_default"]["inputs"]["x"]["tensor_shape"]["dim"]
    assert [d["size"] for d in dims] == ["-1", "4"]
    assert rows.status_code == 200 and cols.status_code == 200, (rows.text, cols.text)
    want = mlp.oracle(x)
    np.testing.assert_allclose(np.array(rows.json()["predictions"], np.float32), want, **TOL)
    np.testing.assert_allclose(np.array(cols.json()["outputs"], np.float32), want[:2], **TOL)
    assert bad.status_code == 400 and '"x"' in bad.json()["error"] and "[None, 4]" in bad.json()["error"]
