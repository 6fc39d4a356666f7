# BioMatrix training bundle. `make demo` and `make test` work on a fresh machine: they create $(VENV)
# and install what they need. CI points VENV at a shared environment so clones reuse one install.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# the dependency declarations only: setup.cfg and pyproject's [build-system] (not its ruff/pytest settings)
DEPS_HASH := $(shell { cat setup.cfg; sed -n '/^\[build-system\]/,/^\[tool/p' pyproject.toml; } | sha256sum | cut -c1-16)
STAMP := $(VENV)/.biomatrix-deps-$(DEPS_HASH)
RECIPE_CPT ?= recipes/cpt_4b.yaml
PYTEST_ARGS ?=

.PHONY: install demo demo-data test test-fast bench cpt sft sft-data recipes-check gpu-check lint vocab doctor clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Full dependency install only when the dependency declarations changed (a hash, not file
# times: a fresh clone is always newer than a shared venv); otherwise just (re)point the editable install
# at this checkout and (re)write the LLaMA-Factory hook.
install: | $(BIN)/python
	@if [ ! -f $(STAMP) ]; then \
	  $(BIN)/pip install -e ".[test]" && $(BIN)/pip install -q --no-deps "molsets==0.3.1" \
	  && rm -f $(VENV)/.biomatrix-deps-* && touch $(STAMP); \
	else echo "dependencies unchanged ($(notdir $(STAMP)))"; fi
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/biomatrix install-hook
	$(BIN)/biomatrix doctor > /dev/null || { $(BIN)/biomatrix doctor; exit 1; }

demo: install
	$(BIN)/python -m biomatrix_plugin.demo

# Writes data_registry/demo/ so the smoke recipes run as-is: llamafactory-cli train recipes/smoke/cpt.yaml
demo-data: install
	$(BIN)/python -c "from biomatrix_plugin.demo.data import build_demo_data as b; print(b('data_registry/demo').written)"

test: install
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

bench: install
	@for b in benchmarks/bench_*.py; do echo "### $$b"; $(BIN)/python $$b || exit 1; done

# LLaMA-Factory's launcher runs `torchrun` from PATH: the environment's bin goes first so the workers run
# the interpreter that has the plugin hook. `biomatrix preflight` stops a machine without GPUs, kernels or
# built data before the launch (exit 2, pointing at recipes/smoke/).
cpt sft: export PATH := $(abspath $(BIN)):$(PATH)

cpt: install
	$(BIN)/biomatrix preflight $(RECIPE_CPT)
	FORCE_TORCHRUN=1 $(BIN)/llamafactory-cli train $(RECIPE_CPT)

# SFT: the merged model, a Table 30 variant, the data they train on
SIZE ?= 4b
VARIANT ?=
# `make sft` = the merged model; `make sft VARIANT=vmix_mol1d` = a Table 30 variant (recipes/sft/variants/)
RECIPE_SFT ?= $(if $(VARIANT),recipes/sft/variants/$(VARIANT)_$(SIZE).yaml,recipes/sft_$(SIZE).yaml)
SFT_DATA ?= data_registry/sft
WORKERS ?= 8

sft: install
	@test -f $(RECIPE_SFT) || { echo "error: $(RECIPE_SFT) does not exist (VARIANT: one of $$(ls recipes/sft/variants | sed 's/_[0-9.]*b\.yaml$$//' | sort -u | tr '\n' ' '))" >&2; exit 2; }
	$(BIN)/biomatrix preflight $(RECIPE_SFT)
	FORCE_TORCHRUN=1 $(BIN)/llamafactory-cli train $(RECIPE_SFT)

# every task's train/test data from the raw downloads (RAW: each source unpacked as published under it)
sft-data: install
	@test -n "$(RAW)" || { echo "error: make sft-data RAW=/path/to/raw (each source unpacked as published under it)" >&2; exit 2; }
	$(BIN)/biomatrix tasks build all --raw $(RAW) --out $(SFT_DATA) --workers $(WORKERS)

# the generated recipes are current (part of `make lint` or CI)
recipes-check: install
	$(BIN)/biomatrix tasks recipes --check

# one GPU: smoke CPT/SFT with fa2, Liger, ZeRO-2, bf16 and eval run with vLLM (< 10 min); exit 2 without a GPU
gpu-check: export PATH := $(abspath $(BIN)):$(PATH)
gpu-check: install
	$(BIN)/python scripts/gpu_check.py

lint: install
	$(BIN)/ruff check biomatrix_plugin biomatrix_plugin_hook.py tests benchmarks scripts

# Rebuild the committed demo vocabulary (tokenizer_ext/) from RDKit's bundled NCI molecules: SELFIES
# symbols from all 5K SMILES plus the stereo-bearing EGFR/CDK2 ligands, joint 3D tokens (99% coverage) from
# the first 1,000 NCI molecules embedded with ETKDG.
vocab: install
	mkdir -p runs/vocab
	head -1000 "$$($(BIN)/python -c 'from biomatrix_plugin.demo.data import nci_smiles_path as p; print(p())')" > runs/vocab/nci1k.smi
	$(BIN)/biomatrix mol3d encode --in runs/vocab/nci1k.smi --embed --seed 42 --workers 2 --out runs/vocab/nci1k_3d.jsonl
	$(BIN)/python -c 'from biomatrix_plugin.demo.data import write_bundled_ligand_smiles as w; print(w("runs/vocab/ligands.smi"))'
	$(BIN)/biomatrix vocab build --out tokenizer_ext --corpus \
	  "$$($(BIN)/python -c 'from biomatrix_plugin.demo.data import nci_smiles_path as p; print(p())')" \
	  runs/vocab/ligands.smi runs/vocab/nci1k_3d.jsonl

doctor: install
	$(BIN)/biomatrix doctor

clean:
	rm -rf runs data_registry/demo .pytest_cache
