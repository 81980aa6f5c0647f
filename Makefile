# Every target sets up .venv itself, so each works on a fresh clone with only Python and pip.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test test-gpu bench lint format clean venv

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# TF's legacy RNN cells (the oracle for tf.nn.rnn_cell) live in tf-keras, which requires the full
# `tensorflow` package; tensorflow-cpu provides the same modules, so it is installed without deps
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/python -m pip install -q --no-deps tf-keras==2.21.0
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/linear_regression.py
	$(BIN)/python examples/linear_regression_torch_style.py
	$(BIN)/python examples/digits_cnn.py
	$(BIN)/python examples/tf1_linear_regression.py
	$(BIN)/python examples/compile_train_step.py

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

# needs an NVIDIA GPU and CuPy (pip install cupy-cuda12x); not part of `make test`
test-gpu: $(STAMP)
	$(BIN)/python -m pytest tests_gpu -q

# the standard workloads in every framework (shared/BENCHMARKS.md) -> bench/results/latest.{json,md,png}
bench: $(STAMP)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/suite.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache
