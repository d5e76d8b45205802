# fleetctl: the two commands in README.md are the first two targets.
#   make demo   the product on a simulated fleet (venv, dependencies and all)
#   make test   lint, type-check and the whole test suite against real components

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-stress test test-stress k8s bench dashboard-picture chaos lint typecheck pytest system-deps clean help

demo: $(STAMP)
	@echo "fleetctl demo: the simulated 'seed' fleet (400 Kata nodes, time x10), a SQLite store and the dashboard."
	@$(BIN)/fleetctl demo

test: $(STAMP) system-deps k8s lint typecheck pytest

# The same suite while a CPU hog (stress-ng --cpu 1, started and stopped here) takes one of the two
# cores: no test may depend on the machine's speed.
test-stress: $(STAMP) system-deps
	@scripts/system-deps.sh stress-ng
	scripts/with-cpu-hog.sh $(MAKE) test

# The guided demo, headless, five times in a row while stress-ng takes one core (DEMO_RUNS=N).
demo-stress: $(STAMP) system-deps
	@scripts/system-deps.sh stress-ng
	scripts/demo-under-load.sh $(or $(DEMO_RUNS),5)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers (pytest-xdist): the suite mostly waits on time-scaled simulators, so two halve it on 2 cores.
# The tier on the real control plane is one xdist group (one worker); the 15 slowest tests are listed.
PYTEST_WORKERS ?= 2

pytest: $(STAMP) system-deps k8s
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=15 $(PYTEST_ARGS)

# The real control plane (kube-apiserver, etcd, kube-controller-manager, kube-scheduler) from the Go
# modules pinned in tools/k8s/go.mod, built once into ~/.cache/fleetctl/k8s-<version>-<key>/
# (FLEETCTL_K8S_ASSETS=DIR uses prebuilt binaries instead). About 6 minutes on 2 cores the first time.
k8s:
	@tools/k8s/build.sh >/dev/null

# Every benchmark script, one after another; writes docs/benchmarks.md (exit 1 when a target is missed).
# docs/images/dashboard.png: the Grafana dashboard's panels, drawn from a real Prometheus (no Grafana here).
dashboard-picture: $(STAMP) system-deps
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]'
	$(BIN)/python scripts/render-dashboard.py

bench: $(STAMP) system-deps
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

# The seed fleet's rollout under SIGKILLs, SIGTERM and failover of serve, 5% API errors, dropped watches,
# a Prometheus outage and long reads; prints the invariants (exit 1 when one breaks). At most 15 minutes.
chaos: $(STAMP) system-deps
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

# Debian packages the tests run for real: Prometheus and PostgreSQL.
system-deps:
	@scripts/system-deps.sh

$(STAMP): pyproject.toml
	@scripts/check-python.sh $(PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

help:
	@echo "make demo | make test | make test-stress | make k8s | make bench | make dashboard-picture | make chaos | make lint | make typecheck | make pytest | make clean"
