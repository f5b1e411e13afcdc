# Quick start: `make run` (the whole system on its embedded defaults) and `make test`.
# Both install what they need: uv (from PyPI, if missing) and the locked dependencies.

SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
RUN := $(UV) run --frozen

.PHONY: install run test lint format bench migrate

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	$(UV) sync --frozen

run: install
	$(RUN) flask --app wsgi db upgrade
	$(RUN) flask --app wsgi catalogue seed
	$(RUN) honcho start -p $${PORT:-8000} web worker beat

test: install
	$(RUN) pytest

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

migrate: install
	$(RUN) flask --app wsgi db upgrade
	$(RUN) flask --app wsgi catalogue seed

bench: install
	$(RUN) python bench/run.py
