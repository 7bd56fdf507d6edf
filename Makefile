# The two commands a newcomer runs: `make demo` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV ?= .venv
# A CPU wheel lies on disk on our CI machine; users with CUDA can pass TORCH_SPEC=torch.
TORCH_SPEC ?= torch==2.13.0
# Test-only: tests/test_echonet_weights.py compares echonet_deeplabv3 with torchvision's DeepLabV3 (echoseg
# itself never imports torchvision). The release matching TORCH_SPEC; set it empty to skip that comparison.
TORCHVISION_SPEC ?= torchvision==0.28.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.echoseg-installed

.PHONY: install demo test test-slow lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)" $(TORCHVISION_SPEC)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/echoseg demo --out runs/demo

lint: install
	$(PY) -m ruff check src tests $(wildcard benchmarks)

test: install lint
	$(PY) -m pytest -q

test-slow: install
	$(PY) -m pytest -q -m slow

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info
