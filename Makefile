# The README's two commands, `make demo` and `make test`, are the whole set-up on a
# fresh machine: both create the virtualenv first when it is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins dozens of dependencies exactly (boto3 among them): it gets a venv of its own.
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_VERSION := 3.3.30
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20,22

.PHONY: setup demo check test lint typecheck unit synth moto-suite clean browser screenshots

# pytest-xdist's workers: more than the cores, as the integration tests spend much of
# their time waiting on the local AWS (docs/performance.md, "The test suite").
WORKERS ?= 4

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11+" >&2; exit 1; }
	@echo "==> creating $(VENV) and installing orderflow with its dev dependencies (first run takes a minute)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/orderflow demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --no-progress .github/workflows

# The template, with nothing but this venv and Node.js (no CDK CLI needed).
synth: $(STAMP)
	$(BIN)/python app.py $(if $(STAGE),-c stage=$(STAGE))
	@echo "wrote cdk.out/OrderProcessingStack.template.json"

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n $(WORKERS) --dist loadgroup

# The inner loop (under a minute): lint, types, and the unit and functional tests with a
# tenth of the property tests' examples; mypy runs beside pytest.
check: lint
	@$(BIN)/mypy > $(VENV)/mypy.out 2>&1 & types=$$!; \
	$(BIN)/pytest -q -n 2 --hypothesis-profile=check tests/unit tests/functional; tests=$$?; \
	wait $$types; typed=$$?; cat $(VENV)/mypy.out; exit $$(( tests || typed ))

# The chaos invariants: each keeps both cores busy with faults, kills and retries, and their timers
# (visibility timeouts, cold starts) stretch under other tests' load; they run last, two at a time.
CHAOS_TESTS := tests/reliability/test_invariant.py

# Everything: lint, then mypy beside the suite on $(WORKERS) workers, then the chaos invariants on
# their own, with line and branch coverage of src/ over both (the function's worker processes and
# the emulator's included).
test: lint browser
	@$(BIN)/mypy > $(VENV)/mypy.out 2>&1 & types=$$!; \
	$(BIN)/pytest -n $(WORKERS) --dist loadgroup --durations=20 --ignore=$(CHAOS_TESTS) \
		--cov --cov-report=; tests=$$?; \
	echo "==> the chaos invariants, on their own ($(CHAOS_TESTS))"; \
	$(BIN)/pytest -n 2 --dist load --durations=5 $(CHAOS_TESTS) --cov --cov-append \
		--cov-report=term:skip-covered --cov-report=html:$(VENV)/coverage; chaos=$$?; \
	wait $$types; typed=$$?; cat $(VENV)/mypy.out; exit $$(( tests || chaos || typed ))

# The console's browser tests drive a real Chromium: Debian's package, never one a tool downloads.
CHROMIUM ?= $(or $(ORDERFLOW_CHROMIUM),$(shell command -v chromium || command -v chromium-browser))
browser:
	@[ -n "$(CHROMIUM)" ] && [ -x "$(CHROMIUM)" ] || { echo "error: the console's browser tests need Chromium:" \
		"install it with 'sudo apt-get install chromium' (Debian, Ubuntu; .ci/run does)," \
		"or set ORDERFLOW_CHROMIUM to a Chromium binary" >&2; exit 1; }

# The console's screenshots in docs/images (docs/console.md, the README), taken by its browser tests.
screenshots: $(STAMP) browser
	ORDERFLOW_SCREENSHOTS=docs/images $(BIN)/pytest -q tests/integration/test_console_browser.py

# moto's own DynamoDB and SQS tests, with and without our patches, compared test by test
# (downloads moto's sdist once into build/; 5 to 9 minutes, about 280 s of CPU; not part of `make test`).
moto-suite: $(STAMP)
	$(BIN)/python -m orderflow_local.tools.moto_suite

clean:
	rm -rf $(VENV) cdk.out build .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage .coverage.*
