# syntax=docker/dockerfile:1
# acs-smtp-operator: build the wheel, install its dependencies from the lock file (exact versions, every file's
# hash checked) and then the wheel alone into a venv, leave the local sandbox out, ship the venv.
# The base is pinned to an exact Python release; pin its digest too when you build for production
# (docker buildx imagetools inspect python:3.11.14-slim-bookworm). requirements.lock: `make lock`.

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY operator ./operator
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: -r requirements.lock \
 && /opt/venv/bin/pip install --no-cache-dir --no-deps /dist/acs_smtp_operator-*.whl \
 && /opt/venv/bin/pip check \
 && rm -rf /opt/venv/lib/python3.11/site-packages/acs_smtp_operator/sandbox \
 && /opt/venv/bin/acs-smtp-operator --help >/dev/null

FROM python:3.11.14-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="acs-smtp-operator" \
      org.opencontainers.image.description="Azure Communication Services SMTP credentials as a Kubernetes custom resource" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
# A numeric, non-root user: Kubernetes' runAsNonRoot can check it without a passwd entry.
USER 65532:65532
# /healthz and /readyz (ACSSMTP_HEALTH_PORT), Prometheus metrics (ACSSMTP_METRICS_PORT).
EXPOSE 8080 9090
# For plain `docker run`; in Kubernetes the chart's liveness and readiness probes use the same endpoints.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["acs-smtp-operator", "run"]
CMD ["--all-namespaces"]
