# TinyRL: `make run` sets up and runs the main job; `make test` sets up and passes the tests.
# Set-up is idempotent: it only redoes what changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm \
                gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(VENV)/.setup-stamp

.PHONY: setup apt venv run test lint format c-check pytest bench notebook clean

setup: apt $(STAMP)

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# The stamp depends on pyproject.toml, so a changed dependency list re-runs pip.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: the CPU build; letting pip resolve a bare torch would pull CUDA.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

run: setup
	$(PY) scripts/train.py --env obstacle-course

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) scripts/check_layers.py
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Every C file must compile warning-free on the host.
c-check: apt
	$(MAKE) -C firmware check

pytest: setup
	$(PY) -m pytest -q

test: lint c-check pytest

bench: setup
	$(PY) scripts/bench_sim.py

# JupyterLab on notebooks/ (the `notebook` extra, installed on first use).
notebook: setup
	$(PY) -c "import jupyterlab" 2>/dev/null || $(PIP) install -q -e '.[dev,notebook]'
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) build *.egg-info firmware/build
