# reid-lightning: every target installs what it needs into .venv on first use and reuses it after.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Extras installed for development: tests, part-map generator, sweeps, SLURM launcher and the wandb/MLflow loggers.
EXTRAS ?= dev,parts,sweeps,slurm,loggers

.DEFAULT_GOAL := help

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the suite with its dev extras

train: $(STAMP) ## Train on the synthetic default (generated on first use) and evaluate; ARGS="..." for overrides
	$(PY) train.py $(ARGS)

eval: $(STAMP) ## Evaluate a checkpoint: make eval ARGS="ckpt_path=..."
	$(PY) eval.py $(ARGS)

test: $(STAMP) ## Run the whole test suite (slow end-to-end tests included)
	$(PY) -m pytest -q $(ARGS)

test-fast: $(STAMP) ## Run the tests without the slow end-to-end ones
	$(PY) -m pytest -q -m "not slow" $(ARGS)

lint: $(STAMP) ## Lint and check the formatting with ruff (`make format` applies it)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## Format the code with ruff
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

tensorboard: $(STAMP) ## Open TensorBoard on the logs folder (http://localhost:6006)
	$(VENV)/bin/tensorboard --logdir logs --bind_all

results: $(STAMP) ## Tabulate a multirun folder: make results DIR=logs/sweeps/quick_synthetic
	$(PY) -m reid_lightning.reporting $(DIR)

bench: $(STAMP) ## Run the benchmarks in bench/ (about 40 minutes; the partition study is most of it)
	for f in bench/*.py; do echo "== $$f"; $(PY) $$f; done

clean: ## Remove logs, run outputs and caches (keeps .venv and data/, where real datasets may live)
	rm -rf logs outputs multirun .pytest_cache .ruff_cache

clean-generated: ## Remove what the suite generated under data/: the synthetic sets and the decode cache
	rm -rf data/synthetic data/synthetic_b data/synthetic_tiny data/decode_cache

.PHONY: help install train eval test test-fast lint format tensorboard results bench clean clean-generated
