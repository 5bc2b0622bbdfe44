# syntax=docker/dockerfile:1
# acs-smtp-operator: build the wheel, install it (and only it, no test extras) into a venv, ship the venv.
# The base is pinned to an exact Python release; pin its digest too when you build for production
# (docker buildx imagetools inspect python:3.11.14-slim-bookworm).

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m pip wheel --no-deps --wheel-dir /dist . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir /dist/acs_smtp_operator-*.whl \
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
