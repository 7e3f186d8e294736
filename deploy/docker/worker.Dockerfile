# Worker image: `python -m taskqueue worker` for the site's app.
# Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t taskqueue-worker .
# Queues come as arguments (CMD), e.g. `--queues high` or `--queues default,low`.
#
# Base images are pinned by version tag (no digest: the registry cannot be
# reached from CI to resolve one; ACR's import pins the digest at push).

# --- Stage 1: the virtualenv and the project, with the generated gRPC code.
FROM python:3.11.14-slim-bookworm AS app
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
# Every dependency ships a manylinux wheel, so no compiler is needed even here.
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt
WORKDIR /app
COPY . .
RUN /opt/venv/bin/python -m taskqueue.control.codegen

# --- Stage 2: runtime. Only the virtualenv and the code; no pip cache, no tools.
FROM python:3.11.14-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 taskqueue \
 && useradd --system --uid 10001 --gid taskqueue --home-dir /app --shell /usr/sbin/nologin taskqueue
# The code stays owned by root: the worker cannot rewrite what it runs.
COPY --from=app /opt/venv /opt/venv
COPY --from=app /app /app
WORKDIR /app
# Ports: health (/healthz, the probes), gRPC control plane (the web asks
# workers for progress), Prometheus metrics. Bound on all interfaces in a pod.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DEBUG=false \
    TASKQUEUE_CONTROL_HOST=0.0.0.0 \
    TASKQUEUE_HEALTH_PORT=8081 \
    TASKQUEUE_CONTROL_PORT=50051 \
    TASKQUEUE_METRICS_PORT=9808
EXPOSE 8081 50051 9808
USER 10001:10001
# The worker's own health endpoint reads its poll loop's snapshot: no
# broker round trip, so a slow Kafka never makes a healthy worker "unhealthy".
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/healthz', timeout=4)"]
# SIGTERM starts the warm shutdown (finish in-flight jobs within shutdown_grace).
STOPSIGNAL SIGTERM
ENTRYPOINT ["python", "-m", "taskqueue", "worker", "-A", "config.taskqueue:app"]
CMD ["--queues", "default"]
