# marathon-autoscaler: the service image.
#
# Two stages: the first builds the project into a virtualenv (runtime dependencies only, no dev
# extras, each at the version pinned in constraints.txt, the one the tests ran with), the second copies that virtualenv onto a clean base and runs as an unprivileged user.
# No policy is baked in: the examples of the repository's policies/ would act on any app with their
# ids. The service reads the operator's own from /etc/autoscaler/policies (a volume, a Mesos fetcher
# URI with AUTOSCALER_POLICY_DIR, or a derived image: deploy/Dockerfile.policies) and refuses to start
# without one. `autoscaler run` is the process itself (exec form, no shell), so SIGTERM/SIGINT from
# Docker or Mesos reach it directly and it stops within seconds.

FROM python:3.11.13-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY autoscaler ./autoscaler
RUN python -m venv /opt/autoscaler \
    && /opt/autoscaler/bin/pip install --no-cache-dir -c constraints.txt . \
    && /opt/autoscaler/bin/autoscaler --help > /dev/null

FROM python:3.11.13-slim-bookworm

LABEL org.opencontainers.image.title="marathon-autoscaler" \
      org.opencontainers.image.description="Metric- and schedule-driven autoscaler for Marathon apps on Apache Mesos" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 autoscaler \
    && useradd --system --uid 10001 --gid autoscaler --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin autoscaler

COPY --from=build /opt/autoscaler /opt/autoscaler

ENV PATH=/opt/autoscaler/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AUTOSCALER_POLICY_DIR=/etc/autoscaler/policies \
    AUTOSCALER_LOG_FORMAT=json

USER 10001:10001
WORKDIR /tmp

EXPOSE 8080

# The status server listens on AUTOSCALER_PORT, else Marathon's PORT0, else 8080.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('AUTOSCALER_PORT') or os.environ.get('PORT0') or '8080'; sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["autoscaler"]
CMD ["run"]
