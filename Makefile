# The course's commands. The two a newcomer needs:
#   make lab    set up (first time) and open JupyterLab on the notebooks
#   make test   set up (first time) and run every check: ruff, unit tests, every notebook (nbval)
# Everything installs into ./.venv from the pins in pyproject.toml (`make help` lists the rest).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= cpu
NOTEBOOKS ?= $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# JupyterLab refuses to run as root unless told to (containers, Colab-like machines).
LAB_FLAGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)
# The oldest supported TensorFlow/Keras (the minimums in pyproject.toml), Colab-like: `make oldest`.
# Colab runs Python 3.12; TensorFlow's oldest supported releases have no wheels for 3.13.
OLDEST_PYTHON ?= $(PYTHON)
OLDEST_VENV ?= .venv-oldest
OLDEST_BIN := $(OLDEST_VENV)/bin

# Which Python an interpreter is ("cpython-3.11.7"); empty when it does not run.
python_id = $(shell $(1) -c 'import platform, sys; print(sys.implementation.name + "-" + platform.python_version())' 2>/dev/null)
# Stop before building with a Python the course does not support (requires-python in pyproject).
define check_python
	@command -v $(1) >/dev/null 2>&1 || { echo "make: no Python '$(1)'; run make with PYTHON=/path/to/python3.X (3.10 to 3.13)" >&2; exit 1; }
	@$(1) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v < (3, 14) else "make: $(1) is Python %d.%d; the course supports Python 3.10 to 3.13 (TensorFlow has no wheels for the others). Run make with PYTHON=/path/to/python3.12, for example." % v)'
endef
# Rebuild a virtual environment made by another Python than the one asked for (PYTHON=...).
define rebuild_if_other_python
	@want="$(call python_id,$(1))"; have="$(call python_id,$(2)/bin/python)"; \
	if [ -e $(2) ] && [ "$$have" != "$$want" ]; then \
	  echo "$(2) was made by $${have:-a Python that no longer runs}, not $(1) ($$want): rebuilding it"; \
	  rm -rf $(2); \
	fi
endef
# Force the install rule when the environment's Python is not PYTHON's.
VENV_STALE := $(if $(wildcard $(VENV)),$(if $(filter $(call python_id,$(PYTHON)),$(call python_id,$(BIN)/python)),,stale))

.PHONY: help install lab test lint unit notebooks execute site cpu-variants oldest clean FORCE

help:
	@echo "make lab           set up (first time) and open JupyterLab on notebooks/"
	@echo "make test          set up and run all checks: lint, unit tests, every notebook (smoke)"
	@echo "make install       set up .venv only (pinned versions; PYTHON=python3.X picks the Python)"
	@echo "make lint          ruff on utils, tests, tools, notebooks, benchmarks, site"
	@echo "make unit          unit tests and notebook hygiene only (tests/)"
	@echo "make notebooks     run every notebook under the smoke profile (nbval)"
	@echo "make execute       re-run notebooks in place and store their outputs (PROFILE=cpu, NOTEBOOKS=...)"
	@echo "make site          the course as a website in _site/ from the stored outputs (offline)"
	@echo "make cpu-variants  tests/test_speed.py and notebook 11 with oneDNN off and on"
	@echo "make oldest        the oldest TensorFlow/Keras (pyproject minimums) in $(OLDEST_VENV): replay"
	@echo "                   the Colab setup cell, check it kept TensorFlow/kernel, unit tests, notebooks"
	@echo "make clean         remove $(VENV), $(OLDEST_VENV) and the built site"
	@echo "make help          this list"

FORCE:

$(STAMP): pyproject.toml $(if $(VENV_STALE),FORCE)
	$(call check_python,$(PYTHON))
	$(call rebuild_if_other_python,$(PYTHON),$(VENV))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=notebooks $(LAB_FLAGS)

lint: $(STAMP)
	$(BIN)/ruff check utils tests tools notebooks benchmarks site

# Unit tests and notebook hygiene, then every notebook executed under the smoke profile (nbval).
test: lint
	COURSE_PROFILE=smoke $(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests

notebooks: $(STAMP)
	COURSE_PROFILE=smoke $(BIN)/python -m pytest notebooks

execute: $(STAMP)
	$(BIN)/python tools/execute_notebooks.py --profile $(PROFILE) $(NOTEBOOKS)

# The course as a website: Sphinx + MyST-NB render the stored outputs (nothing is executed) into
# _site/, warnings as errors; open _site/index.html. tests/test_site.py (in `make test`) builds it
# again and checks it in Chromium.
site: $(STAMP)
	$(BIN)/python tools/build_site.py

# What depends on the CPU's TensorFlow build, with oneDNN explicitly off (AMD's default) and on.
cpu-variants: $(STAMP)
	for onednn in 0 1; do \
	  echo "== TF_ENABLE_ONEDNN_OPTS=$$onednn"; \
	  TF_ENABLE_ONEDNN_OPTS=$$onednn COURSE_PROFILE=smoke $(BIN)/python -m pytest \
	    tests/test_speed.py notebooks/11_training_at_speed.ipynb || exit 1; \
	done

# The oldest supported TensorFlow/Keras with a Colab-like kernel, then the Colab setup cell
# replayed against this checkout (it must leave TensorFlow, numpy, ipykernel, jupyter_client,
# tornado and protobuf as they are), then everything under the smoke profile. The site tools are
# not installed there (.[test] only), so tests/test_site.py is left out on purpose: the `make test`
# stage builds and checks the site.
$(OLDEST_VENV)/.installed: pyproject.toml tools/oldest_requirements.py $(STAMP) $(if $(filter $(call python_id,$(OLDEST_PYTHON)),$(call python_id,$(OLDEST_BIN)/python)),,FORCE)
	$(call check_python,$(OLDEST_PYTHON))
	$(call rebuild_if_other_python,$(OLDEST_PYTHON),$(OLDEST_VENV))
	test -x $(OLDEST_BIN)/python || $(OLDEST_PYTHON) -m venv $(OLDEST_VENV)
	echo '*' > $(OLDEST_VENV)/.gitignore
	$(OLDEST_BIN)/python -m pip install --quiet --upgrade pip
	$(OLDEST_BIN)/python -m pip install --quiet $$($(BIN)/python tools/oldest_requirements.py) -e ".[test]"
	touch $@

# The course itself is removed first, so the cell's install is a fresh one, as in Colab.
oldest: $(OLDEST_VENV)/.installed
	$(OLDEST_BIN)/python -m pip uninstall --quiet --yes lstm-course
	$(OLDEST_BIN)/python tools/colab_install_check.py
	COURSE_PROFILE=smoke $(OLDEST_BIN)/python -m pytest tests notebooks --ignore tests/test_site.py

clean:
	rm -rf $(VENV) $(OLDEST_VENV) _site build/site _site_screenshots
