# Developer entry points. `make test` is what CI runs (.ci/run); `make demo` is the README's demo.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test quick test-real controlplane registry tools lint unit demo sandbox clean lock image chart

# The venv: exactly requirements-dev.lock, by the venv's own pip, with no resolution (--no-deps), then the project
# itself with the locked build backend; `pip check` proves the lock complete.
$(BIN)/.installed: pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/pip install --quiet --no-deps --require-hashes --only-binary=:all: -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $@

lint: $(BIN)/.installed
	$(BIN)/ruff check operator tests benchmarks scripts examples/clients/python
	$(BIN)/ruff format --check operator tests benchmarks scripts examples/clients/python
	test -z "$$(gofmt -l tests/controlplane tests/webhook examples/clients/go)"
	cd examples/clients/go && go vet ./...
	$(BIN)/mypy
	$(BIN)/lint-imports

# Everything CI runs: lint, the whole suite on the sandbox, then the scenarios on a real control plane.
test: quick test-real

# The developer's quick loop: lint and the whole suite on the sandbox's Kubernetes emulator (the 20 slowest tests
# reported: the suite's time budget is watched there). The tests that need
# promtool (built by `tools`) or a mail client's toolchain fail rather than skip here: the toolchains themselves
# (Node.js with npm, a JDK with Maven, Go) must be installed; the tests fetch the clients' dependencies.
quick: lint tools
	ACSSMTP_REQUIRE_TOOLS=1 ACSSMTP_REQUIRE_CLIENTS=1 $(BIN)/pytest --durations=20

# promtool, to unit-test the chart's alerting rules (tests/e2e/test_alerts_and_dashboard.py), from its Go module.
PROMETHEUS_VERSION := v0.316.0
tools: tests/.bin/promtool-$(PROMETHEUS_VERSION)
tests/.bin/promtool-$(PROMETHEUS_VERSION):
	GOBIN=$(CURDIR)/tests/.bin go install -trimpath -ldflags="-s -w" \
		github.com/prometheus/prometheus/cmd/promtool@$(PROMETHEUS_VERSION)
	touch $@

controlplane:
	tests/controlplane/build.sh

# The image, without a Docker engine: buildah on a Debian base made with mmdebstrap (root; `apt-get install -y buildah
# mmdebstrap`), as an OCI archive with its SBOM in build/image/ (scripts/image.sh).
image: $(BIN)/.installed
	scripts/image.sh

# The chart, packaged as released (build/chart/acs-smtp-operator-<version>.tgz).
chart: $(BIN)/.installed
	$(BIN)/python scripts/chart.py package build/chart

# A local OCI registry (go-containerregistry's crane), for installing the chart and the image as released
# (tests/integration/test_release.py).
CRANE_VERSION := v0.22.1
registry: tests/.bin/crane-$(CRANE_VERSION)
tests/.bin/crane-$(CRANE_VERSION):
	GOBIN=$(CURDIR)/tests/.bin go install -trimpath -ldflags="-s -w" \
		github.com/google/go-containerregistry/cmd/crane@$(CRANE_VERSION)
	touch $@

# The integration scenarios, unchanged, against etcd + kube-apiserver + kube-controller-manager built from Go.
test-real: $(BIN)/.installed controlplane registry
	$(BIN)/pytest --cluster=real --durations=20 tests/integration

unit: $(BIN)/.installed
	$(BIN)/pytest tests/unit

demo: $(BIN)/.installed
	$(BIN)/acs-smtp-operator demo

sandbox: $(BIN)/.installed
	$(BIN)/acs-smtp-operator sandbox --manifest .sandbox/manifest.json --workdir .sandbox

# The locks: exact versions, every file's hash. requirements.lock is what the image runs (the base distribution and
# its `operator` extra), requirements-build.lock
# the build backend (pyproject's build-system), requirements-dev.lock the test environment (the same runtime pins,
# the test and sandbox extras, the build backend). Everything is installed from them with --no-deps: no resolution,
# so an upstream release changes nothing. Run after changing pyproject.toml's dependencies (tests/e2e/test_locks.py
# fails until you do); pins already in a lock are kept unless pyproject's ranges exclude them.
UV_COMPILE = .lockvenv/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 --no-header
lock:
	$(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet 'uv>=0.9,<1'
	$(UV_COMPILE) --extra operator -o requirements.lock pyproject.toml
	$(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		> .lockvenv/build.in
	$(UV_COMPILE) -o requirements-build.lock .lockvenv/build.in
	$(UV_COMPILE) --extra test --constraint requirements.lock --constraint requirements-build.lock \
		-o requirements-dev.lock pyproject.toml .lockvenv/build.in

clean:
	rm -rf $(VENV) .lockvenv .sandbox .pytest_cache .mypy_cache .ruff_cache tests/.bin build
