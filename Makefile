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

.PHONY: help install test smoke ablation report bench data clean-venv

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP) ## make .venv and install the project with its pinned dependencies (idempotent)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(STAMP)

test: install ## run the whole test suite (what CI runs)
	$(PY) -m pytest

smoke: install ## the whole pipeline on a small real-data budget, on CPU; report in reports/smoke/
	$(PY) run.py -m experiment=smoke; status=$$?; \
	$(PY) -m jumpnet.report experiments/smoke --out reports/smoke || status=1; exit $$status

ablation: install ## the full study (conf/experiment/ablation.yaml, meant for GPUs); report in reports/ablation/
	$(PY) run.py -m experiment=ablation; status=$$?; \
	$(PY) -m jumpnet.report experiments/ablation --out reports/ablation || status=1; exit $$status

report: install ## tables and figures from finished runs: make report SWEEP=experiments/<name> [NAME=...]
	@test -n "$(SWEEP)" || { echo "usage: make report SWEEP=experiments/<name> [NAME=<report name>]"; exit 2; }
	$(PY) -m jumpnet.report $(SWEEP) --out reports/$(NAME)

bench: install ## training throughput per model: fast path vs a plain PyTorch loop
	$(PY) -m jumpnet.bench

data: install ## download or decode the dataset once, before a launch: make data [EXP=<preset>] [ARGS="data=cifar100"]
	$(PY) -m jumpnet.data.prepare $(if $(EXP),experiment=$(EXP)) $(ARGS)

clean-venv: ## remove the virtual environment
	rm -rf $(VENV)
