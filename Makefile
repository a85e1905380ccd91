# Two entry points: `make demo` runs the whole pipeline on embedded defaults; `make test` runs the
# tests. Both create or update .venv first. Prerequisites: Python 3.11, Java 17 (or newer), and
# Node.js with npm for `make test` (it installs the pinned buf CLI to lint the gRPC API).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= runs/demo
PYTEST_ARGS ?=
# The buf CLI (gRPC API lint and breaking-change check) comes pinned from npm: package-lock.json.
NPM_STAMP := node_modules/.installed
BUF := node_modules/.bin/buf
# The released gRPC API that `buf breaking` compares against (see protos/released/README.md).
RELEASED_API := protos/released/content_signals_v1.binpb

.PHONY: demo test lint typecheck layers protos proto-lint proto-release bench prerequisites clean

prerequisites:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (e.g. apt-get install python3.11 python3.11-venv)"; exit 1; }
	@java -version 2>&1 | grep -Eq 'version "(1[7-9]|2[0-9])' || { echo "error: Java 17 is required by Spark; install it with: sudo apt-get install -y openjdk-17-jre-headless"; exit 1; }

# The client distribution (clients/python: the typed client and the generated gRPC code) first: the
# platform imports it, and it is not on any index (a path dependency in pyproject.toml is not portable).
$(STAMP): pyproject.toml clients/python/pyproject.toml constraints.txt
	@$(MAKE) --no-print-directory prerequisites
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e clients/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP) prerequisites
	$(BIN)/signals --data-dir $(DEMO_DIR) demo --fresh

test: $(STAMP) prerequisites proto-lint
	$(BIN)/ruff check .
	$(BIN)/mypy content_signals bench
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The stage folders (jobs/, serving/, ...) are checked through their links inside content_signals/.
typecheck: $(STAMP)
	$(BIN)/mypy content_signals bench

# The layer contract of docs/architecture.md.
layers: $(STAMP)
	$(BIN)/lint-imports

protos: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found; install Node.js 18 or newer (e.g. apt-get install nodejs npm)"; exit 1; }
	npm ci --no-audit --no-fund
	@touch $(NPM_STAMP)

# buf lint (STANDARD rules, buf.yaml) and no breaking change against the released API.
proto-lint: $(NPM_STAMP)
	$(BUF) lint
	$(BUF) breaking --against $(RELEASED_API)

# Only when a new API version is released on purpose: the current protos become the baseline.
proto-release: $(NPM_STAMP)
	$(BUF) lint
	$(BUF) build --exclude-source-info -o $(RELEASED_API)

# Each benchmark measures ours and its baseline in the same run and writes bench/results/NAME.json.
bench: $(STAMP)
	$(BIN)/python -m bench.bench_jobs
	$(BIN)/python -m bench.bench_materialize
	$(BIN)/python -m bench.bench_training_sets
	$(BIN)/python -m bench.bench_serving
	$(BIN)/python -m bench.bench_embedding
	$(BIN)/python -m bench.bench_similarity
	$(BIN)/python -m bench.bench_text_scoring

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
