# log-aggregator — the two commands are `make dev` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACKS := dev staging prod
STACK ?=

.PHONY: help venv sysdeps dev test lint services-up services-down render render-diff validate policy policy-venv bench bench-quick bench-backup drills clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# ---- environment ----------------------------------------------------------
$(VENV)/.installed: requirements.txt service/requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

venv: $(VENV)/.installed ## create .venv with every Python dependency

sysdeps: ## install system packages the local PostgreSQL/Kafka need (Debian; no-op when present)
	$(PY) -m tests.localsvc sysdeps

# ---- local services (real PostgreSQL + Apache Kafka, no Docker) -----------
services-up: venv sysdeps ## start local PostgreSQL + Kafka (idempotent), print their env
	$(PY) -m tests.localsvc up

services-down: venv ## stop local PostgreSQL + Kafka
	$(PY) -m tests.localsvc down

# ---- the two commands ------------------------------------------------------
dev: venv sysdeps ## run the service locally: provision PG + Kafka, migrate, API on 127.0.0.1:8080 + consumer
	$(PY) -m tests.localsvc dev

test: venv sysdeps lint policy-venv promtool ## the whole suite (provisions PostgreSQL + Kafka itself)
	$(PY) -m pytest -q

# mypy covers the service package; on infra/ it takes ~8 min and 5 GiB (pulumi-kubernetes' typed
# overloads) and still reports overload mismatches, so it is run by hand there (see README).
lint: venv ## ruff + import contracts + mypy (service)
	$(VENV)/bin/ruff check service infra tests policy bench
	PYTHONPATH=service:. $(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy --ignore-missing-imports service/logagg

# ---- infra: offline render of the Pulumi program (no cluster, no Pulumi CLI) --
render: venv ## render every stack (or STACK=<name>) to build/manifests/<stack>/ and examples/* to build/examples/<name>/
	$(PY) -m tests.infra.render $(if $(STACK),--stack $(STACK))

render-diff: venv ## per-object diff of the renders between BASE=<git-rev> and the working tree
	@test -n "$(BASE)" || { echo "usage: make render-diff BASE=<git-rev> [STACK=<name>]" >&2; exit 2; }
	$(PY) -m tests.infra.render_diff --base $(BASE) $(if $(STACK),--stack $(STACK))

validate: venv ## render all stacks and validate them strictly (k8s 1.30 + newest, CRDs)
	$(PY) -m pytest -q tests/infra/test_render.py

# ---- security gate: checkov over the rendered stacks (own venv: checkov pins clash with ours) --
POLICY_VENV := .venv-policy

$(POLICY_VENV)/.installed: requirements-policy.txt
	test -x $(POLICY_VENV)/bin/python || $(PYTHON) -m venv $(POLICY_VENV)
	$(POLICY_VENV)/bin/python -m pip install -q --upgrade pip
	$(POLICY_VENV)/bin/python -m pip install -q -r requirements-policy.txt
	touch $@

policy-venv: $(POLICY_VENV)/.installed ## create .venv-policy with checkov

policy: venv policy-venv render ## render every stack + example, run checkov on it: 0 failed checks, ≤ 3 skipped ids
	$(PY) -m tests.policy.checkov_gate $(addprefix build/manifests/,$(STACKS)) $(if $(STACK),,$(wildcard build/examples/*))

# ---- monitoring: promtool, built from source with Go, cached per user (shared by clean clones) --
# v0.316.0 is the Go module version of Prometheus 3.16.0 (the module is tagged v0.3xx for v3.xx).
# The bundled server is the 3.5 LTS image (infra/images.py); promtool 3.5 itself cannot be
# `go install`ed (its go.mod has replace directives), and the rules use nothing newer than 3.5.
PROMTOOL_VERSION := v0.316.0
PROMTOOL := $(HOME)/.cache/logagg/promtool-$(PROMTOOL_VERSION)/promtool
.PHONY: promtool promtool-test

$(PROMTOOL):
	@command -v go >/dev/null || { echo "promtool: Go (1.25+) is needed to build it" >&2; exit 1; }
	GOBIN=$(dir $(PROMTOOL)) CGO_ENABLED=0 go install -trimpath \
		github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

promtool: $(PROMTOOL) ## build promtool into ~/.cache/logagg/ (first time ~10 min) and print its path
	@echo $(PROMTOOL)

promtool-test: promtool ## check the alert rules and run their unit tests with promtool
	$(PROMTOOL) check rules infra/monitoring/alerts.yaml
	$(PROMTOOL) test rules infra/monitoring/alerts_test.yaml

# ---- benchmarks and reliability drills (bench/, tests/drills/) -------------
bench-quick: venv sysdeps ## benchmarks: 1 M-row data set (cached after the first run), table + bench/results/latest.json
	PYTHONPATH=service:. $(PY) -m bench --quick

bench: venv sysdeps ## full benchmarks: 10 M rows, longer runs, 5-minute soaks at 80 % of the accept and of the end-to-end rate
	PYTHONPATH=service:. $(PY) -m bench --full

bench-backup: venv sysdeps ## backup/verify/restore times and sizes for 100 k records (bench/results/backup_100000.json)
	PYTHONPATH=service:. $(PY) -m bench.backup_100k

drills: venv sysdeps ## reliability drills with the full budget + schemathesis (≥ 1000 cases)
	DRILLS_BUDGET=full $(PY) -m pytest -q -p no:cacheprovider tests/drills

clean: ## remove generated output
	rm -rf build
