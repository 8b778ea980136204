# dtrain-jupyter: the two front doors (`make run`, `make test`) and a few helpers.
# Every target sets itself up first (scripts/setup.sh is idempotent and quick when done).

SHELL := /bin/bash
PY := .venv/bin/python
ARTIFACTS := test-artifacts
# What `make test` runs, e.g. `make test TESTS=tests/packaging PYTEST_ARGS=-x`.
TESTS ?= tests
PYTEST_ARGS ?=

.PHONY: help setup run test bench clean

help:
	@echo "make run    set up, then start JupyterLab with the extension (local backend); prints the URL"
	@echo "make test   set up (incl. Chromium), then run the whole test suite"
	@echo "make bench  set up, then run every benchmarks/*_bench.py"
	@echo "make setup  only set up (venv, package, labextension build); quick when nothing changed"
	@echo "make clean  remove build outputs and test artifacts (keeps .venv)"

setup:
	@bash scripts/setup.sh

run: setup
	@bash scripts/run-lab.sh

# pytest's own exit status is written to $(ARTIFACTS)/pytest-exit-code, because make turns
# every failing recipe into status 2; .ci/run reads it to tell "no test ran" (5) apart.
test:
	@bash scripts/setup.sh --browser
	@mkdir -p $(ARTIFACTS)
	@rm -f $(ARTIFACTS)/pytest-exit-code
	@set +e; $(PY) -m pytest $(TESTS) -p no:randomly -p no:cacheprovider $(PYTEST_ARGS); \
		rc=$$?; echo $$rc > $(ARTIFACTS)/pytest-exit-code; exit $$rc

bench: setup
	@shopt -s nullglob; scripts=(benchmarks/*_bench.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "no benchmarks/*_bench.py yet"; exit 0; fi; \
	failed=0; for f in "$${scripts[@]}"; do \
		echo "== $$f"; $(PY) "$$f" || { echo "!! $$f failed"; failed=1; }; \
	done; exit $$failed

clean:
	rm -rf dtrain_jupyter/labextension labextension/lib labextension/tsconfig.tsbuildinfo $(ARTIFACTS) build dist
