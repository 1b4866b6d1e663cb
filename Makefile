# The course's commands. The two a newcomer needs:
#   make lab    set up (first time) and open JupyterLab on the notebooks
#   make test   set up (first time) and run every check: ruff, unit tests, every notebook (nbval)
# Everything installs into ./.venv from the pins in pyproject.toml.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= cpu
NOTEBOOKS ?= $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# JupyterLab refuses to run as root unless told to (containers, Colab-like machines).
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help install lab test lint unit notebooks execute clean

help:
	@echo "make lab      set up and open JupyterLab on notebooks/"
	@echo "make test     set up and run all checks (ruff, unit tests, notebooks under the smoke profile)"
	@echo "make execute  re-run notebooks in place and store their outputs (PROFILE=cpu, NOTEBOOKS=...)"
	@echo "make clean    remove the virtual environment"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "The course needs Python 3.10 or newer; run make with PYTHON=/path/to/python3.x")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks $(LAB_FLAGS)

lint: $(STAMP)
	$(BIN)/ruff check utils tests tools notebooks benchmarks

# Unit tests and notebook hygiene, then every notebook executed under the smoke profile (nbval).
test: lint
	COURSE_PROFILE=smoke $(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests

notebooks: $(STAMP)
	COURSE_PROFILE=smoke $(BIN)/python -m pytest notebooks

execute: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py --profile $(PROFILE) $(NOTEBOOKS)

clean:
	rm -rf $(VENV)
