# The README's two commands: `make demo` (the main job) and `make test`. Both bootstrap .venv.
VENV ?= .venv
PY := $(VENV)/bin/python
# torch/torchvision pins served from this machine's disk (x86_64, Python 3.11); override on other hosts.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=
# 2 pytest-xdist workers: a serial run leaves one of 2 cores idle ~20% of the time (tests/conftest.py)
TEST_WORKERS ?= 2

.PHONY: venv system-deps test demo bench lint ui

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PINS)
	$(PY) -m pip install -q -e '.[pipeline,test,inception]'
	@touch $@

# System packages the tests need (chromium): apt-get as root, else stop at once with the command to run.
system-deps:
	@bash scripts/system_deps.sh

test: system-deps venv
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

demo: venv
	$(VENV)/bin/ganarena sweep configs/demo.yaml

bench: venv
	$(PY) -m bench.run_all

lint: venv
	$(VENV)/bin/ruff check gan_core pipeline tests bench scripts

ui: venv
	$(VENV)/bin/ganarena ui
