# Keel: `make demo` runs the bundled example's lifecycle (score, train, canary, serve, drill,
# monitor, score again), `make demo-monitor` 30 simulated days of monitored traffic with planted
# drift and skew, `make demo-digits` and `make demo-diamonds` score the examples on real data
# (a 10-class classifier, a regression), `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: demo demo-monitor demo-digits demo-diamonds test lint format bench bench-log bench-serve clean install bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml setup.py src/keel/log/_scan.c | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

EXAMPLES_STAMP := $(VENV)/.installed-examples

$(EXAMPLES_STAMP): pyproject.toml setup.py src/keel/log/_scan.c | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[examples]'
	touch $(STAMP) $@

$(DEV_STAMP): pyproject.toml setup.py src/keel/log/_scan.c | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP) $@

install: $(STAMP)

# Keel's own modules compiled to bytecode, as pip compiles an installed package: an editable
# install is compiled on first import, unless PYTHONDONTWRITEBYTECODE is set (as on some CI
# machines), and then every `keel` command would compile its source again (about 0.3 s).
bytecode: | $(STAMP)
	$(BIN)/python -m compileall -q src/keel > /dev/null

examples/credit/data/train.parquet: examples/credit/generate.py | $(STAMP)
	$(BIN)/python examples/credit/generate.py --out examples/credit/data

demo: $(STAMP) examples/credit/data/train.parquet bytecode
	$(BIN)/python examples/credit/lifecycle.py
	$(BIN)/python examples/credit/team_view.py

demo-monitor: $(STAMP) examples/credit/data/train.parquet bytecode
	$(BIN)/python examples/credit/monitor_demo.py

examples/digits/data/train.parquet: examples/digits/prepare.py | $(STAMP)
	$(BIN)/python examples/digits/prepare.py --out examples/digits/data

demo-digits: $(STAMP) examples/digits/data/train.parquet
	$(BIN)/keel score examples/digits

examples/diamonds/data/train.parquet: examples/diamonds/prepare.py | $(EXAMPLES_STAMP)
	$(BIN)/python examples/diamonds/prepare.py --out examples/diamonds/data

demo-diamonds: $(EXAMPLES_STAMP) examples/diamonds/data/train.parquet
	$(BIN)/keel score examples/diamonds

# Three test processes on two cores: many tests wait on servers, sleeps and subprocesses; a
# test file stays in one process (its module fixtures are built once).
test: $(DEV_STAMP) bytecode
	$(BIN)/python -m pytest -n 3 --dist loadfile

LINTED := $(wildcard src tests examples benchmarks)

lint: $(DEV_STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

format: $(DEV_STAMP)
	$(BIN)/ruff format $(LINTED)
	$(BIN)/ruff check --fix $(LINTED)

bench: $(DEV_STAMP) bytecode
	$(BIN)/python benchmarks/profile.py
	$(BIN)/python benchmarks/score.py
	$(BIN)/python benchmarks/wide.py
	$(BIN)/python benchmarks/serve.py
	$(BIN)/python benchmarks/drift.py
	$(BIN)/python benchmarks/spark.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/log.py

# The prediction log at scale: 10M served rows over 30 days against 1M over 3 (about 15 min).
bench-log: $(DEV_STAMP) bytecode
	$(BIN)/python benchmarks/log.py

# Serving speed (issue 21): keel serve and MLflow, trivial and example models, with wrk (~5 min).
bench-serve: $(DEV_STAMP) bytecode
	$(BIN)/python benchmarks/serve.py

clean:
	rm -rf $(VENV) examples/*/data examples/*/.keel examples/*/.keel-demo-monitor
