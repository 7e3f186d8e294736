# Beat image: `python -m taskqueue beat`, the leader-elected periodic scheduler.
# Build from the repository root:
#   docker build -f deploy/docker/beat.Dockerfile -t taskqueue-beat .
# Run two replicas: one holds the leader lock in Redis, the other waits.
#
# Base images are pinned by version tag (no digest: the registry cannot be
# reached from CI to resolve one; ACR's import pins the digest at push).

# --- Stage 1: the virtualenv and the project, with the generated gRPC code.
FROM python:3.11.14-slim-bookworm AS app
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt
WORKDIR /app
COPY . .
RUN /opt/venv/bin/python -m taskqueue.control.codegen

# --- Stage 2: runtime. Only the virtualenv and the code.
FROM python:3.11.14-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 taskqueue \
 && useradd --system --uid 10001 --gid taskqueue --home-dir /app --shell /usr/sbin/nologin taskqueue
COPY --from=app /opt/venv /opt/venv
COPY --from=app /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DEBUG=false \
    TASKQUEUE_BEAT_METRICS_PORT=9809
EXPOSE 9809
USER 10001:10001
# Beat has no health endpoint of its own; its metrics endpoint answers while
# the process runs, leader or standby (a standby is healthy, not idle by fault).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9809/metrics', timeout=4)"]
ENTRYPOINT ["python", "-m", "taskqueue", "beat", "-A", "config.taskqueue:app"]
