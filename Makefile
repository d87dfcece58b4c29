# oscar-batch: `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# the model benchmark's own environment (torch, ultralytics): `make test` never needs it
BENCH_VENV  := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
FUSE   := /usr/bin/fusermount3
# the run's page is tested in a real browser, Debian's headless Chromium
CHROMIUM := /usr/bin/chromium-headless-shell

.PHONY: help setup test demo workflows check-workflows docs check-docs lint bench bench-model clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

$(FUSE):
	@# rclone mount needs fusermount3; install it where we may (root with apt), else tests say why they skip
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get install -y -qq fuse3 >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq fuse3 >/dev/null)) \
	  || echo "warning: could not install fuse3; FUSE tests will skip"; \
	else echo "warning: fusermount3 missing (apt-get install fuse3); FUSE tests will skip"; fi

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get install -y -qq chromium-headless-shell >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium-headless-shell >/dev/null)) \
	  || echo "warning: could not install chromium-headless-shell; browser tests will skip"; \
	else echo "warning: chromium-headless-shell missing (apt-get install chromium-headless-shell); browser tests will skip"; fi

setup: $(STAMP) $(FUSE) $(CHROMIUM) ## create .venv and install the package with its dev tools (idempotent)

test: setup ## run the test suite
	$(BIN)/pytest -q

demo: setup ## write the example's workflow, then execute that very YAML locally (embedded S3, FUSE, pods)
	$(BIN)/python examples/image-stats/make_images.py demo-data 300
	$(BIN)/oscar-batch generate examples/image-stats/batch.yaml --out-dir demo-data/workflow
	$(BIN)/oscar-batch run demo-data/workflow/image-stats.yaml --local --data-dir demo-data
	$(BIN)/oscar-batch report examples/image-stats/batch.yaml --data-dir demo-data
	@echo "the workflow that ran: demo-data/workflow/image-stats.yaml"
	@echo "next: source .venv/bin/activate, then run it again (it resumes: only failures retry),"
	@echo "  oscar-batch runs examples/image-stats/batch.yaml --data-dir demo-data, or your own"
	@echo "  files: README.md, 'Quick start with your own data'"

workflows: setup ## regenerate the committed workflows/ from examples/
	$(BIN)/python -m generator.build.golden workflows

check-workflows: workflows ## fail when workflows/ is stale
	git diff --exit-code workflows/

docs: setup ## regenerate docs/cli.md from every command's --help
	$(BIN)/python -m generator.cli.reference docs/cli.md

check-docs: docs ## fail when docs/cli.md is stale
	git diff --exit-code docs/cli.md

lint: setup ## ruff check, ruff format --check, mypy --strict
	$(BIN)/ruff check generator tests bench
	$(BIN)/ruff format --check generator tests bench
	$(BIN)/mypy

$(BENCH_STAMP): bench/model/requirements.txt
	rm -rf $(BENCH_VENV)
	$(PYTHON) -m venv $(BENCH_VENV)
	@# torch alone first: an exact pin takes this machine's CPU build; in one resolve with
	@# ultralytics pip may pick PyPI's CUDA build (several GB)
	$(BENCH_VENV)/bin/pip install -q torch==2.13.0
	$(BENCH_VENV)/bin/pip install -q -r bench/model/requirements.txt
	@touch $@

bench: setup ## run the benchmarks and print their figures (the model one needs .venv-bench: made here, skipped if it cannot be)
	@$(MAKE) --no-print-directory $(BENCH_STAMP) || echo "warning: could not create $(BENCH_VENV); the model benchmark will say it skipped"
	$(BIN)/python bench/run_all.py

bench-model: setup $(BENCH_STAMP) ## only the model benchmark: YOLOv8n, worker.invoke file vs batch vs a warm loop
	$(BIN)/python bench/bench_model.py

clean: ## remove the venv and demo data
	rm -rf $(VENV) $(BENCH_VENV) demo-data /tmp/oscar-batch-bench-planner /tmp/oscar-batch-bench-model
