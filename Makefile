# Two entry points for newcomers: `make demo` and `make test`.
# Both create .venv (torch's CPU wheel first, so pip never pulls a CUDA build), then run.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup browser demo test test-fast lint typecheck bench experiments clean

$(STAMP): pyproject.toml .ci/setup-env.sh
	PYTHON=$(PYTHON) VENV=$(VENV) sh .ci/setup-env.sh
	touch $(STAMP)

setup: $(STAMP)

# Only the browser tests need Chromium; the demo never installs it.
browser:
	sh .ci/setup-env.sh --browser

demo: $(STAMP)
	$(VENV)/bin/lwnode demo

test: $(STAMP) browser
	$(PY) -m ruff check engine protocol lwnode tests benchmarks
	$(PY) -m mypy engine protocol lwnode
	$(PY) -m pytest -q -n 2 --dist loadfile

# The inner loop: lint and the unit tests that need no data set, no browser and no
# subprocess-heavy node; `make test` (what CI runs) is the whole suite, in two worker
# processes (pytest-xdist), each taking whole test files so that a module's node
# fixtures start once: 316 s against 547 s in one process, quiet 2-core machine (issue
# 17); then (command-line tests in-process, a faster offset fit, fewer fresh interpreters)
# 536 s -> 278 s back to back on the same shared, loaded (load 3-5) 2-core machine.
test-fast: $(STAMP)
	$(PY) -m ruff check engine protocol lwnode tests benchmarks
	$(PY) -m pytest -q -x -m "not slow" tests/unit

lint: $(STAMP)
	$(PY) -m ruff check engine protocol lwnode tests benchmarks

typecheck: $(STAMP)
	$(PY) -m mypy engine protocol lwnode

bench: $(STAMP)
	$(PY) -m benchmarks

experiments: $(STAMP)
	$(PY) -c "import matplotlib" 2>/dev/null || $(PY) -m pip install -q "matplotlib>=3.8"
	$(PY) -m benchmarks.experiments

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
