# jumpnet-ablation: every command a researcher needs. `make help` lists them.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SWEEP ?=
# The offline CIFAR-10 copy beside this checkout, when there is one and no archive was named;
# without either, smoke/ablation download CIFAR-10 through torchvision.
export JUMPNET_DATA_ARCHIVE ?= $(abspath $(wildcard ../shared/datasets/cifar10-jpeg.tar.xz))
NAME  ?= $(notdir $(patsubst %/,%,$(firstword $(SWEEP))))
EXP   ?=
ARGS  ?=

.PHONY: help install lint test smoke jumpnet_cpu ablation ablation_quick budget report bench plan status gpu-check data clean-venv

help: ## list the targets
	@grep -E '^[a-z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

install: $(STAMP) ## make .venv and install the project with its pinned dependencies (idempotent)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

lint: install ## ruff, and the import contract of the package layers (pyproject.toml [tool.importlinter])
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

test: install lint ## lint, then the whole test suite (what CI runs)
	$(PY) -m pytest

smoke: install ## the whole pipeline on a small real-data budget, on CPU; report in reports/smoke/
	$(PY) run.py -m experiment=smoke; status=$$?; \
	$(PY) -m jumpnet.report experiments/smoke --out reports/smoke || status=1; exit $$status

jumpnet_cpu: install ## JumpNet's own ablation on real CIFAR-10 on 2 CPU cores (~6 h, resumable); report in reports/jumpnet_cpu/
	$(PY) run.py -m experiment=jumpnet_cpu; status=$$?; \
	$(PY) -m jumpnet.report experiments/jumpnet_cpu --out reports/jumpnet_cpu || status=1; exit $$status

ablation: install ## the full study (conf/experiment/ablation.yaml, meant for GPUs); report in reports/ablation/
	$(PY) run.py -m experiment=ablation; status=$$?; \
	$(PY) -m jumpnet.report experiments/ablation --out reports/ablation || status=1; exit $$status

ablation_quick: install ## the full grid on a short schedule (~1 GPU-hour, see README); report in reports/ablation_quick/
	$(PY) run.py -m experiment=ablation_quick; status=$$?; \
	$(PY) -m jumpnet.report experiments/ablation_quick --out reports/ablation_quick || status=1; exit $$status

budget: install ## every family at four budgets plus matched arms (conf/experiment/budget.yaml, GPUs); report in reports/budget/
	$(PY) run.py -m experiment=budget; status=$$?; \
	$(PY) -m jumpnet.report experiments/budget --out reports/budget || status=1; exit $$status

report: install ## tables and figures from finished runs: make report SWEEP=experiments/<name> [NAME=...]
	@test -n "$(SWEEP)" || { echo "usage: make report SWEEP=experiments/<name> [NAME=<report name>]"; exit 2; }
	$(PY) -m jumpnet.report $(SWEEP) --out reports/$(NAME)

bench: install ## training throughput per model: fast path vs a plain PyTorch loop
	$(PY) -m jumpnet.bench

plan: install ## a sweep's dry run: arms, status, PFLOP, est. time: make plan EXP=ablation [ARGS="overrides"]
	@test -n "$(EXP)" || { echo "usage: make plan EXP=<experiment> [ARGS=\"more overrides\"]"; exit 2; }
	$(PY) -m jumpnet.plan experiment=$(EXP) $(ARGS)

status: install ## read-only table of a sweep's runs and its arms not started: make status EXP=smoke
	@test -n "$(EXP)" || { echo "usage: make status EXP=<name> (the folder experiments/<name>)"; exit 2; }
	$(PY) -m jumpnet.status experiments/$(EXP)

gpu-check: install ## every GPU figure in one command (<= 8 min): reports/gpu/<gpu>/ (gpucheck.json, README.md)
	$(PY) -m jumpnet.gpucheck $(ARGS)

data: install ## download or decode the dataset once, before a launch: make data [EXP=<preset>] [ARGS="data=cifar100"]
	$(PY) -m jumpnet.data.prepare $(if $(EXP),experiment=$(EXP)) $(ARGS)

clean-venv: ## remove the virtual environment
	rm -rf $(VENV)
