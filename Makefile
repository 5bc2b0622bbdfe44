# Developer entry points. `make test` is what CI runs (.ci/run); `make demo` is the README's demo.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test quick test-real controlplane tools lint unit demo sandbox clean lock

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

lint: $(BIN)/.installed
	$(BIN)/ruff check operator tests benchmarks examples/clients/python
	$(BIN)/ruff format --check operator tests benchmarks examples/clients/python
	test -z "$$(gofmt -l tests/controlplane tests/webhook examples/clients/go)"
	cd examples/clients/go && go vet ./...
	$(BIN)/mypy
	$(BIN)/lint-imports

# Everything CI runs: lint, the whole suite on the sandbox, then the scenarios on a real control plane.
test: quick test-real

# The developer's quick loop: lint and the whole suite on the sandbox's Kubernetes emulator. The tests that need
# promtool (built by `tools`) or a mail client's toolchain fail rather than skip here: the toolchains themselves
# (Node.js with npm, a JDK with Maven, Go) must be installed; the tests fetch the clients' dependencies.
quick: lint tools
	ACSSMTP_REQUIRE_TOOLS=1 ACSSMTP_REQUIRE_CLIENTS=1 $(BIN)/pytest

# promtool, to unit-test the chart's alerting rules (tests/e2e/test_alerts_and_dashboard.py), from its Go module.
PROMETHEUS_VERSION := v0.316.0
tools: tests/.bin/promtool-$(PROMETHEUS_VERSION)
tests/.bin/promtool-$(PROMETHEUS_VERSION):
	GOBIN=$(CURDIR)/tests/.bin go install -trimpath -ldflags="-s -w" \
		github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_VERSION)
	touch $@

controlplane:
	tests/controlplane/build.sh

# The integration scenarios, unchanged, against etcd + kube-apiserver + kube-controller-manager built from Go.
test-real: $(BIN)/.installed controlplane
	$(BIN)/pytest --cluster=real tests/integration

unit: $(BIN)/.installed
	$(BIN)/pytest tests/unit

demo: $(BIN)/.installed
	$(BIN)/acs-smtp-operator demo

sandbox: $(BIN)/.installed
	$(BIN)/acs-smtp-operator sandbox --manifest .sandbox/manifest.json --workdir .sandbox

# The image's dependencies, exact and hashed (Dockerfile: pip install --require-hashes -r requirements.lock).
# Run after changing pyproject.toml's dependencies; tests/e2e/test_image.py checks that the lock covers them.
lock:
	$(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet 'pip-tools>=7.4,<8'
	.lockvenv/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --output-file=requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .lockvenv .sandbox .pytest_cache .mypy_cache .ruff_cache tests/.bin
