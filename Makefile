# Two commands do all the set-up on a fresh machine:
#   make demo   install, then `atelier up` (embedded Triton + Milvus Lite + dashboard, tiny profile)
#   make test   install (Python packages and Debian's chromium), then lint and the whole test suite
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: install browser demo test lint unit bench clean

install: $(VENV)/.installed

# PYTHONWARNINGS=ignore on the editable install: setuptools warns every one about folders named like the package.
$(VENV)/.installed: requirements.lock pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-cache-dir -r requirements.lock
	PYTHONWARNINGS=ignore $(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# Debian's chromium for the browser tests (Playwright drives it; it downloads no browser of its own).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

demo: install
	$(BIN)/atelier up --port $(PORT)

lint: install
	$(BIN)/ruff check .

unit: install
	$(BIN)/python -m pytest -q tests/unit

test: install browser lint
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15

bench: install
	$(BIN)/atelier bench clip
	$(BIN)/atelier bench search

clean:
	rm -rf $(VENV) .atelier
