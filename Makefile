# Two entry points: `make demo` runs the whole pipeline on embedded defaults; `make test` runs the
# tests. Both create or update .venv first. Prerequisites: Python 3.11 and Java 17 (or newer).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck protos bench prerequisites clean

prerequisites:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (e.g. apt-get install python3.11 python3.11-venv)"; exit 1; }
	@java -version 2>&1 | grep -Eq 'version "(1[7-9]|2[0-9])' || { echo "error: Java 17 is required by Spark; install it with: sudo apt-get install -y openjdk-17-jre-headless"; exit 1; }

$(STAMP): pyproject.toml constraints.txt
	@$(MAKE) --no-print-directory prerequisites
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP) prerequisites
	$(BIN)/signals --data-dir $(DEMO_DIR) demo --fresh

test: $(STAMP) prerequisites
	$(BIN)/ruff check .
	$(BIN)/mypy content_signals jobs expectations feature_repo serving bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy content_signals jobs expectations feature_repo serving bench

protos: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

# Each benchmark measures ours and its baseline in the same run and writes bench/results/NAME.json.
bench: $(STAMP)
	$(BIN)/python -m bench.bench_jobs
	$(BIN)/python -m bench.bench_materialize
	$(BIN)/python -m bench.bench_training_sets

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
