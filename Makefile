# The README's two commands are `make run` and `make test`; everything else is here for them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install lock run test test-long test-system-deps screenshots fuzz lint audit bench entropy-report stack-check clean

# Every third-party package (the dev, quantum and saml extras, the SDK's offline extra, pip and the
# build backend) exactly as requirements/lock.txt pins it, each file checked against its hash;
# then the two distributions of this repository, editable: the server (src/) and the SDK
# (sdk/, import name qcos). --no-deps: their dependencies came from the lock, and the public
# index's `qcos` and `quantumlock` are other projects. pip check: the lock satisfies both.
LOCK := requirements/lock.txt
install: $(STAMP)

$(STAMP): pyproject.toml sdk/pyproject.toml $(LOCK) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e ./sdk -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

# Re-resolve the lock after changing a dependency in either pyproject.toml: pins already in
# the lock are kept where they still fit; LOCK_ARGS=--upgrade (or --upgrade-package NAME)
# moves them. Commit the result; `make install` then installs it.
PIP_TOOLS ?= pip-tools==7.6.2
# (It needs no install: pip-compile resolves on its own, so a lock that no longer fits the
# pyproject files, which `make install` refuses, can still be recompiled.)
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet '$(PIP_TOOLS)'
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes \
	  --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
	  --extra dev --extra quantum --extra offline --extra saml $(LOCK_ARGS) -o $(LOCK) \
	  pyproject.toml sdk/pyproject.toml requirements/build.in

run: install
	$(BIN)/quantumlock init
	$(BIN)/quantumlock serve --host $(HOST) --port $(PORT)

# The test SAML identity provider (pysaml2) signs with the xmlsec1 program: Debian's package,
# installed once (no Python wheel carries the program; the server itself needs only the
# xmlsec wheel).
# The portal's browser tests drive Debian's chromium through Playwright (no browser download).
test-system-deps:
	@{ command -v xmlsec1 >/dev/null && test -x /usr/bin/chromium; } || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO apt-get install -y -qq --no-install-recommends xmlsec1 chromium >/dev/null; }

test: install test-system-deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

# `make test` plus the tests marked `long` (tests/conftest.py): the shared e2e server's
# PostgreSQL variant, the isolation matrix's access-token variant on PostgreSQL, the
# in-process SAML tests on PostgreSQL (not those that spend a request or an assertion) and
# the keygen latency soak. `make test` keeps a cheaper variant of each behaviour.
test-long: install test-system-deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup --long $(PYTEST_ARGS)

# The README's portal screenshots (docs/screenshots/*.png), taken by the browser tests.
screenshots: install test-system-deps
	QL_SCREENSHOTS=1 $(BIN)/python -m pytest -q -p no:xdist tests/browser

# schemathesis at length (tests/fuzz): `make test` runs a few derandomized examples per
# operation; this runs FUZZ_EXAMPLES per operation, the RSA-generating operations in full,
# and longer stateful runs. A failure prints the request that reproduces it.
FUZZ_EXAMPLES ?= 300
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_EXPENSIVE_EXAMPLES=20 FUZZ_EXPENSIVE_FULL=1 \
	FUZZ_STATEFUL_EXAMPLES=100 FUZZ_STATEFUL_STEPS=30 FUZZ_TALLY=$(CURDIR)/.fuzz-tally \
	$(BIN)/python -m pytest -n 2 --dist loadgroup tests/fuzz $(PYTEST_ARGS); \
	status=$$?; echo "cases by answer:"; sort .fuzz-tally | uniq -c; \
	echo "cases: $$(wc -l < .fuzz-tally)"; rm -f .fuzz-tally; exit $$status

# Import contracts (lint-imports): [tool.importlinter] in pyproject.toml.
lint: install audit
	$(BIN)/ruff check src sdk tests bench deploy
	$(BIN)/ruff format --check src sdk tests bench deploy
	$(BIN)/mypy src sdk/src tests
	$(BIN)/lint-imports

# Known vulnerabilities in the installed dependencies (PyPI's advisory data, from OSV).
# --strict: a package that could not be checked fails the audit instead of passing silently.
# Where the advisory service cannot be reached at all (a registry mirror without PyPI's
# per-release JSON, no route to OSV), pip-audit could check nothing: `lint` then says so
# loudly and goes on; AUDIT_REQUIRED=1 makes that a failure (set it where the service is
# reachable, so an outage cannot pass as a clean audit).
AUDIT_SERVICE ?= pypi
AUDIT_PROBE_pypi := https://pypi.org/pypi/pip/24.0/json
AUDIT_PROBE_osv := https://api.osv.dev/v1/vulns/PYSEC-2023-228
AUDIT_REQUIRED ?= 0
audit: install
	@if $(BIN)/python -c "import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)" \
	    $(AUDIT_PROBE_$(AUDIT_SERVICE)) 2>/dev/null; then \
	  $(BIN)/pip-audit --strict --skip-editable --progress-spinner off -s $(AUDIT_SERVICE); \
	else \
	  echo "pip-audit: NOT RUN: the $(AUDIT_SERVICE) advisory service is unreachable from this machine ($(AUDIT_PROBE_$(AUDIT_SERVICE)))"; \
	  test "$(AUDIT_REQUIRED)" != 1; \
	fi

# The whole matrix (SQLite and PostgreSQL x 1 and 2 workers; me, validate at 1k and 1M
# licenses, generate, entropy, encrypt) into bench/results/latest.{json,md}: ~35 min on 2 cores.
# A smoke run: make bench BENCH_ARGS=--quick; a subset: BENCH_ARGS='--databases sqlite --workers 1'.
bench: install
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# compose.yaml's topology run natively (this machine has no Docker engine): the image's build
# (pip wheel + a clean venv), init, three nodes with 2 workers each on a fresh PostgreSQL
# database and a Redis prefix, nginx with deploy/nginx.conf, and checks through the LB.
stack-check: install
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || (apt-get update -qq && apt-get install -y -qq nginx)
	$(BIN)/python deploy/stack_check.py

# 1 Mbit per entropy source through `ent`, raw and conditioned; and qiskit_local throughput.
entropy-report: install
	@command -v ent >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq ent)
	$(BIN)/python -m bench.entropy_report
	$(BIN)/python -m bench.entropy_throughput

clean:
	rm -rf $(VENV) .quantumlock .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
