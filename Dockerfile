# syntax=docker/dockerfile:1
# acs-smtp-operator: build the wheel with the locked build backend, install the locked dependencies with no
# resolution at all (--no-deps: exactly the lock, every file's hash checked), then the wheel alone, into a venv
# without pip; leave the local sandbox out; ship the venv.
# BASE is pinned to an exact Python release; pin its digest too when you build for production
# (docker buildx imagetools inspect python:3.11.14-slim-bookworm). `make image` builds it without a Docker engine
# (buildah) from a Debian base made with mmdebstrap. The locks: `make lock`.
# The machine's pip settings reach the build only as build secrets, never as a layer: `pip.conf` (mounted at
# /etc/pip.conf) and `pip-cert` (a CA bundle, named by that pip.conf). Both are optional.
ARG BASE=python:3.11.14-slim-bookworm

FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md requirements.lock requirements-build.lock ./
COPY operator ./operator
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf,required=false \
    --mount=type=secret,id=pip-cert,target=/run/secrets/pip-cert,required=false \
    python -m venv /opt/build \
 && /opt/build/bin/pip install --no-deps --require-hashes --only-binary=:all: -r requirements-build.lock \
 && /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist . \
 && python -m venv --without-pip /opt/venv \
 && /opt/build/bin/pip --python /opt/venv/bin/python install --no-deps --require-hashes --only-binary=:all: -r requirements.lock \
 && /opt/build/bin/pip --python /opt/venv/bin/python install --no-deps /dist/acs_smtp_operator-*.whl \
 && /opt/build/bin/pip --python /opt/venv/bin/python check \
 && rm -rf /opt/venv/lib/python3.11/site-packages/acs_smtp_operator/sandbox \
 && /opt/venv/bin/acs-smtp-operator version

FROM ${BASE} AS runtime
# The version: pyproject.toml's, as the chart's appVersion (tests/e2e/test_release.py checks that they agree).
LABEL org.opencontainers.image.title="acs-smtp-operator" \
      org.opencontainers.image.description="Azure Communication Services SMTP credentials as a Kubernetes custom resource" \
      org.opencontainers.image.version="0.2.0" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
# A numeric, non-root user: Kubernetes' runAsNonRoot can check it without a passwd entry.
USER 65532:65532
# /healthz and /readyz (ACSSMTP_HEALTH_PORT), Prometheus metrics (ACSSMTP_METRICS_PORT): the chart's probes. No
# HEALTHCHECK: an OCI image cannot carry one (buildah drops it), and Kubernetes ignores it.
EXPOSE 8080 9090
ENTRYPOINT ["acs-smtp-operator", "run"]
CMD ["--all-namespaces"]
