# pyinit: everything runs from a virtualenv in .venv (created by `make install`).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test test-pythons lint example compat zipapp docker-test podman-test bench bench-quick bench-profile bench-relay clean

STAMP := $(VENV)/.installed

# pyinit itself needs nothing but the standard library; the extras are for tests and linting.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(STAMP)

test: install
	$(PY) -m pytest

# The same suite under every Python pyinit supports (3.9, 3.11, 3.13, 3.14, 3.15 where Debian has
# it), each in a Debian root made with debootstrap and cached in
# $${PYINIT_PYTHONS_DIR:-/tmp/pyinit-pythons}; needs root.  One summary line per interpreter.
test-pythons: install
	tools/pythons.sh test

lint: install
	$(VENV)/bin/ruff check pyinit tests tools examples bench
	$(VENV)/bin/ruff format --check pyinit tests tools examples bench

# pyinit as one file, dist/pyinit.pyz (stdlib zipapp, `#!/usr/bin/env python3`, with bytecode
# for this $(PYTHON)): copy it to /usr/local/bin/pyinit and run it directly.
zipapp:
	$(PYTHON) tools/build_pyz.py --output dist/pyinit.pyz

# The end-to-end suite in real containers: needs root; sets up (and caches, under
# $${PYINIT_DOCKER_DIR:-/tmp/pyinit-docker}) a private Docker engine and base image, then stops it.
docker-test: install
	docker/e2e.sh test

# The same suite (the tests marked podman) under rootless Podman: needs root to set up (and
# cache, under $${PYINIT_PODMAN_DIR:-/tmp/pyinit-podman}) podman, its user and the base image.
podman-test: install
	docker/podman-e2e.sh test

# A real example: a shell that leaves an orphan behind, under pyinit as PID 1 of a new PID
# namespace (as in a container) when we may create one, else as a subreaper.
example: install
	@if unshare --pid --fork --mount-proc true 2>/dev/null; then \
	  set -x; unshare --pid --fork --mount-proc $(VENV)/bin/pyinit -v -- sh -c 'sleep 60 & echo "program: pid $$$$, exiting 3"; exit 3'; \
	else \
	  set -x; $(VENV)/bin/pyinit -v -- sh -c 'sleep 60 & echo "program: pid $$$$, exiting 3"; exit 3'; \
	fi; echo "pyinit exited with $$?"

# tini's and dumb-init's own suites against pyinit's drop-in command lines (skips if absent).
compat: install
	tools/peer-suites.sh

# pyinit against tini, dumb-init and catatonit, each as PID 1 of a new PID namespace (root).
# Tables on stdout, JSON in bench/results/.  BENCH_PYTHON=/usr/bin/python3 measures another
# interpreter; BENCH_QUICK=1 (or bench-quick) is the short run.
bench: install
	$(PY) -m bench

bench-profile: install
	$(PY) -m bench.profile

bench-quick: install
	$(PY) -m bench --quick

# Scenario 7 alone (several programs' output: pyinit's relay, honcho, supervisord, the floor);
# BENCH_RELAY_ARGS='--variant NAME=DIR --pin 1' and the like pass through.
bench-relay: install
	$(PY) -m bench.relay $(BENCH_RELAY_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
