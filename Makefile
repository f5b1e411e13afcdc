# Quick start: `make run` (the whole system on its embedded defaults) and `make test`.
# The machine needs only Python >= 3.11 with venv (Debian/Ubuntu: python3-venv). uv comes from
# PATH if present, else it is installed into a project-local tools venv (.tools/), never into
# the system Python (PEP 668); uv then installs the locked dependencies into .venv/.

SHELL := /bin/bash
PYTHON ?= python3
export UV_PYTHON_DOWNLOADS := never
# Trust the machine's certificate store (a proxy with its own CA, as on many company networks).
export UV_SYSTEM_CERTS := true
TOOLS := .tools
UV := $(or $(shell command -v uv 2>/dev/null),$(TOOLS)/bin/uv)
RUN := $(UV) run --frozen --no-sync

.PHONY: install run test lint format bench migrate audit faults

$(TOOLS)/bin/uv:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
		echo "make: Python 3.11 or newer is needed as '$(PYTHON)' (found: $$($(PYTHON) --version 2>&1))." >&2; \
		exit 1; }
	@rm -rf $(TOOLS)
	@$(PYTHON) -m venv $(TOOLS) >/dev/null 2>&1 || { rm -rf $(TOOLS); \
		echo "make: '$(PYTHON) -m venv' failed; on Debian or Ubuntu install python3-venv (apt install python3-venv)." >&2; \
		exit 1; }
	@echo "make: installing uv into $(TOOLS)/ (a project-local venv; the system Python is untouched)"
	@$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check 'uv>=0.13,<1'

install: $(UV)
	$(UV) sync --frozen --python $(PYTHON)

run: install
	$(RUN) python scripts/run_system.py

# Tests run in TEST_WORKERS parallel processes (pytest-xdist), each with its own Redis server
# and PostgreSQL database; most of a test's time is spent waiting on workers and servers, so
# more processes than cores pay off. TEST_WORKERS=0 runs them in this one process.
TEST_WORKERS ?= 3
test: install
	$(RUN) pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

migrate: install
	$(RUN) flask --app wsgi db upgrade
	$(RUN) flask --app wsgi catalogue seed

bench: install
	$(RUN) python bench/run.py $(BENCH_ARGS)

# Known vulnerabilities in the locked dependencies (fails on one with a fix; AUDIT_REQUIRED=true
# also fails when the vulnerability service cannot be reached).
audit: install
	$(RUN) python scripts/audit_deps.py --uv $(UV)

# The whole fault suite (tests/faults, the slow scenarios included, each bounded by its
# timeout), then the table of what it held (README, "When a worker dies").
faults: install
	rm -rf var/faults
	$(RUN) pytest -p no:cacheprovider -m "slow or not slow" --timeout 300 tests/faults; \
		status=$$?; $(RUN) python scripts/faults_table.py; exit $$status
